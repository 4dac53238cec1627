"""Modified ReLU backward rules, in effect for the duration of a ``with`` block.

Backpropagation, the DeconvNet and guided backpropagation differ only in how a signal crosses
a ReLU on its way back to the pixels (Springenberg et al., 2015):

- backpropagation: ``grad * [x > 0]`` (the forward input decides);
- DeconvNet (Zeiler & Fergus, 2014): ``max(grad, 0)`` (a ReLU applied to the signal itself);
- guided backpropagation: ``grad * [x > 0] * [grad > 0]`` (both), which discards negative
  evidence and leaves sharp, image-like maps.

The rules reach the ReLU op through its own hook point (``ops.activation.relu_backward``),
thread-locally: nothing is rebound, so ``nn.ReLU``, ``F.relu``, ``Tensor.relu`` and a ``relu``
imported by name all follow the rule, and a guided pass in one thread leaves another's alone.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..ops.activation import relu_backward
from .gradient import input_gradient

__all__ = ["guided_rule", "deconv_rule", "GuidedReLU", "DeconvReLU", "guided_relu", "deconv_relu",
           "guided_backprop"]


def guided_rule(grad, out):
    """Guided backpropagation across a ReLU with output ``out``: ``grad * [out > 0] * [grad > 0]``."""
    return grad * ((out > 0) & (grad > 0))


def deconv_rule(grad, out):
    """The DeconvNet's ReLU backward: ``max(grad, 0)``, whatever the forward input was."""
    return np.maximum(grad, 0)


class GuidedReLU(Function):
    """``max(x, 0)`` forward; backward ``guided_rule`` (for use as an op of its own)."""

    @staticmethod
    def forward(ctx, x):
        out = np.maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return guided_rule(grad, out)


class DeconvReLU(Function):
    """``max(x, 0)`` forward; backward ``deconv_rule`` (for use as an op of its own)."""

    @staticmethod
    def forward(ctx, x):
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx, grad):
        return deconv_rule(grad, None)


def guided_relu():
    """Inside the block, every ReLU run forward in this thread uses the guided-backpropagation rule."""
    return relu_backward(guided_rule)


def deconv_relu():
    """Inside the block, every ReLU run forward in this thread uses the DeconvNet rule."""
    return relu_backward(deconv_rule)


def guided_backprop(model, x: np.ndarray, target: int | None = None):
    """Guided-backpropagation gradient of a class score with respect to one input.

    Args:
        model: a classifier ``Module`` in eval mode.
        x: one input ``(C, H, W)``.
        target: class index (default: the predicted class).

    Returns:
        ``(gradient (C, H, W), target)``.
    """
    with guided_relu():
        return input_gradient(model, x, target)
