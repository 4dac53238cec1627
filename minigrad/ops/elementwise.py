"""Elementwise ops: arithmetic with NumPy broadcasting, activations, comparisons, dropout.

Binary ops follow PyTorch's type rules: a Python number or a NumPy array meeting a tensor
takes the tensor's dtype (so ``float32_tensor * 0.5`` stays float32), and an integer tensor
meeting a floating one becomes floating. Gradients of broadcast inputs are summed back to
each input's shape (``unbroadcast``).
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backends import get_backend
from ..dtypes import DEFAULT_FLOAT
from ..tensor import Tensor
from .shape import as_tensor

__all__ = [
    "add", "sub", "mul", "div", "true_divide", "floor_divide", "pow", "neg", "abs", "exp", "log", "sqrt",
    "maximum", "minimum", "where", "lt", "le", "gt", "ge", "eq", "ne",
]



# ------------------------------------------------------------------ helpers
def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, so it has ``shape``."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def lift(value, like_dtype, name):
    """A non-tensor operand as an array of the dtype it takes next to a tensor of ``like_dtype``."""
    if not isinstance(value, (bool, int, float, np.ndarray, np.generic, list, tuple)):
        raise TypeError(f"{name}: unsupported operand type {type(value).__name__}")
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name}: unsupported operand dtype {array.dtype}")
    if like_dtype.kind == "f":
        return array.astype(like_dtype, copy=False)
    if array.dtype.kind == "f":
        return array.astype(DEFAULT_FLOAT, copy=False)
    if like_dtype.kind == "b":
        return array
    return array.astype(like_dtype, copy=False)


def operands(name, *values):
    """Tensors stay tensors; numbers and arrays become arrays with the tensors' dtype; shapes must broadcast.

    An integer or bool tensor meeting a floating tensor is cast to the floating dtype (PyTorch's
    promotion; NumPy would turn int64 + float32 into float64).

    Returns:
        The operands (Tensor or ndarray), in order.
    """
    if len(values) == 2 and isinstance(values[0], Tensor) and isinstance(values[1], Tensor):
        # Fast path (most calls): two floating tensors of one dtype and shape need no promotion
        # and no broadcast check, which would cost more than a small op itself.
        a, b = values[0].data, values[1].data
        if a.dtype == b.dtype and a.dtype.kind == "f" and a.shape == b.shape:
            return list(values)
    tensors = [v for v in values if isinstance(v, Tensor)]
    if not tensors:
        values = tensors = [Tensor(v) for v in values]
    floats = [t.dtype for t in tensors if t.dtype.kind == "f"]
    if not floats and any(np.asarray(v).dtype.kind == "f" for v in values if not isinstance(v, Tensor)):
        floats = [np.dtype(DEFAULT_FLOAT)]  # int tensor * 0.5 is float32 in PyTorch
    like = np.result_type(*floats) if floats else np.result_type(*[t.dtype for t in tensors])
    out = []
    for v in values:
        if isinstance(v, Tensor):
            if floats and v.dtype.kind != "f":
                v = Tensor._wrap(v.data.astype(like), v.device, False, None)
            out.append(v)
        else:
            out.append(lift(v, like, name))
    shapes = [tuple(v.shape) for v in out]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{name}: shapes {' and '.join(str(s) for s in shapes)} cannot be broadcast") from None
    return out


# --------------------------------------------------------------- arithmetic
def _add_stored_alike(backend, a, b):
    """``a + b`` by the CPU's threaded kernel when both are stored alike (a residual addition), else None."""
    if not (type(a) is np.ndarray and type(b) is np.ndarray and a.shape == b.shape and a.dtype == b.dtype
            and a.dtype in (np.float32, np.float64) and a.ndim >= 1):
        return None
    if a.flags.c_contiguous and b.flags.c_contiguous:
        sa, sb = a, b
    else:
        sa, sb = backend.channels_last_view(a), backend.channels_last_view(b)
        if sa is None or sb is None:
            return None
    out = backend.empty(sa.shape, sa.dtype)
    backend.add_arrays(out, sa, sb)
    return backend.restore(out, a) if sa is not a else out


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        if ctx.device == "cpu":
            out = _add_stored_alike(get_backend("cpu"), a, b)
            if out is not None:
                return out
        return a + b

    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.shapes
        return unbroadcast(grad, sa), unbroadcast(grad, sb)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.shapes
        gb = unbroadcast(-grad, sb) if ctx.needs_input_grad[1] else None
        return unbroadcast(grad, sa), gb


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ga = unbroadcast(grad * b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(grad * a, b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):  # x / 0 is inf or NaN, silently (PyTorch)
            out = a / b
        if out.dtype == np.float64 and a.dtype.kind != "f" and b.dtype.kind != "f":
            out = out.astype(DEFAULT_FLOAT)  # integer true division gives float32, as in PyTorch
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ga = unbroadcast(grad / b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-grad * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            # PyTorch masks the exponent-0 entries: d(a^0)/da is 0 even at a = 0, where
            # 0 * 0^-1 would be NaN.
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.where(b == 0, 0, b * a ** (b - 1))
            ga = unbroadcast(grad * d.astype(grad.dtype, copy=False), a.shape)
        if ctx.needs_input_grad[1]:
            # d(a^b)/db = a^b log a; PyTorch defines it as 0 where a == 0 and b >= 0.
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.where((a == 0) & (b >= 0), 0, out * np.log(a))
            gb = unbroadcast(grad * d.astype(grad.dtype, copy=False), b.shape)
        return ga, gb


def _scaled(name, b, alpha):
    """``alpha * b`` for the ``alpha=`` keyword of add/sub (``b`` itself when alpha is 1)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number)):
        raise TypeError(f"{name}: alpha must be a number, got {type(alpha).__name__}")
    return b if alpha == 1 else mul(b, alpha)


def add(a, b, *, alpha=1):
    """``a + alpha * b`` with broadcasting (``alpha`` as in ``torch.add``)."""
    return Add.apply(*operands("add", a, _scaled("add", b, alpha)))


def sub(a, b, *, alpha=1):
    """``a - alpha * b`` with broadcasting (``alpha`` as in ``torch.sub``)."""
    return Sub.apply(*operands("sub", a, _scaled("sub", b, alpha)))


def mul(a, b):
    """``a * b`` with broadcasting."""
    return Mul.apply(*operands("mul", a, b))


class RoundedDiv(Function):
    """``a / b`` rounded toward zero ("trunc") or down ("floor"); its gradient is 0, as in PyTorch."""

    @staticmethod
    def forward(ctx, a, b, mode):
        ctx.shapes = (a.shape, b.shape)
        if a.dtype.kind in "iub" and b.dtype.kind in "iub":
            if (b == 0).any():
                raise ZeroDivisionError(f"div: integer division by zero (rounding_mode={mode!r})")
            q = np.floor_divide(a, b)
            if mode == "trunc":
                # Floor and trunc differ where the quotient is negative and inexact.
                q = q + ((a - q * b != 0) & ((a < 0) != (b < 0))).astype(q.dtype)
            return q
        with np.errstate(divide="ignore", invalid="ignore"):
            if mode == "floor":
                return np.floor_divide(a, b)
            q = a / b
            return np.where(q < 0, np.ceil(q), np.floor(q))

    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.shapes
        zeros = np.zeros_like(grad)  # not grad * 0, which would keep NaN and Inf
        return unbroadcast(zeros, sa), unbroadcast(zeros, sb), None


def div(a, b, *, rounding_mode=None):
    """``a / b`` with broadcasting: true division, or rounded with ``rounding_mode`` "trunc" or "floor".

    Args:
        a, b: tensors or numbers.
        rounding_mode: None (true division; integers give float32), "trunc" (toward zero) or
            "floor" (toward -inf, Python's ``//``); rounded results keep integer dtypes and have
            a zero gradient.
    """
    if rounding_mode is None:
        return Div.apply(*operands("div", a, b))
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    return RoundedDiv.apply(*operands("div", a, b), rounding_mode)


def true_divide(a, b):
    """``div(a, b)`` without rounding (``torch.true_divide``)."""
    return div(a, b)


def floor_divide(a, b):
    """``div(a, b, rounding_mode="floor")`` (``torch.floor_divide``, Python's ``//``)."""
    return div(a, b, rounding_mode="floor")


def pow(a, b):
    """``a ** b`` with broadcasting; differentiable in both base and exponent."""
    return Pow.apply(*operands("pow", a, b))


# ------------------------------------------------------------------- unary
class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        # sgn as PyTorch computes it, (x > 0) - (x < 0): 0 at 0 and at NaN (np.sign(NaN) is NaN).
        return grad * ((x > 0).astype(grad.dtype) - (x < 0).astype(grad.dtype))


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / x


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        with np.errstate(invalid="ignore"):
            out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        with np.errstate(divide="ignore"):
            return grad / (2 * out)


def floating(x):
    """``x`` as a tensor, integer and bool ones as float32: PyTorch's promotion for exp, log, ..."""
    x = as_tensor(x)
    if x.dtype.kind in "iub":
        return Tensor._wrap(x.data.astype(DEFAULT_FLOAT), x.device, False, None)
    return x


def neg(x):
    """``-x``."""
    return Neg.apply(as_tensor(x))


def abs(x):
    """``|x|``; the gradient at 0 is 0, as in PyTorch."""
    return Abs.apply(as_tensor(x))


def exp(x):
    """``e ** x``."""
    return Exp.apply(floating(x))


def log(x):
    """Natural logarithm (``-inf`` at 0, ``nan`` below, as in PyTorch)."""
    return Log.apply(floating(x))


def sqrt(x):
    """Square root."""
    return Sqrt.apply(floating(x))


# -------------------------------------------------------- binary selection
class Extremum(Function):
    @staticmethod
    def forward(ctx, a, b, take_max):
        ctx.save_for_backward(a, b)
        ctx.take_max = take_max
        return np.maximum(a, b) if take_max else np.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        # PyTorch's rule: ties share the gradient equally, the loser gets none, and where either
        # side is NaN (no order) both get all of it, so a NaN's gradient is not silently dropped.
        tie = (a == b).astype(grad.dtype) * grad.dtype.type(0.5)
        a_loses, b_loses = ((a < b), (a > b)) if ctx.take_max else ((a > b), (a < b))
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(grad * (1 - a_loses.astype(grad.dtype) - tie), a.shape)
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(grad * (1 - b_loses.astype(grad.dtype) - tie), b.shape)
        return ga, gb, None


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        ctx.shapes = (a.shape, b.shape)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved_tensors
        sa, sb = ctx.shapes
        zero = grad.dtype.type(0)
        ga = unbroadcast(np.where(cond, grad, zero), sa) if ctx.needs_input_grad[1] else None
        gb = unbroadcast(np.where(cond, zero, grad), sb) if ctx.needs_input_grad[2] else None
        return None, ga, gb


def maximum(a, b):
    """Elementwise maximum with broadcasting; ties split the gradient equally."""
    return Extremum.apply(*operands("maximum", a, b), True)


def minimum(a, b):
    """Elementwise minimum with broadcasting; ties split the gradient equally."""
    return Extremum.apply(*operands("minimum", a, b), False)


def where(condition, a, b):
    """``a`` where ``condition`` holds, else ``b`` (all three broadcast together).

    Args:
        condition: bool tensor or array.
        a: values where true (tensor or number).
        b: values where false (tensor or number).
    """
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be bool, got dtype {cond.dtype}")
    a, b = operands("where", a, b)
    shapes = (cond.shape, tuple(a.shape), tuple(b.shape))
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"where: shapes {shapes[0]}, {shapes[1]} and {shapes[2]} cannot be broadcast") from None
    return Where.apply(cond, a, b)


# -------------------------------------------------------------- comparisons
def _compare(name, fn, a, b):
    a, b = operands(name, a, b)
    device = a.device if isinstance(a, Tensor) else b.device
    ra = a.data if isinstance(a, Tensor) else a
    rb = b.data if isinstance(b, Tensor) else b
    return Tensor._wrap(fn(ra, rb), device, False, None)


def lt(a, b):
    """``a < b`` as a bool tensor (not differentiable)."""
    return _compare("lt", np.less, a, b)


def le(a, b):
    """``a <= b`` as a bool tensor (not differentiable)."""
    return _compare("le", np.less_equal, a, b)


def gt(a, b):
    """``a > b`` as a bool tensor (not differentiable)."""
    return _compare("gt", np.greater, a, b)


def ge(a, b):
    """``a >= b`` as a bool tensor (not differentiable)."""
    return _compare("ge", np.greater_equal, a, b)


def eq(a, b):
    """``a == b`` as a bool tensor (not differentiable)."""
    if a is None or b is None:
        return False
    return _compare("eq", np.equal, a, b)


def ne(a, b):
    """``a != b`` as a bool tensor (not differentiable)."""
    if a is None or b is None:
        return True
    return _compare("ne", np.not_equal, a, b)
