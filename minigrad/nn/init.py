"""Weight initialisers (``nn.init``) with PyTorch's formulas, drawing from ``mg.manual_seed``'s generator.

Each function fills a tensor in place (``name_`` with a trailing underscore, as PyTorch) and returns it.
"""

from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor, default_rng

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_",
    "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_", "fan_in_and_fan_out",
]


def fan_in_and_fan_out(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight: (in, out) features times the kernel's area for convolutions."""
    if len(shape) < 2:
        raise ValueError(f"init: fan in/out need a weight with at least 2 dimensions, got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    values = np.asarray(values).astype(tensor.dtype, copy=False)
    tensor.data = values if tensor.device == "cpu" else tensor._backend().from_numpy(values)
    return tensor


def _draw_dtype(tensor: Tensor):
    # Drawing float32 directly halves the work for the 138M weights of VGG-16 (no float64 pass).
    return np.float32 if tensor.dtype == np.float32 else np.float64


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    dtype = _draw_dtype(tensor)
    values = default_rng().random(tensor.shape, dtype=dtype)
    values *= dtype(b - a)
    values += dtype(a)
    return _fill(tensor, values)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    dtype = _draw_dtype(tensor)
    values = default_rng().standard_normal(tensor.shape, dtype=dtype)
    values *= dtype(std)
    values += dtype(mean)
    return _fill(tensor, values)


def trunc_normal_(tensor: Tensor, mean=0.0, std=1.0, a=-2.0, b=2.0) -> Tensor:
    """Normal values redrawn until they fall in [a, b]."""
    values = default_rng().normal(mean, std, tensor.shape)
    bad = (values < a) | (values > b)
    while bad.any():
        values[bad] = default_rng().normal(mean, std, int(bad.sum()))
        bad = (values < a) | (values > b)
    return _fill(tensor, values)


def constant_(tensor: Tensor, value: float) -> Tensor:
    return _fill(tensor, np.full(tensor.shape, value))


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"kaiming init: weight of shape {tuple(tensor.shape)} has {mode} = 0")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """U(-b, b) with b = gain * sqrt(3 / fan). PyTorch's Conv2d/Linear default is ``a=sqrt(5)``."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))
