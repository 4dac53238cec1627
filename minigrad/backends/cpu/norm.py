"""Normalization kernels: batch normalization and local response normalization.

Both work on ``(N, C, L)`` arrays (``L`` = H*W for images, 1 for feature vectors).
Batch-norm kernels run ``prange`` over channels (each channel's statistics are
independent); LRN kernels over images (the channel window never crosses images).
"""

import numpy as np
from numba import njit, prange

from .threads import serial_when_small

__all__ = ["batch_norm_stats", "batch_norm_normalize", "batch_norm_backward", "batch_norm_stats_last",
           "batch_norm_normalize_last", "batch_norm_backward_last", "lrn_forward", "lrn_backward"]


@njit(cache=True, inline="always")
def _centered_sums(row, m):
    """``(sum(row - m), sum((row - m)**2))`` in float64.

    Four independent accumulators per sum: one float64 accumulator is a chain of dependent
    additions that LLVM may not reorder without fastmath (which would also drop NaN
    handling), so the loop ran at the adder's latency. Per call of ``batch_norm_stats``,
    batch 64, 2 threads, ms, one accumulator -> four: 64x32x32 7.4 -> 4.6, 128x16x16
    3.8 -> 2.2, 512x4x4 0.55 -> 0.32.
    """
    L = row.size
    a0 = a1 = a2 = a3 = 0.0
    q0 = q1 = q2 = q3 = 0.0
    i = 0
    while i + 4 <= L:
        d0 = row[i] - m
        d1 = row[i + 1] - m
        d2 = row[i + 2] - m
        d3 = row[i + 3] - m
        a0 += d0
        a1 += d1
        a2 += d2
        a3 += d3
        q0 += d0 * d0
        q1 += d1 * d1
        q2 += d2 * d2
        q3 += d3 * d3
        i += 4
    while i < L:
        d = row[i] - m
        a0 += d
        q0 += d * d
        i += 1
    return (a0 + a1) + (a2 + a3), (q0 + q1) + (q2 + q3)


@njit(cache=True, inline="always")
def _gradient_sums(g, row, m):
    """``(sum(g), sum(g * (row - m)))`` in float64, four accumulators each (see ``_centered_sums``).

    ``batch_norm_backward`` per call, batch 64, 2 threads, ms, one accumulator -> four:
    64x32x32 6.4 -> 5.8, 128x16x16 2.8 -> 2.4, 256x8x8 2.4 -> 1.5.
    """
    L = row.size
    a0 = a1 = a2 = a3 = 0.0
    q0 = q1 = q2 = q3 = 0.0
    i = 0
    while i + 4 <= L:
        a0 += g[i]
        a1 += g[i + 1]
        a2 += g[i + 2]
        a3 += g[i + 3]
        q0 += g[i] * (row[i] - m)
        q1 += g[i + 1] * (row[i + 1] - m)
        q2 += g[i + 2] * (row[i + 2] - m)
        q3 += g[i + 3] * (row[i + 3] - m)
        i += 4
    while i < L:
        a0 += g[i]
        q0 += g[i] * (row[i] - m)
        i += 1
    return (a0 + a1) + (a2 + a3), (q0 + q1) + (q2 + q3)


@serial_when_small
@njit(cache=True, parallel=True)
def batch_norm_stats(mean, var, x):
    """Per-channel mean and biased variance, two passes for accuracy.

    Formula: ``mean[c] = x[n, c, l].mean(n, l)``, ``var[c] = ((x[n, c, l] - mean[c])**2).mean(n, l)``.

    Args:
        mean, var: float64 outputs, shape (C,).
        x: input, shape (N, C, L).
    """
    N, C, L = x.shape
    count = N * L
    for c in prange(C):
        acc = 0.0
        for n in range(N):
            acc += _centered_sums(x[n, c], 0.0)[0]
        m = acc / count
        acc = 0.0
        for n in range(N):
            acc += _centered_sums(x[n, c], m)[1]
        mean[c] = m
        var[c] = acc / count


@serial_when_small
@njit(cache=True, parallel=True)
def batch_norm_normalize(out, x, mean, invstd, weight, bias):
    """``out[n, c, l] = (x[n, c, l] - mean[c]) * invstd[c] * weight[c] + bias[c]``.

    Args:
        out: output, shape (N, C, L).
        x: input, shape (N, C, L).
        mean, invstd, weight, bias: per-channel, shape (C,).
    """
    N, C, L = x.shape
    for c in prange(C):
        scale = invstd[c] * weight[c]
        shift = bias[c] - mean[c] * scale
        for n in range(N):
            for i in range(L):
                out[n, c, i] = x[n, c, i] * scale + shift


@serial_when_small
@njit(cache=True, parallel=True)
def batch_norm_backward(dx, dweight, dbias, dy, x, mean, invstd, weight, batch_stats):
    """Gradients of batch normalization.

    With ``xhat = (x - mean) * invstd`` and M = N*L::

        dbias[c]   = sum(dy[:, c])
        dweight[c] = sum(dy[:, c] * xhat[:, c])
        dx = weight * invstd * (dy - dbias/M - xhat * dweight/M)   if the statistics came from the batch
        dx = weight * invstd * dy                                  if they were constants (running stats)

    Args:
        dx: output, shape (N, C, L).
        dweight, dbias: float64 outputs, shape (C,).
        dy: gradient of the output, shape (N, C, L).
        x: the forward's input.
        mean, invstd, weight: per-channel values the forward used.
        batch_stats: 1 when mean and variance were computed from ``x``.
    """
    N, C, L = x.shape
    count = N * L
    for c in prange(C):
        m = mean[c]
        s = invstd[c]
        sum_dy = 0.0
        sum_dy_xc = 0.0
        for n in range(N):
            a, b = _gradient_sums(dy[n, c], x[n, c], m)
            sum_dy += a
            sum_dy_xc += b
        sum_dy_xhat = sum_dy_xc * s
        dbias[c] = sum_dy
        dweight[c] = sum_dy_xhat
        k = weight[c] * s
        if batch_stats:
            mean_dy = sum_dy / count
            mean_dy_xhat = sum_dy_xhat / count
            for n in range(N):
                for i in range(L):
                    xhat = (x[n, c, i] - m) * s
                    dx[n, c, i] = k * (dy[n, c, i] - mean_dy - xhat * mean_dy_xhat)
        else:
            for n in range(N):
                for i in range(L):
                    dx[n, c, i] = k * dy[n, c, i]


# Channels-last batch norm: x is (M, C), M = N*H*W, channels contiguous. Threads take blocks of
# rows and accumulate per-channel partial sums (float64 rows of ``partial``, vectorised over C),
# added up in a fixed order afterwards, so results don't depend on the thread count. Indexing
# ``partial[t, c]`` directly, and reading per-channel values from arrays allocated here (no
# possible aliasing with the outputs), is what lets LLVM vectorise: views and output arrays in
# the inner loop made the kernels 10-300x slower.
_ROW_BLOCKS = 64


@njit(cache=True)
def _column_sums(partial):
    """Sum of the rows of ``partial``, in a fixed order."""
    blocks, C = partial.shape
    total = np.zeros(C)
    for t in range(blocks):
        for c in range(C):
            total[c] += partial[t, c]
    return total


@serial_when_small
@njit(cache=True, parallel=True)
def batch_norm_stats_last(mean, var, x):
    """Per-channel mean and biased variance of a channels-last input, two passes for accuracy.

    Formula: ``mean[c] = x[:, c].mean()``, ``var[c] = ((x[:, c] - mean[c])**2).mean()``.

    Args:
        mean, var: float64 outputs, shape (C,).
        x: input, shape (M, C) (the rows of an NHWC array).
    """
    M, C = x.shape
    blocks = min(M, _ROW_BLOCKS)
    partial = np.zeros((blocks, C))
    for t in prange(blocks):
        for i in range(t * M // blocks, (t + 1) * M // blocks):
            for c in range(C):
                partial[t, c] += x[i, c]
    m = _column_sums(partial) / M
    partial[:] = 0.0
    for t in prange(blocks):
        for i in range(t * M // blocks, (t + 1) * M // blocks):
            for c in range(C):
                d = x[i, c] - m[c]
                partial[t, c] += d * d
    v = _column_sums(partial) / M
    for c in range(C):
        mean[c] = m[c]
        var[c] = v[c]


@serial_when_small
@njit(cache=True, parallel=True)
def batch_norm_normalize_last(out, x, mean, invstd, weight, bias):
    """``out[m, c] = (x[m, c] - mean[c]) * invstd[c] * weight[c] + bias[c]`` (channels last).

    Args:
        out: output, shape (M, C).
        x: input, shape (M, C).
        mean, invstd, weight, bias: per-channel, shape (C,).
    """
    M, C = x.shape
    scale = invstd * weight
    shift = bias - mean * scale
    for i in prange(M):
        for c in range(C):
            out[i, c] = x[i, c] * scale[c] + shift[c]


@serial_when_small
@njit(cache=True, parallel=True)
def batch_norm_backward_last(dx, dweight, dbias, dy, x, mean, invstd, weight, batch_stats):
    """Gradients of batch normalization, channels last; formulas as ``batch_norm_backward``.

    Args:
        dx: output, shape (M, C).
        dweight, dbias: float64 outputs, shape (C,).
        dy: gradient of the output, shape (M, C).
        x: the forward's input, shape (M, C).
        mean, invstd, weight: per-channel values the forward used.
        batch_stats: 1 when mean and variance were computed from ``x``.
    """
    M, C = x.shape
    blocks = min(M, _ROW_BLOCKS)
    m = mean.copy()
    partial_dy = np.zeros((blocks, C))
    partial_dy_xc = np.zeros((blocks, C))
    for t in prange(blocks):
        for i in range(t * M // blocks, (t + 1) * M // blocks):
            for c in range(C):
                g = dy[i, c]
                partial_dy[t, c] += g
                partial_dy_xc[t, c] += g * (x[i, c] - m[c])
    sum_dy = _column_sums(partial_dy)
    sum_dy_xhat = _column_sums(partial_dy_xc) * invstd
    s = invstd.copy()
    k = weight * invstd
    mean_dy = sum_dy / M * batch_stats
    mean_dy_xhat = sum_dy_xhat / M * batch_stats
    for c in range(C):
        dbias[c] = sum_dy[c]
        dweight[c] = sum_dy_xhat[c]
    for i in prange(M):
        for c in range(C):
            xhat = (x[i, c] - m[c]) * s[c]
            dx[i, c] = k[c] * (dy[i, c] - mean_dy[c] - xhat * mean_dy_xhat[c])


@serial_when_small
@njit(cache=True, parallel=True)
def lrn_forward(out, scale, x, size, alpha, beta, k):
    """Local response normalization across channels (PyTorch's formula, AlexNet's original).

    Formula::

        scale[n, c, l] = k + alpha / size * sum(x[n, c', l]**2 for c' in [c - size//2, c + (size-1)//2])
        out[n, c, l]   = x[n, c, l] * scale[n, c, l] ** -beta

    Args:
        out: output, shape (N, C, L).
        scale: output kept for the backward, shape (N, C, L).
        x: input, shape (N, C, L).
        size: number of neighbouring channels in the window.
        alpha, beta, k: the formula's constants.
    """
    N, C, L = x.shape
    lo, hi = size // 2, (size - 1) // 2
    for n in prange(N):
        for c in range(C):
            c0, c1 = max(c - lo, 0), min(c + hi, C - 1)
            for i in range(L):
                acc = 0.0
                for cc in range(c0, c1 + 1):
                    acc += x[n, cc, i] * x[n, cc, i]
                s = k + alpha / size * acc
                scale[n, c, i] = s
                out[n, c, i] = x[n, c, i] * s ** -beta


@serial_when_small
@njit(cache=True, parallel=True)
def lrn_backward(dx, dy, x, scale, size, alpha, beta):
    """Gradient of ``lrn_forward``.

    Channel j is in the window of channel c when c - size//2 <= j <= c + (size-1)//2, so::

        dx[n, j, l] = dy[n, j, l] * scale[n, j, l]**-beta
                      - 2 * beta * alpha / size * x[n, j, l]
                        * sum(dy[n, c, l] * x[n, c, l] * scale[n, c, l]**(-beta-1)
                              for c in [j - (size-1)//2, j + size//2])

    Args:
        dx: output, shape (N, C, L).
        dy: gradient of the output, shape (N, C, L).
        x, scale: the forward's input and saved scale.
        size, alpha, beta: as the forward.
    """
    N, C, L = x.shape
    lo, hi = (size - 1) // 2, size // 2
    for n in prange(N):
        for j in range(C):
            c0, c1 = max(j - lo, 0), min(j + hi, C - 1)
            for i in range(L):
                acc = 0.0
                for c in range(c0, c1 + 1):
                    acc += dy[n, c, i] * x[n, c, i] * scale[n, c, i] ** (-beta - 1.0)
                dx[n, j, i] = dy[n, j, i] * scale[n, j, i] ** -beta - 2.0 * beta * alpha / size * x[n, j, i] * acc
