"""conv2d's input gradient for stride-1 convolutions, computed as a correlation of dY.

``_input_grad_by_correlation`` replaces ``W^T @ dY`` + col2im when the stride is 1 and
there is one group. Its result is compared with dX written out from the formula
``dX[n, c, i*S - P + k*D, j*S - P + l*D] += sum_o dY[n, o, i, j] W[o, c, k, l]`` (an einsum
per kernel tap), and checked by central differences.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.backends.cpu import conv_plan


@pytest.fixture(autouse=True)
def im2row_only():
    """These layers have few channels: keep them off the direct kernels, on the path tested here."""
    with mg.config.using(direct_conv=False):
        yield


def reference_input_grad(dy, w, x_shape, padding, dilation):
    """dX of a stride-1 conv2d from the formula, for a (top, bottom, left, right) padding."""
    N, C, H, W = x_shape
    O, _, KH, KW = w.shape
    OH, OW = dy.shape[2:]
    top, bottom, left, right = padding
    dx_pad = np.zeros((N, C, H + top + bottom, W + left + right), dtype=np.float64)
    for k in range(KH):
        for l in range(KW):
            tap = np.einsum("noij,oc->ncij", dy.astype(np.float64), w[:, :, k, l].astype(np.float64))
            dx_pad[:, :, k * dilation:k * dilation + OH, l * dilation:l * dilation + OW] += tap
    return dx_pad[:, :, top:top + H, left:left + W]


def conv_input_grad(x, w, dy, padding, dilation, flip=False):
    xt = mg.Tensor(x, requires_grad=True)
    wt = mg.Tensor(w, requires_grad=True)
    conv = mg.functional.convolve2d if flip else mg.functional.conv2d
    out = conv(xt, wt, padding=padding, dilation=dilation)
    assert out.shape == dy.shape
    (out * mg.Tensor(dy)).sum().backward()
    return xt.grad.numpy()


@given(n=st.integers(1, 4), c=st.integers(1, 5), o=st.integers(1, 5), hw=st.integers(3, 9),
       k=st.integers(1, 4), dilation=st.integers(1, 2), pad=st.integers(0, 3), chunked=st.booleans(),
       seed=st.integers(0, 2**16))
def test_stride1_input_grad_matches_the_formula(n, c, o, hw, k, dilation, pad, chunked, seed):
    span = dilation * (k - 1)
    if hw + 2 * pad - span < 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
    w = rng.standard_normal((o, c, k, k)).astype(np.float32)
    out_hw = hw + 2 * pad - span
    dy = rng.standard_normal((n, o, out_hw, out_hw)).astype(np.float32)
    # Both paths are drawn: the correlation needs pad <= span and O*H*W <= C*OH*OW, and a
    # 1x1 unpadded kernel takes the plain GEMM instead (its rows are dY itself).
    geometry = (k, k, 1, 1, pad, pad, dilation, dilation, out_hw, out_hw)
    expected = pad <= span and o * hw * hw <= c * out_hw * out_hw and not (k == 1 and pad == 0)
    assert conv_plan.correlation_applies(geometry, 1, (c, o), (hw, hw)) == expected
    with mg.config.using(chunk_bytes=1 if chunked else mg.config.chunk_bytes):
        got = conv_input_grad(x, w, dy, pad, dilation)
    np.testing.assert_allclose(got, reference_input_grad(dy, w, x.shape, (pad,) * 4, dilation), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("k,dilation", [(2, 1), (4, 1), (2, 2), (3, 2)])
def test_same_padding_even_kernels(k, dilation):
    # 'same' with an even span pads one more at the bottom/right: the correlation sees
    # only the top/left padding and the output size.
    rng = np.random.default_rng(k * 10 + dilation)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, k, k)).astype(np.float32)
    dy = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    span = dilation * (k - 1)
    pads = (span // 2, span - span // 2, span // 2, span - span // 2)
    got = conv_input_grad(x, w, dy, "same", dilation)
    np.testing.assert_allclose(got, reference_input_grad(dy, w, x.shape, pads, dilation), rtol=1e-4, atol=1e-4)


def test_convolve2d_input_grad_uses_the_flipped_kernel():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    dy = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    got = conv_input_grad(x, w, dy, 1, 1, flip=True)
    want = reference_input_grad(dy, w[:, :, ::-1, ::-1], x.shape, (1, 1, 1, 1), 1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding,dilation", [(1, 1), (0, 1), (2, 2), ((0, 1), 1)])
def test_stride1_gradcheck(padding, dilation):
    rng = np.random.default_rng(7)
    x = mg.Tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
    w = mg.Tensor(rng.standard_normal((2, 2, 3, 3)), requires_grad=True)
    b = mg.Tensor(rng.standard_normal(2), requires_grad=True)
    assert mg.gradcheck(lambda x, w, b: mg.functional.conv2d(x, w, b, padding=padding, dilation=dilation),
                        (x, w, b), eps=1e-6, atol=1e-5, rtol=1e-4)
