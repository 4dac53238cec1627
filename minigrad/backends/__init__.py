"""Kernel backends. ``get_backend("cpu")`` is ``minigrad.backends.cpu``; CUDA is imported lazily.

Both backends implement one contract, ``contract.Backend`` (``contract.py``): the same kernel
names with the same signatures in the same file names (``cpu/pool.py``, ``cuda/pool.py``),
each filling a preallocated output, ``kernel(out, inputs..., integer parameters)``, plus the
array helpers ops and autograd need (``empty``, ``zeros``, ``from_numpy``, ...).
``contract.py`` is the one list of those names; ``tests/test_backend_contract.py`` checks
both packages against it.
"""

from __future__ import annotations

import importlib

from .contract import Backend

__all__ = ["get_backend", "cuda_available"]

_loaded = {}


def get_backend(device: str) -> Backend:
    """The backend module for ``device`` ("cpu" or "cuda"), an implementation of ``contract.Backend``."""
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
