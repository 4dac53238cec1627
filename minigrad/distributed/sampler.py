"""``DistributedSampler``: each rank's share of a dataset, with PyTorch's semantics."""

from __future__ import annotations

import math

import numpy as np

from . import comm

__all__ = ["DistributedSampler"]


class DistributedSampler:
    """The indices of ``dataset`` that rank ``rank`` of ``num_replicas`` visits in one epoch.

    As PyTorch's ``DistributedSampler``: the order is shuffled from the seed and the epoch
    (``set_epoch`` before each epoch), identically on every rank; the list is padded by repeating
    its leading indices to a multiple of ``num_replicas`` (or cut to one with ``drop_last``); rank
    ``r`` takes ``indices[r::num_replicas]``, so the ranks' shares are disjoint and equally long.

    The permutation is ``numpy.random.default_rng([seed, epoch]).permutation(n)``, the one
    ``DataLoader(shuffle=True, seed=seed)`` uses: local batch ``k`` of every rank together is then
    batch ``k`` of a one-process run whose batch size is the sum of the ranks' (PyTorch seeds
    with ``seed + epoch`` instead; the property it guarantees is the same).

    Args:
        dataset: the dataset (only its length is used), or that length as an int.
        num_replicas: the number of ranks (default: ``world_size()``).
        rank: this rank (default: ``rank()``).
        shuffle: a new order every epoch; False visits ``0, 1, ..., n-1``.
        seed: the shuffling seed, the same on every rank.
        drop_last: cut the tail instead of padding.
        pad: False gives uneven shares without repeats (``indices[r::num_replicas]`` of the
            unpadded list), for evaluation where each example must count exactly once.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False, pad: bool = True):
        num_replicas = comm.world_size() if num_replicas is None else num_replicas
        rank = comm.rank() if rank is None else rank
        if not isinstance(num_replicas, (int, np.integer)) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive int, got {num_replicas!r}")
        if not isinstance(rank, (int, np.integer)) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {num_replicas - 1}], got {rank!r}")
        self.n = int(dataset) if isinstance(dataset, (int, np.integer)) else len(dataset)
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last, self.pad = bool(shuffle), int(seed), bool(drop_last), bool(pad)
        self.epoch = 0
        if not self.pad:
            self.total_size = self.n
            self.num_samples = len(range(self.rank, self.n, self.num_replicas))
        elif self.drop_last:
            self.num_samples = self.n // self.num_replicas
            self.total_size = self.num_samples * self.num_replicas
        else:
            self.num_samples = math.ceil(self.n / self.num_replicas)
            self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s order on the next iteration (call it on every rank)."""
        if epoch < 0:
            raise ValueError(f"DistributedSampler.set_epoch: epoch must be non-negative, got {epoch}")
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This rank's indices of the current epoch, in visiting order."""
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n) if self.shuffle \
            else np.arange(self.n)
        if self.pad and self.total_size > self.n:
            order = np.resize(order, self.total_size)  # repeats from the start, as often as needed
        order = order[:self.total_size]
        return order[self.rank::self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self):
        return (f"DistributedSampler(n={self.n}, rank={self.rank}/{self.num_replicas}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, pad={self.pad}, samples={self.num_samples})")
