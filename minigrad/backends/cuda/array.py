"""``CudaArray``: a NumPy duck array whose data lives in GPU memory.

Ops are written in NumPy vocabulary (``a + b``, ``np.exp(a)``, ``g.sum(axis=0)``,
``x.reshape(...)``). A ``CudaArray`` answers that vocabulary with CUDA kernels: operators
and ufuncs through ``__array_ufunc__`` (implemented here), NumPy functions through
``__array_function__`` (implemented in ``functions.py``, which registers them in ``FUNCTIONS``),
so an op runs unchanged on either device. Anything it does not implement raises a
``TypeError`` naming the function, never a silent copy to the host.

Storage is always C-contiguous. ``reshape`` and indexing that selects a contiguous block
(``a[i]``, ``a[2:5]``) are views sharing the buffer (writes through them are seen by the
original, as in NumPy); ``transpose``, strided slicing and ``broadcast_to`` materialise a
copy by a strided-gather kernel, so writing into *those* does not reach the original (index
arithmetic in ``strides.py``). Result dtypes follow NumPy's own rules (computed by NumPy on
one-element host probes).

Memory comes from the caching allocator (``allocator.py``): when the last array over a
buffer is gone, the buffer waits in a pool for the next request of its rounded size
instead of going back to the driver.
"""

from __future__ import annotations

import operator

import numpy as np
from numba import cuda

from . import elementwise as ew
from .allocator import allocator as _allocator
from .gemm import tiled_gemm
from .launch import launch
from .reduce import arg_rows, reduce_rows
from .strides import broadcast_strides, contiguous_strides, normalize_axes, pad_axes

# The array type, then the contract's array helpers (``backends/contract.py``).
__all__ = ["CudaArray", "empty", "zeros", "full", "ones_like", "copy", "from_numpy", "to_numpy", "synchronize"]

class CudaArray:
    """An n-dimensional, C-contiguous array in GPU memory with NumPy's interface.

    Args:
        buf: flat numba device array holding ``prod(shape)`` elements.
        shape: the array's shape.
        lease: the caching allocator's ownership token of ``buf``'s memory (``allocator._Lease``),
            or None for memory the allocator does not manage. Every array over the same memory
            (reshapes, contiguous slices) holds it, so the block returns to the pool only when
            the last of them is gone.
    """

    __array_priority__ = 2000
    __slots__ = ("_buf", "_lease", "shape", "dtype", "__weakref__")

    def __init__(self, buf, shape, lease=None):
        self._buf = buf
        self._lease = lease
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(buf.dtype)

    # ----------------------------------------------------------- construction
    @classmethod
    def empty(cls, shape, dtype=np.float32):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        size = int(np.prod(shape, dtype=np.int64))
        # From the caching allocator: a freed buffer of the same rounded size is reused.
        buf, lease = _allocator.allocate(size, dtype)
        return cls(buf, shape, lease)

    def _dev(self):
        """The data as a device array of this shape (what the kernels index)."""
        return self._buf.reshape(self.shape) if self.shape else self._buf

    # ------------------------------------------------------------- attributes
    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape, dtype=np.int64)))
    itemsize = property(lambda self: self.dtype.itemsize)
    nbytes = property(lambda self: self.size * self.dtype.itemsize)
    T = property(lambda self: self.transpose())
    device = "cuda"

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self):
        return f"CudaArray({self.get()!r})"

    def get(self) -> np.ndarray:
        """A host copy (explicit device-to-host transfer)."""
        host = self._buf.copy_to_host()
        return host[: self.size].reshape(self.shape)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            f"CudaArray {self.shape}: implicit conversion to a NumPy array (np.asarray, np.ascontiguousarray, "
            f"...) would copy from the GPU; call backend.to_numpy(x) or .get() explicitly"
        )

    def item(self):
        if self.size != 1:
            raise ValueError(f"item: can only convert an array of size 1, got shape {self.shape}")
        return self.get().reshape(()).item()

    def tolist(self):
        return self.get().tolist()

    __float__ = lambda self: float(self.item())  # noqa: E731
    __int__ = lambda self: int(self.item())  # noqa: E731
    __bool__ = lambda self: bool(self.item())  # noqa: E731

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape, order="C"):
        if order != "C":
            raise TypeError(f"reshape: only order='C' is supported on the GPU, got {order!r}")
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = [operator.index(s) for s in shape]
        if shape.count(-1) > 1:
            raise ValueError(f"reshape: can only specify one unknown dimension, got {tuple(shape)}")
        if -1 in shape:
            known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
            if known == 0 or self.size % known:
                raise ValueError(f"reshape: cannot reshape array of size {self.size} into shape {tuple(shape)}")
            shape[shape.index(-1)] = self.size // known
        if int(np.prod(shape, dtype=np.int64)) != self.size:
            raise ValueError(f"reshape: cannot reshape array of size {self.size} into shape {tuple(shape)}")
        return CudaArray(self._buf, shape, self._lease)

    def ravel(self):
        return self.reshape(-1)

    flatten = lambda self: self.copy().reshape(-1)  # noqa: E731

    def squeeze(self, axis=None):
        if axis is None:
            return self.reshape([s for s in self.shape if s != 1])
        axes = normalize_axes(axis, self.ndim, "squeeze")
        if any(self.shape[a] != 1 for a in axes):
            raise ValueError(f"squeeze: cannot select an axis of size != 1 in shape {self.shape} (axis {axis})")
        return self.reshape([s for i, s in enumerate(self.shape) if i not in axes])

    def _strided(self, shape, strides, offset=0):
        """A contiguous copy of the strided view ``(shape, strides, offset)`` of this buffer."""
        out = CudaArray.empty(shape, self.dtype)
        launch(ew.gather_strided, out.size, out._buf, self._buf, pad_axes(shape, 1), pad_axes(strides, 0), int(offset))
        return out

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        axes = tuple(range(self.ndim))[::-1] if not axes else tuple(operator.index(a) % self.ndim for a in axes)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"transpose: axes {axes} don't match an array of shape {self.shape}")
        if axes == tuple(range(self.ndim)):
            return self.copy()
        strides = contiguous_strides(self.shape)
        return self._strided([self.shape[a] for a in axes], [strides[a] for a in axes])

    def swapaxes(self, a, b):
        axes = list(range(self.ndim))
        a, b = a % self.ndim, b % self.ndim
        axes[a], axes[b] = axes[b], axes[a]
        return self.transpose(axes)

    def broadcast_to(self, shape):
        shape = tuple(shape)
        try:
            np.broadcast_shapes(self.shape, shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {self.shape} to {shape}") from None
        if len(shape) < self.ndim or np.broadcast_shapes(self.shape, shape) != shape:
            raise ValueError(f"broadcast_to: cannot broadcast shape {self.shape} to {shape}")
        return self._strided(shape, broadcast_strides(self.shape, shape))

    # ------------------------------------------------------------ conversions
    def astype(self, dtype, copy=True):
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self.copy() if copy else self
        out = CudaArray.empty(self.shape, dtype)
        kernel = ew.cast_bool if dtype == np.bool_ else ew.cast
        launch(kernel, self.size, out._buf, self._buf)
        return out

    def copy(self):
        out = CudaArray.empty(self.shape, self.dtype)
        if self.size:
            out._buf[: self.size].copy_to_device(self._buf[: self.size])
        return out

    def fill(self, value):
        launch(ew.fill, self.size, self._buf, self.dtype.type(value))

    # --------------------------------------------------------------- indexing
    def _basic_view(self, key):
        """(shape, strides, offset) of a basic-indexing key (ints, slices, None, Ellipsis)."""
        key = key if isinstance(key, tuple) else (key,)
        n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
        if n_real > self.ndim:
            raise IndexError(f"getitem: too many indices ({n_real}) for an array of shape {self.shape}")
        if any(k is Ellipsis for k in key):
            i = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - n_real) + key[i + 1:]
        key = key + (slice(None),) * (self.ndim - sum(1 for k in key if k is not None))
        strides = contiguous_strides(self.shape)
        shape, out_strides, offset, axis = [], [], 0, 0
        for k in key:
            if k is None:
                shape.append(1)
                out_strides.append(0)
                continue
            size, stride = self.shape[axis], strides[axis]
            if isinstance(k, slice):
                start, stop, step = k.indices(size)
                shape.append(len(range(start, stop, step)))
                out_strides.append(stride * step)
                offset += start * stride
            else:
                i = operator.index(k)
                if not -size <= i < size:
                    raise IndexError(f"getitem: index {i} is out of bounds for axis {axis} with size {size}")
                offset += (i % size) * stride
            axis += 1
        return shape, out_strides, offset

    def _fancy(self, key):
        """Integer-array indices of the leading axes: (flat row indices, out shape, inner size)."""
        key = key if isinstance(key, tuple) else (key,)
        arrays = [k if isinstance(k, CudaArray) else np.asarray(k) for k in key]
        for a in arrays:
            if a.dtype.kind not in "iu" or len(arrays) > self.ndim:
                raise TypeError(
                    f"getitem: the GPU supports basic indexing and integer arrays over leading axes; "
                    f"got index dtype {a.dtype} for shape {self.shape}"
                )
        bshape = np.broadcast_shapes(*[tuple(a.shape) for a in arrays])
        lin = None
        for axis, a in enumerate(arrays):
            size = self.shape[axis]
            if isinstance(a, np.ndarray):
                if a.size and (a.min() < -size or a.max() >= size):
                    raise IndexError(f"getitem: index out of bounds for axis {axis} with size {size}")
                a = from_numpy((a % size).astype(np.int64))
            else:
                a = a.astype(np.int64) % size
            term = a * int(np.prod(self.shape[axis + 1:len(arrays)], dtype=np.int64))
            lin = term if lin is None else lin + term
        lin = lin.broadcast_to(bshape) if lin.shape != bshape else lin
        inner = int(np.prod(self.shape[len(arrays):], dtype=np.int64))
        return lin, bshape + self.shape[len(arrays):], inner

    @staticmethod
    def _is_fancy(key):
        key = key if isinstance(key, tuple) else (key,)
        return any(isinstance(k, (CudaArray, np.ndarray, list)) for k in key)

    def __getitem__(self, key):
        if self._is_fancy(key):
            rows, shape, inner = self._fancy(key)
            out = CudaArray.empty(shape, self.dtype)
            launch(ew.take_rows, out.size, out._buf, self._buf, rows._buf, inner)
            return out
        shape, strides, offset = self._basic_view(key)
        size = int(np.prod(shape, dtype=np.int64))
        live = [(n, st) for n, st in zip(shape, strides) if n != 1]
        if size and [st for _, st in live] == list(contiguous_strides([n for n, _ in live])):
            # A contiguous block (a[i], a[2:5], a[:, None]): a view sharing memory, as in NumPy,
            # so that writes through it (np.matmul(..., out=a[0])) reach the original.
            return CudaArray(self._buf[offset:offset + size], shape, self._lease)
        return self._strided(shape, strides, offset)

    def __setitem__(self, key, value):
        value = _as_operand(value, self.dtype)
        if self._is_fancy(key):
            rows, shape, inner = self._fancy(key)
            src = value if isinstance(value, CudaArray) else full((), value, self.dtype)
            src = src.astype(self.dtype, copy=False).broadcast_to(shape)
            launch(ew.put_rows, src.size, self._buf, src._buf, rows._buf, inner)
            return
        shape, strides, offset = self._basic_view(key)
        if not isinstance(value, CudaArray):
            value = full((), value, self.dtype)
        value = value.astype(self.dtype, copy=False)
        try:
            np.broadcast_shapes(value.shape, tuple(shape))
        except ValueError:
            raise ValueError(f"setitem: value of shape {value.shape} cannot fill a slice of shape {tuple(shape)}") from None
        size = int(np.prod(shape, dtype=np.int64))
        launch(ew.scatter_strided, size, self._buf, value._buf, pad_axes(shape, 1), pad_axes(strides, 0), int(offset),
               pad_axes(broadcast_strides(value.shape, tuple(shape)), 0))

    # ------------------------------------------------------------- reductions
    def _reduce(self, op, axis=None, keepdims=False, dtype=None, out=None):
        axes = normalize_axes(axis, self.ndim, op)
        kept = [a for a in range(self.ndim) if a not in axes]
        out_shape = tuple(1 if a in axes else s for a, s in enumerate(self.shape)) if keepdims else \
            tuple(self.shape[a] for a in kept)
        K = int(np.prod([self.shape[a] for a in axes], dtype=np.int64))
        x = self if kept + list(axes) == list(range(self.ndim)) else self.transpose(kept + list(axes))
        if op in ("argmax", "argmin"):
            if K == 0:
                raise ValueError(f"{op}: attempt to get {op} of an empty sequence")
            result = CudaArray.empty(out_shape, np.int64)
            arg_rows(result._buf, x._buf, op == "argmax")
        elif op in ("sum", "mean"):
            acc = np.sum(np.zeros(1, self.dtype), dtype=dtype).dtype
            result = CudaArray.empty(out_shape, acc)
            if result.size and K == 0:
                result.fill(0)
            else:
                reduce_rows(result._buf, x._buf, "sum", 0)
            if op == "mean":
                mean_dtype = np.mean(np.zeros(1, self.dtype), dtype=dtype).dtype
                result = result.astype(mean_dtype, copy=False) / (K if K else np.nan)
        else:
            if K == 0:
                raise ValueError(f"{op}: zero-size array to reduction operation {op} which has no identity")
            result = CudaArray.empty(out_shape, self.dtype)
            init = (-np.inf if op == "max" else np.inf) if self.dtype.kind == "f" else \
                (np.iinfo(self.dtype).min if op == "max" else np.iinfo(self.dtype).max) \
                if self.dtype.kind in "iu" else (op == "min")
            reduce_rows(result._buf, x._buf, op, init)
        if out is not None:
            _copy_into(out, result)
            return out
        return result

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return self._reduce("sum", axis, keepdims, dtype, out)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return self._reduce("mean", axis, keepdims, dtype, out)

    def max(self, axis=None, out=None, keepdims=False):
        return self._reduce("max", axis, keepdims, None, out)

    def min(self, axis=None, out=None, keepdims=False):
        return self._reduce("min", axis, keepdims, None, out)

    def argmax(self, axis=None, out=None, keepdims=False):
        x = self.reshape(-1) if axis is None else self
        return x._reduce("argmax", 0 if axis is None else axis, keepdims, None, out)

    def argmin(self, axis=None, out=None, keepdims=False):
        x = self.reshape(-1) if axis is None else self
        return x._reduce("argmin", 0 if axis is None else axis, keepdims, None, out)

    def any(self, axis=None, keepdims=False):
        if not self.size:
            return full((), False, np.bool_)
        return self.astype(np.bool_).astype(np.int64)._reduce("max", axis, keepdims) != 0

    def all(self, axis=None, keepdims=False):
        if not self.size:
            return full((), True, np.bool_)
        return self.astype(np.bool_).astype(np.int64)._reduce("min", axis, keepdims) != 0

    def clip(self, min=None, max=None, out=None):
        return _clip(self, min, max, out)

    # -------------------------------------------------------------- operators
    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if kwargs.get("where", True) is not True or kwargs.get("casting", "same_kind") != "same_kind":
            raise TypeError(f"{ufunc.__name__}: the GPU ufuncs take no where=/casting= arguments")
        if out is not None:
            if len(out) != 1 or not isinstance(out[0], CudaArray):
                raise TypeError(f"{ufunc.__name__}: out= must be one CudaArray on the GPU")
            out = out[0]
        name = ufunc.__name__
        if method == "at" and name == "add":
            return _add_at(*inputs)
        if method != "__call__":
            raise TypeError(f"{name}.{method}: not supported on the GPU")
        if name == "matmul":
            return _matmul(*inputs, out=out)
        if name in ew.UNARY and len(inputs) == 1:
            return _unary(name, inputs[0], out, kwargs.get("dtype"))
        if name in ew.BINARY and len(inputs) == 2:
            return _binary(name, inputs[0], inputs[1], out)
        raise TypeError(f"numpy.{name}: not supported on the GPU (minigrad.backends.cuda)")

    def __array_function__(self, func, types, args, kwargs):
        impl = FUNCTIONS.get(func.__name__)
        if impl is None:
            raise TypeError(f"numpy.{func.__name__}: not supported on the GPU (minigrad.backends.cuda)")
        return impl(*args, **kwargs)

    __add__ = lambda s, o: _binary("add", s, o)  # noqa: E731
    __radd__ = lambda s, o: _binary("add", o, s)  # noqa: E731
    __sub__ = lambda s, o: _binary("subtract", s, o)  # noqa: E731
    __rsub__ = lambda s, o: _binary("subtract", o, s)  # noqa: E731
    __mul__ = lambda s, o: _binary("multiply", s, o)  # noqa: E731
    __rmul__ = lambda s, o: _binary("multiply", o, s)  # noqa: E731
    __truediv__ = lambda s, o: _binary("true_divide", s, o)  # noqa: E731
    __rtruediv__ = lambda s, o: _binary("true_divide", o, s)  # noqa: E731
    __mod__ = lambda s, o: _binary("remainder", s, o)  # noqa: E731
    __rmod__ = lambda s, o: _binary("remainder", o, s)  # noqa: E731
    __floordiv__ = lambda s, o: _binary("floor_divide", s, o)  # noqa: E731
    __rfloordiv__ = lambda s, o: _binary("floor_divide", o, s)  # noqa: E731
    __pow__ = lambda s, o: _binary("power", s, o)  # noqa: E731
    __rpow__ = lambda s, o: _binary("power", o, s)  # noqa: E731
    __gt__ = lambda s, o: _binary("greater", s, o)  # noqa: E731
    __ge__ = lambda s, o: _binary("greater_equal", s, o)  # noqa: E731
    __lt__ = lambda s, o: _binary("less", s, o)  # noqa: E731
    __le__ = lambda s, o: _binary("less_equal", s, o)  # noqa: E731
    __eq__ = lambda s, o: _binary("equal", s, o)  # noqa: E731
    __ne__ = lambda s, o: _binary("not_equal", s, o)  # noqa: E731
    __and__ = lambda s, o: _binary("logical_and", s, o)  # noqa: E731
    __or__ = lambda s, o: _binary("logical_or", s, o)  # noqa: E731
    __iadd__ = lambda s, o: _binary("add", s, o, out=s)  # noqa: E731
    __isub__ = lambda s, o: _binary("subtract", s, o, out=s)  # noqa: E731
    __imul__ = lambda s, o: _binary("multiply", s, o, out=s)  # noqa: E731
    __itruediv__ = lambda s, o: _binary("true_divide", s, o, out=s)  # noqa: E731
    __neg__ = lambda s: _unary("negative", s)  # noqa: E731
    __abs__ = lambda s: _unary("absolute", s)  # noqa: E731
    __invert__ = lambda s: _unary("logical_not", s)  # noqa: E731
    __matmul__ = lambda s, o: _matmul(s, o)  # noqa: E731
    __rmatmul__ = lambda s, o: _matmul(o, s)  # noqa: E731
    __hash__ = None


# ----------------------------------------------------------------- operands
def _as_operand(x, dtype=None):
    """CudaArrays stay; host arrays are copied to the device; scalars stay scalars."""
    if isinstance(x, CudaArray):
        return x
    if isinstance(x, np.ndarray):
        return x[()] if x.ndim == 0 else from_numpy(x)
    if isinstance(x, (bool, int, float, np.generic)):
        return x
    if isinstance(x, (list, tuple)):
        return from_numpy(np.asarray(x, dtype=dtype))
    raise TypeError(f"cuda backend: unsupported operand of type {type(x).__name__}")


def _probe(x):
    """A one-element host stand-in with ``x``'s dtype, for NumPy's result-type rules."""
    return np.zeros(1, x.dtype) if isinstance(x, CudaArray) else x


def _output(out, shape, dtype, name):
    if out is None:
        return CudaArray.empty(shape, dtype)
    if out.shape != tuple(shape):
        raise ValueError(f"{name}: out= has shape {out.shape}, the result has shape {tuple(shape)}")
    return out


def _binary(name, a, b, out=None):
    a, b = _as_operand(a), _as_operand(b)
    with np.errstate(all="ignore"):
        dtype = getattr(np, name)(_probe(a), _probe(b)).dtype
    same, scalar, bcast = ew.binary(name)
    if not isinstance(a, CudaArray) or not isinstance(b, CudaArray):
        arr, s, swap = (a, b, False) if isinstance(a, CudaArray) else (b, a, True)
        # A scalar takes the array's dtype when NumPy would (float32 array * 0.5 stays float32).
        compute = np.result_type(arr.dtype, s) if dtype == np.bool_ else dtype
        s = compute.type(s) if compute.kind in "fiub" else s
        o = _output(out, arr.shape, dtype, name)
        launch(scalar, o.size, o._buf, arr._buf, s, swap)
        return o
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{name}: operands of shapes {a.shape} and {b.shape} cannot be broadcast together") from None
    o = _output(out, shape, dtype, name)
    if a.shape == b.shape:
        launch(same, o.size, o._buf, a._buf, b._buf)
    else:
        launch(bcast, o.size, o._buf, a._buf, b._buf, pad_axes(shape, 1),
               pad_axes(broadcast_strides(a.shape, shape), 0), pad_axes(broadcast_strides(b.shape, shape), 0))
    return o


def _unary(name, a, out=None, dtype=None):
    a = _as_operand(a)
    if not isinstance(a, CudaArray):
        return getattr(np, name)(a)
    with np.errstate(all="ignore"):
        rdtype = np.dtype(dtype) if dtype else getattr(np, name)(_probe(a)).dtype
    o = _output(out, a.shape, rdtype, name)
    launch(ew.unary(name), o.size, o._buf, a._buf)
    return o


def _clip(a, lo=None, hi=None, out=None, **kwargs):
    lo, hi = kwargs.pop("a_min", lo), kwargs.pop("a_max", hi)
    if isinstance(lo, CudaArray) or isinstance(hi, CudaArray):
        x = a if lo is None else _binary("maximum", a, lo)
        return x if hi is None else _binary("minimum", x, hi, out)
    o = _output(out, a.shape, a.dtype, "clip")
    t = a.dtype.type
    launch(ew.clip, o.size, o._buf, a._buf, t(0 if lo is None else lo), t(0 if hi is None else hi),
           lo is not None, hi is not None)
    return o


def _matmul(a, b, out=None):
    a, b = _as_operand(a), _as_operand(b)
    if not isinstance(a, CudaArray) or not isinstance(b, CudaArray) or a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: both operands must be arrays of at least one dimension")
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: operands must share a dtype on the GPU, got {a.dtype} and {b.dtype}")
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    (M, K), (K2, N) = a2.shape[-2:], b2.shape[-2:]
    if K != K2:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: inner dimensions {K} and {K2} differ")
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    B = int(np.prod(batch, dtype=np.int64))
    a3 = a2.reshape(1, M, K) if a2.ndim == 2 else a2.broadcast_to(batch + (M, K)).reshape(B, M, K)
    b3 = b2.reshape(1, K, N) if b2.ndim == 2 else b2.broadcast_to(batch + (K, N)).reshape(B, K, N)
    shape = batch + (M, N)
    result = CudaArray.empty(shape, a.dtype)
    tiled_gemm(result.reshape(max(B, 1), M, N), a3, b3)
    if a.ndim == 1:
        shape = shape[:-2] + (N,)
    if b.ndim == 1:
        shape = shape[:-1]
    result = result.reshape(shape)
    if out is not None:
        _copy_into(out, result)
        return out
    return result


def _add_at(a, index, values):
    """``np.add.at(a, index, values)``: unbuffered scatter-add (atomics; duplicates accumulate)."""
    rows, shape, inner = a._fancy(index)
    values = _as_operand(values)
    src = values if isinstance(values, CudaArray) else full((), values, a.dtype)
    src = src.astype(a.dtype, copy=False).broadcast_to(shape)
    launch(ew.add_rows, src.size, a._buf, src._buf, rows._buf, inner)


def _copy_into(dst, src):
    src = _as_operand(src)
    if not isinstance(src, CudaArray):
        dst.fill(src)
        return
    shape = dst.shape
    src = src.astype(dst.dtype, copy=False)
    if src.shape != shape:
        src = src.broadcast_to(shape)
    if src.size:
        dst._buf[: dst.size].copy_to_device(src._buf[: src.size])


# --------------------------------------------------------- NumPy functions
#: ``numpy.<name>`` -> its implementation for CudaArrays, read by ``__array_function__`` (NEP 18's
#: ``HANDLED_FUNCTIONS``). ``functions.py`` fills it; the backend package imports that module
#: with its kernels, before any array exists.
FUNCTIONS: dict = {}



# ------------------------------------------------------------ backend helpers
def empty(shape, dtype=np.float32):
    """An uninitialised device array."""
    return CudaArray.empty(shape, dtype)


def full(shape, value, dtype=np.float32):
    """A device array filled with ``value`` by a kernel (no host transfer)."""
    out = CudaArray.empty(shape, dtype)
    out.fill(value)
    return out


def zeros(shape, dtype=np.float32):
    """A device array of zeros."""
    return full(shape, 0, dtype)


def ones_like(array):
    """Ones with ``array``'s shape and dtype, on the device."""
    return full(array.shape, 1, array.dtype)


def copy(array):
    """A device copy of a device array."""
    return array.copy()


def from_numpy(array):
    """Copy a host array to the device (a CudaArray is returned as is)."""
    if isinstance(array, CudaArray):
        return array
    host = np.asarray(array, order="C")  # not ascontiguousarray: it turns 0-d arrays into 1-d
    out = CudaArray.empty(host.shape, host.dtype)
    if host.size:
        out._buf.copy_to_device(host.reshape(-1))
    return out


def to_numpy(array):
    """Copy a device array to the host (a NumPy array is returned as is)."""
    if isinstance(array, CudaArray):
        return array.get()
    if isinstance(array, np.ndarray):
        return array
    return np.asarray(array.copy_to_host())


def synchronize():
    """Wait for every queued kernel (for timing and before reading results)."""
    cuda.synchronize()
