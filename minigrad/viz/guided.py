"""Modified ReLU backward rules, swapped in for the duration of a ``with`` block.

Backpropagation, the DeconvNet and guided backpropagation differ only in how a signal crosses
a ReLU on its way back to the pixels (Springenberg et al., 2015):

- backpropagation: ``grad * [x > 0]`` (the forward input decides);
- DeconvNet (Zeiler & Fergus, 2014): ``max(grad, 0)`` (a ReLU applied to the signal itself);
- guided backpropagation: ``grad * [x > 0] * [grad > 0]`` (both), which discards negative
  evidence and leaves sharp, image-like maps.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..autograd import Function

__all__ = ["GuidedReLU", "DeconvReLU", "swap_relu", "guided_relu", "guided_backprop"]


class GuidedReLU(Function):
    """``max(x, 0)`` forward; backward ``grad * [x > 0] * [grad > 0]``."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x > 0)
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx, grad):
        (positive,) = ctx.saved_tensors
        return grad * (positive & (grad > 0))


class DeconvReLU(Function):
    """``max(x, 0)`` forward; backward ``max(grad, 0)``, whatever the forward input was."""

    @staticmethod
    def forward(ctx, x):
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx, grad):
        return np.maximum(grad, 0)


@contextlib.contextmanager
def swap_relu(model, function):
    """Inside the block, every ReLU of ``model`` is ``function.apply`` (a ``Function`` subclass).

    Both spellings of ReLU are covered: ``nn.ReLU`` modules get an instance-level ``forward``
    (removed afterwards, so the class is untouched), and ``minigrad.functional.relu`` (used by
    models that call ``F.relu`` and by ``Tensor.relu``) and ``mg.relu`` are rebound for the
    block and restored even when the block raises.
    """
    from .. import functional, nn

    def relu(x, inplace=False):
        return function.apply(x)

    relu_type = getattr(nn, "ReLU", None)
    swapped = []
    for _, module in model.named_modules():
        if relu_type is not None and isinstance(module, relu_type) and "forward" not in module.__dict__:
            object.__setattr__(module, "forward", relu)
            swapped.append(module)
    import minigrad

    original = getattr(functional, "relu", None)
    # ``mg.relu`` is the same function re-exported at the top level: rebind it too.
    namespaces = [ns for ns in (functional, minigrad) if original is not None and getattr(ns, "relu", None) is original]
    for ns in namespaces:
        ns.relu = relu
    try:
        yield model
    finally:
        for ns in namespaces:
            ns.relu = original
        for module in swapped:
            object.__delattr__(module, "forward")


def guided_relu(model):
    """Inside the block, every ReLU of ``model`` uses the guided-backpropagation rule."""
    return swap_relu(model, GuidedReLU)


def guided_backprop(model, x: np.ndarray, target: int | None = None):
    """Guided-backpropagation gradient of a class score with respect to one input.

    Args:
        model: a classifier ``Module`` in eval mode.
        x: one input ``(C, H, W)``.
        target: class index (default: the predicted class).

    Returns:
        ``(gradient (C, H, W), target)``.
    """
    from .saliency import input_gradient

    with guided_relu(model):
        return input_gradient(model, x, target)
