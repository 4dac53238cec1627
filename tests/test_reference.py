"""The references themselves: against brute-force definitions, mathematical identities and (optionally) PyTorch."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigrad import reference as R


def brute_conv2d(x, w, stride, padding, dilation, groups):
    """The definition, one multiply-add at a time."""
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    OH, OW = R.output_size(H, KH, stride, padding, dilation), R.output_size(W, KW, stride, padding, dilation)
    out = np.zeros((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            g = o // (O // groups)
            for i in range(OH):
                for j in range(OW):
                    for c in range(Cg):
                        for k in range(KH):
                            for l in range(KW):
                                r, q = i * stride - padding + k * dilation, j * stride - padding + l * dilation
                                if 0 <= r < H and 0 <= q < W:
                                    out[n, o, i, j] += w[o, c, k, l] * x[n, g * Cg + c, r, q]
    return out


@st.composite
def small_conv(draw):
    groups = draw(st.integers(1, 2))
    k, d, s, p = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
    size = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((draw(st.integers(1, 2)), groups * draw(st.integers(1, 2)), size, size + 1))
    w = rng.standard_normal((groups * draw(st.integers(1, 2)), x.shape[1] // groups, k, k))
    return x, w, s, p, d, groups


@settings(max_examples=15)
@given(small_conv())
def test_conv2d_reference_is_the_definition(case):
    x, w, s, p, d, g = case
    np.testing.assert_allclose(R.conv2d(x, w, None, s, p, d, g), brute_conv2d(x, w, s, p, d, g), rtol=1e-10, atol=1e-12)


@settings(max_examples=15)
@given(small_conv())
def test_convolve2d_is_correlation_with_the_flipped_kernel(case):
    x, w, s, p, d, g = case
    np.testing.assert_allclose(R.convolve2d(x, w, None, s, p, d, g),
                               R.conv2d(x, w[:, :, ::-1, ::-1], None, s, p, d, g), rtol=1e-10, atol=1e-12)


@settings(max_examples=15)
@given(small_conv())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(case):
    """<conv(x), y> = <x, conv_transpose(y)> for the same weight, stride, padding, dilation."""
    x, w, s, p, d, g = case
    y = np.random.default_rng(0).standard_normal(R.conv2d(x, w, None, s, p, d, g).shape)
    H, W = x.shape[2:]
    OH, OW = y.shape[2:]
    k = w.shape[2]
    # output_padding recovers the rows/columns that the strided forward skipped.
    op = (H - ((OH - 1) * s - 2 * p + d * (k - 1) + 1), W - ((OW - 1) * s - 2 * p + d * (k - 1) + 1))
    # conv_transpose2d's weight is (in, out/groups, KH, KW): from O channels back to C, that is w's own shape.
    back = R.conv_transpose2d(y, w, None, s, p, op, g, d)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(R.conv2d(x, w, None, s, p, d, g) * y), np.sum(x * back), rtol=1e-10)


def test_pooling_references_on_a_hand_example():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, idx = R.max_pool2d(x, 2)
    np.testing.assert_array_equal(out[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(idx[0, 0], [[5, 7], [13, 15]])
    out, idx = R.min_pool2d(x, 2)
    np.testing.assert_array_equal(out[0, 0], [[0, 2], [8, 10]])
    np.testing.assert_array_equal(R.avg_pool2d(x, 2)[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    # Padding 1, 3x3 windows: the corner window sees 4 of its 9 cells.
    corner = R.avg_pool2d(x, 3, 1, 1)[0, 0, 0, 0]
    assert corner == pytest.approx((0 + 1 + 4 + 5) / 9)
    assert R.avg_pool2d(x, 3, 1, 1, count_include_pad=False)[0, 0, 0, 0] == pytest.approx(2.5)
    np.testing.assert_array_equal(R.adaptive_avg_pool2d(x, 1)[0, 0], [[7.5]])
    restored = R.max_unpool2d(*R.max_pool2d(x, 2), (4, 4))[0, 0]
    np.testing.assert_array_equal(restored, np.where(np.isin(x[0, 0], [5, 7, 13, 15]), x[0, 0], 0))


def test_bilinear_with_align_corners_reproduces_affine_images():
    rows, cols = np.meshgrid(np.arange(4.0), np.arange(5.0), indexing="ij")
    x = (2.0 + 3.0 * rows - 0.5 * cols)[None, None]
    out = R.interpolate_bilinear(x, (7, 9), align_corners=True)
    r, c = np.meshgrid(np.linspace(0, 3, 7), np.linspace(0, 4, 9), indexing="ij")
    np.testing.assert_allclose(out[0, 0], 2.0 + 3.0 * r - 0.5 * c, rtol=1e-12)


def test_nearest_and_bed_of_nails_references():
    x = np.arange(6.0).reshape(1, 1, 2, 3)
    np.testing.assert_array_equal(R.interpolate_nearest(x, (4, 6)), x.repeat(2, 2).repeat(2, 3))
    nails = R.bed_of_nails(x, 2)
    np.testing.assert_array_equal(nails[0, 0, ::2, ::2], x[0, 0])
    assert nails.sum() == x.sum() and np.count_nonzero(nails) == 5


def test_batch_norm_reference_normalizes():
    x = np.random.default_rng(1).standard_normal((8, 3, 4, 4)) * 5 + 2
    out, mean, var = R.batch_norm(x, np.zeros(3), np.ones(3), training=True, momentum=1.0)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-4)
    np.testing.assert_allclose(var, x.var(axis=(0, 2, 3), ddof=1), rtol=1e-12)


def test_local_response_norm_reference_single_channel():
    x = np.random.default_rng(2).standard_normal((2, 1, 3, 3))
    np.testing.assert_allclose(R.local_response_norm(x, 1, 0.5, 0.75, 2.0), x / (2.0 + 0.5 * x**2) ** 0.75, rtol=1e-12)


def test_references_match_pytorch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 9, 8))
    w = rng.standard_normal((6, 2, 3, 2))
    t = torch.tensor
    np.testing.assert_allclose(R.conv2d(x, w, None, (2, 1), (1, 2), (2, 1), 2),
                               F.conv2d(t(x), t(w), None, (2, 1), (1, 2), (2, 1), 2).numpy(), atol=1e-12)
    wt = rng.standard_normal((4, 3, 3, 2))
    np.testing.assert_allclose(R.conv_transpose2d(x, wt, None, (2, 3), (1, 1), (1, 2), 2, (2, 1)),
                               F.conv_transpose2d(t(x), t(wt), None, (2, 3), (1, 1), (1, 2), 2, (2, 1)).numpy(), atol=1e-12)
    out, idx = R.max_pool2d(x, 3, 2, 1, 2, True)
    tout, tidx = F.max_pool2d(t(x), 3, 2, 1, 2, True, return_indices=True)
    np.testing.assert_array_equal(out, tout.numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    np.testing.assert_allclose(R.avg_pool2d(x, 3, 2, 1, True, False), F.avg_pool2d(t(x), 3, 2, 1, True, False).numpy(), atol=1e-12)
    np.testing.assert_array_equal(R.interpolate_nearest(x, (15, 13), 1.7), F.interpolate(t(x), scale_factor=1.7).numpy())
    np.testing.assert_allclose(R.interpolate_bilinear(x, (5, 13), False), F.interpolate(t(x), (5, 13), mode="bilinear").numpy(), atol=1e-12)
    np.testing.assert_allclose(R.local_response_norm(x, 3, 0.1, 0.75, 2.0), F.local_response_norm(t(x), 3, 0.1, 0.75, 2.0).numpy(), atol=1e-12)
