"""Activation and reshaping layers: thin modules over ``minigrad.functional``."""

from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Flatten", "Unflatten"]


class ReLU(Module):
    """``max(x, 0)`` elementwise.

    Args:
        inplace: accepted for PyTorch compatibility; minigrad always returns a new tensor.

    Shape:
        - Input: (*) ; Output: (*), same shape.
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``x`` where ``x > 0``, else ``negative_slope * x``.

    Args:
        negative_slope: slope for negative inputs.
        inplace: accepted for PyTorch compatibility; a new tensor is always returned.

    Shape:
        - Input: (*) ; Output: (*), same shape.
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise.

    Shape:
        - Input: (*) ; Output: (*), same shape.
    """

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """Hyperbolic tangent elementwise.

    Shape:
        - Input: (*) ; Output: (*), same shape.
    """

    def forward(self, x):
        return F.tanh(x)


class Softmax(Module):
    """``exp(x_i) / sum_j exp(x_j)`` along ``dim``.

    Args:
        dim: the dimension that sums to 1; None is PyTorch's implicit (deprecated) choice: 0 for
            0-, 1- and 3-D inputs, else 1.

    Shape:
        - Input: (*) ; Output: (*), same shape.
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``x_i - log(sum_j exp(x_j))`` along ``dim``.

    Args:
        dim: the dimension normalised over (None as ``Softmax``).

    Shape:
        - Input: (*) ; Output: (*), same shape.
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one (by default everything but the batch).

    Args:
        start_dim: first dimension merged.
        end_dim: last dimension merged (inclusive).

    Shape:
        - Input: (N, C, H, W) with the defaults
        - Output: (N, C * H * W)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (the inverse of ``Flatten``).

    Args:
        dim: the dimension split.
        unflattened_size: the new sizes; their product must equal the size of ``dim``.

    Shape:
        - Input: (*, S, *) with S = prod(unflattened_size) at ``dim``
        - Output: (*, *unflattened_size, *)
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = int(dim), tuple(int(s) for s in unflattened_size)

    def forward(self, x):
        shape = tuple(x.shape)
        dim = self.dim + len(shape) if self.dim < 0 else self.dim
        if not 0 <= dim < len(shape):
            raise ValueError(f"Unflatten: dim {self.dim} out of range for an input of shape {shape}")
        known = 1
        for s in self.unflattened_size:
            known *= s if s != -1 else 1
        sizes = self.unflattened_size
        if -1 not in sizes and known != shape[dim] or -1 in sizes and (known == 0 or shape[dim] % known):
            raise ValueError(f"Unflatten: cannot split dimension {self.dim} of size {shape[dim]} "
                             f"(input shape {shape}) into {self.unflattened_size}")
        return F.reshape(x, *shape[:dim], *sizes, *shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
