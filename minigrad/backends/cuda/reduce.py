"""Row reductions on the GPU: one thread block per row of an (M, K) matrix.

Any NumPy reduction over some axes becomes a reduction over the rows of a matrix once
the reduced axes are moved last (``CudaArray`` does that). Per row::

    out[m] = combine(x[m, 0], x[m, 1], ..., x[m, K-1])

Each thread folds a strided slice of the row (coalesced: neighbouring threads read
neighbouring elements), then the block combines the partial results in shared memory
as a binary tree. Sums are therefore pairwise-like, not sequential, as NumPy's are.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, from_dtype

from .launch import MAX_BLOCKS, REDUCE_THREADS

__all__ = []

T = REDUCE_THREADS


@cuda.jit(device=True)
def _add(a, b):
    return a + b


@cuda.jit(device=True)
def _max(a, b):
    # NaN wins, as in NumPy's max.
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


@cuda.jit(device=True)
def _min(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a <= b else b


COMBINE = {"sum": _add, "max": _max, "min": _min}
_cache = {}


def _make(combine, nbtype):
    @cuda.jit
    def reduce_rows(out, x, K, init):
        shared = cuda.shared.array(T, nbtype)
        tid = cuda.threadIdx.x
        for row in range(cuda.blockIdx.x, out.size, cuda.gridDim.x):
            acc = init
            base = row * K
            for j in range(tid, K, T):
                acc = combine(acc, x[base + j])
            shared[tid] = acc
            cuda.syncthreads()
            s = T // 2
            while s > 0:
                if tid < s:
                    shared[tid] = combine(shared[tid], shared[tid + s])
                cuda.syncthreads()
                s //= 2
            if tid == 0:
                out[row] = shared[0]
            cuda.syncthreads()

    return reduce_rows


def _make_arg(is_max, nbtype):
    @cuda.jit
    def arg_rows(out, x, K, init):
        vals = cuda.shared.array(T, nbtype)
        idxs = cuda.shared.array(T, np.int64)
        tid = cuda.threadIdx.x
        for row in range(cuda.blockIdx.x, out.size, cuda.gridDim.x):
            best = init
            where = K
            base = row * K
            for j in range(tid, K, T):
                v = x[base + j]
                # First NaN wins, then the first extreme value (NumPy's argmax/argmin).
                if best == best and (v != v or (v > best if is_max else v < best) or where == K):
                    best = v
                    where = j
            vals[tid] = best
            idxs[tid] = where
            cuda.syncthreads()
            s = T // 2
            while s > 0:
                if tid < s:
                    va, vb = vals[tid], vals[tid + s]
                    ia, ib = idxs[tid], idxs[tid + s]
                    take = False
                    if ib < K:
                        if ia == K:
                            take = True
                        elif vb != vb:
                            take = va == va or ib < ia
                        elif va == va:
                            take = (vb > va if is_max else vb < va) or (vb == va and ib < ia)
                    if take:
                        vals[tid] = vb
                        idxs[tid] = ib
                cuda.syncthreads()
                s //= 2
            if tid == 0:
                out[row] = idxs[0]
            cuda.syncthreads()

    return arg_rows


def reduce_rows(out, x, op, init):
    """``out[m] = op-reduction of x[m, :]`` for flat device arrays; ``op`` in sum, max, min.

    Args:
        out: flat device array of M results (its dtype is the accumulator's).
        x: flat device array of M*K inputs.
        op: "sum", "max" or "min".
        init: the identity of ``op`` in ``out``'s dtype.
    """
    M = out.size
    if M == 0:
        return
    K = x.size // M
    key = (op, out.dtype)
    if key not in _cache:
        _cache[key] = _make(COMBINE[op], from_dtype(out.dtype))
    _cache[key][min(M, MAX_BLOCKS), T](out, x, K, out.dtype.type(init))


def arg_rows(out, x, is_max):
    """``out[m] = argmax (or argmin) of x[m, :]`` (int64), first occurrence, NaN first."""
    M = out.size
    if M == 0:
        return
    K = x.size // M
    key = ("arg", bool(is_max), x.dtype)
    if key not in _cache:
        _cache[key] = _make_arg(bool(is_max), from_dtype(x.dtype))
    init = -np.inf if is_max else np.inf
    if x.dtype.kind != "f":
        info = np.iinfo(x.dtype) if x.dtype.kind in "iu" else None
        init = (info.min if is_max else info.max) if info else (0 if is_max else 1)
    _cache[key][min(M, MAX_BLOCKS), T](out, x, K, x.dtype.type(init))
