"""Memory formats on the GPU: device arrays are always C-contiguous NCHW.

The twin of ``cpu/memory_format.py`` (same functions, same signatures), so that ops ask
``backend.contiguous(x)`` and friends without knowing the device. A ``CudaArray`` has no
strided storage (``array.py``: transposes and strided slices copy), so nothing is ever
stored channels-last here: ``channels_last_view`` finds no such array, ``contiguous`` and
``stored`` return their argument, and ``channels_last`` copies with the
``channels_last.py`` kernel.
"""

from __future__ import annotations

from .array import empty
from .channels_last import to_channels_last

__all__ = ["contiguous", "channels_last_view", "channels_last", "stored", "restore", "in_layout_of"]


def channels_last_view(a):
    """None: no device array is stored channels-last."""
    return None


def contiguous(a):
    """``a`` itself: device arrays are always C-contiguous."""
    return a


def channels_last(a):
    """``a`` (N, C, H, W) copied to a C-contiguous (N, H, W, C) array by the layout kernel."""
    N, C, H, W = a.shape
    last = empty((N, H, W, C), a.dtype)
    to_channels_last(last, a)
    return last


def stored(a):
    """``a`` itself: its memory order is its (N, C, H, W) shape's."""
    return a


def restore(array, like):
    """``array`` itself (the inverse of ``stored``, which changes nothing here)."""
    return array


def in_layout_of(a, ref):
    """``a`` itself: every device array is already in ``ref``'s (NCHW) format."""
    return a
