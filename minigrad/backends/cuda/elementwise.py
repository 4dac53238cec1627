"""Elementwise CUDA kernels: unary and binary maps (with broadcasting), where, clip, casts,
strided copies (transpose, slicing, broadcast_to) and fancy-index gathers/scatters.

Every kernel is a grid-stride loop over the flat output, one thread per element::

    for i in range(out.size):           # i = thread id, then += total threads
        out[i] = f(a[offset_a(i)], b[offset_b(i)])

Broadcasting uses per-operand element strides, 0 along broadcast axes, padded to
``MAXDIM`` axes so a kernel takes them as plain integer tuples (no host-to-device copy).
Kernels are built per operation by small factories and memoised; numba compiles each
one for the dtypes it meets on first launch.
"""

from __future__ import annotations

import math

from numba import cuda

__all__ = []

MAXDIM = 8

# ---------------------------------------------------------------- device functions
# NumPy semantics: maximum/minimum propagate NaN; sign(0) = 0; comparisons give bools.


@cuda.jit(device=True)
def _add(a, b):
    return a + b


@cuda.jit(device=True)
def _sub(a, b):
    return a - b


@cuda.jit(device=True)
def _mul(a, b):
    return a * b


@cuda.jit(device=True)
def _div(a, b):
    return a / b


@cuda.jit(device=True)
def _mod(a, b):
    return a % b  # Python's (and NumPy's) sign convention: the result takes the divisor's sign


@cuda.jit(device=True)
def _floordiv(a, b):
    return a // b


@cuda.jit(device=True)
def _pow(a, b):
    return a ** b


@cuda.jit(device=True)
def _maximum(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


@cuda.jit(device=True)
def _minimum(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a <= b else b


@cuda.jit(device=True)
def _gt(a, b):
    return a > b


@cuda.jit(device=True)
def _ge(a, b):
    return a >= b


@cuda.jit(device=True)
def _lt(a, b):
    return a < b


@cuda.jit(device=True)
def _le(a, b):
    return a <= b


@cuda.jit(device=True)
def _eq(a, b):
    return a == b


@cuda.jit(device=True)
def _ne(a, b):
    return a != b


@cuda.jit(device=True)
def _and(a, b):
    return a and b


@cuda.jit(device=True)
def _or(a, b):
    return a or b


@cuda.jit(device=True)
def _neg(a):
    return -a


@cuda.jit(device=True)
def _exp(a):
    return math.exp(a)


@cuda.jit(device=True)
def _log(a):
    if a < 0:
        return math.nan
    if a == 0:
        return -math.inf
    return math.log(a)


@cuda.jit(device=True)
def _log1p(a):
    return math.log1p(a)


@cuda.jit(device=True)
def _sqrt(a):
    if a < 0:
        return math.nan
    return math.sqrt(a)


@cuda.jit(device=True)
def _abs(a):
    return abs(a)


@cuda.jit(device=True)
def _tanh(a):
    return math.tanh(a)


@cuda.jit(device=True)
def _sign(a):
    if a > 0:
        return 1
    if a < 0:
        return -1
    if a != a:
        return a
    return 0


@cuda.jit(device=True)
def _floor(a):
    return math.floor(a)


@cuda.jit(device=True)
def _ceil(a):
    return math.ceil(a)


@cuda.jit(device=True)
def _square(a):
    return a * a


@cuda.jit(device=True)
def _isfinite(a):
    return not (math.isinf(a) or math.isnan(a))


@cuda.jit(device=True)
def _isnan(a):
    return a != a


@cuda.jit(device=True)
def _not(a):
    return not a


@cuda.jit(device=True)
def _sin(a):
    return math.sin(a)


@cuda.jit(device=True)
def _cos(a):
    return math.cos(a)


BINARY = {
    "add": _add, "subtract": _sub, "multiply": _mul, "true_divide": _div, "divide": _div, "power": _pow,
    "remainder": _mod, "floor_divide": _floordiv,
    "maximum": _maximum, "minimum": _minimum, "greater": _gt, "greater_equal": _ge, "less": _lt,
    "less_equal": _le, "equal": _eq, "not_equal": _ne, "logical_and": _and, "logical_or": _or,
    "bitwise_and": _and, "bitwise_or": _or,
}
UNARY = {
    "negative": _neg, "exp": _exp, "log": _log, "log1p": _log1p, "sqrt": _sqrt, "absolute": _abs, "tanh": _tanh,
    "sign": _sign, "floor": _floor, "ceil": _ceil, "square": _square, "isfinite": _isfinite, "isnan": _isnan,
    "logical_not": _not, "invert": _not, "sin": _sin, "cos": _cos,
}

_cache = {}


# ---------------------------------------------------------------- kernel factories
def _binary_kernels(fn):
    # No cache=True: the on-disk cache is keyed by source location, which every kernel
    # made by this factory shares, so cached machine code of one op could serve another.
    @cuda.jit
    def same(out, a, b):
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            out[i] = fn(a[i], b[i])

    @cuda.jit
    def scalar(out, a, s, swap):
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            out[i] = fn(s, a[i]) if swap else fn(a[i], s)

    @cuda.jit
    def bcast(out, a, b, shape, astr, bstr):
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            rem = i
            ia = 0
            ib = 0
            for d in range(MAXDIM - 1, -1, -1):
                k = rem % shape[d]
                rem //= shape[d]
                ia += k * astr[d]
                ib += k * bstr[d]
            out[i] = fn(a[ia], b[ib])

    return same, scalar, bcast


def _unary_kernel(fn):
    @cuda.jit
    def unary(out, a):
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            out[i] = fn(a[i])

    return unary


def binary(name):
    """(same-shape, scalar, broadcast) kernels of the binary op ``name`` (a NumPy ufunc name)."""
    key = ("b", name)
    if key not in _cache:
        _cache[key] = _binary_kernels(BINARY[name])
    return _cache[key]


def unary(name):
    """The flat kernel of the unary op ``name`` (a NumPy ufunc name)."""
    key = ("u", name)
    if key not in _cache:
        _cache[key] = _unary_kernel(UNARY[name])
    return _cache[key]


# ---------------------------------------------------------------- fixed kernels
@cuda.jit(cache=True)
def where(out, c, a, b, shape, cstr, astr, bstr):
    """``out[i] = a[i] if c[i] else b[i]`` with broadcast strides."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        rem = i
        ic = 0
        ia = 0
        ib = 0
        for d in range(MAXDIM - 1, -1, -1):
            k = rem % shape[d]
            rem //= shape[d]
            ic += k * cstr[d]
            ia += k * astr[d]
            ib += k * bstr[d]
        out[i] = a[ia] if c[ic] else b[ib]


@cuda.jit(cache=True)
def clip(out, a, lo, hi, has_lo, has_hi):
    """``out[i] = min(max(a[i], lo), hi)``; NaN stays NaN."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        v = a[i]
        if has_lo and v < lo:
            v = lo
        if has_hi and v > hi:
            v = hi
        out[i] = v


@cuda.jit(cache=True)
def cast(out, a):
    """``out[i] = a[i]`` converted to ``out``'s dtype (C conversion rules, as NumPy's astype)."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = a[i]


@cuda.jit(cache=True)
def cast_bool(out, a):
    """``out[i] = a[i] != 0``."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = a[i] != 0


@cuda.jit(cache=True)
def fill(out, value):
    """``out[i] = value``."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = value


@cuda.jit(cache=True)
def arange(out, start, step):
    """``out[i] = start + i * step``."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = start + i * step


@cuda.jit(cache=True)
def gather_strided(out, src, shape, strides, offset):
    """``out[i] = src[offset + sum_d idx_d(i) * strides[d]]``: transpose, slice, broadcast_to, flip."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        rem = i
        j = offset
        for d in range(MAXDIM - 1, -1, -1):
            k = rem % shape[d]
            rem //= shape[d]
            j += k * strides[d]
        out[i] = src[j]


@cuda.jit(cache=True)
def scatter_strided(dst, src, shape, strides, offset, sstr):
    """``dst[offset + sum_d idx_d(i) * strides[d]] = src[sum_d idx_d(i) * sstr[d]]`` (slice assignment)."""
    n = 1
    for d in range(MAXDIM):
        n *= shape[d]
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        rem = i
        j = offset
        s = 0
        for d in range(MAXDIM - 1, -1, -1):
            k = rem % shape[d]
            rem //= shape[d]
            j += k * strides[d]
            s += k * sstr[d]
        dst[j] = src[s]


@cuda.jit(cache=True)
def take_rows(out, src, rows, inner):
    """``out[r, j] = src[rows[r], j]`` on flat buffers with rows of length ``inner``."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        r = i // inner
        out[i] = src[rows[r] * inner + i % inner]


@cuda.jit(cache=True)
def put_rows(dst, src, rows, inner):
    """``dst[rows[r], j] = src[r, j]`` (duplicate rows: one write wins, as on any GPU)."""
    for i in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        r = i // inner
        dst[rows[r] * inner + i % inner] = src[i]


@cuda.jit(cache=True)
def add_rows(dst, src, rows, inner):
    """``dst[rows[r], j] += src[r, j]`` with atomics, so duplicate rows accumulate (``np.add.at``)."""
    for i in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        r = i // inner
        cuda.atomic.add(dst, rows[r] * inner + i % inner, src[i])
