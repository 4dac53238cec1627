"""Where one training step goes, per op kind, per layer and per kernel: minigrad next to PyTorch.

The step is ``benchmarks/vs_torch.py``'s: forward, cross-entropy, backward and an SGD update
with momentum 0.9 on a fixed random batch, CIFAR ResNet-18 (``small_input=True``) or LeNet-5,
both frameworks starting from minigrad's initial weights (the first losses are printed as a
check). As in ``vs_torch.py`` each framework runs in its own worker process with the same
thread count, and the two take turns, one step at a time.

How each framework is taken apart:

- minigrad, forward: the library's own hook points. ``minigrad.autograd.function_hook`` fires
  after every ``Function.apply`` and forward pre-/post-hooks sit on every ``nn.Module``; the
  time between two consecutive events goes to the later one: to the ``Function`` whose hook
  ended it (its ``apply``: argument checks, the kernels, the graph record), to the module
  whose post-hook ended it (e.g. BatchNorm2d's running-statistics bookkeeping), or, when a
  pre-hook ended it, to "between ops" (module calls, Python in ``forward`` methods). The
  hooks' own bookkeeping is taken out of the intervals.
- minigrad, backward: autograd has no per-``Function`` backward hook, so this benchmark wraps
  each ``Function`` subclass's ``backward`` (a class attribute, swapped only in the worker
  process and only for the instrumented steps; the library is not edited). A convolution's
  backward is run as two calls, dW (and the bias gradient) with ``needs_input_grad`` cleared
  for the input, then dX with it cleared for the weight, so that "conv bwd dW" and "conv bwd
  dX" are timed apart (``--no-split-conv`` times one call). Backward time outside every
  ``Function.backward`` (the topological sort, gradient accumulation for tensors used
  twice, e.g. around each residual add) is "autograd engine".
- minigrad, kernels: every public function of the CPU backend (``minigrad.backends.cpu``: the
  GEMM, im2row, row2im, the layout transposes, the batch-norm, ReLU, pooling, direct-conv and
  fused optimizer kernels, and the array helpers such as ``empty``, whose time is the
  allocation and its page faults) is wrapped the same way, only in the worker, and timed
  per op kind; the rest of an op's time is NumPy and Python in the op.
- PyTorch: ``torch.profiler`` (CPU activities), with ``record_function`` ranges around the
  phases and around every module's forward (from module hooks). Each op's self CPU time goes
  to an op kind: in the forward, by the innermost leaf module (Conv2d, BatchNorm2d, Linear,
  pooling) or else by the top-level ATen op (``aten::relu``, ``aten::add``, ...); in the
  backward, by the autograd node whose ``evaluate_function`` it runs under
  (``ConvolutionBackward0``, ...), matched to its forward layer by sequence number; ops under
  ``evaluate_function`` but outside the node (the ``add_`` summing the gradients of a tensor
  used twice) are "autograd engine", as in minigrad. PyTorch's
  convolution backward is one ATen op (``aten::convolution_backward``), so it has one
  "conv bwd" row, no dW/dX split. Time in the phases outside every op is "between ops".

Both frameworks also run plain (uninstrumented) steps in the same turns; their median is
reported next to the instrumented one, so the instrumentation's cost is visible. Every
figure is the median over ``--steps`` steps after ``--warmup`` steps; the rows of the
op-kind table are medians per row, so they need not add up exactly to the total row
(the median of the step's wall time). Ratios are minigrad's time over PyTorch's (above 1:
minigrad is slower), the inverse of ``vs_torch.py``'s images/s ratio.

Usage::

    python benchmarks/profile_step.py [--model resnet18|lenet5] [--batch-size 64] [--threads N]
                                      [--steps 5] [--warmup 2] [--top 15] [--layers]
                                      [--no-split-conv] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict

if os.environ.get("VS_TORCH_WORKER") == "minigrad":
    import minigrad  # noqa: F401  before NumPy, as in vs_torch.py

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# vs_torch reads VS_TORCH_WORKER at import: the minigrad worker must not load torch (see there).
import vs_torch  # noqa: E402
from common import print_table, write_json  # noqa: E402

torch = vs_torch.torch

#: Op kinds in table order; every time measured goes to one of them.
KINDS = [
    "conv fwd", "conv bwd", "conv bwd dW", "conv bwd dX", "batchnorm fwd", "batchnorm bwd", "relu fwd", "relu bwd",
    "add fwd", "add bwd", "pooling fwd", "pooling bwd", "linear fwd", "linear bwd", "loss fwd", "loss bwd",
    "other fwd", "other bwd", "between ops", "autograd engine", "zero_grad", "optimizer step",
]

#: minigrad Function class name -> op family.
MINIGRAD_FAMILIES = {
    "Conv2d": "conv", "DirectConv2d": "conv", "StripConv2d": "conv", "ShiftConv2d": "conv", "TiledConv2d": "conv", "ConvTranspose2d": "conv", "BatchNorm": "batchnorm",
    "Relu": "relu", "Add": "add", "MaxPool2d": "pooling", "AvgPool2d": "pooling",
    "AdaptiveAvgPool2d": "pooling", "AdaptiveMaxPool2d": "pooling", "Linear": "linear", "MatMul": "linear",
    "CrossEntropy": "loss",
}

#: Leaf module class name (both frameworks) -> op family: ops inside such a module belong to it.
MODULE_FAMILIES = {
    "Conv2d": "conv", "BatchNorm2d": "batchnorm", "Linear": "linear", "MaxPool2d": "pooling",
    "AvgPool2d": "pooling", "AdaptiveAvgPool2d": "pooling", "ReLU": "relu",
}

#: PyTorch top-level forward op (outside a leaf module) -> op family.
TORCH_FORWARD_FAMILIES = {
    "aten::conv2d": "conv", "aten::batch_norm": "batchnorm", "aten::relu": "relu", "aten::relu_": "relu",
    "aten::add": "add", "aten::add_": "add", "aten::max_pool2d": "pooling", "aten::adaptive_avg_pool2d": "pooling",
    "aten::avg_pool2d": "pooling", "aten::linear": "linear", "aten::cross_entropy_loss": "loss",
}

#: PyTorch autograd node name (prefix before the trailing digit) -> op family.
TORCH_BACKWARD_FAMILIES = {
    "ConvolutionBackward": "conv", "NativeBatchNormBackward": "batchnorm", "ReluBackward": "relu",
    "ThresholdBackward": "relu", "AddBackward": "add", "MaxPool2DWithIndicesBackward": "pooling",
    "AdaptiveAvgPool2DBackward": "pooling", "MeanBackward": "pooling", "AvgPool2DBackward": "pooling",
    "AddmmBackward": "linear", "MmBackward": "linear", "TBackward": "linear", "NllLossBackward": "loss",
    "LogSoftmaxBackward": "loss",
}

EVALUATE = "autograd::engine::evaluate_function: "


def torch_backward_family(node: str) -> str | None:
    """The op family of a PyTorch autograd node name (``"ConvolutionBackward0"`` -> ``"conv"``).

    Returns:
        The family, ``"engine"`` for ``AccumulateGrad``, or None for other nodes (reshapes, views).
    """
    if node.endswith("AccumulateGrad"):
        return "engine"
    return TORCH_BACKWARD_FAMILIES.get(node.rstrip("0123456789"))


# ------------------------------------------------------------------ minigrad instrumentation
class MinigradProfiler:
    """Times one minigrad training step per op kind, per layer and per kernel (see the module docstring).

    Args:
        model: the minigrad model (hooks go on every submodule).
        split_conv: time a convolution's dW and dX as two backward calls.
    """

    def __init__(self, model, split_conv: bool = True):
        import minigrad.backends.cpu as cpu

        self.model = model
        self.split_conv = split_conv
        self.backend = cpu
        self.names = {id(m): (name or "(top)", type(m).__name__) for name, m in model.named_modules()}
        self.leaves = {id(m) for m in model.modules() if not any(True for _ in m.children())}
        self.patched = {}  # Function class -> its original ``backward`` attribute (or None: inherited)
        self.kernel_names = sorted(
            name for name, value in vars(cpu).items()
            if callable(value) and getattr(value, "__module__", "").startswith("minigrad.backends.cpu.")
            # The memory-format helpers and the planner decide; their kernels are timed by name.
            and value.__module__.rsplit(".", 1)[1] not in ("allocator", "threads", "memory_format", "conv_plan")
            and not isinstance(value, type) and not name.startswith("_")
        )

    # -- recording
    def _reset(self):
        self.kinds = defaultdict(float)
        self.layers = defaultdict(float)  # (layer, phase) -> seconds
        self.layer_types = {}
        self.kernels = defaultdict(lambda: [0.0, 0])  # (kind, kernel) -> [seconds, calls]
        self.ctx_layer = {}  # id(ctx) -> (layer, type)
        self.stack = []
        self.pending = []  # kernel (name, seconds) since the last forward event
        self.kernel_depth = 0
        self.current_kind = None  # the kind that kernel time goes to now (None: pending, forward)
        self.last = None

    def _charge(self, kind, layer, seconds, kernels):
        self.kinds[kind] += seconds
        if layer is not None:
            self.layers[(layer[0], "bwd" if kind.endswith(("bwd", "dW", "dX")) else "fwd")] += seconds
            self.layer_types[layer[0]] = layer[1]
        for name, t in kernels:
            entry = self.kernels[(kind, name)]
            entry[0] += t
            entry[1] += 1

    def _forward_event(self, kind, layer):
        now = time.perf_counter()
        self._charge(kind, layer, now - self.last, self.pending)
        self.pending = []
        return now

    def _top(self):
        return self.names[self.stack[-1]] if self.stack else None

    def _pre_hook(self, module, inputs):
        self._forward_event("between ops", self._top())
        self.stack.append(id(module))
        self.last = time.perf_counter()

    def _post_hook(self, module, inputs, output):
        family = MODULE_FAMILIES.get(type(module).__name__) if id(module) in self.leaves else None
        self._forward_event(f"{family} fwd" if family else "between ops", self._top())
        self.stack.pop()
        self.last = time.perf_counter()

    def _function_hook(self, fn, args, kwargs, output):
        start = time.perf_counter()
        top = self._top()
        family = MINIGRAD_FAMILIES.get(fn.__name__)
        if family is None and top is not None and self.stack[-1] in self.leaves:
            family = MODULE_FAMILIES.get(top[1])
        kind = f"{family or 'other'} fwd"
        layer = top or (("(loss)", "-") if family == "loss" else ("(top)", "-"))
        self._charge(kind, layer, start - self.last, self.pending)
        self.pending = []
        first = output[0] if isinstance(output, tuple) else output
        ctx = getattr(first, "_ctx", None)
        if ctx is not None:
            self.ctx_layer[id(ctx)] = layer
        if fn not in self.patched:
            self._patch_backward(fn)
        self.last = time.perf_counter()

    # -- wrappers
    def _kernel_wrapper(self, name, kernel):
        def timed(*args, **kwargs):
            if self.kernel_depth:  # a kernel calling another: only the outer one is timed
                return kernel(*args, **kwargs)
            self.kernel_depth += 1
            start = time.perf_counter()
            try:
                return kernel(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                self.kernel_depth -= 1
                if self.current_kind is None:
                    self.pending.append((name, seconds))
                else:
                    entry = self.kernels[(self.current_kind, name)]
                    entry[0] += seconds
                    entry[1] += 1

        return timed

    def _timed_backward(self, kind, original, ctx, grad, layer):
        self.current_kind = kind
        start = time.perf_counter()
        try:
            return original(ctx, grad)
        finally:
            seconds = time.perf_counter() - start
            self.current_kind = "autograd engine"
            self.kinds[kind] += seconds
            if layer is not None:
                self.layers[(layer[0], "bwd")] += seconds

    def _patch_backward(self, fn):
        self.patched[fn] = fn.__dict__.get("backward")
        original = fn.backward  # the plain function behind the staticmethod
        family = MINIGRAD_FAMILIES.get(fn.__name__, "other")
        profiler = self

        def backward(ctx, grad):
            layer = profiler.ctx_layer.get(id(ctx))
            needs = ctx.needs_input_grad
            if family != "conv" or not profiler.split_conv or not needs[0] or not any(needs[1:3]):
                kind = "conv bwd dW" if family == "conv" and not needs[0] else f"{family} bwd"
                return profiler._timed_backward(kind, original, ctx, grad, layer)
            try:
                ctx.needs_input_grad = (False,) + tuple(needs[1:])
                weight_part = profiler._timed_backward("conv bwd dW", original, ctx, grad, layer)
                ctx.needs_input_grad = (needs[0], False, False) + tuple(needs[3:])
                input_part = profiler._timed_backward("conv bwd dX", original, ctx, grad, layer)
            finally:
                ctx.needs_input_grad = needs
            return (input_part[0],) + tuple(weight_part[1:])

        fn.backward = staticmethod(backward)

    # -- the step
    def step(self, optimizer, loss_fn, x, y) -> dict:
        """Run one instrumented training step.

        Args:
            optimizer: the SGD optimizer of ``self.model``.
            loss_fn: ``loss_fn(logits, y)``, the loss.
            x: input batch tensor.
            y: label tensor.

        Returns:
            ``{"loss", "wall_ms", "kinds": {kind: ms}, "layers": {"layer|phase": ms},
            "layer_types": {layer: type}, "kernels": {"kind|kernel": [ms, calls]}}``.
        """
        import minigrad as mg

        self._reset()
        handles = []
        originals = {name: getattr(self.backend, name) for name in self.kernel_names}
        # The package and every CPU module that imported a kernel by name (memory_format.py calls
        # the layout kernels so): each such binding gets the timed wrapper, and its original back.
        bindings = [(module, name, kernel) for module in self._cpu_modules() for name, kernel in originals.items()
                    if vars(module).get(name) is kernel]
        try:
            for module, name, kernel in bindings:
                setattr(module, name, self._kernel_wrapper(name, kernel))
            for module in self.model.modules():
                handles.append(module.register_forward_pre_hook(self._pre_hook))
                handles.append(module.register_forward_hook(self._post_hook))
            t0 = time.perf_counter()
            self.current_kind = "zero_grad"
            optimizer.zero_grad()
            t1 = time.perf_counter()
            self.kinds["zero_grad"] += t1 - t0
            self.current_kind = None
            self.last = time.perf_counter()
            with mg.autograd.function_hook(self._function_hook):
                loss = loss_fn(self.model(x), y)
            self._forward_event("between ops", None)
            self.current_kind = "autograd engine"
            t2 = time.perf_counter()
            loss.backward()
            t3 = time.perf_counter()
            ops = sum(v for k, v in self.kinds.items() if k.endswith(("bwd", "dW", "dX")))
            self.kinds["autograd engine"] += (t3 - t2) - ops
            self.current_kind = "optimizer step"
            optimizer.step()
            t4 = time.perf_counter()
            self.kinds["optimizer step"] += t4 - t3
            value = float(loss.item())
        finally:
            for handle in handles:
                handle.remove()
            for module, name, kernel in bindings:
                setattr(module, name, kernel)
            self._unpatch()
        kinds = dict(self.kinds)
        kinds["conv bwd"] = kinds.get("conv bwd", 0.0) + kinds.get("conv bwd dW", 0.0) + kinds.get("conv bwd dX", 0.0)
        kernels = {f"{kind}|{name}": [1e3 * seconds, calls] for (kind, name), (seconds, calls) in self.kernels.items()}
        return {"loss": value, "wall_ms": 1e3 * (t4 - t0), "kinds": {k: 1e3 * v for k, v in kinds.items()},
                "layers": {"|".join(k): 1e3 * v for k, v in self.layers.items()}, "layer_types": dict(self.layer_types),
                "kernels": kernels}

    def _cpu_modules(self):
        """The CPU backend package and its loaded submodules."""
        prefix = self.backend.__name__ + "."
        return [self.backend] + [m for n, m in sorted(sys.modules.items()) if n.startswith(prefix) and m is not None]

    def _unpatch(self):
        for fn, attribute in self.patched.items():
            if attribute is None:
                del fn.backward
            else:
                fn.backward = attribute
        self.patched = {}


# ------------------------------------------------------------------ PyTorch instrumentation
def _chain(event) -> list:
    """``event`` and its CPU ancestors, outermost first."""
    chain = []
    while event is not None:
        chain.append(event)
        event = event.cpu_parent
    return chain[::-1]


def torch_breakdown(events) -> dict:
    """Self CPU time of a profiled PyTorch step per op kind, layer and op (see the module docstring).

    Args:
        events: ``prof.events()`` of one step run with ``phase::*`` ranges around the phases and
            ``layer::<name>|<type>`` ranges around every named module's forward.

    Returns:
        ``{"kinds": {kind: ms}, "layers": {"layer|phase": ms}, "layer_types": {layer: type},
        "kernels": {"kind|op": [ms, calls]}}``.
    """
    kinds, layers = defaultdict(float), defaultdict(float)
    kernels = defaultdict(lambda: [0.0, 0])
    layer_types, sequence_layer = {}, {}
    chains = [(event, _chain(event)) for event in events]
    # The forward first: its ops' sequence numbers name the layers of the backward nodes.
    chains.sort(key=lambda item: item[1][0].name != "phase::forward")
    for event, chain in chains:
        phase, ms, op, layer = chain[0].name, event.self_cpu_time_total / 1e3, True, None
        if phase == "phase::forward":
            modules = [e.name[len("layer::"):].split("|") for e in chain if e.name.startswith("layer::")]
            if modules:
                layer = modules[-1][0]
                layer_types[layer] = modules[-1][1]
            ops = [e for e in chain if not e.name.startswith(("phase::", "layer::"))]
            if not ops:  # the self time of a range: Python between ops
                kind, op = "between ops", False
            else:
                family = MODULE_FAMILIES.get(modules[-1][1]) if modules else None
                family = family or TORCH_FORWARD_FAMILIES.get(ops[0].name)
                kind = f"{family or 'other'} fwd"
                if layer is None:
                    layer = "(loss)" if family == "loss" else "(top)"
                for e in ops:  # composite ops (aten::linear) have none; the op under them has
                    if e.sequence_nr >= 0:
                        sequence_layer[e.sequence_nr] = layer
            layer = layer or "(top)"
        elif phase == "phase::backward":
            evaluate = next((e for e in chain if e.name.startswith(EVALUATE)), None)
            if evaluate is None:
                kind, op = ("between ops", False) if event is chain[0] else ("autograd engine", True)
            else:
                node = evaluate.name[len(EVALUATE):]
                family = torch_backward_family(node)
                # Under evaluate_function but outside the node itself: the engine's own work, e.g.
                # the add_ that sums the gradients of a tensor used twice (minigrad's engine does it too).
                inside = any(e.name == node for e in chain[chain.index(evaluate) + 1:])
                if family == "engine" or not inside:
                    kind = "autograd engine"
                else:
                    kind = f"{family or 'other'} bwd"
                    layer = sequence_layer.get(evaluate.sequence_nr)
                op = event is not evaluate
        elif phase == "phase::optimizer":
            kind, op = "optimizer step", event is not chain[0]
        elif phase.startswith("Optimizer.zero_grad"):
            kind = "zero_grad"
        else:
            kind = "between ops"
        kinds[kind] += ms
        if layer is not None:
            layers[(layer, "bwd" if phase == "phase::backward" else "fwd")] += ms
        if op:
            kernels[(kind, event.name)][0] += ms
            kernels[(kind, event.name)][1] += 1
    return {"kinds": dict(kinds), "layers": {"|".join(k): v for k, v in layers.items()}, "layer_types": layer_types,
            "kernels": {f"{k}|{n}": v for (k, n), v in kernels.items()}}


def torch_profiled_step(model, optimizer, x, y) -> dict:
    """One PyTorch training step under ``torch.profiler``; ``torch_breakdown`` of it plus wall time and loss."""
    from torch.profiler import ProfilerActivity, profile, record_function

    names = {id(m): f"{name}|{type(m).__name__}" for name, m in model.named_modules() if name}
    open_ranges = []

    def pre(module, inputs):
        if id(module) in names:
            scope = record_function("layer::" + names[id(module)])
            scope.__enter__()
            open_ranges.append(scope)

    def post(module, inputs, output):
        if id(module) in names:
            open_ranges.pop().__exit__(None, None, None)

    handles = [h for m in model.modules() for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    try:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with record_function("phase::forward"):
                loss = _torch_cross_entropy(model(x), y)
            with record_function("phase::backward"):
                loss.backward()
            with record_function("phase::optimizer"):
                optimizer.step()
            wall = time.perf_counter() - start
    finally:
        for handle in handles:
            handle.remove()
    result = torch_breakdown(prof.events())
    result.update(loss=float(loss.item()), wall_ms=1e3 * wall)
    return result


def _torch_cross_entropy(logits, y):
    """``torch.nn.functional.cross_entropy`` (looked up late: the minigrad worker has no torch)."""
    return torch.nn.functional.cross_entropy(logits, y)


# ------------------------------------------------------------------ workers
def _build(framework: str, name: str, batch_size: int, weights, split_conv: bool = True):
    """(plain step, profiled step) closures of one framework, each returning a result dict."""
    images, labels = vs_torch.batch(name, batch_size)
    if framework == "torch":
        model = vs_torch.TORCH_MODELS[name]().train()
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()}, strict=True)
        x, y = torch.from_numpy(images), torch.from_numpy(labels)
        optimizer = torch.optim.SGD(model.parameters(), lr=vs_torch.LR, momentum=vs_torch.MOMENTUM)

        def plain():
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = _torch_cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            return {"wall_ms": 1e3 * (time.perf_counter() - start), "loss": float(loss.item())}

        return plain, lambda: torch_profiled_step(model, optimizer, x, y)
    import minigrad as mg
    import minigrad.functional as F
    from minigrad.models import get_model

    mg.manual_seed(0)
    model = get_model(name, **vs_torch.MODELS[name][1]).train()
    x, y = mg.Tensor(images), mg.Tensor(labels)
    optimizer = mg.optim.SGD(model.parameters(), lr=vs_torch.LR, momentum=vs_torch.MOMENTUM)
    profiler = MinigradProfiler(model, split_conv=split_conv)

    def plain():
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return {"wall_ms": 1e3 * (time.perf_counter() - start), "loss": float(loss.item())}

    return plain, lambda: profiler.step(optimizer, F.cross_entropy, x, y)


def _worker(conn, framework, name, batch_size, threads, warmup, weights, split_conv) -> None:
    """A worker process: builds the steps, warms up, then runs ``"plain"``/``"profile"`` steps on request."""
    if framework == "torch":
        torch.set_num_threads(threads)
    else:
        from minigrad.backends.cpu import set_num_threads

        set_num_threads(threads)
    plain, profiled = _build(framework, name, batch_size, weights, split_conv)
    first_loss = plain()["loss"]
    for i in range(max(0, warmup - 1)):
        (profiled if i % 2 else plain)()  # both paths warm (the profiler's first run is slow)
    profiled()
    conn.send(first_loss)
    while (request := conn.recv()) is not None:
        conn.send((plain if request == "plain" else profiled)())


def profile_both(name: str, batch_size: int, steps: int, warmup: int, threads: int, split_conv: bool) -> dict:
    """Run the workers, taking turns step by step; medians per op kind, layer and kernel of each framework."""
    import multiprocessing

    frameworks = ["minigrad"] + (["torch"] if torch is not None else [])
    weights = None
    if torch is not None:
        weights = {k: np.array(v) for k, v in vs_torch.minigrad_step(name, 2)[1].state_dict().items()}
    context = multiprocessing.get_context("spawn")
    workers = {}
    try:
        for framework in frameworks:
            parent, child = context.Pipe()
            os.environ["VS_TORCH_WORKER"] = framework
            try:
                process = context.Process(target=_worker, daemon=True, args=(
                    child, framework, name, batch_size, threads, warmup, weights, split_conv))
                process.start()
            finally:
                del os.environ["VS_TORCH_WORKER"]
            workers[framework] = (process, parent)
        first_loss = {framework: conn.recv() for framework, (_, conn) in workers.items()}
        runs = {framework: {"plain": [], "profile": []} for framework in frameworks}
        for _ in range(steps):
            for request in ("plain", "profile"):
                for framework, (_, conn) in workers.items():
                    conn.send(request)
                    runs[framework][request].append(conn.recv())
        for _, conn in workers.values():
            conn.send(None)
    finally:
        for process, _ in workers.values():
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    result = {"model": name, "batch": batch_size, "threads": threads, "steps": steps, "first_loss": first_loss}
    for framework, run in runs.items():
        profiles = run["profile"]
        summary = {"plain_ms": statistics.median(r["wall_ms"] for r in run["plain"]),
                   "profiled_ms": statistics.median(r["wall_ms"] for r in profiles)}
        summary["layer_types"] = {k: v for r in profiles for k, v in r["layer_types"].items()}
        for table in ("kinds", "layers", "kernels"):
            keys = list(dict.fromkeys(k for r in profiles for k in r[table]))  # first seen first
            if table == "kernels":
                summary[table] = {k: [statistics.median(r[table].get(k, [0.0, 0])[0] for r in profiles),
                                      statistics.median(r[table].get(k, [0.0, 0])[1] for r in profiles)]
                                  for k in keys}
            else:
                summary[table] = {k: statistics.median(r[table].get(k, 0.0) for r in profiles) for k in keys}
        result[framework] = summary
    return result


# ------------------------------------------------------------------ report
def _ratio(a, b):
    return a / b if a is not None and b else None


def print_report(result: dict, top: int, show_layers: bool) -> None:
    """Print the op-kind table, the top kernels of each framework and (optionally) the per-layer table."""
    mg_run, th_run = result["minigrad"], result.get("torch")
    print(f"\n{result['model']}, batch {result['batch']}, {result['threads']} threads, median of {result['steps']} "
          f"steps; first losses {result['first_loss']}; load average {os.getloadavg()[0]:.2f} (1 min)")
    rows = []
    for kind in KINDS:
        m = mg_run["kinds"].get(kind)
        t = th_run["kinds"].get(kind) if th_run else None
        if m is None and t is None:
            continue
        rows.append({"kind": ("  " if kind in ("conv bwd dW", "conv bwd dX") else "") + kind, "mg": m, "torch": t,
                     "ratio": _ratio(m, t)})
    for label, key in (("total (profiled step)", "profiled_ms"), ("plain step (no profiler)", "plain_ms")):
        m, t = mg_run[key], th_run[key] if th_run else None
        rows.append({"kind": label, "mg": m, "torch": t, "ratio": _ratio(m, t)})
    print_table(rows, [("kind", "op kind", "{}"), ("mg", "minigrad ms", "{:.2f}"), ("torch", "torch ms", "{:.2f}"),
                       ("ratio", "mg/torch", "{:.2f}")])
    for label, run in (("minigrad", mg_run), ("torch", th_run)):
        if run is None:
            continue
        print(f"\n{label}: top {top} kernels/ops by time per step")
        items = sorted(run["kernels"].items(), key=lambda kv: -kv[1][0])[:top]
        print_table([{"kind": k.split("|")[0], "kernel": k.split("|")[1], "ms": v[0], "calls": v[1]} for k, v in items],
                    [("kind", "op kind", "{}"), ("kernel", "kernel / op", "{}"), ("ms", "ms", "{:.2f}"),
                     ("calls", "calls", "{:.0f}")])
    if show_layers:
        names = list(dict.fromkeys(k.rsplit("|", 1)[0] for k in mg_run["layers"]))
        if th_run:
            names += [n for n in dict.fromkeys(k.rsplit("|", 1)[0] for k in th_run["layers"]) if n not in names]
        rows = []
        for layer in names:
            row = {"layer": layer, "type": mg_run["layer_types"].get(layer, "-")}
            for phase in ("fwd", "bwd"):
                row[f"mg_{phase}"] = mg_run["layers"].get(f"{layer}|{phase}")
                row[f"t_{phase}"] = th_run["layers"].get(f"{layer}|{phase}") if th_run else None
            row["ratio"] = _ratio((row["mg_fwd"] or 0) + (row["mg_bwd"] or 0), (row["t_fwd"] or 0) + (row["t_bwd"] or 0))
            rows.append(row)
        print("\nper layer, ms per step (a module's own ops, not its children's; bwd: the backward of those ops)")
        print_table(rows, [("layer", "layer", "{}"), ("type", "type", "{}"), ("mg_fwd", "mg fwd", "{:.2f}"),
                           ("mg_bwd", "mg bwd", "{:.2f}"), ("t_fwd", "torch fwd", "{:.2f}"),
                           ("t_bwd", "torch bwd", "{:.2f}"), ("ratio", "mg/torch", "{:.2f}")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", choices=sorted(vs_torch.MODELS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="both frameworks' thread count (default: all cores)")
    parser.add_argument("--steps", type=int, default=5, help="instrumented (and as many plain) steps of each")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps of each framework first")
    parser.add_argument("--top", type=int, default=15, help="kernels listed per framework")
    parser.add_argument("--layers", action="store_true", help="also print the per-layer table")
    parser.add_argument("--no-split-conv", action="store_true", help="time a conv's backward as one call")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    threads = args.threads or len(os.sched_getaffinity(0))
    if torch is None:
        print("torch is not installed: profiling minigrad alone", file=sys.stderr)
    load_before = os.getloadavg()
    result = profile_both(args.model, args.batch_size, args.steps, args.warmup, threads, not args.no_split_conv)
    result["load_average_before"] = load_before
    result["load_average_after"] = os.getloadavg()
    print_report(result, args.top, args.layers)
    if args.json:
        write_json(args.json, {"benchmark": "profile_step", "torch": None if torch is None else torch.__version__,
                               "result": result})


if __name__ == "__main__":
    main()
