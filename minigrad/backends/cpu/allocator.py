"""A caching allocator for large CPU arrays: the host twin of ``backends/cuda/allocator.py``.

A training step allocates the same activation, gradient and workspace sizes every
iteration. glibc serves each large request with a fresh ``mmap`` and unmaps it again when
the array dies, so every step touches new pages, and each 4 KiB page costs a page fault
and its zeroing by the kernel. LeNet-5 at batch 64 took about 1,150 faults per step
(4.5 MB of activations and gradients), a quarter of its step time on 2 cores. Here a
large array is a view of a pooled block of raw bytes, and a block whose arrays are all
gone serves the next request of its size: after the first step, a step faults no pages.

- Requests of ``POOL_MIN_BYTES`` or more are rounded up to ``ROUND`` bytes (at most one
  rounding step wasted per array), and a request is served only by a block of exactly
  its rounded size. A block may serve arrays of any dtype.
- A block is free when no array refers to it. NumPy collapses a view's ``base`` to the
  array that owns the memory, so every array made from a block (views and reshapes too)
  holds one reference to it: the block is free when ``sys.getrefcount`` sees only the
  pool's own reference (and the scan's, counted once at import by ``_calibrate``).
- Each size keeps as many blocks as were in use at once, and free blocks of one size
  cannot serve another: a request that finds no free block of its size first forgets
  free blocks of other sizes, largest first, until the pool holds no more than the largest
  total its arrays have taken at once (measured at each such miss) plus
  ``mg.config.cpu_free_max_bytes`` (32 MiB). Each size's peak comes at another moment of a
  step, so uncapped the pool held 640 MiB for a ResNet-18 step, batch 64, whose arrays never
  took more than 530 MiB at once. A cap on the free blocks alone (32 MiB, before) forgot the
  activations' blocks at the end of every backward, when they are all free at once: a
  CIFAR ResNet-18 step then faulted in 4,500 fresh pages (about 18 MB) each time, and its
  weight transposes alone took 48 instead of 25 ms.
- Smaller requests go to ``np.empty``: glibc serves those from its heap without faults.
- ``empty_cache()`` forgets the free blocks (PyTorch's ``torch.cuda.empty_cache``);
  blocks in use stay with their arrays, and the largest total is counted again from theirs. ``mg.config.cpu_caching`` (default: off when
  ``MINIGRAD_CPU_CACHING=0``) turns caching on or off.
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np

from ...configuration import config

__all__ = ["empty_cache", "memory_reserved", "sole_owner"]

#: Arrays of at least this many bytes come from the pool (glibc's default mmap threshold).
POOL_MIN_BYTES = 128 << 10
#: Pooled sizes are multiples of this many bytes.
ROUND = 64 << 10
#: Pooled arrays start on a multiple of this many bytes (a cache line; glibc's large blocks start 16 bytes
#: past a page).
ALIGN = 64

_blocks: dict[int, list[np.ndarray]] = {}
_lock = threading.Lock()
#: The largest total of blocks in use seen at a miss (bytes), counted since the last ``empty_cache``.
_peak_in_use = 0


def _first_free(blocks: list, free_refs: int) -> int:
    """Index of the first block of ``blocks`` that no array uses, or -1."""
    for i in range(len(blocks)):
        if sys.getrefcount(blocks[i]) <= free_refs:
            return i
    return -1


def _calibrate() -> int:
    """The reference count ``_first_free`` sees for a block held by nothing but its list.

    Measured rather than assumed: how many references the interpreter's own stack holds
    during the call differs between Python versions.
    """
    probe = [np.empty(1, np.uint8)]
    return next(r for r in range(16) if _first_free(probe, r) == 0)


_FREE_REFS = _calibrate()


def pooled_empty(shape, dtype):
    """An uninitialised C-contiguous array, from the pool when it is large (see the module docstring).

    Args:
        shape: the array's shape.
        dtype: its NumPy dtype.

    Returns:
        A new array, possibly reusing the memory of arrays that no longer exist.
    """
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    nbytes = math.prod(shape) * dtype.itemsize
    # Object arrays hold references, which raw recycled bytes must never pose as.
    if nbytes < POOL_MIN_BYTES or not config.cpu_caching or dtype.hasobject:
        return np.empty(shape, dtype)
    rounded = -(-nbytes // ROUND) * ROUND
    with _lock:
        blocks = _blocks.setdefault(rounded, [])
        i = _first_free(blocks, _FREE_REFS)
        if i < 0:
            _make_room(rounded)
            blocks.append(np.empty(rounded + ALIGN, np.uint8))
        block = blocks[i]
        start = -block.ctypes.data % ALIGN
        return block[start:start + nbytes].view(dtype).reshape(shape)


def _make_room(request: int) -> None:
    """Before a new block of ``request`` bytes: forget free blocks, largest first, beyond the budget (lock held).

    The budget is the largest in-use total seen (this request included) plus
    ``config.cpu_free_max_bytes``.
    """
    global _peak_in_use
    free, in_use = [], 0
    for size, blocks in _blocks.items():
        for i in range(len(blocks)):
            if sys.getrefcount(blocks[i]) <= _FREE_REFS:
                free.append(size)
            else:
                in_use += size
    _peak_in_use = max(_peak_in_use, in_use + request)
    excess = in_use + sum(free) + request - (_peak_in_use + config.cpu_free_max_bytes)
    for size in sorted(free, reverse=True):
        if excess <= 0:
            break
        blocks = _blocks[size]
        del blocks[_first_free(blocks, _FREE_REFS)]
        excess -= size


def _pooled_block_references(array) -> int:
    """The references ``sys.getrefcount`` sees to the pooled block behind ``array`` (lock held), or -1 if it has none."""
    base = array.base
    if type(base) is not np.ndarray or base.base is not None or base.dtype != np.uint8 or base.ndim != 1:
        return -1
    pooled = any(block is base for block in _blocks.get(base.size - ALIGN, ()))
    return sys.getrefcount(base) if pooled else -1


def _calibrate_view() -> int:
    """What ``_pooled_block_references`` sees for a block held by the pool and one array made from it.

    Measured through the same function, with a probe block put in the pool for the call, since
    the references that calls and closures add differ between Python versions.
    """
    size = -1  # no real block has this size
    _blocks[size] = [np.empty(size + ALIGN, np.uint8)]
    view = _blocks[size][0][:1]
    try:
        return _pooled_block_references(view)
    finally:
        del _blocks[size]


_ONE_VIEW_REFS = _calibrate_view()


def sole_owner(array) -> bool:
    """Whether no other array shares ``array``'s memory, so that it may be kept instead of copied.

    True for an array that owns its memory (``np.empty``'s) and for one made from a pooled block
    that no other array uses. The autograd engine asks this, after checking that nothing else
    refers to the array object itself, before it keeps an op's gradient as a leaf's ``.grad`` or
    adds into it in place (``autograd.py``). A view of another array, or of a block that another
    array also uses, answers False.

    Args:
        array: any object; only a writeable ``np.ndarray`` can answer True.
    """
    if type(array) is not np.ndarray or not array.flags.writeable:
        return False
    if array.base is None:
        return array.flags.owndata
    with _lock:
        return 0 <= _pooled_block_references(array) <= _ONE_VIEW_REFS


def empty_cache() -> None:
    """Forget the pooled blocks that no array uses (their memory goes back to the system)."""
    global _peak_in_use
    with _lock:
        for size in list(_blocks):
            blocks = _blocks[size]
            while (i := _first_free(blocks, _FREE_REFS)) >= 0:
                del blocks[i]
            if not blocks:
                del _blocks[size]
        _peak_in_use = sum(size * len(blocks) for size, blocks in _blocks.items())


def memory_reserved() -> int:
    """Bytes held by the pool, in use or free (``torch.cuda.memory_reserved``'s meaning)."""
    with _lock:
        return sum(size * len(blocks) for size, blocks in _blocks.items())
