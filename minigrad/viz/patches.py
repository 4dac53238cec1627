"""Top activating patches: for a unit, the dataset crops that excite it most.

For every image, a unit's (channel's) strongest response is at some position (i, j) of its
feature map; the image region that position sees is its receptive field. Sorting images by
that response and cropping their receptive fields shows what the unit detects (the grids of
Zeiler & Fergus, 2014, Fig. 2). The receptive field comes from the layer arithmetic: a unit at
(i, j) is centred on input pixel ``(start + i * jump, start + j * jump)`` and spans ``size``
pixels, ``(size, jump, start)`` being the layer's entry in ``minigrad.summary``.
"""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from .layers import forward_collect, get_layer
from .figure import Panel, compose
from .render import chw_to_hwc, save_png, tile_grid, to_rgb

__all__ = ["unit_maxima", "crop_receptive_field", "top_patches", "patches_figure", "layer_receptive_field",
           "save_patches"]


def unit_maxima(model, images: np.ndarray, layer: str, batch_size: int = 256, progress=None):
    """Each image's strongest response of every unit of ``layer``, and where it is.

    Args:
        model: a ``Module`` in eval mode.
        images: preprocessed ``(N, C, H, W)``.
        layer: a layer with spatial output ``(N, U, H', W')``.

    Returns:
        ``(values (N, U), positions (N, U, 2))`` with positions as (i, j) in the feature map.
    """
    module = get_layer(model, layer, op="patches")
    values, positions = [], []
    n = len(images)
    with no_grad():
        for start in range(0, n, batch_size):
            batch = Tensor(np.ascontiguousarray(images[start:start + batch_size], dtype=np.float32))
            act = forward_collect(model, batch, {layer: module})[layer].numpy()
            if act.ndim != 4:
                raise ValueError(f"patches: layer {layer!r} gives output of shape {act.shape[1:]}; "
                                 f"a convolutional layer (channels, height, width) is needed")
            flat = act.reshape(act.shape[0], act.shape[1], -1)
            arg = flat.argmax(axis=2)
            values.append(np.take_along_axis(flat, arg[..., None], axis=2)[..., 0])
            positions.append(np.stack(np.unravel_index(arg, act.shape[2:]), axis=-1))
            if progress is not None:
                progress(min(start + batch_size, n), n)
    return np.concatenate(values).astype(np.float64), np.concatenate(positions)


def _per_axis(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def crop_receptive_field(image: np.ndarray, position, receptive_field, fill: float = 0.5) -> np.ndarray:
    """The part of ``image`` ``(C, H, W)`` that the unit at ``position`` sees.

    Args:
        image: ``(C, H, W)`` pixels.
        position: ``(i, j)`` in the feature map.
        receptive_field: ``(size, jump, start)`` of the layer as ``minigrad.summary`` gives them
            (each a number or an ``(h, w)`` pair; ``start`` is the centre of unit (0, 0) in
            continuous input coordinates, where pixel k spans [k, k + 1]).
        fill: value of the parts of the field that lie in the padding, outside the image.

    Returns:
        ``(C, size_h, size_w)``.

    Shape:
        rows ``round(start + i * jump - size / 2)`` ... ``+ size - 1``, columns likewise.
    """
    sizes, jumps, starts = (_per_axis(v) for v in receptive_field)
    sizes = tuple(int(round(s)) for s in sizes)
    c, h, w = image.shape
    out = np.full((c,) + sizes, fill, dtype=np.float64)
    top, left = (int(np.floor(starts[a] + position[a] * jumps[a] - sizes[a] / 2 + 0.5)) for a in range(2))
    y0, y1 = max(top, 0), min(top + sizes[0], h)
    x0, x1 = max(left, 0), min(left + sizes[1], w)
    if y0 < y1 and x0 < x1:
        out[:, y0 - top:y1 - top, x0 - left:x1 - left] = image[:, y0:y1, x0:x1]
    return out


def top_patches(values: np.ndarray, positions: np.ndarray, pixels: np.ndarray, receptive_field, units,
                k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most activating receptive-field crops of each unit.

    Args:
        values, positions: from ``unit_maxima``.
        pixels: ``(N, C, H, W)`` images in [0, 1] to crop from.
        receptive_field: ``(size, jump, start)`` (see ``crop_receptive_field``).
        units: unit indices.
        k: crops per unit (at most N).

    Returns:
        ``(crops (U, k, C, size, size), image indices (U, k))``, strongest first.
    """
    k = min(k, len(values))
    crops, chosen = [], []
    for u in units:
        if not 0 <= u < values.shape[1]:
            raise ValueError(f"patches: unit {u} out of range; the layer has {values.shape[1]} units")
        best = np.argsort(-values[:, u], kind="stable")[:k]
        chosen.append(best)
        crops.append(np.stack([crop_receptive_field(pixels[i], positions[i, u], receptive_field) for i in best]))
    return np.stack(crops), np.stack(chosen)


def patches_figure(crops: np.ndarray) -> np.ndarray:
    """One row of crops per unit.

    Shape:
        ``(U * (size + 1) + 1, k * (size + 1) + 1[, 3])``.
    """
    u, k = crops.shape[:2]
    tiles = [chw_to_hwc(c) for c in crops.reshape((u * k,) + crops.shape[2:])]
    if tiles[0].ndim == 3:
        tiles = [to_rgb(t) for t in tiles]
    return tile_grid(np.stack(tiles), ncols=k, pad=1, pad_value=1.0)


def layer_receptive_field(model, input_size, layer: str) -> tuple:
    """``(size, jump, start)`` of ``layer``'s units, from ``minigrad.summary``.

    Raises:
        ValueError: when the layer's output is not an image (its units see the whole input).
    """
    from ..model_summary import summary

    get_layer(model, layer, op="patches")
    rows = {}
    for row in summary(model, tuple(input_size)).layers:
        rows.setdefault(row.name, row)
    if layer not in rows:
        raise ValueError(f"patches: layer {layer!r} has no row in the model summary (it is not a leaf layer); "
                         f"leaf layers: {', '.join(rows)}")
    rf = rows[layer].receptive_field
    if rf.get("jump") is None:
        raise ValueError(f"patches: the units of layer {layer!r} see the whole input; choose a convolutional layer")
    return rf["size"], rf["jump"], rf["start"]


def save_patches(model, images, pixels, path, layer: str, receptive_field, units, k: int = 8,
                 scale: int | None = None, progress=None):
    """Find and draw each unit's top activating patches into a PNG.

    Returns:
        ``(crops, image indices, path written)``.
    """
    values, positions = unit_maxima(model, images, layer, progress=progress)
    crops, chosen = top_patches(values, positions, pixels, receptive_field, units, k)
    grid = patches_figure(crops)
    if scale is None:
        scale = max(2, 320 // grid.shape[1])
    units = list(units)
    named = ", ".join(map(str, units[:4])) + (", ..." if len(units) > 4 else "")
    figure = compose([Panel(grid)], scale=scale, heading=f"{layer}: the {k} patches that excite each unit most",
                     caption=f"One row per unit ({named}), strongest first; each patch is the unit's "
                             f"{receptive_field[0]}x{receptive_field[0]} px receptive field.")
    return crops, chosen, save_png(figure, path)
