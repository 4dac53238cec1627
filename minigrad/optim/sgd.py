"""Stochastic gradient descent with momentum, dampening, weight decay and Nesterov momentum."""

from __future__ import annotations

import math

from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """PyTorch's SGD. Per step, with g the gradient::

        g = -g                               if maximize
        g = g + weight_decay * p             if weight_decay != 0
        if momentum != 0:
            b = g                            on the first step (no dampening)
            b = momentum * b + (1 - dampening) * g   afterwards
            g = g + momentum * b             if nesterov, else g = b
        p = p - lr * g

    The momentum buffer lives on the parameter's device, and one fused backend kernel
    (``sgd_momentum_update``, on every device) applies the whole rule to each parameter in place.

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        momentum: momentum factor.
        dampening: dampening of the momentum's gradient term.
        weight_decay: L2 penalty coefficient.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening = 0).
        maximize: maximize the objective instead of minimizing it.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _validate(self, group):
        super()._validate(group)
        if not 0 <= group["momentum"] < math.inf or not 0 <= group["dampening"] < math.inf:
            raise ValueError(f"SGD: invalid momentum {group['momentum']} or dampening {group['dampening']} "
                             f"(must be finite and >= 0)")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov momentum needs momentum > 0 and dampening = 0, got momentum "
                             f"{group['momentum']}, dampening {group['dampening']}")

    def _update_device(self, backend, param, grad, state, group):
        momentum = group["momentum"]
        buf = state.get("momentum_buffer") if momentum != 0 else None
        first = momentum != 0 and buf is None
        if first:
            # ``zeros``, not ``empty``, although the kernel writes the first buffer (b = g) itself:
            # on the CPU ``empty`` comes from the caching pool, which is for a step's temporaries,
            # and buffers that live as long as the optimizer raised ResNet-18's peak by 35 MiB there.
            buf = state["momentum_buffer"] = backend.zeros(param.shape, param.dtype)
        # Without momentum the kernel never touches the buffer argument; the parameter stands in for it.
        backend.sgd_momentum_update(param, grad, param if buf is None else buf, group["lr"], momentum,
                                    group["dampening"], group["weight_decay"], group["nesterov"], group["maximize"],
                                    first)
