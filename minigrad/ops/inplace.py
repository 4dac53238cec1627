"""In-place ops (``zero_``, ``fill_``, ``add_``, ``sub_``, ``mul_``, ``div_``, ``clamp_``, ``copy_``,
``normal_``, ``uniform_``), with PyTorch's rules.

- On a leaf that requires grad they are refused while gradients are recorded (PyTorch's
  "a leaf Variable that requires grad is being used in an in-place operation"); under
  ``mg.no_grad()`` they write into its memory, which is how weights are initialised.
- On any other tensor, while gradients are recorded, the result is computed out of place and
  the tensor takes it over: its values, dtype-preserving, and its place in the graph
  (``x.clone().zero_()`` has gradient 0 with respect to ``x``, as in PyTorch). Ops that used
  the old values hold the old state's graph node (``autograd.Node``), so they backpropagate
  through it unchanged. Arrays that earlier ops saved are never
  overwritten, so an in-place op cannot corrupt a gradient.
- Under ``no_grad`` the values are written into the tensor's memory, so views of it
  (``detach()``, basic slices) see them; a later backward through an op that used the
  overwritten values raises, as PyTorch does.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function, is_grad_enabled
from ..backends import get_backend
from ..tensor import Tensor, default_rng
from .device import cast, to_device
from .clamp import clamp
from .elementwise import add, div, mul, sub, unbroadcast

__all__ = ["commit", "setitem", "zero_", "fill_", "add_", "sub_", "mul_", "div_", "clamp_", "copy_", "normal_", "uniform_"]


class Overwrite(Function):
    """The result of ``fill_``-like ops: new values that do not depend on the old ones (gradient 0)."""

    @staticmethod
    def forward(ctx, x, values):
        return values

    @staticmethod
    def backward(ctx, grad):
        return np.zeros_like(grad), None


class CopyFrom(Function):
    """``dst.copy_(src)``: ``src`` broadcast to ``dst``'s shape and cast to its dtype."""

    @staticmethod
    def forward(ctx, dst, src):
        ctx.src = (src.shape, src.dtype)
        out = np.empty_like(dst)
        out[...] = src
        return out

    @staticmethod
    def backward(ctx, grad):
        shape, dtype = ctx.src
        gsrc = unbroadcast(grad, shape).astype(dtype) if ctx.needs_input_grad[1] else None
        return np.zeros_like(grad), gsrc


class SetItem(Function):
    """``x[index] = value`` as a new array: ``x``'s gradient is zero at ``index``, ``value`` gets the rest."""

    @staticmethod
    def forward(ctx, x, value, index):
        ctx.args = (index, value.shape)
        out = x.copy()
        out[index] = value
        return out

    @staticmethod
    def backward(ctx, grad):
        index, shape = ctx.args
        gx = grad.copy()
        gx[index] = 0
        gv = unbroadcast(grad[index], shape) if ctx.needs_input_grad[1] else None
        return gx, gv, None


def commit(name, t, compute):
    """Make ``t`` hold ``compute()``'s result in place, by the rules in the module docstring."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(t).__name__}")
    recording = is_grad_enabled()
    if recording and t.requires_grad and t.is_leaf:
        raise RuntimeError(
            f"{name}: a leaf tensor that requires grad is used in an in-place operation (PyTorch refuses "
            f"this too); wrap it in mg.no_grad() (initialisation) or work on a clone()"
        )
    out = compute()
    _check_dtype(name, t, out)
    if tuple(out.shape) != t.shape:
        raise ValueError(f"{name}: the result of shape {tuple(out.shape)} does not fit the tensor's shape {t.shape}")
    if not recording:
        try:
            t.data[...] = out.data
        except ValueError as exc:
            raise RuntimeError(f"{name}: cannot write into this tensor's memory ({exc})") from None
        t._version += 1
        if t.requires_grad or t._ctx is not None:
            t._overwritten = t._version
            if t._node is not None:
                t._node._overwritten = t._version
        return t
    if out.dtype != t.dtype:
        out = cast(out, t.dtype)
    t._version += 1
    # The ops that read the old state hold its graph node (``autograd.Node``); the new state
    # gets a node of its own when an op first uses it.
    t.data, t._ctx, t.requires_grad, t._node = out.data, out._ctx, out.requires_grad, None
    return t


def _check_dtype(name, t, out):
    if out.dtype.kind == "f" and t.dtype.kind != "f":
        raise RuntimeError(
            f"{name}: the result type {out.dtype} can't be cast to the tensor's dtype {t.dtype} (as in PyTorch)"
        )


def _constant(t, values):
    """An ``Overwrite`` result: ``values`` (host array) on ``t``'s device, linked to ``t`` with gradient 0."""
    values = np.ascontiguousarray(values, dtype=t.dtype)
    if t.device != "cpu":
        values = get_backend(t.device).from_numpy(values)
    return Overwrite.apply(t, values)


def setitem(t, index, value):
    """``t[index] = value`` (``Tensor.__setitem__``), by the rules of the other in-place ops."""
    from .shape import raw_index

    raw, _ = raw_index(index)
    try:
        t.data[raw]
    except IndexError as exc:
        raise ValueError(f"setitem: index {index!r} is invalid for a tensor of shape {t.shape}: {exc}") from None
    if not isinstance(value, Tensor):
        value = Tensor(np.asarray(value, dtype=t.dtype if np.asarray(value).dtype.kind in "fiub" else None),
                       device=t.device)

    def compute():
        v = to_device(value, t.device)
        if v.dtype != t.dtype:
            v = cast(v, t.dtype)
        return SetItem.apply(t, v, raw)

    return commit("setitem", t, compute)


def zero_(t):
    """Fill ``t`` with zeros in place; returns ``t``."""
    return commit("zero_", t, lambda: _constant(t, np.zeros(t.shape)))


def fill_(t, value):
    """Fill ``t`` with ``value`` (a number, or a one-element tensor) in place; returns ``t``."""
    if isinstance(value, Tensor):
        if value.size != 1:
            raise ValueError(f"fill_: value must be a number or a one-element tensor, got shape {value.shape}")
        if value.requires_grad:
            return copy_(t, value.reshape(()))
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"fill_: value must be a number, got {type(value).__name__}")
    return commit("fill_", t, lambda: _constant(t, np.full(t.shape, value)))


def add_(t, other, *, alpha=1):
    """``t += alpha * other`` in place; returns ``t``."""
    return commit("add_", t, lambda: add(t, other, alpha=alpha))


def sub_(t, other, *, alpha=1):
    """``t -= alpha * other`` in place; returns ``t``."""
    return commit("sub_", t, lambda: sub(t, other, alpha=alpha))


def mul_(t, other):
    """``t *= other`` in place; returns ``t``."""
    return commit("mul_", t, lambda: mul(t, other))


def div_(t, other, *, rounding_mode=None):
    """``t /= other`` in place (``rounding_mode`` as ``div``); returns ``t``."""
    return commit("div_", t, lambda: div(t, other, rounding_mode=rounding_mode))


def clamp_(t, min=None, max=None):
    """Clamp ``t`` to ``[min, max]`` in place; returns ``t``."""
    return commit("clamp_", t, lambda: clamp(t, min, max))


def copy_(t, src, non_blocking: bool = False):
    """Copy ``src`` (broadcast to ``t``'s shape, cast to its dtype, moved to its device) into ``t``."""
    if not isinstance(src, Tensor):
        src = Tensor(np.asarray(src))
    try:
        fits = np.broadcast_shapes(src.shape, t.shape) == t.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"copy_: source of shape {src.shape} cannot be broadcast to the tensor's shape {t.shape}")

    def compute():
        moved = to_device(src, t.device)
        if moved.dtype.kind == "f" and t.dtype.kind == "f" and moved.dtype != t.dtype:
            moved = cast(moved, t.dtype)
        if t.dtype.kind != "f" and moved.requires_grad:
            raise RuntimeError(f"copy_: cannot copy a tensor that requires grad into a {t.dtype} tensor")
        return CopyFrom.apply(t, moved)

    return commit("copy_", t, compute)


def _random_dtype(name, t):
    if t.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point tensor, got {t.dtype}")


def normal_(t, mean: float = 0.0, std: float = 1.0):
    """Fill ``t`` in place with samples of N(mean, std^2) from ``mg.default_rng()``; returns ``t``."""
    _random_dtype("normal_", t)
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    return commit("normal_", t, lambda: _constant(t, default_rng().normal(mean, std, t.shape)))


def uniform_(t, a: float = 0.0, b: float = 1.0):
    """Fill ``t`` in place with samples of U[a, b) from ``mg.default_rng()``; returns ``t``."""
    _random_dtype("uniform_", t)
    if a > b:
        raise ValueError(f"uniform_: a must be at most b, got a={a}, b={b}")
    return commit("uniform_", t, lambda: _constant(t, default_rng().uniform(a, b, t.shape)))
