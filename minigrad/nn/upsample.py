"""Upsampling layers: ``Upsample`` (nearest/bilinear), its two fixed-mode spellings, and ``BedOfNails``."""

from __future__ import annotations

from ..ops.upsample import bed_of_nails, interpolate
from .module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "BedOfNails"]


class Upsample(Module):
    """Resize images with ``interpolate``'s (PyTorch's) conventions.

    Args:
        size: output (OH, OW) or an int; exclusive with ``scale_factor``.
        scale_factor: float or pair.
        mode: "nearest" or "bilinear".
        align_corners: bilinear only (default False).
        recompute_scale_factor: derive the coordinate scale from the output size.

    Shape:
        (N, C, H, W) -> (N, C, OH, OW), OH = size[0] or floor(H * scale_factor[0]).
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x):
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners, self.recompute_scale_factor)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(mode="nearest")``."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(mode="bilinear", align_corners=True)``, as PyTorch's layer of that name."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class BedOfNails(Module):
    """Zero-insertion upsampling: each value at the top-left of its ``scale x scale`` cell.

    Args:
        scale: int or (sh, sw).

    Shape:
        (N, C, H, W) -> (N, C, H*sh, W*sw).
    """

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return bed_of_nails(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
