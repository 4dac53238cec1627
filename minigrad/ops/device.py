"""Creation functions and the ops that move data: ``to_device``, ``cast``, ``clone``.

Creation functions take PyTorch's keywords (``dtype``, ``device``, ``requires_grad``);
floating tensors default to float32, and random ones draw from ``mg.default_rng()``.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backends import get_backend
from ..dtypes import DEFAULT_FLOAT
from ..tensor import Tensor, _normalize_device, default_rng

__all__ = [
    "to_device", "cast", "clone", "zeros", "ones", "zeros_like", "ones_like", "full", "full_like",
    "arange", "randn", "rand", "empty", "eye",
]


# ------------------------------------------------------------- data movers
class ToDevice(Function):
    @staticmethod
    def forward(ctx, x, target):
        ctx.output_device = target
        return get_backend(target).from_numpy(get_backend(ctx.device).to_numpy(x))

    @staticmethod
    def backward(ctx, grad):
        # grad lives on the output's device; send it back to where the input was.
        source = ctx.device
        here = "cpu" if isinstance(grad, np.ndarray) else "cuda"
        return get_backend(source).from_numpy(get_backend(here).to_numpy(grad)), None


def to_device(x, device):
    """A copy of ``x`` on ``device`` ("cpu" or "cuda"); gradients flow back to the source device."""
    if not isinstance(x, Tensor):
        raise TypeError(f"to_device: expected a Tensor, got {type(x).__name__}")
    device = _normalize_device(device)
    if device == x.device:
        return x
    return ToDevice.apply(x, device)


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.in_dtype), None


def cast(x, dtype):
    """``x`` converted to ``dtype``; differentiable between floating dtypes.

    Casting to an integer or bool dtype gives a tensor outside the graph, as in PyTorch.
    """
    if not isinstance(x, Tensor):
        x = Tensor(x)
    dtype = np.dtype(dtype)
    if dtype == x.dtype:
        return x
    if dtype.kind not in "fiub":
        raise TypeError(f"cast: unsupported dtype {dtype}")
    if dtype.kind != "f" or x.dtype.kind != "f":
        return Tensor._wrap(x.data.astype(dtype), x.device, False, None)
    return Cast.apply(x, dtype)


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


def clone(x):
    """A copy with its own memory, still in the graph."""
    if not isinstance(x, Tensor):
        raise TypeError(f"clone: expected a Tensor, got {type(x).__name__}")
    return Clone.apply(x)


# -------------------------------------------------------------- creation
def _size(name, size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"{name}: sizes must be non-negative integers, got {size}")
    return tuple(int(s) for s in size)


def _make(array, dtype, device, requires_grad):
    return Tensor(array, requires_grad=requires_grad, device=device, dtype=dtype)


def zeros(*size, dtype=None, device="cpu", requires_grad=False):
    """A tensor of zeros; ``zeros(2, 3)`` and ``zeros((2, 3))`` alike."""
    return _make(np.zeros(_size("zeros", size), dtype=dtype or DEFAULT_FLOAT), dtype, device, requires_grad)


def ones(*size, dtype=None, device="cpu", requires_grad=False):
    """A tensor of ones."""
    return _make(np.ones(_size("ones", size), dtype=dtype or DEFAULT_FLOAT), dtype, device, requires_grad)


def empty(*size, dtype=None, device="cpu", requires_grad=False):
    """An uninitialised tensor (its values are arbitrary)."""
    return _make(np.empty(_size("empty", size), dtype=dtype or DEFAULT_FLOAT), dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device="cpu", requires_grad=False):
    """A tensor filled with ``fill_value``; dtype inferred from it (float -> float32, int -> int64)."""
    size = _size("full", (size,) if isinstance(size, (int, np.integer)) else tuple(size))
    if dtype is None:
        if isinstance(fill_value, bool):
            dtype = np.bool_
        elif isinstance(fill_value, (int, np.integer)):
            dtype = np.int64
        else:
            dtype = DEFAULT_FLOAT
    return _make(np.full(size, fill_value, dtype=dtype), dtype, device, requires_grad)


def _like(x):
    if not isinstance(x, Tensor):
        x = Tensor(x)
    return x


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    """Zeros with ``x``'s shape, dtype and device (unless given)."""
    x = _like(x)
    return zeros(x.shape, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    """Ones with ``x``'s shape, dtype and device (unless given)."""
    x = _like(x)
    return ones(x.shape, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    """``fill_value`` everywhere, with ``x``'s shape, dtype and device (unless given)."""
    x = _like(x)
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device="cpu", requires_grad=False):
    """``[start, end)`` in steps of ``step``; int64 when all arguments are integers, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (start, end, step))
        dtype = np.int64 if ints else DEFAULT_FLOAT
    return _make(np.arange(start, end, step).astype(dtype), dtype, device, requires_grad)


def eye(n, m=None, dtype=None, device="cpu", requires_grad=False):
    """The ``n x m`` identity matrix (``m`` defaults to ``n``)."""
    return _make(np.eye(n, m, dtype=dtype or DEFAULT_FLOAT), dtype, device, requires_grad)


def _float_dtype(name, dtype):
    dtype = np.dtype(dtype or DEFAULT_FLOAT)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: dtype must be float32 or float64, got {dtype}")
    return dtype


def randn(*size, dtype=None, device="cpu", requires_grad=False):
    """Standard normal samples from ``mg.default_rng()``."""
    dtype = _float_dtype("randn", dtype)
    return _make(default_rng().standard_normal(_size("randn", size), dtype=dtype), dtype, device, requires_grad)


def rand(*size, dtype=None, device="cpu", requires_grad=False):
    """Uniform samples in ``[0, 1)`` from ``mg.default_rng()``."""
    dtype = _float_dtype("rand", dtype)
    return _make(default_rng().random(_size("rand", size), dtype=dtype), dtype, device, requires_grad)
