"""Finding layers by name and capturing what they compute, with forward hooks.

Layers are named as ``model.named_modules()`` names them ("features.0", "conv1", ...), the same
names as the keys of ``state_dict`` without the parameter suffix.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor

__all__ = [
    "layer_names", "get_layer", "conv_layers", "first_conv", "last_linear", "capture",
    "forward_collect", "run_batches", "StopForward", "frozen",
]


def layer_names(model) -> list[str]:
    """Every named submodule of ``model`` (the model itself, named "", excluded)."""
    return [name for name, _ in model.named_modules() if name]


def get_layer(model, name: str, op: str = "viz"):
    """The submodule called ``name``.

    Raises:
        ValueError: naming the unknown layer and listing the valid ones.
    """
    for candidate, module in model.named_modules():
        if candidate and candidate == name:
            return module
    valid = ", ".join(f"{n} ({type(m).__name__})" for n, m in model.named_modules() if n)
    raise ValueError(f"{op}: unknown layer {name!r}; valid layers: {valid}")


def _is_conv(module) -> bool:
    weight = getattr(module, "_parameters", {}).get("weight")
    return weight is not None and weight.ndim == 4


def conv_layers(model) -> list[tuple[str, object]]:
    """``(name, module)`` of every layer with a 4-D kernel (Conv2d, ConvTranspose2d), in order."""
    return [(n, m) for n, m in model.named_modules() if n and _is_conv(m)]


def first_conv(model, op: str = "viz"):
    """``(name, module)`` of the first convolution."""
    convs = conv_layers(model)
    if not convs:
        raise ValueError(f"{op}: {type(model).__name__} has no convolution layer")
    return convs[0]


def last_linear(model, op: str = "viz"):
    """``(name, module)`` of the last fully connected layer: its input is the last hidden layer."""
    linears = [(n, m) for n, m in model.named_modules()
               if n and getattr(m, "_parameters", {}).get("weight") is not None
               and m._parameters["weight"].ndim == 2]
    if not linears:
        raise ValueError(f"{op}: {type(model).__name__} has no Linear layer; pass the feature layer explicitly")
    return linears[-1]


class StopForward(Exception):
    """Raised by a hook to end a forward pass once the wanted layer has run."""


@contextlib.contextmanager
def capture(modules: dict, inputs: bool = False, stop: bool = False):
    """Record the outputs (or inputs) of modules during forward passes.

    Args:
        modules: ``{name: module}`` to watch.
        inputs: record each module's first input instead of its output.
        stop: raise ``StopForward`` as soon as every watched module has been recorded (saves
            the rest of the network's work; ``forward_collect`` catches it).

    Yields:
        A dict ``{name: Tensor}`` filled by each forward pass (the latest pass wins).
    """
    seen, handles = {}, []

    def make_hook(name):
        def hook(module, args, output=None):
            seen[name] = args[0] if inputs else output
            if stop and len(seen) == len(modules):
                raise StopForward

        return hook

    try:
        for name, module in modules.items():
            if inputs:
                handles.append(module.register_forward_pre_hook(make_hook(name)))
            else:
                handles.append(module.register_forward_hook(make_hook(name)))
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def forward_collect(model, x, modules: dict, inputs: bool = False, stop: bool = True) -> dict:
    """Run ``model(x)`` and return ``{name: Tensor}`` of the watched modules' outputs (or inputs).

    With ``stop``, the pass ends as soon as every watched module has run (or, for ``inputs``,
    is about to run). Gradients flow through the returned tensors when ``x`` requires grad.
    """
    with capture(modules, inputs=inputs, stop=stop) as seen:
        try:
            model(x)
        except StopForward:
            pass
    missing = [n for n in modules if n not in seen]
    if missing:
        raise ValueError(f"viz: layer(s) {', '.join(missing)} did not run in {type(model).__name__}'s forward pass")
    return dict(seen)


def run_batches(fn, images: np.ndarray, batch_size: int = 256, progress=None) -> np.ndarray:
    """Apply ``fn`` (Tensor batch -> Tensor) to ``images`` in batches without a graph; concatenate.

    Args:
        fn: maps a ``(B, C, H, W)`` Tensor to a Tensor whose first axis is B.
        images: ``(N, C, H, W)`` float array.
        batch_size: images per forward pass.
        progress: optional ``callback(done, total)``.
    """
    outputs = []
    n = len(images)
    with no_grad():
        for start in range(0, n, batch_size):
            batch = np.ascontiguousarray(images[start:start + batch_size], dtype=np.float32)
            outputs.append(np.asarray(fn(Tensor(batch)).numpy()))
            if progress is not None:
                progress(min(start + batch_size, n), n)
    return np.concatenate(outputs, axis=0)


@contextlib.contextmanager
def frozen(model):
    """Turn off ``requires_grad`` of every parameter for the block (then restore it).

    Gradients with respect to the input then skip the weight gradients, and the model's
    ``.grad`` fields are left as they were.
    """
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad = False
        yield model
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad = flag
