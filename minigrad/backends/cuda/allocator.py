"""A caching allocator for ``CudaArray`` storage, after PyTorch's CUDA caching allocator.

A training step allocates the same activation, gradient and workspace shapes every
iteration. ``cuda.device_array`` (``cuMemAlloc``) for each of them, and ``cuMemFree`` when
they die, costs a driver call and a device synchronisation each time. Instead, a buffer
whose last ``CudaArray`` is gone goes back into a pool keyed by its rounded size, and the
next request for that size takes it from there: after the first step, a step allocates no
device memory at all.

- Sizes are rounded up (512-byte multiples below 1 MiB, 128 KiB multiples above, i.e. at
  most 12.5% waste) so that shapes differing by a few elements share a pool; a request
  is served only by a block of exactly its rounded size (no splitting of larger blocks).
- A block is raw bytes; it is handed out as a view of the requested dtype and length,
  so a float32 buffer can later serve an int64 request of the same rounded size.
- Ownership: every ``CudaArray`` made from a block (reshapes and contiguous slices too)
  holds the block's ``_Lease``. The lease's ``__del__`` runs when the last of them is
  gone, and only appends the block to a return list: ``__del__`` can run in the middle of
  any bytecode (garbage collection), so it takes no lock and touches no counter; the list
  is folded into the pools at the next allocation or statistics call.
- Reuse is safe without events because every kernel and copy runs on the default stream,
  in order: a kernel queued after the buffer changes hands runs after those that used it.
- When the device is out of memory, the cached blocks are released and the allocation
  is retried once.

``empty_cache()``, ``memory_allocated()``, ``memory_reserved()`` and ``memory_stats()``
carry PyTorch's ``torch.cuda`` names. ``mg.config.set(cuda_caching=False)`` (default: off when
``MINIGRAD_CUDA_CACHING=0`` is in the environment) turns caching off (every request a fresh
``cuda.device_array``), for debugging memory errors.
"""

from __future__ import annotations

import gc
import threading

import numpy as np
from numba import cuda

from ...configuration import config

__all__ = ["empty_cache", "memory_allocated", "memory_reserved", "max_memory_allocated", "memory_stats", "sole_owner"]

#: Requests below this many bytes are rounded to ``SMALL_ROUND``; larger ones to ``LARGE_ROUND``.
SMALL_LIMIT = 1 << 20
SMALL_ROUND = 512
LARGE_ROUND = 128 << 10


def round_size(nbytes: int) -> int:
    """The block size that serves a request of ``nbytes`` (> 0) bytes."""
    step = SMALL_ROUND if nbytes < SMALL_LIMIT else LARGE_ROUND
    return -(-int(nbytes) // step) * step


class _Lease:
    """The ownership token of one block: alive while any ``CudaArray`` over the block is.

    Args:
        nbytes: the block's (rounded) size.
        block: the flat uint8 device array.
        returned: its allocator's list of returned blocks, where ``__del__`` puts it.
    """

    __slots__ = ("nbytes", "block", "returned")

    def __init__(self, nbytes, block, returned):
        self.nbytes = nbytes
        self.block = block
        self.returned = returned

    def __del__(self):
        # list.append is atomic under the GIL: safe wherever the garbage collector calls this.
        self.returned.append((self.nbytes, self.block))


class CachingAllocator:
    """Pools of free device blocks by rounded size, and the byte counters behind the statistics."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._free: dict[int, list] = {}
        self._returned: list = []  # (rounded size, block) of dead leases; appended by _Lease.__del__ only
        self._lock = threading.Lock()
        self.allocated = 0  # bytes of blocks held by live arrays
        self.cached = 0  # bytes of free blocks in the pools
        self.peak = 0
        self.device_allocations = 0  # calls to cuda.device_array
        self.cache_hits = 0  # requests served from a pool

    def _drain(self):
        """Move blocks returned by dead leases into the pools (call with the lock held)."""
        while self._returned:
            nbytes, block = self._returned.pop()
            self._free.setdefault(nbytes, []).append(block)
            self.allocated -= nbytes
            self.cached += nbytes

    def _release_cached(self):
        self._free.clear()
        self.cached = 0

    def _device_alloc(self, nbytes):
        try:
            block = cuda.device_array(nbytes, dtype=np.uint8)
        except Exception as exc:
            if "OUT_OF_MEMORY" not in str(exc).upper().replace(" ", "_"):
                raise
            # Dead arrays still referenced by garbage cycles hold leases: collect them, give every
            # cached block back to the driver and try once more, as PyTorch does before raising.
            gc.collect()
            self._drain()
            self._release_cached()
            _flush_deallocations()
            block = cuda.device_array(nbytes, dtype=np.uint8)
        self.device_allocations += 1
        return block

    def allocate(self, size: int, dtype):
        """A flat device array of ``size`` elements of ``dtype``, and its lease (None when not pooled).

        The caller must keep the lease alive exactly as long as the array (``CudaArray`` does).
        """
        dtype = np.dtype(dtype)
        nbytes = int(size) * dtype.itemsize
        if nbytes == 0 or not (self.enabled and config.cuda_caching):
            return cuda.device_array(int(size), dtype=dtype), None
        rounded = round_size(nbytes)
        with self._lock:
            self._drain()
            pool = self._free.get(rounded)
            if pool:
                block = pool.pop()
                self.cached -= rounded
                self.cache_hits += 1
            else:
                block = self._device_alloc(rounded)
            self.allocated += rounded
            self.peak = max(self.peak, self.allocated)
        return block.view(dtype)[: int(size)], _Lease(rounded, block, self._returned)

    def empty_cache(self):
        """Give every free block back to the driver; blocks in use stay."""
        with self._lock:
            self._drain()
            self._release_cached()
        _flush_deallocations()

    def stats(self) -> dict:
        with self._lock:
            self._drain()
            return {
                "allocated_bytes": self.allocated, "reserved_bytes": self.allocated + self.cached,
                "cached_bytes": self.cached, "peak_allocated_bytes": self.peak,
                "device_allocations": self.device_allocations, "cache_hits": self.cache_hits,
                "cached_blocks": sum(len(p) for p in self._free.values()),
            }


def _flush_deallocations():
    """Make numba free dropped device memory now (it batches ``cuMemFree`` calls otherwise)."""
    try:
        cuda.current_context().deallocations.clear()
    except AttributeError:  # the simulator has no deallocation queue
        pass


#: The process-wide allocator used by ``CudaArray.empty``.
allocator = CachingAllocator()


def empty_cache() -> None:
    """Release all unused cached device memory (``torch.cuda.empty_cache``); arrays in use are untouched."""
    allocator.empty_cache()


def memory_allocated() -> int:
    """Bytes of device memory held by live arrays, counted in rounded block sizes."""
    return allocator.stats()["allocated_bytes"]


def memory_reserved() -> int:
    """Bytes of device memory the allocator holds: in use plus cached."""
    return allocator.stats()["reserved_bytes"]


def sole_owner(array) -> bool:
    """False: the autograd engine copies device gradients (the CPU's twin keeps arrays that own their memory).

    A ``CudaArray``'s views share its lease, which this allocator does not count per array, so
    no device array is known to own its memory alone.
    """
    return False


def max_memory_allocated() -> int:
    """The largest ``memory_allocated()`` seen since the process started."""
    return allocator.stats()["peak_allocated_bytes"]


def memory_stats() -> dict:
    """All counters: allocated/reserved/cached/peak bytes, device allocations, cache hits, cached blocks."""
    return allocator.stats()
