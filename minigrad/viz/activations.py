"""Activations: the feature maps a layer computes for one input, read with a forward hook."""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from .layers import conv_layers, forward_collect, get_layer
from .render import normalize, save_png, tile_grid

__all__ = ["layer_activations", "activation_grid", "save_activations"]


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


def save_activations(model, x, path, layer: str | None = None, scale: int | None = None):
    """Draw one input's feature maps at ``layer`` into a PNG.

    Returns:
        ``(layer name, activation, path written)``.
    """
    name, act = layer_activations(model, x, layer)
    grid = activation_grid(act)
    if scale is None:
        # Small maps (LeNet's 5 x 5) need enlarging to be seen; aim at ~400 px wide.
        scale = max(1, 400 // max(grid.shape[1], 1))
    return name, act, save_png(grid, path, scale=scale)
