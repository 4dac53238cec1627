"""``gemm_accumulate``: ``C = A @ B + beta*C`` through OpenBLAS's CBLAS interface, for the strip convolution.

NumPy's ``matmul`` always overwrites its output. A convolution computed as a sum of shifted
GEMMs (``strips.py``) needs BLAS's ``beta = 1`` instead: each kernel row adds its product
into the same output, where a temporary and an ``out += tmp`` would be one more pass over
the output per kernel row. NumPy's wheels bundle OpenBLAS; its ``cblas_sgemm``/``cblas_dgemm``
are called here by ``ctypes`` on the arrays' memory, found the way ``threads.py`` finds its
thread-count setter. Without a reachable OpenBLAS (another BLAS under NumPy) ``available()``
is False and the planner (``conv_plan.py``) keeps the im2row lowering.

Device plumbing, not a kernel of the contract: the module exports no names to the backend.
"""

from __future__ import annotations

import ctypes

import numpy as np

from .threads import blas_call, openblas_libraries

__all__: list[str] = []

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# (symbol prefix, integer type): NumPy >= 2 wheels bundle scipy-openblas with 64-bit
# integers and a prefix; system builds use plain names and 32-bit integers.
_FLAVOURS = (("scipy_cblas_{}gemm64_", ctypes.c_int64), ("cblas_{}gemm64_", ctypes.c_int64),
             ("cblas_{}gemm", ctypes.c_int))
_gemms = None  # {dtype: ctypes function} once looked up; {} when no OpenBLAS was found


def _functions() -> dict:
    global _gemms
    if _gemms is None:
        _gemms = {}
        for lib in openblas_libraries():
            for pattern, integer in _FLAVOURS:
                found = {}
                for letter, dtype, real in (("s", np.float32, ctypes.c_float), ("d", np.float64, ctypes.c_double)):
                    fn = getattr(lib, pattern.format(letter), None)
                    if fn is None:
                        break
                    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, real,
                                   ctypes.c_void_p, integer, ctypes.c_void_p, integer, real, ctypes.c_void_p, integer]
                    fn.restype = None
                    found[np.dtype(dtype)] = fn
                if len(found) == 2:
                    _gemms = found
                    return _gemms
    return _gemms


def available(dtype) -> bool:
    """Whether ``gemm_accumulate`` can multiply arrays of ``dtype`` (float32 or float64 with OpenBLAS found)."""
    return np.dtype(dtype) in _functions()


def _layout(a):
    """(transposed, leading dimension) of a 2-D array whose rows or columns are contiguous."""
    item = a.itemsize
    if a.shape[1] == 1 or a.strides[1] == item:
        return False, max(a.strides[0] // item, a.shape[1], 1)
    if a.shape[0] == 1 or a.strides[0] == item:
        return True, max(a.strides[1] // item, a.shape[0], 1)
    raise ValueError(f"gemm_accumulate: an operand of shape {a.shape} with strides {a.strides} has no contiguous axis")


def gemm_accumulate(out, a, b, beta: float) -> None:
    """``out[...] = a @ b + beta * out`` in place (``beta = 0`` ignores what ``out`` held).

    Args:
        out: (M, N), rows contiguous (row stride >= N); the dtype of ``a`` and ``b``.
        a: (M, K), rows or columns contiguous (a transposed view is read in place).
        b: (K, N), likewise.
        beta: 0 or 1 in practice.

    Shape:
        (M, K) @ (K, N) -> (M, N); 2*M*N*K floating-point operations (on one OpenBLAS thread
        when fewer than ``mg.config.blas_serial_below``, as ``gemm.py``'s products).
    """
    M, K = a.shape
    N = b.shape[1]
    if b.shape[0] != K or out.shape != (M, N):
        raise ValueError(f"gemm_accumulate: shapes {a.shape} @ {b.shape} -> {out.shape} do not match")
    if out.strides[1] != out.itemsize and N > 1:
        raise ValueError(f"gemm_accumulate: the output's rows must be contiguous, got strides {out.strides}")
    if M == 0 or N == 0:
        return
    fn = _functions()[out.dtype]
    if K == 0:  # an empty sum: BLAS would not be called with K = 0; beta 0 ignores NaN in out
        out[...] = 0 if beta == 0 else beta * out
        return
    ta, lda = _layout(a)
    tb, ldb = _layout(b)
    ldc = max(out.strides[0] // out.itemsize, N, 1)
    blas_call(2 * M * N * K, lambda: fn(_ROW_MAJOR, _TRANS if ta else _NO_TRANS, _TRANS if tb else _NO_TRANS, M, N, K,
                                        1.0, a.ctypes.data, lda, b.ctypes.data, ldb, beta, out.ctypes.data, ldc))
