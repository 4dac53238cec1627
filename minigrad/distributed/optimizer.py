"""Gradient averaging: ``GradientBuckets`` and the ``DistributedOptimizer`` wrapper.

Why an optimizer wrapper (Horovod's ``DistributedOptimizer``) and not a module wrapper
(PyTorch's ``DistributedDataParallel``): DDP's gain is to start each bucket's allreduce from a
gradient hook while backward is still running, overlapping communication with computation.
minigrad's backward has no per-parameter hooks, so a DDP-style wrapper could only average after
``backward()`` returns, exactly where ``optimizer.step()`` already is. Wrapping the optimizer
keeps the user's loop unchanged (``zero_grad``, ``backward``, ``step``), works with every
optimizer and LR scheduler (it is an ``Optimizer``), and puts the averaging at the one place
where all gradients are known to be complete.

Bucketing: the gradients are copied into a few flat float buffers of at most ``bucket_cap_mb``
(parameters in ``param_groups`` order, identical on every rank because every rank builds the
same model), and each buffer is summed with one in-place ``MPI_Allreduce`` and divided by the
number of processes. One big message per bucket instead of one per tensor avoids paying the
latency of an allreduce (microseconds on one host, tens over a network) for each of a ResNet's
62 parameter tensors.
"""

from __future__ import annotations

import numpy as np

from ..autograd import enable_grad
from ..optim.optimizer import Optimizer
from ..tensor import Tensor
from . import comm

__all__ = ["GradientBuckets", "DistributedOptimizer", "DEFAULT_BUCKET_MB"]

# PyTorch DDP's default. benchmarks/distributed.py: on one host (shared memory) 0.25-100 MB buckets
# average ResNet-18's 44.7 MB equally fast (within noise); over a network every bucket adds
# 2 (W-1) message latencies, and without overlap small buckets buy nothing back (see the README).
DEFAULT_BUCKET_MB = 25.0


class GradientBuckets:
    """Average the gradients of ``params`` over all ranks, a few flat buffers at a time.

    Each bucket also carries one flag per parameter (1 if this rank has a gradient for it): a
    parameter without a gradient contributes zeros, and keeps ``grad = None`` only if no rank
    had one, so every rank takes the same decision without an extra message.

    Args:
        params: the parameters, in the same order on every rank.
        bucket_cap_mb: maximum size of one bucket's gradients, in MB (10**6 bytes). A tensor
            larger than the cap gets a bucket of its own.
    """

    def __init__(self, params, bucket_cap_mb: float = DEFAULT_BUCKET_MB):
        if not bucket_cap_mb > 0:
            raise ValueError(f"GradientBuckets: bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        self.params = list(params)
        cap = bucket_cap_mb * 1e6
        self.buckets = []  # lists of parameter indices, consecutive and of one dtype
        size = 0
        for i, p in enumerate(self.params):
            nbytes = p.size * p.dtype.itemsize
            last = self.buckets[-1] if self.buckets else None
            if last is None or self.params[last[0]].dtype != p.dtype or size + nbytes > cap:
                self.buckets.append([i])
                size = nbytes
            else:
                last.append(i)
                size += nbytes
        self._buffers = [np.empty(sum(self.params[i].size for i in b) + len(b), self.params[b[0]].dtype)
                         for b in self.buckets]

    def average(self) -> None:
        """Replace every parameter's gradient by its mean over the ranks (in place when possible)."""
        world = comm.world_size()
        if world == 1:
            return
        mpi = comm.init()
        from mpi4py import MPI

        for bucket, flat in zip(self.buckets, self._buffers):
            offset, flags = 0, flat[flat.size - len(bucket):]
            for k, i in enumerate(bucket):
                p = self.params[i]
                view = flat[offset:offset + p.size].reshape(p.shape)
                if p.grad is None:
                    view[...] = 0
                    flags[k] = 0
                else:
                    view[...] = p.grad.numpy()
                    flags[k] = 1
                offset += p.size
            mpi.Allreduce(MPI.IN_PLACE, flat)
            flat[:offset] *= flat.dtype.type(1.0 / world)
            offset = 0
            for k, i in enumerate(bucket):
                p = self.params[i]
                if flags[k] > 0:
                    _set_grad(p, flat[offset:offset + p.size].reshape(p.shape))
                offset += p.size


def _set_grad(p, mean: np.ndarray) -> None:
    g = p.grad
    if g is not None and g.device == "cpu" and isinstance(g.data, np.ndarray) and g.data.flags.writeable \
            and g.data.base is None and g.dtype == mean.dtype:
        g.data[...] = mean  # the gradient's own array: no new allocation per step
    else:
        p.grad = Tensor(mean.copy(), device=p.device)


class DistributedOptimizer(Optimizer):
    """An optimizer whose ``step()`` first averages the gradients over all ranks, then steps.

    Everything else (``param_groups``, ``state``, ``zero_grad``, ``state_dict``,
    ``load_state_dict``, LR schedulers) is the wrapped optimizer's, so a checkpoint of a
    distributed run loads into a plain optimizer and back.

        >>> opt = DistributedOptimizer(mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
        >>> broadcast_parameters(model)
        >>> opt.zero_grad(); loss.backward(); opt.step()

    Args:
        optimizer: the optimizer to wrap.
        bucket_cap_mb: size of the gradient buckets (see ``GradientBuckets``).
    """

    def __init__(self, optimizer: Optimizer, bucket_cap_mb: float = DEFAULT_BUCKET_MB):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"DistributedOptimizer: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.bucket_cap_mb = bucket_cap_mb
        self._buckets = GradientBuckets(self._params(), bucket_cap_mb)

    def _params(self):
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    # The wrapped optimizer's attributes, seen (and set) through this one: schedulers write lr here.
    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    @property
    def defaults(self):
        return self.optimizer.defaults

    def add_param_group(self, group: dict) -> None:
        self.optimizer.add_param_group(group)
        self._buckets = GradientBuckets(self._params(), self.bucket_cap_mb)

    def synchronize(self) -> None:
        """Average the gradients now (``step`` does it; call it yourself before clipping them)."""
        self._buckets.average()

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self.synchronize()
        self.optimizer.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none)

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.optimizer.load_state_dict(state_dict)

    def __repr__(self) -> str:
        return f"DistributedOptimizer({comm.world_size()} processes, {len(self._buckets.buckets)} buckets) of " \
               + repr(self.optimizer)
