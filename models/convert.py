"""PyTorch checkpoints (``.pt``/``.pth`` state_dicts) to NumPy ``.npz`` files that ``load_state_dict`` reads.

torch is an optional dependency, imported only here and only when a conversion runs.
The architectures use torchvision's parameter names, so a torchvision state_dict
converts key for key:

    >>> convert_weights("resnet18-f37072fd.pth", "resnet18.npz")
    >>> model = resnet18(); load_npz(model, "resnet18.npz")
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = ["torch_state_dict_to_numpy", "convert_weights", "load_npz"]

# Wrappers that training scripts put around the state_dict, and prefixes that DataParallel adds.
_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model")
_PREFIXES = ("module.", "_orig_mod.")


def _import_torch():
    try:
        import torch
    except ImportError as error:
        raise RuntimeError(
            "convert-weights: reading .pt/.pth files needs PyTorch, which minigrad does not depend on; "
            "install it with `pip install torch` (the CPU build is enough), or save the weights with "
            "numpy.savez in an environment that has torch"
        ) from error
    return torch


def torch_state_dict_to_numpy(state) -> "OrderedDict[str, np.ndarray]":
    """Turn a torch state_dict (or a checkpoint dict holding one) into name -> NumPy array.

    Args:
        state: a mapping of names to torch tensors, possibly nested under "state_dict"/"model".

    Returns:
        An ordered mapping with the "module." prefixes removed.

    Raises:
        TypeError: ``state`` is not a mapping of tensors.
    """
    if hasattr(state, "state_dict") and callable(state.state_dict):
        state = state.state_dict()
    for key in _CONTAINER_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise TypeError(f"convert-weights: expected a state_dict (a dict of tensors), got {type(state).__name__}")
    out = OrderedDict()
    for name, value in state.items():
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix):]
        if not hasattr(value, "detach"):
            raise TypeError(f"convert-weights: entry {name!r} is a {type(value).__name__}, not a tensor")
        out[name] = value.detach().cpu().numpy()
    return out


def convert_weights(source, destination) -> "OrderedDict[str, np.ndarray]":
    """Read a torch ``.pt``/``.pth`` state_dict and write it as ``.npz``.

    Args:
        source: path of the torch file.
        destination: path of the ``.npz`` to write.

    Returns:
        The converted arrays.

    Raises:
        RuntimeError: torch is not installed.
        FileNotFoundError: ``source`` does not exist.
    """
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"convert-weights: no such file {str(source)!r}")
    torch = _import_torch()
    state = torch.load(source, map_location="cpu", weights_only=True)
    arrays = torch_state_dict_to_numpy(state)
    np.savez(destination, **arrays)
    return arrays


def load_npz(model, path, strict: bool = True):
    """Load an ``.npz`` state_dict into ``model``.

    BatchNorm's ``num_batches_tracked`` counters from torch are dropped when the model has no such
    buffer, since they carry no information for inference.

    Returns:
        ``(missing_keys, unexpected_keys)`` as ``Module.load_state_dict``.
    """
    with np.load(path) as data:
        state = {k: data[k] for k in data.files}
    own = set(model.state_dict())
    state = {k: v for k, v in state.items() if k in own or not k.endswith("num_batches_tracked")}
    return model.load_state_dict(state, strict=strict)
