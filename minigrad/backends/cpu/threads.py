"""How many threads the CPU backend uses, for Numba's parallel kernels and for OpenBLAS's GEMMs.

A training step alternates Numba kernels (im2col, pooling, ...) with NumPy matmuls, and the
two libraries each own a thread pool. Their default waiting policies fight: after a parallel
region, Numba's OpenMP workers spin for a while, so on a 2-core machine the OpenBLAS call that
follows has to share its cores with spinning threads. Measured on a LeNet-5 training step
(batch 64, 2 cores, load 1.6-2.4; table in docs/README-perf.md): 45-52 ms with both pools
at 2 threads and spinning OpenMP workers, 12-13 ms with the policy below.

The policy:

- Numba's threading layer is started with ``OMP_WAIT_POLICY=PASSIVE`` (idle workers sleep
  instead of spinning) unless the user chose ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``
  themselves. The variable is set only while the layer starts and then restored, so child
  processes and other OpenMP users keep their own defaults. (libgomp reads it once, when it
  is loaded; a process that loaded libgomp earlier, e.g. by importing torch first, keeps the
  policy it started with.)
- Both pools get the same thread count: ``MINIGRAD_NUM_THREADS`` if set, else every core
  that Numba sees. ``set_num_threads(n)`` changes it at any time.
- Small kernel calls run single-threaded regardless (``serial_when_small`` below),
  and so do small GEMMs (``gemm`` in ``gemm.py``): a second thread saves microseconds on them when
  the machine is idle, but when another process holds the other core the caller waits for
  a worker that cannot run - 4-5 ms per LeNet-5 linear layer instead of 15-70 us.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os

import numba
import numpy as np

from ...configuration import config


# No __all__ entries: these are not kernels (the backends' kernel lists must match, and the
# CUDA backend has no thread pools to size); the package imports them by name.
__all__: list[str] = []

_ENV = "MINIGRAD_NUM_THREADS"
# Names under which OpenBLAS builds export their setter: NumPy >= 2 wheels bundle
# scipy-openblas with 64-bit integers and a prefix; older wheels and system builds don't.
_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")
_CORENAMES = ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename")

_threads = None  # the count chosen by set_num_threads, restored after a serial GEMM
_blas = None  # (setter, getter) once looked up; (None, None) when no OpenBLAS was found


def _openblas_candidates() -> list[str]:
    """Paths of the OpenBLAS shared libraries this process has loaded (Linux) or NumPy bundles."""
    paths = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "openblas" in path.lower() and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    root = os.path.dirname(os.path.dirname(np.__file__))
    for pattern in ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*", "scipy_openblas*/lib/*openblas*"):
        paths += [p for p in glob.glob(os.path.join(root, pattern)) if p not in paths]
    return paths


def openblas_libraries():
    """The OpenBLAS libraries this process can call, as ``ctypes`` handles (``threads.py``, ``cblas.py``).

    Yields:
        ``ctypes.CDLL`` of each candidate that loads: the library NumPy already loaded, so the
        same handle, no second copy.
    """
    for path in _openblas_candidates():
        try:
            yield ctypes.CDLL(path)
        except OSError:
            continue


def _first_symbol(lib, names):
    """The first of ``names`` that ``lib`` exports, else None."""
    return next((getattr(lib, name) for name in names if hasattr(lib, name)), None)


def _blas_functions():
    """OpenBLAS's (set_num_threads, get_num_threads), or (None, None) if NumPy does not use OpenBLAS."""
    global _blas
    if _blas is None:
        _blas = (None, None)
        for lib in openblas_libraries():
            setter, getter = _first_symbol(lib, _SETTERS), _first_symbol(lib, _GETTERS)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                _blas = (setter, getter)
                break
    return _blas


def _call_openblas(names, restype):
    """The result of the first of ``names`` (a no-argument OpenBLAS function) found, or None without OpenBLAS."""
    for lib in openblas_libraries():
        fn = _first_symbol(lib, names)
        if fn is not None:
            fn.argtypes, fn.restype = [], restype
            return fn()
    return None


def openblas_corename() -> str | None:
    """The kernel OpenBLAS chose for this CPU (e.g. ``"SkylakeX"``, ``"Haswell"``), or None without OpenBLAS.

    ``$OPENBLAS_CORETYPE`` overrides the choice when NumPy loads OpenBLAS; the benchmarks record
    this name with their results, since it decides the GEMMs' speed.
    """
    name = _call_openblas(_CORENAMES, ctypes.c_char_p)
    return None if name is None else name.decode()


def openblas_thread_timeout() -> int | None:
    """The ``$OPENBLAS_THREAD_TIMEOUT`` OpenBLAS started with (0: unset, its workers spin 2**28 cycles), None without OpenBLAS."""
    return _call_openblas(("openblas_thread_timeout",), ctypes.c_int)


def blas_num_threads() -> int | None:
    """OpenBLAS's current thread count, or None when NumPy's BLAS is not an OpenBLAS we can reach."""
    getter = _blas_functions()[1]
    return None if getter is None else int(getter())


def get_num_threads() -> int:
    """The number of threads of Numba's parallel kernels (OpenBLAS is kept at the same count)."""
    return numba.get_num_threads()


def set_num_threads(n: int) -> int:
    """Use ``n`` threads for Numba's parallel kernels and for OpenBLAS's GEMMs.

    Args:
        n: a positive thread count; values above the number of threads Numba started with
            (``NUMBA_NUM_THREADS``, by default the number of cores) are clipped to it.

    Returns:
        The previous Numba thread count.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    global _threads
    previous = numba.get_num_threads()
    n = min(int(n), numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)
    setter = _blas_functions()[0]
    if setter is not None:
        setter(n)
    _threads = n
    return previous


def blas_threads():
    """(OpenBLAS's thread-count setter, the count ``set_num_threads`` chose), for ``gemm.py``'s policy.

    Returns:
        ``(setter, n)``; the setter is None when NumPy's BLAS is not an OpenBLAS we can
        reach, and ``n`` is None before the first ``set_num_threads``.
    """
    return (_blas[0] if _blas is not None else _blas_functions()[0]), _threads


def blas_call(flops: int, call) -> None:
    """Run ``call()``, a BLAS product of ``flops`` floating-point operations, on one OpenBLAS thread when small.

    The GEMM side of the policy above: below ``mg.config.blas_serial_below`` operations a second
    OpenBLAS thread saves microseconds when the machine is idle and costs milliseconds when the
    other core is busy (``gemm.py`` has the measurements). ``gemm.py``'s ``gemm`` and
    ``cblas.py``'s ``gemm_accumulate`` both go through it.
    """
    setter, threads = blas_threads()
    if setter is None or threads is None or threads == 1 or flops >= config.blas_serial_below:
        call()
        return
    setter(1)
    try:
        call()
    finally:
        setter(threads)


def serial_when_small(kernel):
    """Wrap a parallel kernel so that small calls run single-threaded (same signature and result).

    Calls touching fewer than ``mg.config.serial_below`` elements run on one thread: waking
    the thread pool costs more than the work, and on a loaded machine a parallel region can
    stall for ms.
    """

    @functools.wraps(kernel)
    def launch(*args):
        work = max(a.size for a in args if isinstance(a, np.ndarray))
        if work >= config.serial_below:
            return kernel(*args)
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return kernel(*args)
        finally:
            numba.set_num_threads(threads)

    launch.kernel = kernel
    return launch


def threads_from_env() -> int | None:
    """``$MINIGRAD_NUM_THREADS`` as a positive int, None when unset or empty (the one place that reads it)."""
    value = os.environ.get(_ENV)
    if value is None or value.strip() == "":
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"{_ENV}: expected a positive integer, got {value!r}") from None
    if n < 1:
        raise ValueError(f"{_ENV}: expected a positive integer, got {value!r}")
    return n


def _start_threading_layer() -> None:
    """Start Numba's thread pool with sleeping (not spinning) idle workers, restoring the environment after."""
    from numba.np.ufunc import parallel

    if parallel._is_initialized or "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        parallel._launch_threads()
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        parallel._launch_threads()
    finally:
        del os.environ["OMP_WAIT_POLICY"]


def configure() -> None:
    """Apply the policy above; called once when the CPU backend is imported."""
    _start_threading_layer()
    set_num_threads(threads_from_env() or numba.config.NUMBA_NUM_THREADS)
