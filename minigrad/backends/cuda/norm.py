"""Batch normalization and local response normalization on the GPU, on (N, C, L) arrays.

Batch-norm statistics and gradients are per-channel reductions: one thread block per
channel, each thread folding a strided slice of the channel's N*L values (in float64,
like the CPU kernels), then a shared-memory tree. Normalization and LRN are one thread
per element.
"""

from __future__ import annotations

from numba import cuda, float64

from .launch import MAX_BLOCKS, REDUCE_THREADS, dev, dev_out, launch


__all__ = ["batch_norm_stats", "batch_norm_normalize", "batch_norm_backward", "batch_norm_stats_last",
           "batch_norm_normalize_last", "batch_norm_backward_last", "lrn_forward", "lrn_backward"]

T = REDUCE_THREADS


@cuda.jit(device=True)
def _block_sum(shared, value):
    """Sum ``value`` over the block's threads; every thread gets the total."""
    tid = cuda.threadIdx.x
    shared[tid] = value
    cuda.syncthreads()
    s = T // 2
    while s > 0:
        if tid < s:
            shared[tid] += shared[tid + s]
        cuda.syncthreads()
        s //= 2
    total = shared[0]
    cuda.syncthreads()
    return total


@cuda.jit(cache=True)
def _stats(mean, var, x):
    N, C, L = x.shape
    shared = cuda.shared.array(T, float64)
    tid = cuda.threadIdx.x
    count = N * L
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        acc = 0.0
        for j in range(tid, count, T):
            acc += x[j // L, c, j % L]
        m = _block_sum(shared, acc) / count
        acc = 0.0
        for j in range(tid, count, T):
            d = x[j // L, c, j % L] - m
            acc += d * d
        v = _block_sum(shared, acc) / count
        if tid == 0:
            mean[c] = m
            var[c] = v


@cuda.jit(cache=True)
def _normalize(out, x, mean, invstd, weight, bias):
    N, C, L = x.shape
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        n = i // (C * L)
        c = (i // L) % C
        l = i % L  # noqa: E741
        scale = invstd[c] * weight[c]
        out[n, c, l] = x[n, c, l] * scale + (bias[c] - mean[c] * scale)


@cuda.jit(cache=True)
def _backward(dx, dweight, dbias, dy, x, mean, invstd, weight, batch_stats):
    N, C, L = x.shape
    shared = cuda.shared.array(T, float64)
    tid = cuda.threadIdx.x
    count = N * L
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        m = mean[c]
        s = invstd[c]
        a = 0.0
        b = 0.0
        for j in range(tid, count, T):
            g = dy[j // L, c, j % L]
            a += g
            b += g * (x[j // L, c, j % L] - m) * s
        sum_dy = _block_sum(shared, a)
        sum_dy_xhat = _block_sum(shared, b)
        if tid == 0:
            dbias[c] = sum_dy
            dweight[c] = sum_dy_xhat
        k = weight[c] * s
        mean_dy = sum_dy / count
        mean_dy_xhat = sum_dy_xhat / count
        for j in range(tid, count, T):
            n = j // L
            i = j % L
            if batch_stats:
                xhat = (x[n, c, i] - m) * s
                dx[n, c, i] = k * (dy[n, c, i] - mean_dy - xhat * mean_dy_xhat)
            else:
                dx[n, c, i] = k * dy[n, c, i]


@cuda.jit(cache=True)
def _lrn(out, scale, x, size, alpha, beta, k):
    N, C, L = x.shape
    lo = size // 2
    hi = (size - 1) // 2
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        n = i // (C * L)
        c = (i // L) % C
        l = i % L  # noqa: E741
        acc = 0.0
        for cc in range(max(c - lo, 0), min(c + hi, C - 1) + 1):
            acc += x[n, cc, l] * x[n, cc, l]
        s = k + alpha / size * acc
        scale[n, c, l] = s
        out[n, c, l] = x[n, c, l] * s ** -beta


@cuda.jit(cache=True)
def _lrn_backward(dx, dy, x, scale, size, alpha, beta):
    N, C, L = x.shape
    lo = (size - 1) // 2
    hi = size // 2
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        n = i // (C * L)
        j = (i // L) % C
        l = i % L  # noqa: E741
        acc = 0.0
        for c in range(max(j - lo, 0), min(j + hi, C - 1) + 1):
            acc += dy[n, c, l] * x[n, c, l] * scale[n, c, l] ** (-beta - 1.0)
        dx[n, j, l] = dy[n, j, l] * scale[n, j, l] ** -beta - 2.0 * beta * alpha / size * x[n, j, l] * acc


def batch_norm_stats(mean, var, x):
    """Per-channel mean and biased variance, two passes.

    Formula: ``mean[c] = x[n, c, l].mean(n, l)``, ``var[c] = ((x[n, c, l] - mean[c])**2).mean(n, l)``.

    Args:
        mean, var: float64 outputs, shape (C,).
        x: input, shape (N, C, L).
    """
    d = dev(x)
    _stats[max(1, min(d.shape[1], MAX_BLOCKS)), T](dev_out(mean, "batch_norm_stats"), dev_out(var, "batch_norm_stats"), d)


def batch_norm_normalize(out, x, mean, invstd, weight, bias):
    """``out[n, c, l] = (x[n, c, l] - mean[c]) * invstd[c] * weight[c] + bias[c]``.

    Args:
        out: output, shape (N, C, L).
        x: input, shape (N, C, L).
        mean, invstd, weight, bias: per-channel, shape (C,).
    """
    o = dev_out(out, "batch_norm_normalize")
    launch(_normalize, o.size, o, dev(x), dev(mean), dev(invstd), dev(weight), dev(bias))


def batch_norm_backward(dx, dweight, dbias, dy, x, mean, invstd, weight, batch_stats):
    """Gradients of batch normalization (formulas as the CPU kernel).

    With ``xhat = (x - mean) * invstd`` and M = N*L::

        dbias[c]   = sum(dy[:, c]);   dweight[c] = sum(dy[:, c] * xhat[:, c])
        dx = weight * invstd * (dy - dbias/M - xhat * dweight/M)   (batch statistics)
        dx = weight * invstd * dy                                  (running statistics)

    Args:
        dx: output, shape (N, C, L).
        dweight, dbias: float64 outputs, shape (C,).
        dy: gradient of the output, shape (N, C, L).
        x: the forward's input.
        mean, invstd, weight: per-channel values the forward used.
        batch_stats: 1 when mean and variance were computed from ``x``.
    """
    d = dev(x)
    _backward[max(1, min(d.shape[1], MAX_BLOCKS)), T](dev_out(dx, "batch_norm_backward"), dev_out(dweight, "batch_norm_backward"),
                                                       dev_out(dbias, "batch_norm_backward"), dev(dy), d, dev(mean),
                                                       dev(invstd), dev(weight), int(batch_stats))


# Channels-last (M, C) arrays: one thread per channel walks the M rows; neighbouring threads
# read neighbouring channels of a row, so the loads are coalesced.
@cuda.jit(cache=True)
def _stats_last(mean, var, x):
    M, C = x.shape
    for c in range(cuda.grid(1), C, cuda.gridsize(1)):
        acc = float64(0.0)
        for i in range(M):
            acc += x[i, c]
        m = acc / M
        acc = float64(0.0)
        for i in range(M):
            d = x[i, c] - m
            acc += d * d
        mean[c] = m
        var[c] = acc / M


@cuda.jit(cache=True)
def _normalize_last(out, x, mean, invstd, weight, bias):
    M, C = x.shape
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        r = i // C
        c = i % C
        scale = invstd[c] * weight[c]
        out[r, c] = x[r, c] * scale + (bias[c] - mean[c] * scale)


@cuda.jit(cache=True)
def _backward_sums_last(dweight, dbias, dy, x, mean, invstd):
    M, C = x.shape
    for c in range(cuda.grid(1), C, cuda.gridsize(1)):
        a = float64(0.0)
        b = float64(0.0)
        for i in range(M):
            a += dy[i, c]
            b += dy[i, c] * (x[i, c] - mean[c])
        dbias[c] = a
        dweight[c] = b * invstd[c]


@cuda.jit(cache=True)
def _backward_last(dx, dweight, dbias, dy, x, mean, invstd, weight, batch_stats):
    M, C = x.shape
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        r = i // C
        c = i % C
        xhat = (x[r, c] - mean[c]) * invstd[c]
        g = dy[r, c]
        if batch_stats:
            g = g - dbias[c] / M - xhat * dweight[c] / M
        dx[r, c] = weight[c] * invstd[c] * g


def batch_norm_stats_last(mean, var, x):
    """Per-channel mean and biased variance of channels-last rows (formulas as the CPU kernel).

    Args:
        mean, var: float64 outputs, shape (C,).
        x: input, shape (M, C).
    """
    d = dev(x)
    launch(_stats_last, d.shape[1], dev_out(mean, "batch_norm_stats_last"), dev_out(var, "batch_norm_stats_last"), d)


def batch_norm_normalize_last(out, x, mean, invstd, weight, bias):
    """``out[m, c] = (x[m, c] - mean[c]) * invstd[c] * weight[c] + bias[c]``.

    Args:
        out: output, shape (M, C).
        x: input, shape (M, C).
        mean, invstd, weight, bias: per-channel, shape (C,).
    """
    o = dev_out(out, "batch_norm_normalize_last")
    launch(_normalize_last, o.size, o, dev(x), dev(mean), dev(invstd), dev(weight), dev(bias))


def batch_norm_backward_last(dx, dweight, dbias, dy, x, mean, invstd, weight, batch_stats):
    """Gradients of batch normalization on channels-last rows (formulas as ``batch_norm_backward``).

    Args:
        dx: output, shape (M, C).
        dweight, dbias: float64 outputs, shape (C,).
        dy: gradient of the output, shape (M, C).
        x: the forward's input, shape (M, C).
        mean, invstd, weight: per-channel values the forward used.
        batch_stats: 1 when mean and variance were computed from ``x``.
    """
    d, g, m, s = dev(x), dev(dy), dev(mean), dev(invstd)
    dw, db = dev_out(dweight, "batch_norm_backward_last"), dev_out(dbias, "batch_norm_backward_last")
    launch(_backward_sums_last, d.shape[1], dw, db, g, d, m, s)
    o = dev_out(dx, "batch_norm_backward_last")
    launch(_backward_last, o.size, o, dw, db, g, d, m, s, dev(weight), int(batch_stats))


def lrn_forward(out, scale, x, size, alpha, beta, k):
    """Local response normalization across channels (PyTorch's formula).

    Formula::

        scale[n, c, l] = k + alpha / size * sum(x[n, c', l]**2 for c' in [c - size//2, c + (size-1)//2])
        out[n, c, l]   = x[n, c, l] * scale[n, c, l] ** -beta

    Args:
        out, scale: outputs, shape (N, C, L).
        x: input, shape (N, C, L).
        size, alpha, beta, k: the formula's constants.
    """
    o = dev_out(out, "lrn_forward")
    launch(_lrn, o.size, o, dev_out(scale, "lrn_forward"), dev(x), int(size), float(alpha), float(beta), float(k))


def lrn_backward(dx, dy, x, scale, size, alpha, beta):
    """Gradient of ``lrn_forward`` (formula as the CPU kernel).

    Args:
        dx: output, shape (N, C, L).
        dy: gradient of the output, shape (N, C, L).
        x, scale: the forward's input and saved scale.
        size, alpha, beta: as the forward.
    """
    d = dev_out(dx, "lrn_backward")
    launch(_lrn_backward, d.size, d, dev(dy), dev(x), dev(scale), int(size), float(alpha), float(beta))
