"""Read an ONNX file as a minigrad ``Module`` that runs the graph with minigrad's ops.

Loading checks the file (``onnx.checker``), the opset and that every node is supported, then
folds the nodes fed only by constants (``NUMPY``), and builds the layers with
weights: Conv -> ``nn.Conv2d``, ConvTranspose -> ``nn.ConvTranspose2d``, Gemm ->
``nn.Linear``, BatchNormalization -> ``nn.BatchNorm2d``. A layer sits at the module path its
initializers name (``features.0.weight`` and ``features.0.bias`` make ``features.0``), so a
model exported by minigrad comes back with its own ``state_dict`` keys; other names become a
path from the node's name. Float initializers used elsewhere become parameters of the model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .. import nn
from ..tensor import Tensor
from . import load_ops
from .errors import OnnxError, require_onnx
from .node_table import NUMPY, TENSOR

__all__ = ["load", "OnnxModel", "MIN_OPSET"]

#: The oldest default-domain opset ``load`` reads (older ones changed BatchNormalization and Pad).
MIN_OPSET = 6

_LAYER_SLOTS = {"Conv": ("weight", "bias"), "ConvTranspose": ("weight", "bias"), "Gemm": ("weight", "bias"),
                "BatchNormalization": ("weight", "bias", "running_mean", "running_var")}


def _one_line(error) -> str:
    text = str(error).strip().splitlines()
    return " ".join(text[0].split()) if text else type(error).__name__


def read_model(path):
    """Read and check the ONNX file; returns the ``ModelProto`` and its default-domain opset.

    Raises:
        OnnxError: missing, corrupt or truncated file, an invalid graph, an unsupported opset or
            node (naming the node and its position).
    """
    onnx = require_onnx()
    path = Path(path)
    if not path.is_file():
        raise OnnxError(f"{path}: no such ONNX file")
    data = path.read_bytes()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as error:  # protobuf raises DecodeError, RuntimeWarning-free ValueError ...
        raise OnnxError(f"{path}: not a readable ONNX model ({_one_line(error)})") from None
    if not model.HasField("graph") or not (model.graph.node or model.graph.output):
        raise OnnxError(f"{path}: not an ONNX model (no graph; corrupt or truncated file)")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    newest = onnx.defs.onnx_opset_version()
    if opset is None or not MIN_OPSET <= opset <= newest:
        raise OnnxError(f"{path}: unsupported opset {opset} (supported: {MIN_OPSET}..{newest})")
    try:
        onnx.checker.check_model(data)  # the bytes: checking the parsed proto would serialize it again
    except Exception as error:
        raise OnnxError(f"{path}: invalid ONNX model ({_one_line(error)})") from None
    nodes = model.graph.node
    for i, node in enumerate(nodes):
        if node.domain not in ("", "ai.onnx") or (node.op_type not in TENSOR
                                                  and node.op_type not in NUMPY):
            kind = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            raise OnnxError(f"{path}: unsupported ONNX node {kind} {node.name!r} (node {i + 1} of {len(nodes)})")
    return model, opset


def _attributes(node) -> dict:
    """A node's attributes; floats (stored in single precision) as the shortest decimal that rounds to them,
    so that an exported ``eps=1e-5`` comes back as 1e-5 and not 9.99999974738e-06."""
    from onnx import helper

    attrs = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, float):
            value = float(str(np.float32(value)))
        attrs[a.name] = value
    return attrs


def _weighted(layer, weight, bias):
    """``layer`` with the file's weight and bias as its parameters (float32, contiguous)."""
    layer.weight = nn.Parameter(np.ascontiguousarray(weight, dtype=np.float32))
    if bias is not None:
        layer.bias = nn.Parameter(np.ascontiguousarray(bias, dtype=np.float32))
    return layer


def _safe(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name) or "_"


class OnnxModel(nn.Module):
    """An ONNX graph run with minigrad's ops; see the module docstring for how it is built.

    Args:
        model: the checked ``onnx.ModelProto``.
        opset: its default-domain opset.
        where: the file name, for error messages.

    Attributes:
        input_names, output_names: the graph's (non-initializer) inputs and outputs.
        input_shapes: per input, the declared shape (ints; None for a symbolic dimension).
        opset: the model's opset.

    Shape:
        The graph's: ``forward(*inputs)`` takes one tensor per graph input and returns one tensor,
        or a tuple when the graph has several outputs.
    """

    def __init__(self, model, opset: int, where: str = "onnx"):
        super().__init__()
        from onnx import numpy_helper

        graph = model.graph
        object.__setattr__(self, "opset", opset)
        object.__setattr__(self, "_where", where)
        constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in constants]
        self.output_names = [o.name for o in graph.output]
        self.input_shapes = [[d.dim_value if d.HasField("dim_value") else None for d in i.type.tensor_type.shape.dim]
                             for i in graph.input if i.name not in constants]
        self._nodes = list(graph.node)
        self._constants = {}    # value name -> ndarray (initializers and folded nodes)
        self._tensors = {}      # value name -> Tensor (parameters owned by the model itself)
        self._layers = {}       # node index -> (kind, module)
        self._steps = []        # node indices that run at forward time
        initializers = set(constants)
        self._fold(constants)
        uses = {}
        for i in self._steps:
            for name in self._nodes[i].input:
                uses.setdefault(name, []).append(i)
        taken = set()
        for i in list(self._steps):
            self._build_layer(i, constants, initializers, uses, taken)
        self._adopt_loose(constants, initializers, uses)
        self._restore_counters(model)
        self.eval()

    def image_size(self):
        """(C, H, W) of the first input when it is a fixed-size image batch (N, C, H, W), else None."""
        shape = self.input_shapes[0] if self.input_shapes else []
        if len(shape) != 4 or any(not s for s in shape[1:]):
            return None
        return tuple(int(s) for s in shape[1:])

    # ------------------------------------------------------------------ building
    def _error(self, i, message) -> OnnxError:
        node = self._nodes[i]
        return OnnxError(f"{self._where}: node {node.op_type} {node.name!r} (node {i + 1} of {len(self._nodes)}): "
                         f"{message}")

    def _fold(self, constants):
        """Evaluate the nodes whose inputs are all constants; the others run in ``forward``."""
        for i, node in enumerate(self._nodes):
            fn = NUMPY.get(node.op_type)
            inputs = [n for n in node.input if n]
            if fn is not None and all(n in constants for n in inputs):
                try:
                    outputs = fn(node, [constants.get(n) if n else None for n in node.input],
                                 _attributes(node), self.opset)
                except (ValueError, KeyError, IndexError, TypeError) as error:
                    raise self._error(i, _one_line(error)) from None
                for name, value in zip(node.output, outputs):
                    constants[name] = np.asarray(value)
            else:
                self._steps.append(i)
        self._constants = constants

    def _place(self, module, names, slots, i, taken) -> None:
        """Attach ``module`` at the path its initializers name, else at a path from the node's name."""
        path = None
        prefixes = {n.rsplit(".", 1)[0] for n in names if n and "." in n}
        if len(prefixes) == 1:
            prefix = prefixes.pop()
            if all(not n or n == f"{prefix}.{s}" for n, s in zip(names, slots)) and prefix not in taken:
                path = prefix
        if path is not None:
            parts = path.split(".")
            if any(p in taken for p in (".".join(parts[:k]) for k in range(1, len(parts)))):
                path = None
        if path is None:
            node = self._nodes[i]
            base = _safe(node.name or f"{node.op_type.lower()}_{i}")
            path, k = base, 1
            while path in taken or path in self._modules or path in self._parameters:
                path, k = f"{base}_{k}", k + 1
        parent = self
        parts = path.split(".")
        for part in parts[:-1]:
            if part not in parent._modules:
                parent.add_module(part, nn.Module())
            parent = parent._modules[part]
        parent.add_module(parts[-1], module)
        taken.add(path)

    def _build_layer(self, i, constants, initializers, uses, taken) -> None:
        node = self._nodes[i]
        kind = node.op_type
        if kind not in _LAYER_SLOTS:
            return
        inputs = list(node.input)
        attrs = _attributes(node)
        weights = inputs[1:] if kind != "BatchNormalization" else inputs[1:5]
        if not weights or not all(n in constants for n in weights if n):
            return  # weights computed at run time: the functional form runs it
        arrays = [constants.get(n) if n else None for n in weights]
        try:
            module, names = self._layer(kind, attrs, arrays, weights)
        except load_ops.NodeError as error:
            raise self._error(i, str(error)) from None
        if module is None:
            return
        self._place(module, names, _LAYER_SLOTS[kind], i, taken)
        self._layers[i] = (kind, module, attrs)
        for n in weights:
            if n in initializers and len(uses.get(n, [])) <= 1:
                self._constants.pop(n, None)

    def _layer(self, kind, attrs, arrays, names):
        """The ``nn`` layer of a node with constant weights, or (None, ...) to run it functionally."""
        if kind == "Conv":
            w, b = arrays[0], arrays[1] if len(arrays) > 1 else None
            if w.ndim not in (3, 4):
                raise load_ops.NodeError(f"a {w.ndim - 2}-D convolution is not supported (only 1-D and 2-D)")
            if w.ndim == 3:
                return None, names  # 1-D: the functional form runs it as (N, C, 1, L)
            k = w.shape[2:]
            strides, dilations = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1])
            groups = int(attrs.get("group", 1))
            layer = nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(k), tuple(strides), 0, tuple(dilations), groups,
                              bias=b is not None)
            return _weighted(layer, w, b), names
        if kind == "ConvTranspose":
            w, b = arrays[0], arrays[1] if len(arrays) > 1 else None
            if w.ndim != 4:
                raise load_ops.NodeError(f"a {w.ndim - 2}-D transposed convolution is not supported (only 2-D)")
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            if pads[:2] != pads[2:] or "output_shape" in attrs or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise load_ops.NodeError(f"ConvTranspose with asymmetric pads {pads}, output_shape or auto_pad "
                                         f"is not supported")
            groups = int(attrs.get("group", 1))
            layer = nn.ConvTranspose2d(w.shape[0], w.shape[1] * groups, tuple(w.shape[2:]),
                                       tuple(attrs.get("strides", [1, 1])), tuple(pads[:2]),
                                       tuple(attrs.get("output_padding", [0, 0])), groups, bias=b is not None,
                                       dilation=tuple(attrs.get("dilations", [1, 1])))
            return _weighted(layer, w, b), names
        if kind == "Gemm":
            w, b = arrays[0], arrays[1] if len(arrays) > 1 else None
            if (attrs.get("transA", 0) or float(attrs.get("alpha", 1.0)) != 1.0 or w.ndim != 2
                    or (b is not None and (float(attrs.get("beta", 1.0)) != 1.0 or b.shape != (w.shape[1 - attrs.get("transB", 0)],)))):
                return None, names
            weight = w if attrs.get("transB", 0) else w.T
            return _weighted(nn.Linear(weight.shape[1], weight.shape[0], bias=b is not None), weight, b), names
        scale, shift, mean, var = arrays
        layer = nn.BatchNorm2d(scale.shape[0], eps=float(attrs.get("epsilon", 1e-5)),
                               momentum=1.0 - float(attrs.get("momentum", 0.9)))
        _weighted(layer, scale, shift)
        layer.running_mean.data[...] = mean
        layer.running_var.data[...] = var
        return layer, names

    def _adopt_loose(self, constants, initializers, uses) -> None:
        """Float initializers used by the functional nodes become the model's own parameters."""
        for name in list(self._constants):
            if name in initializers and name in uses and self._constants[name].dtype.kind == "f":
                key = _safe(name)
                while key in self._parameters or key in self._modules:
                    key += "_"
                param = nn.Parameter(np.ascontiguousarray(self._constants.pop(name), dtype=np.float32))
                self.register_parameter(key, param)
                self._tensors[name] = param

    def _restore_counters(self, model) -> None:
        """The integer buffers ``export`` kept as metadata (num_batches_tracked) of the layers that exist here."""
        from .exporting import COUNTERS_KEY

        text = next((p.value for p in model.metadata_props if p.key == COUNTERS_KEY), None)
        try:
            counters = json.loads(text) if text else {}
        except ValueError:
            counters = {}
        modules = dict(self.named_modules())
        for key, value in counters.items() if isinstance(counters, dict) else ():
            path, _, leaf = key.rpartition(".")
            buffer = modules[path]._buffers.get(leaf) if path in modules else None
            if isinstance(buffer, Tensor) and buffer.ndim == 0 and isinstance(value, int):
                buffer.data[...] = value

    # ------------------------------------------------------------------ running
    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise ValueError(f"onnx model: expected {len(self.input_names)} input(s) "
                             f"({', '.join(self.input_names)}), got {len(inputs)}")
        values = dict(self._constants)
        values.update(self._tensors)
        for name, x in zip(self.input_names, inputs):
            values[name] = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))
        for i in self._steps:
            node = self._nodes[i]
            # A layer holds its weights; only its data input comes from the graph.
            names = node.input[:1] if i in self._layers else node.input
            args = [values[n] if n else None for n in names]
            try:
                outputs = self._run(i, node, args)
            except load_ops.NodeError as error:
                raise self._error(i, str(error)) from None
            for name, value in zip(node.output, outputs):
                if name:
                    values[name] = value
        outs = tuple(load_ops.tensor(values[n]) for n in self.output_names)
        return outs[0] if len(outs) == 1 else outs

    def _run(self, i, node, args):
        layer = self._layers.get(i)
        if layer is not None:
            return [self._run_layer(layer, args)]
        attrs = _attributes(node)
        if all(not isinstance(a, Tensor) for a in args) and node.op_type in NUMPY:
            return NUMPY[node.op_type](node, args, attrs, self.opset)
        return TENSOR[node.op_type](node, args, attrs, self.opset)

    @staticmethod
    def _run_layer(layer, args):
        from .. import functional as F

        kind, module, attrs = layer
        x = load_ops.tensor(args[0])
        if kind == "Conv":
            k = module.kernel_size
            pads = load_ops.spatial_pads(None, attrs, x.shape[2:], k, module.stride, module.dilation)
            if pads[:2] == pads[2:]:
                module.padding = (pads[0], pads[1])
                return module(x)
            module.padding = (0, 0)
            return module(F.pad(x, (pads[1], pads[3], pads[0], pads[2])))
        if kind == "BatchNormalization" and x.ndim != 4:
            # BatchNorm2d takes (N, C, H, W); other ranks run functionally with its tensors.
            return F.batch_norm(x, module.running_mean, module.running_var, module.weight, module.bias,
                                False, 0.0, module.eps)
        return module(x)


def load(path) -> OnnxModel:
    """Read an ONNX file as a minigrad ``Module`` (in eval mode, on the CPU).

    Args:
        path: the ``.onnx`` file.

    Returns:
        An ``OnnxModel``: call it with one tensor per graph input; ``state_dict()`` holds its
        weights, autograd runs through it (fine-tune it after ``model.train()``).

    Raises:
        OnnxError: a missing, corrupt or truncated file, an invalid graph, an unsupported opset,
            or an unsupported node (one line naming the node and its position).
    """
    model, opset = read_model(path)
    return OnnxModel(model, opset, where=str(path))
