"""Turning arrays into pictures with Pillow: normalization, grids, colour maps, overlays, text, PNG.

Every visualization in ``minigrad.viz`` computes NumPy arrays first and renders them here, so
the numbers can be tested and the pictures are only a thin last step. Images are float arrays in
[0, 1], either ``(H, W)`` (grey) or ``(H, W, 3)`` (RGB), until ``to_uint8`` / ``save_png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = [
    "normalize", "chw_to_hwc", "tile_grid", "colormap", "overlay", "upscale", "to_rgb",
    "to_uint8", "save_png", "save_mask_png", "draw_text", "hstack", "vstack", "PALETTE",
]

# Anchor colours of the "inferno" colour map (black -> purple -> orange -> pale yellow), sampled
# at equal steps; linear interpolation between them is indistinguishable at PNG precision.
_INFERNO = np.array([
    [0.001, 0.000, 0.014], [0.087, 0.044, 0.224], [0.258, 0.039, 0.406], [0.416, 0.090, 0.433],
    [0.578, 0.148, 0.404], [0.735, 0.216, 0.330], [0.865, 0.317, 0.226], [0.954, 0.469, 0.099],
    [0.988, 0.645, 0.040], [0.964, 0.843, 0.273], [0.988, 0.998, 0.645],
])

# A diverging blue-white-red map for signed values (filters, gradients).
_COOLWARM = np.array([[0.230, 0.299, 0.754], [0.865, 0.865, 0.865], [0.706, 0.016, 0.150]])

# Ten well-separated class colours (matplotlib's "tab10").
PALETTE = np.array([
    [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
    [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
], dtype=np.uint8)


def normalize(a: np.ndarray, symmetric: bool = False) -> np.ndarray:
    """Scale an array linearly to [0, 1].

    Args:
        a: any real array.
        symmetric: map [-m, m] (m = max |a|) to [0, 1] so that zero is mid-grey; good for weights.

    Returns:
        float64 array of the same shape; a constant array becomes 0.5 (0 when it is all zero and
        not symmetric), since it has no contrast to show.
    """
    a = np.asarray(a, dtype=np.float64)
    if symmetric:
        m = np.abs(a).max() if a.size else 0.0
        return np.full_like(a, 0.5) if m == 0 else 0.5 + 0.5 * a / m
    lo, hi = (a.min(), a.max()) if a.size else (0.0, 0.0)
    if hi == lo:
        return np.zeros_like(a) if hi == 0 else np.full_like(a, 0.5)
    return (a - lo) / (hi - lo)


def chw_to_hwc(image: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` with C in {1, 3} to a displayable ``(H, W)`` or ``(H, W, 3)``."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"viz: cannot display an image of shape {image.shape}; expected (1|3, H, W)")
    return image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))


def to_rgb(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` grey or ``(H, W, 3)`` to ``(H, W, 3)``."""
    image = np.asarray(image)
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def tile_grid(tiles, ncols: int | None = None, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Arrange equally sized images in a grid, row by row.

    Args:
        tiles: array ``(N, h, w)`` or ``(N, h, w, 3)`` (or a list of such images).
        ncols: tiles per row (default: about sqrt(N)).
        pad: pixels between tiles and around the border.
        pad_value: colour of the padding (1 = white).

    Returns:
        ``(rows * (h + pad) + pad, ncols * (w + pad) + pad[, 3])``.

    Shape:
        rows = ceil(N / ncols).
    """
    tiles = np.asarray(tiles, dtype=np.float64)
    if tiles.ndim not in (3, 4) or len(tiles) == 0:
        raise ValueError(f"tile_grid: expected a non-empty stack (N, h, w[, 3]), got shape {tiles.shape}")
    n, h, w = tiles.shape[:3]
    ncols = int(ncols or int(np.ceil(np.sqrt(n))))
    rows = -(-n // ncols)
    grid = np.full((rows * (h + pad) + pad, ncols * (w + pad) + pad) + tiles.shape[3:], pad_value)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = tile
    return grid


def colormap(values: np.ndarray, name: str = "inferno") -> np.ndarray:
    """Map values in [0, 1] to RGB with the "inferno" (sequential) or "coolwarm" (diverging) map.

    Args:
        values: array of any shape, clipped to [0, 1].
        name: "inferno" or "coolwarm".

    Returns:
        ``values.shape + (3,)`` float array in [0, 1].
    """
    anchors = {"inferno": _INFERNO, "coolwarm": _COOLWARM}.get(name)
    if anchors is None:
        raise ValueError(f"colormap: unknown colour map {name!r}; use 'inferno' or 'coolwarm'")
    t = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0) * (len(anchors) - 1)
    i = np.minimum(t.astype(np.int64), len(anchors) - 2)
    frac = (t - i)[..., None]
    return anchors[i] * (1 - frac) + anchors[i + 1] * frac


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, name: str = "inferno") -> np.ndarray:
    """Blend a heat map in [0, 1] (colour-mapped) over an image in [0, 1].

    Args:
        image: ``(H, W)`` or ``(H, W, 3)``.
        heat: ``(H, W)`` values in [0, 1].
        alpha: opacity of the heat map; the heat map is also weighted by its own value so that
            cold regions leave the image visible.

    Returns:
        ``(H, W, 3)``.
    """
    image, heat = to_rgb(np.asarray(image, dtype=np.float64)), np.asarray(heat, dtype=np.float64)
    if image.shape[:2] != heat.shape:
        raise ValueError(f"overlay: image {image.shape[:2]} and heat map {heat.shape} differ in size")
    weight = alpha * np.clip(heat, 0, 1)[..., None]
    return (1 - weight) * image + weight * colormap(heat, name)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor (keeps pixels crisp, unlike resampling)."""
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"upscale: factor must be >= 1, got {factor}")
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8 (rounded, clipped)."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255), 0, 255).astype(np.uint8)


def hstack(images, gap: int = 4, fill: float = 1.0) -> np.ndarray:
    """Place images side by side (top-aligned, grey made RGB when mixed), separated by ``gap`` pixels."""
    return _stack(images, gap, fill, axis=1)


def vstack(images, gap: int = 4, fill: float = 1.0) -> np.ndarray:
    """Place images one above the other (left-aligned), separated by ``gap`` pixels."""
    return _stack(images, gap, fill, axis=0)


def _stack(images, gap, fill, axis):
    images = [np.asarray(im, dtype=np.float64) for im in images]
    if any(im.ndim == 3 for im in images):
        images = [to_rgb(im) for im in images]
    other = 1 - axis
    size = max(im.shape[other] for im in images)
    parts = []
    for k, im in enumerate(images):
        shape = list(im.shape)
        shape[other] = size
        block = np.full(shape, fill)
        block[(slice(0, im.shape[0]), slice(0, im.shape[1]))] = im
        parts.append(block)
        if k < len(images) - 1 and gap > 0:
            spacer = list(shape)
            spacer[axis] = gap
            parts.append(np.full(spacer, fill))
    return np.concatenate(parts, axis=axis)


def draw_text(image: np.ndarray, items, color=(0, 0, 0)) -> np.ndarray:
    """Write text onto an image with Pillow's built-in bitmap font.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` in [0, 1].
        items: iterable of ``(x, y, text)`` or ``(x, y, text, (r, g, b))`` with 0..255 colours.
        color: default text colour.

    Returns:
        ``(H, W, 3)`` float image with the text drawn.
    """
    from PIL import Image, ImageDraw

    pil = Image.fromarray(to_uint8(to_rgb(image)))
    draw = ImageDraw.Draw(pil)
    for item in items:
        x, y, text = item[:3]
        draw.text((int(x), int(y)), str(text), fill=tuple(int(c) for c in (item[3] if len(item) > 3 else color)))
    return np.asarray(pil, dtype=np.float64) / 255.0


def save_png(image: np.ndarray, path, scale: int = 1) -> Path:
    """Write a [0, 1] float image (grey or RGB) as a PNG, creating the folder.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)``.
        path: destination file.
        scale: integer nearest-neighbour enlargement (tiny kernels and feature maps need it).

    Returns:
        The path written.
    """
    from PIL import Image

    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"save_png: expected (H, W) or (H, W, 3), got shape {image.shape}")
    if scale > 1:
        image = upscale(image, scale)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(image)).save(path, format="PNG", optimize=True)
    return path


def save_mask_png(mask: np.ndarray, path) -> Path:
    """Write a class-index mask as a palette PNG: its pixel values are the classes, shown in ``PALETTE``'s colours.

    Args:
        mask: ``(H, W)`` integer class indices in [0, 255].
        path: destination file (its folder is created).

    Returns:
        The path written.
    """
    from PIL import Image

    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype.kind not in "iu" or (mask.size and (mask.min() < 0 or mask.max() > 255)):
        raise ValueError(f"save_mask_png: expected an (H, W) integer mask in [0, 255], got {mask.dtype} {mask.shape}")
    image = Image.fromarray(mask.astype(np.uint8), mode="P")
    colours = np.resize(PALETTE, (256, 3))  # classes beyond ten repeat the colours
    image.putpalette(colours.reshape(-1).tolist())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", optimize=True)
    return path
