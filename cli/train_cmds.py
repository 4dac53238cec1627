"""``minigrad train``: a thin layer over ``minigrad.train.fit`` and its progress bar."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from .errors import EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED, _one_line, reported


def train(
    model: str = typer.Argument(..., help="Architecture name (see `minigrad models`)."),
    dataset: str = typer.Option(
        "auto", help="auto, mnist, fashion-mnist, cifar10, folder, synth-digits or synth-shapes."),
    data_dir: Optional[Path] = typer.Option(
        None, help="Folder with the dataset files.", show_default="$MINIGRAD_DATA or ~/.cache/minigrad"),
    epochs: Optional[int] = typer.Option(None, help="Number of epochs.", show_default="10; when resuming: as saved"),
    batch_size: int = typer.Option(64, help="Training batch size."),
    lr: Optional[float] = typer.Option(None, help="Learning rate.", show_default="1e-3 for adam/adamw, 0.05 for sgd"),
    optimizer: str = typer.Option("adam", help="sgd|adam|adamw"),
    momentum: float = typer.Option(0.9, help="SGD momentum."),
    weight_decay: Optional[float] = typer.Option(None, help="Weight decay.", show_default="the optimizer's"),
    schedule: str = typer.Option("cosine", help="none|step|multistep|cosine|onecycle"),
    warmup_epochs: int = typer.Option(0, help="Linear warm-up epochs before the schedule."),
    limit: Optional[int] = typer.Option(None, help="Train on the first N examples only."),
    test_limit: Optional[int] = typer.Option(None, help="Evaluate on the first N test examples only."),
    device: str = typer.Option("cpu", help="cpu|cuda"),
    seed: int = typer.Option(0, help="Random seed (initialisation, shuffling, augmentation)."),
    out: Optional[Path] = typer.Option(None, help="Output folder.", show_default="runs/<model>-<timestamp>"),
    resume: Optional[Path] = typer.Option(
        None, help="Continue from a checkpoint (its last.npz); writes beside it unless --out is given."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run that --out already holds."),
    train_split: str = typer.Option("train", help="Training split, slices allowed: 'test[:8000]'."),
    test_split: str = typer.Option("test", help="Test split, slices allowed: 'test[8000:]'."),
    augment: bool = typer.Option(False, "--augment/--no-augment", help="Random crops (and flips for RGB)."),
    label_smoothing: float = typer.Option(0.0, help="Cross-entropy label smoothing."),
    prefetch: int = typer.Option(2, help="Batches prepared ahead by the loader thread."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar (epoch lines only)."),
    small_input: Optional[bool] = typer.Option(
        None, "--small-input/--full-size",
        help="Small-input variant (3x3 stem, 32x32) of the ImageNet models.", show_default="when images are <= 64 px"),
    threads: Optional[int] = typer.Option(
        None, min=1, help="CPU threads for kernels and BLAS.", show_default="$MINIGRAD_NUM_THREADS or all cores"),
    distributed: bool = typer.Option(
        False, "--distributed",
        help="Be one rank of an MPI job (`mpiexec -n N minigrad train ... --distributed`): --batch-size is the "
             "global batch, split over the ranks; rank 0 prints and writes."),
    sync_bn: bool = typer.Option(
        True, "--sync-bn/--no-sync-bn", help="With --distributed: BatchNorm with the global batch's statistics."),
) -> None:
    """Train MODEL: a progress bar per epoch, checkpoints, metrics.csv and curves.png in --out."""
    from minigrad.progress import ProgressBar
    from minigrad.train import TrainConfig, fit

    progress = ProgressBar(quiet)
    context = None
    with reported("train", model):
        if distributed:
            context = _distributed_context(sync_bn, threads)
        if threads is not None and context is None:
            import minigrad

            minigrad.set_num_threads(threads)
        config = TrainConfig(
            model=model, dataset=dataset, data_dir=str(data_dir) if data_dir else None, epochs=epochs,
            batch_size=batch_size, lr=lr, optimizer=optimizer, momentum=momentum, weight_decay=weight_decay,
            schedule=schedule, warmup_epochs=warmup_epochs, limit=limit, test_limit=test_limit, device=device,
            seed=seed, out_dir=str(out) if out else None, train_split=train_split, test_split=test_split,
            augment=augment, label_smoothing=label_smoothing, prefetch=prefetch,
            model_kwargs={} if small_input is None else {"small_input": small_input})
        try:
            # Overflow on the way to a NaN loss is reported once, by TrainingDiverged, not as warnings.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"), _one_job(context):
                result = fit(config, callbacks=[progress], resume=str(resume) if resume else None,
                             distributed=context, overwrite=overwrite, verbose=False)
        finally:
            progress.close()
    if context is not None and not context.is_main:
        return
    if not result.history or result.start_epoch >= result.config.epochs:
        typer.echo(f"nothing to do: the checkpoint already finished {result.config.epochs} epochs")
        return
    last = result.history[-1]
    files = ", ".join(str(p) for p in (result.last_path, result.best_path, result.metrics_path, result.curves_path)
                      if p is not None)
    typer.echo(f"done: test accuracy {100 * last['test_acc']:.2f}% (best {100 * result.best_acc:.2f}% at epoch "
               f"{result.best_epoch}), test loss {last['test_loss']:.4f}")
    typer.echo(f"wrote {files}")


def _distributed_context(sync_bn, threads):
    """The ``DistributedContext`` of this rank, or None (with a note) when it is the only process."""
    from minigrad.distributed import DistributedContext, init, world_size

    init()  # DistributedError (a ValueError: one line, exit 2) without MPI
    if world_size() == 1:
        typer.secho("note: --distributed with a single process: training on it alone (start N processes with "
                    "`mpiexec -n N minigrad train ... --distributed`)", fg="yellow")
        return None
    return DistributedContext(sync_bn=sync_bn, threads=threads)


@contextlib.contextmanager
def _one_job(context):
    """In a distributed run, an error on any rank ends the whole job (``MPI_Abort``), never a hang.

    Interrupts and divergence are decided together by all ranks (see ``minigrad.train``): every
    rank exits normally with the same code, and only rank 0 reports.
    """
    if context is None:
        yield
        return
    from minigrad.distributed import abort_on_exception
    from minigrad.train import TrainingDiverged, TrainingInterrupted

    def describe(e):
        if isinstance(e, KeyboardInterrupt):
            return "interrupted", EXIT_INTERRUPTED
        if isinstance(e, (ValueError, OSError)):
            return _one_line(e), EXIT_BAD_INPUT
        return f"{type(e).__name__}: {_one_line(e)}", 1

    with abort_on_exception(describe, collective=(TrainingInterrupted, TrainingDiverged, typer.Exit)):
        try:
            yield
        except (TrainingInterrupted, TrainingDiverged) as e:
            if context.is_main:
                raise
            raise typer.Exit(EXIT_INTERRUPTED if isinstance(e, TrainingInterrupted) else EXIT_DIVERGED) from None


def register(app: typer.Typer) -> None:
    """Add ``train`` to the app."""
    app.command()(train)
