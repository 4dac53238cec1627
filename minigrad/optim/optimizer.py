"""``Optimizer``: the base class holding parameter groups and per-parameter state.

The state buffers (momentum, Adam's moments) live on the parameter's device, and SGD and
Adam update each parameter in place by one fused backend kernel (``sgd_momentum_update``,
``adam_update``), the same call on every device: a step copies nothing between host and
device, and on the CPU it makes one pass over the arrays instead of one per NumPy operation.
A subclass may instead write only its NumPy rule (``_update``): the default
``_update_device`` runs it in place on the CPU, and through host copies on a GPU (putting the
state back on the device).

``state_dict()`` always returns host NumPy arrays (checkpoints are ``.npz`` files);
``load_state_dict`` puts the state on each parameter's device, and a parameter moved to
another device after some steps takes its state along at the next ``step``.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from ..autograd import enable_grad
from ..tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Base class: ``param_groups`` (list of dicts with "params" and hyperparameters) and ``state``.

    A subclass defines ``_update`` (the NumPy rule) or overrides ``_update_device`` (backend kernels).

    Args:
        params: an iterable of tensors, or of dicts ``{"params": [...], <hyperparameter overrides>}``.
        defaults: default hyperparameters for groups that do not set them.
    """

    def __init__(self, params, defaults: dict):
        if not hasattr(self, "_update") and type(self)._update_device is Optimizer._update_device:
            raise TypeError(f"{type(self).__name__}: an optimizer defines _update (its NumPy rule) or overrides "
                            f"_update_device")
        self.defaults = dict(defaults)
        self.state: dict = {}
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of tensors or dicts, "
                            f"got a single Tensor; wrap it in a list")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones from ``defaults``)."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{type(self).__name__}: a param group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor (shape {p.shape})")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one parameter group")
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr", "max_lr", "min_lr", "max_momentum",
                                                      "base_momentum"}
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown hyperparameters {sorted(unknown)}; "
                             f"valid: {sorted(self.defaults)}")
        full = {**self.defaults, **group, "params": params}
        self._validate(full)
        self.param_groups.append(full)

    def _validate(self, group: dict) -> None:
        # "not 0 <= x < inf" also refuses NaN, which every comparison lets through.
        lr = group.get("lr")
        if lr is None or not 0 <= lr < math.inf:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {lr!r} (must be finite and >= 0)")
        if not 0 <= group.get("weight_decay", 0.0) < math.inf:
            raise ValueError(f"{type(self).__name__}: invalid weight_decay {group['weight_decay']} "
                             f"(must be finite and >= 0)")

    # ------------------------------------------------------------------ steps
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (drop it, or fill it with zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    if p.grad.device == "cpu":
                        p.grad.data[...] = 0
                    else:
                        p.grad.data = p.grad._backend().zeros(p.grad.shape, p.grad.dtype)

    def step(self, closure=None):
        """Update every parameter that has a gradient.

        Args:
            closure: optional callable that re-evaluates the model and returns the loss.

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}: gradient of shape {p.grad.shape} for a parameter "
                                     f"of shape {p.shape}")
                state = self.state.setdefault(p, {})
                _state_to_device(state, p)
                backend = p._backend()
                grad = p.grad.data if p.grad.device == p.device else backend.from_numpy(p.grad.numpy())
                if grad.dtype != p.dtype:
                    grad = grad.astype(p.dtype)
                self._update_device(backend, p.data, grad, state, group)
        return loss

    def _update_device(self, backend, param, grad, state: dict, group: dict) -> None:
        """Update a parameter in place on its device (the CPU included); ``state``'s arrays live there too.

        SGD and Adam override this with their fused backend kernels. This default runs the
        subclass's NumPy rule ``_update(param, grad, state, group)`` (``grad`` a fresh array the
        rule may overwrite): directly on the CPU, on host copies of the parameter, the gradient
        and the state elsewhere, writing them back.

        Args:
            backend: the parameter's backend module.
            param: the parameter's array (updated in place).
            grad: the gradient, an array of ``param``'s dtype on its device (must not be modified).
            state: the parameter's state dict.
            group: the parameter's group.
        """
        if isinstance(param, np.ndarray):
            self._update(param, np.array(grad, copy=True), state, group)
            return
        host = backend.to_numpy(param).copy()
        host_state = {k: _to_host(v) for k, v in state.items()}
        self._update(host, backend.to_numpy(grad).copy(), host_state, group)
        param[...] = backend.from_numpy(host)
        state.clear()
        state.update({k: backend.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in host_state.items()})

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """``{"state": {index: {name: array or number}}, "param_groups": [{..., "params": [indices]}]}``.

        Parameters are numbered by their position across all groups, as in PyTorch. State arrays
        are host NumPy copies, also for parameters on a GPU.
        """
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: _to_host(v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and state saved by ``state_dict`` (same groups and shapes).

        State arrays are copied onto each parameter's device.
        """
        groups = state_dict.get("param_groups")
        if not isinstance(groups, list) or "state" not in state_dict:
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{type(self).__name__}.load_state_dict: saved state has {len(groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        for i, (saved, own) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(f"{type(self).__name__}.load_state_dict: group {i} has {len(saved['params'])} "
                                 f"parameters in the saved state and {len(own['params'])} in the optimizer")
        by_index = {}
        for saved, own in zip(groups, self.param_groups):
            by_index.update(zip(saved["params"], own["params"]))
        new_state = {}
        for key, values in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(f"{type(self).__name__}.load_state_dict: state for unknown parameter index {key}")
            restored = {}
            for name, value in values.items():
                if isinstance(value, (np.ndarray, Tensor)) or _on_device(value):
                    value = np.asarray(value.numpy() if isinstance(value, Tensor) else _to_host(value))
                    if value.shape != p.shape:
                        raise ValueError(f"{type(self).__name__}.load_state_dict: state '{name}' of parameter {key} "
                                         f"has shape {value.shape}, the parameter has shape {p.shape}")
                    value = value.astype(p.dtype, copy=True)
                    if p.device != "cpu":
                        value = p._backend().from_numpy(value)
                restored[name] = value
            new_state[p] = restored
        self.state = new_state
        for saved, own in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = copy.deepcopy(v)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        return "\n".join(lines) + "\n)"


# ------------------------------------------------------------------ helpers
def _on_device(value) -> bool:
    """True for a device array (a ``CudaArray``), told by duck typing so the CPU never imports numba.cuda."""
    return not isinstance(value, np.ndarray) and getattr(value, "device", None) == "cuda" and hasattr(value, "get")


def _to_host(value):
    """A host copy of a state array (NumPy or device); other values (step counts) as they are."""
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True)
    if _on_device(value):
        return value.get()
    return value


def _state_to_device(state: dict, p: Tensor) -> None:
    """Move ``state``'s arrays to ``p``'s device if ``p`` has moved since they were made (no-op otherwise)."""
    for name, value in state.items():
        if p.device == "cpu":
            if _on_device(value):
                state[name] = value.get()
        elif isinstance(value, np.ndarray):
            state[name] = p._backend().from_numpy(value)
