"""Array helpers of the CPU backend (the same names exist in the CUDA backend)."""

import numpy as np

from .allocator import pooled_empty

__all__ = ["empty", "zeros", "ones_like", "copy", "from_numpy", "to_numpy"]


def empty(shape, dtype=np.float32):
    """An uninitialised array; large ones reuse the memory of dead arrays (``allocator.py``)."""
    return pooled_empty(shape, dtype)


def zeros(shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


def ones_like(array):
    return np.ones_like(array)


def copy(array):
    return np.array(array, copy=True)


def from_numpy(array):
    return np.asarray(array)


def to_numpy(array):
    return np.asarray(array)
