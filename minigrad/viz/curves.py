"""Training curves: loss and accuracy per epoch, side by side, saved as a PNG.

Drawn with matplotlib when it is installed (the ``plot`` extra), otherwise with Pillow alone
(minigrad's only imaging dependency), so ``minigrad train`` always leaves a ``curves.png`` behind;
both give the same axes, ticks and legend.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["plot_curves", "panel_ranges"]

from .plot import INK, Axes, font, legend, nice_ticks, text_size

_COLORS = {"train": (31, 119, 180), "test": (255, 127, 14)}
_PANELS = (("loss", "train_loss", "test_loss", 1.0), ("accuracy", "train_acc", "test_acc", 100.0))
_LABELS = {"loss": "cross-entropy loss", "accuracy": "accuracy (%)"}


def plot_curves(history, path, title: str = "", backend: str = "auto") -> Path:
    """Draw loss and accuracy per epoch, train and test, side by side.

    Both renderers draw the same chart: ticks in steps of 1, 2 or 5, the loss axis from 0,
    accuracy in percent (as the console prints it), the legend above the panels, not over the
    curves, and ``title`` on top.

    Args:
        history: a list of dicts with keys ``epoch``, ``train_loss``, ``test_loss``, ``train_acc``,
            ``test_acc`` (accuracies as fractions; missing or None values are skipped).
        path: the PNG to write.
        title: drawn above the panels (``fit`` writes "model on dataset, run folder").
        backend: "auto" (matplotlib when importable, else Pillow), "matplotlib" (the ``plot``
            extra: ``pip install "minigrad[plot]"``) or "pillow".

    Returns:
        The path written.

    Raises:
        ValueError: an unknown backend, or "matplotlib" when it is not installed.
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
                raise ValueError('plot_curves: the matplotlib backend needs matplotlib: pip install "minigrad[plot]" '
                                 "(or use --backend pillow)") from None
        else:
            matplotlib.use("Agg", force=False)
            _plot_matplotlib(history, path, title)
            return path
    _plot_pillow(history, path, title)
    return path


def _series(history, key, factor=1.0):
    """(epoch, value * factor) pairs with a finite value."""
    points = []
    for row in history:
        value = row.get(key)
        if value is not None and math.isfinite(float(value)):
            points.append((float(row["epoch"]), float(value) * factor))
    return points


def panel_ranges(history):
    """Per panel ``(name, series, (x_lo, x_hi, x_ticks), (y_lo, y_hi, y_ticks))``, shared by both renderers.

    ``series`` maps "train"/"test" to (epoch, value) points; the loss axis starts at 0 and
    accuracy is in percent, its axis ending at 100 at most.
    """
    epochs = [float(r["epoch"]) for r in history if r.get("epoch") is not None] or [1.0]
    x_axis = nice_ticks(min(epochs), max(epochs), max_ticks=8, integer=True)
    panels = []
    for name, train_key, test_key, factor in _PANELS:
        series = {"train": _series(history, train_key, factor), "test": _series(history, test_key, factor)}
        values = [v for pts in series.values() for _, v in pts] or [0.0, 1.0]
        if name == "loss":
            y_axis = nice_ticks(0.0, max(max(values), 1e-6), max_ticks=6)
        else:
            lo, hi, ticks = nice_ticks(min(values), max(values), max_ticks=6)
            ticks = [t for t in ticks if t <= 100.0] or [100.0]
            y_axis = (lo, max(ticks[-1], min(hi, 100.0)), ticks)
        panels.append((name, series, x_axis, y_axis))
    return panels


def _plot_matplotlib(history, path, title):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, (name, series, (x_lo, x_hi, x_ticks), (y_lo, y_hi, y_ticks)) in zip(axes, panel_ranges(history)):
        for split, points in series.items():
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", markersize=4, label=split, color=[c / 255 for c in _COLORS[split]])
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_lo, y_hi)
        ax.xaxis.set_major_locator(FixedLocator(x_ticks))
        ax.yaxis.set_major_locator(FixedLocator(y_ticks))
        ax.set_xlabel("epoch")
        ax.set_ylabel(_LABELS[name])
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 0.93))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_pillow(history, path, title):
    from PIL import Image, ImageDraw

    width, height, panel_w = 1100, 460, 550
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    top = 20
    if title:
        w, _ = text_size(draw, title, font(17))
        draw.text(((width - w) / 2, 10), title, fill=INK, font=font(17))
        top = 40
    legend_w = legend(ImageDraw.Draw(Image.new("RGB", (1, 1))), (0, 0), [(s, _COLORS[s]) for s in _COLORS])
    legend(draw, ((width - legend_w) / 2, top), [(s, _COLORS[s]) for s in _COLORS])
    for i, (name, series, (x_lo, x_hi, x_ticks), (y_lo, y_hi, y_ticks)) in enumerate(panel_ranges(history)):
        box = (i * panel_w + 95, top + 34, (i + 1) * panel_w - 25, height - 58)
        axes = Axes(image, box, (x_lo, x_hi), (y_lo, y_hi))
        axes.frame(x_ticks, y_ticks, "epoch", _LABELS[name])
        for split, points in series.items():
            axes.line(points, _COLORS[split])
    image.save(path, format="PNG")
