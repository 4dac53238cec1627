"""A segmentation mask beside its image, in the class colours, with a legend of class shares."""

from __future__ import annotations

import numpy as np

from .figure import Panel, compose
from .plot import INK, font, text_size
from .render import PALETTE, chw_to_hwc, upscale

__all__ = ["mask_figure"]


def mask_figure(image: np.ndarray, mask: np.ndarray, classes, heading: str = "") -> np.ndarray:
    """Image | mask in ``PALETTE`` colours | legend (colour, class name, share of the pixels).

    Args:
        image: ``(C, H, W)`` pixels in [0, 1].
        mask: ``(H, W)`` class indices.
        classes: class names, indexed by the mask's values.
        heading: the figure's first line.

    Returns:
        ``(H', W', 3)`` float image in [0, 1].
    """
    shown = chw_to_hwc(np.asarray(image, dtype=np.float64))
    mask = np.asarray(mask)
    colours = np.resize(PALETTE, (max(len(classes), int(mask.max(initial=0)) + 1), 3)) / 255.0
    painted = colours[mask]
    scale = max(1, 256 // max(mask.shape))
    rows = [(colours[k], str(name) if str(name) == str(k) else f"{k} {name}", float(np.mean(mask == k)))
            for k, name in enumerate(classes)]
    legend = _legend(rows, height=mask.shape[0] * scale)
    return compose([Panel(upscale(shown, scale), "image"), Panel(upscale(painted, scale), "predicted mask"),
                    Panel(legend, "class: pixels")], heading=heading)


def _legend(rows, height: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    typeface = font(13)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = [f"{name}: {100 * share:.1f}%" for _, name, share in rows]
    width = 26 + max(text_size(probe, line, typeface)[0] for line in lines) + 4
    image = Image.new("RGB", (width, max(height, 22 * len(rows))), "white")
    draw = ImageDraw.Draw(image)
    for k, ((colour, _, _), line) in enumerate(zip(rows, lines)):
        y = 4 + 22 * k
        draw.rectangle([2, y, 18, y + 16], fill=tuple(int(255 * c) for c in colour), outline=INK)
        draw.text((26, y + 1), line, fill=INK, font=typeface)
    return np.asarray(image, dtype=np.float64) / 255.0
