"""Memory formats on the CPU (``minigrad.backends.cpu.memory_format``): conv2d returns channels-last arrays, batch
norm and ReLU keep that format, and every value and gradient equals the NCHW computation.

References are independent of the layout machinery: ``minigrad.reference`` (einsum) for the
values, and the same network run on NCHW-contiguous copies for the gradients.
"""

import numpy as np
import pytest

import minigrad as mg
from minigrad import reference as ref
from minigrad.backends.cpu import memory_format as layout


@pytest.fixture(autouse=True)
def channels_last_from_one_channel():
    """Small test shapes, so every convolution result (of 2+ channels) stays channels-last."""
    with mg.config.using(channels_last_min=2):
        yield


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("out_channels,channels_last", [(4, False), (32, True)])
def test_only_results_of_many_channels_stay_channels_last(out_channels, channels_last):
    x = mg.Tensor(rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32))
    w = mg.Tensor(rng(1).standard_normal((out_channels, 3, 3, 3)).astype(np.float32))
    with mg.config.using(channels_last_min=32):
        out = mg.conv2d(x, w, padding=1).numpy()
    assert (layout.channels_last_view(out) is not None) == channels_last
    np.testing.assert_allclose(out, ref.conv2d(x.numpy(), w.numpy(), padding=1), rtol=1e-4, atol=1e-4)


def test_conv2d_output_is_stored_channels_last_with_the_reference_values():
    r = rng(1)
    x = r.standard_normal((2, 3, 6, 5)).astype(np.float32)
    w = r.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = r.standard_normal(4).astype(np.float32)
    out = mg.conv2d(mg.Tensor(x), mg.Tensor(w), mg.Tensor(b), padding=1).numpy()
    assert layout.channels_last_view(out) is not None and not out.flags.c_contiguous
    np.testing.assert_allclose(out, ref.conv2d(x, w, b, padding=1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 1, 4, 4), (2, 6, 1, 1)])
def test_layout_helpers_round_trip(shape):
    a = rng(2).standard_normal(shape).astype(np.float32)
    last = np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # same values, NHWC memory
    np.testing.assert_array_equal(last, a)
    for arr in (a, last):
        c = layout.contiguous(arr)
        assert c.flags.c_contiguous
        np.testing.assert_array_equal(c, a)
        np.testing.assert_array_equal(layout.channels_last(arr), a.transpose(0, 2, 3, 1))
        np.testing.assert_array_equal(layout.restore(layout.stored(arr), arr), a)
        for ref_arr in (a, last):
            moved = layout.in_layout_of(arr, ref_arr)
            np.testing.assert_array_equal(moved, a)
            assert (layout.channels_last_view(moved) is None) == (layout.channels_last_view(ref_arr) is None)


def _as_nchw(t):
    """The same values, copied to a contiguous NCHW array (a reshape round trip, differentiable)."""
    return t.reshape(t.shape[0], -1).reshape(*t.shape)


def _as_channels_last(t):
    """The same values stored channels-last: a 1x1 identity convolution (differentiable)."""
    C = t.shape[1]
    return mg.functional.conv2d(t, mg.Tensor(np.eye(C, dtype=t.dtype).reshape(C, C, 1, 1)))


def test_a_residual_block_in_channels_last_matches_the_nchw_gradients():
    r = rng(3)
    x64 = r.standard_normal((2, 4, 5, 5))
    params64 = [r.standard_normal((4, 4, 3, 3)) * 0.3, r.standard_normal(4), r.standard_normal(4),
                r.standard_normal((4, 4, 3, 3)) * 0.3]
    dy = r.standard_normal((2, 4, 5, 5))

    def run(dtype, nchw):
        F = mg.functional
        x = mg.Tensor(x64.astype(dtype), requires_grad=True)
        ps = [mg.Tensor(p.astype(dtype), requires_grad=True) for p in params64]
        relayout = _as_nchw if nchw else (lambda t: t)
        h = relayout(F.conv2d(x, ps[0], padding=1))
        assert (layout.channels_last_view(h.numpy()) is None) == nchw
        h = relayout(F.relu(F.batch_norm(h, None, None, ps[1], ps[2], training=True)))
        out = relayout(F.conv2d(h, ps[3], padding=1)) + x
        (out * mg.Tensor(dy.astype(dtype))).sum().backward()
        return out.numpy(), [t.grad.numpy() for t in [x] + ps]

    out_last, grads_last = run(np.float32, nchw=False)
    out_nchw, grads_nchw = run(np.float64, nchw=True)
    np.testing.assert_allclose(out_last, out_nchw, rtol=1e-4, atol=1e-4)
    for a, b in zip(grads_last, grads_nchw):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_relu_brings_an_nchw_gradient_into_its_channels_last_output():
    r = rng(4)
    x = r.standard_normal((2, 3, 4, 4)).astype(np.float32)
    x_last = mg.Tensor(np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2), requires_grad=True)
    y = mg.functional.relu(x_last)
    assert layout.channels_last_view(y.numpy()) is not None
    dy = r.standard_normal(x.shape).astype(np.float32)  # contiguous NCHW gradient
    (y * mg.Tensor(dy)).sum().backward()
    np.testing.assert_array_equal(y.numpy(), np.maximum(x, 0))
    np.testing.assert_array_equal(x_last.grad.numpy(), dy * (x > 0))


def test_batch_norm_on_channels_last_input_matches_the_reference():
    r = rng(5)
    x = (r.standard_normal((3, 4, 5, 2)) * 2 + 1).astype(np.float32)
    x_last = mg.Tensor(np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2), requires_grad=True)
    gamma, beta = r.standard_normal(4).astype(np.float32), r.standard_normal(4).astype(np.float32)
    running_mean, running_var = mg.zeros(4), mg.ones(4)
    out = mg.functional.batch_norm(x_last, running_mean, running_var, mg.Tensor(gamma), mg.Tensor(beta),
                                   training=True, momentum=0.5)
    assert layout.channels_last_view(out.numpy()) is not None
    mean, var = x.astype(np.float64).mean(axis=(0, 2, 3)), x.astype(np.float64).var(axis=(0, 2, 3))
    expected = ref.batch_norm(x, None, None, gamma, beta, training=True)[0]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)
    count = x[:, 0].size
    np.testing.assert_allclose(running_mean.numpy(), 0.5 * mean, rtol=1e-5)
    np.testing.assert_allclose(running_var.numpy(), 0.5 + 0.5 * var * count / (count - 1), rtol=1e-5)
    # The channels-last backward against float64 central differences.
    g64, b64 = mg.Tensor(gamma.astype(np.float64)), mg.Tensor(beta.astype(np.float64))
    assert mg.gradcheck(lambda t: mg.functional.batch_norm(_as_channels_last(t), None, None, g64, b64, training=True)
                        * mg.Tensor(np.arange(t.size, dtype=np.float64).reshape(t.shape) / t.size),
                        [x.astype(np.float64)])
