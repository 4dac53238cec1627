"""``gemm(out, a, b)``: NumPy's BLAS product into a preallocated output, on one thread when small.

A second OpenBLAS thread saves microseconds on a small product when the machine is idle,
but when another process holds the other core the caller waits for a worker that cannot
run: 4-5 ms per LeNet-5 linear layer instead of 15-70 us (see ``threads.py``). Products of
fewer than ``mg.config.blas_serial_below`` (50 M) floating-point operations therefore run
on one OpenBLAS thread. Measured on 2 cores (idle): 64x400x120 70 vs 67 us, 6400x150x16
445 vs 430 us, 2048x64x576 (151 MFLOP) 1.7 vs 1.6 ms, 8192x64x576 (604 MFLOP) 7.6 vs 4.3 ms
on 1 vs 2 threads.
"""

from __future__ import annotations

import numpy as np

from .threads import blas_call

__all__ = ["gemm"]


def gemm(out, a, b) -> None:
    """``out[...] = a @ b`` by ``np.matmul``, on one OpenBLAS thread when the product is small.

    Args:
        out: the preallocated result, shape (..., M, N); may be a strided view.
        a: (..., M, K) array; may be a transposed view (BLAS reads it in place).
        b: (..., K, N) array, likewise. Batch dimensions broadcast as in ``np.matmul``
            (which also takes 1-D operands here).

    Shape:
        (B, M, K) @ (B, K, N) -> (B, M, N); 2*B*M*N*K floating-point operations.
    """
    if a.ndim < 2 or b.ndim < 2:
        np.matmul(a, b, out=out)
        return
    blas_call(2 * max(a.size * b.shape[-1], b.size * a.shape[-2]), lambda: np.matmul(a, b, out=out))
