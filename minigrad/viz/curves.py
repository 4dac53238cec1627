"""Training curves: loss and accuracy per epoch, side by side, saved as a PNG.

Drawn with matplotlib when it is installed, otherwise with Pillow alone (minigrad's only
imaging dependency), so ``minigrad train`` always leaves a ``curves.png`` behind.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["plot_curves"]

_COLORS = {"train": (31, 119, 180), "test": (255, 127, 14)}
_PANELS = (("loss", "train_loss", "test_loss"), ("accuracy", "train_acc", "test_acc"))


def plot_curves(history, path, title: str = "", backend: str = "auto") -> Path:
    """Draw loss and accuracy per epoch.

    Args:
        history: a list of dicts with keys ``epoch``, ``train_loss``, ``test_loss``, ``train_acc``,
            ``test_acc`` (missing or None values are skipped).
        path: the PNG to write.
        title: drawn above the panels.
        backend: "auto" (matplotlib when importable), "matplotlib" or "pillow".

    Returns:
        The path written.
    """
    if backend not in ("auto", "matplotlib", "pillow"):
        raise ValueError(f"plot_curves: backend must be 'auto', 'matplotlib' or 'pillow', got {backend!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if backend in ("auto", "matplotlib"):
        try:
            import matplotlib
        except ImportError:
            if backend == "matplotlib":
                raise
        else:
            matplotlib.use("Agg", force=False)
            _plot_matplotlib(history, path, title)
            return path
    _plot_pillow(history, path, title)
    return path


def _series(history, key):
    """(epoch, value) pairs with a finite value."""
    points = []
    for row in history:
        value = row.get(key)
        if value is not None and math.isfinite(float(value)):
            points.append((float(row["epoch"]), float(value)))
    return points


def _plot_matplotlib(history, path, title):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (name, train_key, test_key) in zip(axes, _PANELS):
        for split, key in (("train", train_key), ("test", test_key)):
            points = _series(history, key)
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", label=split, color=[c / 255 for c in _COLORS[split]])
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _nice_range(values):
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _plot_pillow(history, path, title):
    from PIL import Image, ImageDraw, ImageFont

    width, height, panel_w = 1000, 420, 500
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    if title:
        draw.text((width // 2 - 3 * len(title), 6), title, fill="black", font=font)
    for i, (name, train_key, test_key) in enumerate(_PANELS):
        # Plot area of this panel, leaving room for tick labels on the left and below.
        left, top = i * panel_w + 60, 40
        right, bottom = (i + 1) * panel_w - 20, height - 50
        draw.text(((left + right) // 2 - 15, height - 22), "epoch", fill="black", font=font)
        draw.text((left, top - 14), name, fill="black", font=font)
        series = {split: _series(history, key) for split, key in (("train", train_key), ("test", test_key))}
        points = [p for s in series.values() for p in s]
        if not points:
            continue
        x_lo, x_hi = min(p[0] for p in points), max(p[0] for p in points)
        if x_hi == x_lo:
            x_lo, x_hi = x_lo - 1, x_hi + 1
        y_lo, y_hi = _nice_range([p[1] for p in points])

        def to_px(x, y):
            px = left + (x - x_lo) / (x_hi - x_lo) * (right - left)
            py = bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top)
            return px, py

        for k in range(5):
            y = y_lo + k * (y_hi - y_lo) / 4
            _, py = to_px(x_lo, y)
            draw.line([left, py, right, py], fill=(230, 230, 230))
            draw.text((left - 55, py - 6), f"{y:.3g}", fill="black", font=font)
        draw.rectangle([left, top, right, bottom], outline="black")  # over the grid lines at the edges
        for x in sorted({p[0] for p in points}):
            px, _ = to_px(x, y_lo)
            draw.text((px - 3, bottom + 4), f"{x:g}", fill="black", font=font)
        for j, (split, pts) in enumerate(series.items()):
            color = _COLORS[split]
            xy = [to_px(x, y) for x, y in pts]
            if len(xy) > 1:
                draw.line(xy, fill=color, width=2)
            for px, py in xy:
                draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=color)
            draw.line([right - 70, top + 12 + 14 * j, right - 55, top + 12 + 14 * j], fill=color, width=2)
            draw.text((right - 50, top + 6 + 14 * j), split, fill="black", font=font)
    image.save(path, format="PNG")
