"""The CUDA backend (``numba.cuda``), imported only when a CUDA device is used."""

from __future__ import annotations


def is_available() -> bool:
    """True when numba-cuda is importable and a GPU (or the simulator) answers."""
    try:
        from numba import cuda
    except ImportError:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:
        return False


def require_gpu() -> None:
    """Raise a clear error when CUDA was asked for but cannot be used."""
    try:
        from numba import cuda  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(
            "CUDA requested but numba's CUDA support is not installed: pip install 'minigrad[cuda]'"
        ) from exc
    if not is_available():
        raise RuntimeError("CUDA requested but no GPU found: numba.cuda.is_available() is False (no device or driver)")
    raise RuntimeError("CUDA requested but minigrad's CUDA kernels are not part of this build yet")
