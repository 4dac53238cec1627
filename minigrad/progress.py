"""The progress display of ``fit`` (and of ``minigrad train``): a bar per epoch, a line after it.

``fit(config)`` shows it by default, as Keras's ``verbose=1``; ``fit(config, verbose=False)``
is silent. On a terminal a rich progress bar (batches, images/s, loss, elapsed time, ETA) runs
during each epoch and is replaced by the epoch's line; elsewhere (logs, notebooks' captured
output) only the lines are printed. With an empty Numba cache the first batch waits for the
kernels to compile; the display says so instead of showing a frozen bar.
"""

from __future__ import annotations

from .callbacks import Callback

__all__ = ["ProgressBar", "COLD_START_SECONDS"]

# Seconds to the first batch of LeNet-5 with an empty Numba cache, measured with
# benchmarks/startup.py on the 2-core development machine (see the README).
COLD_START_SECONDS = 20


class ProgressBar(Callback):
    """A ``minigrad.train.Callback`` (``callbacks.py``) printing the run's header, one line per epoch and, on a terminal, a bar.

    Args:
        quiet: no bar even on a terminal (the lines are still printed).
    """

    def __init__(self, quiet: bool = False):
        from rich.console import Console

        self.quiet = quiet
        self.out = Console(soft_wrap=True, highlight=False, markup=False)
        self.err = Console(stderr=True)
        self.progress = None
        self.task = None
        self.epochs = 0
        self.images = 0
        self.compiling = False

    def note(self, message):
        self.out.print(f"note: {message}", style="yellow")

    def train_begin(self, info):
        self.epochs = info["epochs"]
        config = info["config"]
        self.out.print(f"{info['model']} ({info['parameters']:,} parameters) on {info['dataset']}: "
                       f"{info['train_size']:,} train / {info['test_size']:,} test images, "
                       f"{config.optimizer} lr {info['lr']:g}, {config.schedule} schedule, {info['batch']}, "
                       f"{info['device']}; writing {info['out_dir']}")
        if info["device"] == "cpu":
            from .backends.cpu.cache import kernels_cached

            self.compiling = not kernels_cached()
            if self.compiling:
                self.out.print(f"compiling kernels (first run only, about {COLD_START_SECONDS} s)", style="yellow")

    def epoch_begin(self, epoch, epochs, num_batches):
        if self.quiet or not self.err.is_terminal:
            return  # a progress bar only makes sense on a terminal; logs get the epoch lines
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.progress = Progress(
            TextColumn(f"epoch {epoch + 1}/{epochs}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.err, transient=True)
        self.progress.start()
        status = f"compiling kernels (first run only, about {COLD_START_SECONDS} s)" if self.compiling else "-"
        self.task = self.progress.add_task("train", total=num_batches, status=status)
        self.images = 0

    def batch_end(self, epoch, batch, num_batches, loss, images):
        self.compiling = False
        if self.progress is None:
            return
        self.images += images
        elapsed = self.progress.tasks[0].elapsed or 1e-9
        self.progress.update(self.task, completed=batch,
                             status=f"{self.images / elapsed:,.0f} img/s  loss {loss:.4f}")

    def epoch_end(self, row):
        self.close()
        self.out.print(f"epoch {row['epoch']:>3}/{self.epochs}  train loss {row['train_loss']:.4f} "
                       f"acc {100 * row['train_acc']:6.2f}%  test loss {row['test_loss']:.4f} "
                       f"acc {100 * row['test_acc']:6.2f}%  lr {row['lr']:.2e}  {row['seconds']:5.1f}s  "
                       f"{row['images_per_s']:,.0f} img/s")

    def close(self):
        """Stop the bar (``fit`` calls this when it ends, also on errors and Ctrl-C)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
