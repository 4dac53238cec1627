"""DeconvNet (Zeiler & Fergus, 2014): project one activation back to pixel space.

The projection keeps a single activation (the strongest of one unit's feature map), zeroes the
rest of the layer, and walks back to the input through

- max pooling: unpooling with the switches remembered at pooling time (the value returns to
  the position of the maximum, every other position gets zero);
- ReLU: a ReLU applied to the signal;
- convolution: the transposed convolution with the same filters (no bias).

The first and third rules are exactly the backward passes autograd already computes for
max pooling and convolution (d conv2d / d input is ``conv_transpose2d`` with the same weights,
d max_pool2d / d input is ``max_unpool2d`` with the indices). Only the ReLU rule differs from
backpropagation, so the projection is a backward pass under ``deconv_relu()``. This
works for models that call ``F.relu`` / ``F.max_pool2d`` in their ``forward`` as well as for
``nn.Sequential`` stacks, and ``tests/test_viz_deconvnet.py`` checks it against the explicit
unpool / ReLU / transposed-convolution pipeline.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .guided import deconv_relu
from .layers import forward_collect, frozen, get_layer
from .figure import Panel, compose, prediction_text
from .render import chw_to_hwc, normalize, save_png

__all__ = ["deconvnet", "deconvnet_figure", "save_deconvnet"]


def deconvnet(model, x: np.ndarray, layer: str, unit: int, position=None) -> dict:
    """Project one activation of ``layer`` back to the input with the DeconvNet rules.

    Args:
        model: a ``Module`` in eval mode.
        x: one preprocessed input ``(C, H, W)``.
        layer: the layer whose output holds the activation.
        unit: the channel (or feature index, for a fully connected layer).
        position: ``(i, j)`` in the feature map; default: where the unit responds most.

    Returns:
        A dict with ``reconstruction`` ``(C, H, W)``, ``position`` (or None for a vector),
        ``activation`` (the kept value), ``layer`` and ``unit``.
    """
    module = get_layer(model, layer, op="deconvnet")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"deconvnet: expected one image (C, H, W), got shape {x.shape}")
    inp = Tensor(x[None].copy(), requires_grad=True)
    with frozen(model), deconv_relu():
        act = forward_collect(model, inp, {layer: module})[layer]
        values = act.numpy()[0]
        if not 0 <= unit < values.shape[0]:
            raise ValueError(f"deconvnet: unit {unit} out of range; layer {layer!r} has {values.shape[0]} "
                             f"units (output shape {tuple(values.shape)})")
        seed = np.zeros(act.shape, dtype=act.dtype)
        if values.ndim == 1:
            position = None
            seed[0, unit] = values[unit]
        else:
            if position is None:
                position = np.unravel_index(int(np.argmax(values[unit])), values[unit].shape)
            position = tuple(int(p) for p in position)
            seed[(0, unit) + position] = values[(unit,) + position]
        kept = float(seed.sum())
        if not act.requires_grad:
            raise ValueError(f"deconvnet: layer {layer!r} does not depend on the input")
        act.backward(gradient=seed)
    return {"reconstruction": np.array(inp.grad.numpy()[0], dtype=np.float64), "position": position,
            "activation": kept, "layer": layer, "unit": unit}


def deconvnet_figure(image: np.ndarray, reconstruction: np.ndarray, heading: str = "", scale: int = 1) -> np.ndarray:
    """Input | projection with its colour bar (zero as mid-grey for one channel, min-max for colour), titled."""
    shown = chw_to_hwc(np.asarray(image, dtype=np.float64))
    rec = chw_to_hwc(reconstruction)
    m = float(np.abs(rec).max()) if rec.size else 0.0
    if rec.ndim == 3:
        panel = Panel(normalize(rec), "projection (min-max per image)")
    else:
        panel = Panel(normalize(rec, symmetric=True), "projection to pixels", ("grey", f"-{m:.2g}", f"+{m:.2g}"))
    return compose([Panel(shown, "input"), panel], heading=heading, scale=scale,
                   caption="What in the input drives this unit: its activation sent back\n"
                           "through unpooling (switches), ReLU and the transposed filters.")


def save_deconvnet(model, x, image, path, layer: str, unit: int, position=None, scale: int | None = None,
                   classes=None):
    """Project one activation back and draw input and projection into a PNG.

    Args:
        classes: class names for the heading (default: indices).

    Returns:
        ``(result dict of deconvnet, path written)``.
    """
    from .occlusion import class_probabilities

    result = deconvnet(model, x, layer, unit, position)
    if scale is None:
        scale = max(1, 160 // x.shape[-1])
    probs = class_probabilities(model, x)
    where = "" if result["position"] is None else f" at {tuple(int(v) for v in result['position'])}"
    heading = (f"DeconvNet: {layer} unit {unit}{where} = {result['activation']:.3g}\n"
               + prediction_text(probs, int(np.argmax(probs)), classes))
    return result, save_png(deconvnet_figure(image, result["reconstruction"], heading, scale), path)
