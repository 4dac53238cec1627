"""im2row and row2im: convolution's lowering to a GEMM in the channels-last layout.

``im2col`` (``conv.py``) writes one *row* per ``(c, kh, kw)`` and one column per output
position, from an NCHW image. ``im2row`` is its transpose, computed from the image in
channels-last (NHWC) order: one row per output position ``(n, oh, ow)``, holding that
position's receptive field ordered ``(kh, kw, c)``::

    rows[(n*OH + oh)*OW + ow, (kh*KW + kw)*C + c] = x[n, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw, c]

(0 in the padding; a grouped convolution lowers each group's channels separately). Each tap then copies ``Cg`` contiguous floats,
where ``im2col`` copies spans of an image row: 4-32 floats on ResNet's CIFAR planes. The
GEMM ``rows @ W_rows^T`` writes the output channels-last too, ``(positions, O)``.
Measured on the CIFAR ResNet-18 3x3 layers, batch 64, 2 threads (ms, im2col -> transpose
to NHWC + im2row): 64x32x32 11.6 -> 12.9, 128x16x16 12.6 -> 3.8, 256x8x8 13.6 -> 1.9,
512x4x4 9.8 -> 1.1.

``to_channels_last``/``to_channels_first`` move between the public NCHW layout and the
kernels' NHWC one (the latter adds the convolution's bias on the way).
"""

from numba import njit, prange

from ..index import cpu as _ix
from .threads import serial_when_small

__all__ = ["im2row", "row2im", "to_channels_last", "to_channels_first"]

input_index = _ix.input_index
source_range = _ix.source_range


@serial_when_small
@njit(cache=True, parallel=True)
def im2row(rows, x, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    """Unfold the receptive fields of a channels-last image into rows.

    Plain loop::

        for n, oh, ow, kh, kw, c:
            ih, iw = oh*sh - ph + kh*dh, ow*sw - pw + kw*dw
            rows[(n*OH + oh)*OW + ow, (kh*KW + kw)*C + c] = x[n, ih, iw, c] if inside else 0

    Parallel over output rows ``(n, oh)``; each thread writes a contiguous block of ``rows``.
    A grouped convolution calls it once per group on channel-slice views of ``x`` and ``rows``
    (a group loop inside kept the channel loop from vectorising: 4x slower).

    Args:
        rows: output, shape (N*OH*OW, KH*KW*C).
        x: input, shape (N, H, W, C), channels last.
        KH, KW, sh, sw, ph, pw, dh, dw: kernel size, stride, top/left padding, dilation.
        OH, OW: output size of the convolution.
    """
    N, H, W, C = x.shape
    for p in prange(N * OH):
        n = p // OH
        oh = p % OH
        for ow in range(OW):
            dst = rows[p * OW + ow]
            for kh in range(KH):
                ih = input_index(oh, kh, sh, ph, dh)
                for kw in range(KW):
                    iw = input_index(ow, kw, sw, pw, dw)
                    base = (kh * KW + kw) * C
                    if ih >= 0 and ih < H and iw >= 0 and iw < W:
                        src = x[n, ih, iw]
                        for c in range(C):
                            dst[base + c] = src[c]
                    else:
                        for c in range(C):
                            dst[base + c] = 0


@serial_when_small
@njit(cache=True, parallel=True)
def row2im(x, rows, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    """Fold rows back into a channels-last image, summing overlapping fields (adjoint of ``im2row``).

    Plain loop::

        x[...] = 0
        for n, oh, ow, kh, kw, c:
            x[n, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw, c] += rows[(n*OH + oh)*OW + ow, (kh*KW + kw)*C + c]

    Written as a gather, parallel over image rows ``(n, ih)``: image row ``ih`` receives
    output row ``oh`` through tap ``kh`` exactly when ``oh*sh - ph + kh*dh == ih``, so no
    two threads write the same element.

    Args:
        x: output, shape (N, H, W, C), channels last; overwritten.
        rows: shape (N*OH*OW, KH*KW*C), as ``im2row`` writes them.
        KH, KW, sh, sw, ph, pw, dh, dw: kernel size, stride, top/left padding, dilation.
        OH, OW: spatial size that the rows cover.
    """
    N, H, W, C = x.shape
    for p in prange(N * H):
        n = p // H
        ih = p % H
        line = x[n, ih]
        for iw in range(W):
            for c in range(C):
                line[iw, c] = 0
        oh0, oh1 = source_range(ih, KH, sh, ph, dh, OH)
        for oh in range(oh0, oh1):
            t = ih + ph - oh * sh
            if t % dh:
                continue
            kh = t // dh
            for ow in range(OW):
                src = rows[(n * OH + oh) * OW + ow]
                for kw in range(KW):
                    iw = input_index(ow, kw, sw, pw, dw)
                    if iw >= 0 and iw < W:
                        base = (kh * KW + kw) * C
                        dst = line[iw]
                        for c in range(C):
                            dst[c] += src[base + c]


@serial_when_small
@njit(cache=True, parallel=True)
def to_channels_last(out, x):
    """``out[n, h, w, c] = x[n, c, h, w]``: NCHW to NHWC.

    Two loop orders, by plane size (ms per call, batch 64, one thread): planes of 512 or more
    pixels are read in blocks of 8 channels, whose rows stay in L1 (reading 64 channels of a
    32x32 plane at once hits the same cache sets, 4 KiB apart: 64x32x32 12.2 -> 4.3); smaller
    planes are written position by position (128x16x16 2.6 vs 3.4, 512x4x4 0.23 vs 0.42).

    Args:
        out: output, shape (N, H, W, C).
        x: input, shape (N, C, H, W).
    """
    N, C, H, W = x.shape
    if H * W >= 512:
        blocks = (C + 7) // 8
        for p in prange(N * blocks):
            n = p // blocks
            c0 = (p % blocks) * 8
            c1 = min(c0 + 8, C)
            for h in range(H):
                for w in range(W):
                    dst = out[n, h, w]
                    for c in range(c0, c1):
                        dst[c] = x[n, c, h, w]
    else:
        for p in prange(N * H):
            n = p // H
            h = p % H
            for w in range(W):
                dst = out[n, h, w]
                for c in range(C):
                    dst[c] = x[n, c, h, w]


@serial_when_small
@njit(cache=True, parallel=True)
def to_channels_first(out, x, bias):
    """``out[n, c, h, w] = x[n, h, w, c] + bias[c]``: NHWC to NCHW, adding a per-channel bias.

    Args:
        out: output, shape (N, C, H, W).
        x: input, shape (N, H, W, C).
        bias: shape (C,) (zeros for none).
    """
    N, C, H, W = out.shape
    if H * W <= 64:
        # Small planes (a 3x3 weight gradient, ResNet's 8x8 and 4x4 layers): one task per image,
        # written in order from a source block that stays in L1. ms per call, 2 threads, by
        # (N*C) planes -> by image: weight 512x512x3x3 3.0 -> 1.6, 64x512x4x4 0.45 -> 0.27;
        # 64x128x16x16 planes stay as they are (1.66 vs 1.73).
        for n in prange(N):
            src, dst = x[n], out[n]
            for c in range(C):
                b = bias[c]
                for h in range(H):
                    for w in range(W):
                        dst[c, h, w] = src[h, w, c] + b
        return
    for p in prange(N * C):
        n = p // C
        c = p % C
        b = bias[c]
        for h in range(H):
            dst = out[n, c, h]
            for w in range(W):
                dst[w] = x[n, h, w, c] + b
