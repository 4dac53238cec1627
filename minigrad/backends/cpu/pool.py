"""Pooling and unpooling kernels on (planes, H, W) arrays, one plane per (n, c).

Every kernel runs ``prange`` over planes: pooling windows never cross planes, so the
scatters of the backward passes and of unpooling are race-free. Indices are flat per
plane (``h * W + w``), exactly as PyTorch's ``max_pool2d(..., return_indices=True)``.
No fastmath: max pooling must see NaN and Inf.
"""

import math

import numpy as np
from numba import njit, prange

from ..index import cpu as _ix
from .threads import serial_when_small

__all__ = [
    "max_pool2d_forward", "avg_pool2d_forward", "avg_pool2d_backward", "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward", "adaptive_max_pool2d_forward", "scatter_add_planes",
    "scatter_planes", "gather_planes",
]

# Index arithmetic shared with the CUDA kernels (minigrad/backends/index.py), inlined here.
first_inside = _ix.first_inside
pool_window = _ix.pool_window
avg_pool_divisor = _ix.avg_pool_divisor
adaptive_start = _ix.adaptive_start
adaptive_end = _ix.adaptive_end


@serial_when_small
@njit(cache=True, parallel=True)
def max_pool2d_forward(out, indices, x, KH, KW, sh, sw, ph, pw, dh, dw):
    """Max over each dilated window, and where it was.

    Plain loop::

        for p, oh, ow:
            out[p, oh, ow] = max over kh, kw of x[p, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] (inside only)
            indices[p, oh, ow] = ih * W + iw of that maximum

    Ties keep the first maximum; a NaN wins over any number (the last NaN is kept), as in PyTorch.

    Args:
        out: output, shape (P, OH, OW).
        indices: int64 output, shape (P, OH, OW).
        x: input, shape (P, H, W).
        KH, KW, sh, sw, ph, pw, dh, dw: kernel size, stride, padding, dilation.
    """
    P, H, W = x.shape
    _, OH, OW = out.shape
    if KH == 2 and KW == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0 and dh == 1 and dw == 1:
        # LeNet's 2x2 pooling: every window is inside the input, so the general loop's bounds
        # checks and first-inside search go away (3x faster on 64x6x28x28). The window's
        # pairs are compared without branches (the general loop's rule: larger or NaN
        # replaces), selects instead of jumps that random data mispredicts: one thread,
        # 384x28x28 145 -> 120 us, 1024x10x10 95 -> 75 us (medians, load 2.1).
        for p in prange(P):
            for oh in range(OH):
                ih = 2 * oh
                for ow in range(OW):
                    iw = 2 * ow
                    a, b = x[p, ih, iw], x[p, ih, iw + 1]
                    c, d = x[p, ih + 1, iw], x[p, ih + 1, iw + 1]
                    # top pair, bottom pair, then the bottom's winner against the top's: the
                    # same winner as the row-major scan, ties keeping the earlier element.
                    # (Scalar selects, not tuples: a tuple select made it a branch again, 261 us.)
                    take = (b > a) | (b != b)
                    top = b if take else a
                    top_at = 1 if take else 0
                    take = (d > c) | (d != d)
                    bottom = d if take else c
                    bottom_at = W + 1 if take else W
                    take = (bottom > top) | (bottom != bottom)
                    out[p, oh, ow] = bottom if take else top
                    indices[p, oh, ow] = ih * W + iw + (bottom_at if take else top_at)
        return
    for p in prange(P):
        for oh in range(OH):
            h0 = oh * sh - ph
            for ow in range(OW):
                w0 = ow * sw - pw
                # PyTorch starts from the first window element inside the input, at -inf.
                best = -np.inf
                where = first_inside(h0, dh) * W + first_inside(w0, dw)
                for kh in range(KH):
                    ih = h0 + kh * dh
                    if ih < 0 or ih >= H:
                        continue
                    for kw in range(KW):
                        iw = w0 + kw * dw
                        if iw < 0 or iw >= W:
                            continue
                        v = x[p, ih, iw]
                        if v > best or math.isnan(v):
                            best = v
                            where = ih * W + iw
                out[p, oh, ow] = best
                indices[p, oh, ow] = where


@serial_when_small
@njit(cache=True, parallel=True)
def avg_pool2d_forward(out, x, KH, KW, sh, sw, ph, pw, count_include_pad, divisor_override):
    """Mean over each window.

    Plain loop (PyTorch's divisor rule)::

        h0, w0 = oh*sh - ph, ow*sw - pw
        h1, w1 = min(h0 + KH, H + ph), min(w0 + KW, W + pw)      # window clipped to the padded input
        size = (h1 - h0) * (w1 - w0)                              # counts padding
        h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
        div = divisor_override or (size if count_include_pad else (h1 - h0) * (w1 - w0))
        out[p, oh, ow] = sum(x[p, h0:h1, w0:w1]) / div

    Args:
        out: output, shape (P, OH, OW).
        x: input, shape (P, H, W).
        KH, KW, sh, sw, ph, pw: kernel size, stride, padding.
        count_include_pad: 1 to count padded zeros in the divisor.
        divisor_override: divisor to use instead of the window size; 0 for none.
    """
    P, H, W = x.shape
    _, OH, OW = out.shape
    for p in prange(P):
        for oh in range(OH):
            for ow in range(OW):
                h0, h1, hp = pool_window(oh, KH, sh, ph, H)
                w0, w1, wp = pool_window(ow, KW, sw, pw, W)
                div = avg_pool_divisor(h0, h1, hp, w0, w1, wp, count_include_pad, divisor_override)
                acc = 0.0
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        acc += x[p, ih, iw]
                out[p, oh, ow] = acc / div


@serial_when_small
@njit(cache=True, parallel=True)
def avg_pool2d_backward(dx, dy, KH, KW, sh, sw, ph, pw, count_include_pad, divisor_override):
    """Adjoint of ``avg_pool2d_forward``: each window spreads ``dy / div`` over its elements.

    Plain loop::

        dx[...] = 0
        for p, oh, ow:  dx[p, h0:h1, w0:w1] += dy[p, oh, ow] / div     (h0, h1, w0, w1, div as forward)

    Args:
        dx: output, shape (P, H, W); overwritten.
        dy: gradient of the output, shape (P, OH, OW).
        KH, KW, sh, sw, ph, pw, count_include_pad, divisor_override: as the forward.
    """
    P, H, W = dx.shape
    _, OH, OW = dy.shape
    for p in prange(P):
        for ih in range(H):
            for iw in range(W):
                dx[p, ih, iw] = 0
        for oh in range(OH):
            for ow in range(OW):
                h0, h1, hp = pool_window(oh, KH, sh, ph, H)
                w0, w1, wp = pool_window(ow, KW, sw, pw, W)
                div = avg_pool_divisor(h0, h1, hp, w0, w1, wp, count_include_pad, divisor_override)
                g = dy[p, oh, ow] / div
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        dx[p, ih, iw] += g


@serial_when_small
@njit(cache=True, parallel=True)
def adaptive_avg_pool2d_forward(out, x):
    """Mean over adaptive windows.

    Plain loop::

        for p, i, j:
            h0, h1 = floor(i*H/OH), ceil((i+1)*H/OH);  w0, w1 = floor(j*W/OW), ceil((j+1)*W/OW)
            out[p, i, j] = mean(x[p, h0:h1, w0:w1])

    Args:
        out: output, shape (P, OH, OW).
        x: input, shape (P, H, W).
    """
    P, H, W = x.shape
    _, OH, OW = out.shape
    for p in prange(P):
        for i in range(OH):
            h0, h1 = adaptive_start(i, H, OH), adaptive_end(i, H, OH)
            for j in range(OW):
                w0, w1 = adaptive_start(j, W, OW), adaptive_end(j, W, OW)
                acc = 0.0
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        acc += x[p, ih, iw]
                out[p, i, j] = acc / ((h1 - h0) * (w1 - w0))


@serial_when_small
@njit(cache=True, parallel=True)
def adaptive_avg_pool2d_backward(dx, dy):
    """Adjoint of ``adaptive_avg_pool2d_forward``: ``dx[p, h0:h1, w0:w1] += dy[p, i, j] / area``.

    Args:
        dx: output, shape (P, H, W); overwritten.
        dy: gradient of the output, shape (P, OH, OW).
    """
    P, H, W = dx.shape
    _, OH, OW = dy.shape
    for p in prange(P):
        for ih in range(H):
            for iw in range(W):
                dx[p, ih, iw] = 0
        for i in range(OH):
            h0, h1 = adaptive_start(i, H, OH), adaptive_end(i, H, OH)
            for j in range(OW):
                w0, w1 = adaptive_start(j, W, OW), adaptive_end(j, W, OW)
                g = dy[p, i, j] / ((h1 - h0) * (w1 - w0))
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        dx[p, ih, iw] += g


@serial_when_small
@njit(cache=True, parallel=True)
def adaptive_max_pool2d_forward(out, indices, x):
    """Max over adaptive windows (bounds as ``adaptive_avg_pool2d_forward``) and its flat index ``ih*W + iw``.

    Args:
        out: output, shape (P, OH, OW).
        indices: int64 output, shape (P, OH, OW).
        x: input, shape (P, H, W).
    """
    P, H, W = x.shape
    _, OH, OW = out.shape
    for p in prange(P):
        for i in range(OH):
            h0, h1 = adaptive_start(i, H, OH), adaptive_end(i, H, OH)
            for j in range(OW):
                w0, w1 = adaptive_start(j, W, OW), adaptive_end(j, W, OW)
                best = -np.inf
                where = h0 * W + w0
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        v = x[p, ih, iw]
                        if v > best or math.isnan(v):
                            best = v
                            where = ih * W + iw
                out[p, i, j] = best
                indices[p, i, j] = where


@serial_when_small
@njit(cache=True, parallel=True)
def scatter_add_planes(out, values, indices):
    """``out[p, indices[p, j]] += values[p, j]`` after zeroing ``out`` (max-pool backward).

    Args:
        out: output, shape (P, HW); overwritten.
        values: shape (P, L).
        indices: int64, shape (P, L); those outside [0, HW) are skipped.
    """
    P, L = values.shape
    HW = out.shape[1]
    for p in prange(P):
        for k in range(HW):
            out[p, k] = 0
        for j in range(L):
            # A window lying entirely in the padding has an index past the plane (PyTorch's
            # convention) and a constant -inf output: its gradient goes nowhere.
            k = indices[p, j]
            if 0 <= k < HW:
                out[p, k] += values[p, j]


@serial_when_small
@njit(cache=True, parallel=True)
def scatter_planes(out, values, indices):
    """``out[p, indices[p, j]] = values[p, j]`` after zeroing ``out`` (max-unpool forward).

    Args:
        out: output, shape (P, HW); overwritten.
        values: shape (P, L).
        indices: int64, shape (P, L), each in [0, HW).
    """
    P, L = values.shape
    for p in prange(P):
        for k in range(out.shape[1]):
            out[p, k] = 0
        for j in range(L):
            out[p, indices[p, j]] = values[p, j]


@serial_when_small
@njit(cache=True, parallel=True)
def gather_planes(out, values, indices):
    """``out[p, j] = values[p, indices[p, j]]`` (max-unpool backward).

    Args:
        out: output, shape (P, L).
        values: shape (P, HW).
        indices: int64, shape (P, L), each in [0, HW).
    """
    P, L = out.shape
    for p in prange(P):
        for j in range(L):
            out[p, j] = values[p, indices[p, j]]
