"""A register-tiled GEMM micro-kernel for Numba: R rows by 64 columns of C held in 16-float vectors.

``tile(acc, r, C, c0, ldc, A, a0, a_row, a_k, B, b0, ldb, K)``, callable from ``njit`` code,
computes on the flat float32 arrays ``C``, ``A``, ``B``::

    C[c0 + i*ldc + j] (+)= sum_{k < K} A[a0 + i*a_row + k*a_k] * B[b0 + k*ldb + j]     i < r, j < 64

(``acc``: add to C, else overwrite it). The r x 64 block of C stays in 4*r AVX-512 registers
for the whole sum over k; each step loads one 64-float row of B into four vectors, broadcasts
r values of A and issues 4*r fused multiply-adds. LLVM does not keep such a block in registers
when the loop is written in Python (an array in memory is read and written every step), so the
loop is emitted as LLVM IR (``numba.extending.intrinsic``), one instance per ``r`` in 1..6;
6 rows use 24 of the 32 vector registers, the four B vectors and the broadcast 5 more.

Why: the strip convolution's GEMMs have 64 or 128 columns (ResNet's 32x32 and 16x16 layers),
where OpenBLAS's sgemm reaches 230-300 GFLOP/s on this 2-core AVX-512 machine against 400 on
large squares. The same products through these tiles ran at 330-390 GFLOP/s, reading A where
it lies (no packing) and writing each output once (``strips.py`` has the measurements). The
rows of B and C should start on 64-byte boundaries (the CPU allocator's arrays do): with B
16 bytes off, every vector load spans two cache lines and the tile ran at 170-180 GFLOP/s.

``available()`` says whether the host has AVX-512 (without it each 16-float vector is split in
two and the tile spills registers: correct, but slower than BLAS, so the strips keep BLAS).
"""

from __future__ import annotations

import functools

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .threads import openblas_thread_timeout

__all__: list[str] = []

LANES = 16
VECTORS = 4
COLUMNS = LANES * VECTORS
MAX_ROWS = 6

_f32 = ir.FloatType()
_vec = ir.VectorType(_f32, LANES)
_i64 = ir.IntType(64)
_i32 = ir.IntType(32)


@functools.lru_cache(maxsize=None)
def available() -> bool:
    """Whether Numba compiles for this host and the host has AVX-512F."""
    if numba.config.CPU_NAME not in (None, "host") or numba.config.CPU_FEATURES:
        return False
    return bool(llvm.get_host_cpu_features().get("avx512f", False))


#: ``$OPENBLAS_THREAD_TIMEOUT`` values (log2 cycles) up to which OpenBLAS's idle workers sleep soon enough
#: for the tiles (``minigrad/_blas_env.py``): a ResNet-18 step took 950-983 ms at 1, 12, 16 and 20 alike.
_QUIET_TIMEOUT = 20


@functools.lru_cache(maxsize=None)
def _tiles_pay() -> bool:
    """AVX-512, and OpenBLAS workers that do not spin through the next kernel (its default, 0, spins 2**28 cycles)."""
    timeout = openblas_thread_timeout()
    return available() and (timeout is None or 0 < timeout <= _QUIET_TIMEOUT)


def tiles_apply(dtype, O: int) -> bool:
    """Whether a product of ``dtype`` with O output columns runs on these tiles: float32, O a multiple of 64, and they pay.

    The tiled convolution (``tiled_conv.py``) and the strips' products (``strips.py``) ask this.
    Alternating in one process, a CIFAR ResNet-18 step (batch 64, 2 threads) took 959 ms with
    the strips' tiles and 1063 ms with BLAS's stacked GEMMs when OpenBLAS's workers slept soon,
    and 1163 against 1070 ms when they spun (its default), so then the strips keep BLAS.
    """
    return dtype == np.float32 and O % COLUMNS == 0 and _tiles_pay()


def _fma(module):
    name = "llvm.fma.v16f32"
    if name in module.globals:
        return module.globals[name]
    return ir.Function(module, ir.FunctionType(_vec, [_vec, _vec, _vec]), name)


def _make_tile(rows: int):
    """The intrinsic for ``rows`` rows: ``(acc, C, c0, ldc, A, a0, a_row, a_k, B, b0, ldb, K)``."""

    @intrinsic
    def tile(typingctx, acc, C, c0, ldc, A, a0, a_row, a_k, B, b0, ldb, K):
        sig = types.void(types.boolean, C, types.intp, types.intp, A, types.intp, types.intp, types.intp, B,
                         types.intp, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            acc_, C_, c0_, ldc_, A_, a0_, arow_, ak_, B_, b0_, ldb_, K_ = args
            cdata = context.make_array(signature.args[1])(context, builder, C_).data
            adata = context.make_array(signature.args[4])(context, builder, A_).data
            bdata = context.make_array(signature.args[8])(context, builder, B_).data
            fma = _fma(builder.module)
            vptr = _vec.as_pointer()
            zero = ir.Constant(_vec, [0.0] * LANES)

            def const(v):
                return ir.Constant(_i64, v)

            def c_vector(i, v):
                offset = builder.add(c0_, builder.add(builder.mul(const(i), ldc_), const(v * LANES)))
                return builder.bitcast(builder.gep(cdata, [offset]), vptr)

            # C's block is read either way (24 loads against 24*K FMAs) and kept only with ``acc``:
            # one instance per row count instead of two.
            keep = acc_
            start = []
            for i in range(rows):
                for v in range(VECTORS):
                    load = builder.load(c_vector(i, v))
                    load.align = 4
                    start.append(builder.select(keep, load, zero))
            entry = builder.block
            loop = builder.append_basic_block("tile.loop")
            done = builder.append_basic_block("tile.done")
            builder.cbranch(builder.icmp_signed(">", K_, const(0)), loop, done)

            builder.position_at_end(loop)
            k = builder.phi(_i64)
            k.add_incoming(const(0), entry)
            sums = []
            for value in start:
                phi = builder.phi(_vec)
                phi.add_incoming(value, entry)
                sums.append(phi)
            b_row = builder.add(b0_, builder.mul(k, ldb_))
            b_vectors = []
            for v in range(VECTORS):
                load = builder.load(builder.bitcast(builder.gep(bdata, [builder.add(b_row, const(v * LANES))]), vptr))
                load.align = 4
                b_vectors.append(load)
            a_col = builder.add(a0_, builder.mul(k, ak_))
            undef = ir.Constant(_vec, ir.Undefined)
            splat = ir.Constant(ir.VectorType(_i32, LANES), [0] * LANES)
            updated = []
            for i in range(rows):
                a = builder.load(builder.gep(adata, [builder.add(a_col, builder.mul(const(i), arow_))]))
                broadcast = builder.shuffle_vector(builder.insert_element(undef, a, ir.Constant(_i32, 0)), undef, splat)
                for v in range(VECTORS):
                    updated.append(builder.call(fma, [broadcast, b_vectors[v], sums[i * VECTORS + v]]))
            k_next = builder.add(k, const(1))
            k.add_incoming(k_next, loop)
            for phi, value in zip(sums, updated):
                phi.add_incoming(value, loop)
            builder.cbranch(builder.icmp_signed("<", k_next, K_), loop, done)

            builder.position_at_end(done)
            finals = []
            for value, new in zip(start, updated):
                phi = builder.phi(_vec)
                phi.add_incoming(value, entry)
                phi.add_incoming(new, loop)
                finals.append(phi)
            for n, value in enumerate(finals):
                store = builder.store(value, c_vector(n // VECTORS, n % VECTORS))
                store.align = 4
            return context.get_dummy_value()

        return sig, codegen

    return tile


_T1, _T2, _T3, _T4, _T5, _T6 = (_make_tile(r) for r in range(1, MAX_ROWS + 1))


@njit(inline="always")
def tile(acc, r, C, c0, ldc, A, a0, a_row, a_k, B, b0, ldb, K):
    """``C[c0 + i*ldc + j] (+)= sum_k A[a0 + i*a_row + k*a_k] * B[b0 + k*ldb + j]`` for i < r <= 6, j < 64.

    Args:
        acc: add to C's block (else overwrite it).
        r: rows of the block, 1 to 6.
        C, A, B: flat float32 arrays.
        c0, ldc: C's first element and row stride.
        a0, a_row, a_k: A's first element, stride between rows and along the sum.
        b0, ldb: B's first element and row stride (B's rows are 64 contiguous floats).
        K: terms of the sum.
    """
    if r == 6:
        _T6(acc, C, c0, ldc, A, a0, a_row, a_k, B, b0, ldb, K)
    elif r == 5:
        _T5(acc, C, c0, ldc, A, a0, a_row, a_k, B, b0, ldb, K)
    elif r == 4:
        _T4(acc, C, c0, ldc, A, a0, a_row, a_k, B, b0, ldb, K)
    elif r == 3:
        _T3(acc, C, c0, ldc, A, a0, a_row, a_k, B, b0, ldb, K)
    elif r == 2:
        _T2(acc, C, c0, ldc, A, a0, a_row, a_k, B, b0, ldb, K)
    else:
        _T1(acc, C, c0, ldc, A, a0, a_row, a_k, B, b0, ldb, K)
