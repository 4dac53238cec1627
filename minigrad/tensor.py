"""``Tensor``: an n-dimensional array that remembers how it was computed.

A tensor wraps a raw array (``numpy.ndarray`` on the CPU, a Numba device array
on CUDA) in ``.data``. When it ``requires_grad``, the ``Function`` that made it
is kept in ``._ctx`` so that ``backward()`` can walk the graph.
"""

from __future__ import annotations

import numpy as np

from . import autograd
from .dtypes import DEFAULT_FLOAT

__all__ = ["Tensor", "tensor", "manual_seed", "default_rng"]

_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Seed minigrad's random number generator (initialisation, dropout, shuffling defaults)."""
    global _rng
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _rng = np.random.default_rng(int(seed))


def default_rng() -> np.random.Generator:
    """The generator seeded by ``manual_seed``."""
    return _rng


def _normalize_device(device) -> str:
    name = str(device).lower()
    if name.startswith("cuda"):
        return "cuda"
    if name == "cpu":
        return "cpu"
    raise ValueError(f"device: unknown device {device!r}; use 'cpu' or 'cuda'")


def _is_device_name(name: str) -> bool:
    lowered = name.lower()
    return lowered == "cpu" or lowered.startswith("cuda")


def _as_array(data, dtype) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.numpy()
    if dtype is not None:
        return np.asarray(data, dtype=np.dtype(dtype))
    array = np.asarray(data)
    if array.dtype == np.float64 and not isinstance(data, np.ndarray):
        # Python floats become float32, as torch.tensor([0.5]) does; float64 arrays stay float64.
        array = array.astype(DEFAULT_FLOAT)
    elif array.dtype == np.float16:
        array = array.astype(DEFAULT_FLOAT)
    elif array.dtype.kind not in "fiub":
        raise TypeError(f"Tensor: unsupported dtype {array.dtype}")
    return array


class _Size(int):
    """An int (the element count) that PyTorch code can also call: ``x.size()`` is the shape and
    ``x.size(d)`` its size along dimension ``d``, so ``x.view(x.size(0), -1)`` ports unchanged."""

    def __new__(cls, shape):
        obj = super().__new__(cls, int(np.prod(shape, dtype=np.int64)))
        obj.shape = shape
        return obj

    def __call__(self, dim=None):
        if dim is None:
            return self.shape
        ndim = len(self.shape)
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -max(ndim, 1) <= dim < max(ndim, 1):
            raise ValueError(f"size: dim {dim!r} out of range for a tensor of {ndim} dimensions")
        if ndim == 0:
            raise ValueError("size: a 0-d tensor has no dimension to ask about")
        return self.shape[dim]


class Tensor:
    """A multi-dimensional array with reverse-mode gradients.

    Args:
        data: array-like (NumPy array, nested lists, scalar, or another Tensor).
        requires_grad: record operations on this tensor so ``backward`` reaches it.
        device: "cpu" or "cuda".
        dtype: NumPy dtype; default keeps a NumPy array's dtype and turns Python floats into float32.
    """

    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    # In-place bookkeeping (``minigrad.ops.inplace``); class defaults, so creating a tensor costs nothing.
    _version = 0  # bumped by every in-place op
    _node = None  # this state's graph node, once an op used it (``autograd.Node``)
    _overwritten = 0  # versions below this had their memory overwritten under no_grad

    def __init__(self, data, requires_grad: bool = False, device: str = "cpu", dtype=None):
        device = _normalize_device(device)
        array = _as_array(data, dtype)
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating-point tensors can require grad, got dtype {array.dtype}")
        self.data = array
        self.device = "cpu"
        self.grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self._retains_grad = False
        if device != "cpu":
            self.data = self._backend_for(device).from_numpy(array)
            self.device = device

    @classmethod
    def _wrap(cls, array, device, requires_grad, ctx):
        """Build a tensor around an op's output array without copying."""
        t = cls.__new__(cls)
        t.data = array
        t.device = device
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._retains_grad = False
        return t

    # ----------------------------------------------------------------- basics
    @staticmethod
    def _backend_for(device):
        from .backends import get_backend

        return get_backend(device)

    def _backend(self):
        return self._backend_for(self.device)

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return np.dtype(self.data.dtype)

    @property
    def ndim(self) -> int:
        return len(self.data.shape)

    @property
    def size(self) -> "_Size":
        """The element count (NumPy's ``a.size``); called, PyTorch's ``size()`` / ``size(dim)``."""
        return _Size(tuple(self.data.shape))

    def numel(self) -> int:
        return self.size

    def dim(self) -> int:
        return self.ndim

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (copied back from the GPU when needed)."""
        if self.device == "cpu":
            return self.data
        return self._backend().to_numpy(self.data)

    def item(self) -> float:
        if self.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, *args, device=None, dtype=None, non_blocking: bool = False, copy: bool = False) -> "Tensor":
        """A copy on ``device`` and/or of ``dtype`` (self when nothing changes and not ``copy``). Differentiable.

        PyTorch's forms: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other_tensor)``
        (its device and dtype), each with ``non_blocking=`` (accepted; copies are synchronous) and
        ``copy=True`` (always a new tensor).
        """
        from . import functional as F

        if len(args) > 2:
            raise TypeError(f"to: expected at most 2 positional arguments, got {len(args)}")
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, str) and _is_device_name(arg):
                device = arg
            elif isinstance(arg, bool):
                non_blocking = arg  # to(dtype, non_blocking) positionally
            else:
                try:
                    dtype = np.dtype(arg)
                except TypeError:
                    raise TypeError(f"to: cannot interpret {arg!r} as a device or a dtype") from None
        out = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = F.cast(out, np.dtype(dtype))
        if device is not None and _normalize_device(device) != out.device:
            out = F.to_device(out, _normalize_device(device))
        if copy and out is self:
            out = F.clone(self)
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

    def float(self) -> "Tensor":
        return self.to(dtype=np.float32)

    def double(self) -> "Tensor":
        return self.to(dtype=np.float64)

    def detach(self) -> "Tensor":
        """The same values, cut from the graph (shares memory)."""
        return Tensor._wrap(self.data, self.device, False, None)

    def clone(self) -> "Tensor":
        from . import functional as F

        return F.clone(self)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(f"requires_grad_: only floating-point tensors can require grad, got {self.dtype}")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_: cannot turn off grad on a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

    def _graph_node(self):
        """The ``autograd.Node`` that ops record for this non-leaf tensor in its current state."""
        node = self._node
        if node is None:
            node = self._node = autograd.Node(self)
        return node

    def retain_grad(self) -> None:
        """Make ``backward`` fill ``.grad`` of this non-leaf tensor too."""
        self._retains_grad = True

    # ------------------------------------------------------- in-place ops
    # The rules (leaf refusal, graph rebasing, no_grad writes) are in minigrad.ops.inplace.
    def zero_(self): return _inplace().zero_(self)
    def fill_(self, value): return _inplace().fill_(self, value)
    def add_(self, other, *, alpha=1): return _inplace().add_(self, other, alpha=alpha)
    def sub_(self, other, *, alpha=1): return _inplace().sub_(self, other, alpha=alpha)
    def mul_(self, other): return _inplace().mul_(self, other)
    def div_(self, other, *, rounding_mode=None): return _inplace().div_(self, other, rounding_mode=rounding_mode)
    def clamp_(self, min=None, max=None): return _inplace().clamp_(self, min, max)
    def copy_(self, src, non_blocking=False): return _inplace().copy_(self, src, non_blocking)
    def normal_(self, mean=0.0, std=1.0): return _inplace().normal_(self, mean, std)
    def uniform_(self, a=0.0, b=1.0): return _inplace().uniform_(self, a, b)
    def __iadd__(self, other): return self.add_(other)
    def __isub__(self, other): return self.sub_(other)
    def __imul__(self, other): return self.mul_(other)
    def __itruediv__(self, other): return self.div_(other)

    # ---------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
        """Accumulate the gradient of this tensor into ``.grad`` of every leaf that requires grad.

        Args:
            gradient: d(loss)/d(self); may be omitted only for one-element tensors.
            retain_graph: keep the graph so that ``backward`` can be called again.
            create_graph: must be False: minigrad's gradients are first-order only.
            inputs: must be None (every leaf that requires grad receives its gradient).
        """
        if create_graph:
            raise ValueError(
                "backward: create_graph=True is not supported; minigrad computes first-order gradients only "
                "(for second derivatives use finite differences of gradients, or PyTorch's torch.autograd.grad)"
            )
        if inputs is not None:
            raise ValueError(
                "backward: inputs= is not supported; every leaf that requires grad gets its gradient "
                "(set requires_grad=False on the others, or detach() them)"
            )
        autograd.backward(self, gradient, bool(retain_graph))

    def _accumulate_grad(self, grad, unreferenced=False) -> None:
        """Add an op's gradient into ``.grad``; ``unreferenced``: the engine holds the array alone.

        The first gradient is copied, since the op's array may be shared with other nodes, unless
        nothing else refers to it or its memory (``unreferenced`` and the backend's ``sole_owner``):
        then it is kept, as PyTorch's AccumulateGrad keeps a gradient it holds alone. A CIFAR
        ResNet-18 step copied 44 MB of weight gradients into fresh memory that way.
        """
        if self.grad is None:
            backend = self._backend()
            data = grad if unreferenced and backend.sole_owner(grad) else backend.copy(grad)
            self.grad = Tensor._wrap(data, self.device, False, None)
        else:
            self.grad.data = self.grad.data + grad

    # --------------------------------------------------------------- printing
    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), precision=4, separator=", ", prefix="tensor(")
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype != np.float32 and self.dtype.kind == "f":
            extras.append(f"dtype={self.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.function.__name__}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(f"bool: the truth value of a tensor with {self.size} elements is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    __hash__ = object.__hash__

    # -------------------------------------------------------- operator sugar
    # The ops live in minigrad.functional; these methods only forward to them.
    def __add__(self, other): return _F.add(self, other)
    def __radd__(self, other): return _F.add(other, self)
    def __sub__(self, other): return _F.sub(self, other)
    def __rsub__(self, other): return _F.sub(other, self)
    def __mul__(self, other): return _F.mul(self, other)
    def __rmul__(self, other): return _F.mul(other, self)
    def __truediv__(self, other): return _F.div(self, other)
    def __rtruediv__(self, other): return _F.div(other, self)
    def __pow__(self, other): return _F.pow(self, other)
    def __rpow__(self, other): return _F.pow(other, self)
    def __matmul__(self, other): return _F.matmul(self, other)
    def __rmatmul__(self, other): return _F.matmul(other, self)
    def __neg__(self): return _F.neg(self)
    def __abs__(self): return _F.abs(self)
    def __getitem__(self, index): return _F.getitem(self, index)
    def __lt__(self, other): return _F.lt(self, other)
    def __le__(self, other): return _F.le(self, other)
    def __gt__(self, other): return _F.gt(self, other)
    def __ge__(self, other): return _F.ge(self, other)
    def __eq__(self, other): return _F.eq(self, other)
    def __ne__(self, other): return _F.ne(self, other)

    def __setitem__(self, index, value):
        # An in-place op (minigrad.ops.inplace): refused on a leaf that requires grad, differentiable otherwise.
        _inplace().setitem(self, index, value)

    # ------------------------------------------------------ method spellings
    def exp(self): return _F.exp(self)
    def log(self): return _F.log(self)
    def sqrt(self): return _F.sqrt(self)
    def abs(self): return _F.abs(self)
    def relu(self): return _F.relu(self)
    def sigmoid(self): return _F.sigmoid(self)
    def tanh(self): return _F.tanh(self)
    def clamp(self, min=None, max=None): return _F.clamp(self, min, max)
    def clip(self, min=None, max=None): return _F.clamp(self, min, max)
    def add(self, other, *, alpha=1): return _F.add(self, other, alpha=alpha)
    def sub(self, other, *, alpha=1): return _F.sub(self, other, alpha=alpha)
    def mul(self, other): return _F.mul(self, other)
    def div(self, other, *, rounding_mode=None): return _F.div(self, other, rounding_mode=rounding_mode)
    def neg(self): return _F.neg(self)
    def maximum(self, other): return _F.maximum(self, other)
    def eq(self, other): return _F.eq(self, other)
    def ne(self, other): return _F.ne(self, other)
    def lt(self, other): return _F.lt(self, other)
    def le(self, other): return _F.le(self, other)
    def gt(self, other): return _F.gt(self, other)
    def ge(self, other): return _F.ge(self, other)
    def where(self, condition, other): return _F.where(condition, self, other)
    def t(self):
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor of at most 2 dimensions, got shape {self.shape}; use transpose")
        return self.T if self.ndim == 2 else self
    def mm(self, other): return _F.mm(self, other)
    def contiguous(self): return self  # CPU arrays are read in any layout; device arrays are always contiguous
    def long(self): return self.to(dtype=np.int64)
    def int(self): return self.to(dtype=np.int32)
    def bool(self): return self.to(dtype=np.bool_)
    def type_as(self, other): return self.to(dtype=other.dtype)
    def view_as(self, other): return _F.reshape(self, other.shape)
    def reshape_as(self, other): return _F.reshape(self, other.shape)
    def expand_as(self, other): return _F.expand(self, other.shape)
    def minimum(self, other): return _F.minimum(self, other)
    def sum(self, dim=None, keepdim=False, *, dtype=None): return _F.sum(self, dim, keepdim, dtype=dtype)
    def mean(self, dim=None, keepdim=False, *, dtype=None): return _F.mean(self, dim, keepdim, dtype=dtype)
    def max(self, dim=None, keepdim=False): return _F.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return _F.min(self, dim, keepdim)
    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _F.var(self, dim, unbiased, keepdim, correction=correction)
    def argmax(self, dim=None, keepdim=False): return _F.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return _F.argmin(self, dim, keepdim)
    def reshape(self, *shape): return _F.reshape(self, *shape)
    def view(self, *shape): return _F.reshape(self, *shape)
    def flatten(self, start_dim=0, end_dim=-1): return _F.flatten(self, start_dim, end_dim)
    def transpose(self, dim0, dim1): return _F.transpose(self, dim0, dim1)
    def permute(self, *dims): return _F.permute(self, *dims)
    def squeeze(self, dim=None): return _F.squeeze(self, dim)
    def unsqueeze(self, dim): return _F.unsqueeze(self, dim)
    def softmax(self, dim=-1, dtype=None): return _F.softmax(self, dim, dtype)
    def log_softmax(self, dim=-1, dtype=None): return _F.log_softmax(self, dim, dtype)
    def leaky_relu(self, negative_slope=0.01): return _F.leaky_relu(self, negative_slope)
    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _F.std(self, dim, unbiased, keepdim, correction=correction)
    def logsumexp(self, dim=None, keepdim=False): return _F.logsumexp(self, dim, keepdim)
    def expand(self, *sizes): return _F.expand(self, *sizes)
    def matmul(self, other): return _F.matmul(self, other)
    def pow(self, exponent): return _F.pow(self, exponent)


def _inplace():
    from .ops import inplace

    return inplace


def tensor(data, requires_grad: bool = False, device: str = "cpu", dtype=None) -> Tensor:
    """Create a tensor (``torch.tensor`` spelling)."""
    return Tensor(data, requires_grad=requires_grad, device=device, dtype=dtype)


from . import functional as _F  # noqa: E402  (functional imports Tensor; bound after the class exists)
