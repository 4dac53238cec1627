"""Direct convolution, no lowering: the kernels for layers with a handful of channels.

im2col (or im2row) copies every input value KH*KW times before one GEMM. With few
channels that GEMM is skinny (LeNet-5: 6 or 16 output columns) and runs far below the BLAS
peak, so the copy and the GEMM cost more than the arithmetic itself (LeNet-5's conv1 at
batch 64 on 2 cores: im2col 1.4 ms + GEMM 0.8 ms). These kernels compute the
convolution from the padded image in place.

The "wide rows" trick (stride 1): pad each image plane to ``Hp x Wp`` and flatten it.
Compute every output row over the full padded width, ``out_wide[i*Wp + j]`` for
``j < Wp`` instead of ``j < OW``. Then each kernel tap is one multiply-add of a
contiguous slice of the padded plane into the accumulator::

    out_wide[o, q] = b[o] + sum_{c, kh, kw} W[o, c, kh, kw] * xp[c, kh*dh*Wp + kw*dw + q]
                     for q in [0, OH*Wp)

LLVM vectorises this loop, and the accumulator and plane stay in L1. The columns
``j >= OW`` read across row ends. They are garbage and are dropped when the row is
copied out, so ``Wp - OW`` of every ``Wp`` lanes are wasted. That is small for LeNet's
5x5 kernels on 28-wide rows. Taps go eight at a time, so the accumulator is loaded and
stored once per eight multiply-adds, and output channels go in pairs, so each slice of the
image read feeds two accumulators.

Runs (round 5): the images of a run, up to eight, sit side by side in one wide plane,
``Hp x RW``, and neighbours share the zero columns between them (``_image_stride``). A
row of the run is then one long vector loop instead of eight short ones (LeNet-5's conv2
has 140 wide positions per image: the loop's remainder and set-up cost as much as its
body), and where the padding is as wide as the kernel's span (the dX pass of a valid
convolution) no column is garbage at all. LeNet-5 at batch 64, one thread, medians of 300
calls, old and new kernels shuffled (load 1.6-1.8): conv2 forward 0.45 -> 0.29 ms, its dX
0.65 -> 0.44 ms, conv1 forward 0.17 -> 0.16 ms.

The weight gradient is the same sum read the other way: per tap, a dot product of the
output gradient (packed the same way, with zeros in the garbage columns) with the run's
slice. Output channels go four at a time (each slice read feeds four dot products); conv2
dW 0.50 -> 0.30 ms, conv1 dW 0.20 -> 0.18 ms (same measurement; 0.17 -> 0.16 ms more with
its last two of six channels as a pair, not a quad with two copies).
The input gradient is a forward pass of this kernel: a stride-1 convolution's dX is the
correlation of dY, padded by ``dh*(KH-1) - ph``, with the kernel flipped and its
in/out channels swapped (``minigrad.ops.conv_direct``).

Only stride 1: a strided convolution's taps are not contiguous slices.
"""

import numpy as np
from numba import njit, prange

__all__ = ["conv2d_direct", "conv2d_direct_weight_grad"]

# At most this many images side by side in one run: a run's padded input must stay in L2
# (LeNet-5's conv2 dX at 8 images: 16 planes of 18 x 144 floats, 166 KB).
_RUN_IMAGES = 8


@njit(cache=True, inline="always")
def _runs(N):
    """Number of runs of at most ``_RUN_IMAGES`` images, and at least 8 (threads to balance) when N allows.

    A fixed count rather than one per thread: numba.get_num_threads() in a kernel stops Numba
    from caching it. Eight runs balance any thread count up to 8.
    """
    return max(min(N, 8), (N + _RUN_IMAGES - 1) // _RUN_IMAGES)


@njit(cache=True, inline="always")
def _image_stride(W, OW, Wp, pw):
    """Columns between the images of a run: neighbours share the zero columns between them.

    Image ``k``'s ``Hp x Wp`` block starts at column ``k*S``; its windows read only that block,
    so a neighbour may overlap the block where both are zero padding. ``S`` is the smallest
    stride at which neither neighbour's data enters the block and the outputs do not overlap.
    LeNet-5's conv2 dX (dY 10 wide, padded by 4 to 18): ``S = 14 = OW``, no garbage column at
    all, where ``S = Wp`` wasted 4 of every 18; conv1 (28 wide, padding 2): 30 instead of 32.
    """
    first = max(pw, 0)             # the block's first data column
    end = min(pw + W, Wp)          # one past its last
    return max(OW, end, Wp - first)


@njit(cache=True, inline="always")
def _pack_run(xs, images, ph, pw, Hp, Wp, S, RW, plane):
    """Copy ``images`` (K, C, H, W) side by side into the zeroed flat ``xs``: channel ``c`` is a
    ``Hp x RW`` plane at ``c * plane``, image ``k`` its ``Hp x Wp`` block at column ``k*S``
    (``_image_stride``), placed at row/column offset (ph, pw) in it.

    The offsets may be negative and an image may stick out of its ``Hp x Wp`` block: what
    falls outside is cropped (a dX pass pads dY by ``dh*(KH-1) - ph``, which is negative when
    the padding exceeds the kernel's span).
    """
    K, C, H, W = images.shape
    i0, i1 = max(0, -ph), min(H, Hp - ph)
    j0, j1 = max(0, -pw), min(W, Wp - pw)
    for k in range(K):
        for c in range(C):
            for i in range(i0, i1):
                # Slices start at the first column kept: a negative start would count from the end.
                dst = xs[c * plane + (i + ph) * RW + k * S + pw + j0:]
                src = images[k, c, i, j0:j1]
                for j in range(j1 - j0):
                    dst[j] = src[j]


@njit(cache=True, inline="always")
def _tap_offsets(C, KH, KW, dh, dw, plane, RW):
    """Offset in the flat packed run of each tap ``(c, kh, kw)``, in the weight's order."""
    offsets = np.empty(C * KH * KW, np.int64)
    for c in range(C):
        for kh in range(KH):
            for kw in range(KW):
                offsets[(c * KH + kh) * KW + kw] = c * plane + kh * dh * RW + kw * dw
    return offsets


# contract: multiply-adds become FMAs (rounded once; NaN and Inf propagate as without it).
@njit(cache=True, parallel=True, fastmath={"contract"})
def conv2d_direct(out, x, weight, bias, ph, pw, dh, dw):
    """Stride-1 cross-correlation computed directly on the padded image.

    Plain loop::

        out[n, o, i, j] = bias[o] + sum_{c, kh, kw} weight[o, c, kh, kw] * x[n, c, i - ph + kh*dh, j - pw + kw*dw]

    with ``x`` zero outside the image. The padded size follows from the output's:
    ``Hp = OH + dh*(KH-1)``, so the bottom/right padding may differ from ``ph``/``pw``
    (``padding='same'`` with an even kernel), and ``ph``/``pw`` may be negative (cropping).

    Args:
        out: output, shape (N, O, OH, OW), C-contiguous.
        x: input, shape (N, C, H, W).
        weight: shape (O, C, KH, KW), C-contiguous.
        bias: shape (O,) (zeros for none).
        ph, pw: top and left padding.
        dh, dw: dilation.
    """
    N, C = x.shape[0], x.shape[1]
    O, _, KH, KW = weight.shape
    OH, OW = out.shape[2], out.shape[3]
    Hp, Wp = OH + dh * (KH - 1), OW + dw * (KW - 1)
    T = C * KH * KW
    taps = weight.reshape(O, T)
    runs = _runs(N)
    for r in prange(runs):
        n0, n1 = r * N // runs, (r + 1) * N // runs
        S = _image_stride(x.shape[3], OW, Wp, pw)
        RW = (n1 - n0 - 1) * S + Wp  # the run's row: its images side by side
        plane = Hp * RW
        Q = OH * RW
        offsets = _tap_offsets(C, KH, KW, dh, dw, plane, RW)
        # The last channel's garbage columns read up to (KW-1)*dw past its plane.
        xs = np.zeros(C * plane + (KW - 1) * dw, out.dtype)
        _pack_run(xs, x[n0:n1], ph, pw, Hp, Wp, S, RW, plane)
        acc = np.empty(Q, out.dtype)
        acc_next = np.empty(Q, out.dtype)
        # Output channels in pairs: each slice of the image read feeds two accumulators.
        # With an odd O the last pair is one channel twice (and written once).
        for o in range(0, O, 2):
            p = min(o + 1, O - 1)
            # The first pass writes the accumulators (bias plus the taps that do not fill a
            # block of eight), so no pass only loads and stores them for one or two taps:
            # conv1 (25 taps) is 1 + 3 x 8, conv2 (150) 4 + 18 x 8 + 2.
            b0, b1 = bias[o], bias[p]
            if T % 8 >= 4:
                w0, w1, w2, w3 = taps[o, 0], taps[o, 1], taps[o, 2], taps[o, 3]
                v0, v1, v2, v3 = taps[p, 0], taps[p, 1], taps[p, 2], taps[p, 3]
                s0 = xs[offsets[0]:offsets[0] + Q]
                s1 = xs[offsets[1]:offsets[1] + Q]
                s2 = xs[offsets[2]:offsets[2] + Q]
                s3 = xs[offsets[3]:offsets[3] + Q]
                for q in range(Q):
                    a, b, c, d = s0[q], s1[q], s2[q], s3[q]
                    acc[q] = b0 + (w0 * a + w1 * b + w2 * c + w3 * d)
                    acc_next[q] = b1 + (v0 * a + v1 * b + v2 * c + v3 * d)
                t = 4
            elif T % 8 >= 1:
                w0, v0 = taps[o, 0], taps[p, 0]
                s0 = xs[offsets[0]:offsets[0] + Q]
                for q in range(Q):
                    acc[q] = b0 + w0 * s0[q]
                    acc_next[q] = b1 + v0 * s0[q]
                t = 1
            else:
                acc[:] = b0
                acc_next[:] = b1
                t = 0
            while t + 8 <= T:
                w0, w1, w2, w3 = taps[o, t], taps[o, t + 1], taps[o, t + 2], taps[o, t + 3]
                w4, w5, w6, w7 = taps[o, t + 4], taps[o, t + 5], taps[o, t + 6], taps[o, t + 7]
                v0, v1, v2, v3 = taps[p, t], taps[p, t + 1], taps[p, t + 2], taps[p, t + 3]
                v4, v5, v6, v7 = taps[p, t + 4], taps[p, t + 5], taps[p, t + 6], taps[p, t + 7]
                s0 = xs[offsets[t]:offsets[t] + Q]
                s1 = xs[offsets[t + 1]:offsets[t + 1] + Q]
                s2 = xs[offsets[t + 2]:offsets[t + 2] + Q]
                s3 = xs[offsets[t + 3]:offsets[t + 3] + Q]
                s4 = xs[offsets[t + 4]:offsets[t + 4] + Q]
                s5 = xs[offsets[t + 5]:offsets[t + 5] + Q]
                s6 = xs[offsets[t + 6]:offsets[t + 6] + Q]
                s7 = xs[offsets[t + 7]:offsets[t + 7] + Q]
                for q in range(Q):
                    a, b, c, d = s0[q], s1[q], s2[q], s3[q]
                    e, f, g, h = s4[q], s5[q], s6[q], s7[q]
                    acc[q] += (w0 * a + w1 * b + w2 * c + w3 * d) + (w4 * e + w5 * f + w6 * g + w7 * h)
                    acc_next[q] += (v0 * a + v1 * b + v2 * c + v3 * d) + (v4 * e + v5 * f + v6 * g + v7 * h)
                t += 8
            while t + 4 <= T:
                w0, w1, w2, w3 = taps[o, t], taps[o, t + 1], taps[o, t + 2], taps[o, t + 3]
                v0, v1, v2, v3 = taps[p, t], taps[p, t + 1], taps[p, t + 2], taps[p, t + 3]
                s0 = xs[offsets[t]:offsets[t] + Q]
                s1 = xs[offsets[t + 1]:offsets[t + 1] + Q]
                s2 = xs[offsets[t + 2]:offsets[t + 2] + Q]
                s3 = xs[offsets[t + 3]:offsets[t + 3] + Q]
                for q in range(Q):
                    a, b, c, d = s0[q], s1[q], s2[q], s3[q]
                    acc[q] += w0 * a + w1 * b + w2 * c + w3 * d
                    acc_next[q] += v0 * a + v1 * b + v2 * c + v3 * d
                t += 4
            for t in range(t, T):
                w0, v0 = taps[o, t], taps[p, t]
                s0 = xs[offsets[t]:offsets[t] + Q]
                for q in range(Q):
                    acc[q] += w0 * s0[q]
                    acc_next[q] += v0 * s0[q]
            for k in range(n1 - n0):
                for i in range(OH):
                    row, row_next = acc[i * RW + k * S:], acc_next[i * RW + k * S:]
                    dst, dst_next = out[n0 + k, o, i], out[n0 + k, p, i]
                    for j in range(OW):
                        dst[j] = row[j]
                        dst_next[j] = row_next[j]


# reassoc lets LLVM vectorise the dot products (a sum in another order), contract makes FMAs;
# NaN and Inf still propagate, as without fastmath.
@njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
def conv2d_direct_weight_grad(dweight, x, grad, ph, pw, dh, dw):
    """Weight gradient of ``conv2d_direct``: the kernel is shared by all positions, so it sums over them.

    Plain loop::

        dweight[o, c, kh, kw] = sum_{n, i, j} grad[n, o, i, j] * x[n, c, i - ph + kh*dh, j - pw + kw*dw]

    Per tap, a dot product of dY with a shifted slice of the packed run of images (side by
    side, as in the forward), so that each dot product runs over the whole run: per image,
    LeNet-5's conv2 has only 140 wide positions, and the horizontal sums of short vector
    loops took longer than the products. dY is packed the same way, with zeros in the garbage
    columns. Runs go in parallel, each into its own copy of dW, and the copies are added at
    the end.

    A garbage position multiplies a zero of dY with whatever input it reads, and 0 * Inf is
    NaN: a run whose input is not all finite takes the plain loop instead.

    Args:
        dweight: output, shape (O, C, KH, KW), C-contiguous; overwritten.
        x: the forward's input, shape (N, C, H, W).
        grad: gradient of the output, shape (N, O, OH, OW).
        ph, pw: top and left padding.
        dh, dw: dilation.
    """
    N, C = x.shape[0], x.shape[1]
    O, _, KH, KW = dweight.shape
    OH, OW = grad.shape[2], grad.shape[3]
    Hp, Wp = OH + dh * (KH - 1), OW + dw * (KW - 1)
    T = C * KH * KW
    runs = _runs(N)
    # No array expressions outside the prange: each would be a parallel region of its own, and
    # waking the sleeping workers costs ~0.1 ms a region here (np.zeros and the final sum made
    # LeNet-5's conv1 dW 0.55 ms on 2 threads against 0.2 ms on one; 2 cores, load 1.7).
    partial = np.empty((runs, O, T), dweight.dtype)
    for r in prange(runs):
        n0, n1 = r * N // runs, (r + 1) * N // runs
        S = _image_stride(x.shape[3], OW, Wp, pw)
        RW = (n1 - n0 - 1) * S + Wp
        plane = Hp * RW
        # Up to the last image's last output: the garbage columns past it read nothing useful.
        Q = (OH - 1) * RW + (n1 - n0 - 1) * S + OW
        offsets = _tap_offsets(C, KH, KW, dh, dw, plane, RW)
        xs = np.zeros(C * plane + (KW - 1) * dw, dweight.dtype)
        dys = np.zeros(O * OH * RW, dweight.dtype)
        _pack_run(xs, x[n0:n1], ph, pw, Hp, Wp, S, RW, plane)
        _pack_run(dys, grad[n0:n1], 0, 0, OH, Wp, S, RW, OH * RW)
        sums = partial[r]
        for o in range(O):
            for t in range(T):
                sums[o, t] = 0
        if not np.all(np.isfinite(x[n0:n1])):
            for o in range(O):
                for t in range(T):
                    for k in range(n1 - n0):
                        for i in range(OH):
                            for j in range(OW):
                                q = i * RW + k * S + j
                                sums[o, t] += dys[o * OH * RW + q] * xs[offsets[t] + q]
            continue
        # Output channels four at a time: each slice read feeds four dot products (conv2 dW
        # 0.36 -> 0.30 ms against pairs). The last one to three channels go in pairs below.
        quads = O - O % 4
        for o in range(0, quads, 4):
            o1, o2, o3 = o + 1, o + 2, o + 3
            d0 = dys[o * OH * RW:o * OH * RW + Q]
            d1 = dys[o1 * OH * RW:o1 * OH * RW + Q]
            d2 = dys[o2 * OH * RW:o2 * OH * RW + Q]
            d3 = dys[o3 * OH * RW:o3 * OH * RW + Q]
            t = 0
            while t + 4 <= T:
                s0 = xs[offsets[t]:offsets[t] + Q]
                s1 = xs[offsets[t + 1]:offsets[t + 1] + Q]
                s2 = xs[offsets[t + 2]:offsets[t + 2] + Q]
                s3 = xs[offsets[t + 3]:offsets[t + 3] + Q]
                # Zeros of the array's type (sums is zero here; a literal 0.0 would make them float64).
                a0 = a1 = a2 = a3 = sums[o, t]
                b0 = b1 = b2 = b3 = a0
                c0 = c1 = c2 = c3 = a0
                e0 = e1 = e2 = e3 = a0
                for q in range(Q):
                    x0, x1, x2, x3 = s0[q], s1[q], s2[q], s3[q]
                    g0, g1, g2, g3 = d0[q], d1[q], d2[q], d3[q]
                    a0 += g0 * x0
                    a1 += g0 * x1
                    a2 += g0 * x2
                    a3 += g0 * x3
                    b0 += g1 * x0
                    b1 += g1 * x1
                    b2 += g1 * x2
                    b3 += g1 * x3
                    c0 += g2 * x0
                    c1 += g2 * x1
                    c2 += g2 * x2
                    c3 += g2 * x3
                    e0 += g3 * x0
                    e1 += g3 * x1
                    e2 += g3 * x2
                    e3 += g3 * x3
                sums[o, t], sums[o, t + 1], sums[o, t + 2], sums[o, t + 3] = a0, a1, a2, a3
                sums[o1, t], sums[o1, t + 1], sums[o1, t + 2], sums[o1, t + 3] = b0, b1, b2, b3
                sums[o2, t], sums[o2, t + 1], sums[o2, t + 2], sums[o2, t + 3] = c0, c1, c2, c3
                sums[o3, t], sums[o3, t + 1], sums[o3, t + 2], sums[o3, t + 3] = e0, e1, e2, e3
                t += 4
            for t in range(t, T):
                s0 = xs[offsets[t]:offsets[t] + Q]
                a0 = b0 = c0 = e0 = sums[o, t]
                for q in range(Q):
                    a0 += d0[q] * s0[q]
                    b0 += d1[q] * s0[q]
                    c0 += d2[q] * s0[q]
                    e0 += d3[q] * s0[q]
                sums[o, t], sums[o1, t], sums[o2, t], sums[o3, t] = a0, b0, c0, e0
        # With an odd count the last pair is one channel twice (and written twice, the same sums).
        for o in range(quads, O, 2):
            p = min(o + 1, O - 1)
            d0 = dys[o * OH * RW:o * OH * RW + Q]
            d1 = dys[p * OH * RW:p * OH * RW + Q]
            t = 0
            while t + 4 <= T:
                s0 = xs[offsets[t]:offsets[t] + Q]
                s1 = xs[offsets[t + 1]:offsets[t + 1] + Q]
                s2 = xs[offsets[t + 2]:offsets[t + 2] + Q]
                s3 = xs[offsets[t + 3]:offsets[t + 3] + Q]
                a0 = a1 = a2 = a3 = sums[o, t]
                b0 = b1 = b2 = b3 = a0
                for q in range(Q):
                    x0, x1, x2, x3 = s0[q], s1[q], s2[q], s3[q]
                    g0, g1 = d0[q], d1[q]
                    a0 += g0 * x0
                    a1 += g0 * x1
                    a2 += g0 * x2
                    a3 += g0 * x3
                    b0 += g1 * x0
                    b1 += g1 * x1
                    b2 += g1 * x2
                    b3 += g1 * x3
                sums[o, t], sums[o, t + 1], sums[o, t + 2], sums[o, t + 3] = a0, a1, a2, a3
                sums[p, t], sums[p, t + 1], sums[p, t + 2], sums[p, t + 3] = b0, b1, b2, b3
                t += 4
            for t in range(t, T):
                s0 = xs[offsets[t]:offsets[t] + Q]
                a0 = b0 = sums[o, t]
                for q in range(Q):
                    a0 += d0[q] * s0[q]
                    b0 += d1[q] * s0[q]
                sums[o, t], sums[p, t] = a0, b0
    flat = dweight.reshape(O, T)
    for o in range(O):
        for t in range(T):
            total = partial[0, o, t]
            for r in range(1, runs):
                total += partial[r, o, t]
            flat[o, t] = total
