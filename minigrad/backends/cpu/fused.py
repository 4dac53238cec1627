"""Fused optimizer updates on the CPU: the CUDA ``fused.py`` rules, one pass over the arrays.

The NumPy form of a rule (``buf *= momentum; buf += (1 - dampening) * g; p -= lr * g``)
walks every array once per operation and allocates temporaries; these loops read and write
each element once. They are serial: an update is memory-bound and short, and on a busy
2-core machine the threading layer costs more than it saves (as for ``activation.py``).

Scalars are rounded to the parameter's dtype first, as NumPy does with Python floats and as
the CUDA kernels do, so a float32 step computes in float32 on both devices.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["sgd_momentum_update", "adam_update"]


@njit(cache=True)
def _sgd(param, buf, grad, lr, momentum, keep, weight_decay, nesterov, maximize, first):
    for i in range(param.size):
        g = grad[i]
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * param[i]
        if momentum != 0:
            if first:
                b = g
            else:
                b = buf[i] * momentum
                b = b + keep * g  # keep = 1 - dampening
            buf[i] = b
            if nesterov:
                g = g + momentum * b
            else:
                g = b
        param[i] = param[i] - lr * g


@njit(cache=True)
def _adam(param, m, v, vmax, grad, lr_decay, beta1c, beta2, beta2c, eps, weight_decay, decoupled, amsgrad,
          maximize, step_size, bc2):
    for i in range(param.size):
        g = grad[i]
        p = param[i]
        if maximize:
            g = -g
        if weight_decay != 0:
            if decoupled:
                p = p * lr_decay
            else:
                g = g + weight_decay * p
        mi = m[i] + beta1c * (g - m[i])
        vi = v[i] * beta2
        vi = vi + beta2c * g * g
        m[i] = mi
        v[i] = vi
        second = vi
        if amsgrad:
            if vmax[i] > vi:
                second = vmax[i]
            vmax[i] = second
        denom = math.sqrt(second) / bc2
        denom = denom + eps
        param[i] = p - step_size * mi / denom


def _run_in_place(kernel, updated, grad, *scalars):
    """``kernel(*flat updated arrays, flat grad, *scalars)``.

    An array may be passed twice (the optimizers pass a stand-in for a buffer the rule does
    not use); it gets one flat view. A strided array that is written (a parameter stored
    channels-last, say) is updated through a contiguous copy and written back.
    """
    flat = {}
    for a in updated:
        if id(a) not in flat:
            flat[id(a)] = (a, a.reshape(-1) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(-1))
    kernel(*[flat[id(a)][1] for a in updated], np.ravel(grad), *scalars)
    for a, f in flat.values():
        if not a.flags.c_contiguous:
            a[...] = f.reshape(a.shape)


def sgd_momentum_update(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """One fused SGD step in place, PyTorch's rule (as ``minigrad.optim.SGD``; formula in ``cuda/fused.py``).

    Args:
        param, buf: updated in place (``buf`` unused when momentum is 0), same shape and dtype.
        grad: the gradient (not modified).
        lr, momentum, dampening, weight_decay: the group's hyper-parameters.
        nesterov, maximize: flags.
        first: True on the first step (the buffer starts as the gradient).
    """
    t = param.dtype.type
    _run_in_place(_sgd, (param, buf), grad, t(lr), t(momentum), t(1 - dampening), t(weight_decay), bool(nesterov),
                  bool(maximize), bool(first))


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
                decoupled, amsgrad, maximize, step):
    """One fused Adam/AdamW step in place, PyTorch's rule (as ``minigrad.optim.Adam``; formula in ``cuda/fused.py``).

    Args:
        param, exp_avg, exp_avg_sq, max_exp_avg_sq: updated in place (``max_exp_avg_sq`` used only with amsgrad).
        grad: the gradient (not modified).
        lr, beta1, beta2, eps, weight_decay: hyper-parameters.
        decoupled: AdamW's decoupled weight decay.
        amsgrad, maximize: flags.
        step: the step number t, starting at 1.
    """
    t = param.dtype.type
    _run_in_place(_adam, (param, exp_avg, exp_avg_sq, max_exp_avg_sq), grad, t(1 - lr * weight_decay), t(1 - beta1),
                  t(beta2), t(1 - beta2), t(eps), t(weight_decay), bool(decoupled), bool(amsgrad), bool(maximize),
                  t(lr / (1 - beta1 ** step)), t(math.sqrt(1 - beta2 ** step)))
