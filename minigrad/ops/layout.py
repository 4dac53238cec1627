"""Memory formats of 4-D CPU arrays: contiguous NCHW, or channels-last (PyTorch's ``channels_last``).

A tensor's shape is always (N, C, H, W). Its array may be stored channels-last: then
``a.transpose(0, 2, 3, 1)`` is a C-contiguous (N, H, W, C) array, and ``a`` is a strided view
of it. ``conv2d`` returns its output that way on the CPU (its GEMM writes (positions,
channels)), and batch norm, ReLU and elementwise arithmetic keep the layout, so a ResNet
never transposes between its convolutions. Ops that need NCHW call ``contiguous``, which
transposes a channels-last array with the backend's kernel (NumPy's copy is 2-4x slower).

Device arrays are always contiguous NCHW: ``contiguous`` returns them unchanged, and
``channels_last`` copies them with their backend's kernel.
"""

from __future__ import annotations

import numpy as np

from ..backends import get_backend

__all__ = ["contiguous", "channels_last_view", "channels_last", "stored", "restore", "in_layout_of"]


def channels_last_view(a):
    """The C-contiguous (N, H, W, C) array behind a channels-last (N, C, H, W) CPU array, else None.

    An array that is also C-contiguous as NCHW (one channel, or 1x1 planes) counts as NCHW.
    """
    if not isinstance(a, np.ndarray) or a.ndim != 4 or a.flags.c_contiguous:
        return None
    view = a.transpose(0, 2, 3, 1)
    return view if view.flags.c_contiguous else None


def contiguous(a):
    """``a`` as a C-contiguous NCHW array on its own device (device arrays always are)."""
    if not isinstance(a, np.ndarray) or a.flags.c_contiguous:
        return a
    view = channels_last_view(a)
    if view is None:
        return np.ascontiguousarray(a)
    out = np.empty(a.shape, a.dtype)
    get_backend("cpu").to_channels_first(out, view, np.zeros(a.shape[1], a.dtype))
    return out


def channels_last(a):
    """``a`` (N, C, H, W) as a C-contiguous (N, H, W, C) array: its own memory if stored so, else a copy.

    Args:
        a: a CPU or device array.
    """
    view = channels_last_view(a)
    if view is not None:
        return view
    backend = get_backend(getattr(a, "device", "cpu"))
    a = contiguous(a)
    N, C, H, W = a.shape
    last = backend.empty((N, H, W, C), a.dtype)
    backend.to_channels_last(last, a)
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
