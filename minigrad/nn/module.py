"""``Module``, ``Parameter`` and the containers ``Sequential``, ``ModuleList``, ``ModuleDict``."""

from __future__ import annotations

import itertools
from collections import OrderedDict

import numpy as np

from ..tensor import Tensor

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "ModuleDict", "Identity"]


class Parameter(Tensor):
    """A tensor that a ``Module`` registers as a learnable parameter (requires grad by default)."""

    def __init__(self, data, requires_grad: bool = True, device: str = "cpu"):
        if isinstance(data, Tensor):
            device = data.device
            data = data.numpy()
        super().__init__(np.array(data, dtype=np.asarray(data).dtype, copy=True), requires_grad=requires_grad)
        if device != "cpu":
            self._move_(device)

    def _move_(self, device):
        """Move in place, keeping the object (optimizers hold references to parameters)."""
        array = self.numpy()
        self.data = array if device == "cpu" else self._backend_for(device).from_numpy(array)
        self.device = device
        if self.grad is not None:
            self.grad = self.grad.to(device)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model.

    Assigning a ``Parameter``, a ``Module`` or a buffer (``register_buffer``) as an attribute
    registers it; ``state_dict()`` then names it by its attribute path, as PyTorch does.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    # ----------------------------------------------------------- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        for store in (self._parameters, self._modules, self._buffers):
            store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()):
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        for store in ("_parameters", "_modules", "_buffers"):
            table = self.__dict__.get(store)
            if table is not None and name in table:
                return table[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._modules, self._buffers):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value, persistent: bool = True) -> None:
        """Register a non-learnable tensor (e.g. BatchNorm's running mean) that ``state_dict`` saves."""
        self.__dict__.setdefault("_buffer_names", set()).add(name)
        if not persistent:
            self.__dict__.setdefault("_non_persistent", set()).add(name)
        self._buffers[name] = value

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def add_module(self, name: str, module: "Module") -> None:
        self._modules[name] = module

    # ----------------------------------------------------------------- walking
    def named_modules(self, prefix: str = ""):
        """Yield ``(name, module)`` for this module and every submodule, depth first."""
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """Yield ``(dotted_name, Parameter)``; a parameter shared by two modules is yielded once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = ""):
        for module_name, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{module_name}.{name}" if module_name else name), b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of scalar parameters (of those requiring grad with ``trainable_only``)."""
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Map parameter and persistent buffer names to copies of their values as NumPy arrays."""
        state = OrderedDict()
        for module_name, module in self.named_modules():
            skip = module.__dict__.get("_non_persistent", set())
            for name, value in list(module._parameters.items()) + list(module._buffers.items()):
                if value is None or name in skip:
                    continue
                key = f"{module_name}.{name}" if module_name else name
                state[key] = np.array(value.numpy() if isinstance(value, Tensor) else value, copy=True)
        return state

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values from ``state_dict`` into the parameters and buffers.

        Args:
            state_dict: mapping from names to arrays (or tensors).
            strict: require exactly the same keys.

        Returns:
            ``(missing_keys, unexpected_keys)``.

        Raises:
            ValueError: listing missing and unexpected keys (under ``strict``) and every shape mismatch.
        """
        own = {}
        for module_name, module in self.named_modules():
            for store in ("_parameters", "_buffers"):
                for name, value in getattr(module, store).items():
                    if value is not None:
                        own[f"{module_name}.{name}" if module_name else name] = (module, store, name)
        given = {k: (v.numpy() if isinstance(v, Tensor) else np.asarray(v)) for k, v in state_dict.items()}
        missing = [k for k in own if k not in given]
        unexpected = [k for k in given if k not in own]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        for key, (module, store, name) in own.items():
            if key in given:
                current = getattr(module, store)[name]
                current_shape = current.shape if isinstance(current, Tensor) else np.shape(current)
                if tuple(given[key].shape) != tuple(current_shape):
                    problems.append(f"{key}: checkpoint shape {tuple(given[key].shape)} != model shape {tuple(current_shape)}")
        if problems:
            raise ValueError(f"load_state_dict ({type(self).__name__}): " + "; ".join(problems))
        for key, (module, store, name) in own.items():
            if key not in given:
                continue
            current = getattr(module, store)[name]
            if isinstance(current, Tensor):
                value = given[key].astype(current.dtype, copy=True)
                current.data = value if current.device == "cpu" else current._backend().from_numpy(value)
            else:
                getattr(module, store)[name] = np.array(given[key], copy=True)
        return missing, unexpected

    # ------------------------------------------------------------- modes etc.
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data = p.grad.data * 0

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, device=None, dtype=None) -> "Module":
        """Move (or cast) every parameter and buffer in place and return self."""
        for p in self.parameters():
            if dtype is not None and p.dtype.kind == "f":
                p.data = p.numpy().astype(dtype)
                if p.device != "cpu":
                    p.data = p._backend().from_numpy(p.data)
            if device is not None:
                from ..tensor import _normalize_device

                p._move_(_normalize_device(device))
        for module in self.modules():
            for name, b in list(module._buffers.items()):
                if isinstance(b, Tensor):
                    if dtype is not None and b.dtype.kind == "f":
                        b = b.to(dtype=dtype)
                    if device is not None:
                        b = b.to(device)
                    module._buffers[name] = b
        return self

    def cuda(self) -> "Module":
        return self.to("cuda")

    def cpu(self) -> "Module":
        return self.to("cpu")

    def apply(self, fn) -> "Module":
        for m in self.modules():
            fn(m)
        return self

    # ------------------------------------------------------------------ call
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        for hook in self._forward_pre_hooks.values():
            hook(self, args)
        output = self.forward(*args, **kwargs)
        for hook in self._forward_hooks.values():
            replaced = hook(self, args, output)
            if replaced is not None:
                output = replaced
        return output

    def register_forward_hook(self, hook) -> "HookHandle":
        """Call ``hook(module, inputs, output)`` after every forward; a non-None result replaces the output."""
        return HookHandle(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook) -> "HookHandle":
        """Call ``hook(module, inputs)`` before every forward."""
        return HookHandle(self._forward_pre_hooks, hook)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        children = list(self.named_children())
        if not children:
            return lines[0] + ")"
        for name, m in children:
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        return "\n".join(lines) + "\n)"


class HookHandle:
    """Returned by ``register_forward_hook``; ``remove()`` unregisters the hook."""

    # next() on a count is one C call: two threads registering hooks never get the same id.
    _ids = itertools.count(1)

    def __init__(self, table, hook):
        self._table, self._id = table, next(HookHandle._ids)
        table[self._id] = hook

    def remove(self) -> None:
        self._table.pop(self._id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class Identity(Module):
    """Returns its input unchanged."""

    def forward(self, x):
        return x


class Sequential(Module):
    """Modules applied one after another; children are named "0", "1", ... (or by an OrderedDict)."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*items[index])
        return items[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self._modules)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(Module):
    """A list of modules, registered as "0", "1", ..."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    """A dict of modules, registered under their keys."""

    def __init__(self, modules=None):
        super().__init__()
        for name, m in (modules or {}).items():
            self.add_module(name, m)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()
