"""``Dropout``: inverted dropout during training, identity in eval mode."""

from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero each element with probability ``p`` while training and scale the survivors by ``1 / (1 - p)``,
    so the expected activation is unchanged and ``eval()`` mode needs no rescaling.

    The masks come from ``mg.default_rng()``; ``mg.manual_seed`` makes them reproducible.

    Args:
        p: drop probability in [0, 1].
        inplace: accepted for PyTorch compatibility; a new tensor is always returned.

    Shape:
        - Input: (*) ; Output: (*), same shape.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p must be in [0, 1], got {p!r}")
        self.p, self.inplace = float(p), inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
