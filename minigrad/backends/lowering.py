"""Which lowering a conv2d takes: the rule both backends' planners (``*/conv_plan.py``) share.

The lowering depends on the layer's shape only, not on the device, so ``ops/conv.py`` has one
code path per lowering; what differs between devices (chunks, memory formats, the dX path, the
CPU's direct kernels) stays in each planner.
"""

from __future__ import annotations

__all__ = ["pointwise", "lowering_for"]


def pointwise(geometry) -> bool:
    """A 1x1, stride-1, unpadded convolution: im2row is the identity on channels-last input.

    Args:
        geometry: ``ops.geometry.conv_geometry``'s tuple ``(KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)``.
    """
    KH, KW, sh, sw, ph, pw = geometry[:6]
    return KH == KW == sh == sw == 1 and ph == pw == 0


def lowering_for(channels: int, groups: int, geometry) -> str:
    """``"columns"``, ``"pointwise"`` or ``"im2row"`` (``ConvPlan.lowering`` in ``contract.py``).

    With one input channel per group (a grayscale input layer, a depthwise conv) im2col's columns
    are im2row's rows transposed and copy whole image rows; a pointwise single-group layer needs
    no lowering; everything else takes im2row.

    Args:
        channels: the input's channel count C.
        groups: number of groups.
        geometry: ``conv_geometry``'s tuple.
    """
    if channels == groups:
        return "columns"
    if pointwise(geometry) and groups == 1:
        return "pointwise"
    return "im2row"
