"""What ``minigrad.train.fit`` asks at the few points where a distributed run differs.

``LocalContext`` answers for one process (nothing changes); ``DistributedContext`` for rank
``rank()`` of ``world_size()`` MPI processes:

- data: each rank loads ``batch_size / world_size`` images per step through a
  ``DistributedSampler`` (same global order as one process), augments with seed + rank, and
  evaluates a disjoint share of the test set;
- model: BatchNorm2d becomes SyncBatchNorm (``sync_bn``), parameters are broadcast from rank 0,
  dropout draws from seed + rank, buffers are broadcast from rank 0 before every forward;
- optimizer: a ``DistributedOptimizer`` (gradients averaged in buckets before each step);
- statistics: the loss and correct counts of each step are summed over the ranks in one small
  allreduce, and the Ctrl-C flag in another, so every rank takes the same decision (stop,
  diverged) at the same step and the reported figures are the global batch's;
- files: only rank 0 reads the checkpoint to resume from (and broadcasts it), and only rank 0
  writes checkpoints, ``metrics.csv`` and plots.
"""

from __future__ import annotations

import os

import numpy as np

from ..backends.cpu.threads import set_num_threads, threads_from_env
from . import comm
from .broadcast import broadcast_buffers, broadcast_parameters
from .optimizer import DEFAULT_BUCKET_MB, DistributedOptimizer
from .sampler import DistributedSampler
from .sync_batchnorm import convert_sync_batchnorm

__all__ = ["LocalContext", "DistributedContext"]


class LocalContext:
    """One process: every hook leaves things as they are."""

    rank, world_size, is_main = 0, 1, True
    sync_bn = False

    def describe_batch(self, batch_size: int) -> str:
        return f"batch {batch_size}"

    def check(self, config) -> None:
        """Raise ValueError if ``config`` cannot run on these processes."""

    def read_checkpoint(self, path):
        from ..checkpoint import load_checkpoint

        return load_checkpoint(path)

    def broadcast(self, obj):
        return obj

    def shard_loaders(self, train_loader, test_loader, config):
        return train_loader, test_loader

    def prepare_model(self, model, seed: int):
        return model

    def wrap_optimizer(self, optimizer):
        return optimizer

    def sync_buffers(self, model) -> None:
        """Before a forward pass."""

    def batch_stats(self, loss: float, correct: int, count: int, images: int):
        """``(mean loss, correct, count, images)`` of the global batch."""
        return loss, correct, count, images

    def any(self, flag: bool) -> bool:
        """True if ``flag`` is set on any rank (a Ctrl-C seen by one rank stops all at the same step)."""
        return bool(flag)

    def reduce_sum(self, array):
        return array

    def rng_states(self, state):
        """Every rank's generator state, as a list on rank 0 (None on the others)."""
        return [state]

    def own_rng_state(self, states, fallback):
        return fallback


class DistributedContext(LocalContext):
    """Rank ``rank()`` of ``world_size()`` MPI processes.

    Args:
        sync_bn: replace BatchNorm2d by SyncBatchNorm.
        bucket_cap_mb: gradient bucket size (see ``GradientBuckets``).
        threads: CPU threads of this rank (default: ``MINIGRAD_NUM_THREADS``, else this host's
            cores divided by its ranks, so that ranks on one host do not fight over cores).

    Raises:
        DistributedError: MPI is missing, or there is only one process.
    """

    def __init__(self, sync_bn: bool = True, bucket_cap_mb: float = DEFAULT_BUCKET_MB, threads: int | None = None):
        comm.init()
        if comm.world_size() < 2:
            raise comm.DistributedError(single_process_message())
        self.rank, self.world_size, self.is_main = comm.rank(), comm.world_size(), comm.is_main()
        self.sync_bn, self.bucket_cap_mb = sync_bn, bucket_cap_mb
        if threads is None and threads_from_env() is None:
            threads = max(1, (os.cpu_count() or 1) // comm.local_size())
        if threads is not None:
            set_num_threads(threads)

    def describe_batch(self, batch_size: int) -> str:
        return f"batch {batch_size} = {self.world_size} processes x {batch_size // self.world_size}"

    def check(self, config) -> None:
        if config.batch_size % self.world_size:
            raise ValueError(f"train: --batch-size {config.batch_size} is the global batch and must split evenly "
                             f"over the {self.world_size} processes; use a multiple of {self.world_size}")

    def read_checkpoint(self, path):
        """Rank 0 reads ``path`` (after a barrier: no rank reads while another may still write it)
        and sends it, or the error it raised, to every rank: the other hosts need no copy."""
        from ..checkpoint import load_checkpoint

        comm.barrier()
        result = None
        if self.is_main:
            try:
                result = load_checkpoint(path)
            except Exception as e:  # noqa: BLE001 - re-raised on every rank below
                result = e
        result = comm.broadcast_object(result)
        if isinstance(result, Exception):
            raise result
        return result

    def broadcast(self, obj):
        return comm.broadcast_object(obj)

    def shard_loaders(self, train_loader, test_loader, config):
        from ..data.loader import DataLoader

        if len(test_loader.dataset) < self.world_size:
            raise ValueError(f"train: the test set has {len(test_loader.dataset)} examples, fewer than the "
                             f"{self.world_size} processes")
        train = DataLoader(train_loader.dataset, batch_size=config.batch_size // self.world_size,
                           transform=train_loader.transform, seed=config.seed + self.rank, prefetch=config.prefetch,
                           drop_last=train_loader.drop_last,
                           sampler=DistributedSampler(train_loader.dataset, seed=config.seed))
        test = DataLoader(test_loader.dataset, batch_size=test_loader.batch_size, transform=test_loader.transform,
                          seed=config.seed, prefetch=config.prefetch,
                          sampler=DistributedSampler(test_loader.dataset, shuffle=False, pad=False))
        return train, test

    def prepare_model(self, model, seed: int):
        from ..tensor import manual_seed

        if self.sync_bn:
            model = convert_sync_batchnorm(model)
        broadcast_parameters(model)
        manual_seed(seed + self.rank)  # dropout differs between ranks, as their images do
        return model

    def wrap_optimizer(self, optimizer):
        return DistributedOptimizer(optimizer, self.bucket_cap_mb)

    def sync_buffers(self, model) -> None:
        broadcast_buffers(model)

    def batch_stats(self, loss, correct, count, images):
        s = comm.allreduce_sum(np.array([loss * count, correct, count, images], np.float64))
        return float(s[0] / s[2]), int(s[1]), int(s[2]), int(s[3])

    def any(self, flag: bool) -> bool:
        return bool(comm.allreduce_sum(np.array([float(bool(flag))]))[0])

    def reduce_sum(self, array):
        return comm.allreduce_sum(array)

    def rng_states(self, state):
        return comm.gather_object(state)

    def own_rng_state(self, states, fallback):
        """This rank's saved generator state (``fallback`` if the run had another process count)."""
        if isinstance(states, list) and len(states) == self.world_size:
            return states[self.rank]
        return fallback


def single_process_message() -> str:
    return ("--distributed needs several MPI processes, this is 1: launch it as `mpiexec -n N minigrad train ... "
            "--distributed` (mpiexec comes with the mpich wheel)")
