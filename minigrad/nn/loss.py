"""Loss modules: ``CrossEntropyLoss``, ``NLLLoss``, ``MSELoss`` over ``minigrad.functional``."""

from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check(name, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits against class indices (also per-pixel, for segmentation)::

        loss[n] = -w[y_n] * log(softmax(x[n])[y_n])

    "mean" divides by the summed weights of the non-ignored targets, as PyTorch.

    Args:
        weight: optional per-class weights (C,).
        ignore_index: targets with this value contribute nothing.
        reduction: "mean", "sum" or "none".
        label_smoothing: mix the one-hot target with the uniform distribution by this amount.

    Shape:
        - Input: (N, C) or (N, C, H, W) logits
        - Target: (N,) or (N, H, W) int64 class indices
        - Output: scalar, or the target's shape with ``reduction="none"``
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        _check("CrossEntropyLoss", reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.weight, self.ignore_index = weight, ignore_index
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, reduction=self.reduction,
                               label_smoothing=self.label_smoothing, ignore_index=self.ignore_index)

    def extra_repr(self):
        return f"reduction={self.reduction!r}" + (f", label_smoothing={self.label_smoothing}"
                                                  if self.label_smoothing else "")


class NLLLoss(Module):
    """Negative log-likelihood of class indices given log-probabilities: ``loss[n] = -w[y_n] * x[n, y_n]``.

    Args:
        weight: optional per-class weights (C,).
        ignore_index: targets with this value contribute nothing.
        reduction: "mean", "sum" or "none".

    Shape:
        - Input: (N, C) or (N, C, H, W) log-probabilities
        - Target: (N,) or (N, H, W) int64 class indices
        - Output: scalar, or the target's shape with ``reduction="none"``
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        _check("NLLLoss", reduction)
        self.weight, self.ignore_index, self.reduction = weight, ignore_index, reduction

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, reduction=self.reduction, ignore_index=self.ignore_index)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(Module):
    """Mean squared error ``(x - y)^2``, reduced by mean or sum.

    Args:
        reduction: "mean", "sum" or "none".

    Shape:
        - Input: (*) ; Target: (*), same shape
        - Output: scalar, or (*) with ``reduction="none"``
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        _check("MSELoss", reduction)
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"
