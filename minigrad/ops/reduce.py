"""Reductions: sum, mean, max/min, var/std, argmax/argmin, softmax, log_softmax, logsumexp.

``dim`` is None (all axes), an int, or a tuple of ints; ``keepdim`` keeps reduced axes as
size 1. Backward broadcasts the output gradient back over the reduced axes.
"""

from __future__ import annotations

import builtins
import collections

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .device import clone as _clone
from .elementwise import maximum as _maximum
from .elementwise import minimum as _minimum
from .elementwise import sqrt as _sqrt
from .shape import as_tensor, normalize_dim, normalize_dims

__all__ = ["sum", "mean", "max", "min", "var", "std", "argmax", "argmin", "softmax", "log_softmax", "logsumexp"]


def _expand_back(grad, axes, in_shape, keepdim):
    """Give ``grad`` size-1 axes where the reduction removed them, then broadcast to ``in_shape``."""
    if not keepdim:
        grad = np.expand_dims(grad, axes)
    return np.broadcast_to(grad, in_shape)


def zero_dim(value, dtype=None):
    """A NumPy scalar as a 0-d array; a GPU array stays on the GPU (``np.asarray`` would copy it)."""
    if isinstance(value, (np.ndarray, np.generic, float, int)):
        return np.asarray(value, dtype=dtype)
    return value if dtype is None else value.astype(dtype, copy=False)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.args = (axes, x.shape, keepdim)
        return zero_dim(np.sum(x, axis=axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        axes, shape, keepdim = ctx.args
        return _expand_back(grad, axes, shape, keepdim), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.args = (axes, x.shape, keepdim)
        if x.size == 0:
            # The mean of nothing is NaN (PyTorch), without NumPy's "mean of empty slice" warning.
            shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
            out = np.full_like(x, np.nan, shape=shape)
            return out if keepdim else np.squeeze(out, axes)
        return zero_dim(np.mean(x, axis=axes, keepdims=keepdim), x.dtype)

    @staticmethod
    def backward(ctx, grad):
        axes, shape, keepdim = ctx.args
        count = int(np.prod([shape[a] for a in axes], dtype=np.int64))
        return _expand_back(grad / grad.dtype.type(builtins.max(count, 1)), axes, shape, keepdim), None, None


def sum(x, dim=None, keepdim: bool = False, *, dtype=None):
    """Sum over ``dim`` (all elements when None); ``dtype`` casts the input first, as in PyTorch.

    Shape:
        reduced axes are removed, or kept as size 1 when ``keepdim``.
    """
    x = as_tensor(x)
    if dtype is not None:
        x = x.to(dtype=dtype)
    return Sum.apply(x, normalize_dims("sum", dim, x.ndim), keepdim)


def mean(x, dim=None, keepdim: bool = False, *, dtype=None):
    """Arithmetic mean over ``dim`` (all elements when None); ``dtype`` casts the input first."""
    x = as_tensor(x)
    if dtype is not None:
        x = x.to(dtype=dtype)
    if x.dtype.kind != "f":
        raise TypeError(f"mean: input dtype must be floating, got {x.dtype}; cast it first")
    return Mean.apply(x, normalize_dims("mean", dim, x.ndim), keepdim)


# ------------------------------------------------------------------ max, min
class ExtremumAll(Function):
    @staticmethod
    def forward(ctx, x, take_max):
        out = zero_dim(x.max() if take_max else x.min())
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        # Ties share the gradient evenly, as PyTorch's full reduction does; a NaN result
        # (NaN wins max and min) sends the gradient to the NaNs.
        hit = (x == out) | (np.isnan(x) & np.isnan(out)) if x.dtype.kind == "f" else x == out
        return hit * (grad / grad.dtype.type(builtins.max(int(hit.sum()), 1))), None


class ExtremumDim(Function):
    @staticmethod
    def forward(ctx, x, axis, keepdim, take_max):
        idx = np.expand_dims(np.argmax(x, axis) if take_max else np.argmin(x, axis), axis)
        values = np.take_along_axis(x, idx, axis)
        ctx.save_for_backward(idx)
        ctx.args = (axis, x.shape, keepdim)
        if not keepdim:
            values, idx = values.squeeze(axis), idx.squeeze(axis)
        return values, idx.astype(np.int64)

    @staticmethod
    def backward(ctx, grad):
        (idx,) = ctx.saved_tensors
        axis, shape, keepdim = ctx.args
        out = np.zeros_like(grad, shape=shape)  # on grad's device
        np.put_along_axis(out, idx, grad if keepdim else np.expand_dims(grad, axis), axis)
        return out, None, None, None


#: What ``max``/``min`` over a dim return: a tuple with PyTorch's ``.values`` and ``.indices``.
MaxResult = collections.namedtuple("max", ["values", "indices"])
MinResult = collections.namedtuple("min", ["values", "indices"])


def _extremum(name, x, dim, keepdim, take_max):
    if isinstance(dim, Tensor):
        # torch.max(a, b) is the elementwise maximum.
        return (_maximum if take_max else _minimum)(x, dim)
    x = as_tensor(x)
    if x.size == 0:
        raise ValueError(f"{name}: reduction over an empty tensor of shape {x.shape}")
    if dim is None:
        return ExtremumAll.apply(x, take_max)
    axis = normalize_dim(name, dim, x.ndim)
    if x.shape and x.shape[axis] == 0:
        raise ValueError(f"{name}: dimension {axis} of shape {x.shape} is empty")
    if x.ndim == 0:
        values, indices = ExtremumAll.apply(x, take_max), Tensor(np.zeros((), dtype=np.int64), device=x.device)
    else:
        values, indices = ExtremumDim.apply(x, axis, keepdim, take_max)
    return (MaxResult if take_max else MinResult)(values, indices)


def max(x, dim=None, keepdim: bool = False):
    """Largest value: a scalar for ``dim=None``, else a ``(values, indices)`` named tuple like PyTorch's.

    ``max(a, b)`` with a tensor ``b`` is the elementwise ``maximum``.
    """
    return _extremum("max", x, dim, keepdim, True)


def min(x, dim=None, keepdim: bool = False):
    """Smallest value: a scalar for ``dim=None``, else a ``(values, indices)`` tuple like PyTorch."""
    return _extremum("min", x, dim, keepdim, False)


def _arg(name, fn, x, dim, keepdim):
    x = as_tensor(x)
    if x.size == 0:
        raise ValueError(f"{name}: empty tensor of shape {x.shape}")
    if dim is None:
        out = zero_dim(fn(x.data), np.int64)
        if keepdim:
            out = out.reshape((1,) * x.ndim)
        return Tensor._wrap(out, x.device, False, None)
    axis = normalize_dim(name, dim, x.ndim)
    out = fn(x.data, axis=axis, keepdims=keepdim) if x.ndim else np.zeros_like(x.data, dtype=np.int64, shape=())
    return Tensor._wrap(zero_dim(out, np.int64), x.device, False, None)


def argmax(x, dim=None, keepdim: bool = False):
    """Index of the largest value (flat index when ``dim`` is None); first one on ties."""
    return _arg("argmax", np.argmax, x, dim, keepdim)


def argmin(x, dim=None, keepdim: bool = False):
    """Index of the smallest value (flat index when ``dim`` is None); first one on ties."""
    return _arg("argmin", np.argmin, x, dim, keepdim)


# ---------------------------------------------------------------- variance
class Var(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        centered = x - x.mean(axis=axes, keepdims=True)
        n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        # PyTorch clamps the degrees of freedom at 0 (then the result is inf or NaN).
        denom = x.dtype.type(builtins.max(n - correction, 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = zero_dim(np.sum(centered * centered, axis=axes, keepdims=keepdim) / denom, x.dtype)
        ctx.save_for_backward(centered)
        ctx.args = (axes, keepdim, denom)
        return out

    @staticmethod
    def backward(ctx, grad):
        (centered,) = ctx.saved_tensors
        axes, keepdim, denom = ctx.args
        # d/dx_i sum_j (x_j - mean)^2 = 2 (x_i - mean): the mean's own derivative sums to zero.
        g = grad if keepdim else np.expand_dims(grad, axes)
        with np.errstate(divide="ignore", invalid="ignore"):
            return g * centered * (2 / denom), None, None, None


def _correction(name, unbiased, correction):
    if unbiased is not None and correction is not None:
        raise ValueError(f"{name}: give unbiased or correction, not both (unbiased={unbiased!r}, correction={correction!r})")
    if correction is None:
        return 1 if unbiased is None or unbiased else 0
    if isinstance(correction, bool) or not isinstance(correction, (int, float, np.number)):
        raise TypeError(f"{name}: correction must be a number, got {correction!r}")
    return correction


def var(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Variance over ``dim``: ``sum((x - mean)^2) / (n - correction)``.

    Both PyTorch spellings work: ``var(x, dim, unbiased, keepdim)`` (``unbiased=True`` is
    ``correction=1``, Bessel's; False is 0) and ``var(x, dim, keepdim=..., correction=...)``;
    ``var(x, False)`` is the full reduction with ``unbiased=False``.
    """
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"var: input dtype must be floating, got {x.dtype}")
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    return Var.apply(x, normalize_dims("var", dim, x.ndim), keepdim, _correction("var", unbiased, correction))


def std(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Standard deviation: ``sqrt(var(...))`` with ``var``'s arguments."""
    return _sqrt(var(x, dim, unbiased, keepdim, correction=correction))


# ---------------------------------------------------------- softmax family
def _shifted(x, axis):
    # Subtracting the max keeps exp() from overflowing; softmax is shift-invariant.
    return x - np.max(x, axis=axis, keepdims=True)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        e = np.exp(_shifted(x, axis))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        # J^T g for J = diag(s) - s s^T, without building J.
        return out * (grad - np.sum(grad * out, axis=ctx.axis, keepdims=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        z = _shifted(x, axis)
        out = z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad - np.exp(out) * np.sum(grad, axis=ctx.axis, keepdims=True), None


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        if x.size == 0:
            # An empty sum is 0 and its log -inf (PyTorch); np.max has no identity to start from.
            shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
            lse = np.full_like(x, -np.inf, shape=shape)
        else:
            m = np.max(x, axis=axes, keepdims=True)
            m = np.where(np.isfinite(m), m, 0)
            with np.errstate(divide="ignore", invalid="ignore"):  # all -inf: log(0) = -inf, silently
                lse = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        ctx.save_for_backward(x, lse)
        ctx.args = (axes, keepdim)
        return lse if keepdim else np.squeeze(lse, axes)

    @staticmethod
    def backward(ctx, grad):
        x, lse = ctx.saved_tensors
        axes, keepdim = ctx.args
        g = grad if keepdim else np.expand_dims(grad, axes)
        return g * np.exp(x - lse), None, None


def _float_tensor(name, x, dtype=None):
    """``x`` as a floating tensor, cast to ``dtype`` first when given (softmax's ``dtype=``)."""
    x = as_tensor(x)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{name}: dtype must be a floating dtype, got {dtype}")
        x = x.to(dtype=dtype)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: input dtype must be floating, got {x.dtype}")
    return x


def _softmax_axis(name, dim, x):
    if dim is None:
        # PyTorch's implicit dim (deprecated there, kept for ported code): 0 for 0-, 1- and
        # 3-D inputs, else 1.
        dim = 0 if x.ndim in (0, 1, 3) else 1
    axis = normalize_dim(name, dim, x.ndim)
    # A 0-d tensor takes dim 0 or -1 and normalises over nothing (the result is 1, or 0 for log).
    return axis if x.ndim else ()


def softmax(x, dim=None, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim``, computed stably (max subtracted first).

    Args:
        x: input tensor.
        dim: the dimension that sums to 1.
        dtype: cast the input to this floating dtype first (PyTorch's ``dtype=``).
    """
    x = _float_tensor("softmax", x, dtype)
    axis = _softmax_axis("softmax", dim, x)
    if x.size == 0:
        return _clone(x)  # nothing to normalise, and no max to subtract
    return Softmax.apply(x, axis)


def log_softmax(x, dim=None, dtype=None):
    """``x - logsumexp(x)`` along ``dim``: the log of softmax without underflow (``dtype`` as softmax)."""
    x = _float_tensor("log_softmax", x, dtype)
    axis = _softmax_axis("log_softmax", dim, x)
    if x.size == 0:
        return _clone(x)
    return LogSoftmax.apply(x, axis)


def logsumexp(x, dim=None, keepdim: bool = False):
    """``log(sum(exp(x)))`` over ``dim``, computed stably; ``-inf`` over an empty dimension."""
    x = _float_tensor("logsumexp", x)
    return LogSumExp.apply(x, normalize_dims("logsumexp", dim, x.ndim), keepdim)
