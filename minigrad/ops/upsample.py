"""Upsampling ops: ``interpolate`` (nearest, nearest-exact, (bi)linear, bicubic, area) and
``bed_of_nails`` (zero insertion).

Coordinates follow PyTorch exactly:

- nearest (PyTorch's legacy "nearest"): ``src = min(floor(dst * scale), in - 1)``;
- nearest-exact: ``src = min(floor((dst + 0.5) * scale), in - 1)``;
- bicubic: bilinear's source coordinate (unclamped), Keys' cubic kernel with A = -0.75 over
  four taps clamped to the edge; applied as one (out, in) matrix per axis;
- area: adaptive average pooling to the output size;
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
from .geometry import as_batch, pair, unbatch

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "bed_of_nails"]


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
        planes = backend.contiguous(x).reshape(N * C, H, W)
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
        dy = backend.contiguous(grad).reshape(N * C, grad.shape[2], grad.shape[3])
        dx = backend.empty((N * C, H, W), grad.dtype)
        if mode == "nearest":
            backend.nearest_backward(dx, dy, *tables)
        else:
            backend.bilinear_backward(dx, dy, *tables)
        return dx.reshape(N, C, H, W), None, None, None, None


def _nearest_exact_table(in_size: int, out_size: int, scale_factor) -> np.ndarray:
    """PyTorch's "nearest-exact": ``src = min(floor((dst + 0.5) * scale), in - 1)`` (pixel centres)."""
    if scale_factor is not None and scale_factor > 0:
        scale = np.float32(1.0 / scale_factor)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    src = np.floor((np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale).astype(np.int64)
    return np.minimum(src, in_size - 1)


def _cubic_matrix(in_size: int, out_size: int, scale_factor, align_corners: bool) -> np.ndarray:
    """(out, in) weights of PyTorch's bicubic resampling along one axis (Keys' kernel, A = -0.75).

    Source coordinate as bilinear's but not clamped at 0; taps ``floor(src) - 1 .. + 2`` are
    clamped to the edge, so edge pixels collect the weight of the taps beyond them.
    """
    A = -0.75
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1) if out_size > 1 else 0.0)
    else:
        scale = 1.0 / scale_factor if scale_factor is not None and scale_factor > 0 else in_size / out_size
        src = scale * (dst + 0.5) - 0.5
    base = np.floor(src)
    t = src - base

    def near(x):  # |x| <= 1
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    weights = np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1)
    matrix = np.zeros((out_size, in_size))
    for k in range(4):
        taps = np.clip(base.astype(np.int64) - 1 + k, 0, in_size - 1)
        np.add.at(matrix, (np.arange(out_size), taps), weights[:, k])
    return matrix


def _resample_planes(backend, planes, rows_t, cols_t):
    """``rows_t^T @ plane @ cols_t`` for every (H, W) plane of ``planes`` (P, H, W), as 2-D GEMMs.

    ``rows_t`` is (H, OH) and ``cols_t`` (W, OW): the transposed per-axis resampling matrices.
    """
    P, H, W = planes.shape
    OH, OW = rows_t.shape[1], cols_t.shape[1]
    step = np.matmul(planes.reshape(P * H, W), cols_t).reshape(P, H, OW)
    step = backend.contiguous(np.transpose(step, (0, 2, 1))).reshape(P * OW, H)
    out = np.matmul(step, rows_t).reshape(P, OW, OH)
    return backend.contiguous(np.transpose(out, (0, 2, 1)))


class _Bicubic(Function):
    """Separable resampling ``Wy @ x @ Wx^T`` per plane; backward ``Wy^T @ g @ Wx``."""

    @staticmethod
    def forward(ctx, x, wy, wx, wy_t, wx_t):
        N, C, H, W = x.shape
        backend = get_backend(ctx.device)
        out = _resample_planes(backend, backend.contiguous(x).reshape(N * C, H, W), wy_t, wx_t)
        ctx.args = (x.shape, wy, wx)
        return out.reshape(N, C, wy.shape[0], wx.shape[0])

    @staticmethod
    def backward(ctx, grad):
        (N, C, H, W), wy, wx = ctx.args
        backend = get_backend(ctx.device)
        g = backend.contiguous(grad).reshape(N * C, grad.shape[2], grad.shape[3])
        return _resample_planes(backend, g, wy, wx).reshape(N, C, H, W), None, None, None, None


_MODES = {3: ("nearest", "nearest-exact", "linear", "area"), 4: ("nearest", "nearest-exact", "bilinear", "bicubic", "area")}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize signals (N, C, L) or images (N, C, H, W) with PyTorch's coordinate conventions.

    Args:
        input: (N, C, L) or (N, C, H, W).
        size: output size (int, or one per spatial dimension); exclusive with ``scale_factor``.
        scale_factor: float or one per spatial dimension; the output is ``floor(size * scale_factor)``.
        mode: "nearest", "nearest-exact", "area" (adaptive average pooling), "linear" (3-D input),
            "bilinear" or "bicubic" (4-D input).
        align_corners: linear modes only: map corner pixel centres onto each other (default False).
        recompute_scale_factor: with ``scale_factor``, use in/out instead of 1/scale_factor for the
            coordinates (as if ``size`` had been given).
        antialias: must be False (see the README's table of differences from PyTorch).

    Returns:
        Tensor (N, C, OL) or (N, C, OH, OW).

    Shape:
        OH = size[0], or floor(H * scale_factor[0]); likewise OW.
    """
    from ..tensor import Tensor

    op = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in _MODES:
        raise ValueError(
            f"{op}: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got shape {input.shape}; "
            f"minigrad has no volumetric (5-D, trilinear) modes: resize the depth slices with 4-D calls instead"
        )
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {input.dtype}")
    modes = _MODES[input.ndim]
    if mode not in modes:
        raise ValueError(f"{op}: mode {mode!r} does not apply to a {input.ndim}-D input; use one of {modes}")
    if antialias:
        raise ValueError(f"{op}: antialias=True is not supported by minigrad; low-pass filter first "
                         f"(e.g. avg_pool2d) and resize with antialias=False")
    linear = mode in ("linear", "bilinear", "bicubic")
    if align_corners is not None and not linear:
        raise ValueError(f"{op}: align_corners only applies to the modes linear, bilinear and bicubic, got mode={mode!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor (got size={size!r}, scale_factor={scale_factor!r})")
    dims = input.ndim - 2
    spatial = tuple(input.shape[2:])
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * dims
        if len(sizes) != dims or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in sizes):
            raise ValueError(f"{op}: size must be an int or {dims} ints for input {input.shape}, got {size!r}")
        if min(sizes) < 1:
            raise ValueError(f"{op}: size must be positive, got {size!r}")
        out_sizes, scales = tuple(int(n) for n in sizes), (None,) * dims
    else:
        scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * dims
        if len(scales) != dims:
            raise ValueError(f"{op}: scale_factor must be a number or {dims} numbers, got {scale_factor!r}")
        scales = tuple(float(f) for f in scales)
        if min(scales) <= 0:
            raise ValueError(f"{op}: scale_factor must be positive, got {scale_factor!r}")
        out_sizes = tuple(math.floor(n * f) for n, f in zip(spatial, scales))
        if min(out_sizes) <= 0:
            raise ValueError(f"{op}: input {input.shape} with scale_factor {scale_factor!r} gives output size {out_sizes}")
        if recompute_scale_factor:
            scales = (None,) * dims
    if dims == 1:
        # A signal is an image of height 1: the row tables map 1 -> 1.
        x = input.reshape(input.shape[0], input.shape[1], 1, spatial[0])
        (H, W), (OH, OW), (sh, sw) = (1, spatial[0]), (1, out_sizes[0]), (None, scales[0])
    else:
        x = input
        (H, W), (OH, OW), (sh, sw) = spatial, out_sizes, scales
    if mode == "area":
        from .pooling import adaptive_avg_pool2d

        out = adaptive_avg_pool2d(x, (OH, OW))
    elif mode == "bicubic":
        corners = bool(align_corners)
        wy, wx = _cubic_matrix(H, OH, sh, corners), _cubic_matrix(W, OW, sw, corners)
        mats = [np.ascontiguousarray(m, dtype=input.dtype) for m in (wy, wx, wy.T, wx.T)]
        if input.device != "cpu":
            mats = [get_backend(input.device).from_numpy(m) for m in mats]
        out = _Bicubic.apply(x, *mats)
    else:
        if mode == "nearest":
            tables = (_nearest_table(H, OH, sh), _nearest_table(W, OW, sw))
        elif mode == "nearest-exact":
            tables = (_nearest_exact_table(H, OH, sh), _nearest_exact_table(W, OW, sw))
        else:
            corners = bool(align_corners)
            tables = _linear_table(H, OH, sh, corners, input.dtype) + _linear_table(W, OW, sw, corners, input.dtype)
        if input.device != "cpu":
            tables = tuple(get_backend(input.device).from_numpy(t) for t in tables)
        out = _Upsample.apply(x, "bilinear" if mode in ("linear", "bilinear") else "nearest", tables, OH, OW)
    return out.reshape(tuple(input.shape[:2]) + out_sizes) if dims == 1 else out


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """``interpolate`` under its older name (``nn.functional.upsample``)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """``interpolate(..., mode="nearest")`` (``nn.functional.upsample_nearest``)."""
    return interpolate(input, size, scale_factor, "nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """``interpolate(..., mode="bilinear", align_corners=True)``, as ``nn.functional.upsample_bilinear``."""
    return interpolate(input, size, scale_factor, "bilinear", align_corners=True)


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
        backend.scatter_planes(out, backend.contiguous(x).reshape(N * C, H * W), index)
        ctx.args = (x.shape, index)
        return out.reshape(N, C, H * sh, W * sw)

    @staticmethod
    def backward(ctx, grad):
        (N, C, H, W), index = ctx.args
        backend = get_backend(ctx.device)
        dx = backend.empty((N * C, H * W), grad.dtype)
        backend.gather_planes(dx, backend.contiguous(grad).reshape(N * C, grad.shape[2] * grad.shape[3]), index)
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
    input, unbatched = as_batch(op, input)
    sh, sw = pair(scale, "scale", op, 1)
    return unbatch(_BedOfNails.apply(input, sh, sw), unbatched)
