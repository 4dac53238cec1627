"""Losses with PyTorch's signatures and reductions ("mean", "sum", "none").

``cross_entropy`` is one fused Function: log-softmax and the weighted, label-smoothed
negative log-likelihood in a single pass, whose gradient is ``g * (softmax * sum(q) - q)``
for the per-class target weights ``q``. It accepts (N, C) logits and, for segmentation,
(N, C, d1, ...) logits with (N, d1, ...) class-index targets.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .elementwise import abs as _abs
from .activation import relu
from .clamp import clamp
from .elementwise import exp, log
from .reduce import zero_dim
from .reduce import mean as _mean
from .reduce import sum as _sum
from .shape import as_tensor

__all__ = [
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(name, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(name, loss, reduction):
    _check_reduction(name, reduction)
    if reduction == "mean":
        return _mean(loss)
    if reduction == "sum":
        return _sum(loss)
    return loss


def _class_last(x):
    """(N, C, d1, ...) -> (N * d1 * ..., C): one row of class scores per predicted element."""
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _class_first(rows, shape):
    """Inverse of ``_class_last`` for an array of ``shape`` (N, C, d1, ...)."""
    return np.moveaxis(rows.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],)), -1, 1)


def _targets(name, x, target, weight, ignore_index):
    """Validate class-index targets (and weights) against (N, C, ...) scores; return arrays."""
    t = target.numpy() if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: target must hold integer class indices, got dtype {t.dtype} and shape {t.shape} "
            f"(a floating target must be class probabilities of the input's shape {x.shape})"
        )
    expected = (x.shape[0],) + x.shape[2:]
    if t.shape != expected:
        raise ValueError(f"{name}: input {x.shape} needs a target of shape {expected}, got {t.shape}")
    classes = x.shape[1]
    bad = (t != ignore_index) & ((t < 0) | (t >= classes))
    if bad.any():
        raise ValueError(f"{name}: target value {int(t[bad].flat[0])} out of range for {classes} classes")
    w = None
    if weight is not None:
        w = weight.numpy() if isinstance(weight, Tensor) else np.asarray(weight)
        if w.shape != (classes,):
            raise ValueError(f"{name}: weight of shape {w.shape} given for {classes} classes")
        w = w.astype(x.dtype)
    return t, w


def _batched(name, x, target):
    """Accept an unbatched (C,) input with a 0-d target by adding a batch of one."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: input must be floating, got dtype {x.dtype}")
    if x.ndim == 1:
        t = target.numpy() if isinstance(target, Tensor) else np.asarray(target)
        return x.reshape(1, -1), t.reshape(1), True
    if x.ndim < 1:
        raise ValueError(f"{name}: input must have a class dimension, got shape {x.shape}")
    return x, target, False


def _targets_and_weights(rows, t_flat, w, ignore_index, dtype):
    """Flat valid mask, safe class indices and the weight of each row's target."""
    valid = t_flat != ignore_index
    tc = np.where(valid, t_flat, 0)
    w = np.ones(rows.shape[1], dtype=dtype) if w is None else w
    wt = w[tc] * valid
    return valid, tc, w, wt.astype(dtype)


def _reduce_rows(ctx, per_row, wt, x, reduction):
    """Per-element losses of the target's shape ("none"), their sum, or their weighted mean.

    PyTorch's "mean" divides by the summed target weights of the non-ignored elements; the
    divisor is kept in ``ctx.denom`` for the backward.
    """
    ctx.args = (x.shape, reduction)
    if reduction == "none":
        return per_row.reshape((x.shape[0],) + x.shape[2:])
    total = per_row.sum(dtype=x.dtype)
    if reduction == "sum":
        return zero_dim(total)
    ctx.denom = wt.sum(dtype=x.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        return zero_dim(total / ctx.denom)


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, x, target, weight, reduction, ignore_index, smoothing):
        rows = _class_last(x)
        z = rows - rows.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        m, c = rows.shape
        valid, tc, w, wt = _targets_and_weights(rows, target.reshape(-1), weight, ignore_index, x.dtype)
        # q[i, c]: how much -log p[i, c] counts in sample i's loss.
        q = np.zeros_like(logp)
        if smoothing:
            q += (w * x.dtype.type(smoothing / c))[None, :] * valid[:, None]
        q[np.arange(m), tc] += wt * x.dtype.type(1 - smoothing)
        per_row = -(q * logp).sum(axis=1)
        ctx.save_for_backward(logp, q)
        return _reduce_rows(ctx, per_row, wt, x, reduction)

    @staticmethod
    def backward(ctx, grad):
        logp, q = ctx.saved_tensors
        shape, reduction = ctx.args
        if reduction == "none":
            g = grad.reshape(-1, 1)
        elif reduction == "sum":
            g = grad.reshape(1, 1)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                g = (grad / ctx.denom).reshape(1, 1)
        rows = g * (np.exp(logp) * q.sum(axis=1, keepdims=True) - q)
        return _class_first(rows, shape), None, None, None, None, None


class SoftCrossEntropy(Function):
    """Cross-entropy against class probabilities ``p`` (a float target of the input's shape).

    Per element ``-sum_c w_c q_c log softmax(x)_c`` with ``q = (1 - s) p + s / C`` for label
    smoothing ``s``; "mean" divides by the number of elements (not by the weights, as PyTorch).
    The target receives a gradient too: ``-(1 - s) w log softmax(x)``.
    """

    @staticmethod
    def forward(ctx, x, p, weight, reduction, smoothing):
        rows, prob = _class_last(x), _class_last(p)
        z = rows - rows.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        c = rows.shape[1]
        q = prob * x.dtype.type(1 - smoothing) + x.dtype.type(smoothing / c) if smoothing else prob
        w = np.ones(c, dtype=x.dtype) if weight is None else weight
        per_row = -(q * logp * w).sum(axis=1)
        ctx.save_for_backward(logp, q, w)
        ctx.args = (x.shape, reduction, smoothing, rows.shape[0])
        if reduction == "none":
            return per_row.reshape((x.shape[0],) + x.shape[2:])
        total = per_row.sum(dtype=x.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            return zero_dim(total if reduction == "sum" else total / x.dtype.type(rows.shape[0]))

    @staticmethod
    def backward(ctx, grad):
        logp, q, w = ctx.saved_tensors
        shape, reduction, smoothing, m = ctx.args
        if reduction == "none":
            g = grad.reshape(-1, 1)
        else:
            g = grad.reshape(1, 1)
            if reduction == "mean":
                with np.errstate(invalid="ignore", divide="ignore"):
                    g = g / grad.dtype.type(m)
        wq = w * q
        gx = g * (np.exp(logp) * wq.sum(axis=1, keepdims=True) - wq)
        gp = gw = None
        if ctx.needs_input_grad[1]:
            gp = _class_first(-g * w * logp * grad.dtype.type(1 - smoothing), shape)
        if ctx.needs_input_grad[2]:
            gw = -(g * q * logp).sum(axis=0)  # a weight tensor that requires grad (PyTorch allows it here)
        return _class_first(gx, shape), gp, gw, None, None


def cross_entropy(input, target, weight=None, reduction: str = "mean", label_smoothing: float = 0.0,
                  ignore_index: int = -100):
    """Softmax cross-entropy between logits and class indices (numerically stable).

    Args:
        input: logits, (N, C) or (N, C, d1, ...) (or unbatched (C,)).
        target: class indices, (N,) or (N, d1, ...), integer dtype; or class probabilities,
            a floating tensor of the input's shape (``ignore_index`` does not apply then).
        weight: optional per-class weights, (C,).
        reduction: "mean" (divided by the summed weights of non-ignored targets), "sum" or "none".
        label_smoothing: in [0, 1]; mixes the one-hot target with the uniform distribution.
        ignore_index: targets with this value contribute nothing.

    Returns:
        A scalar, or per-element losses of the target's shape when reduction="none".
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if _is_probabilities(target, input):
        return _soft_cross_entropy(input, target, weight, reduction, float(label_smoothing))
    x, target, unbatched = _batched("cross_entropy", input, target)
    t, w = _targets("cross_entropy", x, target, weight, ignore_index)
    out = CrossEntropy.apply(x, t, w, reduction, ignore_index, float(label_smoothing))
    return out.reshape(()) if unbatched and reduction == "none" else out


def _is_probabilities(target, input) -> bool:
    """A floating target of the input's shape holds class probabilities (PyTorch's rule)."""
    t = target if isinstance(target, Tensor) else np.asarray(target)
    return np.dtype(t.dtype).kind == "f" and tuple(t.shape) == tuple(np.shape(input.data if isinstance(input, Tensor) else input))


def _soft_cross_entropy(input, target, weight, reduction, smoothing):
    x, p = as_tensor(input), as_tensor(target)
    if x.dtype.kind != "f":
        raise TypeError(f"cross_entropy: input must be floating, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError(f"cross_entropy: input must have a class dimension, got shape {x.shape}")
    unbatched = x.ndim == 1
    if unbatched:
        x, p = x.reshape(1, -1), p.reshape(1, -1)
    if p.dtype != x.dtype:
        p = p.to(dtype=x.dtype)
    w = None
    if weight is not None:
        w = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight), device=x.device)
        if w.shape != (x.shape[1],):
            raise ValueError(f"cross_entropy: weight of shape {w.shape} given for {x.shape[1]} classes")
        w = w.to(x.device, x.dtype)
    out = SoftCrossEntropy.apply(x, p, w, reduction, smoothing)
    return out.reshape(()) if unbatched and reduction == "none" else out


class NLLLoss(Function):
    @staticmethod
    def forward(ctx, x, target, weight, reduction, ignore_index):
        rows = _class_last(x)
        m = rows.shape[0]
        valid, tc, _, wt = _targets_and_weights(rows, target.reshape(-1), weight, ignore_index, x.dtype)
        per_row = -rows[np.arange(m), tc] * wt
        ctx.save_for_backward(tc, wt)
        return _reduce_rows(ctx, per_row, wt, x, reduction)

    @staticmethod
    def backward(ctx, grad):
        tc, wt = ctx.saved_tensors
        shape, reduction = ctx.args
        g = grad.reshape(-1) if reduction == "none" else grad.reshape(1)
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                g = g / ctx.denom
        rows = np.zeros_like(grad, shape=(tc.shape[0], shape[1]))  # on grad's device
        rows[np.arange(tc.shape[0]), tc] = -g * wt
        return _class_first(rows, shape), None, None, None, None


def nll_loss(input, target, weight=None, reduction: str = "mean", ignore_index: int = -100):
    """Negative log-likelihood of class indices given log-probabilities (e.g. from ``log_softmax``).

    Args:
        input: log-probabilities, (N, C) or (N, C, d1, ...).
        target: class indices, (N,) or (N, d1, ...).
        weight: optional per-class weights, (C,).
        reduction: "mean" (weighted), "sum" or "none".
        ignore_index: targets with this value contribute nothing.
    """
    _check_reduction("nll_loss", reduction)
    x, target, unbatched = _batched("nll_loss", input, target)
    t, w = _targets("nll_loss", x, target, weight, ignore_index)
    out = NLLLoss.apply(x, t, w, reduction, ignore_index)
    return out.reshape(()) if unbatched and reduction == "none" else out


def _same_shape(name, input, target):
    input, target = as_tensor(input), as_tensor(target)
    if input.shape != target.shape:
        raise ValueError(f"{name}: input {input.shape} and target {target.shape} must have the same shape")
    return input, target


def mse_loss(input, target, reduction: str = "mean"):
    """Squared error ``(input - target)^2``, reduced."""
    input, target = _same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce("mse_loss", diff * diff, reduction)


def l1_loss(input, target, reduction: str = "mean"):
    """Absolute error ``|input - target|``, reduced."""
    input, target = _same_shape("l1_loss", input, target)
    return _reduce("l1_loss", _abs(input - target), reduction)


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean"):
    """``-(y log p + (1 - y) log(1 - p))`` for probabilities ``p``; logs clamped at -100 like PyTorch."""
    p, y = _same_shape("binary_cross_entropy", input, target)
    if ((p.numpy() < 0) | (p.numpy() > 1)).any():
        raise ValueError("binary_cross_entropy: input probabilities must lie in [0, 1]")
    loss = -(y * clamp(log(p), min=-100.0) + (1 - y) * clamp(log(1 - p), min=-100.0))
    if weight is not None:
        loss = loss * weight
    return _reduce("binary_cross_entropy", loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction: str = "mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable formula.

    ``loss = (1 - y) x + (1 + (pw - 1) y) (log(1 + e^-|x|) + max(-x, 0))``, which never
    evaluates ``exp`` of a large positive number.

    Args:
        input: logits.
        target: targets in [0, 1], same shape.
        weight: optional weight broadcast over the loss.
        reduction: "mean", "sum" or "none".
        pos_weight: optional weight of positive examples, broadcast over the last dimension.
    """
    x, y = _same_shape("binary_cross_entropy_with_logits", input, target)
    softplus_neg = log(1 + exp(-_abs(x))) + relu(-x)
    scale = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
    loss = (1 - y) * x + scale * softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce("binary_cross_entropy_with_logits", loss, reduction)
