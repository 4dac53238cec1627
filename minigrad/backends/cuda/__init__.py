"""The CUDA backend: ``numba.cuda`` kernels with the CPU backend's names and signatures.

Importing this package costs nothing: ``numba.cuda`` and the kernel modules load on the
first attribute access (``backend.im2col``), so ``cuda_available()`` and error messages
work even where numba-cuda is not installed.

Arrays on the device are ``CudaArray`` objects (``minigrad.backends.cuda.array``): NumPy
duck arrays over a numba device buffer, so ops written in NumPy vocabulary run unchanged.
Kernels accept ``CudaArray``, numba device arrays, or small host NumPy arrays (index
tables), which they copy to the device.
"""

from __future__ import annotations

import importlib
import shutil

__all__ = ["is_available", "require_gpu"]

# Submodules whose ``__all__`` together form the backend's namespace, as in the CPU backend.
# ``functions`` exports nothing: loading it registers CudaArray's NumPy functions (array.FUNCTIONS).
_MODULES = ("array", "functions", "allocator", "conv", "conv_plan", "channels_last", "memory_format",
            "pool", "upsample", "norm", "activation", "fused", "gemm")
_names = None


def is_available() -> bool:
    """True when numba-cuda is importable and a GPU (or Numba's CUDA simulator) answers."""
    try:
        from numba import cuda
    except ImportError:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:
        return False


def require_gpu() -> None:
    """Return when CUDA is usable; raise ``RuntimeError`` saying why when it is not."""
    try:
        from numba import cuda  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(
            "CUDA requested but no GPU found: numba's CUDA support is not installed "
            "(pip install 'minigrad[cuda]')"
        ) from exc
    if not is_available():
        why = "no NVIDIA driver (nvidia-smi not found)" if shutil.which("nvidia-smi") is None else \
            "numba.cuda.is_available() is False (driver or device unusable)"
        raise RuntimeError(f"CUDA requested but no GPU found: {why}")


def _namespace() -> dict:
    global _names
    if _names is None:
        names = {}
        for mod in _MODULES:
            module = importlib.import_module(f"{__name__}.{mod}")
            names.update({n: getattr(module, n) for n in module.__all__})
        # Importing a submodule binds its name here (``gemm`` the module); the kernel of the
        # same name wins, as in the CPU package's star imports, and later lookups skip __getattr__.
        globals().update(names)
        _names = names
    return _names


def __getattr__(name):
    # PEP 562: kernels are looked up lazily, so importing the package never imports numba.cuda.
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return _namespace()[name]
    except KeyError:
        raise AttributeError(f"minigrad.backends.cuda has no kernel or helper named {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(_namespace()))
