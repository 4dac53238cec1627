"""Memory formats of 4-D CPU arrays: contiguous NCHW, or channels-last (PyTorch's ``channels_last``).

A tensor's shape is always (N, C, H, W). Its array may be stored channels-last: then
``a.transpose(0, 2, 3, 1)`` is a C-contiguous (N, H, W, C) array, and ``a`` is a strided view
of it. ``conv2d`` returns its output that way on the CPU (its GEMM writes (positions,
channels); the decision is ``conv_plan.py``'s), and batch norm, ReLU and elementwise
arithmetic keep the layout, so a ResNet never transposes between its convolutions. Ops that
need NCHW call ``contiguous``, which transposes a channels-last array with the
``channels_last.py`` kernel (NumPy's copy is 2-4x slower).

The CUDA twin (``cuda/memory_format.py``) has the same functions for device arrays, which
are always contiguous NCHW.
"""

from __future__ import annotations

import numpy as np

from .array import empty
from .channels_last import to_channels_first, to_channels_last

__all__ = ["contiguous", "channels_last_view", "channels_last", "stored", "restore", "in_layout_of"]


def channels_last_view(a):
    """The C-contiguous (N, H, W, C) array behind a channels-last (N, C, H, W) array, else None.

    An array that is also C-contiguous as NCHW (one channel, or 1x1 planes) counts as NCHW.
    """
    if a.ndim != 4 or a.flags.c_contiguous:
        return None
    view = a.transpose(0, 2, 3, 1)
    return view if view.flags.c_contiguous else None


def contiguous(a):
    """``a`` as a C-contiguous array (NCHW for a 4-D one): ``a`` itself when it already is."""
    if a.flags.c_contiguous:
        return a
    view = channels_last_view(a)
    if view is None:
        return np.ascontiguousarray(a)
    out = np.empty(a.shape, a.dtype)
    to_channels_first(out, view, np.zeros(a.shape[1], a.dtype))
    return out


def channels_last(a):
    """``a`` (N, C, H, W) as a C-contiguous (N, H, W, C) array: its own memory if stored so, else a copy."""
    view = channels_last_view(a)
    if view is not None:
        return view
    a = contiguous(a)
    N, C, H, W = a.shape
    last = empty((N, H, W, C), a.dtype)
    to_channels_last(last, a)
    return last


def stored(a):
    """The C-contiguous array holding ``a``'s elements in memory order (NHWC for channels-last ``a``)."""
    view = channels_last_view(a)
    return view if view is not None else contiguous(a)


def restore(array, like):
    """Inverse of ``stored``: ``array`` (stored as ``like`` is) seen with ``like``'s (N, C, H, W) shape."""
    return array.transpose(0, 3, 1, 2) if channels_last_view(like) is not None else array


def in_layout_of(a, ref):
    """``a`` (same shape as ``ref``) stored in ``ref``'s memory format, copied only if it is not."""
    if channels_last_view(ref) is None:
        return contiguous(a)
    return channels_last(a).transpose(0, 3, 1, 2)
