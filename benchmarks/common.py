"""Timing helpers shared by the benchmarks: medians of repeats, NumPy's sgemm rate, JSON output.

Benchmarks are not tests: they print numbers and write them as JSON; nothing asserts on them.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from typing import Callable

import numpy as np

__all__ = ["median_time", "sgemm_gflops", "environment", "write_json", "print_table"]


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1, setup: Callable[[], object] | None = None) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs, after ``warmup`` untimed runs.

    Args:
        fn: the work to time.
        repeats: timed runs; the median resists outliers from other processes.
        warmup: untimed runs first (JIT compilation, page faults, caches).
        setup: called, untimed, before every run (e.g. to rebuild a graph that ``fn`` consumes).

    Returns:
        Seconds.
    """
    for _ in range(warmup):
        if setup is not None:
            setup()
        fn()
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """NumPy's float32 matmul rate on an (n x n) @ (n x n) product, in GFLOP/s (2*n^3 flops).

    This is the ceiling for im2col convolution on this machine: the conv GEMMs run on the
    same BLAS, so a conv's rate divided by this one says how much the im2col/col2im
    overhead and the GEMM shapes cost.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    seconds = median_time(lambda: np.matmul(a, b, out=out), repeats=repeats, warmup=1)
    return 2.0 * n**3 / seconds / 1e9


def environment() -> dict:
    """Machine and library versions, stored with every result."""
    import numba

    from minigrad.backends.cpu.threads import openblas_corename, openblas_thread_timeout

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": cpus,
        "numba_threads": numba.get_num_threads(),
        "openblas_core": openblas_corename(),
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"),
        "openblas_thread_timeout": openblas_thread_timeout(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def write_json(path: str, payload: dict) -> None:
    """Write ``payload`` plus ``environment()`` and a timestamp as indented JSON."""
    record = {"environment": environment(), "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **payload}
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
        json.dump(record, f, indent=2)


def print_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> None:
    """Print rows as an aligned table.

    Args:
        rows: one dict per row.
        columns: ``(key, header, format)`` triples, e.g. ``("ms", "ms", "{:.2f}")``; a missing or
            None value prints as "-".
    """
    cells = [[h for _, h, _ in columns]]
    for row in rows:
        cells.append([("-" if row.get(k) is None else fmt.format(row[k])) for k, _, fmt in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for i, r in enumerate(cells):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
