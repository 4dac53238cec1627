"""``DataLoader``: shuffled, batched, transformed, prefetched iteration over a dataset."""

from __future__ import annotations

import math
import queue
import threading

import numpy as np

from ..tensor import Tensor

__all__ = ["DataLoader"]

_END = object()


def _put(q, stop, item) -> bool:
    # Poll so that the producer notices when the consumer has gone away.
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _produce(batches, q, stop):
    try:
        for batch in batches:
            if not _put(q, stop, batch):
                return
    except BaseException as exc:  # re-raised in the consumer's thread
        _put(q, stop, _Failure(exc))
        return
    _put(q, stop, _END)


class _Failure:
    def __init__(self, exc):
        self.exc = exc


class _Prefetcher:
    """Runs a batch generator in a background thread, ``depth`` batches ahead of the consumer."""

    def __init__(self, batches, depth: int):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        # The thread gets the queue and the event, not self: an abandoned iterator can then be
        # garbage-collected, and its __del__ tells the thread to stop.
        self._thread = threading.Thread(target=_produce, args=(batches, self._queue, self._stop), daemon=True)
        self._thread.start()
        self._done = False

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, _Failure):
            self.close()
            raise item.exc
        return item

    def close(self):
        self._done = True
        self._stop.set()

    def __del__(self):
        self.close()


class DataLoader:
    """Iterate over a dataset in batches of ``(x, y)`` tensors.

    Epoch ``e`` draws its order and its augmentations from ``numpy.random.default_rng([seed, e])``.
    The epoch counter advances by one per ``iter(loader)``; ``set_epoch(e)`` selects it explicitly,
    so a resumed run sees exactly the batches it would have seen.

    Args:
        dataset: an ``ArrayDataset`` (batches are gathered in one vectorized step), or any object
            with ``__len__`` and ``__getitem__`` returning ``(image CHW, target)``.
        batch_size: examples per batch.
        shuffle: visit the examples in a new random order every epoch.
        drop_last: drop the final incomplete batch.
        transform: callable ``t(batch (N, C, H, W) float32, rng) -> batch`` applied to each batch.
        seed: seed of the shuffling and augmentation generator.
        prefetch: batches prepared ahead in a background thread (0: no thread).
        sampler: an object with ``__iter__``/``__len__`` yielding the indices of each epoch (e.g. a
            ``minigrad.distributed.DistributedSampler``; its ``set_epoch`` is called with the
            loader's epoch). Excludes ``shuffle``; ``seed`` then seeds the augmentations only.

    Shape:
        - x: (N, C, H, W) float32, images scaled to [0, 1] before ``transform``.
        - y: (N,) int64 labels or (N, H, W) int64 masks.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 transform=None, seed: int = 0, prefetch: int = 2, sampler=None):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(prefetch, (int, np.integer)) or prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be a non-negative int, got {prefetch!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, got {type(transform).__name__}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True exclude each other (the sampler decides the order)")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.seed = int(seed)
        self.prefetch = int(prefetch)
        self.sampler = sampler
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use epoch ``epoch``'s order and augmentations."""
        if epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be non-negative, got {epoch}")
        self.epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """The example indices of epoch ``epoch``, in visiting order."""
        if self.sampler is not None:
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(int(epoch))
            return np.fromiter(iter(self.sampler), dtype=np.int64)
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(n)

    def _gather(self, indices):
        if hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(indices)
        items = [self.dataset[int(i)] for i in indices]
        images = np.stack([np.asarray(x.numpy() if isinstance(x, Tensor) else x) for x, _ in items])
        if images.dtype == np.uint8:
            images = images.astype(np.float32) / np.float32(255.0)
        targets = np.asarray([np.asarray(t.numpy() if isinstance(t, Tensor) else t) for _, t in items])
        return images.astype(np.float32, copy=False), targets.astype(np.int64, copy=False)

    def _batches(self, epoch: int):
        order = self.order(epoch)
        # The augmentation stream continues the shuffling stream of the same epoch.
        rng = np.random.default_rng([self.seed, int(epoch)])
        if self.shuffle:
            rng.permutation(len(order))
        for b in range(len(self)):
            indices = order[b * self.batch_size:(b + 1) * self.batch_size]
            images, targets = self._gather(indices)
            if self.transform is not None:
                images = np.asarray(self.transform(images, rng), dtype=np.float32)
            yield Tensor(np.ascontiguousarray(images)), Tensor(np.ascontiguousarray(targets))

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        batches = self._batches(epoch)
        if self.prefetch == 0:
            return batches
        return _Prefetcher(batches, self.prefetch)

    def __repr__(self):
        return (f"DataLoader(n={len(self.dataset)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, batches={len(self)})")
