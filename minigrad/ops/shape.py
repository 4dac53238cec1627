"""Shape ops: reshape, flatten, transpose/permute, squeeze/unsqueeze, indexing, cat/stack, pad.

None of these change values, so every backward only moves gradients back to where the
values came from: a reshape back, an inverse permutation, a scatter-add for indexing.
"""

from __future__ import annotations

import builtins

import numpy as np

from ..autograd import Function
from ..tensor import Tensor

__all__ = [
    "reshape", "flatten", "transpose", "permute", "squeeze", "unsqueeze", "getitem",
    "cat", "concatenate", "stack", "pad", "expand",
]


# ------------------------------------------------------------------ helpers
def as_tensor(x):
    """``x`` as a Tensor (numbers and arrays become constant tensors)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def normalize_dim(name, dim, ndim, extra=0):
    """A possibly negative ``dim`` as an index in ``[0, ndim + extra)``.

    Raises:
        TypeError: ``dim`` is not an integer.
        ValueError: ``dim`` is out of range.
    """
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: dim must be an integer, got {type(dim).__name__}")
    size = ndim + extra
    lo, hi = -builtins.max(size, 1), builtins.max(size, 1) - 1
    if not lo <= dim <= hi:
        raise ValueError(f"{name}: dim {dim} out of range for a tensor of {ndim} dimensions (expected {lo} to {hi})")
    return int(dim) % builtins.max(size, 1)


def normalize_dims(name, dim, ndim):
    """``None`` (all axes), an int or a sequence of ints as a sorted tuple of distinct axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    axes = tuple(sorted(normalize_dim(name, d, ndim) for d in dims))
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: dim {dim} repeats an axis")
    # A 0-d tensor accepts dim 0 (or -1) as PyTorch does, and has no axis to reduce.
    return axes if ndim else ()


def _shape_args(name, shape):
    """Accept ``f(x, 2, 3)`` and ``f(x, (2, 3))`` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{name}: sizes must be integers, got {shape}")
    return tuple(int(s) for s in shape)


# ------------------------------------------------------------------ reshape
class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.in_shape), None


def reshape(x, *shape):
    """The same values in a new shape; one size may be -1 (inferred).

    Args:
        x: input tensor.
        *shape: the new sizes, as varargs or one tuple.

    Returns:
        A tensor of the new shape with ``x.numel()`` elements.
    """
    x = as_tensor(x)
    shape = _shape_args("reshape", shape)
    known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
    unknown = shape.count(-1)
    bad = unknown > 1 or any(s < -1 for s in shape)
    if not bad and unknown == 1:
        bad = known == 0 or x.size % known != 0
        if not bad:
            shape = tuple(x.size // known if s == -1 else s for s in shape)
    elif not bad:
        bad = known != x.size
    if bad:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) into {shape}")
    return Reshape.apply(x, shape)


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    """Merge dimensions ``start_dim..end_dim`` (inclusive) into one.

    Shape:
        (d0, ..., ds, ..., de, ..., dn) -> (d0, ..., ds * ... * de, ..., dn)
    """
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, 1)
    s = normalize_dim("flatten", start_dim, x.ndim)
    e = normalize_dim("flatten", end_dim, x.ndim)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    merged = int(np.prod(x.shape[s:e + 1], dtype=np.int64))
    return reshape(x, x.shape[:s] + (merged,) + x.shape[e + 1:])


# ------------------------------------------------------------------ permute
class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return np.transpose(x, dims)

    @staticmethod
    def backward(ctx, grad):
        return np.transpose(grad, tuple(int(d) for d in np.argsort(ctx.dims))), None


def permute(x, *dims):
    """Reorder dimensions: output dimension ``i`` is input dimension ``dims[i]`` (a view, no copy)."""
    x = as_tensor(x)
    dims = _shape_args("permute", dims)
    if len(dims) != x.ndim:
        raise ValueError(f"permute: {len(dims)} dims {dims} given for a tensor of shape {x.shape}")
    norm = tuple(normalize_dim("permute", d, x.ndim) for d in dims)
    if sorted(norm) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} dimensions of {x.shape}")
    return Permute.apply(x, norm)


def transpose(x, dim0: int, dim1: int):
    """Swap two dimensions."""
    x = as_tensor(x)
    d0 = normalize_dim("transpose", dim0, x.ndim)
    d1 = normalize_dim("transpose", dim1, x.ndim)
    if x.ndim == 0:
        return Permute.apply(x, ())
    dims = list(range(x.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(x, tuple(dims))


def squeeze(x, dim=None):
    """Remove size-1 dimensions (all of them, or those in ``dim`` that have size 1, as in PyTorch)."""
    x = as_tensor(x)
    if dim is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = tuple(a for a in normalize_dims("squeeze", dim, x.ndim) if x.shape[a] == 1)
    return Reshape.apply(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x, dim: int):
    """Insert a size-1 dimension at ``dim`` (``-1`` appends)."""
    x = as_tensor(x)
    d = normalize_dim("unsqueeze", dim, x.ndim, extra=1)
    return Reshape.apply(x, x.shape[:d] + (1,) + x.shape[d:])


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        from .elementwise import unbroadcast

        return unbroadcast(grad, ctx.in_shape), None


def expand(x, *sizes):
    """Broadcast ``x`` to ``sizes`` without copying (-1 keeps a size); gradients are summed back."""
    x = as_tensor(x)
    sizes = _shape_args("expand", sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"expand: cannot expand shape {x.shape} to {sizes}: fewer dimensions")
    lead = len(sizes) - x.ndim
    target = tuple(x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    for i, n in enumerate(x.shape):
        if n != 1 and n != target[i + lead]:
            raise ValueError(f"expand: cannot expand shape {x.shape} to {sizes}: size {n} at dim {i} is not 1")
    return Expand.apply(x, target)


# ----------------------------------------------------------------- indexing
def raw_index(index):
    """Tensors inside an index become arrays; bool masks become integer arrays (for np.add.at)."""
    items = index if isinstance(index, tuple) else (index,)
    out, advanced = [], False
    for item in items:
        if isinstance(item, Tensor):
            item = item.numpy()
        if isinstance(item, list):
            item = np.asarray(item)
        if isinstance(item, np.ndarray):
            advanced = True
            if item.dtype == np.bool_:
                out.extend(np.nonzero(item))
                continue
            if item.dtype.kind not in "iu":
                raise TypeError(f"getitem: index arrays must be integer or bool, got dtype {item.dtype}")
        out.append(item)
    return tuple(out), advanced


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index, advanced):
        ctx.in_shape, ctx.index, ctx.advanced = x.shape, index, advanced
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros_like(grad, shape=ctx.in_shape)  # on grad's device
        if ctx.advanced:
            # Repeated integer indices must accumulate; plain assignment would keep only the last.
            np.add.at(out, ctx.index, grad)
        else:
            out[ctx.index] = grad
        return out, None, None


def getitem(x, index):
    """``x[index]``: ints, slices, None, Ellipsis, integer arrays and bool masks (NumPy semantics).

    The gradient of an integer-array index accumulates over repeated indices.
    """
    x = as_tensor(x)
    raw, advanced = raw_index(index)
    # Checked with the masks as given: np.nonzero of a mask of the wrong length is a valid index.
    given = tuple(i.numpy() if isinstance(i, Tensor) else i for i in (index if isinstance(index, tuple) else (index,)))
    try:
        # On a zero-strided stand-in of x's shape: works for every device and copies nothing.
        np.broadcast_to(np.False_, x.shape)[given if isinstance(index, tuple) else given[0]]
    except IndexError as exc:
        raise ValueError(f"getitem: index {index!r} is invalid for a tensor of shape {x.shape}: {exc}") from None
    return GetItem.apply(x, raw, advanced)


# --------------------------------------------------------------- cat, stack
class Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        ctx.bounds = np.cumsum([a.shape[dim] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.bounds, axis=ctx.dim))


def cat(tensors, dim: int = 0):
    """Join tensors along an existing dimension; all other sizes must agree.

    Shape:
        (..., n_i, ...) for each input -> (..., sum_i n_i, ...)
    """
    if isinstance(tensors, Tensor) or not len(tensors):
        raise ValueError("cat: expected a non-empty sequence of tensors")
    tensors = [as_tensor(t) for t in tensors]
    first = tensors[0]
    d = normalize_dim("cat", dim, first.ndim)
    for i, t in enumerate(tensors[1:], start=1):
        if t.ndim != first.ndim or any(a != b for k, (a, b) in enumerate(zip(t.shape, first.shape)) if k != d):
            raise ValueError(
                f"cat: tensor {i} has shape {t.shape} but tensor 0 has {first.shape}; "
                f"sizes must match except in dimension {d}"
            )
    floats = [t.dtype for t in tensors if t.dtype.kind == "f"]
    if floats:
        like = np.result_type(*floats)
        tensors = [t if t.dtype == like else t.to(dtype=like) for t in tensors]
    return Cat.apply(*tensors, dim=d)


concatenate = cat


def stack(tensors, dim: int = 0):
    """Join equally shaped tensors along a new dimension ``dim``.

    Shape:
        k tensors of (d0, ..., dn) -> (d0, ..., k, ..., dn) with k at ``dim``
    """
    if isinstance(tensors, Tensor) or not len(tensors):
        raise ValueError("stack: expected a non-empty sequence of tensors")
    tensors = [as_tensor(t) for t in tensors]
    for i, t in enumerate(tensors[1:], start=1):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape} but tensor 0 has {tensors[0].shape}")
    d = normalize_dim("stack", dim, tensors[0].ndim, extra=1)
    return cat([unsqueeze(t, d) for t in tensors], d)


# ---------------------------------------------------------------------- pad
_NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad_sources(in_shape, widths, mode):
    """Flat index of the input element that each output element of a non-constant pad copies."""
    size = int(np.prod(in_shape, dtype=np.int64))
    return np.pad(np.arange(size).reshape(in_shape), widths, mode=_NUMPY_MODE[mode])


class Pad(Function):
    @staticmethod
    def forward(ctx, x, widths, mode, value):
        ctx.in_shape, ctx.widths, ctx.mode = x.shape, widths, mode
        if mode == "constant":
            return np.pad(x, widths, mode="constant", constant_values=value)
        if isinstance(x, np.ndarray):
            return np.pad(x, widths, mode=_NUMPY_MODE[mode])
        # A device array: gather from the flat input (the GPU has no reflect/edge/wrap pad).
        source = _pad_sources(x.shape, widths, mode)
        return x.reshape(x.size)[source.ravel()].reshape(source.shape)

    @staticmethod
    def backward(ctx, grad):
        if ctx.mode == "constant":
            inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(ctx.widths, ctx.in_shape))
            return grad[inner], None, None, None
        # Each output element names the input element it copies (the padded index array); the
        # gradients that share a source are summed: a bincount on the CPU, add.at on a device.
        source = _pad_sources(ctx.in_shape, ctx.widths, ctx.mode).ravel()
        size = int(np.prod(ctx.in_shape, dtype=np.int64))
        if isinstance(grad, np.ndarray):
            flat = np.bincount(source, weights=grad.ravel().astype(np.float64), minlength=size).astype(grad.dtype)
        else:
            flat = np.zeros_like(grad, shape=(size,))
            np.add.at(flat, source, grad.reshape(grad.size))
        return flat.reshape(ctx.in_shape), None, None, None


def pad(x, pad, mode: str = "constant", value: float = 0.0):
    """Pad the last ``len(pad) // 2`` dimensions, PyTorch's convention: last dimension first.

    ``pad = (left, right, top, bottom)`` pads the last dimension by ``left``/``right`` and the
    one before it by ``top``/``bottom``.

    Args:
        x: input tensor.
        pad: even-length sequence of widths; negative widths crop.
        mode: "constant", "reflect", "replicate" or "circular".
        value: fill value for "constant".

    Shape:
        (..., H, W) -> (..., H + top + bottom, W + left + right)
    """
    x = as_tensor(x)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: pad {pad} must have an even length of at most 2 * {x.ndim} for shape {x.shape}")
    if mode not in ("constant",) + tuple(_NUMPY_MODE):
        raise ValueError(f"pad: unknown mode {mode!r}; use 'constant', 'reflect', 'replicate' or 'circular'")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if builtins.any(p < 0 for p in pad):
        # Negative widths crop, as in PyTorch, and the crop comes first (it decides what
        # reflect and circular padding on the other side copy).
        crop = []
        for axis, (lo, hi) in enumerate(widths):
            start, stop = builtins.max(-lo, 0), x.shape[axis] - builtins.max(-hi, 0)
            if stop < start:
                raise ValueError(f"pad: padding {pad} crops dimension {axis} of {x.shape} to a negative size")
            crop.append(slice(start, stop))
        x = getitem(x, tuple(crop))
        widths = [(builtins.max(lo, 0), builtins.max(hi, 0)) for lo, hi in widths]
    if mode == "reflect":
        for axis, (lo, hi) in enumerate(widths):
            if builtins.max(lo, hi) >= x.shape[axis] and (lo or hi):
                raise ValueError(
                    f"pad: reflect padding {(lo, hi)} must be smaller than the size {x.shape[axis]} "
                    f"of dimension {axis} of {x.shape}"
                )
    if mode == "circular":
        for axis, (lo, hi) in enumerate(widths):
            if builtins.max(lo, hi) > x.shape[axis]:
                raise ValueError(
                    f"pad: circular padding {(lo, hi)} exceeds the size {x.shape[axis]} of dimension {axis} of {x.shape}"
                )
    return Pad.apply(x, tuple(widths), mode, value)
