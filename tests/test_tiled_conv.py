"""The register-tiled convolution (``backends/cpu/tiled_conv.py``, ``ops/conv_tiled.py``) against the formulas.

Kernels: ``pad_images`` against ``np.pad``; ``tiled_conv`` and ``tiled_weight_grad`` against
einsums over the padded image (the course's sum over taps), with rows that are not a
multiple of the tile's 6 positions, strides 1-3 and a dilated height. The op: conv2d and
convolve2d through the tiled plan against ``minigrad.reference``, forward and the exact
directional derivatives of the (linear) reference, on shapes drawn by hypothesis; and
against the im2row plan on ResNet-18's layers.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import reference as R
from minigrad.backends import cpu
from minigrad.backends.cpu import conv_plan
from minigrad.backends.cpu import register_tile
from stride1_conv_cases import assert_directional_derivatives, plan

tiles_pay = register_tile.tiles_apply(np.dtype(np.float32), 64)


def taps_sum(xp, taps, OH, OW, sh, sw, dh):
    """``out[n, oh, ow, o] = sum_{kh, kw, c} xp[n, oh*sh + kh*dh, ow*sw + kw, c] * taps[kh, kw*C + c, o]`` in float64."""
    N, C = xp.shape[0], xp.shape[3]
    KH, O = taps.shape[0], taps.shape[2]
    KW = taps.shape[1] // C
    out = np.zeros((N, OH, OW, O))
    for kh in range(KH):
        for kw in range(KW):
            window = xp[:, kh * dh:kh * dh + sh * (OH - 1) + 1:sh, kw:kw + sw * (OW - 1) + 1:sw].astype(np.float64)
            out += np.einsum("nhwc,co->nhwo", window, taps[kh, kw * C:(kw + 1) * C])
    return out


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 2), h=st.integers(0, 5), w=st.integers(0, 5), c=st.integers(1, 3), rows=st.integers(1, 9),
       columns=st.integers(1, 9), ph=st.integers(0, 3), pw=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_pad_images_matches_np_pad(n, h, w, c, rows, columns, ph, pw, seed):
    """Zeros around the image, cropped or extended to (rows, columns): np.pad, then sliced or padded more."""
    x = np.random.default_rng(seed).standard_normal((n, h, w, c)).astype(np.float32)
    big = np.pad(x, ((0, 0), (ph, rows + columns), (pw, rows + columns), (0, 0)))
    dst = np.full((n, rows, columns, c), np.nan, np.float32)
    cpu.pad_images(dst, x, ph, pw)
    np.testing.assert_array_equal(dst, big[:, :rows, :columns])


@pytest.mark.parametrize("N,H,W,C,O,KH,KW,sh,sw,ph,pw,dh", [
    (2, 5, 17, 8, 64, 3, 3, 1, 1, 1, 1, 1),     # 'same': 17 = 6 + 6 + 5 positions per row, border blocks
    (1, 5, 33, 5, 128, 3, 2, 2, 2, 1, 0, 1),    # strided, 2 column blocks
    (2, 11, 7, 3, 64, 2, 3, 3, 1, 0, 2, 2),     # stride 3 down, dilated height, padding on one side
    (1, 1, 1, 4, 64, 1, 1, 1, 1, 0, 0, 1),      # one position, one tap
    (3, 4, 32, 16, 64, 3, 3, 1, 1, 1, 1, 1),    # ResNet's row of 32: 6 + 6 + 5 + 5 + 5 + 5
    (1, 3, 4, 6, 64, 3, 3, 1, 1, 4, 5, 1),      # padding wider than the kernel: whole rows of zeros
    (2, 9, 8, 64, 64, 2, 3, 3, 1, 0, 2, 2),     # 64 channels: dW's tiles of 6 channels, 10 + one of 4
])
def test_tiled_kernels_match_einsum(N, H, W, C, O, KH, KW, sh, sw, ph, pw, dh):
    """The forward and dW on the unpadded image against the sums over taps of np.pad's image."""
    rng = np.random.default_rng(H * W + O + C)
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - KW) // sw + 1
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    taps = rng.standard_normal((KH, KW * C, O)).astype(np.float32)
    out = np.full((N, OH, OW, O), np.nan, np.float32)
    cpu.tiled_conv(out, x, taps, sh, sw, ph, pw, dh)
    np.testing.assert_allclose(out, taps_sum(xp, taps, OH, OW, sh, sw, dh), rtol=1e-4, atol=1e-3)

    dy = rng.standard_normal((N, OH, OW, O)).astype(np.float32)
    expected = np.zeros((KH, KW * C, O))  # d(sum(out * dy))/d(taps), from the same sum over taps
    for kh in range(KH):
        for kw in range(KW):
            window = xp[:, kh * dh:kh * dh + sh * (OH - 1) + 1:sh, kw:kw + sw * (OW - 1) + 1:sw].astype(np.float64)
            expected[kh, kw * C:(kw + 1) * C] = np.einsum("nhwc,nhwo->co", window, dy)
    for runs in sorted({1, 2, N + 1}):  # more runs than images: the empty ones are zeros
        partial = np.full((runs, KH, KW * C, O), np.nan, np.float32)
        cpu.tiled_weight_grad(partial, x, dy, sh, sw, ph, pw, dh)
        dtaps = np.full((KH, KW * C, O), np.nan, np.float32)
        cpu.sum_partials(dtaps, partial, False)
        np.testing.assert_allclose(dtaps, expected, rtol=1e-4, atol=1e-3)


@contextlib.contextmanager
def tiles_everywhere():
    """The tiled plan for every layer it can take (2+ input channels, rows of any length)."""
    saved = conv_plan.TILED_MIN_ROW
    conv_plan.TILED_MIN_ROW = 1
    try:
        with mg.config.using(channels_last_min=2, tiled_conv=True):
            yield
    finally:
        conv_plan.TILED_MIN_ROW = saved


needs_tiles = pytest.mark.skipif(not tiles_pay, reason="the register tiles do not run here (no AVX-512, or "
                                                        "OpenBLAS's workers spin)")


@st.composite
def tiled_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh = draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    if (kh, kw, sh, sw, ph, pw) == (1, 1, 1, 1, 0, 0):
        ph = 1  # a pointwise layer is a plain GEMM, not tiled
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    return dict(n=draw(st.integers(1, 3)), c=draw(st.sampled_from([2, 5, 64])), o=draw(st.sampled_from([64, 128])),
                h=h, w=w, k=(kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, 1), bias=draw(st.booleans()),
                channels_last=draw(st.booleans()), flip=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))


@needs_tiles
@settings(max_examples=40, deadline=None)
@given(case=tiled_cases())
def test_tiled_conv2d_matches_reference(case):
    """Forward, dX (tiled for stride 1 and 64 channels, folded otherwise), dW and db against the float64 reference."""
    with tiles_everywhere():
        check_tiled_case(case)


def check_tiled_case(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(np.float32)
    w = (rng.standard_normal((case["o"], case["c"]) + case["k"]) * 0.2).astype(np.float32)
    b = rng.standard_normal(case["o"]).astype(np.float32) if case["bias"] else None
    chosen = plan(x.shape, w.shape, case["padding"], case["dilation"], case["stride"])
    assert chosen.lowering == "tiled"
    within = case["padding"][0] <= case["dilation"][0] * (case["k"][0] - 1) and case["padding"][1] <= case["k"][1] - 1
    if case["c"] % 64:
        assert chosen.input_grad == "fold"
    else:
        assert chosen.input_grad == ("tiled" if case["stride"] == (1, 1) and within else "phases")
    stored = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) if case["channels_last"] else x
    X, W = mg.Tensor(stored, requires_grad=True), mg.Tensor(w, requires_grad=True)
    B = None if b is None else mg.Tensor(b, requires_grad=True)
    op = mg.convolve2d if case["flip"] else mg.conv2d
    out = op(X, W, B, stride=case["stride"], padding=case["padding"], dilation=case["dilation"])

    def reference(x, w):
        w = w[:, :, ::-1, ::-1] if case["flip"] else w
        return R.conv2d(x, w, stride=case["stride"], padding=case["padding"], dilation=case["dilation"])

    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    expected = reference(x64, w64) + (0 if b is None else b.reshape(1, -1, 1, 1))
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4 * scale)
    g = rng.standard_normal(out.shape)
    (out * mg.Tensor(g.astype(np.float32))).sum().backward()
    if b is not None:
        np.testing.assert_allclose(B.grad.numpy(), g.sum(axis=(0, 2, 3)), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(X.grad.numpy(), scattered_input_grad(g, w64[:, :, ::-1, ::-1] if case["flip"] else w64,
                                                                    x.shape, case), rtol=1e-4, atol=1e-3)
    assert_directional_derivatives(rng, g, ((X, x64, lambda v: reference(v, w64)), (W, w64, lambda v: reference(x64, v))),
                                   1e-3)


@needs_tiles
def scattered_input_grad(g, w, x_shape, case):
    """dX of conv2d as the course writes it: each output gradient sent back through each tap, padding cropped."""
    (sh, sw), (ph, pw), (dh, dw) = case["stride"], case["padding"], case["dilation"]
    N, C, H, W = x_shape
    OH, OW = g.shape[2:]
    KH, KW = w.shape[2:]
    dxp = np.zeros((N, C, H + 2 * ph + dh * KH + sh, W + 2 * pw + dw * KW + sw))
    for kh in range(KH):
        for kw in range(KW):
            dxp[:, :, kh * dh:kh * dh + sh * (OH - 1) + 1:sh, kw * dw:kw * dw + sw * (OW - 1) + 1:sw] += np.einsum(
                "nohw,oc->nchw", g, w[:, :, kh, kw])
    return dxp[:, :, ph:ph + H, pw:pw + W]


@needs_tiles
@pytest.mark.parametrize("C,H,O,k,stride,padding", [(64, 9, 64, 3, 2, 1), (64, 8, 64, 1, 2, 0), (64, 10, 64, 2, 3, 0),
                                                     (128, 7, 64, 3, 2, 2), (64, 6, 64, 3, 1, 3)])
def test_strided_input_grad_by_phases_matches_the_scatter(C, H, O, k, stride, padding):
    """The phases' dX in full (zero phases of a stride above the kernel included) against the scatter formula."""
    rng = np.random.default_rng(H * k + stride)
    x = rng.standard_normal((2, C, H, H)).astype(np.float32)
    w = rng.standard_normal((O, C, k, k)).astype(np.float32)
    case = dict(stride=(stride, stride), padding=(padding, padding), dilation=(1, 1))
    with tiles_everywhere():
        assert plan(x.shape, w.shape, padding, 1, stride).input_grad == "phases"
        X = mg.Tensor(x, requires_grad=True)
        out = mg.conv2d(X, mg.Tensor(w), stride=stride, padding=padding)
        g = rng.standard_normal(out.shape)
        out.backward(mg.Tensor(g.astype(np.float32)))
    np.testing.assert_allclose(X.grad.numpy(), scattered_input_grad(g, w.astype(np.float64), x.shape, case),
                               rtol=1e-4, atol=1e-3)


@needs_tiles
def test_tiled_conv2d_empty_batch():
    with tiles_everywhere():
        assert plan((0, 64, 5, 5), (64, 64, 3, 3)).lowering == "tiled"
    X = mg.Tensor(np.zeros((0, 64, 5, 5), np.float32), requires_grad=True)
    W = mg.Tensor(np.ones((64, 64, 3, 3), np.float32), requires_grad=True)
    with tiles_everywhere():
        out = mg.conv2d(X, W, padding=1)
        assert out.shape == (0, 64, 5, 5)
        out.sum().backward()
    np.testing.assert_array_equal(W.grad.numpy(), 0)
    assert X.grad.shape == (0, 64, 5, 5)


@needs_tiles
def test_planner_takes_the_tiles_for_wide_rows_with_64_output_channels():
    assert plan((64, 64, 32, 32), (64, 64, 3, 3)).lowering == "tiled"  # ResNet-18's layer1
    assert plan((64, 64, 32, 32), (128, 64, 3, 3), stride=2).lowering == "tiled"  # layer2.0.conv1
    assert plan((64, 128, 16, 16), (128, 128, 3, 3)).input_grad == "tiled"
    assert plan((64, 64, 32, 32), (128, 64, 3, 3), stride=2).input_grad == "phases"
    assert plan((64, 96, 32, 32), (128, 96, 3, 3), stride=2).input_grad == "fold"  # 96 channels of dX
    assert plan((64, 64, 32, 32), (128, 64, 1, 1), padding=0, stride=2).lowering == "tiled"  # a shortcut
    assert plan((64, 128, 16, 16), (256, 128, 3, 3), stride=2).lowering == "tiled"  # strided: rows of 8 suffice
    assert plan((64, 256, 8, 8), (512, 256, 3, 3), stride=2).lowering == "im2row"  # rows of 4 positions
    assert plan((64, 256, 8, 8), (256, 256, 3, 3)).lowering == "shifts"
    assert plan((64, 64, 32, 32), (96, 64, 3, 3)).lowering != "tiled"  # 64 output channels per tile
    assert plan((64, 64, 32, 32), (64, 64, 3, 3), dtype=np.float64).lowering != "tiled"
    assert plan((64, 64, 32, 32), (64, 64, 3, 3), dilation=(1, 2)).lowering != "tiled"
    assert plan((64, 64, 32, 32), (64, 64, 1, 1), padding=0).lowering == "pointwise"
    assert plan((64, 3, 32, 32), (64, 3, 3, 3)).lowering == "im2row"  # 3 channels
    with mg.config.using(tiled_conv=False):
        assert plan((64, 64, 32, 32), (64, 64, 3, 3)).lowering == "strips"


@needs_tiles
@pytest.mark.parametrize("C,H,O,stride", [(64, 32, 64, 1), (64, 32, 128, 2), (128, 16, 128, 1)])
def test_tiled_and_im2row_agree_on_resnet_layers(C, H, O, stride):
    """ResNet-18's layers in float32 through the tiled plan and im2row: the same numbers to float32 rounding."""
    rng = np.random.default_rng(C + O)
    x = rng.standard_normal((3, C, H, H)).astype(np.float32)
    w = (rng.standard_normal((O, C, 3, 3)) * 0.05).astype(np.float32)
    g = rng.standard_normal((3, O, H // stride, H // stride)).astype(np.float32)
    results = []
    for tiled in (True, False):
        with mg.config.using(tiled_conv=tiled, strip_conv=False):
            assert plan(x.shape, w.shape, stride=stride).lowering == ("tiled" if tiled else "im2row")
            X, W = mg.Tensor(x, requires_grad=True), mg.Tensor(w, requires_grad=True)
            out = mg.conv2d(X, W, padding=1, stride=stride)
            out.backward(mg.Tensor(g))
            results.append((out.numpy(), X.grad.numpy(), W.grad.numpy()))
    np.testing.assert_allclose(results[0][0], R.conv2d(x.astype(np.float64), w.astype(np.float64), stride=stride,
                                                       padding=1), rtol=1e-4, atol=1e-4)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3 * max(1.0, float(np.abs(b).max())))
