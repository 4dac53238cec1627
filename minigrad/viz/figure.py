"""Figures made of titled panels: a heading, images with their titles, colour bars and a caption.

The visualizations compute their arrays and pass them here as ``Panel``s; ``compose`` enlarges
each panel (nearest neighbour, so pixels stay visible), writes its title above it, puts a
colour bar beside it when asked, and adds the figure's heading and caption. Everything is a
float (H, W, 3) array in [0, 1], like the rest of ``minigrad.viz.render``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .plot import INK, font, text_size
from .render import colormap, to_rgb, upscale

__all__ = ["Panel", "compose", "colorbar", "text_image", "prediction_text"]

TITLE_SIZE, TEXT_SIZE, HEADING_SIZE = 14, 13, 16


@dataclass
class Panel:
    """One image of a figure.

    Attributes:
        image: ``(H, W)`` or ``(H, W, 3)`` in [0, 1].
        title: written above the image.
        bar: colour bar beside it: ``(colour map name, low label, high label)``, or None.
    """

    image: np.ndarray
    title: str = ""
    bar: tuple | None = None


def text_image(lines, width: int | None = None, size: int = TEXT_SIZE, align: str = "left") -> np.ndarray:
    """Lines of text on white, ``width`` pixels wide (wrapped to fit; default: as wide as the longest line)."""
    from PIL import Image, ImageDraw

    typeface = font(size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = [line for line in lines if line]
    if width is not None:
        lines = [wrapped for line in lines for wrapped in _wrap(probe, line, typeface, width)]
    sizes = [text_size(probe, line, typeface) for line in lines] or [(0, 0)]
    width = int(width or max(w for w, _ in sizes) + 2)
    line_h = size + 5
    image = Image.new("RGB", (max(width, 1), max(line_h * len(lines), 1)), "white")
    draw = ImageDraw.Draw(image)
    for k, (line, (w, _)) in enumerate(zip(lines, sizes)):
        x = (width - w) / 2 if align == "center" else 1
        draw.text((x, k * line_h + 1), line, fill=INK, font=typeface)
    return np.asarray(image, dtype=np.float64) / 255.0


def _wrap(draw, line: str, typeface, width: int) -> list:
    """``line`` broken at spaces into pieces no wider than ``width`` pixels (a long word stays whole)."""
    pieces, current = [], ""
    for word in line.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and text_size(draw, candidate, typeface)[0] > width - 2:
            pieces.append(current)
            current = word
        else:
            current = candidate
    return pieces + [current]


def colorbar(height: int, name: str = "inferno", low: str = "0", high: str = "max", strip: int = 14) -> np.ndarray:
    """A vertical colour bar ``height`` pixels tall: ``high`` at the top, ``low`` at the bottom.

    ``name`` is a colour map of ``render.colormap``, or "grey" (black to white).
    """
    ramp = np.linspace(1.0, 0.0, height)[:, None].repeat(strip, axis=1)
    bar = to_rgb(ramp) if name == "grey" else colormap(ramp, name)
    labels = text_image([high], size=TEXT_SIZE - 1), text_image([low], size=TEXT_SIZE - 1)
    width = strip + 4 + max(label.shape[1] for label in labels)
    out = np.ones((height, width, 3))
    out[:, :strip] = bar
    out[0, :strip] = out[-1, :strip] = out[:, 0] = out[:, strip - 1] = 0.25  # a thin frame
    for label, y in ((labels[0], 0), (labels[1], height - labels[1].shape[0])):
        h = min(label.shape[0], height)
        out[y:y + h, strip + 4:strip + 4 + label.shape[1]] = label[:h]
    return out


def _panel_block(panel: Panel, scale: int) -> np.ndarray:
    image = upscale(to_rgb(np.asarray(panel.image, dtype=np.float64)), scale)
    if panel.bar is not None:
        bar = colorbar(image.shape[0], *panel.bar)
        image = _side_by_side([image, bar], gap=6)
    title = text_image([panel.title], width=image.shape[1], size=TITLE_SIZE, align="center")
    return np.concatenate([title, np.ones((4, image.shape[1], 3)), image]) if panel.title else image


def _side_by_side(images, gap: int) -> np.ndarray:
    height = max(im.shape[0] for im in images)
    parts = []
    for k, im in enumerate(images):
        block = np.ones((height, im.shape[1], 3))
        block[:im.shape[0]] = im
        parts.append(block)
        if k < len(images) - 1:
            parts.append(np.ones((height, gap, 3)))
    return np.concatenate(parts, axis=1)


def compose(panels, heading: str = "", caption: str = "", scale: int = 1, gap: int = 16,
            margin: int = 10) -> np.ndarray:
    """Panels side by side (each enlarged ``scale`` times) under a heading, above a caption.

    Returns:
        ``(H, W, 3)`` float image in [0, 1].
    """
    row = _side_by_side([_panel_block(p, scale) for p in panels], gap)
    parts = []
    if heading:
        parts += [text_image(heading.split("\n"), width=row.shape[1], size=HEADING_SIZE, align="center"),
                  np.ones((6, row.shape[1], 3))]
    parts.append(row)
    if caption:
        parts += [np.ones((6, row.shape[1], 3)), text_image(caption.split("\n"), width=row.shape[1])]
    body = np.concatenate(_same_width(parts))
    out = np.ones((body.shape[0] + 2 * margin, body.shape[1] + 2 * margin, 3))
    out[margin:-margin, margin:-margin] = body
    return out


def _same_width(parts):
    width = max(p.shape[1] for p in parts)
    widened = []
    for p in parts:
        block = np.ones((p.shape[0], width, 3))
        block[:, :p.shape[1]] = p
        widened.append(block)
    return widened


def prediction_text(probabilities: np.ndarray, target: int, classes=None) -> str:
    """"predicted 7 (p = 0.98)", plus the target's probability when it is another class."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = int(np.argmax(probabilities))

    def name(k):
        label = str(classes[k]) if classes is not None and k < len(classes) else str(k)
        return label if label == str(k) else f"{k} ({label})"

    text = f"predicted {name(predicted)} (p = {probabilities[predicted]:.2f})"
    if target != predicted:
        text += f"; showing class {name(target)} (p = {probabilities[target]:.2f})"
    return text
