"""Per-layer summary of a model: output shapes, parameters, multiply-accumulates, memory, receptive field.

    >>> from minigrad.summary import summary
    >>> print(summary(model, (3, 224, 224)))

One forward pass at batch 1 under ``mg.no_grad()`` (in eval mode, so training-only
branches such as GoogLeNet's auxiliary heads do not run) records, for every leaf
module (a module without children) that is called, and for every functional window op
(``F.max_pool2d``, ``F.conv2d`` ...) called outside one, as LeNet-5 pools:

- output shape and activation memory (bytes of the output at batch 1);
- parameters (of that module; a module called twice counts them once);
- multiply-accumulates per image: Conv2d ``Cout*Hout*Wout*(Cin/groups)*Kh*Kw``,
  ConvTranspose2d ``Cin*Hin*Win*(Cout/groups)*Kh*Kw``, Linear ``in*out``; pooling,
  normalisation, activations and upsampling count 0 (they are not multiply-adds
  with weights; BatchNorm folds into the preceding convolution at inference);
- the receptive field of one output pixel in input pixels, with the course's
  recurrence (per axis): ``k_eff = d*(k-1)+1``, ``j_out = j_in*s``,
  ``r_out = r_in + (k_eff-1)*j_in``, ``start_out = start_in + ((k_eff-1)/2 - p)*j_in``,
  starting from ``r=1, j=1, start=0.5`` (the centre of the first pixel).

Receptive fields through branches: the operations between layers (``+``, ``cat``,
``relu`` ...) are traced, and the result of an op with several inputs takes the
largest receptive field among them (ties: the longest path), so for ResNet, Inception
and U-Net the numbers follow the main path. Adaptive pooling counts as a pool whose
kernel is its largest window and whose stride is ``in/out``; a transposed convolution
with stride s divides the jump by s and widens the field by ``(ceil(k_eff/s)-1)*j_in``;
nearest upsampling divides the jump, bilinear also widens by one input jump. Once an
output is no longer an image (after ``flatten``/``Linear``) every unit sees the whole
input: size = the input's size, jump and start are None. Depth is the number of weight
layers (Conv2d, ConvTranspose2d, Linear) on that main path (VGG-16: 16, ResNet-18: 18,
GoogLeNet: 22, U-Net: 23).

The pass is observed through the supported hook points only: module forward hooks name the
layers, and ``autograd.function_hook`` sees every ``Function.apply`` (so a window op counts
however it was imported, and a summary in one thread never sees another thread's ops).
Nothing is patched.
"""

from __future__ import annotations

import json
import math
import sys
import types
from dataclasses import dataclass

import numpy as np

from .autograd import function_hook, no_grad
from .ops import conv, conv_direct, conv_transpose, pooling, upsample
from .tensor import Tensor

__all__ = ["LayerSummary", "Summary", "InputTooSmallError", "summary"]

_WEIGHT_LAYERS = ("Conv2d", "ConvTranspose2d", "Linear")
_WINDOW_LAYERS = ("Conv2d", "MaxPool2d", "AvgPool2d", "MinPool2d", "LPPool2d")
_ADAPTIVE_LAYERS = ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d")
_UPSAMPLE_LAYERS = ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d")


class InputTooSmallError(ValueError):
    """The input's spatial size reaches zero inside the model."""


@dataclass
class LayerSummary:
    """One row of the table: a call of a leaf module."""

    name: str
    type: str
    output_shape: tuple
    params: int
    macs: int
    memory: int
    receptive_field: dict
    depth: int


@dataclass
class Summary:
    """What ``summary`` returns: the rows and the totals; ``str()`` formats the table.

    Attributes:
        layers: one ``LayerSummary`` per leaf-module call, in execution order.
        total_params: all parameters of the model (including layers that did not run).
        trainable_params: those that require grad.
        total_macs: multiply-accumulates of one forward pass per image.
        total_memory: bytes of all recorded layer outputs at batch 1.
        param_memory: bytes of all parameters.
        depth: weight layers on the main path.
        input_size: the (C, H, W) that was summarised.
        model_name: the model's class name.
        unused_params: parameters of layers that did not run in eval mode (GoogLeNet's auxiliary heads).
    """

    layers: list
    total_params: int
    trainable_params: int
    total_macs: int
    total_memory: int
    param_memory: int
    depth: int
    input_size: tuple
    model_name: str = ""
    unused_params: int = 0

    def to_dict(self) -> dict:
        """A JSON-ready dict: ``{"layers": [...], "total_params", "total_macs", ...}``."""
        return {
            "model": self.model_name,
            "input_size": list(self.input_size),
            "layers": [
                {"name": r.name, "type": r.type, "output_shape": list(r.output_shape), "params": r.params,
                 "macs": r.macs, "memory": r.memory, "receptive_field": dict(r.receptive_field)}
                for r in self.layers
            ],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_macs": self.total_macs,
            "total_memory": self.total_memory,
            "param_memory": self.param_memory,
            "depth": self.depth,
            "unused_params": self.unused_params,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def layer(self, name: str) -> LayerSummary:
        """The (first) row of the layer called ``name``."""
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(f"summary: no layer named {name!r}")

    def format(self) -> str:
        """The per-layer table with totals at the bottom."""
        header = ("Layer", "Type", "Output shape", "Params", "MACs", "Memory", "RF", "Jump", "Start")
        rows = [header]
        for r in self.layers:
            rf = r.receptive_field
            rows.append((r.name, r.type, "x".join(str(s) for s in r.output_shape), f"{r.params:,}",
                         _human(r.macs), _bytes(r.memory), _axes(rf["size"]), _axes(rf["jump"]), _axes(rf["start"])))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        right = {3, 4, 5, 6, 7, 8}

        def line(row):
            return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))

        rule = "-" * len(line(header))
        out = [f"{self.model_name} at input {'x'.join(str(s) for s in self.input_size)} (batch 1)", rule,
               line(header), rule] + [line(row) for row in rows[1:]] + [rule]
        out.append(f"Total params:        {self.total_params:,} (trainable {self.trainable_params:,})")
        if self.unused_params:
            out.append(f"  not run in eval:   {self.unused_params:,} (training-only layers, e.g. auxiliary heads)")
        out.append(f"Total MACs:          {self.total_macs:,} ({self.total_macs / 1e9:.3g} G)")
        out.append(f"Activation memory:   {_bytes(self.total_memory)} (layer outputs, batch 1)")
        out.append(f"Parameter memory:    {_bytes(self.param_memory)}")
        out.append(f"Depth:               {self.depth} weight layers on the main path")
        return "\n".join(out)

    __str__ = format


def _human(n) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def _bytes(n) -> str:
    for unit, scale in (("GB", 2 ** 30), ("MB", 2 ** 20), ("KB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _axes(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return "x".join(_axes(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _pair(value) -> tuple:
    if isinstance(value, (tuple, list)):
        return (value[0], value[-1])
    return (value, value)


def _number(x):
    """Whole floats as ints, so that JSON and the table show 196, not 196.0."""
    return int(x) if float(x).is_integer() else float(x)


# --------------------------------------------------------- receptive field
@dataclass
class _Field:
    """Receptive field per axis (h, w) and the number of weight layers on the path."""

    size: tuple
    jump: tuple | None
    start: tuple | None
    depth: int

    def key(self):
        return (max(self.size), self.depth)

    def public(self) -> dict:
        def squash(v):
            if v is None:
                return None
            v = tuple(_number(a) for a in v)
            return v[0] if v[0] == v[1] else list(v)

        return {"size": squash(self.size), "jump": squash(self.jump), "start": squash(self.start)}


def _window_params(module, kind):
    k = _pair(getattr(module, "kernel_size", 1))
    s = getattr(module, "stride", None)
    s = _pair(k if s is None or s == () else s)
    d = _pair(getattr(module, "dilation", 1)) if kind == "Conv2d" or hasattr(module, "dilation") else (1, 1)
    p = getattr(module, "padding", 0)
    if isinstance(p, str):
        # "same" pads (k_eff - 1) / 2 on each side (on average); "valid" pads nothing.
        p = tuple((di * (ki - 1)) / 2 for ki, di in zip(k, d)) if p == "same" else (0, 0)
    return k, s, _pair(p), d


def _next_field(kind, module, field_in, in_shape, out_shape, image_size):
    """The receptive field of ``module``'s output from that of its input."""
    if len(out_shape) != 4:
        return _Field(image_size, None, None, field_in.depth + (kind in _WEIGHT_LAYERS))
    depth = field_in.depth + (kind in _WEIGHT_LAYERS)
    if field_in.jump is None:
        return _Field(field_in.size, None, None, depth)
    r, j, st = field_in.size, field_in.jump, field_in.start
    if kind in _WINDOW_LAYERS:
        k, s, p, d = _window_params(module, kind)
        ke = [di * (ki - 1) + 1 for ki, di in zip(k, d)]
        return _Field(tuple(r[a] + (ke[a] - 1) * j[a] for a in range(2)), tuple(j[a] * s[a] for a in range(2)),
                      tuple(st[a] + ((ke[a] - 1) / 2 - p[a]) * j[a] for a in range(2)), depth)
    if kind == "ConvTranspose2d":
        k, s, p, d = _window_params(module, "Conv2d")
        ke = [di * (ki - 1) + 1 for ki, di in zip(k, d)]
        jo = tuple(j[a] / s[a] for a in range(2))
        # One output sees the ceil(k_eff / s) inputs whose scattered kernels cover it.
        return _Field(tuple(r[a] + (math.ceil(ke[a] / s[a]) - 1) * j[a] for a in range(2)), jo,
                      tuple(st[a] + (p[a] - (ke[a] - 1) / 2) * jo[a] for a in range(2)), depth)
    if kind in _ADAPTIVE_LAYERS:
        n_in, n_out = in_shape[2:], out_shape[2:]
        ks = [max(math.ceil((i + 1) * n / m) - (i * n) // m for i in range(m)) for n, m in zip(n_in, n_out)]
        return _Field(tuple(r[a] + (ks[a] - 1) * j[a] for a in range(2)),
                      tuple(j[a] * n_in[a] / n_out[a] for a in range(2)),
                      tuple(st[a] + (ks[a] - 1) / 2 * j[a] for a in range(2)), depth)
    if kind in _UPSAMPLE_LAYERS and out_shape[2:] != in_shape[2:]:
        scale = [o / i for o, i in zip(out_shape[2:], in_shape[2:])]
        mode = getattr(module, "mode", "bilinear" if kind == "UpsamplingBilinear2d" else "nearest")
        jo = tuple(j[a] / scale[a] for a in range(2))
        if mode == "nearest":
            return _Field(r, jo, tuple(st[a] + (0.5 / scale[a] - 0.5) * j[a] for a in range(2)), depth)
        return _Field(tuple(r[a] + j[a] for a in range(2)), jo, st, depth)
    # Pointwise layers (BatchNorm, ReLU, Dropout, LRN, Identity, unknown ones keeping the size).
    return _Field(r, j, st, depth)


def _kind(module) -> str:
    """The first PyTorch layer name in the module's class hierarchy (so subclasses count too)."""
    known = _WEIGHT_LAYERS + _WINDOW_LAYERS + _ADAPTIVE_LAYERS + _UPSAMPLE_LAYERS
    for cls in type(module).__mro__:
        if cls.__name__ in known:
            return cls.__name__
    return type(module).__name__


def _macs(kind, module, in_shape, out_shape) -> int:
    weight = getattr(module, "weight", None)
    if weight is None or kind not in _WEIGHT_LAYERS:
        return 0
    w = weight.shape
    per_image = lambda shape: int(np.prod(shape[1:], dtype=np.int64))  # noqa: E731
    if kind == "Conv2d":
        return per_image(out_shape) * int(np.prod(w[1:], dtype=np.int64))
    if kind == "ConvTranspose2d":
        return per_image(in_shape) * int(np.prod(w[1:], dtype=np.int64))
    return per_image(out_shape) * w[1]


def _first_tensor(values):
    for v in values:
        if isinstance(v, Tensor):
            return v
        if isinstance(v, (list, tuple)):
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def _tensors(values):
    for v in values:
        if isinstance(v, Tensor):
            yield v
        elif isinstance(v, (list, tuple)):
            yield from _tensors(v)


def _window_output(kind, module, size) -> tuple:
    """Output height/width of a conv/pool layer from the formula, to name the layer that reaches zero."""
    k, s, p, d = _window_params(module, kind)
    ceil = getattr(module, "ceil_mode", False)
    out = []
    for a in range(2):
        span = size[a] + 2 * p[a] - (d[a] * (k[a] - 1) + 1)
        out.append((math.ceil(span / s[a]) if ceil else span // s[a]) + 1 if span >= 0 else 0)
    return tuple(out)


def _geometry_layer(geometry, **extra):
    """A stand-in layer with the attributes of an op's geometry ``(KH, KW, sh, sw, ph, pw, dh, dw, OH, OW)``."""
    KH, KW, sh, sw, ph, pw, dh, dw = geometry[:8]
    return types.SimpleNamespace(kernel_size=(KH, KW), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), **extra)


def _window_call(function, args):
    """``(op name, layer kind, stand-in layer)`` of a ``Function`` that moves the receptive field, else None.

    The op is recognised where it runs (``Function.apply``), so every spelling of the call counts:
    ``F.max_pool2d``, ``mg.max_pool2d`` or a name imported with ``from minigrad.functional import``.
    The stand-in carries what the op's arguments say about its window, as a layer's attributes would.
    """
    if function is conv.Conv2d or function is conv_direct.DirectConv2d:
        weight, geometry, flip = args[1], args[3], args[-1]
        return ("convolve2d" if flip else "conv2d"), "Conv2d", _geometry_layer(geometry, weight=weight)
    if function is conv_transpose.ConvTranspose2d:
        return "conv_transpose2d", "ConvTranspose2d", _geometry_layer(args[3], weight=args[1])
    if function is pooling.MaxPool2d:
        names = ("min_pool2d", "MinPool2d") if args[2] else ("max_pool2d", "MaxPool2d")
        return names + (_geometry_layer(args[1]),)
    if function is pooling.AvgPool2d:
        return "avg_pool2d", "AvgPool2d", _geometry_layer(args[1])
    if function is pooling.AdaptiveAvgPool2d:
        return "adaptive_avg_pool2d", "AdaptiveAvgPool2d", types.SimpleNamespace()
    if function is pooling.AdaptiveMaxPool2d:
        return "adaptive_max_pool2d", "AdaptiveMaxPool2d", types.SimpleNamespace()
    if function is upsample._Upsample:
        return "interpolate", "Upsample", types.SimpleNamespace(mode=args[1])
    if function is upsample._Bicubic:
        return "interpolate", "Upsample", types.SimpleNamespace(mode="bicubic")
    return None


#: The op names of ``_window_call``: a ``ValueError`` an op raises starts with its name.
_WINDOW_OPS = ("conv2d", "convolve2d", "conv_transpose2d", "max_pool2d", "min_pool2d", "avg_pool2d",
               "adaptive_avg_pool2d", "adaptive_max_pool2d", "interpolate")


def _too_small(model, input_size, name, kind, x, out) -> InputTooSmallError:
    return InputTooSmallError(
        f"summary: input {'x'.join(map(str, input_size))} is too small for {type(model).__name__}: "
        f"layer '{name}' ({kind}) turns {x.shape[2]}x{x.shape[3]} into {out[0]}x{out[1]}; "
        f"use the small-input variant (small_input=True, CLI --small-input) or a larger input size")


def _too_small_op(model, input_size, name, error) -> InputTooSmallError:
    return InputTooSmallError(
        f"summary: input {'x'.join(map(str, input_size))} is too small for {type(model).__name__}: "
        f"'{name}' fails ({error}); "
        f"use the small-input variant (small_input=True, CLI --small-input) or a larger input size")


def summary(model, input_size, dtype=np.float32, device: str = "cpu") -> Summary:
    """Run ``model`` once on a (1, *input_size) input and tabulate every leaf layer.

    Functional window ops called outside a leaf layer (``F.max_pool2d`` in LeNet-5) get rows
    too, named ``<enclosing module>.<op>_<n>``.

    Args:
        model: a ``minigrad.nn.Module``.
        input_size: (C, H, W) of one image (a batch dimension is added).
        dtype: input dtype.
        device: where to run.

    Returns:
        A ``Summary`` (``print`` it for the table, ``.to_json()`` for JSON).

    Raises:
        ValueError: ``input_size`` is not three positive integers, or (``InputTooSmallError``) the
            spatial size reaches zero inside the model; the message names the layer.
    """
    input_size = tuple(input_size)
    if len(input_size) != 3 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in input_size):
        raise ValueError(f"summary: input_size must be three positive integers (C, H, W), got {input_size}")
    image_size = tuple(int(s) for s in input_size[1:])
    name_of = {id(m): n for n, m in model.named_modules()}
    fields, keep = {}, []  # id(tensor) -> _Field; `keep` holds the tensors so ids are not reused
    rows, seen_params, stack, op_counts = [], set(), [], {}
    image_field = _Field((1, 1), (1, 1), (0.5, 0.5), 0)

    def remember(tensor, value):
        fields[id(tensor)] = value
        keep.append(tensor)

    def field_of(tensor):
        known = fields.get(id(tensor))
        if known is not None:
            return known
        # An input produced outside the traced ops: the largest field recorded at its resolution.
        same = [f for t, f in ((t, fields.get(id(t))) for t in keep)
                if f is not None and t.shape[2:] == tensor.shape[2:] and t.ndim == tensor.ndim]
        return max(same, key=_Field.key) if same else image_field

    def record(name, kind, type_name, layer, x, out, params):
        in_shape = x.shape if x is not None else out.shape
        new = _next_field(kind, layer, field_of(x) if x is not None else image_field, in_shape, out.shape, image_size)
        remember(out, new)
        rows.append(LayerSummary(name, type_name, out.shape, params, _macs(kind, layer, in_shape, out.shape),
                                 out.size * out.dtype.itemsize, new.public(), new.depth))

    def on_function(function, args, kwargs, result):
        out = result[0] if isinstance(result, tuple) else result
        if not isinstance(out, Tensor):
            return
        window = None if stack and stack[-1][1] else _window_call(function, args)
        if window is not None:
            # A window op outside a leaf layer (LeNet-5's F.max_pool2d) is a row of its own.
            op, kind, layer = window
            owner = stack[-1][0] if stack else ""
            op_counts[(owner, op)] = count = op_counts.get((owner, op), 0) + 1
            x = args[0] if isinstance(args[0], Tensor) else None
            record(f"{owner}.{op}_{count}" if owner else f"{op}_{count}", kind, f"F.{op}", layer, x, out, 0)
            return
        # Any other op (``+``, ``cat``, ``relu`` ..., and the ops inside a leaf layer, whose hook
        # records the layer afterwards) passes on the largest receptive field among its inputs.
        inputs = [fields[id(t)] for t in _tensors(args) if id(t) in fields]
        if inputs:
            best = max(inputs, key=_Field.key)
            remember(out, best if out.ndim == 4 else _Field(image_size, None, None, best.depth))

    def pre_hook(module, inputs):
        name = name_of.get(id(module), "")
        leaf = not module._modules
        stack.append((name, leaf))
        kind, x = _kind(module), _first_tensor(inputs)
        if leaf and kind in _WINDOW_LAYERS and x is not None and x.ndim == 4:
            size = _window_output(kind, module, x.shape[2:])
            if min(size) < 1:
                raise _too_small(model, input_size, name or type(module).__name__, kind, x, size)

    def hook(module, inputs, output):
        name, leaf = stack.pop() if stack else ("", True)
        name = name or type(module).__name__  # the model itself is a single layer
        out = output[0] if isinstance(output, tuple) else output
        if not leaf or not isinstance(out, Tensor):
            return None
        params = 0
        for p in module.parameters(recurse=False):
            if id(p) not in seen_params:
                seen_params.add(id(p))
                params += p.size
        record(name, _kind(module), type(module).__name__, module, _first_tensor(inputs), out, params)
        return None

    modules = list(model.modules())
    handles = [m.register_forward_pre_hook(pre_hook) for m in modules]
    handles += [m.register_forward_hook(hook) for m in modules]
    modes = [(m, m.training) for m in modules]
    x = Tensor(np.random.default_rng(0).standard_normal((1,) + input_size).astype(dtype), device=device)
    remember(x, image_field)
    model.eval()
    try:
        with no_grad(), function_hook(on_function):
            model(x)
    except InputTooSmallError:
        raise
    except ValueError as error:
        op = str(error).split(":", 1)[0]
        if op in _WINDOW_OPS and stack and not stack[-1][1]:
            # A functional window op failed: name it as its row would have been named.
            owner = stack[-1][0]
            name = f"{op}_{op_counts.get((owner, op), 0) + 1}"
            raise _too_small_op(model, input_size, f"{owner}.{name}" if owner else name, error) from error
        where = f"layer '{stack[-1][0]}'" if stack else "the model"
        raise InputTooSmallError(
            f"summary: {type(model).__name__} failed in {where} on input {'x'.join(map(str, input_size))} ({error}); "
            f"if the spatial size reached zero, use the small-input variant (small_input=True, CLI --small-input) "
            f"or a larger input size") from error
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)

    params = list(model.parameters())
    total = sum(p.size for p in params)
    return Summary(
        layers=rows,
        total_params=total,
        trainable_params=sum(p.size for p in params if p.requires_grad),
        total_macs=sum(r.macs for r in rows),
        total_memory=sum(r.memory for r in rows),
        param_memory=sum(p.size * p.dtype.itemsize for p in params),
        depth=max((r.depth for r in rows), default=0),
        input_size=input_size,
        model_name=type(model).__name__,
        unused_params=total - sum(r.params for r in rows),
    )


class _CallableModule(types.ModuleType):
    """Lets ``minigrad.summary(model, input_size)`` work while ``minigrad.summary`` stays this module.

    Assigning a ``ModuleType`` subclass to ``__class__`` is the language reference's own way to
    customise a module (section "Customizing module attribute access"). Binding the function over
    the module in ``minigrad/__init__.py`` instead would break ``import minigrad.summary as s``
    (which then yields the function) and ``minigrad.summary.Summary``.
    """

    def __call__(self, model, input_size, **kwargs) -> Summary:
        return summary(model, input_size, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
