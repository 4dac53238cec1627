"""A training run's folder: ``last.npz``, ``best.npz``, ``metrics.csv`` and ``curves.png``.

``fit`` owns one ``RunFolder``; everything it writes there goes through here, so the rules about
what is written when live in one place:

- One run at a time: ``open`` takes an exclusive lock (``.lock``, holding the owner's pid; the
  operating system releases it when the process ends, even on ``kill -9``). A second run in the
  same folder is refused with the holder's pid.
- A folder that already holds a run is not silently reused: continue it (``resume``) or
  replace it (``overwrite``).
- Every file is written atomically (``minigrad.fileio.atomic_write``); temporary files that a
  killed run left behind are removed when the next run opens the folder.
- An epoch's outputs are written in a fixed order, ``best.npz``, ``metrics.csv``,
  ``curves.png`` and ``last.npz`` last: ``last.npz`` is the commit point. Whatever moment a run
  is killed at, the state in ``last.npz`` is complete and the other files are either from the
  same state or from the epoch after it, which resuming reproduces bit for bit.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import shutil
from pathlib import Path

from .fileio import atomic_write, stale_temporaries

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are not protected from each other there
    fcntl = None

__all__ = ["RunFolder", "RunFolderError", "METRIC_COLUMNS", "OUTPUTS", "curves_title", "read_history"]

METRIC_COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "images_per_s"]
OUTPUTS = ("last.npz", "best.npz", "metrics.csv", "curves.png")
_LOCK = ".lock"


class RunFolderError(ValueError):
    """The run folder cannot be used: another run holds it, or it holds a run already."""


def metrics_csv(history) -> bytes:
    """The bytes of metrics.csv for ``history`` (one row per finished epoch)."""
    text = io.StringIO(newline="")
    extra = [k for k in ("test_miou",) if history and k in history[0]]
    writer = csv.DictWriter(text, fieldnames=METRIC_COLUMNS + extra, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(history)
    return text.getvalue().encode()


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)


def curves_title(model: str, dataset: str, folder) -> str:
    """The title of a run's ``curves.png``: model, dataset and run folder."""
    return f"{model} on {dataset}, run {Path(folder).name}"


def read_history(run_dir) -> tuple[list, str]:
    """The per-epoch rows of a run (``metrics.csv``, else the history saved in ``last.npz``) and its chart title.

    Raises:
        ValueError: ``run_dir`` is no folder, or holds neither.
    """
    from .checkpoint import load_checkpoint

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"viz curves: {run_dir}: no such run folder")
    last = run_dir / "last.npz"
    ckpt = load_checkpoint(last) if last.is_file() else None
    config = (ckpt.config or {}) if ckpt is not None else {}
    title = curves_title(config.get("model", "model"), config.get("dataset", "?"), run_dir) if config else run_dir.name
    csv_path = run_dir / "metrics.csv"
    if csv_path.is_file():
        with open(csv_path, newline="") as f:
            rows = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
        if rows:
            return rows, title
    history = ckpt.metrics.get("history") or [] if ckpt is not None else []
    if history:
        return history, title
    raise ValueError(f"viz curves: {run_dir}: no metrics.csv or last.npz with a training history")


def _number(text):
    """A CSV cell as a float (None when empty, the text itself when not a number)."""
    if text in ("", None):
        return None
    try:
        return float(text)
    except ValueError:
        return text


class RunFolder:
    """The output folder of one training run.

    Args:
        path: the folder (created by ``open`` if missing).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.last = self.path / "last.npz"
        self.best = self.path / "best.npz"
        self.metrics = self.path / "metrics.csv"
        self.curves = self.path / "curves.png"
        self._lock_fd = None
        self._created = []

    # ------------------------------------------------------------ claiming
    def open(self, *, resuming=None, overwrite: bool = False, note=lambda message: None) -> "RunFolder":
        """Create and lock the folder, remove stale temporary files, check it may be written.

        Args:
            resuming: the checkpoint being resumed (its own folder may hold a run).
            overwrite: replace a run the folder already holds (its files are removed now).
            note: called with one-line remarks.

        Raises:
            RunFolderError: another process holds the folder, or it holds a run and neither
                ``resuming`` (from this folder) nor ``overwrite`` says what to do with it.
        """
        self._created = [p for p in (self.path, *self.path.parents) if not p.exists()]
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._clean(note)
            self._check_reuse(resuming, overwrite, note)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Release the lock, and remove the folders ``open`` created if nothing was written
        there (a run that failed before its first epoch leaves nothing behind). Idempotent."""
        if self._lock_fd is not None:
            # Unlink while still holding the lock: a process waiting on the old file notices
            # (its file is no longer the one at the path) and retries.
            with contextlib.suppress(OSError):
                os.unlink(self.path / _LOCK)
            os.close(self._lock_fd)
            self._lock_fd = None
        for folder in self._created:  # deepest first; rmdir refuses a folder that is not empty
            try:
                folder.rmdir()
            except OSError:
                break
        self._created = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _lock(self) -> None:
        if fcntl is None:
            return
        path = self.path / _LOCK
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                raise RunFolderError(f"train: {self.path} is in use by another minigrad run (pid {holder}); "
                                     f"wait for it to finish or choose another --out") from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder removed the file between our open and our lock: try again
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _clean(self, note) -> None:
        stale = stale_temporaries(self.path, OUTPUTS)
        if not stale:
            return
        size = 0
        for p in stale:
            with contextlib.suppress(OSError):
                size += p.stat().st_size
                p.unlink()
        note(f"removed {len(stale)} unfinished temporary file{'s' * (len(stale) > 1)} ({_size(size)}) "
             f"left in {self.path} by a run that was killed while saving")

    def holds_run(self) -> list[str]:
        """The names of the run outputs present in the folder."""
        return [name for name in OUTPUTS if (self.path / name).exists()]

    def _check_reuse(self, resuming, overwrite, note) -> None:
        present = self.holds_run()
        if not present:
            return
        if resuming is not None and _same_dir(Path(resuming).parent, self.path):
            return
        if overwrite:
            for name in present:
                (self.path / name).unlink()
            note(f"--overwrite: removed the previous run's {', '.join(present)} from {self.path}")
            return
        hint = f"continue it with --resume {self.last}, " if self.last.exists() else ""
        raise RunFolderError(f"train: {self.path} already holds a run ({', '.join(present)}); {hint}"
                             f"replace it with --overwrite, or choose another --out")

    # -------------------------------------------------------------- writing
    def write_metrics(self, history) -> bool:
        """Rewrite metrics.csv whole (atomically) when its content changes; return whether it did."""
        data = metrics_csv(history)
        if self.metrics.is_file() and self.metrics.read_bytes() == data:
            return False
        _write_bytes(self.metrics, data)
        return True

    def draw_curves(self, history, title, note) -> None:
        """Redraw curves.png atomically; a failure to draw is a note, never the end of the run."""
        from .viz.curves import plot_curves

        try:
            with atomic_write(self.curves, suffix=".png") as tmp:
                plot_curves(history, tmp, title=title)
        except OSError as e:
            note(f"could not draw {self.curves}: {e}")

    def write_epoch(self, save, history, pending: list, title: str, note, main: bool = True) -> None:
        """Write an epoch's outputs in commit order, taking each from ``pending`` once written.

        Args:
            save: ``save(path)`` checkpoints the run's current state.
            history: the rows of metrics.csv.
            pending: names still to write, a subset of ``OUTPUTS``; an interrupted call leaves
                the unwritten ones there, so calling again finishes the job.
            title: the curves' title.
            note: called with one-line remarks.
            main: False on the other ranks of a distributed run: they take part in ``save``
                (a collective call that writes on rank 0 only) and write nothing themselves.
        """
        for name in ("best.npz", "metrics.csv", "curves.png", "last.npz"):
            if name not in pending:
                continue
            if name == "metrics.csv":
                if main:
                    self.write_metrics(history)
            elif name == "curves.png":
                if main:
                    self.draw_curves(history, title, note)
            else:
                save(self.path / name)
            pending.remove(name)

    # ------------------------------------------------------------ resuming
    def repair(self, *, source_dir, position, best_epoch: int, history, title: str, note) -> bool:
        """Make the folder agree with the checkpoint being resumed (called before training).

        metrics.csv and curves.png are rewritten from the checkpoint's history when they differ
        (a run killed before its epoch was committed leaves them one epoch ahead: resuming
        trains that epoch again). ``best.npz`` is repaired when it is missing or older than the
        checkpoint's best epoch: copied from ``source_dir`` when resuming a run from another
        folder, else left to the caller.

        Returns:
            True when ``best.npz`` must be rebuilt from the resumed state (which then is the end
            of the best epoch): the caller saves it.
        """
        from .checkpoint import CheckpointError, read_metadata

        if self.write_metrics(history) or (history and not self.curves.exists()):
            self.draw_curves(history, title, note)
        if best_epoch < 1:
            return False
        try:
            have = read_metadata(self.best).get("epoch") if self.best.exists() else None
        except CheckpointError:
            have = None  # unreadable: rebuild it below
        if isinstance(have, int) and have >= best_epoch:
            return False
        if position["epoch"] == best_epoch and position["batch"] == 0:
            return True
        source = Path(source_dir) / "best.npz"
        if not _same_dir(source_dir, self.path) and source.is_file():
            try:
                ok = read_metadata(source).get("epoch") == best_epoch
            except CheckpointError:
                ok = False
            if ok:
                with atomic_write(self.best) as tmp:
                    shutil.copyfile(source, tmp)
                note(f"copied {source} (epoch {best_epoch}) to {self.best}")
                return False
        note(f"{self.best} of epoch {best_epoch} is missing and cannot be rebuilt from the checkpoint; "
             f"it will be written again when a later epoch is better")
        return False


def _same_dir(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"
