"""Index arithmetic shared by the CPU and CUDA kernels, written once and compiled twice.

Every helper here is a plain Python function on integers: the course's formulas for
output sizes and window bounds. ``cpu`` holds them compiled with
``njit(inline="always")`` (inlined into ``njit`` kernels, no call overhead) and
``cuda_functions()`` returns them compiled with ``cuda.jit(device=True)``; ``numba.cuda``
is imported only when that function is first called, so the CPU path never pays for it.
Being plain Python, they are also their own reference: the tests call them directly.

Example (in a CPU kernel module)::

    from ..index import cpu as ix
    ih = ix.input_index(oh, kh, sh, ph, dh)
"""

from __future__ import annotations

from types import SimpleNamespace

from numba import njit

__all__ = [
    "input_index", "first_inside", "pool_window", "avg_pool_divisor", "adaptive_start",
    "adaptive_end",
    "source_range", "cpu", "cuda_functions", "FUNCTIONS",
]


def input_index(o, k, stride, pad, dilation):
    """Input coordinate read by output ``o`` at kernel tap ``k``: ``o*S - P + k*D``."""
    return o * stride - pad + k * dilation


def first_inside(start, dilation):
    """First tap position ``start + j*D`` (j >= 0) that is not in the top/left padding."""
    if start >= 0:
        return start
    # ceil(-start / D) steps of D bring a negative start to the first non-negative tap.
    return start + ((-start + dilation - 1) // dilation) * dilation


def pool_window(o, kernel, stride, pad, size):
    """Average pooling's window along one axis, PyTorch's rule.

    Returns ``(lo, hi, padded)``: the window clipped to the input, ``[lo, hi)``, and its
    length when clipped only to the padded input (the divisor with ``count_include_pad``).
    """
    lo = o * stride - pad
    hi = min(lo + kernel, size + pad)
    padded = hi - lo
    return max(lo, 0), min(hi, size), padded


def avg_pool_divisor(h0, h1, padded_h, w0, w1, padded_w, count_include_pad, divisor_override):
    """Average pooling's divisor for the window ``[h0, h1) x [w0, w1)`` from ``pool_window``.

    ``divisor_override`` when positive, else the padded window's area with
    ``count_include_pad``, else the number of input elements in the window.
    """
    if divisor_override > 0:
        return divisor_override
    if count_include_pad:
        return padded_h * padded_w
    return (h1 - h0) * (w1 - w0)


def adaptive_start(i, size_in, size_out):
    """Adaptive pooling window start, ``floor(i * in / out)``."""
    return (i * size_in) // size_out


def adaptive_end(i, size_in, size_out):
    """Adaptive pooling window end (exclusive), ``ceil((i + 1) * in / out)``."""
    return -((-(i + 1) * size_in) // size_out)


def source_range(i, kernel, stride, pad, dilation, out_size):
    """Outputs ``[lo, hi)`` whose window tap can land on input ``i`` (for gather-form adjoints).

    Output ``o`` touches ``i`` through some tap ``k`` in ``[0, kernel)`` when
    ``o*S - P + k*D == i``; every such ``o`` lies in ``[ceil((i + P - D*(K-1)) / S), floor((i + P) / S)]``.
    """
    top = i + pad - dilation * (kernel - 1)
    lo = 0 if top <= 0 else (top + stride - 1) // stride
    hi = min((i + pad) // stride + 1, out_size)
    return lo, max(hi, lo)


FUNCTIONS = (input_index, first_inside, pool_window, avg_pool_divisor, adaptive_start, adaptive_end,
             source_range)

#: The helpers compiled for the CPU, inlined into ``njit`` callers.
cpu = SimpleNamespace(**{f.__name__: njit(inline="always", cache=True)(f) for f in FUNCTIONS})

_cuda = None


def cuda_functions() -> SimpleNamespace:
    """The helpers compiled as ``numba.cuda`` device functions (imports ``numba.cuda`` on first call)."""
    global _cuda
    if _cuda is None:
        from numba import cuda

        _cuda = SimpleNamespace(**{f.__name__: cuda.jit(device=True)(f) for f in FUNCTIONS})
    return _cuda
