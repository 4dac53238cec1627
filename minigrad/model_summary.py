"""Per-layer summary of a model: output shapes, parameters, multiply-accumulates, memory, receptive field.

    >>> import minigrad as mg
    >>> print(mg.summary(model, (3, 224, 224)))

One forward pass at batch 1 under ``mg.no_grad()`` (in eval mode, so training-only
branches such as GoogLeNet's auxiliary heads do not run) records, for every leaf
module (a module without children) that is called, and for every functional window op
(``F.max_pool2d``, ``F.conv2d`` ...) called outside one, as LeNet-5 pools:

- output shape and activation memory (bytes of the output at batch 1);
- parameters (of that module; a module called twice counts them once);
- multiply-accumulates per image and the receptive field of one output pixel
  (``size``, ``jump``, ``start`` per axis), by the formulas of ``minigrad.layer_arithmetic``.

Receptive fields through branches: the operations between layers (``+``, ``cat``,
``relu`` ...) are traced, and the result of an op with several inputs takes the
largest receptive field among them (ties: the longest path), so for ResNet, Inception
and U-Net the numbers follow the main path. Depth is the number of weight
layers (Conv2d, ConvTranspose2d, Linear) on that main path (VGG-16: 16, ResNet-18: 18,
GoogLeNet: 22, U-Net: 23).

The pass is observed through the supported hook points only: module forward hooks name the
layers, and ``autograd.function_hook`` sees every ``Function.apply`` (so a window op counts
however it was imported, and a summary in one thread never sees another thread's ops).
Nothing is patched. The result is a ``minigrad.summary_table.Summary``.
"""

from __future__ import annotations

import types

import numpy as np

from .autograd import function_hook, no_grad
from .layer_arithmetic import IMAGE_FIELD, WINDOW_LAYERS, Field, layer_kind, layer_macs, next_field, window_output
from .ops import conv, conv_direct, conv_shifts, conv_strips, conv_tiled, conv_transpose, pooling, upsample
from .summary_table import LayerSummary, Summary
from .tensor import Tensor

__all__ = ["InputTooSmallError", "summary"]


class InputTooSmallError(ValueError):
    """The input's spatial size reaches zero inside the model."""


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
    if function in (conv.Conv2d, conv_direct.DirectConv2d, conv_strips.StripConv2d,
                    conv_shifts.ShiftConv2d, conv_tiled.TiledConv2d):
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
    recorder = _Recorder(model, input_size)
    modules = list(model.modules())
    handles = [m.register_forward_pre_hook(recorder.pre_hook) for m in modules]
    handles += [m.register_forward_hook(recorder.hook) for m in modules]
    modes = [(m, m.training) for m in modules]
    x = Tensor(np.random.default_rng(0).standard_normal((1,) + input_size).astype(dtype), device=device)
    recorder.remember(x, IMAGE_FIELD)
    model.eval()
    try:
        with no_grad(), function_hook(recorder.on_function):
            model(x)
    except InputTooSmallError:
        raise
    except ValueError as error:
        raise recorder.failure(error) from error
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    return recorder.summary()


class _Recorder:
    """The state of one summary pass and the hooks that fill it.

    Module pre/post hooks keep the stack of modules being called (a row per leaf module);
    ``on_function`` sees every op, gives functional window ops outside a leaf layer rows of
    their own and passes receptive fields through the others.
    """

    def __init__(self, model, input_size):
        self.model, self.input_size = model, input_size
        self.image_size = tuple(int(s) for s in input_size[1:])
        self.name_of = {id(m): n for n, m in model.named_modules()}
        self.fields, self.keep = {}, []  # id(tensor) -> Field; `keep` holds the tensors so ids are not reused
        self.rows, self.seen_params, self.stack, self.op_counts = [], set(), [], {}

    def remember(self, tensor, value) -> None:
        self.fields[id(tensor)] = value
        self.keep.append(tensor)

    def field_of(self, tensor) -> Field:
        known = self.fields.get(id(tensor))
        if known is not None:
            return known
        # An input produced outside the traced ops: the largest field recorded at its resolution.
        same = [f for t, f in ((t, self.fields.get(id(t))) for t in self.keep)
                if f is not None and t.shape[2:] == tensor.shape[2:] and t.ndim == tensor.ndim]
        return max(same, key=Field.key) if same else IMAGE_FIELD

    def record(self, name, kind, type_name, layer, x, out, params) -> None:
        in_shape = x.shape if x is not None else out.shape
        new = next_field(kind, layer, self.field_of(x) if x is not None else IMAGE_FIELD, in_shape, out.shape,
                         self.image_size)
        self.remember(out, new)
        self.rows.append(LayerSummary(name, type_name, out.shape, params, layer_macs(kind, layer, in_shape, out.shape),
                                      out.size * out.dtype.itemsize, new.public(), new.depth))

    def on_function(self, function, args, kwargs, result) -> None:
        out = result[0] if isinstance(result, tuple) else result
        if not isinstance(out, Tensor):
            return
        stack = self.stack
        window = None if stack and stack[-1][1] else _window_call(function, args)
        if window is not None:
            # A window op outside a leaf layer (LeNet-5's F.max_pool2d) is a row of its own.
            op, kind, layer = window
            owner = stack[-1][0] if stack else ""
            self.op_counts[(owner, op)] = count = self.op_counts.get((owner, op), 0) + 1
            x = args[0] if isinstance(args[0], Tensor) else None
            self.record(f"{owner}.{op}_{count}" if owner else f"{op}_{count}", kind, f"F.{op}", layer, x, out, 0)
            return
        # Any other op (``+``, ``cat``, ``relu`` ..., and the ops inside a leaf layer, whose hook
        # records the layer afterwards) passes on the largest receptive field among its inputs.
        inputs = [self.fields[id(t)] for t in _tensors(args) if id(t) in self.fields]
        if inputs:
            best = max(inputs, key=Field.key)
            self.remember(out, best if out.ndim == 4 else Field(self.image_size, None, None, best.depth))

    def pre_hook(self, module, inputs) -> None:
        name = self.name_of.get(id(module), "")
        leaf = not module._modules
        self.stack.append((name, leaf))
        kind, x = layer_kind(module), _first_tensor(inputs)
        if leaf and kind in WINDOW_LAYERS and x is not None and x.ndim == 4:
            size = window_output(kind, module, x.shape[2:])
            if min(size) < 1:
                raise _too_small(self.model, self.input_size, name or type(module).__name__, kind, x, size)

    def hook(self, module, inputs, output):
        name, leaf = self.stack.pop() if self.stack else ("", True)
        name = name or type(module).__name__  # the model itself is a single layer
        out = output[0] if isinstance(output, tuple) else output
        if not leaf or not isinstance(out, Tensor):
            return None
        params = 0
        for p in module.parameters(recurse=False):
            if id(p) not in self.seen_params:
                self.seen_params.add(id(p))
                params += p.size
        self.record(name, layer_kind(module), type(module).__name__, module, _first_tensor(inputs), out, params)
        return None

    def failure(self, error: ValueError) -> InputTooSmallError:
        """The error to raise for ``error`` raised by the model, naming where it happened."""
        model, input_size, stack = self.model, self.input_size, self.stack
        op = str(error).split(":", 1)[0]
        if op in _WINDOW_OPS and stack and not stack[-1][1]:
            # A functional window op failed: name it as its row would have been named.
            owner = stack[-1][0]
            name = f"{op}_{self.op_counts.get((owner, op), 0) + 1}"
            return _too_small_op(model, input_size, f"{owner}.{name}" if owner else name, error)
        where = f"layer '{stack[-1][0]}'" if stack else "the model"
        return InputTooSmallError(
            f"summary: {type(model).__name__} failed in {where} on input {'x'.join(map(str, input_size))} ({error}); "
            f"if the spatial size reached zero, use the small-input variant (small_input=True, CLI --small-input) "
            f"or a larger input size")

    def summary(self) -> Summary:
        """The rows recorded and the model's totals."""
        params = list(self.model.parameters())
        total = sum(p.size for p in params)
        rows = self.rows
        return Summary(
            layers=rows,
            total_params=total,
            trainable_params=sum(p.size for p in params if p.requires_grad),
            total_macs=sum(r.macs for r in rows),
            total_memory=sum(r.memory for r in rows),
            param_memory=sum(p.size * p.dtype.itemsize for p in params),
            depth=max((r.depth for r in rows), default=0),
            input_size=self.input_size,
            model_name=type(self.model).__name__,
            unused_params=total - sum(r.params for r in rows),
        )
