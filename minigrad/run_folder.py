"""A training run's folder: ``last.npz``, ``best.npz``, ``metrics.csv`` and ``curves.png``.

``fit`` owns one ``RunFolder``; everything it writes there goes through here, so the rules about
what is written when live in one place.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

__all__ = ["RunFolder", "METRIC_COLUMNS", "curves_title"]

METRIC_COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "images_per_s"]


def curves_title(model: str, dataset: str, folder) -> str:
    """The title of a run's ``curves.png``: model, dataset and run folder."""
    return f"{model} on {dataset}, run {Path(folder).name}"


class RunFolder:
    """The output folder of one training run.

    Args:
        path: the folder (created if missing).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.last = self.path / "last.npz"
        self.best = self.path / "best.npz"
        self.metrics = self.path / "metrics.csv"
        self.curves = self.path / "curves.png"

    def create(self) -> "RunFolder":
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def write_metrics(self, history) -> None:
        """Rewrite metrics.csv whole through a temporary file, so it is never half-written."""
        tmp = self.metrics.with_name(f".{self.metrics.name}.tmp")
        with open(tmp, "w", newline="") as f:
            extra = [k for k in ("test_miou",) if history and k in history[0]]
            writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS + extra, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(history)
        os.replace(tmp, self.metrics)

    def draw_curves(self, history, title, note) -> None:
        """Redraw curves.png; a failure to draw is a note, never the end of the run."""
        from .viz.curves import plot_curves

        try:
            plot_curves(history, self.curves, title=title)
        except OSError as e:
            note(f"could not draw {self.curves}: {e}")
