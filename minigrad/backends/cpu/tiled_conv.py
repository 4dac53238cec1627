"""Tiled convolution: register tiles that read the channels-last image where it lies, no lowering, no padding.

In an image stored (H, W, C), the KW taps of one kernel row at one output position are KW*C
*contiguous* floats (dilation 1), and the next output position along the row starts
``stride*C`` floats later. So the course's sum, ``xp`` the image as if zero-padded::

    out[n, oh, ow, o] = sum_{kh, kw, c} xp[n, oh*sh + kh*dh, ow*sw + kw, c] * W[o, c, kh, kw]

is, for a block of r <= 6 consecutive output positions of one row and 64 output channels,
KH register-tile products (``register_tile.py``) with ``A[i, k] = x[base + i*sw*C + k]``
over ``k < KW*C`` and ``B = taps[kh]`` (``taps[kh, kw*C + c, o] = W[o, c, kh, kw]``): nothing
is unfolded, not even the strips' width (``strips.py``), whose copy wrote 3x the image. The
sum over all KH*KW*C terms stays in registers and each output block is written once. A block
at the image's border is zeroed and summed tap by tap over its positions that read inside,
so the padding is never copied either (a padded copy, 1.1x the image, took 14 of a ResNet-18
step's ms in the forward, 8 in dX and 11 in dW). Strided layers are the same loop with
``a_row = sw*C``. Rows are split into near-equal blocks (32 = 6+6+5+5+5+5), so that no block
is a narrow, load-bound remainder.

The weight gradient is the transpose of the same reads: for each output row and kernel tap,
a tile of 6 channels by 64 output channels sums over the row's positions that read inside
the image, ``A[i, p] = x[base + p*sw*C + c + i]``, ``B[p, :] = dY[n, oh, p, :]``; one input
row (8 KB on ResNet's 32x32x64 layers) stays in L1 while all its tiles read it. Threads sum
disjoint runs of images into their own partial sums, added at the end (``strips.sum_partials``).

One ResNet-18 layer, batch 64, 2 threads, ms (medians of 9), the first version (with a
padded copy) against what it replaced:

====================  =======================  ==========================
layer                 forward: tiled / before  dW: tiled / before
====================  =======================  ==========================
32x32, 64 -> 64       14.4 / 18.0 (strips)     14.0 / 21.1 (strips)
16x16, 128 -> 128     14.9 / 15.8 (strips)     16.3 / 18.5 (strips)
32x32 -> 16x16 s2     7.6 / 10.3 (im2row+BLAS)  7.8 / 11.4 (im2row+BLAS)
====================  =======================  ==========================

Forward + backward of the 32x32 layer (``python`` timing through ``mg.conv2d``): 55.5 ms with
the strips, 47.6 with these tiles on a padded copy, 42.6 without the copy.

The input gradient of a stride-1 layer is this same kernel on dY with the adjoint taps
(``weight_to_taps(adjoint=True)``, ``ops/conv_tiled.py``); of a strided one,
``tiled_conv_transpose`` by phases, on a padded copy of dY.
"""

from numba import njit, prange

from .register_tile import COLUMNS, MAX_ROWS, tile
from .threads import serial_when_small

__all__ = ["pad_images", "tiled_conv", "tiled_weight_grad", "tiled_conv_transpose"]


@serial_when_small
@njit(cache=True, parallel=True)
def pad_images(dst, src, ph, pw):
    """``dst[n, i, j, :] = src[n, i - ph, j - pw, :]`` inside the image, 0 outside: channels-last padding.

    ``dst`` may be smaller than the padded image (the rows and columns no output reads are
    left out) or larger (more zeros).

    Args:
        dst: output, shape (N, Hp, Wp, C), C-contiguous.
        src: shape (N, H, W, C), C-contiguous.
        ph, pw: zeros before the image's first row and column (>= 0).
    """
    N, H, W, C = src.shape
    Hp, Wp = dst.shape[1], dst.shape[2]
    for q in prange(N * Hp):
        n = q // Hp
        i = q % Hp
        row = dst[n, i].reshape(-1)
        ih = i - ph
        if ih < 0 or ih >= H:
            row[:] = 0
            continue
        w0, w1 = min(pw, Wp), min(Wp, pw + W)
        row[:w0 * C] = 0
        if w1 > w0:
            row[w0 * C:w1 * C] = src[n, ih, :w1 - w0].reshape(-1)
        row[w1 * C:] = 0


@njit(cache=True, parallel=True)
def tiled_conv(out, x, taps, sh, sw, ph, pw, dh):
    """``out[n, oh, ow, :] = sum_{kh, kw} x[n, oh*sh + kh*dh - ph, ow*sw + kw - pw, :] @ taps[kh, kw*C : (kw+1)*C]``.

    The image is read unpadded. A block of positions whose taps all read inside the image is
    KH register tiles, each summing a kernel row's KW*C contiguous floats; a block at the
    image's border is zeroed, then each tap adds over the block's positions that read inside
    (kernel rows on padding skipped). Parallel over (image, output row, block of positions).

    Args:
        out: output, shape (N, OH, OW, O), C-contiguous, O a multiple of 64; overwritten.
        x: the input channels-last, (N, H, W, C), C-contiguous.
        taps: (KH, KW*C, O), ``taps[kh, kw*C + c, o] = W[o, c, kh, kw]`` (``strips.weight_to_taps``).
        sh, sw: strides.
        ph, pw: padding at the top and left (>= 0; the bottom and right follow from the shapes).
        dh: dilation along the height (along the width it must be 1).
    """
    N, OH, OW, O = out.shape
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    KH, K = taps.shape[0], taps.shape[1]
    KW = K // C
    if N * OH * OW == 0:
        return
    blocks = (OW + MAX_ROWS - 1) // MAX_ROWS
    out_flat, x_flat, taps_flat = out.reshape(-1), x.reshape(-1), taps.reshape(-1)
    for q in prange(N * OH * blocks):
        b = q % blocks
        row = q // blocks
        n = row // OH
        oh = row % OH
        ow0 = (b * OW) // blocks
        r = ((b + 1) * OW) // blocks - ow0
        c0 = (row * OW + ow0) * O
        inside = oh * sh - ph >= 0 and oh * sh + (KH - 1) * dh - ph < H
        inside = inside and ow0 * sw - pw >= 0 and (ow0 + r - 1) * sw + KW - 1 - pw < W
        if inside:
            for o in range(0, O, COLUMNS):
                for kh in range(KH):
                    tile(kh > 0, r, out_flat, c0 + o, O,
                         x_flat, ((n * H + oh * sh + kh * dh - ph) * W + ow0 * sw - pw) * C, sw * C, 1,
                         taps_flat, kh * K * O + o, O, K)
            continue
        for p in range(r):
            out_flat[c0 + p * O: c0 + (p + 1) * O] = 0
        for kh in range(KH):
            ih = oh * sh + kh * dh - ph
            if ih < 0 or ih >= H:
                continue
            for kw in range(KW):
                # Positions ow0 + p of the block whose input column (ow0 + p)*sw + kw - pw is inside.
                lo = max(0, (pw - kw - ow0 * sw + sw - 1) // sw)
                span = W - 1 + pw - kw - ow0 * sw
                hi = min(r, span // sw + 1) if span >= 0 else 0
                if hi <= lo:
                    continue
                a0 = ((n * H + ih) * W + (ow0 + lo) * sw + kw - pw) * C
                for o in range(0, O, COLUMNS):
                    tile(True, hi - lo, out_flat, c0 + lo * O + o, O, x_flat, a0, sw * C, 1,
                         taps_flat, (kh * K + kw * C) * O + o, O, C)


@njit(cache=True, parallel=True)
def tiled_weight_grad(partial, x, dy, sh, sw, ph, pw, dh):
    """``partial[g, kh, kw*C + c, o] = sum over images n of run g, oh, ow of x[n, ih, iw, c] * dy[n, oh, ow, o]``.

    ``ih = oh*sh + kh*dh - ph``, ``iw = ow*sw + kw - pw``; the kernel's gradient is
    ``partial.sum(axis=0)`` in the taps' layout. The image is read unpadded: a kernel row that
    falls on padding is skipped, and each kernel column sums over the output columns that read
    inside the image, so no padded copy is made (it took 11 of a ResNet-18 step's ms). Parallel
    over the G runs of images (each thread its own partial sum).

    Args:
        partial: output, shape (G, KH, KW*C, O), O a multiple of 64; overwritten (runs without
            images are zeros).
        x: the input channels-last, (N, H, W, C), C-contiguous.
        dy: the output gradient channels-last, (N, OH, OW, O), C-contiguous.
        sh, sw: strides.
        ph, pw: padding at the top and left.
        dh: dilation along the height.
    """
    G, KH, K = partial.shape[0], partial.shape[1], partial.shape[2]
    N, OH, OW, O = dy.shape
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    KW = K // C
    partial_flat, x_flat, dy_flat = partial.reshape(-1), x.reshape(-1), dy.reshape(-1)
    for g in prange(G):
        partial[g] = 0
        for n in range((g * N) // G, ((g + 1) * N) // G):
            for oh in range(OH):
                row = n * OH + oh
                for kh in range(KH):
                    ih = oh * sh + kh * dh - ph
                    if ih < 0 or ih >= H:
                        continue
                    for kw in range(KW):
                        # Output columns whose input column iw = ow*sw + kw - pw is inside the image.
                        first = max(0, (pw - kw + sw - 1) // sw)
                        last = min(OW, (W - 1 + pw - kw) // sw + 1) if W - 1 + pw - kw >= 0 else 0
                        if last <= first:
                            continue
                        a0 = ((n * H + ih) * W + first * sw + kw - pw) * C
                        for c in range(0, C, MAX_ROWS):
                            r = min(MAX_ROWS, C - c)
                            for o in range(0, O, COLUMNS):
                                tile(True, r, partial_flat, ((g * KH + kh) * K + kw * C + c) * O + o, O,
                                     x_flat, a0 + c, 1, sw * C, dy_flat, (row * OW + first) * O + o, O, last - first)


@njit(cache=True, parallel=True)
def tiled_conv_transpose(dx, dyp, adjoint, sh, sw, rows_taps, rows_shift, cols_taps, cols_shift):
    """dX of a strided convolution by phases: ``dx[n, h, w] = sum over the taps that reach (h, w) of dyp[...] @ W_tap``.

    Input row ``h = sh*i + a`` receives from the kernel rows ``kh`` with ``(a + ph - kh*dh) % sh == 0``,
    at output row ``i + e`` (``e = (a + ph - kh*dh) // sh``), likewise along the width: each
    phase ``(a, b)`` of dX is a stride-1 sum over its own taps, with no product against the
    zeros that row2im's fold would add (``dY @ W_rows`` then row2im computes every tap for
    every output position and writes KH*KW times dX's size). A block of r <= 6 positions
    ``w = sw*j + b`` of one phase row is one register tile per tap and 64 channels: ``A`` the
    dY row (``a_row = O``), ``B`` the tap's (O, C) slice of the adjoint taps, ``C`` written
    with ``ldc = sw*C``. A phase that no tap reaches (stride larger than the kernel) is zero.

    Args:
        dx: output, shape (N, H, W, C), C-contiguous, C a multiple of 64; overwritten.
        dyp: dY channels-last, zero-padded so that every index below is inside (N, ., ., O).
        adjoint: (KH, KW*O, C), ``adjoint[KH-1-kh, (KW-1-kw)*O + o, c] = W[o, c, kh, kw]``
            (``strips.weight_to_taps(adjoint=True)``).
        sh, sw: strides.
        rows_taps: (sh, T) kernel rows reaching each row phase a, -1 past the last.
        rows_shift: (sh, T) their dyp row offsets (``e`` plus the top padding).
        cols_taps, cols_shift: the same along the width, (sw, T').
    """
    N, H, W, C = dx.shape
    KH = adjoint.shape[0]
    O = dyp.shape[3]
    KW = adjoint.shape[1] // O
    Hq, Wq = dyp.shape[1], dyp.shape[2]
    dx_flat, dy_flat, adj_flat = dx.reshape(-1), dyp.reshape(-1), adjoint.reshape(-1)
    for q in prange(N * H):
        n = q // H
        h = q % H
        a, i = h % sh, h // sh
        for b in range(min(sw, W)):
            Wb = (W - b + sw - 1) // sw
            blocks = (Wb + MAX_ROWS - 1) // MAX_ROWS
            for blk in range(blocks):
                j0 = (blk * Wb) // blocks
                r = ((blk + 1) * Wb) // blocks - j0
                c0 = ((n * H + h) * W + sw * j0 + b) * C
                for c in range(0, C, COLUMNS):
                    first = True
                    for t in range(rows_taps.shape[1]):
                        kh = rows_taps[a, t]
                        if kh < 0:
                            break
                        y_row = (n * Hq + i + rows_shift[a, t]) * Wq
                        for u in range(cols_taps.shape[1]):
                            kw = cols_taps[b, u]
                            if kw < 0:
                                break
                            tile(not first, r, dx_flat, c0 + c, sw * C,
                                 dy_flat, (y_row + j0 + cols_shift[b, u]) * O, O, 1,
                                 adj_flat, ((KH - 1 - kh) * KW * O + (KW - 1 - kw) * O) * C + c, C, O)
                            first = False
                    if first:
                        for p in range(r):
                            dx_flat[c0 + p * sw * C + c: c0 + p * sw * C + c + COLUMNS] = 0
