"""``SyncBatchNorm``: batch normalization whose statistics are those of the global batch.

With plain ``BatchNorm2d`` each rank normalizes with the mean and variance of its own local
batch (``batch_size / world_size`` images), so N processes do not train the same model as one
process on the whole batch, and small local batches make noisy statistics. ``SyncBatchNorm``
reduces the statistics over all ranks, forward and backward, as PyTorch's does:

- forward: every rank's (count, mean, variance) are gathered (one ``MPI_Allgather`` of 2C+1
  numbers) and combined exactly (Chan's parallel formula, no E[x^2] - E[x]^2 cancellation);
  the running statistics get the global batch's mean and unbiased variance;
- backward: ``sum(dy)`` and ``sum(dy * xhat)`` over the global batch (one ``MPI_Allreduce`` of
  2C numbers) enter ``dx``; ``dweight`` and ``dbias`` stay local sums, averaged with the other
  gradients by ``DistributedOptimizer``.

Outside training, or with one process, it is ``BatchNorm2d``.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backends import get_backend
from ..nn.module import Module
from ..nn.normalization import BatchNorm2d, _BatchNorm
from ..ops.normalization import as_rows, like_input
from . import comm

__all__ = ["SyncBatchNorm", "convert_sync_batchnorm"]


def _host(a, device):
    return a if device == "cpu" else get_backend(device).to_numpy(a)


class _SyncBatchNormFn(Function):
    """Batch norm with global statistics. The arithmetic runs on the host: on a GPU the
    activations are copied through it (MPI moves host buffers here)."""

    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, momentum, eps):
        cpu = get_backend("cpu")
        device = ctx.device
        shape = x.shape
        xs = as_rows(cpu, _host(x, device))
        last = xs.ndim == 2
        C = shape[1]
        count = xs.size // C
        mean, var = np.empty(C, np.float64), np.empty(C, np.float64)
        if last:
            cpu.batch_norm_stats_last(mean, var, xs)
        else:
            cpu.batch_norm_stats(mean, var, xs)
        local = np.concatenate([[float(count)], mean, var])
        every = comm.allgather(local)  # (world, 2C+1)
        counts, means, variances = every[:, :1], every[:, 1:C + 1], every[:, C + 1:]
        total = float(counts.sum())
        g_mean = (counts * means).sum(0) / total
        g_var = (counts * (variances + (means - g_mean) ** 2)).sum(0) / total
        if running_mean is not None:
            rm = _host(running_mean, device)
            rm = (1 - momentum) * rm + (momentum * g_mean).astype(rm.dtype)
            rv = _host(running_var, device)
            rv = (1 - momentum) * rv + (momentum * g_var * total / (total - 1)).astype(rv.dtype)
            _write(running_mean, rm, device)
            _write(running_var, rv, device)
        invstd = 1.0 / np.sqrt(g_var + eps)
        w = np.ones(C, xs.dtype) if weight is None else _host(weight, device)
        b = np.zeros(C, xs.dtype) if bias is None else _host(bias, device)
        out = np.empty(xs.shape, xs.dtype)
        if last:
            cpu.batch_norm_normalize_last(out, xs, g_mean, invstd, w, b)
        else:
            cpu.batch_norm_normalize(out, xs, g_mean, invstd, w, b)
        ctx.save_for_backward(xs, g_mean, invstd, w)
        ctx.shape, ctx.total = shape, total
        out = like_input(out, shape, last)
        if device != "cpu":
            out = get_backend(device).from_numpy(np.ascontiguousarray(out))
        return out

    @staticmethod
    def backward(ctx, grad):
        xs, mean, invstd, w = ctx.saved_tensors
        device, cpu = ctx.device, get_backend("cpu")
        last = xs.ndim == 2
        C = ctx.shape[1]
        grad = _host(grad, device)
        dy = cpu.channels_last(grad).reshape(-1, C) if last else cpu.contiguous(grad).reshape(xs.shape)
        dx = np.empty(xs.shape, xs.dtype)
        dweight, dbias = np.empty(C, np.float64), np.empty(C, np.float64)
        # batch_stats=0: dx = w * invstd * dy and this rank's sums, which are then made global.
        (cpu.batch_norm_backward_last if last else cpu.batch_norm_backward)(dx, dweight, dbias, dy, xs, mean,
                                                                           invstd, w, 0)
        sums = comm.allreduce_sum(np.concatenate([dbias, dweight]))
        mean_dy, mean_dy_xhat = sums[:C] / ctx.total, sums[C:] / ctx.total
        # dx = k (dy - mean_dy - xhat mean_dy_xhat), k = w invstd, xhat = (x - mean) invstd:
        # the kernel gave k dy; subtract a + b x per channel.
        k = w.astype(np.float64) * invstd
        b = k * invstd * mean_dy_xhat
        a = k * mean_dy - b * mean
        axis = (1, C) if last else (1, C, 1)
        dx -= (a.reshape(axis) + b.reshape(axis) * xs).astype(xs.dtype)
        dx = like_input(dx, ctx.shape, last)
        if device != "cpu":
            dx = get_backend(device).from_numpy(np.ascontiguousarray(dx))
        dtype = xs.dtype
        # dweight/dbias: the local sums; DistributedOptimizer averages them with every gradient.
        return (dx, None, None,
                _device(dweight.astype(dtype), device) if ctx.needs_input_grad[3] else None,
                _device(dbias.astype(dtype), device) if ctx.needs_input_grad[4] else None, None, None)


def _device(a, device):
    return a if device == "cpu" else get_backend(device).from_numpy(a)


def _write(target, values, device):
    if device == "cpu":
        target[...] = values
    else:
        target[...] = get_backend(device).from_numpy(np.ascontiguousarray(values, dtype=values.dtype))


class SyncBatchNorm(BatchNorm2d):
    """``BatchNorm2d`` with the mean and variance of the batch of all ranks together.

    Same arguments, parameters and buffers as ``BatchNorm2d`` (a checkpoint loads into either).
    Every rank must call it the same number of times per step (its forward and backward are
    collectives).

    Shape:
        (N, C, H, W) -> same shape.
    """

    def forward(self, x):
        if not self.training or comm.world_size() == 1:
            return super().forward(x)
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: expected a 4-D input with {self.num_features} channels, "
                             f"got shape {x.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        return _SyncBatchNormFn.apply(x, self.running_mean, self.running_var, self.weight, self.bias, float(factor),
                                      float(self.eps))


def convert_sync_batchnorm(module: Module) -> Module:
    """Replace every ``BatchNorm2d`` inside ``module`` by a ``SyncBatchNorm`` holding the same tensors.

    ``BatchNorm1d`` layers (none in the registry's models) keep per-rank statistics.

    Returns:
        ``module`` (changed in place), or a new ``SyncBatchNorm`` if ``module`` is a ``BatchNorm2d``.
    """
    if isinstance(module, BatchNorm2d) and not isinstance(module, SyncBatchNorm):
        sync = SyncBatchNorm.__new__(SyncBatchNorm)
        _BatchNorm.__init__(sync, module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats)
        for store in ("_parameters", "_buffers"):
            getattr(sync, store).update(getattr(module, store))
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            if getattr(module, name, None) is None:
                object.__setattr__(sync, name, None)
        sync.train(module.training)
        return sync
    for name, child in list(module._modules.items()):
        if child is not None:
            replaced = convert_sync_batchnorm(child)
            if replaced is not child:
                module._modules[name] = replaced
    return module
