"""Filters: a convolution's kernels drawn as a grid of small images.

The first layer sees pixels, so its kernels can be read as image patterns (edges, blobs, colour
opponents): with an RGB input each kernel is one colour tile. Deeper kernels mix feature maps,
not colours, so they are drawn channel by channel: one row per output channel, one tile per
input channel.
"""

from __future__ import annotations

import numpy as np

from .layers import conv_layers, first_conv, get_layer
from .render import normalize, save_png, tile_grid

__all__ = ["filter_weights", "filter_grid", "save_filters"]


def filter_weights(model, layer: str | None = None) -> tuple[str, np.ndarray]:
    """The kernels of a convolution layer.

    Args:
        model: a ``Module``.
        layer: layer name (default: the first convolution).

    Returns:
        ``(name, weight)`` with weight ``(C_out, C_in / groups, kH, kW)``.

    Raises:
        ValueError: unknown layer (listing the valid ones) or a layer without 4-D kernels.
    """
    if layer is None:
        name, module = first_conv(model, op="filters")
    else:
        name, module = layer, get_layer(model, layer, op="filters")
        weight = module._parameters.get("weight") if hasattr(module, "_parameters") else None
        if weight is None or weight.ndim != 4:
            valid = ", ".join(n for n, _ in conv_layers(model)) or "none"
            raise ValueError(f"filters: layer {layer!r} ({type(module).__name__}) has no convolution kernels; "
                             f"layers with kernels: {valid}")
    return name, np.array(module._parameters["weight"].numpy(), dtype=np.float64)


def filter_grid(weight: np.ndarray, colour: bool | None = None, pad: int = 1) -> np.ndarray:
    """Lay kernels out as a normalized grid.

    Each kernel is scaled on its own so that its pattern, not its norm, is visible: symmetric
    around zero (mid-grey = 0) per channel-by-channel tile, min-max per colour tile.

    Args:
        weight: ``(C_out, C_in, kH, kW)``.
        colour: draw each kernel as one RGB tile (needs C_in == 3); default: when C_in == 3.
        pad: pixels between tiles.

    Returns:
        ``(H, W, 3)`` for colour, else ``(H, W)``, values in [0, 1].

    Shape:
        colour: a grid of C_out tiles of kH x kW, ceil(sqrt(C_out)) per row.
        channel by channel: C_out rows of C_in tiles (a single-channel input: ceil(sqrt(C_out))
        tiles per row), H = rows * (kH + pad) + pad, W = cols * (kW + pad) + pad.
    """
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim != 4:
        raise ValueError(f"filter_grid: expected kernels (C_out, C_in, kH, kW), got shape {weight.shape}")
    c_out, c_in = weight.shape[:2]
    if colour is None:
        colour = c_in == 3
    if colour:
        if c_in != 3:
            raise ValueError(f"filter_grid: colour tiles need 3 input channels, got {c_in}")
        tiles = np.stack([normalize(np.transpose(w, (1, 2, 0))) for w in weight])
        return tile_grid(tiles, pad=pad)
    tiles = np.stack([normalize(w, symmetric=True) for w in weight.reshape((-1,) + weight.shape[2:])])
    return tile_grid(tiles, ncols=None if c_in == 1 else c_in, pad=pad)


def save_filters(model, path, layer: str | None = None, scale: int = 8) -> tuple[str, np.ndarray, object]:
    """Draw a layer's kernels (default: the first convolution) into a PNG.

    Returns:
        ``(layer name, grid image, path written)``.
    """
    name, weight = filter_weights(model, layer)
    grid = filter_grid(weight)
    return name, grid, save_png(grid, path, scale=scale)
