"""Launch helpers shared by the CUDA kernel modules: grid sizes, ``launch`` and argument unwrapping."""

from __future__ import annotations

import numpy as np
from numba import config, cuda

__all__ = []

#: True under Numba's CUDA simulator, where every thread is a Python thread: launches
#: stay small there (the kernels are the same, only the block size changes).
SIMULATED = bool(config.ENABLE_CUDASIM)

#: Threads per block of the 1-D elementwise kernels.
THREADS = 32 if SIMULATED else 256
#: Threads per block of the block-per-row reductions (a power of two).
REDUCE_THREADS = 8 if SIMULATED else 256
#: Upper bound on blocks of grid-stride kernels: enough to fill any current GPU.
MAX_BLOCKS = 4 if SIMULATED else 65535


def blocks(n: int, threads: int = THREADS) -> int:
    """Blocks for a grid-stride loop over ``n`` items."""
    return max(1, min(MAX_BLOCKS, (int(n) + threads - 1) // threads))


def launch(kernel, n, *args):
    """Run a grid-stride ``kernel`` over ``n`` items."""
    if n:
        kernel[blocks(n), THREADS](*args)


def dev(x):
    """The numba device array behind ``x`` (a CudaArray, a device array, or a host array to copy)."""
    inner = getattr(x, "_dev", None)
    if inner is not None:
        return inner()
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return cuda.to_device(np.ascontiguousarray(x))
    if cuda.is_cuda_array(x):
        return x
    raise TypeError(f"cuda backend: expected a CudaArray, device array or NumPy array, got {type(x).__name__}")


def dev_out(x, kernel: str):
    """The device array behind an output argument; a host array there is an error, not a copy.

    Copying a host output to the device would let the kernel fill a temporary while the
    caller reads its untouched host array.
    """
    if isinstance(x, np.ndarray):
        raise TypeError(f"{kernel}: output of shape {x.shape} is a host NumPy array; allocate it with the "
                        f"CUDA backend's empty()/zeros()")
    return dev(x)
