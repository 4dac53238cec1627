"""Training-step speed and peak memory of minigrad next to PyTorch on the same machine.

One training step is forward, cross-entropy, backward and an SGD update with momentum 0.9,
on a fixed random batch. Two models: LeNet-5 (1x28x28) and the CIFAR ResNet-18
(``small_input=True``, 3x32x32, 10 classes). The PyTorch models are written out here with
the same layer names and get minigrad's initial weights, so both frameworks train the same
network from the same start (the first losses are printed side by side as a check).

Method:

- Speed: each framework runs in its own worker process, as its users run it, with the same
  thread count (``torch.set_num_threads(n)``; ``minigrad.backends.cpu.set_num_threads(n)``,
  which sets Numba's and OpenBLAS's pools). Separate processes matter: minigrad starts its
  OpenMP pool with sleeping idle workers (``backends/cpu/threads.py``), and a torch sharing
  that runtime ran LeNet-5 30% slower than on its own. After ``--warmup`` untimed steps each
  (Numba compilation, allocator warm-up), the workers take turns, minigrad then torch, each
  turn a block of steps of about ``TURN_SECONDS`` (at least one step) while the other
  worker waits idle, ``--steps`` timed steps each in all, so that a load spike from another
  process hits both. Reported: the median step time of each, images/s, and the ratio of
  minigrad's images/s to torch's.
- Memory: each framework runs in its own fresh subprocess (so neither's allocator caches or
  libraries count against the other). The subprocess first compiles/warms up on a tiny
  throwaway model of the same architecture, frees it, and records its resident set size
  (RSS); then it builds the real model and batch, resets the kernel's peak-RSS counter
  (``/proc/self/clear_refs``), runs ``--memory-steps`` steps and reads the peak (``VmHWM``).
  Peak memory = peak RSS - that baseline: parameters, gradients, momentum buffers,
  activations and workspaces of both frameworks alike, measured the same way by the kernel.
  (Linux only; elsewhere the memory columns are empty.)

- Competition (``--compete``): each model is timed twice in one invocation, first quietly,
  then with one competing CPU-bound process running (``competitor``: a loop of 256x256
  float32 matrix products on one OpenBLAS thread, so it keeps one core busy; pinned to a
  core with ``--compete-core``, else placed by the scheduler, as on a user's laptop). The
  competitor is started after both workers' warm-up, before the first timed turn, and
  stopped after the last, so that it runs through the minigrad and the torch turns alike.
  Reported next to the quiet ratio: the competing ratio and their quotient (round 5's target:
  competing ratio >= 0.8x the quiet one), and the competitor's own rate (matrix products/s)
  as a check that it ran. The competitor is killed in a ``finally`` (also on Ctrl-C and on
  SIGTERM), and dies with this process even on SIGKILL (``PR_SET_PDEATHSIG``, and it exits
  when its parent goes away). Memory is measured quietly only.

Without torch, minigrad is measured alone. Usage::

    python benchmarks/vs_torch.py [--models lenet5,resnet18] [--batch-size 64] [--threads N]
                                  [--steps 20] [--warmup 3] [--no-memory] [--json out.json]
                                  [--compete] [--compete-core CORE]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import time

if os.environ.get("VS_TORCH_WORKER") == "minigrad":
    import minigrad  # noqa: F401  before NumPy, as a user's script would: OpenBLAS starts with its thread policy

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import print_table, write_json  # noqa: E402

# Neither framework is imported here at module level: the timing workers are spawned
# processes that re-import this module, and each must load only its own framework (minigrad's
# CPU backend configures the OpenMP runtime that torch would share; see the docstring).
if os.environ.get("VS_TORCH_WORKER") != "minigrad":
    try:
        import torch
        import torch.nn as tnn
        import torch.nn.functional as TF
    except ImportError:
        torch = None
else:
    torch = None

#: Seconds of steps per turn of a timing worker.
TURN_SECONDS = 0.25

#: model name -> (input (C, H, W), minigrad constructor kwargs)
MODELS = {
    "lenet5": ((1, 28, 28), {}),
    "resnet18": ((3, 32, 32), {"num_classes": 10, "in_channels": 3, "small_input": True}),
}
LR, MOMENTUM = 0.01, 0.9


# ------------------------------------------------------------------ PyTorch twins
if torch is not None:

    class TorchLeNet5(tnn.Module):
        """minigrad's LeNet-5 (ReLU, max pooling, padding 2 on conv1) in PyTorch, its ops in the same order.

        Each subsampling is max pooling, then ReLU, as ``models/lenet.py`` computes it (the same
        function as ReLU then pooling, on a quarter of the elements), so both frameworks do the same work.
        """

        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = tnn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = tnn.Linear(400, 120), tnn.Linear(120, 84), tnn.Linear(84, 10)

        def forward(self, x):
            x = TF.relu(TF.max_pool2d(self.conv1(x), 2))
            x = TF.relu(TF.max_pool2d(self.conv2(x), 2))
            x = x.flatten(1)
            return self.fc3(TF.relu(self.fc2(TF.relu(self.fc1(x)))))

    class TorchBasicBlock(tnn.Module):
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = tnn.Sequential(tnn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                                 tnn.BatchNorm2d(planes))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = TF.relu(self.bn1(self.conv1(x)))
            return TF.relu(self.bn2(self.conv2(out)) + identity)

    class TorchResNet18(tnn.Module):
        """The CIFAR ResNet-18 of ``get_model("resnet18", small_input=True)`` with torchvision's names."""

        def __init__(self, num_classes=10):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            layers, inplanes = [], 64
            for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers.append(tnn.Sequential(TorchBasicBlock(inplanes, planes, stride),
                                             TorchBasicBlock(planes, planes, 1)))
                inplanes = planes
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.fc = tnn.Linear(512, num_classes)

        def forward(self, x):
            x = TF.relu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(TF.adaptive_avg_pool2d(x, 1), 1))

    TORCH_MODELS = {"lenet5": TorchLeNet5, "resnet18": TorchResNet18}


# ------------------------------------------------------------------ training steps
def batch(name: str, batch_size: int, seed: int = 0):
    """A fixed random batch (images, labels) as NumPy arrays."""
    rng = np.random.default_rng(seed)
    size = MODELS[name][0]
    return rng.standard_normal((batch_size,) + size).astype(np.float32), rng.integers(0, 10, batch_size)


def minigrad_step(name: str, batch_size: int):
    """(step function returning the loss, model) for minigrad."""
    import minigrad as mg
    import minigrad.functional as F
    from minigrad.models import get_model

    mg.manual_seed(0)
    model = get_model(name, **MODELS[name][1]).train()
    images, labels = batch(name, batch_size)
    x, y = mg.Tensor(images), mg.Tensor(labels)
    optimizer = mg.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return float(loss.item())

    return step, model


def torch_step(name: str, batch_size: int, weights=None):
    """(step function returning the loss, model) for PyTorch, starting from ``weights`` (a minigrad state_dict)."""
    model = TORCH_MODELS[name]().train()
    if weights is not None:
        state = {k: torch.from_numpy(np.array(v)) for k, v in weights.items()}
        model.load_state_dict(state, strict=True)  # every name and shape must match
    images, labels = batch(name, batch_size)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = TF.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return float(loss.item())

    return step, model


def _speed_worker(conn, framework: str, name: str, batch_size: int, threads: int, warmup: int, weights) -> None:
    """A timing worker: builds one framework's step, then runs blocks of steps on request."""
    if framework == "torch":
        torch.set_num_threads(threads)
        step = torch_step(name, batch_size, weights)[0]
    else:
        from minigrad.backends.cpu import set_num_threads

        set_num_threads(threads)
        step = minigrad_step(name, batch_size)[0]
    first_loss = step()
    start = time.perf_counter()
    for _ in range(max(0, warmup - 1)):
        step()
    conn.send((first_loss, (time.perf_counter() - start) / max(1, warmup - 1)))
    while (count := conn.recv()) is not None:
        times = []
        for _ in range(count):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        conn.send(times)


def compare_speed(name: str, batch_size: int, steps: int, warmup: int, threads: int, timing_context=None) -> dict:
    """Time both frameworks in worker processes that take turns; medians and ratio.

    Args:
        name: a key of ``MODELS``.
        batch_size: images per step.
        steps: timed steps of each framework.
        warmup: untimed steps of each framework first (run concurrently, before the turns).
        threads: both frameworks' thread count.
        timing_context: a context manager entered after the warm-up and exited after the last
            timed turn (``competitor()``); what it yields, if a dict, is merged into the row.

    Returns:
        One result row (see ``main``).
    """
    import multiprocessing

    frameworks = ["minigrad"] + (["torch"] if torch is not None else [])
    weights = None
    if torch is not None:
        # Built in this process (no kernel runs here): the torch twin starts from minigrad's weights.
        weights = {k: np.array(v) for k, v in minigrad_step(name, 2)[1].state_dict().items()}
    context = multiprocessing.get_context("spawn")
    workers, first_loss, turn = {}, {}, {}
    for framework in frameworks:
        parent, child = context.Pipe()
        os.environ["VS_TORCH_WORKER"] = framework
        try:
            process = context.Process(target=_speed_worker, daemon=True,
                                      args=(child, framework, name, batch_size, threads, warmup, weights))
            process.start()
        finally:
            del os.environ["VS_TORCH_WORKER"]
        workers[framework] = (process, parent)
    for framework, (_, conn) in workers.items():  # warm-ups run concurrently; timing does not
        first_loss[framework], step_time = conn.recv()
        turn[framework] = max(1, int(TURN_SECONDS / max(step_time, 1e-6)))
    times = {framework: [] for framework in frameworks}
    extra = {}
    with timing_context if timing_context is not None else contextlib.nullcontext() as yielded:
        while any(len(ts) < steps for ts in times.values()):
            for framework, (_, conn) in workers.items():
                count = min(turn[framework], steps - len(times[framework]))
                if count > 0:
                    conn.send(count)
                    times[framework] += conn.recv()
        if isinstance(yielded, dict):
            extra = yielded  # filled in further when the context exits
    for process, conn in workers.values():
        conn.send(None)
        process.join()
    row = {"model": name, "batch": batch_size, "threads": threads, "steps": steps, **extra}
    for label, ts in times.items():
        median = statistics.median(ts)
        row[f"{label}_ms"] = 1e3 * median
        row[f"{label}_images_per_s"] = batch_size / median
        row[f"{label}_first_loss"] = first_loss[label]
    if torch is not None:
        row["ratio"] = row["minigrad_images_per_s"] / row["torch_images_per_s"]
    return row


# ------------------------------------------------------------------ the competing process
#: The competitor's program: float32 matrix products on one BLAS thread until SIGTERM, then it
#: prints how many it did and in how many seconds. It exits by itself when its parent dies.
COMPETITOR = """
import os, signal, sys, time
import numpy as np
parent = int(sys.argv[1])
a = np.random.default_rng(0).standard_normal((256, 256), dtype=np.float32)
out = np.empty_like(a)
count, start = 0, time.perf_counter()
def stop(signum, frame):
    print(count, time.perf_counter() - start, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the benchmark, which then stops this
print("ready", flush=True)
while True:
    for _ in range(50):
        np.matmul(a, a, out=out)
        count += 1
    if os.getppid() != parent:
        sys.exit(0)
"""


def _die_with_parent() -> None:
    """``preexec_fn`` of the competitor: the kernel sends it SIGTERM when the benchmark dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the competitor still exits when it sees its parent change


@contextlib.contextmanager
def competitor(core: int | None = None):
    """Run one CPU-bound competing process for the duration of the block.

    Args:
        core: pin the competitor to this CPU (``os.sched_setaffinity``); None leaves it to the
            scheduler.

    Yields:
        A dict that gets, after the block, ``competitor_matmuls_per_s`` (its rate while it
        ran) and ``competitor_pid``.

    The process is terminated (then killed, if it does not exit within 5 s) when the block
    exits in any way, including ``KeyboardInterrupt``.
    """
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-c", COMPETITOR, str(os.getpid())], stdout=subprocess.PIPE,
                               text=True, env=env, preexec_fn=_die_with_parent if os.name == "posix" else None)
    info = {"competitor_pid": process.pid}
    try:
        if core is not None:
            os.sched_setaffinity(process.pid, {core})
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the competing process exited early (status {process.wait()})")
        yield info
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            out, _ = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        fields = out.split()
        if len(fields) == 2 and float(fields[1]) > 0:
            info["competitor_matmuls_per_s"] = int(fields[0]) / float(fields[1])


# ------------------------------------------------------------------ peak memory (subprocess)
def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_worker(framework: str, name: str, batch_size: int, steps: int, threads: int) -> dict:
    """Runs in a fresh process: peak RSS growth of ``steps`` training steps (see the module docstring)."""
    if framework == "torch":
        torch.set_num_threads(threads)
        warm = torch_step(name, 2)[0]
    else:
        from minigrad.backends.cpu import set_num_threads

        set_num_threads(threads)
        warm = minigrad_step(name, 2)[0]
    warm()
    warm()
    del warm
    gc.collect()
    baseline = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM (peak RSS) to the current RSS
    step = (torch_step if framework == "torch" else minigrad_step)(name, batch_size)[0]
    for _ in range(steps):
        step()
    return {"peak_mb": (_rss_kib("VmHWM") - baseline) / 1024}


def measure_memory(framework: str, name: str, batch_size: int, steps: int, threads: int) -> float | None:
    """Peak memory in MiB of a training step, from a fresh subprocess; None where it cannot be measured."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    command = [sys.executable, os.path.abspath(__file__), "--memory-worker", framework, "--models", name,
               "--batch-size", str(batch_size), "--memory-steps", str(steps), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "VS_TORCH_WORKER": framework})
    if done.returncode != 0:
        print(f"memory worker {framework}/{name} failed:\n{done.stderr}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"]


# ------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="both frameworks' thread count (default: all cores)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each framework (alternating)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps of each framework first")
    parser.add_argument("--memory-steps", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--compete", action="store_true",
                        help="time each model quietly, then with one competing CPU-bound process; report both ratios")
    parser.add_argument("--compete-core", type=int, default=None, help="pin the competitor to this CPU")
    parser.add_argument("--memory-worker", choices=["minigrad", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.models.split(",")
    for name in names:
        if name not in MODELS:
            parser.error(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    threads = args.threads or len(os.sched_getaffinity(0))
    if args.memory_worker:
        print(json.dumps(memory_worker(args.memory_worker, names[0], args.batch_size, args.memory_steps, threads)))
        return
    if torch is None:
        print("torch is not installed: measuring minigrad alone", file=sys.stderr)
    # SIGTERM (e.g. from ``timeout``) unwinds like Ctrl-C, so that every ``finally`` runs.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    rows = []
    for name in names:
        row = compare_speed(name, args.batch_size, args.steps, args.warmup, threads)
        row["load_average"] = os.getloadavg()[0]
        if args.compete:
            busy = compare_speed(name, args.batch_size, args.steps, args.warmup, threads,
                                 competitor(args.compete_core))
            for key in ("minigrad_ms", "minigrad_images_per_s", "torch_ms", "torch_images_per_s", "ratio",
                        "competitor_matmuls_per_s"):
                if key in busy:
                    row[f"compete_{key}"] = busy[key]
            row["compete_load_average"] = os.getloadavg()[0]
            if "ratio" in row and "ratio" in busy:
                row["compete_quotient"] = busy["ratio"] / row["ratio"]
        if not args.no_memory:
            for framework in ("minigrad", "torch") if torch is not None else ("minigrad",):
                row[f"{framework}_peak_mb"] = measure_memory(framework, name, args.batch_size, args.memory_steps,
                                                             threads)
            if torch is not None and row["minigrad_peak_mb"] and row["torch_peak_mb"]:
                row["memory_ratio"] = row["minigrad_peak_mb"] / row["torch_peak_mb"]
        rows.append(row)
        print(f"{name}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in row.items() if k != "model"), file=sys.stderr)
    columns = [("model", "model", "{}"), ("threads", "thr", "{}"), ("minigrad_ms", "minigrad ms", "{:.1f}"),
               ("minigrad_images_per_s", "minigrad img/s", "{:.0f}")]
    if torch is not None:
        columns += [("torch_ms", "torch ms", "{:.1f}"), ("torch_images_per_s", "torch img/s", "{:.0f}"),
                    ("ratio", "ratio", "{:.2f}")]
    if args.compete:
        columns += [("compete_minigrad_ms", "busy mg ms", "{:.1f}")]
        if torch is not None:
            columns += [("compete_torch_ms", "busy torch ms", "{:.1f}"), ("compete_ratio", "busy ratio", "{:.2f}"),
                        ("compete_quotient", "busy/quiet", "{:.2f}")]
    columns += [("load_average", "load", "{:.2f}")]
    if not args.no_memory:
        columns += [("minigrad_peak_mb", "minigrad MiB", "{:.0f}")]
        if torch is not None:
            columns += [("torch_peak_mb", "torch MiB", "{:.0f}"), ("memory_ratio", "mem ratio", "{:.2f}")]
    print_table(rows, columns)
    if args.json:
        write_json(args.json, {"benchmark": "vs_torch", "torch": None if torch is None else torch.__version__,
                               "results": rows})


if __name__ == "__main__":
    main()
