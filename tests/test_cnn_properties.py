"""Properties of CNN operators stated in the course, checked on random inputs."""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops.geometry import conv_output_size
from minigrad.ops.geometry import conv_output_size as pool_output_size


@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 3), st.integers(1, 3), st.integers(0, 2), st.integers(0, 2),
       st.integers(0, 2**16))
def test_convolution_is_translation_equivariant(k, dilation, shift_h, stride, extra_h, extra_w, seed):
    """Shifting the input by a multiple of the stride shifts the output by shift/stride, away from borders."""
    rng = np.random.default_rng(seed)
    shift = shift_h * stride
    x = rng.standard_normal((1, 2, 12 + extra_h, 11 + extra_w))
    w = mg.Tensor(rng.standard_normal((3, 2, k, k)))
    shifted = np.zeros_like(x)
    shifted[:, :, shift:, shift:] = x[:, :, : x.shape[2] - shift, : x.shape[3] - shift]
    out = mg.conv2d(mg.Tensor(x), w, stride=stride, dilation=dilation).numpy()
    out_shifted = mg.conv2d(mg.Tensor(shifted), w, stride=stride, dilation=dilation).numpy()
    s = shift // stride
    assume(s < min(out.shape[2:]))  # some output must lie away from the zero-filled border
    # Compare only outputs whose receptive field lies in the copied (non-zero-filled) region.
    np.testing.assert_allclose(out_shifted[:, :, s:, s:], out[:, :, : out.shape[2] - s, : out.shape[3] - s], rtol=1e-12, atol=1e-12)


@given(st.integers(2, 4), st.integers(0, 2**16))
def test_max_pooling_is_invariant_to_small_shifts_inside_a_cell(cell, seed):
    """When each cell's maximum lies away from the cell's last row/column, a shift by one pixel
    that keeps the maximum in its cell leaves the pooled output unchanged."""
    rng = np.random.default_rng(seed)
    n = 4
    x = rng.uniform(0, 1, (1, 1, n * cell, n * cell))
    for i in range(n):
        for j in range(n):
            # Put each cell's maximum strictly inside its top-left (cell-1) x (cell-1) part.
            r, c = rng.integers(0, cell - 1, 2)
            x[0, 0, i * cell + r, j * cell + c] = 2 + rng.uniform()
    shifted = np.zeros_like(x)
    shifted[:, :, 1:, 1:] = x[:, :, :-1, :-1]
    pooled = mg.max_pool2d(mg.Tensor(x), cell).numpy()
    np.testing.assert_array_equal(mg.max_pool2d(mg.Tensor(shifted), cell).numpy(), pooled)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**16))
def test_unpool_of_pool_keeps_exactly_the_maxima(k, stride, seed):
    rng = np.random.default_rng(seed)
    x = rng.permutation(2 * 2 * 9 * 8).reshape(2, 2, 9, 8).astype(np.float64)  # distinct values
    pooled, idx = mg.max_pool2d(mg.Tensor(x), k, stride, return_indices=True)
    restored = mg.max_unpool2d(pooled, idx, k, stride, output_size=(9, 8)).numpy()
    kept = restored != 0
    # Every nonzero is an input value in its place; they are exactly the window maxima.
    np.testing.assert_array_equal(restored[kept], x[kept])
    expected = np.zeros_like(kept)
    for n in range(2):
        for c in range(2):
            for i in range(pooled.shape[2]):
                for j in range(pooled.shape[3]):
                    window = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
                    r, q = np.unravel_index(np.argmax(window), window.shape)
                    expected[n, c, i * stride + r, j * stride + q] = True
    expected &= x != 0  # a zero maximum is indistinguishable from the fill
    np.testing.assert_array_equal(kept, expected)
    # Pooling the unpooled map gives the pooled values back.
    np.testing.assert_array_equal(mg.max_pool2d(mg.Tensor(restored), k, stride).numpy(),
                                  np.where(pooled.numpy() > 0, pooled.numpy(), 0))


@given(st.integers(1, 20), st.integers(1, 5), st.integers(1, 4), st.integers(0, 3), st.integers(1, 3))
def test_output_sizes_follow_the_course_formula(size, k, stride, padding, dilation):
    expected = (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    assert conv_output_size(size, k, stride, padding, dilation) == expected
    assert pool_output_size(size, k, stride, padding, dilation) == expected
    if expected <= 0:
        return
    x = mg.Tensor(np.zeros((1, 1, size, size + 1)))
    out = mg.conv2d(x, mg.Tensor(np.zeros((1, 1, k, k))), stride=stride, padding=padding, dilation=dilation)
    assert out.shape == (1, 1, expected, (size + 1 + 2 * padding - dilation * (k - 1) - 1) // stride + 1)
    if padding <= k // 2:
        assert mg.max_pool2d(x, k, stride, padding, dilation).shape[2] == expected
        ceil = -(-(size + 2 * padding - dilation * (k - 1) - 1) // stride) + 1
        if (ceil - 1) * stride >= size + padding:
            ceil -= 1
        assert mg.max_pool2d(x, k, stride, padding, dilation, ceil_mode=True).shape[2] == ceil


def test_weight_sharing_gradient_equals_sum_over_positions():
    """dL/dW[o, c, k, l] = sum over images and output positions of dL/dy * the input under that tap."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 5, 6))
    g = rng.standard_normal((2, 3, 3, 4))
    w = mg.Tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    mg.conv2d(mg.Tensor(x), w).backward(gradient=g)
    expected = np.zeros((3, 2, 3, 3))
    for i in range(3):
        for j in range(4):
            expected += np.einsum("no,nckl->ockl", g[:, :, i, j], x[:, :, i:i + 3, j:j + 3])
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-10)
