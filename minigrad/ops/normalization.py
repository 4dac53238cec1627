"""Normalization ops: ``batch_norm`` and ``local_response_norm``.

Both view their input as (N, C, L): channels in axis 1, everything after it flattened.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backends import get_backend

__all__ = ["batch_norm", "local_response_norm"]


def _as_ncl(backend, x):
    # The length is spelled out: -1 cannot be inferred when another dimension is 0.
    return backend.contiguous(x).reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:], dtype=np.int64)))


def as_rows(backend, x):
    """A batch as the kernels see it: (N, C, L) when stored NCHW, (N*H*W, C) when channels-last.

    Shared with ``minigrad.distributed.sync_batchnorm``, which runs the same kernels.
    """
    last = backend.channels_last_view(x)
    return _as_ncl(backend, x) if last is None else last.reshape(-1, x.shape[1])


class BatchNorm(Function):
    """Batch norm on (N, C, L) arrays, or on (N*H*W, C) rows when the input is stored channels-last
    (a convolution's output on the CPU; see ``backends/cpu/memory_format.py``), whose output stays
    channels-last. Each layout has its own three kernels (``*_last`` for the rows), same signatures."""

    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, training, momentum, eps):
        backend = get_backend(ctx.device)
        xs = as_rows(backend, x)
        last = xs.ndim == 2
        C = x.shape[1]
        if training:
            mean, var = backend.empty(C, np.float64), backend.empty(C, np.float64)
            if last:
                backend.batch_norm_stats_last(mean, var, xs)
            else:
                backend.batch_norm_stats(mean, var, xs)
            count = xs.size // C
            if running_mean is not None:
                # In place on the arrays the caller's tensors hold: PyTorch's running-stat update,
                # with the unbiased variance in the running estimate.
                running_mean *= 1 - momentum
                running_mean += (momentum * mean).astype(running_mean.dtype)
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * var * count / (count - 1)).astype(running_var.dtype)
        else:
            mean = running_mean.astype(np.float64)
            var = running_var.astype(np.float64)
        invstd = 1.0 / np.sqrt(var + eps)
        w = backend.from_numpy(np.ones(C, dtype=x.dtype)) if weight is None else weight
        b = backend.from_numpy(np.zeros(C, dtype=x.dtype)) if bias is None else bias
        out = backend.empty(xs.shape, xs.dtype)
        if last:
            backend.batch_norm_normalize_last(out, xs, mean, invstd, w, b)
        else:
            backend.batch_norm_normalize(out, xs, mean, invstd, w, b)
        ctx.save_for_backward(xs, mean, invstd, w)
        ctx.training, ctx.shape = training, x.shape
        return like_input(out, x.shape, last)

    @staticmethod
    def backward(ctx, grad):
        xs, mean, invstd, w = ctx.saved_tensors
        last = xs.ndim == 2
        C = ctx.shape[1]
        backend = get_backend(ctx.device)
        dx = backend.empty(xs.shape, xs.dtype)
        dweight, dbias = backend.empty(C, np.float64), backend.empty(C, np.float64)
        if last:
            dy = backend.channels_last(grad).reshape(-1, C)
            backend.batch_norm_backward_last(dx, dweight, dbias, dy, xs, mean, invstd, w, int(ctx.training))
        else:
            backend.batch_norm_backward(dx, dweight, dbias, _as_ncl(backend, grad), xs, mean, invstd, w,
                                        int(ctx.training))
        dtype = xs.dtype
        return (like_input(dx, ctx.shape, last), None, None,
                dweight.astype(dtype) if ctx.needs_input_grad[3] else None,
                dbias.astype(dtype) if ctx.needs_input_grad[4] else None,
                None, None, None)


def like_input(rows, shape, last):
    """Kernel output ``rows`` (as ``as_rows`` gave them) as an array of ``shape``, channels-last if ``last``."""
    if not last:
        return rows.reshape(shape)
    N, C, H, W = shape
    return rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization: ``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel.

    In training the statistics come from the batch (biased variance) and, when running
    tensors are given, update them in place:
    ``running = (1 - momentum) * running + momentum * batch_stat``, with the unbiased batch
    variance for ``running_var``. In evaluation the running statistics are used.

    Args:
        input: (N, C), (N, C, L) or (N, C, H, W).
        running_mean, running_var: (C,) tensors or None (required when not training).
        weight, bias: (C,) affine parameters or None.
        training: use (and update) batch statistics.
        momentum: weight of the new batch in the running averages (a float; ``nn.BatchNorm``
            turns ``momentum=None`` into the cumulative average 1/num_batches_tracked).
        eps: added to the variance for stability.

    Returns:
        Tensor of the input's shape.
    """
    from ..tensor import Tensor

    op = "batch_norm"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C, ...), got {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {input.dtype}")
    C = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise ValueError(f"{op}: {name} must have shape ({C},) for input {input.shape}, got {tuple(t.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{op}: running_mean and running_var are required when training=False")
    count = input.size // C if C else 0
    if training and count <= 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got input {input.shape}")
    return BatchNorm.apply(input, running_mean, running_var, weight, bias, bool(training), float(momentum), float(eps))


class LocalResponseNorm(Function):
    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        backend = get_backend(ctx.device)
        xs = _as_ncl(backend, x)
        out, scale = backend.empty(xs.shape, xs.dtype), backend.empty(xs.shape, xs.dtype)
        backend.lrn_forward(out, scale, xs, size, alpha, beta, k)
        ctx.save_for_backward(xs, scale)
        ctx.args = (size, alpha, beta)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        xs, scale = ctx.saved_tensors
        backend = get_backend(ctx.device)
        dx = backend.empty(xs.shape, xs.dtype)
        backend.lrn_backward(dx, _as_ncl(backend, grad), xs, scale, *ctx.args)
        return dx.reshape(grad.shape), None, None, None, None


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels (AlexNet), with PyTorch's formula.

    ``b[n, c] = a[n, c] / (k + alpha / size * sum_{c'} a[n, c']**2) ** beta`` where ``c'``
    runs over ``[c - size//2, c + (size-1)//2]`` clipped to the valid channels; note the
    division of ``alpha`` by ``size`` (PyTorch's convention; AlexNet's paper has none).

    Args:
        input: (N, C, ...) with at least 3 dimensions.
        size: number of channels in the window.
        alpha, beta, k: the formula's constants.

    Returns:
        Tensor of the input's shape.
    """
    from ..tensor import Tensor

    op = "local_response_norm"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim < 3:
        raise ValueError(f"{op}: expected an input of at least 3 dimensions (N, C, ...), got {input.shape}")
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{op}: size must be a positive int, got {size!r}")
    return LocalResponseNorm.apply(input, int(size), float(alpha), float(beta), float(k))
