"""Activations: the feature maps a layer computes for one input, read with a forward hook."""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from .layers import conv_layers, forward_collect, get_layer
from .figure import Panel, compose, text_image
from .plot import INK, Axes, nice_ticks
from .render import normalize, save_png, tile_grid

__all__ = ["layer_activations", "activation_grid", "activations_figure", "feature_bars", "save_activations"]


def layer_activations(model, x: np.ndarray, layer: str | None = None) -> tuple[str, np.ndarray]:
    """The output of ``layer`` for one input.

    Args:
        model: a ``Module`` (put in eval mode by the caller).
        x: one preprocessed input ``(C, H, W)``.
        layer: layer name (default: the first convolution).

    Returns:
        ``(name, activation)`` with the batch axis removed: ``(C', H', W')`` for convolutional
        layers, ``(F,)`` for fully connected ones.
    """
    if layer is None:
        layer = conv_layers(model)[0][0] if conv_layers(model) else None
        if layer is None:
            raise ValueError(f"activations: {type(model).__name__} has no convolution; pass a layer name")
    module = get_layer(model, layer, op="activations")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"activations: expected one image (C, H, W), got shape {x.shape}")
    with no_grad():
        out = forward_collect(model, Tensor(x[None]), {layer: module})[layer]
    return layer, np.array(out.numpy()[0], dtype=np.float64)


def activation_grid(activation: np.ndarray, pad: int = 1, shared_scale: bool = False) -> np.ndarray:
    """Feature maps as a grid of grey tiles, one per channel.

    Args:
        activation: ``(C, H, W)`` maps, or ``(F,)`` features (drawn as one row of F cells).
        pad: pixels between tiles.
        shared_scale: one min-max range for all maps (compares strengths); default: each map
            on its own (shows every map's pattern).

    Returns:
        ``(rows * (H + pad) + pad, cols * (W + pad) + pad)`` in [0, 1], cols = ceil(sqrt(C)).
    """
    a = np.asarray(activation, dtype=np.float64)
    if a.ndim == 1:
        return normalize(a)[None, :]
    if a.ndim != 3:
        raise ValueError(f"activation_grid: expected (C, H, W) or (F,), got shape {a.shape}")
    tiles = normalize(a) if shared_scale else np.stack([normalize(m) for m in a])
    return tile_grid(tiles, pad=pad)


def feature_bars(features: np.ndarray, name: str, size=(720, 300)) -> np.ndarray:
    """A fully connected layer's output as a bar chart: one bar per unit, value on the y axis."""
    from PIL import Image

    f = np.asarray(features, dtype=np.float64).reshape(-1)
    width, height = size
    image = Image.new("RGB", (width, height), "white")
    x_lo, x_hi, x_ticks = nice_ticks(0, max(len(f) - 1, 1), max_ticks=9, integer=True)
    y_lo, y_hi, y_ticks = nice_ticks(min(0.0, f.min()), max(0.0, f.max()), max_ticks=6)
    axes = Axes(image, (70, 36, width - 20, height - 48), (x_lo - 0.5, x_hi + 0.5), (y_lo, y_hi))
    axes.frame([t for t in x_ticks if t < len(f)], y_ticks, "unit", "activation")
    bar = max(1.0, 0.4 * (axes.px(1, 0)[0] - axes.px(0, 0)[0]))
    _, zero = axes.px(0, 0.0)
    for k, v in enumerate(f):
        px, py = axes.px(k, v)
        axes.draw.rectangle([px - bar, min(py, zero), px + bar, max(py, zero)], fill=(31, 119, 180))
    axes.draw.line([axes.box[0], zero, axes.box[2], zero], fill=INK)
    title = (f"{name}: {len(f)} features ({int(np.sum(f > 0))} positive, largest {f.max():.3g} "
             f"at unit {int(np.argmax(f))})")
    heading = text_image([title], width=width, size=15, align="center")
    return np.concatenate([heading, np.asarray(image, dtype=np.float64) / 255.0])


def activations_figure(activation: np.ndarray, name: str, scale: int | None = None) -> np.ndarray:
    """Feature maps as a titled grid (each map min-max), or a bar chart for ``(F,)`` features."""
    a = np.asarray(activation, dtype=np.float64)
    if a.ndim == 1:
        return feature_bars(a, name)
    grid = activation_grid(a)
    if scale is None:
        # Small maps (LeNet's 5 x 5) need enlarging to be seen; aim at ~400 px wide.
        scale = max(1, 400 // max(grid.shape[1], 1))
    heading = f"{name}: {a.shape[0]} feature maps of {a.shape[1]}x{a.shape[2]}"
    return compose([Panel(grid)], heading=heading, scale=scale,
                   caption="Each map scaled min-max on its own: white = its strongest response.")


def save_activations(model, x, path, layer: str | None = None, scale: int | None = None):
    """Draw one input's activations at ``layer`` into a PNG (see ``activations_figure``).

    Returns:
        ``(layer name, activation, path written)``.
    """
    name, act = layer_activations(model, x, layer)
    return name, act, save_png(activations_figure(act, name, scale), path)
