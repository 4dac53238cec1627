"""A tiled shared-memory GEMM of our own (no cuBLAS): ``out[b] = a[b] @ b[b]``.

On the GPU (``GPU_CONFIG``) each block of 16x16 threads computes a 64x64 tile of the
output; each thread a 4x4 register block, rows ``ty + 16*i`` and columns ``tx + 16*j`` (strided, so a warp's
shared-memory reads are broadcasts or consecutive words: no bank conflicts). Per step
of 16 along K, the block stages a 64x16 tile of ``a`` and a 16x64 tile of ``b`` in shared
memory with coalesced loads (consecutive threads read consecutive addresses), then
every thread does 16 rank-1 updates of its 4x4 accumulator from registers::

    for k0 in range(0, K, 16):
        As = a[m0:m0+64, k0:k0+16];  Bs = b[k0:k0+16, n0:n0+64]       # shared memory
        for k in range(16):
            acc[i, j] += As[ty + 16*i, k] * Bs[k, tx + 16*j]        # registers

Accumulation is in the operands' dtype (float32 literals for float32: no silent float64
on the GPU). Batches run on the grid's third axis; a batch of one broadcasts.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, from_dtype

from .launch import SIMULATED, dev, dev_out

# ``tiled_gemm`` is the same product with an explicit tiling (benchmarks, tests); not a backend kernel.
__all__ = ["gemm"]

#: (tile, bk, r): a tile x tile output block per thread block, k-steps of bk, r x r outputs per
#: thread, so (tile/r)^2 threads. The simulator runs the same kernel with few threads and few
#: k-steps (each simulated thread is a Python thread and each barrier a Python barrier);
#: ``tiled_gemm(..., config=GPU_CONFIG)`` runs the GPU's tiling there too.
GPU_CONFIG = (64, 16, 4)
#: 128x128 tiles, 8x8 outputs per thread (twice the arithmetic per shared-memory load; more
#: registers): the usual choice for large matrices. ``minigrad bench`` times both on a GPU.
LARGE_CONFIG = (128, 8, 8)
SIM_CONFIG = (32, 32, 8)
DEFAULT_CONFIG = SIM_CONFIG if SIMULATED else GPU_CONFIG

_cache = {}


def _make(nbtype, TILE, BK, R):
    THREADS = TILE // R  # per side of the thread block
    NT = THREADS * THREADS
    PADDED = BK + 1  # +1 column: conflict-free transposed stores into As

    @cuda.jit
    def gemm_kernel(out, a, b, M, N, K):
        As = cuda.shared.array((TILE, PADDED), nbtype)
        Bs = cuda.shared.array((BK, TILE), nbtype)
        acc = cuda.local.array((R, R), nbtype)
        ar = cuda.local.array(R, nbtype)
        br = cuda.local.array(R, nbtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        t = ty * THREADS + tx
        bz = cuda.blockIdx.z
        ab = bz if a.shape[0] > 1 else 0
        bb = bz if b.shape[0] > 1 else 0
        m0 = cuda.blockIdx.y * TILE
        n0 = cuda.blockIdx.x * TILE
        zero = nbtype(0)
        for i in range(R):
            for j in range(R):
                acc[i, j] = zero
        for k0 in range(0, K, BK):
            # Consecutive threads read consecutive k of one row of a (coalesced) ...
            for e in range(t, TILE * BK, NT):
                row = e // BK
                col = e % BK
                gm = m0 + row
                gk = k0 + col
                As[row, col] = a[ab, gm, gk] if gm < M and gk < K else zero
            # ... and consecutive n of one row of b.
            for e in range(t, BK * TILE, NT):
                row = e // TILE
                col = e % TILE
                gk = k0 + row
                gn = n0 + col
                Bs[row, col] = b[bb, gk, gn] if gk < K and gn < N else zero
            cuda.syncthreads()
            for k in range(min(BK, K - k0)):  # the last step may be short: skip its zero padding
                for i in range(R):
                    ar[i] = As[ty + THREADS * i, k]
                for j in range(R):
                    br[j] = Bs[k, tx + THREADS * j]
                for i in range(R):
                    for j in range(R):
                        acc[i, j] += ar[i] * br[j]
            cuda.syncthreads()
        for i in range(R):
            gm = m0 + ty + THREADS * i
            if gm < M:
                for j in range(R):
                    gn = n0 + tx + THREADS * j
                    if gn < N:
                        out[bz, gm, gn] = acc[i, j]

    return gemm_kernel


def gemm(out, a, b) -> None:
    """``out[...] = a @ b``: 2-D operands, or batched 3-D ones where a batch of one broadcasts.

    Args:
        out: output, shape (M, N) or (B, M, N); device memory (a ``CudaArray`` is always
            C-contiguous, so the kernel writes it in place).
        a: shape (M, K) or (B or 1, M, K), same dtype.
        b: shape (K, N) or (B or 1, K, N), same dtype.

    Shape:
        (B, M, K) @ (B, K, N) -> (B, M, N); 2*B*M*N*K floating-point operations.
    """
    # The kernel indexes (batch, row, column): 2-D operands are batches of one (reshapes are views).
    tiled_gemm(*(v.reshape((1,) + tuple(v.shape)) if v.ndim == 2 else v for v in (out, a, b)))


def tiled_gemm(out, a, b, config=None):
    """Batched matrix product ``out[z] = a[z or 0] @ b[z or 0]`` with a chosen tiling.

    Args:
        out: output, shape (B, M, N).
        a: shape (B or 1, M, K), same dtype.
        b: shape (B or 1, K, N), same dtype.
        config: (tile, bk, r) tiling; default ``DEFAULT_CONFIG``.

    Shape:
        (B, M, K) @ (B, K, N) -> (B, M, N); 2*B*M*N*K floating-point operations.
    """
    o, x, y = dev_out(out, "gemm"), dev(a), dev(b)
    B, M, N = o.shape
    K = x.shape[2]
    if x.shape[1] != M or y.shape[1] != K or y.shape[2] != N or x.dtype != y.dtype or o.dtype != x.dtype:
        raise ValueError(f"gemm: {tuple(x.shape)} @ {tuple(y.shape)} -> {tuple(o.shape)}: shapes or dtypes differ")
    if o.size == 0:
        return
    tile, bk, r = config or DEFAULT_CONFIG
    key = (np.dtype(o.dtype), tile, bk, r)
    if key not in _cache:
        _cache[key] = _make(from_dtype(key[0]), tile, bk, r)
    grid = ((N + tile - 1) // tile, (M + tile - 1) // tile, B)
    _cache[key][grid, (tile // r, tile // r)](o, x, y, M, N, K)
