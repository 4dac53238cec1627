"""The direct (lowering-free) convolution kernels and op, against the formula and finite differences.

``conv2d_direct`` and ``conv2d_direct_weight_grad`` are checked on the CPU with shapes,
dilations and paddings drawn by hypothesis (including negative paddings, which crop: the
dX pass uses them), against an einsum per kernel tap written from the formula
``out[n, o, i, j] = b[o] + sum_{c,k,l} W[o, c, k, l] x[n, c, i - ph + k*dh, j - pw + l*dw]``.
They run on the CPU only (``backends/cuda/conv_plan.py`` says why); the op through ``conv2d``
is in ``test_conv.py``, which runs every case with both lowerings.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.backends import get_backend
from minigrad.backends.cpu import conv_plan
from minigrad.backends.cuda import conv_plan as cuda_conv_plan
from minigrad.ops.geometry import conv_geometry


def shifted(x, top, left, height, width):
    """``x[..., top + i, left + j]`` for i < height, j < width, zero outside ``x`` (any sign of offsets)."""
    H, W = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + (height, width), x.dtype)
    i0, i1 = max(0, -top), min(height, H - top)
    j0, j1 = max(0, -left), min(width, W - left)
    if i0 < i1 and j0 < j1:
        out[..., i0:i1, j0:j1] = x[..., top + i0:top + i1, left + j0:left + j1]
    return out


def forward_formula(x, w, b, ph, pw, dh, dw, OH, OW):
    out = np.zeros((x.shape[0], w.shape[0], OH, OW)) + b.reshape(1, -1, 1, 1)
    for k in range(w.shape[2]):
        for l in range(w.shape[3]):
            tap = shifted(x.astype(np.float64), k * dh - ph, l * dw - pw, OH, OW)
            out += np.einsum("ncij,oc->noij", tap, w[:, :, k, l].astype(np.float64))
    return out


def weight_grad_formula(x, dy, KH, KW, ph, pw, dh, dw):
    OH, OW = dy.shape[2:]
    dwt = np.zeros((dy.shape[1], x.shape[1], KH, KW))
    for k in range(KH):
        for l in range(KW):
            tap = shifted(x.astype(np.float64), k * dh - ph, l * dw - pw, OH, OW)
            dwt[:, :, k, l] = np.einsum("ncij,noij->oc", tap, dy.astype(np.float64))
    return dwt


cases = st.fixed_dictionaries(dict(
    n=st.integers(1, 3), c=st.integers(1, 5), o=st.integers(1, 6), h=st.integers(1, 9), w=st.integers(1, 9),
    kh=st.integers(1, 5), kw=st.integers(1, 5), dh=st.integers(1, 2), dw=st.integers(1, 2),
    # Negative paddings crop (the dX pass); the bottom/right padding follows from OH, OW.
    ph=st.integers(-2, 3), pw=st.integers(-2, 3), extra_h=st.integers(0, 2), extra_w=st.integers(0, 2),
    dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16),
))


def draw_arrays(case):
    """(x, w, b, OH, OW) for a case, or None when the output would be empty."""
    OH = case["h"] + case["ph"] + case["extra_h"] - case["dh"] * (case["kh"] - 1)
    OW = case["w"] + case["pw"] + case["extra_w"] - case["dw"] * (case["kw"] - 1)
    if OH < 1 or OW < 1:
        return None
    r = np.random.default_rng(case["seed"])
    dt = case["dtype"]
    x = r.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dt)
    w = r.standard_normal((case["o"], case["c"], case["kh"], case["kw"])).astype(dt)
    b = r.standard_normal(case["o"]).astype(dt)
    return x, w, b, OH, OW


def tolerance(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


@given(cases)
def test_forward_kernel_matches_the_formula(case):
    drawn = draw_arrays(case)
    if drawn is None:
        return
    x, w, b, OH, OW = drawn
    out = np.full((x.shape[0], w.shape[0], OH, OW), np.nan, x.dtype)
    get_backend("cpu").conv2d_direct(out, x, w, b, case["ph"], case["pw"], case["dh"], case["dw"])
    np.testing.assert_allclose(out, forward_formula(x, w, b, case["ph"], case["pw"], case["dh"], case["dw"], OH, OW),
                               **tolerance(x.dtype))


@given(cases)
def test_weight_grad_kernel_matches_the_formula(case):
    drawn = draw_arrays(case)
    if drawn is None:
        return
    x, w, _, OH, OW = drawn
    dy = np.random.default_rng(case["seed"] + 1).standard_normal((x.shape[0], w.shape[0], OH, OW)).astype(x.dtype)
    dwt = np.full(w.shape, np.nan, x.dtype)
    get_backend("cpu").conv2d_direct_weight_grad(dwt, x, dy, case["ph"], case["pw"], case["dh"], case["dw"])
    expected = weight_grad_formula(x, dy, case["kh"], case["kw"], case["ph"], case["pw"], case["dh"], case["dw"])
    np.testing.assert_allclose(dwt, expected, **tolerance(x.dtype))


def test_kernels_accept_strided_inputs():
    r = np.random.default_rng(5)
    x = r.standard_normal((2, 3, 7, 12))[:, :, :, ::2]  # every other column: not contiguous
    w, b = r.standard_normal((4, 3, 3, 3)), r.standard_normal(4)
    out = np.empty((2, 4, 7, 6))
    get_backend("cpu").conv2d_direct(out, x, w, b, 1, 1, 1, 1)
    np.testing.assert_allclose(out, forward_formula(x, w, b, 1, 1, 1, 1, 7, 6), rtol=1e-12, atol=1e-12)
    dy = r.standard_normal((2, 4, 14, 6))[:, :, ::2]
    dwt = np.empty_like(w)
    get_backend("cpu").conv2d_direct_weight_grad(dwt, x, dy, 1, 1, 1, 1)
    np.testing.assert_allclose(dwt, weight_grad_formula(x, dy, 3, 3, 1, 1, 1, 1), rtol=1e-12, atol=1e-12)


def test_nan_and_inf_propagate():
    # reassoc (the dW kernel's only fast-math flag) may reorder sums but keeps NaN and Inf.
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 1] = np.inf
    x[0, 0, 3, 3] = np.nan
    w = np.ones((1, 1, 2, 2), np.float32)
    out = np.empty((1, 1, 3, 3), np.float32)
    get_backend("cpu").conv2d_direct(out, x, w, np.zeros(1, np.float32), 0, 0, 1, 1)
    np.testing.assert_array_equal(out, forward_formula(x, w, np.zeros(1), 0, 0, 1, 1, 3, 3))
    assert np.isinf(out).any() and np.isnan(out).any() and np.isfinite(out).any()
    dwt = np.empty_like(w)
    dy = np.ones((1, 1, 3, 3), np.float32)
    get_backend("cpu").conv2d_direct_weight_grad(dwt, x, dy, 0, 0, 1, 1)
    np.testing.assert_array_equal(dwt, weight_grad_formula(x, dy, 2, 2, 0, 0, 1, 1))
    assert np.isinf(dwt).any() and np.isnan(dwt).any()


@pytest.mark.parametrize("geometry,groups,channels,expected", [
    ((5, 5, 1, 1, 2, 2, 1, 1, 28, 28), 1, (1, 6), True),     # LeNet-5's conv1
    ((5, 5, 1, 1, 0, 0, 1, 1, 10, 10), 1, (6, 16), True),    # LeNet-5's conv2
    ((3, 3, 2, 2, 1, 1, 1, 1, 4, 4), 1, (3, 8), False),      # strided
    ((3, 3, 1, 1, 1, 1, 1, 1, 8, 8), 2, (4, 8), False),      # grouped
    ((3, 3, 1, 1, 1, 1, 1, 1, 8, 8), 1, (3, 32), False),     # wide enough for the GEMM
])
def test_direct_applies_to_stride1_single_group_layers_with_few_channels(geometry, groups, channels, expected):
    assert conv_plan.direct_applies(geometry, groups, channels, mg.config.channels_last_min) == expected
    assert cuda_conv_plan.plan_conv2d((1, channels[0]) + geometry[8:], (channels[1], channels[0] // groups) + geometry[:2],
                                      geometry, groups, np.float32, True).lowering != "direct"


@pytest.mark.parametrize("padding,dilation", [(2, 1), (0, 2), ("same", 1), (3, 1)])
def test_lenet_like_layer_gradients_by_finite_differences(padding, dilation):
    # padding 3 exceeds the 3x3 kernel's span: the dX pass pads dY by a negative amount.
    r = np.random.default_rng(7)
    x, w, b = r.standard_normal((2, 2, 6, 5)), r.standard_normal((3, 2, 3, 3)), r.standard_normal(3)
    geometry = conv_geometry("conv2d", x.shape, w.shape, 1, padding, dilation, 1)
    assert conv_plan.direct_applies(geometry, 1, (2, 3), mg.config.channels_last_min)
    assert mg.gradcheck(lambda x, w, b: mg.conv2d(x, w, b, 1, padding, dilation), [x, w, b])
    assert mg.gradcheck(lambda x, w, b: mg.convolve2d(x, w, b, 1, padding, dilation), [x, w, b])
