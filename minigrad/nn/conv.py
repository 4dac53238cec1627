"""Convolution layers: ``Conv2d`` and ``ConvTranspose2d`` with PyTorch's constructors and initialisation."""

from __future__ import annotations

import math

import numpy as np

from ..ops.conv import conv2d
from ..ops.conv_transpose import conv_transpose2d
from ..ops.geometry import pair
from . import init
from .module import Module, Parameter

__all__ = ["Conv2d", "ConvTranspose2d"]


class _ConvNd(Module):
    """Shared parameter creation: weight ~ kaiming_uniform(a=sqrt(5)), bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

    def _init_parameters(self, weight_shape, out_channels, bias, dtype):
        self.weight = Parameter(np.empty(weight_shape, dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw the parameters as PyTorch does for a fresh layer."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.fan_in_and_fan_out(self.weight.shape)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) layer.

    Args:
        in_channels: C, channels of the input.
        out_channels: O, number of kernels.
        kernel_size: int or (KH, KW).
        stride: int or pair.
        padding: int, pair, "same" or "valid".
        dilation: int or pair.
        groups: channel groups (``groups=in_channels``: depthwise).
        bias: learn an additive bias per output channel.
        padding_mode: "zeros" (the only mode implemented).
        dtype: parameter dtype (float32 by default).

    Shape:
        input (N, C, H, W) -> output (N, O, OH, OW) with
        OH = floor((H + 2*padding[0] - dilation[0]*(KH-1) - 1) / stride[0]) + 1, likewise OW.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=np.float32):
        super().__init__()
        op = "Conv2d"
        if padding_mode != "zeros":
            raise ValueError(f"{op}: padding_mode must be 'zeros' (implicit zero padding), got {padding_mode!r}")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{op}: in_channels {in_channels} and out_channels {out_channels} must be divisible by groups {groups}"
            )
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size", op, 1)
        self.stride = pair(stride, "stride", op, 1)
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding", op, 0)
        self.dilation = pair(dilation, "dilation", op, 1)
        if padding == "same" and self.stride != (1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride {self.stride})")
        self.padding_mode = padding_mode
        self._init_parameters((out_channels, in_channels // groups) + self.kernel_size, out_channels, bias, dtype)

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in ((0, 0), "valid"):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution ("up-convolution", U-Net's upsampling).

    Args:
        in_channels: Cin.
        out_channels: Cout.
        kernel_size: int or (KH, KW).
        stride: int or pair.
        padding: int or pair: rows/columns cropped from each side of the full output.
        output_padding: int or pair added to the bottom/right (resolves strided size ambiguity).
        groups: channel groups.
        bias: learn an additive bias per output channel.
        dilation: int or pair.
        padding_mode: "zeros" (the only mode PyTorch allows here too).
        dtype: parameter dtype (float32 by default).

    Shape:
        input (N, Cin, H, W) -> output (N, Cout, OH, OW) with
        OH = (H - 1)*stride[0] - 2*padding[0] + dilation[0]*(KH - 1) + output_padding[0] + 1, likewise OW.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", dtype=np.float32):
        super().__init__()
        op = "ConvTranspose2d"
        if padding_mode != "zeros":
            raise ValueError(f"{op}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{op}: in_channels {in_channels} and out_channels {out_channels} must be divisible by groups {groups}"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size", op, 1)
        self.stride = pair(stride, "stride", op, 1)
        self.padding = pair(padding, "padding", op, 0)
        self.output_padding = pair(output_padding, "output_padding", op, 0)
        self.dilation = pair(dilation, "dilation", op, 1)
        self.padding_mode = padding_mode
        # PyTorch stores the weight as (in, out/groups, KH, KW), so fan_in counts out/groups.
        self._init_parameters((in_channels, out_channels // groups) + self.kernel_size, out_channels, bias, dtype)

    def _output_padding(self, x, output_size):
        """The output_padding that yields ``output_size`` (PyTorch's ``forward(x, output_size)``)."""
        if output_size is None:
            return self.output_padding
        size = tuple(int(s) for s in output_size)[-2:]
        pads = []
        for d in range(2):
            smallest = ((x.shape[2 + d] - 1) * self.stride[d] - 2 * self.padding[d]
                        + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            extra = size[d] - smallest
            if not 0 <= extra < max(self.stride[d], self.dilation[d]):
                raise ValueError(
                    f"ConvTranspose2d: requested output size {size} is not reachable from input {x.shape}: "
                    f"dimension {d} must lie in [{smallest}, {smallest + max(self.stride[d], self.dilation[d]) - 1}]"
                )
            pads.append(extra)
        return tuple(pads)

    def forward(self, x, output_size=None):
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                self._output_padding(x, output_size), self.groups, self.dilation)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
