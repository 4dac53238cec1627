"""Filters: a convolution's kernels drawn as a grid of small images.

The first layer sees pixels, so its kernels can be read as image patterns (edges, blobs, colour
opponents): with an RGB input each kernel is one colour tile. Deeper kernels mix feature maps,
not colours, so they are drawn channel by channel: one row per output channel, one tile per
input channel.
"""

from __future__ import annotations

import numpy as np

from .layers import conv_layers, first_conv, get_layer
from .figure import Panel, compose
from .plot import INK, font, text_size, vertical_text
from .render import normalize, save_png, tile_grid, to_rgb, to_uint8, upscale

__all__ = ["filter_weights", "filter_grid", "filters_figure", "save_filters"]


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


def filters_figure(weight: np.ndarray, name: str, scale: int | None = None) -> np.ndarray:
    """The kernel grid of ``filter_grid`` enlarged, with a heading, a caption saying how to read
    the grey levels and, for channel-by-channel grids, numbered axes (output x input channel).

    Args:
        weight: ``(C_out, C_in, kH, kW)``.
        name: the layer's name, for the heading.
        scale: pixels per weight (default: at least 8, the grid about 360 px wide).
    """
    weight = np.asarray(weight, dtype=np.float64)
    c_out, c_in, kh, kw = weight.shape
    grid = filter_grid(weight)
    scale = scale or max(8, 360 // grid.shape[1])
    image = upscale(to_rgb(grid), scale)
    heading = f"{name}: {c_out} kernels of {c_in}x{kh}x{kw}"
    if c_in == 3:
        caption = "Each kernel scaled min-max on its own, as an RGB patch."
    else:
        caption = "Each tile scaled to its own largest |weight|: mid-grey = 0, white positive, black negative."
    if c_in not in (1, 3):
        image = _with_axes(image, c_out, c_in, (kh + 1) * scale, scale)
    return compose([Panel(image)], heading=heading, caption=caption)


def _with_axes(image: np.ndarray, rows: int, cols: int, step: int, pad: int) -> np.ndarray:
    """Number the tile rows (output channels) on the left and the columns (input channels) on top."""
    from PIL import Image, ImageDraw

    size = 11 if step < 24 else 12
    typeface = font(size)
    left, top = 34 + size, 22 + size
    canvas = Image.new("RGB", (image.shape[1] + left, image.shape[0] + top), "white")
    canvas.paste(Image.fromarray(to_uint8(image)), (left, top))
    draw = ImageDraw.Draw(canvas)
    every = max(1, -(-(size + 2) // step))  # label every n-th tile when tiles are too small for all
    for c in range(0, cols, every):
        text = str(c)
        w, _ = text_size(draw, text, typeface)
        draw.text((left + pad + c * step + (step - pad) / 2 - w / 2, top - size - 3), text, fill=INK, font=typeface)
    for r in range(0, rows, every):
        text = str(r)
        w, _ = text_size(draw, text, typeface)
        draw.text((left - w - 4, top + pad + r * step + (step - pad) / 2 - size / 2 - 1), text, fill=INK, font=typeface)
    label = "input channel"
    w, _ = text_size(draw, label, typeface)
    draw.text((left + image.shape[1] / 2 - w / 2, 2), label, fill=INK, font=typeface)
    vertical_text(canvas, (2, top + image.shape[0] / 2 - text_size(draw, "output channel", typeface)[0] / 2),
                  "output channel", typeface)
    return np.asarray(canvas, dtype=np.float64) / 255.0


def save_filters(model, path, layer: str | None = None, scale: int | None = None) -> tuple[str, np.ndarray, object]:
    """Draw a layer's kernels (default: the first convolution) into a PNG (see ``filters_figure``).

    Returns:
        ``(layer name, figure image, path written)``.
    """
    name, weight = filter_weights(model, layer)
    figure = filters_figure(weight, name, scale)
    return name, figure, save_png(figure, path)
