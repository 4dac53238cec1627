"""Reverse-mode automatic differentiation: ``Function``, ``Context`` and ``backward``.

An op is a ``Function`` subclass with two static methods that work on raw arrays
(``numpy.ndarray`` on the CPU, device arrays on CUDA)::

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            return grad * b, grad * a

``Mul.apply(x, y)`` unwraps the tensors, runs ``forward``, and - when gradients
are enabled and an input requires one - links the result into the graph.
``backward`` returns one gradient (or ``None``) per positional input of
``forward``; non-tensor inputs get ``None``.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import weakref

import numpy as np

__all__ = ["Context", "Function", "no_grad", "enable_grad", "is_grad_enabled", "backward", "function_hook"]

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether operations currently record a graph."""
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def _grad_mode(enabled: bool):
    previous = is_grad_enabled()
    _state.grad_enabled = enabled
    try:
        yield
    finally:
        _state.grad_enabled = previous


def no_grad():
    """Context manager (and decorator) that disables graph recording.

    Example:
        >>> with mg.no_grad():
        ...     y = model(x)          # y.requires_grad is False
    """
    return _grad_mode(False)


def enable_grad():
    """Context manager that re-enables graph recording inside ``no_grad``."""
    return _grad_mode(True)


@contextlib.contextmanager
def function_hook(hook):
    """Call ``hook(function, args, kwargs, output)`` after every ``Function.apply`` in this thread.

    This is the one supported way to observe the op graph as it runs (the ONNX exporter
    traces a forward pass with it; a profiler or ``summary`` can too): ``function`` is the ``Function``
    subclass, ``args``/``kwargs`` are what ``apply`` received (tensors, not raw arrays) and
    ``output`` is what it returned. Hooks nest (inner ones run last) and are removed on exit,
    also when the block raises; other threads never see them.

    Example:
        >>> seen = []
        >>> with function_hook(lambda fn, args, kwargs, out: seen.append(fn.__name__)):
        ...     y = x * 2 + 1
        >>> seen
        ['Mul', 'Add']
    """
    previous = getattr(_state, "hooks", ())
    _state.hooks = previous + (hook,)
    try:
        yield hook
    finally:
        _state.hooks = previous


class Context:
    """What a ``Function`` remembers between its forward and backward.

    Attributes:
        saved_tensors: the arrays passed to ``save_for_backward``.
        needs_input_grad: one bool per positional input of ``forward``.
        device: the device of the op's tensor inputs ("cpu" or "cuda").
        output_device: optional; ``forward`` sets it when its output lives on another
            device than its inputs (``to_device``).
    """

    __slots__ = ("saved_tensors", "needs_input_grad", "device", "parents", "versions", "function", "freed",
                 "__dict__")

    def __init__(self, function, parents, needs_input_grad, device, versions=()):
        self.function = function
        self.parents = parents
        self.needs_input_grad = needs_input_grad
        self.device = device
        # Each tensor input's in-place version when the op ran (see ``parent_nodes``).
        self.versions = versions
        self.saved_tensors = ()
        self.freed = False

    def save_for_backward(self, *arrays):
        """Keep arrays (or any values) for ``backward``."""
        self.saved_tensors = arrays


class Function:
    """Base class of every differentiable op. Subclasses define ``forward`` and ``backward``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op on tensors (or plain values) and record it in the graph."""
        # This is the hot path of every op (a few microseconds matter for small tensors):
        # one pass over the arguments, no per-call import, no generator expressions.
        Tensor = _Tensor or _tensor_class()
        device = None
        raw = []
        needs = []
        versions = []
        parents = []
        requires = False
        for a in args:
            if isinstance(a, Tensor):
                parents.append(a if a._ctx is None else a._graph_node())
                versions.append(a._version)
                if device is None:
                    device = a.device
                elif a.device != device:
                    raise ValueError(
                        f"{cls.__name__.lower()}: tensors on different devices meet in one op "
                        f"({device} and {a.device}); move them with .to(device) first"
                    )
                raw.append(a.data)
                needs.append(a.requires_grad)
                requires = requires or a.requires_grad
            else:
                parents.append(a)
                versions.append(0)
                raw.append(a)
                needs.append(False)
        device = device or "cpu"
        record = requires and getattr(_state, "grad_enabled", True)
        ctx = Context(cls, tuple(parents) if record else (), tuple(needs), device, tuple(versions) if record else ())
        out = cls.forward(ctx, *raw, **kwargs)
        if isinstance(out, np.generic):
            out = np.asarray(out)  # NumPy makes 0-d results scalars; kernels need arrays
        # An op that moves data between devices says where its output lives.
        if "output_device" in ctx.__dict__:
            device = ctx.__dict__.pop("output_device")
        wrap = Tensor._wrap
        if isinstance(out, tuple):
            # Only the first output is differentiable (e.g. max_pool2d's indices are not).
            first = wrap(out[0], device, record, ctx if record else None)
            result = (first,) + tuple(wrap(o, device, False, None) for o in out[1:])
        else:
            result = wrap(out, device, record, ctx if record else None)
        hooks = getattr(_state, "hooks", None)
        if hooks:
            for hook in hooks:
                hook(cls, args, kwargs, result)
        return result


_Tensor = None


def _tensor_class():
    """``minigrad.tensor.Tensor``, imported on first use (tensor.py imports this module)."""
    global _Tensor
    from .tensor import Tensor

    _Tensor = Tensor
    return Tensor


class Node:
    """A non-leaf tensor as the graph holds it: the op that made it, its shape, not its values.

    A context refers to its non-leaf inputs through their nodes, so an intermediate result's
    memory is released as soon as nothing else holds it (an op that needs the values keeps them
    with ``save_for_backward``), as in PyTorch, whose graph links the ops and not the tensors.
    Holding the tensors kept every intermediate of a forward pass alive until its backward:
    210 MB of a CIFAR ResNet-18 step at batch 64 (its batch norms' and residual additions'
    outputs). A tensor has one node per state: an in-place op that records a new creator
    (``ops/inplace.py``) starts a new node, and the ops that read the old state keep the old one.
    """

    __slots__ = ("_ctx", "shape", "requires_grad", "_version", "_overwritten", "_tensor")

    def __init__(self, tensor):
        self._ctx = tensor._ctx
        self.shape = tensor.shape
        self.requires_grad = True
        self._version = tensor._version
        # Versions below this had their memory overwritten under no_grad (``ops/inplace.py`` keeps
        # it, as the tensor's own ``_overwritten``, also once the tensor is gone).
        self._overwritten = tensor._overwritten
        self._tensor = weakref.ref(tensor)

    def _current(self):
        """The tensor, while it is alive and still in the state this node stands for; else None."""
        tensor = self._tensor()
        return tensor if tensor is not None and tensor._node is self else None

    @property
    def _retains_grad(self) -> bool:
        tensor = self._current()
        return tensor is not None and tensor._retains_grad

    def _accumulate_grad(self, grad, unreferenced=False) -> None:
        tensor = self._current()
        if tensor is not None:
            tensor._accumulate_grad(grad, unreferenced)


def _node_at(parent, version):
    """The graph node an op saw as its input: ``parent`` itself where nothing since changed what
    it stands for, or None where it was a constant then.

    A ``Node`` is the state it was made from; it only checks that no in-place write under
    ``no_grad`` overwrote that state's memory since. A leaf that was a constant when the op
    used it (it did not require grad) may since have become a result of an in-place op.
    """
    if isinstance(parent, Node) and version >= parent._overwritten:
        return parent
    if not isinstance(parent, Node):
        if parent._version == version:
            return parent
        if version >= parent._overwritten:
            return None  # it did not require grad when it was used
    raise RuntimeError(
        f"backward: a tensor of shape {parent.shape} needed for the gradient was modified in place "
        f"under no_grad (version {version}, overwritten at {parent._overwritten}) after an op used it; "
        f"as in PyTorch, modify a clone() instead or do the in-place op after backward"
    )


def parent_nodes(ctx):
    """``ctx.parents`` as the graph nodes the op saw (see ``_node_at``)."""
    if not ctx.versions:
        return ctx.parents
    return [_node_at(p, v) if hasattr(p, "_version") else p for p, v in zip(ctx.parents, ctx.versions)]


def _topological_order(root):
    """Nodes reachable from ``root`` that have a graph, parents before children (iterative DFS)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            for parent in parent_nodes(ctx):
                if getattr(parent, "requires_grad", False) and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def _references(obj) -> int:
    return sys.getrefcount(obj)


def _calibrate_references() -> int:
    """The count ``_references`` gives for an object held by one local variable of its caller.

    Measured, as the allocator's block count is (``backends/cpu/allocator.py``): the references
    a call adds differ between Python versions.
    """
    probe = np.empty(1)
    return _references(probe)


_ONE_REFERENCE = _calibrate_references()


def backward(root, gradient=None, retain_graph=False):
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    Args:
        root: the tensor to differentiate.
        gradient: d(loss)/d(root); may be omitted only when ``root`` has one element.
        retain_graph: keep the saved arrays so that ``backward`` can run again.
    """
    from .backends import get_backend
    from .tensor import Tensor

    if not root.requires_grad:
        raise RuntimeError(
            "backward: the tensor does not require grad and has no graph; "
            "create the inputs with requires_grad=True"
        )
    if gradient is None:
        if root.size != 1:
            raise RuntimeError(
                f"backward: gradient can be implicit only for scalar outputs, "
                f"got a tensor of shape {root.shape}; pass gradient= of that shape"
            )
        seed = root._backend().ones_like(root.data)
    else:
        seed = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient, dtype=root.dtype)
        if tuple(seed.shape) != root.shape:
            raise ValueError(
                f"backward: gradient of shape {tuple(seed.shape)} does not match the tensor's shape {root.shape}"
            )

    if root._ctx is not None:
        root = root._graph_node()
    grads = {id(root): seed}
    # As in PyTorch, NaN and Inf flow through gradients silently (one errstate for the whole pass).
    with np.errstate(all="ignore"):
        for node in reversed(_topological_order(root)):
            grad = grads.pop(id(node), None)
            if grad is None:
                continue
            ctx = node._ctx
            if ctx is None:
                # With the dict's entry popped and the last op's results dropped, ``grad`` is
                # referenced here alone, unless an op or the caller holds it too.
                unreferenced = _references(grad) <= _ONE_REFERENCE  # before the call below pushes grad
                node._accumulate_grad(grad, unreferenced)
                continue
            if node._retains_grad:
                node._accumulate_grad(grad)
            if ctx.freed:
                raise RuntimeError(
                    f"backward: trying to backward through the graph a second time "
                    f"(through {ctx.function.__name__}); its saved arrays were freed. "
                    f"Pass retain_graph=True to the first backward call"
                )
            input_grads = ctx.function.backward(ctx, grad)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) < len(ctx.parents):
                raise RuntimeError(
                    f"{ctx.function.__name__}.backward returned {len(input_grads)} gradients "
                    f"for {len(ctx.parents)} inputs"
                )
            backend = get_backend(ctx.device)
            for parent, parent_grad in zip(parent_nodes(ctx), input_grads):
                if parent_grad is None or not isinstance(parent, (Tensor, Node)) or not parent.requires_grad:
                    continue
                if isinstance(parent_grad, np.generic):
                    parent_grad = np.asarray(parent_grad)  # a 0-d gradient from NumPy arithmetic
                if tuple(parent_grad.shape) != parent.shape:
                    raise RuntimeError(
                        f"{ctx.function.__name__}.backward: gradient of shape {tuple(parent_grad.shape)} "
                        f"for an input of shape {parent.shape}"
                    )
                total = grads.pop(id(parent), None)
                if total is None:
                    total = parent_grad
                elif (_references(total) <= _ONE_REFERENCE and backend.sole_owner(total)
                      and np.result_type(total, parent_grad) == total.dtype):
                    # A sum only this loop holds (a residual branch's gradient, say): add in place,
                    # which saves a new array per tensor used twice (PyTorch also accumulates in place).
                    np.add(total, parent_grad, out=total)
                else:
                    total = total + parent_grad
                grads[id(parent)] = total
                total = None
            # The results' only references are now the dict's (see the leaf case above).
            input_grads = parent_grad = None
            if not retain_graph:
                # Drop the links to the inputs too: a caller still holding the loss must not keep
                # every intermediate activation alive until the next step's forward has run.
                ctx.saved_tensors = ()
                ctx.parents = ()
                ctx.__dict__.clear()
                ctx.freed = True
