"""Import NumPy with OpenBLAS's idle workers sleeping soon, when minigrad is imported before NumPy.

OpenBLAS reads ``$OPENBLAS_THREAD_TIMEOUT`` once, when NumPy loads it. By default its idle
workers spin for 2**28 cycles (about 0.1 s) after every threaded GEMM, and on a 2-core machine
a Numba parallel kernel that runs in that time shares each core with a spinning worker:
``strips.py``'s register-tiled convolution took 2.97 instead of 1.65 ms right after a 512^3
sgemm, and a CIFAR ResNet-18 step with it 1163 instead of 959 ms. With the variable at 16
(2**16 cycles, some microseconds) the workers sleep before the next kernel starts. The
variable is set only while NumPy loads, then restored, as ``backends/cpu/threads.py`` does
for Numba's OpenMP workers; a value the user set is kept, and if NumPy was already imported
nothing changes (``backends/cpu/threads.openblas_thread_timeout`` tells what OpenBLAS runs
with, and the strips keep BLAS's GEMMs when its workers spin).

No NumPy import at module level here: this module runs before any of minigrad's.
"""

import os
import sys

__all__ = ["load_numpy", "THREAD_TIMEOUT"]

#: log2 of the cycles OpenBLAS's idle workers spin before they sleep (OpenBLAS's own default: 28).
THREAD_TIMEOUT = 16
_VARIABLE = "OPENBLAS_THREAD_TIMEOUT"


def load_numpy() -> None:
    """Import NumPy, with ``$OPENBLAS_THREAD_TIMEOUT`` set to ``THREAD_TIMEOUT`` while it loads if unset."""
    if "numpy" in sys.modules or _VARIABLE in os.environ:
        import numpy  # noqa: F401
        return
    os.environ[_VARIABLE] = str(THREAD_TIMEOUT)
    try:
        import numpy  # noqa: F401
    finally:
        del os.environ[_VARIABLE]
