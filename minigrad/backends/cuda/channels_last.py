"""im2row, row2im and the NCHW <-> NHWC transposes on the GPU (same layouts as the CPU kernels).

``rows[(n*OH + oh)*OW + ow, (kh*KW + kw)*C + c] = x[n, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw, c]``
(0 outside), ``x`` channels-last. One thread per output element; consecutive threads take
consecutive channels, so both reads and writes are coalesced. row2im is a gather (each
input pixel sums the rows that read it): no atomics, deterministic.
"""

from __future__ import annotations

from numba import cuda

from ..index import cuda_functions
from .launch import dev, dev_out, launch

__all__ = ["im2row", "row2im", "to_channels_last", "to_channels_first"]

_ix = cuda_functions()
input_index = _ix.input_index
source_range = _ix.source_range


@cuda.jit(cache=True)
def _im2row(rows, x, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    N, H, W, C = x.shape
    K = KH * KW * C
    for i in range(cuda.grid(1), rows.shape[0] * K, cuda.gridsize(1)):
        r = i // K
        j = i % K
        n = r // (OH * OW)
        oh = (r // OW) % OH
        ow = r % OW
        kh = j // (KW * C)
        kw = (j // C) % KW
        c = j % C
        ih = input_index(oh, kh, sh, ph, dh)
        iw = input_index(ow, kw, sw, pw, dw)
        if 0 <= ih < H and 0 <= iw < W:
            rows[r, j] = x[n, ih, iw, c]
        else:
            rows[r, j] = 0


@cuda.jit(cache=True)
def _row2im(x, rows, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    N, H, W, C = x.shape
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        n = i // (H * W * C)
        ih = (i // (W * C)) % H
        iw = (i // C) % W
        c = i % C
        oh0, oh1 = source_range(ih, KH, sh, ph, dh, OH)
        ow0, ow1 = source_range(iw, KW, sw, pw, dw, OW)
        # A zero of the array's own type: rows[0, 0] * 0 would be NaN when that entry is inf.
        x[n, ih, iw, c] = 0
        acc = x[n, ih, iw, c]
        for oh in range(oh0, oh1):
            th = ih + ph - oh * sh
            if th % dh:
                continue
            kh = th // dh
            for ow in range(ow0, ow1):
                tw = iw + pw - ow * sw
                if tw % dw:
                    continue
                kw = tw // dw
                acc += rows[(n * OH + oh) * OW + ow, (kh * KW + kw) * C + c]
        x[n, ih, iw, c] = acc


@cuda.jit(cache=True)
def _to_channels_last(out, x):
    N, C, H, W = x.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        n = i // (H * W * C)
        h = (i // (W * C)) % H
        w = (i // C) % W
        c = i % C
        out[n, h, w, c] = x[n, c, h, w]


@cuda.jit(cache=True)
def _to_channels_first(out, x, bias):
    N, C, H, W = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        n = i // (C * H * W)
        c = (i // (H * W)) % C
        h = (i // W) % H
        w = i % W
        out[n, c, h, w] = x[n, h, w, c] + bias[c]


def im2row(rows, x, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    """Unfold the receptive fields of a channels-last image into rows; arguments as the CPU kernel.

    Args:
        rows: output, shape (N*OH*OW, KH*KW*C).
        x: input, shape (N, H, W, C), channels last.
        KH, KW, sh, sw, ph, pw, dh, dw: kernel size, stride, top/left padding, dilation.
        OH, OW: output size of the convolution.
    """
    r = dev_out(rows, "im2row")
    launch(_im2row, r.size, r, dev(x), KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)


def row2im(x, rows, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    """Fold rows back into a channels-last image, summing overlaps (adjoint of ``im2row``).

    Args:
        x: output, shape (N, H, W, C); overwritten.
        rows: shape (N*OH*OW, KH*KW*C).
        KH, KW, sh, sw, ph, pw, dh, dw: kernel size, stride, top/left padding, dilation.
        OH, OW: spatial size that the rows cover.
    """
    d = dev_out(x, "row2im")
    launch(_row2im, d.size, d, dev(rows), KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)


def to_channels_last(out, x):
    """``out[n, h, w, c] = x[n, c, h, w]``.

    Args:
        out: output, shape (N, H, W, C).
        x: input, shape (N, C, H, W).
    """
    d = dev_out(out, "to_channels_last")
    launch(_to_channels_last, d.size, d, dev(x))


def to_channels_first(out, x, bias):
    """``out[n, c, h, w] = x[n, h, w, c] + bias[c]``.

    Args:
        out: output, shape (N, C, H, W).
        x: input, shape (N, H, W, C).
        bias: shape (C,) (zeros for none).
    """
    d = dev_out(out, "to_channels_first")
    launch(_to_channels_first, d.size, d, dev(x), dev(bias))
