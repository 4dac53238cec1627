"""Activations (relu, leaky_relu, sigmoid, tanh) and dropout.

ReLU runs through the backend's ``relu_forward``/``relu_backward`` kernels (measured ~8x faster
than ``np.maximum`` on LeNet-sized activations); the others are NumPy expressions.

``relu_backward(rule)`` is the hook point for visualisations that change how a signal crosses
a ReLU on its way back (guided backpropagation, the DeconvNet; see ``minigrad.viz.guided``).
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from ..autograd import Function
from ..backends import get_backend
from ..tensor import default_rng
from ..dtypes import DEFAULT_FLOAT
from .elementwise import floating
from .shape import as_tensor

__all__ = ["relu", "relu_", "leaky_relu", "sigmoid", "tanh", "dropout"]  # relu_backward: imported by name (viz)

_rule = threading.local()


@contextlib.contextmanager
def relu_backward(rule):
    """Inside the block, ReLUs that run forward in this thread backpropagate with ``rule``.

    ``rule(grad, out)`` gets the incoming gradient and the ReLU's output (raw arrays) and returns
    the gradient of its input; the plain rule is ``grad * (out > 0)``. A ReLU keeps the rule that
    was in effect when its forward ran, so the backward may run after the block. Every spelling of
    ReLU is covered (``nn.ReLU``, ``F.relu``, ``Tensor.relu``, a ``relu`` imported by name), since
    the rule is read by the op itself; other threads never see it. Blocks nest.

    Example:
        >>> with relu_backward(lambda grad, out: grad * ((out > 0) & (grad > 0))):
        ...     model(x)[0, k].backward()   # guided backpropagation
    """
    previous = getattr(_rule, "backward", None)
    _rule.backward = rule
    try:
        yield rule
    finally:
        _rule.backward = previous


class Relu(Function):
    """ReLU through the backend's kernels, which walk C-contiguous arrays as flat vectors.

    The kernels run on the array in memory order (``backend.stored``), so the output keeps the
    input's memory format (on the CPU a convolution's channels-last output stays channels-last;
    see ``backends/cpu/memory_format.py``), and the gradient is brought into it.
    """

    @staticmethod
    def forward(ctx, x):
        backend = get_backend(ctx.device)
        x_stored = backend.stored(x)
        out = backend.empty(x_stored.shape, x_stored.dtype)
        backend.relu_forward(out, x_stored)
        out = backend.restore(out, x)
        ctx.save_for_backward(out)
        rule = getattr(_rule, "backward", None)
        if rule is not None:
            ctx.rule = rule
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        rule = ctx.__dict__.get("rule")
        if rule is not None:
            return rule(grad, out)
        backend = get_backend(ctx.device)
        grad_stored = backend.stored(backend.in_layout_of(grad, out))
        dx = backend.empty(grad_stored.shape, grad_stored.dtype)
        backend.relu_backward(dx, grad_stored, backend.stored(out))
        return backend.restore(dx, out)


class LeakyRelu(Function):
    @staticmethod
    def forward(ctx, x, negative_slope):
        ctx.save_for_backward(x)
        ctx.slope = negative_slope
        return np.where(x > 0, x, x * x.dtype.type(negative_slope))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return np.where(x > 0, grad, grad * grad.dtype.type(ctx.slope)), None


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        # 0.5 (1 + tanh(x/2)) never overflows, unlike 1 / (1 + exp(-x)) for very negative x.
        half = x.dtype.type(0.5)
        out = half * (1 + np.tanh(half * x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


def _in_place(name, x, compute):
    from .inplace import commit

    return commit(name, x, compute)


def relu(x, inplace: bool = False):
    """``max(x, 0)``; the gradient at 0 is 0. ``inplace=True`` writes the result into ``x`` (see ``inplace``)."""
    x = as_tensor(x)
    if inplace:
        return _in_place("relu", x, lambda: Relu.apply(x))
    return Relu.apply(x)


def relu_(x):
    """``relu(x, inplace=True)``."""
    return relu(x, inplace=True)


def leaky_relu(x, negative_slope: float = 0.01, inplace: bool = False):
    """``x`` where ``x > 0``, else ``negative_slope * x`` (``inplace`` as ``relu``)."""
    x = as_tensor(x)
    if inplace:
        return _in_place("leaky_relu", x, lambda: LeakyRelu.apply(x, float(negative_slope)))
    return LeakyRelu.apply(x, float(negative_slope))


def sigmoid(x):
    """``1 / (1 + e^-x)``, computed without overflow."""
    return Sigmoid.apply(floating(x))


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh.apply(floating(x))


# ------------------------------------------------------------------ dropout
class Dropout(Function):
    @staticmethod
    def forward(ctx, x, scaled_mask):
        ctx.save_for_backward(scaled_mask)
        return x * scaled_mask

    @staticmethod
    def backward(ctx, grad):
        (scaled_mask,) = ctx.saved_tensors
        return grad * scaled_mask, None


def _dropout_seed() -> int:
    """A seed for the device's counter-based dropout RNG, drawn from ``mg.default_rng()``.

    Drawing it from the global generator makes ``mg.manual_seed`` fix the GPU masks too, and
    gives every call (and every training step) a different mask.
    """
    return int(default_rng().integers(0, 2**64, dtype=np.uint64))


def dropout(x, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    On the CPU the mask comes from ``mg.default_rng()``. On a GPU it is drawn on the device by the
    counter-based ``dropout_mask`` kernel, whose seed comes from ``mg.default_rng()``; no mask
    crosses the bus. Either way ``mg.manual_seed`` makes it reproducible (the CPU and GPU masks
    for the same seed differ). The backward pass multiplies by the same mask.

    Args:
        x: input tensor.
        p: drop probability in [0, 1].
        training: identity when False.
        inplace: write the result into ``x`` (the rules of ``minigrad.ops.inplace``).

    Returns:
        A tensor of ``x``'s shape; its expectation equals ``x``.
    """
    if not isinstance(p, (int, float, np.number)) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p!r}")
    x = as_tensor(x)
    if not training or p == 0:
        return x
    if inplace:
        return _in_place("dropout", x, lambda: dropout(x, p, training))
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(DEFAULT_FLOAT)
    if x.device != "cpu":
        backend = get_backend(x.device)
        if p == 1:
            mask = backend.zeros(x.shape, dtype)
        else:
            mask = backend.empty(x.shape, dtype)
            if mask.size:
                backend.dropout_mask(mask, _dropout_seed(), float(p))
    elif p == 1:
        mask = np.zeros(x.shape, dtype=dtype)
    else:
        keep = default_rng().random(x.shape) >= p
        mask = keep.astype(dtype) * dtype.type(1.0 / (1.0 - p))
    return Dropout.apply(x, mask)
