"""Array helpers of the CPU backend (the twins of CUDA's ``array.py``): NumPy arrays on the host."""

import numpy as np

from .allocator import pooled_empty

__all__ = ["empty", "zeros", "full", "ones_like", "copy", "from_numpy", "to_numpy", "synchronize"]


def empty(shape, dtype=np.float32):
    """An uninitialised array; large ones reuse the memory of dead arrays (``allocator.py``)."""
    return pooled_empty(shape, dtype)


def zeros(shape, dtype=np.float32):
    """An array of zeros."""
    return np.zeros(shape, dtype=dtype)


def full(shape, value, dtype=np.float32):
    """An array filled with ``value``."""
    return np.full(shape, value, dtype=dtype)


def ones_like(array):
    """Ones with ``array``'s shape and dtype."""
    return np.ones_like(array)


def copy(array):
    """A copy of ``array``."""
    return np.array(array, copy=True)


def from_numpy(array):
    """``array`` as a NumPy array (no copy: host memory is this backend's memory)."""
    return np.asarray(array)


def to_numpy(array):
    """``array`` as a NumPy array (no copy)."""
    return np.asarray(array)


def synchronize():
    """Return at once: a CPU kernel has finished when it returns (the twin of CUDA's, for timing code)."""
