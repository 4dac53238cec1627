"""Kernel timing table: the NumPy reference, the CPU backend and the GPU backend, side by side.

Each row is one kernel chain at the shapes of a real network (LeNet-5 and CIFAR
ResNet-18 convolutions, GEMMs, pooling, unpooling, upsampling, batch norm) or a full
training step of a model (the rows themselves are in ``minigrad.bench_kernels``, the table,
JSON, chart and progress display in ``minigrad.bench_report``).

The default plan is sized to finish in about a minute on a 2-core laptop: the stem and one
3x3 layer per ResNet-18 stage, cells timed for up to ``repeats`` runs or ``budget`` seconds,
and the slow plain-NumPy reference only on rows of up to 0.5 GFLOP. ``full=True`` adds every
ResNet-18 shape (stride-2 layers, 1x1 shortcuts) and the reference on every row.
GFLOP/s is reported for compute-bound rows (convolution, GEMM), GB/s (bytes read + written
once) for memory-bound rows, both for the fastest backend.

Example:
    >>> result = run_bench(devices=("cpu",), model="lenet5", batch_size=8, repeats=3)
    >>> print_table(result)
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
import time
from typing import Sequence

import numpy as np

from .bench_kernels import (GEMM_SIZES, GPU_GEMM_SIZES, LENET5, MEMORY_ROWS, REFERENCE_MAX_FLOPS, RESNET18,
                            RESNET18_DEFAULT, BenchJob, BenchRow, Timing, conv_jobs, gemm_jobs, memory_jobs,
                            step_job)
from .bench_report import BenchProgress, BenchResult, json_text, print_table, table_rows, write_chart, write_json

__all__ = ["BenchRow", "BenchResult", "BenchProgress", "run_bench", "bench_plan", "print_table", "table_rows",
           "write_json", "json_text", "write_chart", "gpu_status", "DEFAULT_REPEATS", "DEFAULT_BUDGET",
           "REFERENCE_MAX_FLOPS"]

DEFAULT_REPEATS = 10
DEFAULT_BUDGET = 0.5  # seconds of timed runs per cell


def gpu_status() -> tuple[bool, str]:
    """(usable, description): the GPU's name and driver, or why there is none."""
    from .backends import cuda_available

    try:
        usable = cuda_available()
    except Exception as exc:  # a broken driver install
        return False, f"numba.cuda failed to initialise ({exc})"
    if not usable:
        try:
            get = importlib.import_module("minigrad.backends.cuda").require_gpu
            get()
        except RuntimeError as exc:
            return False, str(exc).replace("CUDA requested but no GPU found: ", "")
        return False, "numba.cuda.is_available() is False"
    from numba import config, cuda

    if config.ENABLE_CUDASIM:
        return True, "Numba CUDA simulator (times are not GPU times)"
    dev = cuda.get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    try:
        driver = ".".join(map(str, cuda.cudadrv.driver.driver.get_version()))
    except Exception:
        driver = "unknown"
    return True, f"{name} (compute capability {dev.compute_capability}, CUDA driver {driver})"


# ------------------------------------------------------------------ plan
def bench_plan(devices: Sequence[str] = ("cpu",), model: str = "lenet5", batch_size: int = 32,
               only: str | None = None, step: bool = True, full: bool = False, notes: list | None = None
               ) -> list[BenchJob]:
    """The rows ``run_bench`` would time, in order, without timing anything.

    Args:
        devices: the devices that will run ("cuda" adds the GPU-only GEMM rows).
        model: the model of the training-step row.
        batch_size: images per batch (it sets each convolution row's arithmetic).
        only: keep only rows whose name contains this text (case-insensitive), chosen from the
            full set, so ``only="resnet18"`` gives every ResNet-18 shape.
        step: include the training-step row.
        full: every ResNet-18 layer shape instead of the stem and one 3x3 layer per stage.
        notes: where the training-step row reports a failure (``run_bench`` passes its notes).

    Returns:
        One ``BenchJob`` per row.
    """
    gpu = "cuda" in devices
    layers = LENET5 + [lay for lay in RESNET18 if full or only is not None or lay[0] in RESNET18_DEFAULT]
    jobs = conv_jobs(layers, batch_size)
    jobs += gemm_jobs(GEMM_SIZES + (GPU_GEMM_SIZES if gpu else ()), gpu)
    jobs += memory_jobs(batch_size, MEMORY_ROWS)
    if step:
        jobs.append(step_job(model, batch_size, notes if notes is not None else []))
    return [job for job in jobs if only is None or only.lower() in job.name.lower()]


# ------------------------------------------------------------------ driver
def run_bench(devices: Sequence[str] = ("cpu",), model: str = "lenet5", batch_size: int = 32,
              repeats: int = DEFAULT_REPEATS, torch: bool | None = None, only: str | None = None, step: bool = True,
              full: bool = False, budget: float = DEFAULT_BUDGET, reference: bool | None = None,
              progress=None) -> BenchResult:
    """Time every planned row (and a training step) on the requested devices.

    Args:
        devices: "cpu" and/or "cuda"; "cuda" is dropped with a note when no GPU is usable.
        model: the model whose training step is timed ("lenet5", "resnet18", ...).
        batch_size: images per batch for convolution, memory-bound and training rows.
        repeats: the most timed runs per cell (the median is reported).
        torch: add a PyTorch (CPU) column; None adds it when torch is importable.
        only: keep only rows whose name contains this substring (case-insensitive).
        step: include the training-step row.
        full: every ResNet-18 layer shape (see ``bench_plan``) and, unless ``reference`` says
            otherwise, the reference on every row.
        budget: seconds of timed runs after which a cell stops repeating (at least one run).
        reference: time the plain-NumPy reference column: True on every row, False on none,
            None on rows of up to ``REFERENCE_MAX_FLOPS`` (every row when ``full``).
        progress: an object with ``begin(total, header)``, ``row_begin(index, name)``,
            ``row_end(index, row, seconds)`` and ``end()`` (e.g. ``BenchProgress()``), or None.

    Returns:
        A ``BenchResult`` with one ``BenchRow`` per planned row.
    """
    from .backends import get_backend

    devices = tuple(dict.fromkeys(devices))
    for d in devices:
        if d not in ("cpu", "cuda"):
            raise ValueError(f"bench: unknown device {d!r}; use 'cpu' or 'cuda'")
    if batch_size < 1 or repeats < 1:
        raise ValueError(f"bench: batch_size and repeats must be >= 1, got {batch_size} and {repeats}")
    if not budget > 0:
        raise ValueError(f"bench: budget must be > 0 seconds, got {budget}")
    notes = []
    gpu_ok, gpu_desc = gpu_status() if "cuda" in devices else (False, None)
    if "cuda" in devices and not gpu_ok:
        notes.append(f"no GPU found: {gpu_desc} (CPU columns only)")
        devices = tuple(d for d in devices if d != "cuda")
    torch_mod = None
    if torch is not False and importlib.util.find_spec("torch") is not None:
        import torch as torch_mod
    elif torch:
        notes.append("torch column requested but PyTorch is not installed")
    if reference is None and full:
        reference = True
    timing = Timing({d: get_backend(d) for d in devices}, repeats, budget, batch_size, reference, torch_mod)
    jobs = bench_plan(devices, model, batch_size, only, step, full, notes)
    settings = {"batch_size": batch_size, "repeats": repeats, "budget_s": budget, "full": full,
                "reference": "all" if reference else "none" if reference is False
                else f"rows up to {REFERENCE_MAX_FLOPS / 1e9:g} GFLOP"}
    if progress is not None:
        progress.begin(len(jobs), f"timing {len(jobs)} rows on {', '.join(devices)}: up to {repeats} runs or "
                                  f"{budget:g} s per cell; reference column: {settings['reference']}")
    rows = []
    try:
        for i, job in enumerate(jobs):
            if progress is not None:
                progress.row_begin(i, job.name)
            start = time.perf_counter()
            rows.append(job.run(timing))
            if progress is not None:
                progress.row_end(i, rows[-1], time.perf_counter() - start)
    finally:
        if progress is not None:
            progress.end()
    gpu = gpu_desc if gpu_ok else None
    return BenchResult(rows, devices, gpu, notes, _environment(gpu), settings)


def _environment(gpu) -> dict:
    import numba

    env = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
           "machine": platform.machine(), "processor": platform.processor() or platform.machine(), "gpu": gpu}
    try:
        from importlib.metadata import version

        env["numba-cuda"] = version("numba-cuda")
    except Exception:
        env["numba-cuda"] = None
    return env
