"""Whether Numba's on-disk cache already holds the CPU kernels (so the first batch will not wait).

Kernels are compiled with ``cache=True``: the first run after installing (or with an empty
``NUMBA_CACHE_DIR``) compiles them, later runs load the machine code. ``kernels_cached`` looks
for the cache index files Numba writes beside each cached kernel, without compiling anything.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

# No __all__ entries: a probe for progress reporting, not a kernel (see ``backends/contract.py``);
# ``minigrad.progress`` imports it by name.
__all__: list[str] = []


def _index_paths():
    from numba.core.registry import CPUDispatcher

    package = __name__.rsplit(".", 1)[0]  # this backend's package, without importing it from here
    for info in pkgutil.iter_modules([os.path.dirname(__file__)]):
        module = importlib.import_module(f"{package}.{info.name}")
        for value in vars(module).values():
            cache_file = getattr(getattr(value, "_cache", None), "_cache_file", None)
            if isinstance(value, CPUDispatcher) and cache_file is not None:
                yield cache_file._index_path


def kernels_cached() -> bool:
    """True when Numba's cache holds compiled CPU kernels of this installation (any of them).

    False means an empty cache: the first training step compiles every kernel it needs.
    """
    return any(os.path.exists(p) for p in _index_paths())
