"""im2col and col2im on the GPU, one thread per output element (same layout as the CPU).

``cols[(c, kh, kw), (n, oh, ow)] = x[n, c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]`` (0 outside).
Consecutive threads take consecutive columns ``(n, oh, ow)``, so writes are coalesced.
col2im is written as a gather (each input pixel sums the columns that read it), so it
needs no atomics and is deterministic.
"""

from __future__ import annotations

from numba import cuda

from ..index import cuda_functions
from .launch import dev, dev_out, launch

__all__ = ["im2col", "col2im"]

_ix = cuda_functions()
input_index = _ix.input_index
source_range = _ix.source_range


@cuda.jit(cache=True)
def _im2col(cols, x, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    N, C, H, W = x.shape
    L = N * OH * OW
    for i in range(cuda.grid(1), cols.shape[0] * L, cuda.gridsize(1)):
        r = i // L
        col = i % L
        c = r // (KH * KW)
        kh = (r // KW) % KH
        kw = r % KW
        n = col // (OH * OW)
        oh = (col // OW) % OH
        ow = col % OW
        ih = input_index(oh, kh, sh, ph, dh)
        iw = input_index(ow, kw, sw, pw, dw)
        if 0 <= ih < H and 0 <= iw < W:
            cols[r, col] = x[n, c, ih, iw]
        else:
            cols[r, col] = 0


@cuda.jit(cache=True)
def _col2im(x, cols, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    N, C, H, W = x.shape
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        n = i // (C * H * W)
        c = (i // (H * W)) % C
        ih = (i // W) % H
        iw = i % W
        oh0, oh1 = source_range(ih, KH, sh, ph, dh, OH)
        ow0, ow1 = source_range(iw, KW, sw, pw, dw, OW)
        # A zero of the array's own type: cols[0, 0] * 0 would be NaN when that entry is inf.
        x[n, c, ih, iw] = 0
        acc = x[n, c, ih, iw]
        for oh in range(oh0, oh1):
            th = ih + ph - oh * sh
            if th % dh:
                continue
            kh = th // dh
            if kh < 0 or kh >= KH:
                continue
            for ow in range(ow0, ow1):
                tw = iw + pw - ow * sw
                if tw % dw:
                    continue
                kw = tw // dw
                if kw < 0 or kw >= KW:
                    continue
                acc += cols[(c * KH + kh) * KW + kw, (n * OH + oh) * OW + ow]
        x[n, c, ih, iw] = acc


def im2col(cols, x, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    """Unfold receptive fields into columns; arguments as the CPU kernel.

    Plain loop::

        for c, kh, kw, n, oh, ow:
            ih, iw = oh*sh - ph + kh*dh, ow*sw - pw + kw*dw
            cols[(c*KH + kh)*KW + kw, (n*OH + oh)*OW + ow] = x[n, c, ih, iw] if inside else 0

    Args:
        cols: output, shape (C*KH*KW, N*OH*OW).
        x: input, shape (N, C, H, W).
        KH, KW, sh, sw, ph, pw, dh, dw: kernel size, stride, top/left padding, dilation.
        OH, OW: output size of the convolution.
    """
    c = dev_out(cols, "im2col")
    launch(_im2col, c.size, c, dev(x), KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)


def col2im(x, cols, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    """Fold columns back into an image, summing overlaps (adjoint of ``im2col``).

    Gather form, one thread per input pixel::

        x[n, c, ih, iw] = sum over (kh, oh) with oh*sh - ph + kh*dh == ih, (kw, ow) likewise,
                          of cols[(c*KH + kh)*KW + kw, (n*OH + oh)*OW + ow]

    Args:
        x: output, shape (N, C, H, W); overwritten.
        cols: columns, shape (C*KH*KW, N*OH*OW).
        KH, KW, sh, sw, ph, pw, dh, dw: kernel size, stride, top/left padding, dilation.
        OH, OW: spatial size that the columns cover.
    """
    d = dev_out(x, "col2im")
    launch(_col2im, d.size, d, dev(cols), KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)
