"""Kernel timing table: the NumPy reference, the CPU backend and the GPU backend, side by side.

Each row is one kernel chain at the shapes of a real network (LeNet-5 and CIFAR
ResNet-18 convolutions, GEMMs, pooling, unpooling, upsampling, batch norm) or a full
training step of a model. The CPU and GPU columns run the *same* code on the two
backends: the kernels have the same names and signatures and ``CudaArray`` answers
NumPy's vocabulary, so ``w @ cols`` is BLAS on the CPU and our tiled GEMM on the GPU.

Timing rules: CPU times are medians of ``repeats`` wall-clock runs after one warm-up
run; GPU times are medians of CUDA-event intervals after a warm-up launch (which also
compiles the kernels). GFLOP/s is reported for compute-bound rows (convolution, GEMM),
GB/s (bytes read + written once) for memory-bound rows, both for the fastest backend.

Example:
    >>> result = run_bench(devices=("cpu",), model="lenet5", batch_size=8, repeats=3)
    >>> print_table(result)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import platform
import statistics
import time
from typing import Callable, Sequence

import numpy as np

from . import reference as ref

__all__ = ["BenchRow", "BenchResult", "run_bench", "print_table", "write_json", "write_chart", "gpu_status"]

COLUMNS = ("reference", "cpu", "cuda", "torch")

# (name, C, H, O, kernel, stride, padding) for square inputs of size H.
LENET5 = [("lenet5.c1 1->6 5x5", 1, 32, 6, 5, 1, 0), ("lenet5.c3 6->16 5x5", 6, 14, 16, 5, 1, 0)]
RESNET18 = [  # CIFAR ResNet-18 (3x3 stem, no max pool), 32x32 input
    ("resnet18.conv1 3->64", 3, 32, 64, 3, 1, 1),
    ("resnet18.layer1 64->64", 64, 32, 64, 3, 1, 1),
    ("resnet18.layer2 64->128 s2", 64, 32, 128, 3, 2, 1),
    ("resnet18.layer2 128->128", 128, 16, 128, 3, 1, 1),
    ("resnet18.layer2 shortcut 64->128 1x1 s2", 64, 32, 128, 1, 2, 0),
    ("resnet18.layer3 128->256 s2", 128, 16, 256, 3, 2, 1),
    ("resnet18.layer3 256->256", 256, 8, 256, 3, 1, 1),
    ("resnet18.layer3 shortcut 128->256 1x1 s2", 128, 16, 256, 1, 2, 0),
    ("resnet18.layer4 256->512 s2", 256, 8, 512, 3, 2, 1),
    ("resnet18.layer4 512->512", 512, 4, 512, 3, 1, 1),
    ("resnet18.layer4 shortcut 256->512 1x1 s2", 256, 8, 512, 1, 2, 0),
]
GEMM_SIZES = (256, 1024)
GPU_GEMM_SIZES = (4096,)  # the target size; too slow for the CPU columns


@dataclasses.dataclass
class BenchRow:
    """One line of the table: times in seconds per column (None: not run)."""

    name: str
    flops: float = 0.0
    bytes: float = 0.0
    times: dict = dataclasses.field(default_factory=dict)
    note: str = ""

    def best(self):
        """(column, seconds) of the fastest backend (GPU or CPU, not the reference)."""
        cands = [(c, self.times.get(c)) for c in ("cuda", "cpu") if self.times.get(c)]
        return min(cands, key=lambda kv: kv[1]) if cands else (None, None)


@dataclasses.dataclass
class BenchResult:
    rows: list
    devices: tuple
    gpu: str | None
    notes: list
    environment: dict


# ------------------------------------------------------------------ timers
def _time_cpu(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _time_gpu(fn: Callable[[], object], repeats: int) -> float:
    from numba import cuda

    fn()
    cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = cuda.event(), cuda.event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    t = statistics.median(times)
    return t if t > 0 else None  # the simulator's events have no clock


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


# ------------------------------------------------------------- benchmarks
def _conv_rows(layers, batch, backends, repeats, timers, torch_mod):
    rows = []
    for name, C, H, O, K, S, P in layers:
        OH = (H + 2 * P - K) // S + 1
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, C, H, H), dtype=np.float32)
        w = (rng.standard_normal((O, C, K, K), dtype=np.float32) * 0.1)
        dy = rng.standard_normal((batch, O, OH, OH), dtype=np.float32)
        L = batch * OH * OH
        flops = 2.0 * batch * O * OH * OH * C * K * K
        fwd = BenchRow(f"conv2d fwd {name}", flops, 4.0 * (x.size + w.size + dy.size))
        bwd = BenchRow(f"conv2d bwd {name}", 2 * flops, 4.0 * (2 * x.size + 2 * w.size + dy.size))
        fwd.times["reference"] = _time_cpu(lambda: ref.conv2d(x, w, stride=S, padding=P), repeats)
        bwd.times["reference"] = _time_cpu(lambda: _conv_backward_reference(x, w, dy, S, P), repeats)
        params = (K, K, S, S, P, P, 1, 1, OH, OH)
        for dev, backend in backends.items():
            X, W2, DY = backend.from_numpy(x), backend.from_numpy(w.reshape(O, -1)), backend.from_numpy(dy)
            cols = backend.empty((C * K * K, L), np.float32)
            dx = backend.empty(x.shape, np.float32)

            def forward(backend=backend, X=X, W2=W2, cols=cols):
                backend.im2col(cols, X, *params)
                return (W2 @ cols).reshape(O, batch, OH * OH).transpose(1, 0, 2)

            def backward(backend=backend, W2=W2, cols=cols, DY=DY, dx=dx):
                d2 = DY.reshape(batch, O, OH * OH).transpose(1, 0, 2).reshape(O, L)
                dw = d2 @ cols.T
                backend.col2im(dx, W2.T @ d2, *params)
                return dw

            forward()
            fwd.times[dev] = timers[dev](forward, repeats)
            bwd.times[dev] = timers[dev](backward, repeats)
        if torch_mod is not None:
            tx, tw = torch_mod.from_numpy(x).requires_grad_(), torch_mod.from_numpy(w).requires_grad_()
            tdy = torch_mod.from_numpy(dy)
            conv = torch_mod.nn.functional.conv2d
            fwd.times["torch"] = _time_cpu(lambda: conv(tx, tw, stride=S, padding=P), repeats)
            bwd.times["torch"] = _time_cpu(
                lambda: torch_mod.autograd.grad(conv(tx, tw, stride=S, padding=P), (tx, tw), tdy), repeats)
        rows += [fwd, bwd]
    return rows


def _conv_backward_reference(x, w, dy, stride, padding):
    """dW from the course's einsum over windows, dX as the transposed convolution of dY."""
    from numpy.lib.stride_tricks import sliding_window_view

    K = w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = sliding_window_view(xp, (K, K), axis=(2, 3))[:, :, ::stride, ::stride]
    dw = np.einsum("nchwkl,nohw->ockl", win, dy)
    out_pad = x.shape[2] + 2 * padding - K - (dy.shape[2] - 1) * stride
    dx = ref.conv_transpose2d(dy, w, stride=stride, padding=padding, output_padding=out_pad)
    return dw, dx


def _gemm_rows(sizes, backends, repeats, timers, torch_mod, reference=True):
    rows = []
    for n in sizes:
        rng = np.random.default_rng(1)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        row = BenchRow(f"gemm {n}x{n}x{n}", 2.0 * n ** 3, 12.0 * n * n)
        if reference and n <= 512:
            row.times["reference"] = _time_cpu(lambda: np.einsum("ik,kj->ij", a, b), repeats)
        for dev, backend in backends.items():
            if dev == "cpu" and n > max(GEMM_SIZES):
                continue
            A, B = backend.from_numpy(a), backend.from_numpy(b)
            row.times[dev] = timers[dev](lambda A=A, B=B: A @ B, repeats)
        if torch_mod is not None and n <= max(GEMM_SIZES):
            ta, tb = torch_mod.from_numpy(a), torch_mod.from_numpy(b)
            row.times["torch"] = _time_cpu(lambda: ta @ tb, repeats)
        rows.append(row)
        if "cuda" in backends and n >= 1024:
            # The other tiling of our GEMM, so one run on a GPU shows which to make the default.
            from .backends.cuda.gemm import LARGE_CONFIG, gemm

            be = backends["cuda"]
            A3, B3, C3 = be.from_numpy(a[None]), be.from_numpy(b[None]), be.empty((1, n, n), np.float32)
            alt = BenchRow(f"gemm {n}x{n}x{n} (128x128 tiles, 8x8 per thread)", row.flops, row.bytes)
            alt.times["cuda"] = timers["cuda"](lambda: gemm(C3, A3, B3, config=LARGE_CONFIG), repeats)
            rows.append(alt)
    return rows


MEMORY_ROWS = ("max_pool2d 2x2 fwd (64x32x32)", "max_pool2d 2x2 bwd", "max_unpool2d 2x2", "upsample nearest 2x",
               "upsample bilinear 2x", "batch_norm fwd (train)", "batch_norm bwd")


def _memory_rows(batch, backends, repeats, timers, torch_mod, keep):
    """Pooling, unpooling, upsampling and batch norm on a (batch, 64, 32, 32) activation."""
    rng = np.random.default_rng(2)
    N, C, H = batch, 64, 32
    x = rng.standard_normal((N, C, H, H), dtype=np.float32)
    planes = x.reshape(N * C, H, H)
    P, OH = N * C, H // 2
    out = np.empty((P, OH, OH), np.float32)
    ind = np.empty((P, OH, OH), np.int64)
    get_cpu = backends.get("cpu") or _cpu_backend()
    get_cpu.max_pool2d_forward(out, ind, planes, 2, 2, 2, 2, 0, 0, 1, 1)
    pooled, indices = out.reshape(N, C, OH, OH), ind.reshape(N, C, OH, OH)
    up_src = np.arange(2 * H) // 2
    lo = np.minimum(np.floor(np.maximum((np.arange(2 * H) + 0.5) / 2 - 0.5, 0)).astype(np.int64), H - 1)
    hi = np.minimum(lo + 1, H - 1)
    lam = np.maximum((np.arange(2 * H) + 0.5) / 2 - 0.5, 0) - lo
    size = 4.0 * x.size
    rows = []

    def add(name, nbytes, reference, make):
        if not keep(name):
            rows.append(None)
            return
        row = BenchRow(name, 0.0, nbytes)
        row.times["reference"] = _time_cpu(reference, 1 if batch > 2 else repeats)
        for dev, backend in backends.items():
            row.times[dev] = timers[dev](make(backend), repeats)
        rows.append(row)
        return row

    def pool_fwd(be):
        X, o, i = be.from_numpy(planes), be.empty((P, OH, OH), np.float32), be.empty((P, OH, OH), np.int64)
        return lambda: be.max_pool2d_forward(o, i, X, 2, 2, 2, 2, 0, 0, 1, 1)

    def pool_bwd(be):
        g, i, dx = be.from_numpy(out.reshape(P, -1)), be.from_numpy(ind.reshape(P, -1)), be.empty((P, H * H))
        return lambda: be.scatter_add_planes(dx, g, i)

    def unpool(be):
        v, i, o = be.from_numpy(out.reshape(P, -1)), be.from_numpy(ind.reshape(P, -1)), be.empty((P, H * H))
        return lambda: be.scatter_planes(o, v, i)

    def nearest(be):
        X, o = be.from_numpy(planes), be.empty((P, 2 * H, 2 * H), np.float32)
        s = be.from_numpy(up_src)
        return lambda: be.nearest_forward(o, X, s, s)

    def bilinear(be):
        X, o = be.from_numpy(planes), be.empty((P, 2 * H, 2 * H), np.float32)
        t = [be.from_numpy(a) for a in (lo, hi, lam)]
        return lambda: be.bilinear_forward(o, X, *t, *t)

    def bn(be):
        X = be.from_numpy(x.reshape(N, C, H * H))
        mean, var, o = be.empty(C, np.float64), be.empty(C, np.float64), be.empty((N, C, H * H), np.float32)
        w, b = be.from_numpy(np.ones(C, np.float32)), be.from_numpy(np.zeros(C, np.float32))

        def run():
            be.batch_norm_stats(mean, var, X)
            be.batch_norm_normalize(o, X, mean, 1.0 / np.sqrt(var + 1e-5), w, b)
        return run

    def bn_bwd(be):
        X, dy = be.from_numpy(x.reshape(N, C, H * H)), be.from_numpy(x.reshape(N, C, H * H))
        m, s = be.from_numpy(np.zeros(C)), be.from_numpy(np.ones(C))
        w = be.from_numpy(np.ones(C, np.float32))
        dx, dw, db = be.empty((N, C, H * H), np.float32), be.empty(C, np.float64), be.empty(C, np.float64)
        return lambda: be.batch_norm_backward(dx, dw, db, dy, X, m, s, w, 1)

    mean, var = np.zeros(C, np.float32), np.ones(C, np.float32)
    add(MEMORY_ROWS[0], size * 1.5 + 8 * x.size / 4, lambda: ref.max_pool2d(x, 2), pool_fwd)
    add("max_pool2d 2x2 bwd", size + size / 4 * 3, lambda: _unpool_add_reference(out, ind, H), pool_bwd)
    add("max_unpool2d 2x2", size + size / 4 * 3, lambda: ref.max_unpool2d(pooled, indices, (H, H)), unpool)
    add("upsample nearest 2x", size * 5, lambda: ref.interpolate_nearest(x, (2 * H, 2 * H)), nearest)
    add("upsample bilinear 2x", size * 5, lambda: ref.interpolate_bilinear(x, (2 * H, 2 * H)), bilinear)
    add("batch_norm fwd (train)", size * 3, lambda: ref.batch_norm(x, mean, var, training=True), bn)
    add("batch_norm bwd", size * 4, lambda: _bn_backward_reference(x), bn_bwd)
    if torch_mod is not None:
        tx = torch_mod.from_numpy(x)
        F = torch_mod.nn.functional
        torch_fns = [lambda: F.max_pool2d(tx, 2, return_indices=True), None, None,
                     lambda: F.interpolate(tx, scale_factor=2, mode="nearest"),
                     lambda: F.interpolate(tx, scale_factor=2, mode="bilinear"),
                     lambda: F.batch_norm(tx, None, None, training=True), None]
        for row, fn in zip(rows, torch_fns):
            if fn is not None and row is not None:
                row.times["torch"] = _time_cpu(fn, repeats)
    return [row for row in rows if row is not None]


def _unpool_add_reference(values, indices, H):
    out = np.zeros((values.shape[0], H * H), values.dtype)
    for p in range(values.shape[0]):
        np.add.at(out[p], indices[p].ravel(), values[p].ravel())
    return out


def _bn_backward_reference(x):
    """The course's batch-norm gradient formula in plain NumPy (dy = x, weight 1)."""
    axes = (0, 2, 3)
    m = x.mean(axis=axes, keepdims=True)
    s = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
    xhat = (x - m) * s
    dy = x
    return s * (dy - dy.mean(axis=axes, keepdims=True) - xhat * (dy * xhat).mean(axis=axes, keepdims=True))


def _cpu_backend():
    from .backends import get_backend

    return get_backend("cpu")


def _step_row(model_name, batch, devices, repeats, timers, notes):
    """One SGD training step (forward, cross-entropy, backward, update) of ``model_name``."""
    import minigrad as mg
    from minigrad import models

    info = models.model_info(model_name)
    in_size = (3, 32, 32) if model_name.startswith("resnet") else tuple(info["input_size"])
    kwargs = {"num_classes": 10, "in_channels": in_size[0]}
    if model_name.startswith("resnet"):
        kwargs["small_input"] = True  # CIFAR ResNet: 3x3 stem, no max pool
    row = BenchRow(f"train step {model_name} (batch {batch}, {in_size[1]}x{in_size[2]})")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((batch,) + in_size, dtype=np.float32)
    y = rng.integers(0, 10, batch)
    for dev in devices:
        try:
            mg.manual_seed(0)
            model = models.get_model(model_name, **kwargs).to(dev)
            opt = mg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            X = mg.Tensor(x).to(dev)

            def step(model=model, opt=opt, X=X):
                opt.zero_grad()
                loss = mg.functional.cross_entropy(model(X), y)
                loss.backward()
                opt.step()
                return loss

            row.times[dev] = timers[dev](step, repeats)
        except Exception as exc:  # report, don't abort the table: a backend may lack an op
            notes.append(f"train step on {dev}: {type(exc).__name__}: {exc}")
    return row


# ------------------------------------------------------------------ driver
def run_bench(devices: Sequence[str] = ("cpu",), model: str = "lenet5", batch_size: int = 32, repeats: int = 5,
              torch: bool | None = None, only: str | None = None, step: bool = True) -> BenchResult:
    """Time every kernel row (and a training step) on the requested devices.

    Args:
        devices: "cpu" and/or "cuda"; "cuda" is dropped with a note when no GPU is usable.
        model: the model whose training step is timed ("lenet5", "resnet18", ...).
        batch_size: images per batch for convolution, memory-bound and training rows.
        repeats: timed runs per cell (the median is reported).
        torch: add a PyTorch (CPU) column; None adds it when torch is importable.
        only: keep only rows whose name contains this substring (case-insensitive).
        step: include the training-step row.

    Returns:
        A ``BenchResult`` with one ``BenchRow`` per kernel and for the training step.
    """
    from .backends import get_backend

    devices = tuple(dict.fromkeys(devices))
    for d in devices:
        if d not in ("cpu", "cuda"):
            raise ValueError(f"bench: unknown device {d!r}; use 'cpu' or 'cuda'")
    if batch_size < 1 or repeats < 1:
        raise ValueError(f"bench: batch_size and repeats must be >= 1, got {batch_size} and {repeats}")
    notes = []
    gpu_ok, gpu_desc = gpu_status() if "cuda" in devices else (False, None)
    if "cuda" in devices and not gpu_ok:
        notes.append(f"no GPU found: {gpu_desc} (CPU columns only)")
        devices = tuple(d for d in devices if d != "cuda")
    backends = {d: get_backend(d) for d in devices}
    timers = {"cpu": _time_cpu, "cuda": _time_gpu}
    torch_mod = None
    if torch is not False and importlib.util.find_spec("torch") is not None:
        import torch as torch_mod
    elif torch:
        notes.append("torch column requested but PyTorch is not installed")

    def keep(name):
        return only is None or only.lower() in name.lower()

    rows = []
    layers = [lay for lay in LENET5 + RESNET18 if keep(f"conv2d fwd {lay[0]}") or keep(f"conv2d bwd {lay[0]}")]
    rows += [r for r in _conv_rows(layers, batch_size, backends, repeats, timers, torch_mod) if keep(r.name)]
    sizes = [n for n in GEMM_SIZES + (GPU_GEMM_SIZES if "cuda" in backends else ()) if keep(f"gemm {n}x{n}x{n}")]
    rows += _gemm_rows(sizes, backends, repeats, timers, torch_mod)
    if any(keep(n) for n in MEMORY_ROWS):
        rows += _memory_rows(batch_size, backends, repeats, timers, torch_mod, keep)
    if step and keep(f"train step {model}"):
        rows.append(_step_row(model, batch_size, devices, repeats, timers, notes))
    return BenchResult(rows, devices, gpu_desc if gpu_ok else None, notes, _environment(gpu_desc if gpu_ok else None))


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


# ----------------------------------------------------------------- output
def _ms(t):
    return "-" if not t else f"{t * 1e3:.3f}"


def _ratio(a, b):
    return "-" if not a or not b else f"{a / b:.1f}x"


def table_rows(result: BenchResult) -> list[dict]:
    """The table as dicts of formatted strings (what ``print_table`` shows)."""
    out = []
    for r in result.rows:
        dev, t = r.best()
        out.append({
            "kernel": r.name,
            "reference ms": _ms(r.times.get("reference")),
            "cpu ms": _ms(r.times.get("cpu")),
            "cuda ms": _ms(r.times.get("cuda")),
            "numba vs ref": _ratio(r.times.get("reference"), r.times.get("cpu")),
            "gpu speed-up": _ratio(r.times.get("cpu"), r.times.get("cuda")),
            "GFLOP/s": f"{r.flops / t / 1e9:.1f}" if r.flops and t else "-",
            "GB/s": f"{r.bytes / t / 1e9:.1f}" if r.bytes and not r.flops and t else "-",
            "torch ms": _ms(r.times.get("torch")),
        })
    return out


def print_table(result: BenchResult, console=None) -> None:
    """Print the one table (rich), preceded by the notes (e.g. "no GPU found: ...")."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for note in result.notes:
        console.print(note, markup=False, highlight=False)
    rows = table_rows(result)
    drop = {"cuda ms", "gpu speed-up"} if "cuda" not in result.devices else set()
    if not any(r.times.get("torch") for r in result.rows):
        drop.add("torch ms")
    title = "minigrad bench" + (f" - GPU: {result.gpu}" if result.gpu else " - CPU only")
    table = Table(title=title)
    columns = [c for c in (rows[0] if rows else {"kernel": ""}) if c not in drop]
    for c in columns:
        table.add_column(c, justify="left" if c == "kernel" else "right", no_wrap=c != "kernel")
    for r in rows:
        table.add_row(*[r[c] for c in columns])
    console.print(table)


def write_json(result: BenchResult, path) -> None:
    """Write rows (times in ms), notes and the environment as JSON."""
    data = {
        "environment": result.environment, "devices": list(result.devices), "gpu": result.gpu, "notes": result.notes,
        "rows": [{"name": r.name, "flops": r.flops, "bytes": r.bytes,
                  "ms": {k: (v * 1e3 if v else None) for k, v in r.times.items()}} for r in result.rows],
    }
    with open(path, "w") as f:
        json.dump(data, f, indent=2)


def write_chart(result: BenchResult, path, width: int = 900) -> None:
    """A horizontal bar chart (log-scale milliseconds), one bar per backend per row, with Pillow."""
    from PIL import Image, ImageDraw

    colors = {"reference": (150, 150, 150), "cpu": (52, 101, 164), "cuda": (78, 154, 6), "torch": (204, 0, 0)}
    cols = [c for c in COLUMNS if any(r.times.get(c) for r in result.rows)]
    bar, gap, label_w, top = 9, 8, 330, 40
    height = top + len(result.rows) * (len(cols) * bar + gap) + 20
    img = Image.new("RGB", (width, max(height, 80)), "white")
    draw = ImageDraw.Draw(img)
    values = [t for r in result.rows for c in cols if (t := r.times.get(c))]
    lo, hi = (np.log10(min(values) * 1e3), np.log10(max(values) * 1e3)) if values else (0.0, 1.0)
    span = max(hi - lo, 1e-9)
    x = label_w
    for c in cols:
        draw.rectangle([x, 10, x + 12, 22], fill=colors[c])
        draw.text((x + 16, 10), c, fill="black")
        x += 110
    draw.text((10, 10), "ms (log scale)", fill="black")
    y = top
    for r in result.rows:
        draw.text((5, y), r.name[:52], fill="black")
        for c in cols:
            t = r.times.get(c)
            if t:
                length = 20 + (width - label_w - 90) * (np.log10(t * 1e3) - lo) / span
                draw.rectangle([label_w, y, label_w + length, y + bar - 2], fill=colors[c])
                draw.text((label_w + length + 4, y - 2), f"{t * 1e3:.2f}", fill="black")
            y += bar
        y += gap
    img.save(path)
