"""Fully connected layers: ``Linear`` and ``Bilinear``."""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Linear", "Bilinear"]


def _factory(device, dtype):
    return ("cpu" if device is None else device), np.dtype(np.float32 if dtype is None else dtype)


class Linear(Module):
    """Affine map ``y = x W^T + b``.

    Initialised as PyTorch does: ``W ~ kaiming_uniform_(a=sqrt(5))``, i.e. U(-1/sqrt(in), 1/sqrt(in)),
    and ``b ~ U(-1/sqrt(in_features), 1/sqrt(in_features))``.

    Args:
        in_features: size of each input's last dimension.
        out_features: size of each output's last dimension.
        bias: learn an additive bias.
        device: where the parameters live ("cpu" or "cuda").
        dtype: parameter dtype (float32 by default).

    Shape:
        - Input: (*, in_features)
        - Output: (*, out_features)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: feature counts must be non-negative, got in_features={in_features}, "
                             f"out_features={out_features}")
        device, dtype = _factory(device, dtype)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        self.bias = Parameter(np.empty(out_features, dtype=dtype)) if bias else None
        if self.bias is None:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device != "cpu":
            self.to(device)

    def reset_parameters(self) -> None:
        """Draw fresh weights from PyTorch's default distributions (``mg.manual_seed`` controls them)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear: input of shape {tuple(x.shape)} has last dimension "
                             f"{x.shape[-1] if x.shape else None}, expected in_features={self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """Bilinear map ``y_o = x1^T A_o x2 + b_o``, i.e. ``y[n, o] = sum_ij x1[n, i] A[o, i, j] x2[n, j] + b[o]``.

    Weights and bias are initialised U(-1/sqrt(in1_features), 1/sqrt(in1_features)) as in PyTorch.

    Args:
        in1_features: size of the first input's last dimension.
        in2_features: size of the second input's last dimension.
        out_features: size of the output's last dimension.
        bias: learn an additive bias.
        device: where the parameters live.
        dtype: parameter dtype.

    Shape:
        - Input1: (*, in1_features); Input2: (*, in2_features) with the same leading dimensions
        - Output: (*, out_features)
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        device, dtype = _factory(device, dtype)
        self.in1_features, self.in2_features = int(in1_features), int(in2_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.empty((out_features, in1_features, in2_features), dtype=dtype))
        self.bias = Parameter(np.empty(out_features, dtype=dtype)) if bias else None
        if self.bias is None:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device != "cpu":
            self.to(device)

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.in1_features) if self.in1_features > 0 else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x1, x2):
        if x1.shape[-1:] != (self.in1_features,) or x2.shape[-1:] != (self.in2_features,) \
                or x1.shape[:-1] != x2.shape[:-1]:
            raise ValueError(f"Bilinear: inputs of shapes {tuple(x1.shape)} and {tuple(x2.shape)}; expected "
                             f"(*, {self.in1_features}) and (*, {self.in2_features}) with equal leading dimensions")
        lead = tuple(x1.shape[:-1])
        a = F.reshape(x1, -1, self.in1_features)
        b = F.reshape(x2, -1, self.in2_features)
        y = F.einsum("ni,oij,nj->no", a, self.weight, b)
        if self.bias is not None:
            y = y + self.bias
        return F.reshape(y, *lead, self.out_features)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
