"""Pooling and unpooling on the GPU, on (planes, H, W) arrays, one thread per output element.

Same names, signatures and index conventions as ``minigrad.backends.cpu.pool`` (flat
per-plane indices ``h * W + w``; NaN wins a max). Adjoints that scatter use atomics
(max-pool backward, adaptive pooling) or are rewritten as gathers (average pooling).
"""

from __future__ import annotations

import math

from numba import cuda

from ..index import cuda_functions
from .elementwise import fill
from .launch import dev, dev_out, launch

__all__ = [
    "max_pool2d_forward", "avg_pool2d_forward", "avg_pool2d_backward", "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward", "adaptive_max_pool2d_forward", "scatter_add_planes",
    "scatter_planes", "gather_planes",
]

_ix = cuda_functions()
first_inside = _ix.first_inside
pool_window = _ix.pool_window
avg_pool_divisor = _ix.avg_pool_divisor
source_range = _ix.source_range
adaptive_start = _ix.adaptive_start
adaptive_end = _ix.adaptive_end


@cuda.jit(cache=True)
def _max_pool(out, indices, x, KH, KW, sh, sw, ph, pw, dh, dw):
    P, H, W = x.shape
    _, OH, OW = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p = i // (OH * OW)
        oh = (i // OW) % OH
        ow = i % OW
        h0 = oh * sh - ph
        w0 = ow * sw - pw
        best = -math.inf
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


@cuda.jit(cache=True)
def _avg_pool(out, x, KH, KW, sh, sw, ph, pw, count_include_pad, divisor_override):
    P, H, W = x.shape
    _, OH, OW = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p = i // (OH * OW)
        oh = (i // OW) % OH
        ow = i % OW
        h0, h1, hp = pool_window(oh, KH, sh, ph, H)
        w0, w1, wp = pool_window(ow, KW, sw, pw, W)
        div = avg_pool_divisor(h0, h1, hp, w0, w1, wp, count_include_pad, divisor_override)
        acc = 0.0
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                acc += x[p, ih, iw]
        out[p, oh, ow] = acc / div


@cuda.jit(cache=True)
def _avg_pool_backward(dx, dy, KH, KW, sh, sw, ph, pw, count_include_pad, divisor_override):
    P, H, W = dx.shape
    _, OH, OW = dy.shape
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        p = i // (H * W)
        ih = (i // W) % H
        iw = i % W
        oh0, oh1 = source_range(ih, KH, sh, ph, 1, OH)
        ow0, ow1 = source_range(iw, KW, sw, pw, 1, OW)
        acc = 0.0
        for oh in range(oh0, oh1):
            h0, h1, hp = pool_window(oh, KH, sh, ph, H)
            for ow in range(ow0, ow1):
                w0, w1, wp = pool_window(ow, KW, sw, pw, W)
                acc += dy[p, oh, ow] / avg_pool_divisor(h0, h1, hp, w0, w1, wp, count_include_pad, divisor_override)
        dx[p, ih, iw] = acc


@cuda.jit(cache=True)
def _adaptive_avg(out, x):
    P, H, W = x.shape
    _, OH, OW = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p = i // (OH * OW)
        oh = (i // OW) % OH
        ow = i % OW
        h0, h1 = adaptive_start(oh, H, OH), adaptive_end(oh, H, OH)
        w0, w1 = adaptive_start(ow, W, OW), adaptive_end(ow, W, OW)
        acc = 0.0
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                acc += x[p, ih, iw]
        out[p, oh, ow] = acc / ((h1 - h0) * (w1 - w0))


@cuda.jit(cache=True)
def _adaptive_avg_backward(dx, dy):
    P, H, W = dx.shape
    _, OH, OW = dy.shape
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        p = i // (H * W)
        ih = (i // W) % H
        iw = i % W
        acc = 0.0
        # Windows are monotone in the output index: start at the first that can contain ih.
        for oh in range((ih * OH) // H, OH):
            h0, h1 = adaptive_start(oh, H, OH), adaptive_end(oh, H, OH)
            if h0 > ih:
                break
            if ih >= h1:
                continue
            for ow in range((iw * OW) // W, OW):
                w0, w1 = adaptive_start(ow, W, OW), adaptive_end(ow, W, OW)
                if w0 > iw:
                    break
                if iw >= w1:
                    continue
                acc += dy[p, oh, ow] / ((h1 - h0) * (w1 - w0))
        dx[p, ih, iw] = acc


@cuda.jit(cache=True)
def _adaptive_max(out, indices, x):
    P, H, W = x.shape
    _, OH, OW = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p = i // (OH * OW)
        oh = (i // OW) % OH
        ow = i % OW
        h0, h1 = adaptive_start(oh, H, OH), adaptive_end(oh, H, OH)
        w0, w1 = adaptive_start(ow, W, OW), adaptive_end(ow, W, OW)
        best = -math.inf
        where = h0 * W + w0
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                v = x[p, ih, iw]
                if v > best or math.isnan(v):
                    best = v
                    where = ih * W + iw
        out[p, oh, ow] = best
        indices[p, oh, ow] = where


@cuda.jit(cache=True)
def _scatter_add(out, values, indices, HW):
    P, L = values.shape
    for i in range(cuda.grid(1), values.size, cuda.gridsize(1)):
        p = i // L
        cuda.atomic.add(out, p * HW + indices[p, i % L], values[p, i % L])


@cuda.jit(cache=True)
def _scatter(out, values, indices):
    P, L = values.shape
    for i in range(cuda.grid(1), values.size, cuda.gridsize(1)):
        p = i // L
        out[p, indices[p, i % L]] = values[p, i % L]


@cuda.jit(cache=True)
def _gather(out, values, indices):
    P, L = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p = i // L
        out[p, i % L] = values[p, indices[p, i % L]]


def max_pool2d_forward(out, indices, x, KH, KW, sh, sw, ph, pw, dh, dw):
    """Max over each dilated window and its flat index ``ih * W + iw``; as the CPU kernel.

    Plain loop::

        for p, oh, ow:
            out[p, oh, ow] = max over kh, kw of x[p, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] (inside only)
            indices[p, oh, ow] = ih * W + iw of that maximum (first maximum; NaN wins)

    Args:
        out: output, shape (P, OH, OW).
        indices: int64 output, shape (P, OH, OW).
        x: input, shape (P, H, W).
        KH, KW, sh, sw, ph, pw, dh, dw: kernel size, stride, padding, dilation.
    """
    o = dev_out(out, "max_pool2d_forward")
    launch(_max_pool, o.size, o, dev_out(indices, "max_pool2d_forward"), dev(x), KH, KW, sh, sw, ph, pw, dh, dw)


def avg_pool2d_forward(out, x, KH, KW, sh, sw, ph, pw, count_include_pad, divisor_override):
    """Mean over each window with PyTorch's divisor rule (see the CPU kernel).

    Args:
        out: output, shape (P, OH, OW).
        x: input, shape (P, H, W).
        KH, KW, sh, sw, ph, pw: kernel size, stride, padding.
        count_include_pad: 1 to count padded zeros in the divisor.
        divisor_override: divisor to use instead of the window size; 0 for none.
    """
    o = dev_out(out, "avg_pool2d_forward")
    launch(_avg_pool, o.size, o, dev(x), KH, KW, sh, sw, ph, pw, int(count_include_pad), int(divisor_override))


def avg_pool2d_backward(dx, dy, KH, KW, sh, sw, ph, pw, count_include_pad, divisor_override):
    """Adjoint of ``avg_pool2d_forward`` as a gather: ``dx[p, ih, iw] = sum of dy / div`` over covering windows.

    Args:
        dx: output, shape (P, H, W); overwritten.
        dy: gradient of the output, shape (P, OH, OW).
        KH, KW, sh, sw, ph, pw, count_include_pad, divisor_override: as the forward.
    """
    d = dev_out(dx, "avg_pool2d_backward")
    launch(_avg_pool_backward, d.size, d, dev(dy), KH, KW, sh, sw, ph, pw, int(count_include_pad),
           int(divisor_override))


def adaptive_avg_pool2d_forward(out, x):
    """``out[p, i, j] = mean(x[p, h0:h1, w0:w1])`` over PyTorch's adaptive windows.

    Args:
        out: output, shape (P, OH, OW).
        x: input, shape (P, H, W).
    """
    o = dev_out(out, "adaptive_avg_pool2d_forward")
    launch(_adaptive_avg, o.size, o, dev(x))


def adaptive_avg_pool2d_backward(dx, dy):
    """Adjoint of ``adaptive_avg_pool2d_forward`` (gather over the windows containing each pixel).

    Args:
        dx: output, shape (P, H, W); overwritten.
        dy: gradient of the output, shape (P, OH, OW).
    """
    d = dev_out(dx, "adaptive_avg_pool2d_backward")
    launch(_adaptive_avg_backward, d.size, d, dev(dy))


def adaptive_max_pool2d_forward(out, indices, x):
    """Max over adaptive windows and its flat index ``ih * W + iw``.

    Args:
        out: output, shape (P, OH, OW).
        indices: int64 output, shape (P, OH, OW).
        x: input, shape (P, H, W).
    """
    o = dev_out(out, "adaptive_max_pool2d_forward")
    launch(_adaptive_max, o.size, o, dev_out(indices, "adaptive_max_pool2d_forward"), dev(x))


def scatter_add_planes(out, values, indices):
    """``out[p, indices[p, j]] += values[p, j]`` after zeroing ``out`` (atomic adds).

    Args:
        out: output, shape (P, HW); overwritten.
        values: shape (P, L).
        indices: int64, shape (P, L), each in [0, HW).
    """
    o, v = dev_out(out, "scatter_add_planes"), dev(values)
    flat = o.reshape(o.size)
    launch(fill, o.size, flat, o.dtype.type(0))
    launch(_scatter_add, v.size, flat, v, dev(indices), o.shape[1])


def scatter_planes(out, values, indices):
    """``out[p, indices[p, j]] = values[p, j]`` after zeroing ``out`` (duplicate indices: one write wins).

    Args:
        out: output, shape (P, HW); overwritten.
        values: shape (P, L).
        indices: int64, shape (P, L), each in [0, HW).
    """
    o, v = dev_out(out, "scatter_planes"), dev(values)
    launch(fill, o.size, o.reshape(o.size), o.dtype.type(0))
    launch(_scatter, v.size, o, v, dev(indices))


def gather_planes(out, values, indices):
    """``out[p, j] = values[p, indices[p, j]]``.

    Args:
        out: output, shape (P, L).
        values: shape (P, HW).
        indices: int64, shape (P, L), each in [0, HW).
    """
    o = dev_out(out, "gather_planes")
    launch(_gather, o.size, o, dev(values), dev(indices))
