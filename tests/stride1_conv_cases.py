"""Stride-1 convolution cases and their check against ``minigrad.reference``, shared by the strip and shift tests."""

import numpy as np
import pytest
from hypothesis import strategies as st

import minigrad as mg
from minigrad import reference as R
from minigrad.backends import cpu
from minigrad.ops.geometry import conv_geometry


def plan(x_shape, w_shape, padding=1, dilation=1, stride=1, groups=1, dtype=np.float32):
    """The CPU planner's ConvPlan for these shapes (a graph recorded, dW needed)."""
    geometry = conv_geometry("conv2d", x_shape, w_shape, stride, padding, dilation, groups)
    return cpu.plan_conv2d(x_shape, w_shape, geometry, groups, dtype, True)


@st.composite
def stride1_cases(draw, min_kh=1):
    """A stride-1 single-group conv2d or convolve2d: shapes, kernel, padding, dilation, bias, input layout."""
    kh, kw = draw(st.integers(min_kh, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.one_of(st.just("same"), st.tuples(st.integers(0, 4), st.integers(0, 4))))
    pad = (0, 0) if padding == "same" else padding
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * pad[0]), 7))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pad[1]), 7))
    return dict(n=draw(st.integers(1, 3)), c=draw(st.integers(2, 5)), o=draw(st.integers(1, 5)), h=h, w=w,
                k=(kh, kw), padding=padding, dilation=(dh, dw), bias=draw(st.booleans()),
                channels_last=draw(st.booleans()), flip=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))


def check_against_reference(case, lowering):
    """The op's output and its gradients (exact directional derivatives of the linear reference) for ``case``."""
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"]))
    w = rng.standard_normal((case["o"], case["c"]) + case["k"])
    b = rng.standard_normal(case["o"]) if case["bias"] else None
    assert plan(x.shape, w.shape, case["padding"], case["dilation"], dtype=np.float64).lowering == lowering
    stored = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) if case["channels_last"] else x
    X, W = mg.Tensor(stored, requires_grad=True), mg.Tensor(w, requires_grad=True)
    B = None if b is None else mg.Tensor(b, requires_grad=True)
    op = mg.convolve2d if case["flip"] else mg.conv2d
    out = op(X, W, B, padding=case["padding"], dilation=case["dilation"])
    expected = reference_out(x, w, case)
    np.testing.assert_allclose(out.numpy(), expected + (0 if b is None else b.reshape(1, -1, 1, 1)), rtol=1e-10,
                               atol=1e-10)
    # The reference is linear in x and in w, so d(sum(out * g))/d(value[i]) is the reference's
    # output for a unit value at i, weighted by g: exact in float64, no finite-difference step.
    g = rng.standard_normal(out.shape)
    (out * mg.Tensor(g)).sum().backward()
    if b is not None:
        np.testing.assert_allclose(B.grad.numpy(), g.sum(axis=(0, 2, 3)), rtol=1e-10, atol=1e-10)
    assert_directional_derivatives(rng, g, ((X, x, lambda v: reference_out(v, w, case)),
                                            (W, w, lambda v: reference_out(x, v, case))), 1e-9)


def assert_directional_derivatives(rng, g, checks, tolerance):
    """For a few random entries i of each ``(tensor, value, linear reference fn)``: tensor.grad[i] = sum(fn(e_i) * g).

    The references are linear in the value, so ``fn`` of a unit array is the exact derivative
    of ``sum(out * g)`` in that entry, with no finite-difference step.
    """
    for tensor, value, fn in checks:
        flat = value.reshape(-1)
        for i in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            unit = np.zeros_like(flat)
            unit[i] = 1.0
            directional = float((fn(unit.reshape(value.shape)) * g).sum())
            assert tensor.grad.numpy().reshape(-1)[i] == pytest.approx(directional, rel=tolerance, abs=tolerance)


def reference_out(x, w, case):
    """``minigrad.reference.conv2d`` without bias; true convolution is correlation with the kernel flipped."""
    w = w[:, :, ::-1, ::-1] if case["flip"] else w
    if case["padding"] == "same":
        (kh, kw), (dh, dw) = case["k"], case["dilation"]
        th, tw = dh * (kh - 1), dw * (kw - 1)  # the odd pixel of padding goes bottom/right
        return R.conv2d(x, w, padding=(th // 2, th - th // 2, tw // 2, tw - tw // 2), dilation=case["dilation"])
    return R.conv2d(x, w, padding=case["padding"], dilation=case["dilation"])


def conv_and_grads(x, w, g, padding=1):
    """``conv2d(x, w, padding)``, then its backward for the output gradient ``g``: (out, dX, dW) as NumPy arrays."""
    X, W = mg.Tensor(x, requires_grad=True), mg.Tensor(w, requires_grad=True)
    out = mg.conv2d(X, W, padding=padding)
    out.backward(mg.Tensor(g))
    return out, X.grad.numpy(), W.grad.numpy()


def assert_plans_agree(first, second, x, w, padding=1):
    """Two plans' ``conv_and_grads`` agree to float32 rounding, and the first's output matches the float64 reference."""
    np.testing.assert_allclose(first[0], R.conv2d(x.astype(np.float64), w.astype(np.float64), padding=padding),
                               rtol=1e-4, atol=1e-4)
    for a, b in zip(first, second):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3 * max(1.0, float(np.abs(b).max())))


def check_empty_batch():
    """A batch of 0 images: an empty output, zero dW, an empty dX."""
    X = mg.Tensor(np.zeros((0, 3, 5, 5)), requires_grad=True)
    W = mg.Tensor(np.ones((2, 3, 3, 3)), requires_grad=True)
    out = mg.conv2d(X, W, padding=1)
    assert out.shape == (0, 2, 5, 5)
    out.sum().backward()
    np.testing.assert_array_equal(W.grad.numpy(), 0)
    assert X.grad.shape == (0, 3, 5, 5)
