"""What one layer does to the receptive field, and what it costs in multiply-accumulates.

The arithmetic of ``minigrad.model_summary`` (which observes the layers and calls these):

- multiply-accumulates per image: Conv2d ``Cout*Hout*Wout*(Cin/groups)*Kh*Kw``,
  ConvTranspose2d ``Cin*Hin*Win*(Cout/groups)*Kh*Kw``, Linear ``in*out``; pooling,
  normalisation, activations and upsampling count 0 (they are not multiply-adds
  with weights; BatchNorm folds into the preceding convolution at inference);
- the receptive field of one output pixel in input pixels, with the course's
  recurrence (per axis): ``k_eff = d*(k-1)+1``, ``j_out = j_in*s``,
  ``r_out = r_in + (k_eff-1)*j_in``, ``start_out = start_in + ((k_eff-1)/2 - p)*j_in``,
  starting from ``r=1, j=1, start=0.5`` (the centre of the first pixel).

Adaptive pooling counts as a pool whose kernel is its largest window and whose stride is
``in/out``; a transposed convolution with stride s divides the jump by s and widens the field
by ``(ceil(k_eff/s)-1)*j_in``; nearest upsampling divides the jump, bilinear also widens by one
input jump. Once an output is no longer an image (after ``flatten``/``Linear``) every unit sees
the whole input: size = the input's size, jump and start are None.

A layer is anything with a layer's attributes (``kernel_size``, ``stride``, ``padding``,
``dilation``, ``weight`` ...): a module, or a stand-in built from a functional op's arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .ops.geometry import conv_output_size

__all__ = ["Field", "IMAGE_FIELD", "WEIGHT_LAYERS", "WINDOW_LAYERS", "layer_kind", "layer_macs", "next_field",
           "window_output"]

WEIGHT_LAYERS = ("Conv2d", "ConvTranspose2d", "Linear")
WINDOW_LAYERS = ("Conv2d", "MaxPool2d", "AvgPool2d", "MinPool2d", "LPPool2d")
ADAPTIVE_LAYERS = ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d")
UPSAMPLE_LAYERS = ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d")


def _pair(value) -> tuple:
    """A layer attribute (an int or an (h, w) sequence) as (h, w); unchecked: the layer checked it."""
    if isinstance(value, (tuple, list)):
        return (value[0], value[-1])
    return (value, value)


def _number(x):
    """Whole floats as ints, so that JSON and the table show 196, not 196.0."""
    return int(x) if float(x).is_integer() else float(x)


@dataclass(frozen=True)
class Field:
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


#: The input image's own field: one pixel, jump 1, centred on the first pixel, no layer yet.
IMAGE_FIELD = Field((1, 1), (1, 1), (0.5, 0.5), 0)


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


def next_field(kind, module, field_in, in_shape, out_shape, image_size):
    """The receptive field of ``module``'s output from that of its input."""
    if len(out_shape) != 4:
        return Field(image_size, None, None, field_in.depth + (kind in WEIGHT_LAYERS))
    depth = field_in.depth + (kind in WEIGHT_LAYERS)
    if field_in.jump is None:
        return Field(field_in.size, None, None, depth)
    r, j, st = field_in.size, field_in.jump, field_in.start
    if kind in WINDOW_LAYERS:
        k, s, p, d = _window_params(module, kind)
        ke = [di * (ki - 1) + 1 for ki, di in zip(k, d)]
        return Field(tuple(r[a] + (ke[a] - 1) * j[a] for a in range(2)), tuple(j[a] * s[a] for a in range(2)),
                      tuple(st[a] + ((ke[a] - 1) / 2 - p[a]) * j[a] for a in range(2)), depth)
    if kind == "ConvTranspose2d":
        k, s, p, d = _window_params(module, "Conv2d")
        ke = [di * (ki - 1) + 1 for ki, di in zip(k, d)]
        jo = tuple(j[a] / s[a] for a in range(2))
        # One output sees the ceil(k_eff / s) inputs whose scattered kernels cover it.
        return Field(tuple(r[a] + (math.ceil(ke[a] / s[a]) - 1) * j[a] for a in range(2)), jo,
                      tuple(st[a] + (p[a] - (ke[a] - 1) / 2) * jo[a] for a in range(2)), depth)
    if kind in ADAPTIVE_LAYERS:
        n_in, n_out = in_shape[2:], out_shape[2:]
        ks = [max(math.ceil((i + 1) * n / m) - (i * n) // m for i in range(m)) for n, m in zip(n_in, n_out)]
        return Field(tuple(r[a] + (ks[a] - 1) * j[a] for a in range(2)),
                      tuple(j[a] * n_in[a] / n_out[a] for a in range(2)),
                      tuple(st[a] + (ks[a] - 1) / 2 * j[a] for a in range(2)), depth)
    if kind in UPSAMPLE_LAYERS and out_shape[2:] != in_shape[2:]:
        scale = [o / i for o, i in zip(out_shape[2:], in_shape[2:])]
        mode = getattr(module, "mode", "bilinear" if kind == "UpsamplingBilinear2d" else "nearest")
        jo = tuple(j[a] / scale[a] for a in range(2))
        if mode == "nearest":
            return Field(r, jo, tuple(st[a] + (0.5 / scale[a] - 0.5) * j[a] for a in range(2)), depth)
        return Field(tuple(r[a] + j[a] for a in range(2)), jo, st, depth)
    # Pointwise layers (BatchNorm, ReLU, Dropout, LRN, Identity, unknown ones keeping the size).
    return Field(r, j, st, depth)


def layer_kind(module) -> str:
    """The first PyTorch layer name in the module's class hierarchy (so subclasses count too)."""
    known = WEIGHT_LAYERS + WINDOW_LAYERS + ADAPTIVE_LAYERS + UPSAMPLE_LAYERS
    for cls in type(module).__mro__:
        if cls.__name__ in known:
            return cls.__name__
    return type(module).__name__


def layer_macs(kind, module, in_shape, out_shape) -> int:
    weight = getattr(module, "weight", None)
    if weight is None or kind not in WEIGHT_LAYERS:
        return 0
    w = weight.shape
    per_image = lambda shape: int(np.prod(shape[1:], dtype=np.int64))  # noqa: E731
    if kind == "Conv2d":
        return per_image(out_shape) * int(np.prod(w[1:], dtype=np.int64))
    if kind == "ConvTranspose2d":
        return per_image(in_shape) * int(np.prod(w[1:], dtype=np.int64))
    return per_image(out_shape) * w[1]


def window_output(kind, module, size) -> tuple:
    """Output height/width of a conv/pool layer (``conv_output_size``, clipped at 0), to name the layer
    where the spatial size reaches zero before it runs."""
    k, s, p, d = _window_params(module, kind)
    ceil = bool(getattr(module, "ceil_mode", False))
    return tuple(int(max(0, conv_output_size(size[a], k[a], s[a], p[a], d[a], ceil_mode=ceil))) for a in range(2))
