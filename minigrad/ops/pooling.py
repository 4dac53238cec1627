"""Pooling and unpooling ops: ``max_pool2d``, ``min_pool2d``, ``avg_pool2d``,
``adaptive_avg_pool2d``, ``adaptive_max_pool2d`` and ``max_unpool2d``.

Kernels work on (N*C, H, W) planes. Max-pooling indices are flat per plane,
``h * W + w``, exactly as PyTorch's, so ``max_unpool2d`` (and PyTorch's) consume them.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backends import get_backend
from .geometry import as_batch, check_output_size, conv_output_size, pair, unbatch

__all__ = [
    "max_pool2d", "min_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
    "max_unpool2d",
]


def _default_stride(stride) -> bool:
    """None or an empty sequence (PyTorch's ``stride=[]``) mean: stride = kernel_size."""
    return stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)


def _pool_geometry(op, shape, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate pooling arguments; return (KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)."""
    KH, KW = pair(kernel_size, "kernel_size", op, 1)
    sh, sw = (KH, KW) if _default_stride(stride) else pair(stride, "stride", op, 1)
    ph, pw = pair(padding, "padding", op, 0)
    dh, dw = pair(dilation, "dilation", op, 1)
    if ph > KH // 2 or pw > KW // 2:
        raise ValueError(
            f"{op}: padding {(ph, pw)} must be at most half of kernel_size {(KH, KW)} (input {tuple(shape)})"
        )
    H, W = shape[2:]
    OH = conv_output_size(H, KH, sh, ph, dh, ceil_mode)
    OW = conv_output_size(W, KW, sw, pw, dw, ceil_mode)
    check_output_size(op, f"input {tuple(shape)}, kernel_size {(KH, KW)}, stride {(sh, sw)}, padding {(ph, pw)}, "
                          f"dilation {(dh, dw)}", (OH, OW))
    return KH, KW, sh, sw, ph, pw, dh, dw, OH, OW


def _planes(backend, x):
    """(N, C, H, W) -> contiguous (N*C, H, W)."""
    N, C, H, W = x.shape
    return backend.contiguous(x).reshape(N * C, H, W)


def _check_float(op, x):
    """Validate a pooling input; returns ``as_batch``'s (4-D input, unbatched)."""
    from ..tensor import Tensor

    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {x.dtype}")
    return as_batch(op, x)


class _IndexedPool(Function):
    """Shared backward of the pools that return indices: scatter-add to the argmax."""

    @staticmethod
    def backward(ctx, grad):
        indices, = ctx.saved_tensors
        N, C, H, W = ctx.input_shape
        P = N * C
        backend = get_backend(ctx.device)
        dx = backend.empty((P, H * W), grad.dtype)
        # Sizes spelled out: -1 cannot be inferred for an empty batch.
        cells = grad.shape[2] * grad.shape[3]
        backend.scatter_add_planes(dx, backend.contiguous(grad).reshape(P, cells), indices.reshape(P, cells))
        return dx.reshape(N, C, H, W), None, None


class MaxPool2d(_IndexedPool):
    @staticmethod
    def forward(ctx, x, geometry, negate):
        KH, KW, sh, sw, ph, pw, dh, dw, OH, OW = geometry
        N, C, H, W = x.shape
        backend = get_backend(ctx.device)
        planes = _planes(backend, -x if negate else x)
        out = backend.empty((N * C, OH, OW), x.dtype)
        indices = backend.empty((N * C, OH, OW), np.int64)
        backend.max_pool2d_forward(out, indices, planes, KH, KW, sh, sw, ph, pw, dh, dw)
        if negate:
            out = -out
        ctx.input_shape = x.shape
        ctx.save_for_backward(indices)
        return out.reshape(N, C, OH, OW), indices.reshape(N, C, OH, OW)


def _max_pool(op, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, negate):
    input, unbatched = _check_float(op, input)
    geometry = _pool_geometry(op, input.shape, kernel_size, stride, padding, dilation, ceil_mode)
    out, indices = unbatch(MaxPool2d.apply(input, geometry, negate), unbatched)
    return (out, indices) if return_indices else out


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling: the largest value of each (dilated) window; padding counts as -inf.

    Args:
        input: (N, C, H, W), or unbatched (C, H, W) (the result is then unbatched too).
        kernel_size: int or (KH, KW).
        stride: int or pair; default ``kernel_size``.
        padding: int or pair, at most half the kernel size.
        dilation: int or pair, spacing between window elements.
        ceil_mode: round the output size up instead of down.
        return_indices: also return the argmax, flat per plane (``h * W + w``) as PyTorch.

    Returns:
        Tensor (N, C, OH, OW), and int64 indices of the same shape when ``return_indices``.

    Shape:
        OH = floor((H + 2*ph - dh*(KH-1) - 1) / sh) + 1 (ceil under ``ceil_mode``), likewise OW.
    """
    return _max_pool("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, False)


def min_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D min pooling: the smallest value of each window, ``-max_pool2d(-x)`` (same conventions).

    Args:
        input, kernel_size, stride, padding, dilation, ceil_mode, return_indices: as ``max_pool2d``.

    Returns:
        Tensor (N, C, OH, OW), and the argmin indices when ``return_indices``.

    Shape:
        As ``max_pool2d``.
    """
    return _max_pool("min_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, True)


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, geometry, count_include_pad, divisor):
        KH, KW, sh, sw, ph, pw, _, _, OH, OW = geometry
        N, C, H, W = x.shape
        backend = get_backend(ctx.device)
        out = backend.empty((N * C, OH, OW), x.dtype)
        backend.avg_pool2d_forward(out, _planes(backend, x), KH, KW, sh, sw, ph, pw, count_include_pad, divisor)
        ctx.args = (x.shape, geometry, count_include_pad, divisor)
        return out.reshape(N, C, OH, OW)

    @staticmethod
    def backward(ctx, grad):
        (N, C, H, W), geometry, count_include_pad, divisor = ctx.args
        KH, KW, sh, sw, ph, pw, _, _, OH, OW = geometry
        backend = get_backend(ctx.device)
        dx = backend.empty((N * C, H, W), grad.dtype)
        backend.avg_pool2d_backward(dx, _planes(backend, grad), KH, KW, sh, sw, ph, pw, count_include_pad, divisor)
        return dx.reshape(N, C, H, W), None, None, None


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling.

    Args:
        input: (N, C, H, W), or unbatched (C, H, W) (the result is then unbatched too).
        kernel_size: int or (KH, KW).
        stride: int or pair; default ``kernel_size``.
        padding: int or pair of implicit zeros, at most half the kernel size.
        ceil_mode: round the output size up instead of down.
        count_include_pad: count the padded zeros in the divisor.
        divisor_override: if given, divide every window sum by this instead.

    Returns:
        Tensor (N, C, OH, OW).

    Shape:
        OH = floor((H + 2*ph - KH) / sh) + 1 (ceil under ``ceil_mode``), likewise OW.
    """
    op = "avg_pool2d"
    input, unbatched = _check_float(op, input)
    geometry = _pool_geometry(op, input.shape, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (not isinstance(divisor_override, (int, np.integer)) or divisor_override <= 0):
        raise ValueError(f"{op}: divisor_override must be a positive int, got {divisor_override!r}")
    out = AvgPool2d.apply(input, geometry, int(bool(count_include_pad)), int(divisor_override or 0))
    return unbatch(out, unbatched)


def _adaptive_size(op, shape, output_size):
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        size = tuple(shape[2 + i] if s is None else s for i, s in enumerate(output_size))
    else:
        size = (output_size, output_size)
    OH, OW = pair(size, "output_size", op, 1)
    return OH, OW


class AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, OH, OW):
        N, C, H, W = x.shape
        backend = get_backend(ctx.device)
        out = backend.empty((N * C, OH, OW), x.dtype)
        backend.adaptive_avg_pool2d_forward(out, _planes(backend, x))
        ctx.input_shape = x.shape
        return out.reshape(N, C, OH, OW)

    @staticmethod
    def backward(ctx, grad):
        N, C, H, W = ctx.input_shape
        backend = get_backend(ctx.device)
        dx = backend.empty((N * C, H, W), grad.dtype)
        backend.adaptive_avg_pool2d_backward(dx, _planes(backend, grad))
        return dx.reshape(N, C, H, W), None, None


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (``output_size=1``: global average pooling).

    Output cell ``(i, j)`` averages rows ``floor(i*H/OH)`` to ``ceil((i+1)*H/OH) - 1`` and the
    matching columns, as PyTorch.

    Args:
        input: (N, C, H, W), or unbatched (C, H, W) (the result is then unbatched too).
        output_size: int or (OH, OW); None in the pair keeps that input size.

    Returns:
        Tensor (N, C, OH, OW).
    """
    op = "adaptive_avg_pool2d"
    input, unbatched = _check_float(op, input)
    OH, OW = _adaptive_size(op, input.shape, output_size)
    return unbatch(AdaptiveAvgPool2d.apply(input, OH, OW), unbatched)


class AdaptiveMaxPool2d(_IndexedPool):
    @staticmethod
    def forward(ctx, x, OH, OW):
        N, C, H, W = x.shape
        backend = get_backend(ctx.device)
        out = backend.empty((N * C, OH, OW), x.dtype)
        indices = backend.empty((N * C, OH, OW), np.int64)
        backend.adaptive_max_pool2d_forward(out, indices, _planes(backend, x))
        ctx.input_shape = x.shape
        ctx.save_for_backward(indices)
        return out.reshape(N, C, OH, OW), indices.reshape(N, C, OH, OW)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size (windows as ``adaptive_avg_pool2d``).

    Args:
        input: (N, C, H, W), or unbatched (C, H, W) (the result is then unbatched too).
        output_size: int or (OH, OW); None in the pair keeps that input size.
        return_indices: also return the flat per-plane argmax.

    Returns:
        Tensor (N, C, OH, OW), and int64 indices when ``return_indices``.
    """
    op = "adaptive_max_pool2d"
    input, unbatched = _check_float(op, input)
    OH, OW = _adaptive_size(op, input.shape, output_size)
    out, indices = unbatch(AdaptiveMaxPool2d.apply(input, OH, OW), unbatched)
    return (out, indices) if return_indices else out


class MaxUnpool2d(Function):
    @staticmethod
    def forward(ctx, x, indices, OH, OW):
        N, C, H, W = x.shape
        P = N * C
        backend = get_backend(ctx.device)
        out = backend.empty((P, OH * OW), x.dtype)
        idx = backend.contiguous(indices).reshape(P, H * W)
        backend.scatter_planes(out, _planes(backend, x).reshape(P, H * W), idx)
        ctx.save_for_backward(idx)
        ctx.input_shape = x.shape
        return out.reshape(N, C, OH, OW)

    @staticmethod
    def backward(ctx, grad):
        idx, = ctx.saved_tensors
        N, C, H, W = ctx.input_shape
        P = N * C
        backend = get_backend(ctx.device)
        dx = backend.empty((P, H * W), grad.dtype)
        backend.gather_planes(dx, backend.contiguous(grad).reshape(P, grad.shape[2] * grad.shape[3]), idx)
        return dx.reshape(N, C, H, W), None, None, None


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool2d``: put each value back where its maximum was, zeros elsewhere.

    Args:
        input: pooled values (N, C, H, W), or unbatched (C, H, W) with indices to match.
        indices: ``max_pool2d(..., return_indices=True)``'s indices, same shape as ``input``.
        kernel_size, stride, padding: those of the pooling (stride defaults to ``kernel_size``).
        output_size: (OH, OW) (or a full 4-D shape) to resolve the size ambiguity of strided pooling.

    Returns:
        Tensor (N, C, OH, OW).

    Shape:
        OH = (H - 1)*sh - 2*ph + KH unless ``output_size`` is given, likewise OW.
    """
    from ..tensor import Tensor

    op = "max_unpool2d"
    input, unbatched = _check_float(op, input)
    if unbatched and isinstance(indices, Tensor):
        indices = indices.reshape((1,) + tuple(indices.shape))
    elif unbatched:
        indices = np.asarray(indices)[None]
    KH, KW = pair(kernel_size, "kernel_size", op, 1)
    sh, sw = (KH, KW) if _default_stride(stride) else pair(stride, "stride", op, 1)
    ph, pw = pair(padding, "padding", op, 0)
    N, C, H, W = input.shape
    default = ((H - 1) * sh - 2 * ph + KH, (W - 1) * sw - 2 * pw + KW)
    if output_size is None:
        OH, OW = default
    else:
        size = tuple(int(s) for s in output_size)
        if len(size) in (3, 4):
            size = size[-2:]
        if len(size) != 2:
            raise ValueError(f"{op}: output_size must be (H, W) or (N, C, H, W), got {output_size!r}")
        for got, d, s in zip(size, default, (sh, sw)):
            if not d - s < got < d + s:
                raise ValueError(
                    f"{op}: output_size {size} for input {input.shape} must lie strictly between "
                    f"{tuple(x - y for x, y in zip(default, (sh, sw)))} and {tuple(x + y for x, y in zip(default, (sh, sw)))}"
                )
        OH, OW = size
    if OH <= 0 or OW <= 0:
        raise ValueError(
            f"{op}: input {input.shape}, kernel_size {(KH, KW)}, stride {(sh, sw)}, padding {(ph, pw)}: "
            f"output size (H-1)*S - 2P + K = {(OH, OW)} is not positive"
        )
    idx = indices.numpy() if isinstance(indices, Tensor) else np.asarray(indices)
    if tuple(idx.shape) != input.shape:
        raise ValueError(f"{op}: indices of shape {tuple(idx.shape)} do not match the input's shape {input.shape}")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= OH * OW):
        raise ValueError(
            f"{op}: indices must lie in [0, {OH * OW}) for output size {(OH, OW)}, "
            f"got values in [{int(idx.min())}, {int(idx.max())}]"
        )
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    if input.device != "cpu":
        idx = get_backend(input.device).from_numpy(idx)
    return unbatch(MaxUnpool2d.apply(input, idx, OH, OW), unbatched)
