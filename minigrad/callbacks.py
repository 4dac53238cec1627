"""``Callback``: the hooks through which ``minigrad.train.fit`` reports a run (progress bars, tests).

Kept apart from ``train.py`` so that a progress display (``progress.py``) can implement it
without importing the trainer that uses it.
"""

from __future__ import annotations

__all__ = ["Callback"]


class Callback:
    """Hooks called by ``fit``; override the ones you need (the CLI draws its progress bar here)."""

    def note(self, message: str) -> None:
        """A one-line remark (dataset fallback, input resizing, resume position)."""

    def train_begin(self, info: dict) -> None:
        """``info``: model, dataset, sizes, parameters, device, out_dir, start epoch."""

    def epoch_begin(self, epoch: int, epochs: int, num_batches: int) -> None:
        """Before the first batch of ``epoch`` (0-based)."""

    def batch_end(self, epoch: int, batch: int, num_batches: int, loss: float, images: int) -> None:
        """After the optimizer step of ``batch`` (1-based count within the epoch)."""

    def epoch_end(self, row: dict) -> None:
        """``row``: the metrics.csv row of the finished epoch."""
