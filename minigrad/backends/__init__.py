"""Kernel backends. ``get_backend("cpu")`` is ``minigrad.backends.cpu``; CUDA is imported lazily.

Both backends expose the same kernel names with the same signatures: a kernel fills a
preallocated output and returns nothing, ``kernel(out, inputs..., integer parameters)``.
Besides kernels, each backend offers the array helpers that ops and autograd need:
``empty, zeros, ones_like, copy, from_numpy, to_numpy``.
"""

from __future__ import annotations

import importlib

__all__ = ["get_backend", "cuda_available"]

_loaded = {}


def get_backend(device: str):
    """The backend module for ``device`` ("cpu" or "cuda")."""
    backend = _loaded.get(device)
    if backend is None:
        if device == "cpu":
            backend = importlib.import_module("minigrad.backends.cpu")
        elif device == "cuda":
            backend = importlib.import_module("minigrad.backends.cuda")
            backend.require_gpu()
        else:
            raise ValueError(f"get_backend: unknown device {device!r}; use 'cpu' or 'cuda'")
        _loaded[device] = backend
    return backend


def cuda_available() -> bool:
    """True when numba-cuda is installed and a GPU (or the CUDA simulator) is usable."""
    try:
        backend = importlib.import_module("minigrad.backends.cuda")
    except ImportError:
        return False
    return backend.is_available()
