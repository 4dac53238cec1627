"""Upsampling kernels on (planes, H, W) arrays, driven by per-axis source tables.

The op computes, once per axis, which source rows/columns (and with which weights) feed
each output row/column, following PyTorch's coordinate conventions; these kernels only
apply the tables. Parallel over planes, so the backward scatters are race-free.
"""

from numba import njit, prange

from .threads import serial_when_small

__all__ = ["nearest_forward", "nearest_backward", "bilinear_forward", "bilinear_backward"]


@serial_when_small
@njit(cache=True, parallel=True)
def nearest_forward(out, x, src_h, src_w):
    """``out[p, i, j] = x[p, src_h[i], src_w[j]]``.

    Args:
        out: output, shape (P, OH, OW).
        x: input, shape (P, H, W).
        src_h, src_w: int64 source row (column) of every output row (column).
    """
    P, OH, OW = out.shape
    for p in prange(P):
        for i in range(OH):
            for j in range(OW):
                out[p, i, j] = x[p, src_h[i], src_w[j]]


@serial_when_small
@njit(cache=True, parallel=True)
def nearest_backward(dx, dy, src_h, src_w):
    """Adjoint of ``nearest_forward``: ``dx[p, src_h[i], src_w[j]] += dy[p, i, j]`` after zeroing ``dx``.

    Args:
        dx: output, shape (P, H, W); overwritten.
        dy: gradient of the output, shape (P, OH, OW).
        src_h, src_w: as the forward.
    """
    P, OH, OW = dy.shape
    for p in prange(P):
        for ih in range(dx.shape[1]):
            for iw in range(dx.shape[2]):
                dx[p, ih, iw] = 0
        for i in range(OH):
            for j in range(OW):
                dx[p, src_h[i], src_w[j]] += dy[p, i, j]


@serial_when_small
@njit(cache=True, parallel=True)
def bilinear_forward(out, x, h0, h1, lh, w0, w1, lw):
    """Bilinear interpolation from two source rows and two source columns per output pixel.

    Einstein-style formula::

        out[p, i, j] = (1-lh[i]) * ((1-lw[j]) * x[p, h0[i], w0[j]] + lw[j] * x[p, h0[i], w1[j]])
                     +    lh[i]  * ((1-lw[j]) * x[p, h1[i], w0[j]] + lw[j] * x[p, h1[i], w1[j]])

    Args:
        out: output, shape (P, OH, OW).
        x: input, shape (P, H, W).
        h0, h1, lh: int64 upper/lower source rows and float64 weight of the lower row, per output row.
        w0, w1, lw: the same per output column.
    """
    P, OH, OW = out.shape
    for p in prange(P):
        for i in range(OH):
            a, b, t = h0[i], h1[i], lh[i]
            for j in range(OW):
                c, d, u = w0[j], w1[j], lw[j]
                top = (1.0 - u) * x[p, a, c] + u * x[p, a, d]
                bottom = (1.0 - u) * x[p, b, c] + u * x[p, b, d]
                out[p, i, j] = (1.0 - t) * top + t * bottom


@serial_when_small
@njit(cache=True, parallel=True)
def bilinear_backward(dx, dy, h0, h1, lh, w0, w1, lw):
    """Adjoint of ``bilinear_forward``: each output gradient goes to its four sources, weighted.

    Args:
        dx: output, shape (P, H, W); overwritten.
        dy: gradient of the output, shape (P, OH, OW).
        h0, h1, lh, w0, w1, lw: as the forward.
    """
    P, OH, OW = dy.shape
    for p in prange(P):
        for ih in range(dx.shape[1]):
            for iw in range(dx.shape[2]):
                dx[p, ih, iw] = 0
        for i in range(OH):
            a, b, t = h0[i], h1[i], lh[i]
            for j in range(OW):
                c, d, u = w0[j], w1[j], lw[j]
                g = dy[p, i, j]
                dx[p, a, c] += (1.0 - t) * (1.0 - u) * g
                dx[p, a, d] += (1.0 - t) * u * g
                dx[p, b, c] += t * (1.0 - u) * g
                dx[p, b, d] += t * u * g
