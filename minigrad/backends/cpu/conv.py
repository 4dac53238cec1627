"""im2col and col2im: the two memory-bound halves of a convolution on the CPU.

Convolution is ``im2col`` followed by one BLAS GEMM (NumPy's matmul, called outside
the jitted code by ``minigrad.ops.conv``). The column matrix has one row per
``(c, kh, kw)`` and one column per ``(n, oh, ow)``::

    cols[(c, kh, kw), (n, oh, ow)] = x[n, c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]   (0 outside)

so that ``out[o, (n, oh, ow)] = W[o, (c, kh, kw)] @ cols`` is a plain row-major GEMM whose
operands need no transposed copy, and a group's rows are one contiguous block.
"""

from numba import njit, prange

from .threads import serial_when_small

__all__ = ["im2col", "col2im"]


@njit(cache=True, inline="always")
def _valid_range(offset, stride, size, count):
    """The range [lo, hi) of j in [0, count) for which 0 <= j*stride + offset < size."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = (size - offset + stride - 1) // stride if size > offset else 0
    hi = min(hi, count)
    return lo, max(hi, lo)


@serial_when_small
@njit(cache=True, parallel=True)
def im2col(cols, x, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    """Unfold the receptive fields of ``x`` into columns.

    Plain loop::

        for c, kh, kw, n, oh, ow:
            ih, iw = oh*sh - ph + kh*dh, ow*sw - pw + kw*dw
            cols[(c*KH + kh)*KW + kw, (n*OH + oh)*OW + ow] = x[n, c, ih, iw] if inside else 0

    Parallel over the rows of ``cols``; the in-bounds span of ``ow`` is computed once per
    row, so the inner loop is a branch-free (strided) slice copy.

    Args:
        cols: output, shape (C*KH*KW, N*OH*OW).
        x: input, shape (N, C, H, W).
        KH, KW, sh, sw, ph, pw, dh, dw: kernel size, stride, top/left padding, dilation.
        OH, OW: output size of the convolution.
    """
    N, C, H, W = x.shape
    rows = C * KH * KW
    for r in prange(rows):
        c = r // (KH * KW)
        kh = (r // KW) % KH
        kw = r % KW
        off = kw * dw - pw
        lo, hi = _valid_range(off, sw, W, OW)
        row = cols[r]
        for n in range(N):
            for oh in range(OH):
                ih = oh * sh - ph + kh * dh
                o = (n * OH + oh) * OW
                if ih < 0 or ih >= H or hi == lo:
                    for ow in range(OW):
                        row[o + ow] = 0
                    continue
                # The padding's few zeros and narrow or strided spans are faster as 1-D loops
                # (a slice costs a view per call); long contiguous spans as a slice copy
                # (per-element 4-D indexing is 3x slower; an all-loop version was slower on
                # LeNet's 28-wide rows). Measured per call, batch 64, ms, all-slices -> this:
                # 1x28x28 5x5 0.43 -> 0.25, 128x16x16 10.2 -> 6.5, 512x4x4 8.4 -> 5.3,
                # 256x8x8 stride 2 4.6 -> 2.6.
                for ow in range(lo):
                    row[o + ow] = 0
                if sw == 1 and hi - lo > 8:
                    row[o + lo:o + hi] = x[n, c, ih, lo + off:hi + off]
                else:
                    src = x[n, c, ih]
                    for ow in range(lo, hi):
                        row[o + ow] = src[ow * sw + off]
                for ow in range(hi, OW):
                    row[o + ow] = 0


@serial_when_small
@njit(cache=True, parallel=True)
def col2im(x, cols, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW):
    """Fold columns back into an image, summing overlapping receptive fields (adjoint of ``im2col``).

    Plain loop::

        x[...] = 0
        for n, c, kh, kw, oh, ow:
            x[n, c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] += cols[(c*KH + kh)*KW + kw, (n*OH + oh)*OW + ow]

    Parallel over the (n, c) planes: a plane only receives rows of its channel and columns
    of its image, so no two threads write the same element. The inner loop is explicit
    rather than a slice add: ResNet's planes are 4-32 wide, and the per-slice overhead cost
    1.2-2.5x on the CIFAR ResNet-18 shapes (batch 64, 2 cores, ms per call, slices -> loop:
    128x16x16 14.8 -> 12.3, 512x4x4 15.5 -> 10.7, 128x32x32 stride 2 32.5 -> 12.8).

    Args:
        x: output, shape (N, C, H, W); overwritten.
        cols: columns, shape (C*KH*KW, N*OH*OW).
        KH, KW, sh, sw, ph, pw, dh, dw: kernel size, stride, top/left padding, dilation.
        OH, OW: spatial size that the columns cover.
    """
    N, C, H, W = x.shape
    for p in prange(N * C):
        n = p // C
        c = p % C
        plane = x[n, c]
        for ih in range(H):
            for iw in range(W):
                plane[ih, iw] = 0
        for kh in range(KH):
            for kw in range(KW):
                r = (c * KH + kh) * KW + kw
                off = kw * dw - pw
                lo, hi = _valid_range(off, sw, W, OW)
                if hi == lo:
                    continue
                src = cols[r]
                for oh in range(OH):
                    ih = oh * sh - ph + kh * dh
                    if ih < 0 or ih >= H:
                        continue
                    o = (n * OH + oh) * OW
                    dst = plane[ih]
                    for ow in range(lo, hi):
                        dst[ow * sw + off] += src[o + ow]
