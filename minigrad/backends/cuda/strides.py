"""Index arithmetic of ``CudaArray``: element strides, broadcasting and axis arguments.

The kernels address C-contiguous buffers by element strides passed as fixed-length tuples of
``MAXDIM`` entries (plain integers: no host-to-device copy per launch); these helpers build
them and check axis arguments as NumPy does.
"""

from __future__ import annotations

import operator

from .elementwise import MAXDIM

__all__: list[str] = []  # helpers of array.py and functions.py, not kernels


def contiguous_strides(shape):
    """Element strides of a C-contiguous array of ``shape``."""
    strides, step = [], 1
    for s in reversed(shape):
        strides.append(step)
        step *= s
    return tuple(reversed(strides))


def pad_axes(values, fill):
    """Left-pad a per-axis tuple to ``MAXDIM`` entries (kernels take fixed-length tuples)."""
    values = tuple(int(v) for v in values)
    if len(values) > MAXDIM:
        raise ValueError(f"cuda backend: at most {MAXDIM} dimensions are supported, got {len(values)}")
    return (fill,) * (MAXDIM - len(values)) + values


def broadcast_strides(shape, out_shape):
    """Element strides that read a contiguous array of ``shape`` broadcast to ``out_shape``."""
    strides = contiguous_strides(shape)
    lead = len(out_shape) - len(shape)
    return (0,) * lead + tuple(0 if s == 1 else st for s, st in zip(shape, strides))


def normalize_axes(axis, ndim, name):
    """``axis`` (None, an int or a sequence) as a sorted tuple of non-negative axes; errors name ``name``."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{name}: axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axis in {axis!r}")
    return tuple(sorted(out))
