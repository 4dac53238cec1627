"""Normalization layers: ``BatchNorm1d``, ``BatchNorm2d`` and ``LocalResponseNorm``."""

from __future__ import annotations

import numpy as np

from ..ops.normalization import batch_norm, local_response_norm
from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LocalResponseNorm"]


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d: parameters, buffers, and PyTorch's momentum rule."""

    _dims: tuple = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype=np.float32):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            object.__setattr__(self, "running_mean", None)
            object.__setattr__(self, "running_var", None)
            object.__setattr__(self, "num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x):
        if x.ndim not in self._dims:
            raise ValueError(
                f"{type(self).__name__}: expected a {' or '.join(f'{d}-D' for d in self._dims)} input, got shape {x.shape}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels, got input {x.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:
                # Cumulative moving average: the k-th batch weighs 1/k.
                factor = 1.0 / float(self.num_batches_tracked.data)
        # Without tracked statistics even evaluation normalizes with the batch's own.
        use_batch = self.training or not self.track_running_stats
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization over (N, C) or (N, C, L) inputs, statistics per feature C.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of a new batch in the running statistics; None: cumulative average.
        affine: learn weight (init 1) and bias (init 0).
        track_running_stats: keep running_mean (0), running_var (1) and num_batches_tracked buffers.
        dtype: dtype of parameters and buffers.

    Shape:
        (N, C) or (N, C, L) -> same shape.
    """

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, C, H, W) inputs, statistics per channel over N, H, W.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of a new batch in the running statistics; None: cumulative average.
        affine: learn weight (init 1) and bias (init 0).
        track_running_stats: keep running_mean (0), running_var (1) and num_batches_tracked buffers.
        dtype: dtype of parameters and buffers.

    Shape:
        (N, C, H, W) -> same shape.
    """

    _dims = (4,)


class LocalResponseNorm(Module):
    """Local response normalization across channels (AlexNet), PyTorch's formula.

    Args:
        size: channels in the window.
        alpha: scale (divided by ``size``).
        beta: exponent.
        k: additive constant.

    Shape:
        (N, C, ...) -> same shape.
    """

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
