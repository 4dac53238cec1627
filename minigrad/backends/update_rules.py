"""The optimizer update rules per element, written once and compiled for both backends.

``cpu/fused.py`` and ``cuda/fused.py`` each loop over a parameter's elements (a serial Numba
loop; a grid-stride CUDA loop) and apply these functions, compiled as for
``backends/index.py``: ``njit(inline="always")`` for the CPU, ``cuda.jit(device=True)`` for
the GPU. The host-side preparation of the scalars is shared too, so both devices compute a
float32 step in float32 from the same rounded constants.

The rules are PyTorch's (``torch.optim.SGD`` and ``Adam``/``AdamW``)::

    SGD:   g = -g if maximize;  g = g + weight_decay * p
           b = g (first step) or momentum * b + (1 - dampening) * g
           g = g + momentum * b if nesterov else b;   p = p - lr * g
    Adam:  g = -g if maximize;  p = p * (1 - lr * wd) (AdamW)  or  g = g + wd * p (Adam)
           m = m + (1 - beta1) * (g - m);  v = beta2 * v + (1 - beta2) * g * g;  v_max = max(v_max, v)
           p = p - lr / (1 - beta1**t) * m / (sqrt(v or v_max) / sqrt(1 - beta2**t) + eps)
"""

from __future__ import annotations

import math
from types import SimpleNamespace

from numba import njit

__all__ = ["sgd_element", "adam_element", "sgd_scalars", "adam_scalars", "cpu", "cuda_functions"]


def sgd_element(p, g, b, lr, momentum, keep, weight_decay, nesterov, maximize, first):
    """One element of an SGD step: returns the new ``(p, b)`` (``b`` unchanged without momentum)."""
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    if momentum != 0:
        if first:
            b = g
        else:
            b = b * momentum
            b = b + keep * g  # keep = 1 - dampening
        if nesterov:
            g = g + momentum * b
        else:
            g = b
    return p - lr * g, b


def adam_element(p, g, m, v, vmax, lr_decay, beta1c, beta2, beta2c, eps, weight_decay, decoupled, amsgrad,
                 maximize, step_size, bc2):
    """One element of an Adam/AdamW step: returns the new ``(p, m, v, vmax)``."""
    if maximize:
        g = -g
    if weight_decay != 0:
        if decoupled:
            p = p * lr_decay
        else:
            g = g + weight_decay * p
    m = m + beta1c * (g - m)
    v = v * beta2
    v = v + beta2c * g * g
    second = v
    if amsgrad:
        if vmax > v:
            second = vmax
        vmax = second
    denom = math.sqrt(second) / bc2
    denom = denom + eps
    return p - step_size * m / denom, m, v, vmax


def sgd_scalars(dtype, lr, momentum, dampening, weight_decay, nesterov, maximize, first) -> tuple:
    """``sgd_element``'s arguments after ``b``, rounded to the parameter's dtype as NumPy rounds Python floats."""
    t = dtype.type
    return t(lr), t(momentum), t(1 - dampening), t(weight_decay), bool(nesterov), bool(maximize), bool(first)


def adam_scalars(dtype, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize, step) -> tuple:
    """``adam_element``'s arguments after ``vmax``, in the parameter's dtype (``step`` is t, from 1)."""
    t = dtype.type
    return (t(1 - lr * weight_decay), t(1 - beta1), t(beta2), t(1 - beta2), t(eps), t(weight_decay), bool(decoupled),
            bool(amsgrad), bool(maximize), t(lr / (1 - beta1 ** step)), t(math.sqrt(1 - beta2 ** step)))


_RULES = (sgd_element, adam_element)

#: The rules compiled for the CPU, inlined into ``njit`` callers.
cpu = SimpleNamespace(**{f.__name__: njit(inline="always", cache=True)(f) for f in _RULES})

_cuda = None


def cuda_functions() -> SimpleNamespace:
    """The rules compiled as ``numba.cuda`` device functions (imports ``numba.cuda`` on first call)."""
    global _cuda
    if _cuda is None:
        from numba import cuda

        _cuda = SimpleNamespace(**{f.__name__: cuda.jit(device=True)(f) for f in _RULES})
    return _cuda
