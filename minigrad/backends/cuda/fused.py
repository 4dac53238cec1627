"""Fused GPU kernels: dropout masks from a counter-based RNG (no CPU twin: CPU dropout draws
from ``mg.default_rng()``) and the optimizer updates (SGD with momentum, Adam; twins in
``cpu/fused.py``).

Fusing saves the launches and the round trips through memory of the equivalent chain
of elementwise kernels; each kernel is one pass over its arrays.

The dropout RNG is counter-based: the random number of element ``i`` is a hash of
``(seed, i)`` (SplitMix64), so it needs no state on the device, every thread draws
independently, and the same seed gives the same mask on any GPU (and in
``dropout_mask_reference``, its NumPy twin).
"""

from __future__ import annotations


import numpy as np
from numba import cuda, uint64

from .. import update_rules
from .launch import dev, dev_out, launch

# ``dropout_mask_reference`` is public (tests compare with it) but is a host function, not a kernel.
__all__ = ["dropout_mask", "sgd_momentum_update", "adam_update"]

# Module-level names: Numba resolves globals, not attributes of a namespace object.
sgd_element = update_rules.cuda_functions().sgd_element
adam_element = update_rules.cuda_functions().adam_element

_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


@cuda.jit(device=True)
def _splitmix64(x):
    z = x + uint64(_GOLDEN)
    z = (z ^ (z >> uint64(30))) * uint64(_MIX1)
    z = (z ^ (z >> uint64(27))) * uint64(_MIX2)
    return z ^ (z >> uint64(31))


@cuda.jit(cache=True)
def _dropout(mask, seed, p, scale):
    key = _splitmix64(uint64(seed))
    for i in range(cuda.grid(1), mask.size, cuda.gridsize(1)):
        # The top 53 bits of the hash, as a float64 uniform in [0, 1).
        u = (_splitmix64(key + uint64(i)) >> uint64(11)) * (1.0 / 9007199254740992.0)
        mask[i] = scale if u >= p else 0.0


def dropout_mask(mask, seed, p):
    """Fill ``mask`` with ``1/(1-p)`` (kept) or 0 (dropped), independently per element.

    Formula: ``u[i] = splitmix64(splitmix64(seed) + i) >> 11) / 2**53``;
    ``mask[i] = 1/(1-p) if u[i] >= p else 0``.

    Args:
        mask: output, any shape, floating dtype.
        seed: non-negative integer below 2**64.
        p: drop probability in [0, 1).
    """
    m = dev_out(mask, "dropout_mask")
    flat = m.reshape(m.size)
    launch(_dropout, m.size, flat, np.uint64(seed), float(p), float(1.0 / (1.0 - p)))


def dropout_mask_reference(shape, seed, p, dtype=np.float32):
    """The same mask as ``dropout_mask``, computed with NumPy on the host (for tests and the CPU)."""
    def mix(z):
        z = z + np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
        return z ^ (z >> np.uint64(31))

    with np.errstate(over="ignore"):
        key = mix(np.array([seed], dtype=np.uint64))[0]
        h = mix(key + np.arange(int(np.prod(shape)), dtype=np.uint64))
    u = (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    return np.where(u >= p, 1.0 / (1.0 - p), 0.0).astype(dtype).reshape(shape)


@cuda.jit(cache=True)
def _sgd(param, grad, buf, lr, momentum, keep, weight_decay, nesterov, maximize, first):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        p, b = sgd_element(param[i], grad[i], buf[i], lr, momentum, keep, weight_decay, nesterov, maximize, first)
        if momentum != 0:  # without momentum ``buf`` may be ``param`` itself, standing in
            buf[i] = b
        param[i] = p


def sgd_momentum_update(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """One fused SGD step in place, PyTorch's rule (formula in ``backends/update_rules.py``).

    Args:
        param, buf: updated in place (``buf`` unused when momentum is 0), same shape and dtype.
        grad: the gradient (not modified).
        lr, momentum, dampening, weight_decay: the group's hyper-parameters.
        nesterov, maximize: flags.
        first: True on the first step (the buffer starts as the gradient).
    """
    p = dev_out(param, "sgd_momentum_update")
    scalars = update_rules.sgd_scalars(p.dtype, lr, momentum, dampening, weight_decay, nesterov, maximize, first)
    launch(_sgd, p.size, p.reshape(p.size), dev(grad).reshape(p.size), dev(buf).reshape(p.size), *scalars)


@cuda.jit(cache=True)
def _adam(param, grad, m, v, vmax, lr_decay, beta1c, beta2, beta2c, eps, weight_decay, decoupled, amsgrad,
          maximize, step_size, bc2):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        p, mi, vi, vmaxi = adam_element(param[i], grad[i], m[i], v[i], vmax[i], lr_decay, beta1c, beta2, beta2c, eps,
                                        weight_decay, decoupled, amsgrad, maximize, step_size, bc2)
        m[i] = mi
        v[i] = vi
        if amsgrad:  # without amsgrad ``vmax`` may be a stand-in array
            vmax[i] = vmaxi
        param[i] = p


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
                decoupled, amsgrad, maximize, step):
    """One fused Adam/AdamW step in place, PyTorch's rule (formula in ``backends/update_rules.py``).

    Args:
        param, exp_avg, exp_avg_sq, max_exp_avg_sq: updated in place (``max_exp_avg_sq`` used only with amsgrad).
        grad: the gradient (not modified).
        lr, beta1, beta2, eps, weight_decay: hyper-parameters.
        decoupled: AdamW's decoupled weight decay.
        amsgrad, maximize: flags.
        step: the step number t, starting at 1.
    """
    p = dev_out(param, "adam_update")
    n = p.size
    flat = [dev(a).reshape(n) for a in (grad, exp_avg, exp_avg_sq, max_exp_avg_sq)]
    scalars = update_rules.adam_scalars(p.dtype, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize, step)
    launch(_adam, n, p.reshape(n), *flat, *scalars)
