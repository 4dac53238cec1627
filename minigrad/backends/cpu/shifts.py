"""Shifts: a stride-1 convolution as one accumulating GEMM per kernel tap, the batch inside each image row.

The course writes a convolution as a sum over the kernel's taps of shifted images::

    out[n, oh, ow, :] = sum_{kh, kw} x[n, oh + kh*dh - ph, ow + kw*dw - pw, :] @ W[:, :, kh, kw]^T

Stored (H, W, N, C), "the batch inside the image row", a shift of the image by whole pixels
is a shift of its row index by a multiple of N: for one output row ``oh`` the rows
``(oh, ow, n)`` of a tap, over its valid ``ow`` and every image, are one contiguous block of
``(ow1 - ow0) * N`` rows, and so are the input rows they read. Each tap is then a GEMM on
blocks of the image as stored, adding into the output (BLAS's ``beta = 1``, ``cblas.py``);
a tap whose valid columns are all of them (the kernel's centre column of a 'same'
convolution) is one GEMM over all its output rows at once.

Nothing is unfolded, and the products that padding would turn into zeros are never
computed: on ResNet's 4x4 layers (512 channels) they are 31% of im2row's, on 8x8 16%. The
price is K = C per GEMM instead of KH*KW*C, so the output is read and written once per tap;
with 256 channels or more that costs less than it saves. One 3x3 layer, batch 64, 2 threads,
forward + dX + dW against im2row's (ms, medians of 9): 4x4x512 31.6 vs 57, 8x8x256 39 vs 52;
16x16x128 73 vs the strips' 60, which keep that size (``conv_plan.py``).

The input gradient is the same sum with the roles of the blocks swapped,
``dx[in rows] += dy[out rows] @ W[:, :, kh, kw]``, and the weight gradient of a tap is the sum over its
blocks of ``x[in rows]^T @ dy[out rows]``. ``swap_leading_axes`` moves images between NHWC
and this order.
"""

from __future__ import annotations

from functools import lru_cache

from numba import njit, prange

from .cblas import gemm_accumulate
from .threads import serial_when_small

__all__ = ["swap_leading_axes", "shift_blocks", "shift_conv", "shift_weight_grad"]


@serial_when_small
@njit(cache=True, parallel=True)
def swap_leading_axes(dst, src):
    """``dst[j, i, :] = src[i, j, :]``: (N, H*W, C) images to (H*W, N, C) and back.

    Parallel over ``dst``'s rows, which are written in order; each copies C contiguous floats.

    Args:
        dst: output, shape (J, I, C), C-contiguous.
        src: shape (I, J, C), rows of C contiguous floats.
    """
    I, J, C = src.shape
    for p in prange(J * I):
        j = p // I
        i = p % I
        d = dst[j, i]
        s = src[i, j]
        for c in range(C):
            d[c] = s[c]


@lru_cache(maxsize=256)
def shift_blocks(geometry, input_hw, batch):
    """The GEMMs of a stride-1 convolution on (H, W, N, C) images: ``(kh, kw, out_row, in_row, rows)``.

    Block ``(kh, kw, o, i, m)`` multiplies input rows ``i : i + m`` (of the (H*W*N, C) matrix)
    by the tap ``W[:, :, kh, kw]^T`` into output rows ``o : o + m`` (of (OH*OW*N, O)). A tap
    is one block when its valid columns are all of them and the output is as wide as the
    input, else one block per output row. Largest blocks first: the forward's first block
    overwrites the output when it covers all of it.

    Args:
        geometry: ``conv_geometry``'s tuple, stride 1.
        input_hw: (H, W).
        batch: N.
    """
    KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
    H, W = input_hw
    N = batch
    blocks = []
    if N == 0:  # an empty batch: nothing to multiply
        return ()
    for kh in range(KH):
        rise = kh * dh - ph  # input row = output row + rise
        oh0, oh1 = max(0, -rise), min(OH, H - rise)
        for kw in range(KW):
            shift = kw * dw - pw
            ow0, ow1 = max(0, -shift), min(OW, W - shift)
            if oh1 <= oh0 or ow1 <= ow0:
                continue
            if ow0 == 0 and ow1 == OW == W and shift == 0:
                blocks.append((kh, kw, oh0 * OW * N, (oh0 + rise) * W * N, (oh1 - oh0) * OW * N))
                continue
            for oh in range(oh0, oh1):
                blocks.append((kh, kw, (oh * OW + ow0) * N, ((oh + rise) * W + ow0 + shift) * N, (ow1 - ow0) * N))
    blocks.sort(key=lambda b: -b[4])
    return tuple(blocks)


def shift_conv(dst, src, taps, blocks, adjoint):
    """The forward (``dst`` = output) or, ``adjoint``, the input gradient (``dst`` = dX) of a shift convolution.

    Plain sums::

        forward: out[o : o+m] += x[i : i+m] @ taps[kh, kw]        for each block
        adjoint: dx[i : i+m]  += dy[o : o+m] @ taps[kh, kw]

    ``dst`` is overwritten: by its first block when that covers all of it, else zeroed first.

    Args:
        dst: output, shape (rows, channels), C-contiguous: (OH*OW*N, O), adjoint (H*W*N, C).
        src: (H*W*N, C), adjoint (OH*OW*N, O).
        taps: (KH, KW, C, O), ``taps[kh, kw, c, o] = W[o, c, kh, kw]`` (``strips.weight_to_taps``'s
            layout); adjoint (KH, KW, O, C), ``taps[kh, kw, o, c] = W[o, c, kh, kw]``. Each tap's
            rows contiguous.
        blocks: ``shift_blocks``'s tuple.
        adjoint: compute dX from dY.
    """
    first = 0.0
    if not blocks or blocks[0][3 if adjoint else 2] != 0 or blocks[0][4] != dst.shape[0]:
        dst[...] = 0
        first = 1.0
    for b, (kh, kw, o, i, m) in enumerate(blocks):
        beta = first if b == 0 else 1.0
        if adjoint:
            gemm_accumulate(dst[i:i + m], src[o:o + m], taps[kh, kw], beta)
        else:
            gemm_accumulate(dst[o:o + m], src[i:i + m], taps[kh, kw], beta)


def shift_weight_grad(dtaps, x, dy, blocks):
    """``dtaps[kh, kw] = sum over the tap's blocks of x[i : i+m]^T @ dy[o : o+m]``.

    Args:
        dtaps: output, shape (KH, KW, C, O); a tap with no block (it only ever reads padding) is zero.
        x: the input, (H*W*N, C).
        dy: the output gradient, (OH*OW*N, O).
        blocks: ``shift_blocks``'s tuple.
    """
    seen = set()
    for kh, kw, o, i, m in blocks:
        gemm_accumulate(dtaps[kh, kw], x[i:i + m].T, dy[o:o + m], 1.0 if (kh, kw) in seen else 0.0)
        seen.add((kh, kw))
    for kh in range(dtaps.shape[0]):
        for kw in range(dtaps.shape[1]):
            if (kh, kw) not in seen:
                dtaps[kh, kw] = 0
