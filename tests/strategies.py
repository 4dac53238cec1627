"""Hypothesis strategies shared by the test-suite: shapes, broadcastable pairs, non-contiguous arrays.

    from strategies import shapes, broadcast_pair, arrays
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes with ``min_dims..max_dims`` dimensions of size ``min_side..max_side``."""
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def broadcast_pair(draw, min_dims=0, max_dims=3, max_side=4):
    """Two shapes that broadcast together: the second drops leading dims and/or sets some sides to 1."""
    full = draw(shapes(min_dims, max_dims, 1, max_side))
    keep = draw(st.integers(0, len(full)))
    other = list(full[len(full) - keep:])
    for i in range(len(other)):
        if draw(st.booleans()):
            other[i] = 1
    a, b = full, tuple(other)
    if draw(st.booleans()):
        a, b = b, a
    return a, b


def _values(rng, shape, dtype, low, high):
    return rng.uniform(low, high, size=shape).astype(dtype)


@st.composite
def arrays(draw, shape, dtype=np.float64, low=-2.0, high=2.0, contiguous=None):
    """A random array of ``shape``; sometimes a non-contiguous view (strided slice or transpose).

    Args:
        shape: the shape of the returned array.
        dtype: its dtype.
        low: smallest value.
        high: largest value.
        contiguous: force (True) or forbid (False) a C-contiguous result; None lets hypothesis choose.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = "contiguous" if contiguous else draw(st.sampled_from(["contiguous", "strided", "transposed"]))
    if contiguous is False and kind == "contiguous":
        kind = "strided"
    shape = tuple(shape)
    if kind == "contiguous" or not shape:
        return _values(rng, shape, dtype, low, high)
    if kind == "strided":
        # Every second element of the last axis: a view with a non-unit stride.
        base = _values(rng, shape[:-1] + (2 * shape[-1],), dtype, low, high)
        return base[..., ::2]
    base = _values(rng, shape[::-1], dtype, low, high)
    return base.transpose(tuple(range(len(shape)))[::-1])


def away_from(array, points, margin=0.05):
    """Move values that lie within ``margin`` of any of ``points`` (kinks of relu, abs, clamp) away from them."""
    out = np.array(array, copy=True)
    for p in points:
        near = np.abs(out - p) < margin
        out[near] = p + np.where(out[near] >= p, margin, -margin) * 2
    return out


def check_grads(fn, *arrays, eps=1e-6, atol=1e-5, rtol=1e-4):
    """``mg.gradcheck`` of ``fn`` at ``arrays`` (float64), plus: leaves that are non-contiguous
    views get the same gradients as their contiguous copies (gradcheck itself copies its inputs)."""
    import minigrad as mg

    mg.gradcheck(fn, [np.ascontiguousarray(a) for a in arrays], eps=eps, atol=atol, rtol=rtol)
    grads = []
    for make in (lambda a: a, np.ascontiguousarray):
        leaves = [mg.Tensor(make(a), requires_grad=True) for a in arrays]
        out = fn(*leaves)
        out = out[0] if isinstance(out, tuple) else out
        out.backward(np.random.default_rng(7).standard_normal(out.shape).astype(out.dtype))
        grads.append([np.zeros(a.shape) if t.grad is None else t.grad.numpy() for a, t in zip(arrays, leaves)])
    for view_grad, copy_grad in zip(*grads):
        np.testing.assert_allclose(view_grad, copy_grad, rtol=1e-10, atol=1e-12)
