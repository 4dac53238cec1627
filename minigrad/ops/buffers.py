"""A pool of recycled work buffers for the convolution ops (im2row rows, their gradients, layouts).

A fresh large array costs a page fault per 4 KiB on first touch, as much as the im2row
that fills it; a training step asks for the same sizes every step, so they are recycled.
"""

from __future__ import annotations

import sys

import numpy as np

from ..backends import get_backend

__all__ = ["buffer", "release_buffers"]

_pool: list = []
_POOL_MAX_BUFFERS = 64
_POOL_MIN_BYTES = 1 << 20


def release_buffers() -> None:
    """Drop the pooled buffers (otherwise kept for reuse by the next training step)."""
    _pool.clear()


def buffer(shape, dtype, device: str = "cpu"):
    """An uninitialised array for internal use, recycled from a pool of 1-D buffers.

    A pooled buffer is free when nothing else references it: the columns saved by a live
    graph, and any view of them, hold a reference to their base, so ``sys.getrefcount``
    then sees more than the pool's list, the loop variable and its own argument.
    (Not thread-safe.) Other devices allocate through their backend.
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    if device != "cpu":
        return get_backend(device).empty(shape, dtype)
    if size * dtype.itemsize < _POOL_MIN_BYTES:
        return np.empty(shape, dtype)
    chosen = None
    for buf in _pool:
        if buf.dtype == dtype and size <= buf.size <= 2 * size and sys.getrefcount(buf) <= 3:
            if chosen is None or buf.size < chosen.size:
                chosen = buf
    if chosen is None:
        if len(_pool) >= _POOL_MAX_BUFFERS:
            # Full: forget the free buffers (those in use stay until their graphs die).
            _pool[:] = [buf for buf in _pool if sys.getrefcount(buf) > 3]
        chosen = np.empty(size, dtype)
        if len(_pool) < _POOL_MAX_BUFFERS:
            _pool.append(chosen)
    return chosen[:size].reshape(shape)
