"""The shift convolution (``backends/cpu/shifts.py``, ``ops/conv_shifts.py``) against references written from the formulas.

Kernels: ``swap_leading_axes`` against NumPy's transpose, ``shift_blocks`` against an explicit
enumeration of (output pixel, tap, input pixel) triples, ``shift_conv``/``shift_weight_grad``
against einsums over padded images. The op: conv2d and convolve2d through the shift plan
against ``minigrad.reference`` (forward, and exact directional derivatives for the gradients,
plus a finite-difference gradcheck), with shapes, paddings, dilations and even kernels drawn
by hypothesis.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.backends import cpu
from minigrad.backends.cpu import cblas, conv_plan
from minigrad.gradcheck import gradcheck
from minigrad.ops.conv_shifts import ShiftConv2d
from minigrad.ops.geometry import conv_geometry
from stride1_conv_cases import (assert_plans_agree, check_against_reference, check_empty_batch, conv_and_grads, plan,
                                stride1_cases)

pytestmark = pytest.mark.skipif(not cblas.available(np.float32), reason="NumPy's BLAS is not an OpenBLAS with CBLAS")


@contextlib.contextmanager
def shifts_for_every_layer():
    """Send every stride-1 single-group layer with 2+ input channels (and a kernel of 2+ taps) through the shifts."""
    saved = conv_plan.STRIP_MIN_POSITIONS
    conv_plan.STRIP_MIN_POSITIONS = 10**9
    try:
        with mg.config.using(channels_last_min=2, shift_conv=True, direct_conv=False):
            yield
    finally:
        conv_plan.STRIP_MIN_POSITIONS = saved


@settings(max_examples=30, deadline=None)
@given(i=st.integers(1, 5), j=st.integers(1, 5), c=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_swap_leading_axes_is_a_transpose(i, j, c, seed):
    src = np.random.default_rng(seed).standard_normal((i, j, c)).astype(np.float32)
    dst = np.full((j, i, c), np.nan, np.float32)
    cpu.swap_leading_axes(dst, src)
    np.testing.assert_array_equal(dst, src.transpose(1, 0, 2))


def triples_by_loop(geometry, H, W, N):
    """Every (out row, in row, kh, kw) of the (H*W*N)-row matrices that the convolution multiplies."""
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    found = set()
    for oh in range(OH):
        for ow in range(OW):
            for kh in range(KH):
                for kw in range(KW):
                    ih, iw = oh - ph + kh * dh, ow - pw + kw * dw
                    if 0 <= ih < H and 0 <= iw < W:
                        for n in range(N):
                            found.add(((oh * OW + ow) * N + n, (ih * W + iw) * N + n, kh, kw))
    return found


@settings(max_examples=60, deadline=None)
@given(case=stride1_cases(), n=st.integers(1, 3))
def test_shift_blocks_cover_each_product_once(case, n):
    geometry = conv_geometry("conv2d", (n, 1, case["h"], case["w"]), (1, 1) + case["k"], 1, case["padding"],
                             case["dilation"], 1)
    blocks = cpu.shift_blocks(geometry, (case["h"], case["w"]), n)
    listed = [(o + r, i + r, kh, kw) for kh, kw, o, i, m in blocks for r in range(m)]
    assert len(listed) == len(set(listed))  # nothing twice
    assert set(listed) == triples_by_loop(geometry, case["h"], case["w"], n)
    assert [m for *_, m in blocks] == sorted((m for *_, m in blocks), reverse=True)


def test_shift_blocks_of_a_same_3x3_layer():
    """4x4 'same' 3x3: the centre column is three whole-image blocks, the side columns one block per output row."""
    geometry = conv_geometry("conv2d", (2, 1, 4, 4), (1, 1, 3, 3), 1, 1, 1, 1)
    blocks = cpu.shift_blocks(geometry, (4, 4), 2)
    assert blocks[0] == (1, 1, 0, 0, 32)  # the centre tap: all 4*4*2 rows, first
    assert len(blocks) == 3 + 2 * (3 + 4 + 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding,dilation,k", [(1, 1, (3, 3)), (0, 1, (3, 2)), (2, 2, (3, 3)), (3, 1, (2, 2))])
def test_shift_kernels_match_einsum(dtype, padding, dilation, k):
    rng = np.random.default_rng(padding + dilation)
    N, C, O, H, W = 3, 4, 5, 5, 6
    geometry = conv_geometry("conv2d", (N, C, H, W), (O, C) + k, 1, padding, dilation, 1)
    KH, KW, OH, OW = geometry[0], geometry[1], geometry[8], geometry[9]
    x = rng.standard_normal((H, W, N, C)).astype(dtype)
    weight = rng.standard_normal((O, C, KH, KW)).astype(dtype)
    dy = rng.standard_normal((OH, OW, N, O)).astype(dtype)
    # out[oh, ow, n, o] = sum_{kh, kw, c} x_pad[oh + kh*d, ow + kw*d, n, c] * W[o, c, kh, kw]
    pad = np.zeros((H + 2 * padding, W + 2 * padding, N, C), dtype)
    pad[padding:padding + H, padding:padding + W] = x
    d = dilation
    windows = np.stack([np.stack([pad[kh * d:kh * d + OH, kw * d:kw * d + OW] for kw in range(KW)], 2)
                        for kh in range(KH)], 2)  # (OH, OW, KH, KW, N, C)
    expected = np.einsum("hwklnc,ockl->hwno", windows, weight)
    blocks = cpu.shift_blocks(geometry, (H, W), N)
    taps = np.ascontiguousarray(weight.transpose(2, 3, 1, 0))
    out = np.full((OH * OW * N, O), np.nan, dtype)
    cpu.shift_conv(out, x.reshape(-1, C), taps, blocks, False)
    np.testing.assert_allclose(out.reshape(OH, OW, N, O), expected, rtol=1e-4, atol=1e-4)
    # dW[o, c, kh, kw] = sum windows[..., kh, kw, n, c] * dy[..., n, o]; dX by the adjoint identity
    # <conv(x), dy> = <x, conv^T(dy)>, checked through a dense matrix of the einsum above.
    dtaps = np.full((KH, KW, C, O), np.nan, dtype)
    cpu.shift_weight_grad(dtaps, x.reshape(-1, C), dy.reshape(-1, O), blocks)
    np.testing.assert_allclose(dtaps, np.einsum("hwklnc,hwno->klco", windows, dy), rtol=1e-4, atol=1e-4)
    adjoint = np.ascontiguousarray(weight.transpose(2, 3, 0, 1))
    dx = np.full((H * W * N, C), np.nan, dtype)
    cpu.shift_conv(dx, dy.reshape(-1, O), adjoint, blocks, True)
    dpad = np.zeros_like(pad)
    for kh in range(KH):
        for kw in range(KW):
            dpad[kh * d:kh * d + OH, kw * d:kw * d + OW] += np.einsum("hwno,oc->hwnc", dy, weight[:, :, kh, kw])
    np.testing.assert_allclose(dx.reshape(H, W, N, C), dpad[padding:padding + H, padding:padding + W],
                               rtol=1e-4, atol=1e-4)


def test_planner_takes_shifts_for_small_wide_layers():
    assert plan((64, 256, 8, 8), (256, 256, 3, 3)).lowering == "shifts"  # ResNet-18's layer3
    assert plan((64, 512, 4, 4), (512, 512, 3, 3)).lowering == "shifts"  # layer4
    with mg.config.using(tiled_conv=False):  # else the register tiles (test_tiled_conv.py)
        assert plan((64, 128, 16, 16), (128, 128, 3, 3)).lowering == "strips"  # 256 positions: strips
    assert plan((64, 256, 8, 8), (512, 256, 3, 3), stride=2).lowering == "im2row"
    assert plan((64, 256, 8, 8), (512, 256, 1, 1), padding=0).lowering == "pointwise"
    assert plan((64, 16, 8, 8), (256, 16, 3, 3)).lowering == "im2row"  # a narrow input
    with mg.config.using(shift_conv=False):
        assert plan((64, 256, 8, 8), (256, 256, 3, 3)).lowering == "im2row"


def test_planner_falls_back_without_cblas(monkeypatch):
    monkeypatch.setattr(cblas, "available", lambda dtype: False)
    assert plan((64, 512, 4, 4), (512, 512, 3, 3)).lowering == "im2row"


@settings(max_examples=40, deadline=None)
@given(case=stride1_cases())
def test_shift_conv2d_matches_reference(case):
    if case["k"] == (1, 1):
        case["k"] = (1, 2)  # a 1x1 kernel is pointwise, not shifts
    with shifts_for_every_layer():
        check_against_reference(case, "shifts")


@pytest.mark.parametrize("padding,dilation", [(1, 1), (3, 1), (0, 2)])
def test_shift_conv2d_gradcheck(padding, dilation):
    rng = np.random.default_rng(padding + dilation)
    x = rng.standard_normal((2, 3, 5, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    with shifts_for_every_layer():
        assert plan(x.shape, w.shape, padding, dilation, dtype=np.float64).lowering == "shifts"
        gradcheck(lambda x, w, b: mg.conv2d(x, w, b, padding=padding, dilation=dilation), [x, w, b])


def test_shift_conv2d_empty_batch():
    with shifts_for_every_layer():
        assert plan((0, 3, 5, 5), (2, 3, 3, 3)).lowering == "shifts"
        check_empty_batch()


def test_shifts_and_im2row_agree_on_resnet_layers():
    """ResNet-18's layer3 and layer4 shapes in float32 through both plans, and against the float64 reference."""
    rng = np.random.default_rng(4)
    for C, H in ((256, 8), (512, 4)):
        x = rng.standard_normal((3, C, H, H)).astype(np.float32)
        w = (rng.standard_normal((C, C, 3, 3)) * 0.02).astype(np.float32)
        g = rng.standard_normal((3, C, H, H)).astype(np.float32)
        results = []
        for shifts in (True, False):
            with mg.config.using(shift_conv=shifts):
                out, dx, dw = conv_and_grads(x, w, g)
                assert (out._ctx.function is ShiftConv2d) == shifts
                results.append((out.numpy(), dx, dw))
        assert_plans_agree(*results, x, w)
