"""Upsampling on the GPU from per-axis source tables (computed by the op, as on the CPU).

Forward kernels: one thread per output pixel. Backward kernels scatter each output
gradient to its sources with atomic adds, after zeroing ``dx``.
"""

from __future__ import annotations

from numba import cuda

from .elementwise import fill
from .launch import dev, dev_out, launch

__all__ = ["nearest_forward", "nearest_backward", "bilinear_forward", "bilinear_backward"]


@cuda.jit(cache=True)
def _nearest(out, x, src_h, src_w):
    P, OH, OW = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p = i // (OH * OW)
        oh = (i // OW) % OH
        ow = i % OW
        out[p, oh, ow] = x[p, src_h[oh], src_w[ow]]


@cuda.jit(cache=True)
def _nearest_backward(dx, dy, src_h, src_w):
    P, OH, OW = dy.shape
    for i in range(cuda.grid(1), dy.size, cuda.gridsize(1)):
        p = i // (OH * OW)
        oh = (i // OW) % OH
        ow = i % OW
        cuda.atomic.add(dx, (p, src_h[oh], src_w[ow]), dy[p, oh, ow])


@cuda.jit(cache=True)
def _bilinear(out, x, h0, h1, lh, w0, w1, lw):
    P, OH, OW = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p = i // (OH * OW)
        oh = (i // OW) % OH
        ow = i % OW
        a, b, t = h0[oh], h1[oh], lh[oh]
        c, d, u = w0[ow], w1[ow], lw[ow]
        top = (1.0 - u) * x[p, a, c] + u * x[p, a, d]
        bottom = (1.0 - u) * x[p, b, c] + u * x[p, b, d]
        out[p, oh, ow] = (1.0 - t) * top + t * bottom


@cuda.jit(cache=True)
def _bilinear_backward(dx, dy, h0, h1, lh, w0, w1, lw):
    P, OH, OW = dy.shape
    for i in range(cuda.grid(1), dy.size, cuda.gridsize(1)):
        p = i // (OH * OW)
        oh = (i // OW) % OH
        ow = i % OW
        a, b, t = h0[oh], h1[oh], lh[oh]
        c, d, u = w0[ow], w1[ow], lw[ow]
        g = dy[p, oh, ow]
        # Weights are float64 tables; the products are rounded to dx's dtype by the atomic add.
        cuda.atomic.add(dx, (p, a, c), dx.dtype.type((1.0 - t) * (1.0 - u) * g))
        cuda.atomic.add(dx, (p, a, d), dx.dtype.type((1.0 - t) * u * g))
        cuda.atomic.add(dx, (p, b, c), dx.dtype.type(t * (1.0 - u) * g))
        cuda.atomic.add(dx, (p, b, d), dx.dtype.type(t * u * g))


def _zero(a):
    launch(fill, a.size, a.reshape(a.size), a.dtype.type(0))


def nearest_forward(out, x, src_h, src_w):
    """``out[p, i, j] = x[p, src_h[i], src_w[j]]``.

    Args:
        out: output, shape (P, OH, OW).
        x: input, shape (P, H, W).
        src_h, src_w: int64 source row (column) of every output row (column).
    """
    o = dev_out(out, "nearest_forward")
    launch(_nearest, o.size, o, dev(x), dev(src_h), dev(src_w))


def nearest_backward(dx, dy, src_h, src_w):
    """Adjoint of ``nearest_forward``: ``dx[p, src_h[i], src_w[j]] += dy[p, i, j]`` after zeroing ``dx``.

    Args:
        dx: output, shape (P, H, W); overwritten.
        dy: gradient of the output, shape (P, OH, OW).
        src_h, src_w: as the forward.
    """
    d, g = dev_out(dx, "nearest_backward"), dev(dy)
    _zero(d)
    launch(_nearest_backward, g.size, d, g, dev(src_h), dev(src_w))


def bilinear_forward(out, x, h0, h1, lh, w0, w1, lw):
    """Bilinear interpolation from two source rows and columns per output pixel.

    Formula::

        out[p, i, j] = (1-lh[i]) * ((1-lw[j]) * x[p, h0[i], w0[j]] + lw[j] * x[p, h0[i], w1[j]])
                     +    lh[i]  * ((1-lw[j]) * x[p, h1[i], w0[j]] + lw[j] * x[p, h1[i], w1[j]])

    Args:
        out: output, shape (P, OH, OW).
        x: input, shape (P, H, W).
        h0, h1, lh: int64 upper/lower source rows and float64 weight of the lower row, per output row.
        w0, w1, lw: the same per output column.
    """
    o = dev_out(out, "bilinear_forward")
    launch(_bilinear, o.size, o, dev(x), *(dev(t) for t in (h0, h1, lh, w0, w1, lw)))


def bilinear_backward(dx, dy, h0, h1, lh, w0, w1, lw):
    """Adjoint of ``bilinear_forward``: each output gradient goes to its four sources, weighted.

    Args:
        dx: output, shape (P, H, W); overwritten.
        dy: gradient of the output, shape (P, OH, OW).
        h0, h1, lh, w0, w1, lw: as the forward.
    """
    d, g = dev_out(dx, "bilinear_backward"), dev(dy)
    _zero(d)
    launch(_bilinear_backward, g.size, d, g, *(dev(t) for t in (h0, h1, lh, w0, w1, lw)))
