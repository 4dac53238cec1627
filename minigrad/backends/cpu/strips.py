"""Strips: a stride-1 convolution lowered along the kernel's width only, its height left to the GEMMs.

im2row (``channels_last.py``) copies each input value KH*KW times, and on ResNet's 32x32
layers that copy streams through main memory: in a CIFAR ResNet-18 training step it wrote
1 GB per pass, and its three passes (forward, dW, dX) took 217 ms of a 1.33 s step next to
779 ms of GEMMs (``benchmarks/profile_step.py``, docs/profile.md). With stride 1, the kernel's
*rows* need no copy: output row ``oh`` at kernel row ``kh`` reads image row ``oh + kh*dh``, a
fixed offset. So only the width is unfolded. A *strip* is one (padded) image row with each of
its OW positions widened to its KW taps::

    strips[n, i, ow, kw*C + c] = x[n, i - ph, ow - pw + kw*dw, c]     (0 outside the image)
    for i < Hs = OH + dh*(KH-1)

and image ``n``'s output, channels-last, is a sum of KH GEMMs on contiguous blocks of strips::

    out[n] (OH*OW, O) = sum_kh strips[n, kh*dh : kh*dh + OH] (OH*OW, KW*C) @ taps[kh] (KW*C, O)
    taps[kh, kw*C + c, o] = W[o, c, kh, kw]

The strips are KH*OH/Hs times smaller than im2row's rows (2.8x on a 32x32 3x3 layer), and
the GEMMs add into the output with BLAS's ``beta = 1`` (``cblas.py``). The weight gradient
reads the same blocks transposed, ``dtaps[kh] = sum_n strips[n, kh*dh : kh*dh + OH]^T @ dY[n]``,
and the input gradient of a stride-1 layer is this same convolution applied to dY with the
kernel flipped and its channels swapped (``ops/conv_strips.py``).

``strip_conv`` and ``strip_weight_grad`` run each kernel row as one GEMM over a run of
images stacked (the planner's chunks of about ``mg.config.chunk_bytes`` of strips, which stay
in cache between the KH products). With float32, a multiple of 64 output channels and an
AVX-512 CPU they use ``register_tile.py``'s micro-kernel instead (``tiles_apply``): a block of
6 output positions by 64 channels sums all KH*KW*C terms in registers and is written once.
One chunk of ResNet-18's layer 1 (8 images, 64 -> 64 channels), 2 threads: forward 1.65 ms
(tiles) against 2.35 ms (OpenBLAS, stacked), weight gradient 1.67 + 0.12 ms against 2.99 ms.
"""

from numba import njit, prange

from .array import empty
from .cblas import gemm_accumulate
from .register_tile import COLUMNS, MAX_ROWS, tile, tiles_apply
from .threads import serial_when_small

__all__ = ["im2strip", "strip_conv", "strip_weight_grad", "sum_partials", "weight_to_taps", "taps_to_weight"]


@serial_when_small
@njit(cache=True, parallel=True)
def im2strip(strips, x, KW, ph, pw, dw):
    """Unfold a channels-last image along the kernel's width.

    Plain loop::

        for n, i, ow, kw, c:
            ih, iw = i - ph, ow - pw + kw*dw
            strips[n, i, ow, kw*C + c] = x[n, ih, iw, c] if inside else 0

    Parallel over strips ``(n, i)``; each writes OW*KW*C contiguous floats.

    Args:
        strips: output, shape (N, Hs, OW, KW*C); Hs = OH + dh*(KH-1).
        x: input, shape (N, H, W, C), channels last.
        KW: kernel width.
        ph, pw: top and left padding (negative: the image is cropped).
        dw: dilation along the width.
    """
    N, H, W, C = x.shape
    Hs, OW = strips.shape[1], strips.shape[2]
    for p in prange(N * Hs):
        n = p // Hs
        i = p % Hs
        ih = i - ph
        dst = strips[n, i]
        if ih < 0 or ih >= H:
            for ow in range(OW):
                row = dst[ow]
                for j in range(KW * C):
                    row[j] = 0
            continue
        src = x[n, ih]
        for ow in range(OW):
            row = dst[ow]
            for kw in range(KW):
                iw = ow - pw + kw * dw
                base = kw * C
                if iw >= 0 and iw < W:
                    s = src[iw]
                    for c in range(C):
                        row[base + c] = s[c]
                else:
                    for c in range(C):
                        row[base + c] = 0


def _tall_rows(n_images, Hs, OW, OH):
    """Rows of the GEMMs over a run of images: every strip row but the last image's bottom Hs - OH."""
    return ((n_images - 1) * Hs + OH) * OW


def strip_conv(out, strips, taps, dh):
    """``out[n] = sum_kh strips[n, kh*dh : kh*dh + OH] @ taps[kh]``: the stride-1 convolution of the strips.

    The images are stacked: each kernel row is one GEMM over all of them, whose rows
    ``(n, i, ow)`` run over every strip row ``i < Hs`` (the ``Hs - OH`` last ones of each
    image compute garbage: 6% more products on a 32x32 3x3 layer, 12% on 16x16) into a tall
    result, which is then copied out without those rows. One GEMM per image instead, with no
    garbage, was as fast at load 2 (a ResNet-18 training step 0.91-0.92x im2row's time either
    way, alternating in one process) but 1.4x *slower* than im2row at load 3 (1576 vs 1128 ms):
    each small GEMM waits for both OpenBLAS threads, one of which shares its core.

    Args:
        out: output, shape (N, OH, OW, O), C-contiguous; overwritten.
        strips: shape (N, Hs, OW, KW*C), as ``im2strip`` writes them.
        taps: the kernel, shape (KH, KW*C, O) (``weight_to_taps``).
        dh: dilation along the height.
    """
    N, OH, OW, O = out.shape
    KH, K = taps.shape[0], taps.shape[1]
    Hs = strips.shape[1]
    if N == 0:
        return
    if tiles_apply(out.dtype, O):
        _strip_conv_tiles(out, strips, taps, dh)
        return
    rows = strips.reshape(N * Hs * OW, K)
    Q = _tall_rows(N, Hs, OW, OH)
    tall = out.reshape(N * OH * OW, O) if N == 1 else empty((N * Hs * OW, O), out.dtype)
    for kh in range(KH):
        gemm_accumulate(tall[:Q], rows[kh * dh * OW: kh * dh * OW + Q], taps[kh], 0.0 if kh == 0 else 1.0)
    if N > 1:
        out[...] = tall.reshape(N, Hs, OW, O)[:, :OH]


@njit(cache=True, parallel=True)
def _strip_conv_tiles(out, strips, taps, dh):
    """``strip_conv`` by register tiles: each block of 6 output positions and 64 channels sums all KH*KW*C terms.

    Position ``p = oh*OW + ow`` of image ``n`` reads strip row ``p + kh*dh*OW`` for kernel row
    ``kh``, so a block of consecutive positions reads consecutive strip rows even across
    output rows: no garbage rows and no copy-out, unlike the stacked GEMMs. Parallel over
    (image, block of positions).
    """
    N, OH, OW, O = out.shape
    KH, K = taps.shape[0], taps.shape[1]
    Hs = strips.shape[1]
    P = OH * OW
    blocks = (P + MAX_ROWS - 1) // MAX_ROWS
    out_flat, strips_flat, taps_flat = out.reshape(-1), strips.reshape(-1), taps.reshape(-1)
    for q in prange(N * blocks):
        n = q // blocks
        p = (q % blocks) * MAX_ROWS
        r = min(MAX_ROWS, P - p)
        for o in range(0, O, COLUMNS):
            for kh in range(KH):
                tile(kh > 0, r, out_flat, (n * P + p) * O + o, O,
                     strips_flat, (n * Hs * OW + p + kh * dh * OW) * K, K, 1, taps_flat, kh * K * O + o, O, K)


def strip_weight_grad(dtaps, strips, dy, dh, accumulate):
    """``dtaps[kh] (+)= sum_n strips[n, kh*dh : kh*dh + OH]^T @ dy[n]``: the kernel's gradient from the strips.

    As in ``strip_conv``, one GEMM per kernel row over all images: dY is laid out tall, with
    zeros in the rows that the forward's garbage rows would occupy, so that they add nothing.

    Args:
        dtaps: output, shape (KH, KW*C, O): overwritten, or added to with ``accumulate`` (a
            later chunk of images). An empty batch without ``accumulate`` gives zeros.
        strips: shape (N, Hs, OW, KW*C), the forward input's strips.
        dy: the output gradient channels-last, shape (N, OH, OW, O).
        dh: dilation along the height.
        accumulate: add to ``dtaps`` instead of overwriting it.
    """
    N, OH, OW, O = dy.shape
    KH, K = dtaps.shape[0], dtaps.shape[1]
    Hs = strips.shape[1]
    if N == 0:
        if not accumulate:
            dtaps[...] = 0
        return
    if tiles_apply(dy.dtype, O) and dy.flags.c_contiguous:
        partial = empty((N, KH, K, O), dy.dtype)
        _strip_weight_grad_tiles(partial, strips, dy, dh)
        sum_partials(dtaps, partial, accumulate)
        return
    rows = strips.reshape(N * Hs * OW, K)
    Q = _tall_rows(N, Hs, OW, OH)
    if N == 1:
        tall = dy.reshape(OH * OW, O)
    else:
        tall = empty((N, Hs, OW, O), dy.dtype)
        tall[:, :OH] = dy
        tall[:, OH:] = 0
        tall = tall.reshape(N * Hs * OW, O)
    for kh in range(KH):
        gemm_accumulate(dtaps[kh], rows[kh * dh * OW: kh * dh * OW + Q].T, tall[:Q], 1.0 if accumulate else 0.0)


@njit(cache=True, parallel=True)
def _strip_weight_grad_tiles(partial, strips, dy, dh):
    """Each image's ``strip_weight_grad`` by register tiles: ``partial[n, kh] = strips[n, kh*dh : ...]^T @ dy[n]``.

    A tile is 6 rows (kernel-row entries k) by 64 output channels of ``partial[n, kh]``, summed
    over the image's OH*OW positions; one image's strips and dY (1.1 MB on ResNet's 32x32
    layers) stay in the 2 MB L2 cache while all its tiles read them. Parallel over images,
    each with its own partial sum, so no two threads write one tile.
    """
    N, OH, OW, O = dy.shape
    KH, K = partial.shape[1], partial.shape[2]
    Hs = strips.shape[1]
    P = OH * OW
    partial_flat, strips_flat, dy_flat = partial.reshape(-1), strips.reshape(-1), dy.reshape(-1)
    for n in prange(N):
        for kh in range(KH):
            for k in range(0, K, MAX_ROWS):
                r = min(MAX_ROWS, K - k)
                for o in range(0, O, COLUMNS):
                    tile(False, r, partial_flat, ((n * KH + kh) * K + k) * O + o, O,
                         strips_flat, (n * Hs * OW + kh * dh * OW) * K + k, 1, K, dy_flat, n * P * O + o, O, P)


@njit(cache=True, parallel=True)
def sum_partials(dtaps, partial, accumulate):
    """``dtaps (+)= partial.sum(axis=0)``, the partial sums added in order (of images here, of threads in ``tiled_conv.py``).

    Args:
        dtaps: output, any shape; overwritten, or added to with ``accumulate``.
        partial: shape (G,) + dtaps.shape.
        accumulate: add to ``dtaps``.
    """
    N = partial.shape[0]
    out = dtaps.reshape(-1)
    parts = partial.reshape(N, -1)
    for i in prange(out.size):
        total = out[i] if accumulate else 0.0
        for n in range(N):
            total += parts[n, i]
        out[i] = total


@njit(cache=True, parallel=True)
def weight_to_taps(taps, weight, adjoint):
    """A conv2d weight as the strip convolution's taps, for the forward or for dX.

    Plain loop::

        forward (adjoint False): taps[kh, kw*C + c, o] = weight[o, c, kh, kw]             (KH, KW*C, O)
        dX      (adjoint True):  taps[kh, kw*O + o, c] = weight[o, c, KH-1-kh, KW-1-kw]   (KH, KW*O, C)

    (dX of a stride-1 correlation is the correlation of dY with the kernel flipped and its
    channels swapped.) Parallel over blocks of 16 output channels: the forward's inner loop
    writes a run of 16 floats while its reads walk 16 weight rows in order; the adjoint's
    writes rows of C floats.

    Args:
        taps: output, shape (KH, KW*C, O) or, adjoint, (KH, KW*O, C).
        weight: shape (O, C, KH, KW), C-contiguous.
        adjoint: take the dX kernel.
    """
    O, C, KH, KW = weight.shape
    blocks = (O + 15) // 16
    for b in prange(blocks):
        o0, o1 = b * 16, min(b * 16 + 16, O)
        if adjoint:
            # Rows of C contiguous floats, one per (tap, o): written in order.
            for o in range(o0, o1):
                for kh in range(KH):
                    for kw in range(KW):
                        dst = taps[KH - 1 - kh, (KW - 1 - kw) * O + o]
                        for c in range(C):
                            dst[c] = weight[o, c, kh, kw]
            continue
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    dst = taps[kh, kw * C + c]
                    for o in range(o0, o1):
                        dst[o] = weight[o, c, kh, kw]


@njit(cache=True, parallel=True)
def taps_to_weight(weight, taps):
    """Inverse of ``weight_to_taps`` (forward taps): ``weight[o, c, kh, kw] = taps[kh, kw*C + c, o]``.

    Parallel over blocks of 16 output channels, as ``weight_to_taps``: each read is a run of
    16 floats and the writes walk 16 weight rows in order. One (o) row at a time read the taps
    a float per cache line: 4.3 ms for a 512-channel 3x3 layer.

    Args:
        weight: output, shape (O, C, KH, KW).
        taps: shape (KH, KW*C, O).
    """
    O, C, KH, KW = weight.shape
    blocks = (O + 15) // 16
    for b in prange(blocks):
        o0, o1 = b * 16, min(b * 16 + 16, O)
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    src = taps[kh, kw * C + c]
                    for o in range(o0, o1):
                        weight[o, c, kh, kw] = src[o]
