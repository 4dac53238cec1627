"""NumPy functions on ``CudaArray`` (``np.where``, ``np.concatenate``, ``np.pad``, ...), by name.

``CudaArray.__array_function__`` looks a NumPy function up by name in ``array.FUNCTIONS``
(NEP 18's ``HANDLED_FUNCTIONS`` pattern); this module fills that table when the backend
package loads it. A function missing from the table is a ``TypeError`` naming it, never a
silent copy to the host. Operators and ufuncs (``a + b``, ``np.exp``, ``@``) are the array's
own, in ``array.py``.
"""

from __future__ import annotations

import operator

import numpy as np

from . import elementwise as ew
from .array import FUNCTIONS, CudaArray, _as_operand, _clip, _copy_into, _output, _probe, from_numpy, full
from .launch import launch
from .strides import broadcast_strides, contiguous_strides, normalize_axes, pad_axes

# Nothing for the backend's namespace: these answer NumPy's calls on CudaArrays.
__all__: list[str] = []


def _like(fill):
    def like(a, dtype=None, shape=None, **kwargs):
        out = CudaArray.empty(a.shape if shape is None else shape, dtype or a.dtype)
        if fill is not None:
            out.fill(fill)
        return out
    return like


def _where(cond, a=None, b=None):
    if a is None:
        raise TypeError("numpy.where with one argument (nonzero) is not supported on the GPU")
    c, a, b = (_as_operand(v) for v in (cond, a, b))
    with np.errstate(all="ignore"):
        dtype = np.result_type(_probe(a), _probe(b))
    c, a, b = (v if isinstance(v, CudaArray) else full((), v, dtype if v is not c else np.bool_) for v in (c, a, b))
    shape = np.broadcast_shapes(c.shape, a.shape, b.shape)
    out = CudaArray.empty(shape, dtype)
    launch(ew.where, out.size, out._buf, c._buf, a._buf, b._buf, pad_axes(shape, 1),
           *(pad_axes(broadcast_strides(v.shape, shape), 0) for v in (c, a, b)))
    return out


def _concatenate(arrays, axis=0, out=None, dtype=None):
    arrays = [_as_operand(a) for a in arrays]
    if not arrays:
        raise ValueError("concatenate: need at least one array")
    first = arrays[0]
    axis = normalize_axes(axis, first.ndim, "concatenate")[0]
    for a in arrays:
        if a.ndim != first.ndim or any(a.shape[i] != first.shape[i] for i in range(a.ndim) if i != axis):
            raise ValueError(f"concatenate: shapes {[x.shape for x in arrays]} differ outside axis {axis}")
    dtype = np.dtype(dtype) if dtype else np.result_type(*[np.zeros(1, a.dtype) for a in arrays])
    shape = list(first.shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    result = _output(out, shape, dtype, "concatenate")
    strides = contiguous_strides(shape)
    start = 0
    for a in arrays:
        a = a.astype(dtype, copy=False)
        if a.size:
            launch(ew.scatter_strided, a.size, result._buf, a._buf, pad_axes(a.shape, 1), pad_axes(strides, 0),
                   start * strides[axis], pad_axes(contiguous_strides(a.shape), 0))
        start += a.shape[axis]
    return result


def _stack(arrays, axis=0, out=None, dtype=None):
    arrays = [_as_operand(a) for a in arrays]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got {sorted(shapes)}")
    ndim = arrays[0].ndim + 1
    axis = normalize_axes(axis, ndim, "stack")[0]
    return _concatenate([_expand_dims(a, axis) for a in arrays], axis, out, dtype)


def _expand_dims(a, axis):
    axes = normalize_axes(axis, a.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1), "expand_dims")
    shape = list(a.shape)
    for ax in axes:
        shape.insert(ax, 1)
    return a.reshape(shape)


def _pad_fn(a, pad_width, mode="constant", constant_values=0):
    if mode != "constant":
        raise TypeError(f"numpy.pad: only mode='constant' is supported on the GPU, got {mode!r}")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (a.ndim, 2))
    shape = tuple(int(s + lo + hi) for s, (lo, hi) in zip(a.shape, widths))
    out = full(shape, constant_values, a.dtype)
    out[tuple(slice(int(lo), int(lo) + s) for s, (lo, _) in zip(a.shape, widths))] = a
    return out


def _moveaxis(a, source, destination):
    src = [operator.index(s) % a.ndim for s in (source if isinstance(source, (tuple, list)) else (source,))]
    dst = [operator.index(d) % a.ndim for d in (destination if isinstance(destination, (tuple, list)) else
                                                 (destination,))]
    order = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return a.transpose(order)


def _copyto(dst, src, casting="same_kind", where=True):
    if where is not True:
        raise TypeError("numpy.copyto: where= is not supported on the GPU")
    _copy_into(dst, src)


def _along_axis_offsets(shape, indices, axis, name):
    """Flat offsets into a C-contiguous array of ``shape`` for NumPy's ``*_along_axis`` indexing."""
    ndim = len(shape)
    if axis is None or indices.ndim != ndim:
        raise ValueError(f"{name}: indices of shape {indices.shape} must have the array's {ndim} dimensions "
                         f"and an axis must be given")
    axis = normalize_axes(axis, ndim, name)[0]
    idx = _as_operand(indices)
    idx = idx if isinstance(idx, CudaArray) else from_numpy(np.asarray(idx))
    strides = contiguous_strides(shape)
    bshape = tuple(max(a, b) if d != axis else b for d, (a, b) in enumerate(zip(shape, idx.shape)))
    lin = idx.astype(np.int64) % shape[axis] * strides[axis]
    for d in range(ndim):
        if d != axis:
            grid = CudaArray.empty(shape[d], np.int64)
            launch(ew.arange, shape[d], grid._buf, 0, strides[d])
            lin = lin + grid.reshape([shape[d] if e == d else 1 for e in range(ndim)])
    return lin.broadcast_to(bshape) if lin.shape != bshape else lin


def _take_along_axis(arr, indices, axis):
    lin = _along_axis_offsets(arr.shape, indices, axis, "take_along_axis")
    out = CudaArray.empty(lin.shape, arr.dtype)
    launch(ew.take_rows, out.size, out._buf, arr._buf, lin._buf, 1)
    return out


def _put_along_axis(arr, indices, values, axis):
    lin = _along_axis_offsets(arr.shape, indices, axis, "put_along_axis")
    values = _as_operand(values)
    src = values if isinstance(values, CudaArray) else full((), values, arr.dtype)
    src = src.astype(arr.dtype, copy=False).broadcast_to(lin.shape)
    launch(ew.put_rows, src.size, arr._buf, src._buf, lin._buf, 1)


def _split(a, indices_or_sections, axis=0):
    axis = normalize_axes(axis, a.ndim, "split")[0]
    n = a.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if n % indices_or_sections:
            raise ValueError(f"split: array split does not result in an equal division ({n} by {indices_or_sections})")
        step = n // indices_or_sections
        bounds = list(range(step, n, step))
    else:
        bounds = [int(b) for b in indices_or_sections]
    edges = [0] + [min(max(b, 0), n) for b in bounds] + [n]
    return [a[(slice(None),) * axis + (slice(lo, max(lo, hi)),)] for lo, hi in zip(edges[:-1], edges[1:])]


def _sum_fn(name):
    def reduction(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        a = _as_operand(a)
        if name in ("sum", "mean"):
            return a._reduce(name, axis, keepdims, dtype, out)
        if name in ("argmax", "argmin"):
            return getattr(a, name)(axis, out, keepdims)
        if name in ("any", "all"):
            return getattr(a, name)(axis, keepdims)
        return a._reduce(name, axis, keepdims, None, out)
    return reduction


FUNCTIONS.update({
    "sum": _sum_fn("sum"), "mean": _sum_fn("mean"), "max": _sum_fn("max"), "amax": _sum_fn("max"),
    "min": _sum_fn("min"), "amin": _sum_fn("min"), "argmax": _sum_fn("argmax"), "argmin": _sum_fn("argmin"),
    "any": _sum_fn("any"), "all": _sum_fn("all"),
    "take_along_axis": _take_along_axis, "put_along_axis": _put_along_axis, "split": _split,
    "where": _where, "clip": _clip, "concatenate": _concatenate, "stack": _stack, "pad": _pad_fn,
    "empty_like": _like(None), "zeros_like": _like(0), "ones_like": _like(1),
    "full_like": lambda a, fill_value, dtype=None, **kw: _like(fill_value)(a, dtype, kw.get("shape")),
    "reshape": lambda a, shape, order="C", **kw: a.reshape(shape, order=order),
    "transpose": lambda a, axes=None: a.transpose(axes),
    "swapaxes": lambda a, x, y: a.swapaxes(x, y),
    "moveaxis": _moveaxis, "expand_dims": _expand_dims,
    "squeeze": lambda a, axis=None: a.squeeze(axis),
    "ravel": lambda a, order="C": a.ravel(),
    "copy": lambda a, order="K", **kw: a.copy(),
    "broadcast_to": lambda a, shape, subok=False: a.broadcast_to(shape),
    "copyto": _copyto,
    "result_type": lambda *args: np.result_type(*[a.dtype if isinstance(a, CudaArray) else a for a in args]),
    "shape": lambda a: a.shape, "ndim": lambda a: a.ndim, "size": lambda a, axis=None: a.size if axis is None
    else a.shape[axis],
})
