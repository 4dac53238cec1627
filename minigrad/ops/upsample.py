"""Upsampling ops: ``interpolate`` (nearest, bilinear) and ``bed_of_nails`` (zero insertion).

Coordinates follow PyTorch exactly:

- nearest (PyTorch's legacy "nearest"): ``src = min(floor(dst * scale), in - 1)``;
- bilinear, ``align_corners=False``: ``src = max(scale * (dst + 0.5) - 0.5, 0)`` (pixel centres);
- bilinear, ``align_corners=True``: ``src = dst * (in - 1) / (out - 1)`` (corner pixels aligned);

where ``scale = 1 / scale_factor`` when ``scale_factor`` was given (and not recomputed) and
``in / out`` when ``size`` was given. PyTorch does this arithmetic in single precision
for float32 tensors (and for nearest always), and so do we, so indices agree at the
boundaries where rounding decides.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd import Function
from ..backends import get_backend
from .conv import _check_4d, _contiguous, _pair

__all__ = ["interpolate", "upsample", "bed_of_nails"]


def _nearest_table(in_size: int, out_size: int, scale_factor) -> np.ndarray:
    dst = np.arange(out_size)
    if out_size == in_size:
        return dst.astype(np.int64)
    if out_size == 2 * in_size:
        return (dst >> 1).astype(np.int64)
    if scale_factor is not None and scale_factor > 0:
        scale = np.float32(1.0 / scale_factor)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    src = np.floor(dst.astype(np.float32) * scale).astype(np.int64)
    return np.minimum(src, in_size - 1)


def _linear_table(in_size: int, out_size: int, scale_factor, align_corners: bool, dtype):
    """Source rows (lower, upper) and the upper row's weight for each output row."""
    dtype = np.dtype(dtype)
    dst = np.arange(out_size).astype(dtype)
    if align_corners:
        scale = dtype.type((in_size - 1) / (out_size - 1)) if out_size > 1 else dtype.type(0)
        src = scale * dst
    else:
        if scale_factor is not None and scale_factor > 0:
            scale = dtype.type(1.0 / scale_factor)
        else:
            scale = dtype.type(in_size) / dtype.type(out_size)
        src = np.maximum(scale * (dst + dtype.type(0.5)) - dtype.type(0.5), dtype.type(0))
    lo = src.astype(np.int64)  # src >= 0, so truncation is floor
    hi = np.where(lo < in_size - 1, lo + 1, lo)
    return lo, hi, (src - lo).astype(np.float64)


class _Upsample(Function):
    @staticmethod
    def forward(ctx, x, mode, tables, OH, OW):
        N, C, H, W = x.shape
        backend = get_backend(ctx.device)
        planes = _contiguous(x).reshape(N * C, H, W)
        out = backend.empty((N * C, OH, OW), x.dtype)
        if mode == "nearest":
            backend.nearest_forward(out, planes, *tables)
        else:
            backend.bilinear_forward(out, planes, *tables)
        ctx.args = (x.shape, mode, tables)
        return out.reshape(N, C, OH, OW)

    @staticmethod
    def backward(ctx, grad):
        (N, C, H, W), mode, tables = ctx.args
        backend = get_backend(ctx.device)
        dy = _contiguous(grad).reshape(N * C, grad.shape[2], grad.shape[3])
        dx = backend.empty((N * C, H, W), grad.dtype)
        if mode == "nearest":
            backend.nearest_backward(dx, dy, *tables)
        else:
            backend.bilinear_backward(dx, dy, *tables)
        return dx.reshape(N, C, H, W), None, None, None, None


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None):
    """Resize a batch of images with PyTorch's coordinate conventions.

    Args:
        input: (N, C, H, W).
        size: output (OH, OW) or an int for both; exclusive with ``scale_factor``.
        scale_factor: float or pair; the output is ``floor(H * scale_factor)``.
        mode: "nearest" or "bilinear".
        align_corners: bilinear only: map corner pixel centres onto each other (default False).
        recompute_scale_factor: with ``scale_factor``, use in/out instead of 1/scale_factor for the
            coordinates (as if ``size`` had been given).

    Returns:
        Tensor (N, C, OH, OW).

    Shape:
        OH = size[0], or floor(H * scale_factor[0]); likewise OW.
    """
    from ..tensor import Tensor

    op = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    _check_4d(op, input)
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {input.dtype}")
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"{op}: mode must be 'nearest' or 'bilinear', got {mode!r}")
    if align_corners is not None and mode == "nearest":
        raise ValueError(f"{op}: align_corners only applies to mode='bilinear', got mode='nearest'")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor (got size={size!r}, scale_factor={scale_factor!r})")
    H, W = input.shape[2:]
    if size is not None:
        OH, OW = _pair(tuple(size) if isinstance(size, list) else size, "size", op, 1)
        scales = (None, None)
    else:
        if isinstance(scale_factor, (tuple, list)):
            if len(scale_factor) != 2:
                raise ValueError(f"{op}: scale_factor must be a number or a pair, got {scale_factor!r}")
            scales = tuple(float(s) for s in scale_factor)
        else:
            scales = (float(scale_factor), float(scale_factor))
        if min(scales) <= 0:
            raise ValueError(f"{op}: scale_factor must be positive, got {scale_factor!r}")
        OH, OW = math.floor(H * scales[0]), math.floor(W * scales[1])
        if OH <= 0 or OW <= 0:
            raise ValueError(f"{op}: input {input.shape} with scale_factor {scale_factor!r} gives output size {(OH, OW)}")
        if recompute_scale_factor:
            scales = (None, None)
    if mode == "nearest":
        tables = (_nearest_table(H, OH, scales[0]), _nearest_table(W, OW, scales[1]))
    else:
        corners = bool(align_corners)
        tables = _linear_table(H, OH, scales[0], corners, input.dtype) + _linear_table(W, OW, scales[1], corners, input.dtype)
    if input.device != "cpu":
        tables = tuple(get_backend(input.device).from_numpy(t) for t in tables)
    return _Upsample.apply(input, mode, tables, OH, OW)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """``interpolate`` under its older name (``nn.functional.upsample``)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


class _BedOfNails(Function):
    """Zero insertion as a scatter of each plane to flat positions ``(i*sh) * W*sw + j*sw``
    (the max-unpooling kernels, so every backend has it); the backward gathers them back."""

    @staticmethod
    def forward(ctx, x, sh, sw):
        N, C, H, W = x.shape
        backend = get_backend(ctx.device)
        flat = (np.arange(H)[:, None] * sh * (W * sw) + np.arange(W)[None, :] * sw).reshape(1, H * W)
        index = backend.from_numpy(np.ascontiguousarray(np.broadcast_to(flat, (N * C, H * W)), dtype=np.int64))
        out = backend.empty((N * C, H * sh * W * sw), x.dtype)
        backend.scatter_planes(out, _contiguous(x).reshape(N * C, H * W), index)
        ctx.args = (x.shape, index)
        return out.reshape(N, C, H * sh, W * sw)

    @staticmethod
    def backward(ctx, grad):
        (N, C, H, W), index = ctx.args
        backend = get_backend(ctx.device)
        dx = backend.empty((N * C, H * W), grad.dtype)
        backend.gather_planes(dx, _contiguous(grad).reshape(N * C, -1), index)
        return dx.reshape(N, C, H, W), None, None


def bed_of_nails(input, scale):
    """Zero-insertion upsampling: each value goes to the top-left of its ``scale x scale`` cell.

    ``out[n, c, i*s, j*s] = x[n, c, i, j]``, every other output element is 0.

    Args:
        input: (N, C, H, W).
        scale: int or (sh, sw), at least 1.

    Returns:
        Tensor (N, C, H*sh, W*sw).
    """
    from ..tensor import Tensor

    op = "bed_of_nails"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    _check_4d(op, input)
    sh, sw = _pair(scale, "scale", op, 1)
    return _BedOfNails.apply(input, sh, sw)
