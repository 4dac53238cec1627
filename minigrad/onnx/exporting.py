"""Trace one forward pass through the ``Function`` graph and write it as an ONNX model.

Every ``Function.apply`` of the pass reaches ``_Tracer.on_function`` (through
``autograd.function_hook``); ``export_ops.EXPORTERS`` turns it into ONNX nodes. Tensors
that no traced op produced are the graph input, a parameter or buffer of the model (an
initializer under its ``state_dict`` name) or a constant (an initializer named after the
layer that used it). Module hooks keep the name of the layer being run, for node names and
for the error raised by an op without a mapping.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ..autograd import function_hook, no_grad
from ..tensor import Tensor
from ..version import __version__
from .errors import OnnxError, require_onnx

#: Opsets that ``export`` writes.
SUPPORTED_OPSETS = range(13, 22)

__all__ = ["export", "GraphBuilder"]

BATCH = "batch"
#: Metadata key of the integer buffers that are not initializers.
COUNTERS_KEY = "minigrad.counters"


class GraphBuilder:
    """The ONNX graph under construction: nodes, initializers and the names of traced values.

    Args:
        onnx: the ``onnx`` module.
        opset: the target opset (exporters read it for version-dependent signatures).
        names: ``id(tensor) -> name`` of the model's parameters and buffers.
    """

    def __init__(self, onnx, opset: int, names: dict):
        self.onnx, self.opset = onnx, opset
        self.nodes, self.initializers = [], []
        self.values = {}        # id(tensor or array) -> ONNX value name
        self.keep = []          # the traced objects, so that their ids stay unique
        self.param_names = names
        self.used = set()
        self.layer = ""         # the module being run (dotted state_dict prefix)
        self.counts = {}

    def unique(self, base: str) -> str:
        base = base or "value"
        n = self.counts.get(base, 0)
        self.counts[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def scope(self, what: str) -> str:
        return f"{self.layer}/{what}" if self.layer else what

    def const(self, array, what: str) -> str:
        """A ``Constant`` node holding ``array``; returns its output name.

        Constants of the ops (shapes, pads, pooling matrices) are nodes, so that initializers are
        exactly the model's parameters and buffers and ``load`` gives back the same ``state_dict``.
        """
        name = self.unique(self.scope(what))
        value = self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name)
        self.nodes.append(self.onnx.helper.make_node("Constant", [], [name], name=name, value=value))
        return name

    def ints(self, values, what: str) -> str:
        return self.const(np.asarray(values, dtype=np.int64), what)

    def name(self, x, what: str = "const") -> str:
        """The value name of a traced tensor, a parameter, or a new constant for anything else."""
        if x is None:
            return ""
        known = self.values.get(id(x))
        if known is not None:
            return known
        if isinstance(x, Tensor) and id(x) in self.param_names:
            name = self.param_names[id(x)]
            if name not in self.used:
                self.used.add(name)
                self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(x.numpy()), name))
            self.bind(x, name)
            return name
        array = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
        name = self.const(array, what)
        self.bind(x, name)
        return name

    def bind(self, x, name: str) -> None:
        self.values[id(x)] = name
        self.keep.append(x)

    def node(self, op_type: str, inputs, n_outputs: int = 1, **attrs) -> list:
        """Append a node; returns its output names."""
        base = self.scope(op_type)
        node_name = self.unique(base)
        outputs = [node_name if n_outputs == 1 else f"{node_name}:{i}" for i in range(n_outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), outputs, name=node_name, **attrs))
        return outputs

    def emit(self, op_type: str, inputs, output, **attrs) -> str:
        """Append a one-output node and bind its output to the traced tensor ``output``."""
        (name,) = self.node(op_type, inputs, **attrs)
        self.bind(output, name)
        return name


class _Tracer:
    """Receives every ``Function.apply`` and every module call of the traced pass."""

    def __init__(self, graph: GraphBuilder, module_names: dict):
        from .export_ops import EXPORTERS

        self.graph, self.exporters, self.module_names, self.stack = graph, EXPORTERS, module_names, []

    def on_function(self, function, args, kwargs, output):
        exporter = self.exporters.get(function)
        if exporter is None:
            where = f"layer '{self.graph.layer}'" if self.graph.layer else "the model's forward"
            raise OnnxError(f"onnx export: op {function.__name__} (in {where}) has no ONNX mapping")
        exporter(self.graph, args, kwargs, output[0] if isinstance(output, tuple) else output)

    def pre_hook(self, module, inputs):
        self.stack.append(self.graph.layer)
        self.graph.layer = self.module_names.get(id(module), self.graph.layer)

    def post_hook(self, module, inputs, output):
        self.graph.layer = self.stack.pop() if self.stack else ""


def _value_info(onnx, name, array_shape, dtype, batch: bool):
    dims = [BATCH if batch and i == 0 else int(d) for i, d in enumerate(array_shape)]
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return onnx.helper.make_tensor_value_info(name, elem, dims)


def trace(model, example_input, opset: int = 17, input_names=("input",), output_names=("output",)):
    """Trace ``model`` on ``example_input`` into an ``onnx.ModelProto`` (nothing is written).

    Args:
        model: a ``minigrad.nn.Module``; traced in eval mode (its mode is restored afterwards).
        example_input: a Tensor or array (N, ...) or a tuple of them, one per model input.
        opset: the ONNX opset to target (``minigrad.onnx.SUPPORTED_OPSETS``).
        input_names, output_names: graph input and output names.

    Returns:
        The checked ``ModelProto``.

    Raises:
        OnnxError: an unsupported opset, an op without an ONNX mapping (naming op and layer),
            or an output that does not depend on the input.
    """

    onnx = require_onnx()
    if opset not in SUPPORTED_OPSETS:
        raise OnnxError(f"onnx export: opset {opset} is not supported "
                        f"(supported: {SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1})")
    inputs = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
    inputs = [x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32)) for x in inputs]
    if len(input_names) != len(inputs):
        raise OnnxError(f"onnx export: {len(inputs)} example input(s) but input_names {list(input_names)}")
    names = {id(t): n for n, t in list(model.named_parameters()) + list(model.named_buffers())}
    graph = GraphBuilder(onnx, opset, names)
    for x, name in zip(inputs, input_names):
        graph.bind(x, name)
    tracer = _Tracer(graph, {id(m): n for n, m in model.named_modules()})
    modules = list(model.modules())
    modes = [(m, m.training) for m in modules]
    handles = [m.register_forward_pre_hook(tracer.pre_hook) for m in modules]
    handles += [m.register_forward_hook(tracer.post_hook) for m in modules]
    model.eval()
    try:
        with no_grad(), function_hook(tracer.on_function):
            result = model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    if len(output_names) != len(outputs):
        output_names = [f"output_{i}" for i in range(len(outputs))] if len(outputs) > 1 else list(output_names)[:1]
    batch = inputs[0].shape[0] if inputs[0].ndim else None
    graph_outputs = []
    for out, name in zip(outputs, output_names):
        if not isinstance(out, Tensor) or id(out) not in graph.values:
            raise OnnxError(f"onnx export: model output {name!r} does not depend on the input")
        graph.node("Identity", [graph.values[id(out)]])
        graph.nodes[-1].output[0] = name
        graph_outputs.append(_value_info(onnx, name, out.shape, out.dtype, out.ndim and out.shape[0] == batch))
    graph_inputs = [_value_info(onnx, n, x.shape, x.dtype, x.ndim > 0) for x, n in zip(inputs, input_names)]
    proto = onnx.helper.make_graph(graph.nodes, type(model).__name__, graph_inputs, graph_outputs,
                                   initializer=graph.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    # An explicit IR version, the lowest that carries this opset, so that older runtimes load the file.
    onnx_model = onnx.helper.make_model(proto, opset_imports=opsets, producer_name="minigrad",
                                        ir_version=onnx.helper.find_min_ir_version_for(opsets))

    onnx_model.producer_version = __version__
    # Integer counters (BatchNorm's num_batches_tracked) take no part in inference; kept as metadata
    # (not as unused initializers, which runtimes warn about) so that ``load`` restores the state_dict.
    counters = {k: int(v) for k, v in model.state_dict().items()
                if k not in graph.used and np.ndim(v) == 0 and np.asarray(v).dtype.kind in "iu"}
    if counters:
        onnx.helper.set_model_props(onnx_model, {COUNTERS_KEY: json.dumps(counters)})
    onnx.checker.check_model(onnx_model)
    return onnx_model


def export(model, example_input, path, opset: int = 17, input_names=("input",), output_names=("output",)) -> Path:
    """Trace ``model`` on ``example_input`` and write the ONNX file ``path`` (atomically).

    Args:
        model, example_input, opset, input_names, output_names: as ``trace``.
        path: the ``.onnx`` file to write.

    Returns:
        The path written.

    Raises:
        OnnxError: as ``trace``; nothing is written then.
    """
    onnx_model = trace(model, example_input, opset, input_names, output_names)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(onnx_model.SerializeToString())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
