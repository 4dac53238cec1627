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

import math

import numpy as np
from numba import cuda, uint64

from .launch import dev, dev_out, launch

# ``dropout_mask_reference`` is public (tests compare with it) but is a host function, not a kernel.
__all__ = ["dropout_mask", "sgd_momentum_update", "adam_update"]

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


def sgd_momentum_update(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """One fused SGD step in place, PyTorch's rule (as ``minigrad.optim.SGD``)::

        g = -g if maximize;  g = g + weight_decay * p
        b = g (first step) or momentum * b + (1 - dampening) * g;  g = g + momentum * b if nesterov else b
        p = p - lr * g

    Scalars are rounded to the parameter's dtype first, as NumPy does with Python floats.

    Args:
        param, buf: updated in place (``buf`` unused when momentum is 0), same shape and dtype.
        grad: the gradient (not modified).
        lr, momentum, dampening, weight_decay: the group's hyper-parameters.
        nesterov, maximize: flags.
        first: True on the first step (the buffer starts as the gradient).
    """
    p = dev_out(param, "sgd_momentum_update")
    t = p.dtype.type
    launch(_sgd, p.size, p.reshape(p.size), dev(grad).reshape(p.size), dev(buf).reshape(p.size), t(lr), t(momentum),
           t(1 - dampening), t(weight_decay), bool(nesterov), bool(maximize), bool(first))


@cuda.jit(cache=True)
def _adam(param, grad, m, v, vmax, lr_decay, beta1c, beta2, beta2c, eps, weight_decay, decoupled, amsgrad,
          maximize, step_size, bc2):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
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


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, weight_decay,
                decoupled, amsgrad, maximize, step):
    """One fused Adam/AdamW step in place, PyTorch's rule (as ``minigrad.optim.Adam``)::

        g = -g if maximize
        p = p * (1 - lr * wd) (AdamW)  or  g = g + wd * p (Adam)
        m = m + (1 - beta1) * (g - m);  v = beta2 * v + (1 - beta2) * g * g;  v_max = max(v_max, v)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v or v_max) / sqrt(1 - beta2**t) + eps)

    Args:
        param, exp_avg, exp_avg_sq, max_exp_avg_sq: updated in place (``max_exp_avg_sq`` used only with amsgrad).
        grad: the gradient (not modified).
        lr, beta1, beta2, eps, weight_decay: hyper-parameters.
        decoupled: AdamW's decoupled weight decay.
        amsgrad, maximize: flags.
        step: the step number t, starting at 1.
    """
    p = dev_out(param, "adam_update")
    t = p.dtype.type
    n = p.size
    flat = [dev(a).reshape(n) for a in (grad, exp_avg, exp_avg_sq, max_exp_avg_sq)]
    launch(_adam, n, p.reshape(n), *flat, t(1 - lr * weight_decay), t(1 - beta1), t(beta2), t(1 - beta2), t(eps),
           t(weight_decay), bool(decoupled), bool(amsgrad), bool(maximize), t(lr / (1 - beta1 ** step)),
           t(math.sqrt(1 - beta2 ** step)))
