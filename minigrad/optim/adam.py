"""Adam and AdamW (decoupled weight decay), with PyTorch's single-tensor update rules."""

from __future__ import annotations

import math

from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """PyTorch's Adam. Per step t = 1, 2, ..., with g the gradient::

        g = -g                                  if maximize
        g = g + weight_decay * p                (Adam: L2 penalty in the gradient)
        p = p * (1 - lr * weight_decay)         (AdamW: decoupled decay instead)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                   if amsgrad (and v_max is used below)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    The moments live on the parameter's device, and one fused backend kernel (``adam_update``,
    on every device) applies the whole rule to each parameter in place.

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        betas: decay rates of the first and second moment estimates.
        eps: added to the denominator for stability.
        weight_decay: L2 penalty (Adam) or decoupled decay (AdamW).
        amsgrad: use the running maximum of the second moment.
        maximize: maximize the objective instead of minimizing it.
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def _validate(self, group):
        super()._validate(group)
        betas = group["betas"]
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{type(self).__name__}: betas must be two numbers in [0, 1), got {betas}")
        if not 0 <= group["eps"] < math.inf:
            raise ValueError(f"{type(self).__name__}: invalid eps {group['eps']}")

    def _update_device(self, backend, param, grad, state, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = backend.zeros(param.shape, param.dtype)
            state["exp_avg_sq"] = backend.zeros(param.shape, param.dtype)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = backend.zeros(param.shape, param.dtype)
        state["step"] += 1
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        # Without amsgrad the kernel never touches the running maximum; exp_avg_sq stands in for it.
        max_sq = state["max_exp_avg_sq"] if group["amsgrad"] else exp_avg_sq
        backend.adam_update(param, grad, exp_avg, exp_avg_sq, max_sq, lr, beta1, beta2, eps, wd, self._decoupled,
                            group["amsgrad"], group["maximize"], state["step"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): ``p *= 1 - lr * weight_decay`` before
    the Adam step, and no L2 term in the gradient. Arguments as ``Adam``; ``weight_decay`` defaults to 1e-2.
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
