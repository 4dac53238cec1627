"""Pooling layers with PyTorch's constructors: max, min, average, adaptive, and max unpooling."""

from __future__ import annotations

from ..ops import pooling as P
from .module import Module

__all__ = ["MaxPool2d", "MinPool2d", "AvgPool2d", "MaxUnpool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d"]


class MaxPool2d(Module):
    """2-D max pooling.

    Args:
        kernel_size: int or (KH, KW).
        stride: int or pair; default ``kernel_size``.
        padding: int or pair, at most half the kernel size (pads with -inf).
        dilation: int or pair.
        return_indices: also return the flat per-plane argmax (for ``MaxUnpool2d``).
        ceil_mode: round the output size up.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW), OH = floor((H + 2P - D(K-1) - 1)/S) + 1 (ceil under ceil_mode).
    """

    _fn = staticmethod(P.max_pool2d)

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.padding, self.dilation = kernel_size, padding, dilation
        self.stride = kernel_size if stride is None else stride
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return self._fn(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MinPool2d(MaxPool2d):
    """2-D min pooling (``-MaxPool2d(-x)``); arguments and shape as ``MaxPool2d``."""

    _fn = staticmethod(P.min_pool2d)


class AvgPool2d(Module):
    """2-D average pooling.

    Args:
        kernel_size: int or (KH, KW).
        stride: int or pair; default ``kernel_size``.
        padding: int or pair of implicit zeros.
        ceil_mode: round the output size up.
        count_include_pad: count padded zeros in the divisor.
        divisor_override: fixed divisor instead of the window size.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW), OH = floor((H + 2P - K)/S) + 1 (ceil under ceil_mode).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = kernel_size if stride is None else stride
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, x):
        return P.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool2d(Module):
    """Inverse of ``MaxPool2d`` up to the non-maximal values, which become zeros.

    Args:
        kernel_size: int or pair, as the pooling.
        stride: int or pair; default ``kernel_size``.
        padding: int or pair, as the pooling.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW), OH = (H - 1)*S - 2P + K unless ``output_size`` is given.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = kernel_size if stride is None else stride

    def forward(self, x, indices, output_size=None):
        return P.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (``AdaptiveAvgPool2d(1)``: global average pooling).

    Args:
        output_size: int or (OH, OW); None in the pair keeps that input size.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW).
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return P.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size.

    Args:
        output_size: int or (OH, OW); None in the pair keeps that input size.
        return_indices: also return the flat per-plane argmax.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW).
    """

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        return P.adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
