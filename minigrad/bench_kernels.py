"""The rows of ``minigrad bench``: one timed kernel chain (or training step) per row, in every column.

Each builder returns ``BenchJob``s: a row's name and a function that times it, so the driver
(``minigrad.bench``) can list the plan before running it and report progress row by row.
The CPU and GPU columns run the *same* code on the two backends: the kernels have the same
names and signatures and ``CudaArray`` answers NumPy's vocabulary, so ``w @ cols`` is BLAS on
the CPU and our tiled GEMM on the GPU.

Timing rules: a cell is timed until ``repeats`` runs are done or its timed runs have used
``budget`` seconds, whichever comes first (at least one run), and the median is reported.
Backend columns get one untimed warm-up run first (it compiles the kernels); the reference
column gets none, since NumPy compiles nothing and a slow reference would pay twice.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Callable

import numpy as np

from . import reference as ref

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
# The default table's ResNet-18 shapes: the stem and the repeated 3x3 layer of each stage, which
# carry most of a training step's arithmetic. ``full=True`` adds the stride-2 and 1x1 shortcuts.
RESNET18_DEFAULT = ("resnet18.conv1 3->64", "resnet18.layer1 64->64", "resnet18.layer2 128->128",
                    "resnet18.layer3 256->256", "resnet18.layer4 512->512")
GEMM_SIZES = (256, 1024)
GPU_GEMM_SIZES = (4096,)  # the target size; too slow for the CPU columns
MEMORY_ROWS = ("max_pool2d 2x2 fwd (64x32x32)", "max_pool2d 2x2 bwd", "max_unpool2d 2x2", "upsample nearest 2x",
               "upsample bilinear 2x", "batch_norm fwd (train)", "batch_norm bwd")
# The plain-NumPy reference convolution runs its einsum at roughly 0.5 GFLOP/s on the 2-core
# development machine (4.8 s for one ResNet-18 layer1 forward at batch 32). By default it is
# timed only on rows up to this much arithmetic, so it costs about a second per row at most.
REFERENCE_MAX_FLOPS = 0.5e9


@dataclasses.dataclass
class BenchRow:
    """One line of the table: times in seconds per column (None: not run) and timed runs per column."""

    name: str
    flops: float = 0.0
    bytes: float = 0.0
    times: dict = dataclasses.field(default_factory=dict)
    runs: dict = dataclasses.field(default_factory=dict)
    note: str = ""

    def best(self):
        """(column, seconds) of the fastest backend (GPU or CPU, not the reference)."""
        cands = [(c, self.times.get(c)) for c in ("cuda", "cpu") if self.times.get(c)]
        return min(cands, key=lambda kv: kv[1]) if cands else (None, None)


@dataclasses.dataclass
class BenchJob:
    """A planned row: its name, its arithmetic (for the reference rule) and the function that times it."""

    name: str
    flops: float
    run: Callable[["Timing"], BenchRow]


# ------------------------------------------------------------------ timers
def _repeat(fn, repeats, budget, clock):
    times, spent = [], 0.0
    while len(times) < repeats and (not times or spent < budget):
        start = time.perf_counter()
        times.append(clock(fn))
        spent += time.perf_counter() - start
    return times


def time_cpu(fn: Callable[[], object], repeats: int, budget: float, warmup: bool = True):
    """(median seconds, runs) of wall-clock runs of ``fn``."""
    if warmup:
        fn()

    def wall(f):
        start = time.perf_counter()
        f()
        return time.perf_counter() - start

    times = _repeat(fn, repeats, budget, wall)
    return statistics.median(times), len(times)


def time_gpu(fn: Callable[[], object], repeats: int, budget: float):
    """(median seconds, runs) of CUDA-event intervals of ``fn``; None seconds under the simulator."""
    from numba import cuda

    fn()
    cuda.synchronize()

    def events(f):
        start, end = cuda.event(), cuda.event()
        start.record()
        f()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    times = _repeat(fn, repeats, budget, events)
    t = statistics.median(times)
    return (t if t > 0 else None), len(times)  # the simulator's events have no clock


@dataclasses.dataclass
class Timing:
    """How cells are timed: the backends, repeats and budget, the reference rule and PyTorch."""

    backends: dict
    repeats: int
    budget: float
    batch: int = 32
    reference: bool | None = None  # None: only rows up to REFERENCE_MAX_FLOPS
    torch: object = None  # the torch module, or None for no column

    def wants_reference(self, flops: float) -> bool:
        return self.reference if self.reference is not None else flops <= REFERENCE_MAX_FLOPS

    def cell(self, row: BenchRow, column: str, fn: Callable[[], object]) -> None:
        """Time ``fn`` into ``row``'s ``column`` ("reference", "cpu", "cuda" or "torch")."""
        if column == "cuda":
            t, n = time_gpu(fn, self.repeats, self.budget)
        else:
            t, n = time_cpu(fn, self.repeats, self.budget, warmup=column != "reference")
        row.times[column], row.runs[column] = t, n


# ------------------------------------------------------------- convolution
def conv_jobs(layers, batch: int) -> list[BenchJob]:
    """conv2d forward (im2col + GEMM) and backward (dW GEMM, dX GEMM + col2im) at each layer shape."""
    jobs = []
    for layer in layers:
        name, C, H, O, K, S, P = layer
        OH = (H + 2 * P - K) // S + 1
        flops = 2.0 * batch * O * OH * OH * C * K * K
        jobs.append(BenchJob(f"conv2d fwd {name}", flops, lambda t, lay=layer: _conv_row(lay, t, backward=False)))
        jobs.append(BenchJob(f"conv2d bwd {name}", 2 * flops, lambda t, lay=layer: _conv_row(lay, t, backward=True)))
    return jobs


def _conv_row(layer, timing: Timing, backward: bool) -> BenchRow:
    name, C, H, O, K, S, P = layer
    batch = timing.batch
    OH = (H + 2 * P - K) // S + 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, C, H, H), dtype=np.float32)
    w = rng.standard_normal((O, C, K, K), dtype=np.float32) * 0.1
    dy = rng.standard_normal((batch, O, OH, OH), dtype=np.float32)
    L = batch * OH * OH
    flops = 2.0 * batch * O * OH * OH * C * K * K
    if backward:
        row = BenchRow(f"conv2d bwd {name}", 2 * flops, 4.0 * (2 * x.size + 2 * w.size + dy.size))
    else:
        row = BenchRow(f"conv2d fwd {name}", flops, 4.0 * (x.size + w.size + dy.size))
    if timing.wants_reference(row.flops):
        timing.cell(row, "reference", (lambda: _conv_backward_reference(x, w, dy, S, P)) if backward
                    else (lambda: ref.conv2d(x, w, stride=S, padding=P)))
    params = (K, K, S, S, P, P, 1, 1, OH, OH)
    for dev, backend in timing.backends.items():
        X, W2, DY = backend.from_numpy(x), backend.from_numpy(w.reshape(O, -1)), backend.from_numpy(dy)
        cols = backend.empty((C * K * K, L), np.float32)
        dx = backend.empty(x.shape, np.float32)

        def forward(backend=backend, X=X, W2=W2, cols=cols):
            backend.im2col(cols, X, *params)
            return (W2 @ cols).reshape(O, batch, OH * OH).transpose(1, 0, 2)

        def backward_fn(backend=backend, W2=W2, cols=cols, DY=DY, dx=dx):
            d2 = DY.reshape(batch, O, OH * OH).transpose(1, 0, 2).reshape(O, L)
            dw = d2 @ cols.T
            backend.col2im(dx, W2.T @ d2, *params)
            return dw

        forward()  # backward reads the columns forward wrote
        timing.cell(row, dev, backward_fn if backward else forward)
    torch = timing.torch
    if torch is not None:
        tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
        tdy = torch.from_numpy(dy)
        conv = torch.nn.functional.conv2d
        if backward:
            timing.cell(row, "torch", lambda: torch.autograd.grad(conv(tx, tw, stride=S, padding=P), (tx, tw), tdy))
        else:
            timing.cell(row, "torch", lambda: conv(tx, tw, stride=S, padding=P))
    return row


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


# -------------------------------------------------------------------- GEMM
def gemm_jobs(sizes, gpu: bool) -> list[BenchJob]:
    """Square SGEMMs; on a GPU, sizes of 1024 and up also get a row for the other tiling."""
    jobs = []
    for n in sizes:
        jobs.append(BenchJob(f"gemm {n}x{n}x{n}", 2.0 * n ** 3, lambda t, n=n: _gemm_row(n, t)))
        if gpu and n >= 1024:
            # The other tiling of our GEMM, so one run on a GPU shows which to make the default.
            jobs.append(BenchJob(f"gemm {n}x{n}x{n} (128x128 tiles, 8x8 per thread)", 2.0 * n ** 3,
                                 lambda t, n=n: _gemm_large_tiles_row(n, t)))
    return jobs


def _gemm_inputs(n):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)


def _gemm_row(n, timing: Timing) -> BenchRow:
    a, b = _gemm_inputs(n)
    row = BenchRow(f"gemm {n}x{n}x{n}", 2.0 * n ** 3, 12.0 * n * n)
    if n <= 512 and timing.wants_reference(row.flops):
        timing.cell(row, "reference", lambda: np.einsum("ik,kj->ij", a, b))
    for dev, backend in timing.backends.items():
        if dev == "cpu" and n > max(GEMM_SIZES):
            continue
        A, B = backend.from_numpy(a), backend.from_numpy(b)
        timing.cell(row, dev, lambda A=A, B=B: A @ B)
    if timing.torch is not None and n <= max(GEMM_SIZES):
        ta, tb = timing.torch.from_numpy(a), timing.torch.from_numpy(b)
        timing.cell(row, "torch", lambda: ta @ tb)
    return row


def _gemm_large_tiles_row(n, timing: Timing) -> BenchRow:
    from .backends.cuda.gemm import LARGE_CONFIG, tiled_gemm

    a, b = _gemm_inputs(n)
    be = timing.backends["cuda"]
    A3, B3, C3 = be.from_numpy(a[None]), be.from_numpy(b[None]), be.empty((1, n, n), np.float32)
    row = BenchRow(f"gemm {n}x{n}x{n} (128x128 tiles, 8x8 per thread)", 2.0 * n ** 3, 12.0 * n * n)
    timing.cell(row, "cuda", lambda: tiled_gemm(C3, A3, B3, config=LARGE_CONFIG))
    return row


# ------------------------------------------------------------ memory-bound
class _Activation:
    """A (batch, 64, 32, 32) activation with its 2x2 max-pool result and the upsampling tables."""

    def __init__(self, batch):
        rng = np.random.default_rng(2)
        self.N, self.C, self.H = batch, 64, 32
        N, C, H = self.N, self.C, self.H
        self.x = rng.standard_normal((N, C, H, H), dtype=np.float32)
        self.planes = self.x.reshape(N * C, H, H)
        self.P, self.OH = N * C, H // 2
        self.out = np.empty((self.P, self.OH, self.OH), np.float32)
        self.ind = np.empty((self.P, self.OH, self.OH), np.int64)
        from .backends import get_backend

        get_backend("cpu").max_pool2d_forward(self.out, self.ind, self.planes, 2, 2, 2, 2, 0, 0, 1, 1)
        self.pooled, self.indices = self.out.reshape(N, C, self.OH, self.OH), self.ind.reshape(N, C, self.OH, self.OH)
        self.up_src = np.arange(2 * H) // 2
        src = np.maximum((np.arange(2 * H) + 0.5) / 2 - 0.5, 0)
        self.lo = np.minimum(np.floor(src).astype(np.int64), H - 1)
        self.hi = np.minimum(self.lo + 1, H - 1)
        self.lam = src - self.lo
        self.size = 4.0 * self.x.size


def memory_jobs(batch: int, names=MEMORY_ROWS) -> list[BenchJob]:
    """Pooling, unpooling, upsampling and batch norm on a (batch, 64, 32, 32) activation."""
    shared = {}

    def activation():  # built once, by the first of these rows that runs
        if "a" not in shared:
            shared["a"] = _Activation(batch)
        return shared["a"]

    return [BenchJob(name, 0.0, lambda t, name=name: _memory_row(name, activation(), t)) for name in names]


def _memory_row(name, a: _Activation, timing: Timing) -> BenchRow:
    x, planes, out, ind, P, H, OH, size = a.x, a.planes, a.out, a.ind, a.P, a.H, a.OH, a.size
    N, C = a.N, a.C

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
        s = be.from_numpy(a.up_src)
        return lambda: be.nearest_forward(o, X, s, s)

    def bilinear(be):
        X, o = be.from_numpy(planes), be.empty((P, 2 * H, 2 * H), np.float32)
        t = [be.from_numpy(v) for v in (a.lo, a.hi, a.lam)]
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
    F = timing.torch.nn.functional if timing.torch is not None else None
    tx = timing.torch.from_numpy(x) if F is not None else None
    # name: (bytes read + written, reference, backend kernel, PyTorch equivalent or None)
    table = {
        MEMORY_ROWS[0]: (size * 1.5 + 8 * x.size / 4, lambda: ref.max_pool2d(x, 2), pool_fwd,
                         F and (lambda: F.max_pool2d(tx, 2, return_indices=True))),
        "max_pool2d 2x2 bwd": (size + size / 4 * 3, lambda: _unpool_add_reference(out, ind, H), pool_bwd, None),
        "max_unpool2d 2x2": (size + size / 4 * 3, lambda: ref.max_unpool2d(a.pooled, a.indices, (H, H)), unpool,
                             None),
        "upsample nearest 2x": (size * 5, lambda: ref.interpolate_nearest(x, (2 * H, 2 * H)), nearest,
                                F and (lambda: F.interpolate(tx, scale_factor=2, mode="nearest"))),
        "upsample bilinear 2x": (size * 5, lambda: ref.interpolate_bilinear(x, (2 * H, 2 * H)), bilinear,
                                 F and (lambda: F.interpolate(tx, scale_factor=2, mode="bilinear"))),
        "batch_norm fwd (train)": (size * 3, lambda: ref.batch_norm(x, mean, var, training=True), bn,
                                   F and (lambda: F.batch_norm(tx, None, None, training=True))),
        "batch_norm bwd": (size * 4, lambda: _bn_backward_reference(x), bn_bwd, None),
    }
    nbytes, reference, make, torch_fn = table[name]
    row = BenchRow(name, 0.0, nbytes)
    if timing.wants_reference(0.0):
        timing.cell(row, "reference", reference)
    for dev, backend in timing.backends.items():
        timing.cell(row, dev, make(backend))
    if torch_fn:
        timing.cell(row, "torch", torch_fn)
    return row


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


# ------------------------------------------------------------ training step
def step_job(model_name: str, batch: int, notes: list) -> BenchJob:
    """One SGD training step (forward, cross-entropy, backward, update) of ``model_name``."""
    from . import models

    info = models.model_info(model_name)
    in_size = (3, 32, 32) if model_name.startswith("resnet") else tuple(info["input_size"])
    name = f"train step {model_name} (batch {batch}, {in_size[1]}x{in_size[2]})"
    return BenchJob(name, 0.0, lambda t: _step_row(name, model_name, in_size, t, notes))


def _step_row(name, model_name, in_size, timing: Timing, notes) -> BenchRow:
    from . import models
    from .functional import cross_entropy
    from .optim import SGD
    from .tensor import Tensor, manual_seed

    kwargs = {"num_classes": 10, "in_channels": in_size[0]}
    if model_name.startswith("resnet"):
        kwargs["small_input"] = True  # CIFAR ResNet: 3x3 stem, no max pool
    row = BenchRow(name)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((timing.batch,) + in_size, dtype=np.float32)
    y = rng.integers(0, 10, timing.batch)
    for dev in timing.backends:
        try:
            manual_seed(0)
            model = models.get_model(model_name, **kwargs).to(dev)
            opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
            X = Tensor(x).to(dev)

            def step(model=model, opt=opt, X=X):
                opt.zero_grad()
                loss = cross_entropy(model(X), y)
                loss.backward()
                opt.step()
                return loss

            timing.cell(row, dev, step)
        except Exception as exc:  # report, don't abort the table: a backend may lack an op
            notes.append(f"train step on {dev}: {type(exc).__name__}: {exc}")
    return row
