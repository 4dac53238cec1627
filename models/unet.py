"""U-Net (Ronneberger, Fischer & Brox, 2015) for per-pixel classification.

A contracting path (double 3x3 convolutions, 2x2 max pools, channels doubling),
an expanding path (2x2 up-convolutions halving the channels, concatenation with
the contracting path's feature map of the same level, double 3x3 convolutions)
and a 1x1 classifier. Unlike the paper's unpadded convolutions, every 3x3 is
padded, and odd sizes are zero-padded after each up-convolution, so the output
has the input's height and width.
"""

from __future__ import annotations

import minigrad.functional as F
import minigrad.nn as nn

from .registry import register_model

__all__ = ["DoubleConv", "Down", "Up", "UNet", "unet"]


class DoubleConv(nn.Sequential):
    """(3x3 conv, padding 1 -> [BatchNorm] -> ReLU) twice; keeps H and W.

    Shape:
        - Input: (N, in_channels, H, W). Output: (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True):
        layers = []
        for c_in in (in_channels, out_channels):
            # A bias before BatchNorm is cancelled by its mean subtraction.
            layers.append(nn.Conv2d(c_in, out_channels, kernel_size=3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU())
        super().__init__(*layers)


class Down(nn.Sequential):
    """2x2 max pool, then ``DoubleConv``.

    Shape:
        - Input: (N, in_channels, H, W). Output: (N, out_channels, floor(H / 2), floor(W / 2)).
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True):
        super().__init__(nn.MaxPool2d(kernel_size=2, stride=2), DoubleConv(in_channels, out_channels, batch_norm))


def _pad_to(x, height: int, width: int):
    """Zero-pad ``x`` at the bottom and right to (height, width): the pool floored an odd size."""
    dh, dw = height - x.shape[2], width - x.shape[3]
    return x if dh == 0 and dw == 0 else F.pad(x, (0, dw, 0, dh))


class Up(nn.Module):
    """Up-convolution halving the channels, concatenation with the skip connection, ``DoubleConv``.

    Args:
        in_channels: channels coming from below; the skip connection brings ``in_channels // 2``.
        out_channels: channels after the double convolution.
        batch_norm: BatchNorm in the double convolution.
        bilinear: bilinear 2x upsampling + 1x1 convolution instead of a 2x2 transposed convolution.

    Shape:
        - Input: x (N, in_channels, H, W), skip (N, in_channels // 2, Hs, Ws) with Hs in {2H, 2H + 1}.
        - Output: (N, out_channels, Hs, Ws).
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, bilinear: bool = False):
        super().__init__()
        if bilinear:
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                                    nn.Conv2d(in_channels, in_channels // 2, kernel_size=1))
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels, batch_norm)

    def forward(self, x, skip):
        x = self.up(x)
        x = _pad_to(x, skip.shape[2], skip.shape[3])
        return self.conv(F.cat([skip, x], 1))


class UNet(nn.Module):
    """The U: ``inc`` and ``downs`` going down, ``ups`` coming back with the skips, ``outc`` classifying.

    Args:
        num_classes: output channels (one score per class and pixel).
        in_channels: channels of the input image.
        depth: number of 2x2 poolings (the paper: 4).
        base_channels: channels of the first level (the paper: 64); level i has base * 2**i.
        batch_norm: BatchNorm after each 3x3 convolution (not in the paper; it makes training easy).
        bilinear: bilinear upsampling instead of transposed convolutions.

    Shape:
        - Input: (N, in_channels, H, W) with H, W >= 2**depth.
        - Output: (N, num_classes, H, W).
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 1, depth: int = 4, base_channels: int = 64,
                 batch_norm: bool = True, bilinear: bool = False):
        super().__init__()
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"unet: num_classes and in_channels must be positive, got num_classes={num_classes}, "
                             f"in_channels={in_channels}")
        if depth < 1 or base_channels < 1:
            raise ValueError(f"unet: depth and base_channels must be >= 1, got depth={depth}, "
                             f"base_channels={base_channels}")
        widths = [base_channels * 2 ** i for i in range(depth + 1)]
        self.depth = depth
        self.inc = DoubleConv(in_channels, widths[0], batch_norm)
        self.downs = nn.ModuleList(Down(widths[i], widths[i + 1], batch_norm) for i in range(depth))
        self.ups = nn.ModuleList(Up(widths[i + 1], widths[i], batch_norm, bilinear) for i in reversed(range(depth)))
        self.outc = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    def forward(self, x):
        if min(x.shape[2:]) < 2 ** self.depth:
            raise ValueError(f"unet: input {x.shape[2]}x{x.shape[3]} is smaller than 2**depth = {2 ** self.depth}; "
                             f"use a larger image or a smaller depth")
        skips = []
        x = self.inc(x)
        for down in self.downs:
            skips.append(x)
            x = down(x)
        for up in self.ups:
            x = up(x, skips.pop())
        return self.outc(x)


@register_model("unet", task="segmentation", input_size=(3, 64, 64),
                description="U-Net (Ronneberger 2015; padded convs, optional BatchNorm, output size = input size)")
def unet(num_classes: int = 2, in_channels: int = 1, depth: int = 4, base_channels: int = 64,
         batch_norm: bool = True, bilinear: bool = False) -> UNet:
    """U-Net; see ``UNet`` for the arguments."""
    return UNet(num_classes, in_channels, depth, base_channels, batch_norm, bilinear)
