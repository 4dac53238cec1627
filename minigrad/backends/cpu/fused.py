"""Fused optimizer updates on the CPU: the rules of ``backends/update_rules.py``, one pass over the arrays.

The NumPy form of a rule (``buf *= momentum; buf += (1 - dampening) * g; p -= lr * g``)
walks every array once per operation and allocates temporaries; these loops read and write
each element once. They are serial: an update is memory-bound and short, and on a busy
2-core machine the threading layer costs more than it saves (as for ``activation.py``).

The per-element rules and the rounding of the scalars to the parameter's dtype are shared with
``cuda/fused.py`` (``update_rules.py``), so a float32 step computes in float32 on both devices.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import update_rules

# Module-level names: Numba resolves globals, not attributes of a namespace object.
sgd_element = update_rules.cpu.sgd_element
adam_element = update_rules.cpu.adam_element

__all__ = ["sgd_momentum_update", "adam_update"]


@njit(cache=True)
def _sgd(param, buf, grad, lr, momentum, keep, weight_decay, nesterov, maximize, first):
    for i in range(param.size):
        p, b = sgd_element(param[i], grad[i], buf[i], lr, momentum, keep, weight_decay, nesterov, maximize, first)
        if momentum != 0:  # without momentum ``buf`` may be ``param`` itself, standing in
            buf[i] = b
        param[i] = p


@njit(cache=True)
def _adam(param, m, v, vmax, grad, lr_decay, beta1c, beta2, beta2c, eps, weight_decay, decoupled, amsgrad,
          maximize, step_size, bc2):
    for i in range(param.size):
        p, mi, vi, vmaxi = adam_element(param[i], grad[i], m[i], v[i], vmax[i], lr_decay, beta1c, beta2, beta2c, eps,
                                        weight_decay, decoupled, amsgrad, maximize, step_size, bc2)
        m[i] = mi
        v[i] = vi
        if amsgrad:  # without amsgrad ``vmax`` may be a stand-in array
            vmax[i] = vmaxi
        param[i] = p


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
    """One fused SGD step in place, PyTorch's rule (formula in ``update_rules.py``).

    Args:
        param, buf: updated in place (``buf`` unused when momentum is 0), same shape and dtype.
        grad: the gradient (not modified).
        lr, momentum, dampening, weight_decay: the group's hyper-parameters.
        nesterov, maximize: flags.
        first: True on the first step (the buffer starts as the gradient).
    """
    scalars = update_rules.sgd_scalars(param.dtype, lr, momentum, dampening, weight_decay, nesterov, maximize, first)
    _run_in_place(_sgd, (param, buf), grad, *scalars)


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
                decoupled, amsgrad, maximize, step):
    """One fused Adam/AdamW step in place, PyTorch's rule (formula in ``update_rules.py``).

    Args:
        param, exp_avg, exp_avg_sq, max_exp_avg_sq: updated in place (``max_exp_avg_sq`` used only with amsgrad).
        grad: the gradient (not modified).
        lr, beta1, beta2, eps, weight_decay: hyper-parameters.
        decoupled: AdamW's decoupled weight decay.
        amsgrad, maximize: flags.
        step: the step number t, starting at 1.
    """
    scalars = update_rules.adam_scalars(param.dtype, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize,
                                        step)
    _run_in_place(_adam, (param, exp_avg, exp_avg_sq, max_exp_avg_sq), grad, *scalars)
