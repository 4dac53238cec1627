"""Charts with Pillow alone: axes with 1-2-5 ticks (linear or log), lines, dots, legends, titles.

The training curves and the model cost chart are drawn here, so ``minigrad`` needs no
matplotlib. Tick positions are plain functions (``nice_ticks``, ``log_ticks``) and are tested on
their own; ``Axes`` only maps data to pixels and draws.
"""

from __future__ import annotations

import math

__all__ = ["font", "nice_ticks", "log_ticks", "tick_label", "Axes", "legend", "text_size", "vertical_text"]

GRID = (228, 228, 228)
INK = (30, 30, 30)


def font(size: int = 14):
    """Pillow's bundled scalable font at ``size`` pixels."""
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _step(span: float, max_ticks: int, integer: bool) -> float:
    """The smallest 1, 2 or 5 times a power of ten that cuts ``span`` into at most ``max_ticks - 1`` steps."""
    raw = span / max(max_ticks - 1, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        step = m * magnitude
        if step >= raw * (1 - 1e-9):
            break
    return max(step, 1.0) if integer else step


def nice_ticks(lo: float, hi: float, max_ticks: int = 6, integer: bool = False) -> tuple[float, float, list]:
    """Round tick values covering ``[lo, hi]``, in steps of 1, 2 or 5 times a power of ten.

    Args:
        lo, hi: the data range (``hi < lo`` is swapped; an empty range is widened by one unit).
        max_ticks: most ticks wanted (the result has between about half of that and this many).
        integer: steps of at least 1 (epochs).

    Returns:
        ``(axis_lo, axis_hi, ticks)``: the axis runs from the first tick to the last, which
        enclose ``[lo, hi]``.
    """
    lo, hi = (float(lo), float(hi)) if lo <= hi else (float(hi), float(lo))
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        lo, hi = lo - 0.5, hi + 0.5
    step = _step(hi - lo, max_ticks, integer)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    ticks = [round(k * step, 12) for k in range(first, last + 1)]
    return ticks[0], ticks[-1], ticks


def log_ticks(lo: float, hi: float) -> tuple[float, float, list]:
    """Ticks for a log axis covering ``[lo, hi]`` (both > 0): decades, or 1-2-5 within them.

    The axis is cut at the nearest 1-2-5 values around the data, not at whole decades, so points
    spread over the plot instead of crowding one corner.

    Returns:
        ``(axis_lo, axis_hi, ticks)``.
    """
    if not (lo > 0 and hi > 0):
        raise ValueError(f"log_ticks: the range must be positive, got [{lo}, {hi}]")
    lo, hi = min(lo, hi), max(lo, hi)
    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 2)
    per_decade = (1,) if math.log10(hi / lo) > 4 else (1, 2, 5)
    candidates = [m * 10.0 ** d for d in decades for m in per_decade]
    axis_lo = max(c for c in candidates if c <= lo * (1 + 1e-9))
    axis_hi = min(c for c in candidates if c >= hi * (1 - 1e-9))
    if axis_hi <= axis_lo:
        axis_hi = min(c for c in candidates if c > axis_lo)
    ticks = [c for c in candidates if axis_lo * (1 - 1e-9) <= c <= axis_hi * (1 + 1e-9)]
    return axis_lo, axis_hi, ticks


def tick_label(value: float, ticks) -> str:
    """``value`` with as many decimals as the tick spacing needs (``0.2``, ``15``, ``1,000``)."""
    step = min((abs(b - a) for a, b in zip(ticks, ticks[1:]) if b != a), default=1.0)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if decimals == 0:
        return f"{value:,.0f}"
    return f"{value:.{decimals}f}"


def text_size(draw, text: str, typeface) -> tuple[int, int]:
    """Width and height in pixels of ``text`` (height from the top of the line to the baseline's descent)."""
    box = draw.textbbox((0, 0), text, font=typeface)
    return box[2] - box[0], box[3]


def vertical_text(image, xy, text: str, typeface, fill=INK) -> None:
    """Write ``text`` rotated by 90 degrees (reading bottom to top), its top-left corner at ``xy``."""
    from PIL import Image, ImageDraw

    probe = ImageDraw.Draw(image)
    w, h = text_size(probe, text, typeface)
    label = Image.new("L", (w + 2, h + 2), 0)
    ImageDraw.Draw(label).text((1, 0), text, fill=255, font=typeface)
    label = label.rotate(90, expand=True)
    image.paste(Image.new("RGB", label.size, fill), (int(xy[0]), int(xy[1])), label)


class Axes:
    """One plot area of a Pillow image: maps data to pixels and draws the frame, grid and marks.

    Args:
        image: a ``PIL.Image`` in RGB.
        box: ``(left, top, right, bottom)`` of the plot area in pixels.
        x_range, y_range: ``(lo, hi)`` data values at the edges of the plot area.
        x_log, y_log: logarithmic axes.
    """

    def __init__(self, image, box, x_range, y_range, x_log: bool = False, y_log: bool = False):
        from PIL import ImageDraw

        self.image, self.draw = image, ImageDraw.Draw(image)
        self.box, self.x_log, self.y_log = box, x_log, y_log
        self.x_range, self.y_range = x_range, y_range

    def _unit(self, value, lo, hi, log):
        if log:
            value, lo, hi = math.log10(value), math.log10(lo), math.log10(hi)
        return (value - lo) / (hi - lo)

    def px(self, x: float, y: float) -> tuple[float, float]:
        """Pixel position of the data point ``(x, y)``."""
        left, top, right, bottom = self.box
        u = self._unit(x, *self.x_range, self.x_log)
        v = self._unit(y, *self.y_range, self.y_log)
        return left + u * (right - left), bottom - v * (bottom - top)

    def frame(self, x_ticks, y_ticks, x_label: str = "", y_label: str = "", size: int = 13,
              x_format=None, y_format=None) -> None:
        """Grid lines at the ticks, tick labels, axis labels and the frame."""
        left, top, right, bottom = self.box
        typeface = font(size)
        x_format = x_format or (lambda v: tick_label(v, x_ticks))
        y_format = y_format or (lambda v: tick_label(v, y_ticks))
        widest = 0
        for y in y_ticks:
            _, py = self.px(self.x_range[0], y)
            self.draw.line([left, py, right, py], fill=GRID)
            text = y_format(y)
            w, h = text_size(self.draw, text, typeface)
            widest = max(widest, w)
            self.draw.text((left - 6 - w, py - h / 2 - 1), text, fill=INK, font=typeface)
        for x in x_ticks:
            px, _ = self.px(x, self.y_range[0])
            self.draw.line([px, top, px, bottom], fill=GRID)
            text = x_format(x)
            w, _ = text_size(self.draw, text, typeface)
            self.draw.text((px - w / 2, bottom + 5), text, fill=INK, font=typeface)
        self.draw.rectangle([left, top, right, bottom], outline=INK)
        if x_label:
            w, _ = text_size(self.draw, x_label, typeface)
            self.draw.text(((left + right) / 2 - w / 2, bottom + 8 + size), x_label, fill=INK, font=typeface)
        if y_label:
            w, h = text_size(self.draw, y_label, typeface)
            vertical_text(self.image, (left - widest - 14 - h, (top + bottom) / 2 - w / 2), y_label, typeface)

    def line(self, points, color, width: int = 2, marker: int = 3) -> None:
        """A polyline through ``points`` (data coordinates) with round markers of radius ``marker``."""
        xy = [self.px(x, y) for x, y in points]
        if len(xy) > 1:
            self.draw.line(xy, fill=color, width=width, joint="curve")
        for px, py in xy:
            self.draw.ellipse([px - marker, py - marker, px + marker, py + marker], fill=color)


def legend(draw, xy, entries, size: int = 13) -> int:
    """A one-line legend at ``xy``: a coloured stroke and a name per ``(name, color)`` entry.

    Returns:
        The width drawn, in pixels.
    """
    typeface = font(size)
    x, y = xy
    for name, color in entries:
        draw.line([x, y + size / 2 + 1, x + 22, y + size / 2 + 1], fill=color, width=3)
        draw.ellipse([x + 8, y + size / 2 - 2, x + 14, y + size / 2 + 4], fill=color)
        draw.text((x + 28, y), name, fill=INK, font=typeface)
        x += 28 + text_size(draw, name, typeface)[0] + 18
    return int(x - xy[0])
