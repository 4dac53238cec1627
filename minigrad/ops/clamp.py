"""``clamp`` (``clip``): limit values to ``[min, max]``, with number or tensor bounds.

Gradients are PyTorch's: 1 inside the bounds (bounds included), 0 outside; tensor bounds
receive the gradient where they are the output.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .elementwise import floating, operands, unbroadcast
from .shape import as_tensor

__all__ = ["clamp", "clip"]


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.bounds = (lo, hi)
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        # Built from comparisons of x alone, so it lives on x's device.
        if lo is not None and hi is not None:
            keep = (x >= lo) & (x <= hi)
        else:
            keep = x >= lo if lo is not None else x <= hi
        return np.where(keep, grad, grad.dtype.type(0)), None, None


class ClampTensor(Function):
    """``clamp`` with tensor bounds (either may be None); PyTorch's gradients for all three."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x, lo, hi)
        out = x
        if lo is not None:
            out = np.maximum(out, lo)
        if hi is not None:
            out = np.minimum(out, hi)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, lo, hi = ctx.saved_tensors
        zero = grad.dtype.type(0)
        if lo is not None and hi is not None:
            keep = (x >= lo) & (x <= hi)
        else:
            keep = x >= lo if lo is not None else x <= hi
        gx = unbroadcast(np.where(keep, grad, zero), x.shape)
        glo = ghi = None
        if lo is not None and ctx.needs_input_grad[1]:
            # Below the lower bound the bound is the output; when the bounds cross the upper
            # bound wins (clamp is min(max(x, lo), hi)).
            below = x < lo if hi is None else (x < lo) & (lo < hi)
            glo = unbroadcast(np.where(below, grad, zero), lo.shape)
        if hi is not None and ctx.needs_input_grad[2]:
            above = x > hi if lo is None else (x > hi) | (hi < lo)
            ghi = unbroadcast(np.where(above, grad, zero), hi.shape)
        return gx, glo, ghi


def clamp(x, min=None, max=None):
    """Limit values to ``[min, max]``; gradient 1 inside (bounds included), 0 outside.

    The bounds may be numbers or tensors (broadcast against ``x``); tensor bounds receive the
    gradient where they are the output, as in PyTorch. With ``min > max`` the output is ``max``.

    Args:
        x: input tensor.
        min: lower bound (number or tensor) or None.
        max: upper bound (number or tensor) or None.
    """
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    x = as_tensor(x)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        values = [v for v in (x, min, max) if v is not None]
        lifted = iter(operands("clamp", *values))
        x = next(lifted)
        lo = next(lifted) if min is not None else None
        hi = next(lifted) if max is not None else None
        return ClampTensor.apply(x, lo, hi)
    for bound in (min, max):
        if bound is not None and not isinstance(bound, (int, float, np.number)):
            raise TypeError(f"clamp: bounds must be numbers or tensors, got {type(bound).__name__}")
        if isinstance(bound, (float, np.floating)):
            x = floating(x)  # an integer tensor clamped to a float bound is float32, as in PyTorch
    return Clamp.apply(x, min, max)


def clip(x, min=None, max=None):
    """``clamp`` under NumPy's name (``torch.clip``)."""
    return clamp(x, min, max)
