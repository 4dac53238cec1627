"""Training and evaluation workflows: ``TrainConfig``, ``fit`` and ``evaluate`` (no CLI here).

    >>> from minigrad.train import TrainConfig, fit
    >>> result = fit(TrainConfig(model="lenet", dataset="synth-digits", epochs=2, limit=2000))
    >>> result.history[-1]["test_acc"]

``fit`` writes into ``config.out_dir`` (default ``runs/<model>-<YYYYmmdd-HHMMSS>``): ``last.npz``
(after every epoch), ``best.npz`` (best test accuracy), ``metrics.csv`` and ``curves.png``.

Determinism and resume: the model is initialised after ``mg.manual_seed(config.seed)``, the
loader shuffles with a generator seeded by ``config.seed`` and ``set_epoch``, and checkpoints
hold the optimizer, scheduler and ``mg.default_rng()`` state, so ``fit(config, resume=...)``
reaches the same weights as an uninterrupted run. Checkpoints are written at epoch boundaries
and on Ctrl-C after the current batch; resuming replays the loader up to that batch (the
images are loaded again, not trained on) and continues exactly there.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path


from .callbacks import Callback  # noqa: F401  (documented as minigrad.train.Callback)
from .checkpoint import CheckpointError, save_checkpoint
from .data.pipeline import make_loaders
# fit looks criterion and evaluate up here at call time (tests patch them on this module).
from .evaluation import _flat_logits, criterion, evaluate
from .interrupts import StopSignals, signal_name
from .run_folder import RunFolder, curves_title
from .run_schema import check_training_state
from .tensor import default_rng
from .train_config import TrainConfig, build_optimizer, build_scheduler
from .train_setup import build_model, load_data, model_input_size

__all__ = ["TrainConfig", "FitResult", "Callback", "TrainingDiverged", "TrainingInterrupted", "fit", "evaluate"]

_RESUME_OVERRIDES = ("epochs", "out_dir", "device", "prefetch")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf. ``checkpoint`` is the last good ``last.npz`` (or None)."""

    def __init__(self, message, checkpoint=None):
        super().__init__(message)
        self.checkpoint = checkpoint


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM/SIGHUP, see ``signum``) during ``fit``; the position was saved to
    ``checkpoint`` (resume with it). ``finished``: the signal came while the last epoch was being
    saved, so the run is complete."""

    def __init__(self, checkpoint, epoch, batch, signum=signal.SIGINT, finished=False):
        where = "after the last epoch" if finished else f"in epoch {epoch + 1} after batch {batch}"
        super().__init__(f"interrupted by {signal_name(signum)} {where}; saved {checkpoint}")
        self.checkpoint, self.epoch, self.batch, self.signum = checkpoint, epoch, batch, signum
        self.finished = finished


@dataclass
class FitResult:
    """What ``fit`` returns: the trained model, the per-epoch history and the files written."""

    model: object
    history: list
    best_acc: float
    best_epoch: int
    out_dir: Path
    last_path: Path
    best_path: Path | None
    metrics_path: Path
    curves_path: Path | None
    dataset: str
    config: TrainConfig
    start_epoch: int = 0  # epochs already done by the checkpoint resumed (0 for a new run)


# ------------------------------------------------------------------- fitting
def _fresh_position(epoch: int = 0) -> dict:
    """Where a run stands inside an epoch. count: examples scored (pixels for segmentation);
    images: images trained on (for images/s)."""
    return {"epoch": epoch, "batch": 0, "loss_sum": 0.0, "correct": 0, "count": 0, "images": 0, "seconds": 0.0}


def _resolve_config(config: TrainConfig, resume, dist, registered: bool = True):
    """``(config, checkpoint or None, ignored)``: the configuration ``fit`` runs with, the checkpoint it
    resumes, and the options of ``config`` that resuming ignores (``[(name, given, saved)]``)."""
    config.validate(registered)
    if resume is None:
        config = replace(config, epochs=10) if config.epochs is None else config
        dist.check(config)
        return config, None, []
    ckpt = dist.read_checkpoint(resume)
    if ckpt.model_name != config.model:
        raise ValueError(f"train: {resume} is a checkpoint of model {ckpt.model_name!r}, not {config.model!r}")
    names = {f.name for f in fields(TrainConfig)}
    saved = {k: v for k, v in ckpt.config.items() if k in names}
    if not {"epochs", "schedule", "dataset"} <= set(saved) or not ckpt.has_optimizer_state \
            or "position" not in ckpt.metrics:
        raise CheckpointError(f"{resume}: holds no training state (it was not written by minigrad train); "
                              f"it can be evaluated but not resumed")
    try:
        saved_config = TrainConfig(**saved).validate(registered)
    except ValueError as e:
        message = str(e).removeprefix("train: ")
        if message.split(" ")[0] in names:
            raise CheckpointError(f"{resume}: checkpoint metadata field config.{message}") from None
        raise CheckpointError(f"{resume}: invalid saved configuration ({message})") from None
    check_training_state(ckpt, _fresh_position())
    overrides = {k: getattr(config, k) for k in _RESUME_OVERRIDES if getattr(config, k) is not None}
    if overrides.get("epochs", saved["epochs"]) != saved["epochs"] and saved["schedule"] != "none":
        # The schedule's length is part of its state; stretching it would not continue the run.
        raise ValueError(f"train: {resume} belongs to a {saved['epochs']}-epoch run with a {saved['schedule']} "
                         f"schedule; resuming continues that run, so --epochs must stay {saved['epochs']} "
                         f"(or start a new run)")
    # A resumed run writes beside the checkpoint it continues (or to an explicit out_dir), never
    # to the out_dir it was saved with: that may be another copy of the run, or relative to
    # another working directory.
    overrides.setdefault("out_dir", str(Path(resume).parent))
    ignored = []
    for f in fields(TrainConfig):
        if f.name in _RESUME_OVERRIDES or f.name == "model":
            continue
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        given, kept = getattr(config, f.name), getattr(saved_config, f.name)
        if given != default and given != kept:
            ignored.append((f.name, given, kept))
    config = replace(saved_config, **overrides).validate(registered)
    dist.check(config)
    return config, ckpt, ignored


def _check_device(config: TrainConfig) -> None:
    if config.device == "cuda":
        from .backends import cuda_available

        if not cuda_available():
            raise ValueError("train: --device cuda was requested but no CUDA GPU is available; use --device cpu")


def _default_out_dir(model: str) -> Path:
    """``runs/<model>-<timestamp>``, with ``-2``, ``-3``... when runs start in the same second."""
    base = Path("runs") / f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


class _Run:
    """One training run in memory: model, optimizer, schedule, loaders, position and history.

    ``consistent`` is False while the weights, the position and the history disagree (inside an
    optimizer step, or while an epoch's results are being recorded): no checkpoint may be
    written then.
    """

    def __init__(self, config: TrainConfig, note, dist, module=None):
        self.dist = dist
        config, train_ds, test_ds = load_data(config, note)
        config, self.model = build_model(config, train_ds, module, note)
        self.train_loader, self.test_loader, self.data_info = make_loaders(
            config.data_spec(), train_ds, test_ds, model_input_size(self.model, config.model, train_ds), note=note)
        self.train_loader, self.test_loader = dist.shard_loaders(self.train_loader, self.test_loader, config)
        self.model.to(config.device)
        self.model = dist.prepare_model(self.model, config.seed)
        self.optimizer = dist.wrap_optimizer(build_optimizer(config, self.model.parameters()))
        self.steps_per_epoch = len(self.train_loader)
        self.scheduler, self.per_batch = build_scheduler(config, self.optimizer, self.steps_per_epoch)
        self.out_dir = Path(config.out_dir)
        self.config = config
        self.history, self.best_acc, self.best_epoch, self.step = [], -1.0, 0, 0
        self.pos = _fresh_position()
        self.consistent = True
        self.agreed = False  # all ranks decided to stop here (so a collective save is safe)
        self.pending = []  # outputs of the last finished epoch not yet written (RunFolder.write_epoch)
        self.saved_at = None  # (epoch, batch) of the state last.npz holds
        self.start_epoch = 0

    def restore(self, ckpt) -> None:
        """Continue from a checkpoint written by ``save`` (every array checked before it is read)."""
        ckpt.load_model(self.model)
        ckpt.load_optimizer(self.optimizer)
        if self.scheduler is not None and ckpt.scheduler_state is not None:
            ckpt.load_scheduler(self.scheduler)
        rng_state = self.dist.own_rng_state(ckpt.metrics.get("rank_rng_states"), ckpt.rng_state)
        if rng_state is not None:
            try:
                default_rng().bit_generator.state = rng_state
            except (TypeError, ValueError, KeyError) as e:
                raise CheckpointError(f"{ckpt.path}: checkpoint metadata field rng_state does not fit "
                                      f"{type(default_rng().bit_generator).__name__} ({e})") from None
        self.history = list(ckpt.metrics.get("history", []))
        self.best_acc, self.best_epoch = ckpt.metrics.get("best_acc", -1.0), ckpt.metrics.get("best_epoch", 0)
        self.pos.update(ckpt.metrics["position"])
        self.step = ckpt.step
        self.saved_at = (self.pos["epoch"], self.pos["batch"])
        self.start_epoch = self.pos["epoch"]

    def save(self, path) -> Path:
        """Checkpoint the exact position (weights, optimizer, schedule, RNG, history) to ``path``.

        Distributed: every rank must call it (each sends its generator state, for dropout), and
        rank 0 alone writes."""
        states = self.dist.rng_states(default_rng().bit_generator.state)
        if Path(path).name == "last.npz":
            self.saved_at = (self.pos["epoch"], self.pos["batch"])
        if not self.dist.is_main:
            return Path(path)
        metrics = {"history": self.history, "best_acc": self.best_acc, "best_epoch": self.best_epoch,
                   "position": dict(self.pos), "data": self.data_info}
        if len(states) > 1:
            metrics["rank_rng_states"] = states
        save_checkpoint(path, self.model, self.optimizer, self.scheduler, epoch=self.pos["epoch"],
                        step=self.step, config=asdict(self.config), metrics=metrics,
                        model_name=self.config.model, rng_state=default_rng().bit_generator.state)
        return Path(path)

    def info(self) -> dict:
        """What ``Callback.train_begin`` receives."""
        c = self.config
        return {"model": c.model, "dataset": c.dataset, "train_size": self.data_info["train_size"],
                "test_size": self.data_info["test_size"], "parameters": self.model.num_parameters(),
                "device": c.device, "out_dir": str(self.out_dir), "epochs": c.epochs, "start_epoch": self.pos["epoch"],
                "batches": self.steps_per_epoch, "lr": self.optimizer.param_groups[0]["lr"], "config": c,
                "processes": self.dist.world_size, "batch": self.dist.describe_batch(c.batch_size)}

    def _diverged(self, what, kept):
        return TrainingDiverged(f"train: {what}; suggest a lower --lr (now {self.optimizer.param_groups[0]['lr']:.3g})"
                                + (f"; the last good checkpoint is {kept}" if kept else ""), kept)

    def train_epoch(self, callbacks, stop, last_path) -> float:
        """Train the rest of the current epoch (from ``pos["batch"]``); return when it started
        (``time.perf_counter()``, earlier by the seconds an interrupted epoch had already run)."""
        pos, epoch, device = self.pos, self.pos["epoch"], self.config.device
        self.train_loader.set_epoch(epoch)
        self.model.train()
        for cb in callbacks:
            cb.epoch_begin(epoch, self.config.epochs, self.steps_per_epoch)
        t0 = time.perf_counter() - pos["seconds"]
        for b, (x, y) in enumerate(self.train_loader):
            if b < pos["batch"]:
                continue  # replaying an interrupted epoch up to where it stopped
            self.consistent = False
            x, y = x.to(device), y.to(device)
            self.dist.sync_buffers(self.model)
            # A model with its own loss (GoogLeNet's auxiliary heads) says so; `criterion` is looked
            # up here on every batch (tests swap it on this module).
            loss_of = getattr(self.model, "training_loss", None) or criterion
            loss, logits = loss_of(self.model(x), y, self.config.label_smoothing)
            pred, truth = _flat_logits(logits.detach(), y)
            # The global batch's figures: every rank sees the same loss (and the same NaN).
            value, correct, n, images = self.dist.batch_stats(
                float(loss.item()), int((pred.numpy().argmax(1) == truth.numpy()).sum()), truth.shape[0], x.shape[0])
            if not math.isfinite(value):
                raise self._diverged(f"the loss became {value} in epoch {epoch + 1}, batch {b + 1} "
                                     f"(step {self.step + 1})", last_path if last_path.exists() else None)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            if self.per_batch:
                self.scheduler.step()
            self.step += 1
            pos.update(batch=b + 1, loss_sum=pos["loss_sum"] + value * n, count=pos["count"] + n,
                       images=pos["images"] + images, correct=pos["correct"] + correct,
                       seconds=time.perf_counter() - t0)
            self.consistent = True
            for cb in callbacks:
                cb.batch_end(epoch, b + 1, self.steps_per_epoch, value, images)
            self.stop_if(stop)
        return t0

    def end_epoch(self, t0, stop, last_path):
        """Evaluate, record the epoch in the history and move to the next one; return its metrics row.

        Sets ``pending``: the outputs the epoch's new state must be written to."""
        pos, epoch = self.pos, self.pos["epoch"]
        train_seconds = time.perf_counter() - t0
        lr = self.optimizer.param_groups[0]["lr"]
        self.dist.sync_buffers(self.model)
        test = evaluate(self.model, self.test_loader, self.config.device, reduce=self.dist.reduce_sum)
        if not math.isfinite(test["loss"]):
            raise self._diverged(f"the test loss became {test['loss']} after epoch {epoch + 1}",
                                 last_path if last_path.exists() else None)
        self.stop_if(stop)
        self.consistent = False
        row = {"epoch": epoch + 1, "train_loss": pos["loss_sum"] / max(pos["count"], 1),
               "train_acc": pos["correct"] / max(pos["count"], 1), "test_loss": test["loss"],
               "test_acc": test["accuracy"], "lr": lr, "seconds": time.perf_counter() - t0,
               "images_per_s": pos["images"] / max(train_seconds, 1e-9)}
        if "miou" in test:
            row["test_miou"] = test["miou"]
        self.history.append(row)
        if self.scheduler is not None and not self.per_batch:
            self.scheduler.step()
        self.pos = _fresh_position(epoch + 1)
        improved = row["test_acc"] > self.best_acc
        if improved:
            self.best_acc, self.best_epoch = row["test_acc"], epoch + 1
        self.pending = (["best.npz"] if improved else []) + ["metrics.csv", "curves.png", "last.npz"]
        self.consistent = True
        return row

    def stop_if(self, stop) -> None:
        """Raise KeyboardInterrupt if a stop signal reached any rank (all ranks stop together)."""
        if self.dist.any(stop.raised):
            self.agreed = True
            raise KeyboardInterrupt

    def result(self, folder: RunFolder) -> FitResult:
        return FitResult(model=self.model, history=self.history, best_acc=self.best_acc, best_epoch=self.best_epoch,
                         out_dir=self.out_dir, last_path=folder.last,
                         best_path=folder.best if folder.best.exists() else None, metrics_path=folder.metrics,
                         curves_path=folder.curves if folder.curves.exists() else None,
                         dataset=self.config.dataset, config=self.config, start_epoch=self.start_epoch)


def fit(config: TrainConfig, callbacks=(), resume=None, overwrite: bool = False, distributed=None,
        verbose: bool = True) -> FitResult:
    """Train ``config.model`` on ``config.dataset``, evaluating and checkpointing every epoch.

    Args:
        config: the run's settings; ``config.model`` is a registry name or a ``Module``.
        callbacks: ``Callback`` objects notified of progress.
        resume: a checkpoint written by ``fit`` (``last.npz``) to continue from. Its saved
            configuration is used, except ``out_dir``, ``device`` and ``prefetch`` when set in
            ``config`` (other options that differ are reported through ``Callback.note``);
            ``epochs`` may change only for runs without a schedule. The run writes beside
            ``resume`` unless ``config.out_dir`` is given.
        overwrite: replace the run that ``config.out_dir`` already holds (by default such a
            folder is refused, so that no result is lost by accident).
        distributed: a ``minigrad.distributed.DistributedContext`` when this process is one rank
            of an MPI job (``config.batch_size`` is then the global batch); None: one process.
            Only rank 0 calls ``callbacks``, holds the run folder and writes files.
        verbose: show progress (``minigrad.progress.ProgressBar``: a line per epoch, and a bar
            on a terminal) before the ``callbacks``; False: silent.

    Returns:
        A ``FitResult``.

    Raises:
        ValueError: bad configuration (unknown names, bad values, no GPU for "cuda"), or an
            output folder in use by another run or holding a run (``RunFolderError``).
        minigrad.data.DataError: missing or corrupt data files.
        CheckpointError: an unreadable ``resume`` checkpoint or one for another model.
        TrainingDiverged: the loss became NaN/Inf (``last.npz`` of the last good epoch is kept).
        TrainingInterrupted: Ctrl-C, SIGTERM or SIGHUP; the position was saved to ``last.npz``.
    """
    from .distributed.context import LocalContext
    from .nn import Module

    dist = distributed or LocalContext()
    callbacks, bar = (list(callbacks) if dist.is_main else []), None
    if verbose and dist.is_main:
        from .progress import ProgressBar

        bar = ProgressBar()
        callbacks.insert(0, bar)
    module = config.model if isinstance(config.model, Module) else None
    if module is not None:
        # The instance trains as it is; its class name goes into the checkpoints (register its
        # constructor with minigrad.models.register_model under that name to load them by name).
        config = replace(config, model=type(module).__name__)
    try:
        return _fit(config, callbacks, resume, overwrite, dist, module)
    finally:
        if bar is not None:
            bar.close()  # also on errors and Ctrl-C: the terminal gets its cursor back


def _fit(config, callbacks, resume, overwrite, dist, module) -> FitResult:
    def note(message):
        for cb in callbacks:
            cb.note(message)

    config, ckpt, ignored = _resolve_config(config, resume, dist, registered=module is None)
    _check_device(config)
    # Rank 0's choice: the ranks' clocks may not agree on the timestamp.
    out_dir = config.out_dir or dist.broadcast(str(_default_out_dir(config.model)) if dist.is_main else None)
    config = replace(config, out_dir=str(out_dir))
    if ckpt is not None:
        at = ckpt.metrics["position"]
        note(f"resuming from {resume} at epoch {at['epoch'] + 1}, batch {at['batch']} (step {ckpt.step}); "
             f"writing to {config.out_dir}")
        if ignored:
            note("ignored with --resume (the run continues with its saved settings): "
                 + ", ".join(f"--{k.replace('_', '-')} {v!r} (saved: {s!r})" for k, v, s in ignored))
    with _open_folder(config.out_dir, resume, overwrite, note, dist) as folder:
        run = _Run(config, note, dist, module)
        if ckpt is not None:
            run.restore(ckpt)
            rebuild = folder.repair(source_dir=Path(resume).parent, position=run.pos, best_epoch=run.best_epoch,
                                    history=run.history, title=_title(run, folder), note=note) if dist.is_main \
                else None
            if dist.broadcast(rebuild):  # a collective save: every rank takes part
                run.save(folder.best)
                note(f"rebuilt {folder.best} (epoch {run.best_epoch}) from the resumed checkpoint")
        for cb in callbacks:
            cb.train_begin(run.info())
        _train(run, folder, callbacks, note)
        return run.result(folder)


def _open_folder(path, resume, overwrite, note, dist) -> RunFolder:
    """Rank 0 opens (locks, cleans, checks) the run folder; its error, if any, stops every rank."""
    folder = RunFolder(path)
    error = None
    if dist.is_main:
        try:
            folder.open(resuming=resume, overwrite=overwrite, note=note)
        except Exception as e:  # noqa: BLE001 - raised on every rank below
            error = e
    error = dist.broadcast(error) if dist.world_size > 1 else error
    if error is not None:
        raise error
    return folder


def _title(run: _Run, folder: RunFolder) -> str:
    return curves_title(run.config.model, run.config.dataset, folder.path)


def _train(run: _Run, folder: RunFolder, callbacks, note) -> None:
    """The epochs, with their outputs written in commit order, and the save on a stop signal."""
    stop, main = StopSignals(), run.dist.is_main
    try:
        with stop:
            while run.pos["epoch"] < run.config.epochs:
                t0 = run.train_epoch(callbacks, stop, folder.last)
                row = run.end_epoch(t0, stop, folder.last)
                folder.write_epoch(run.save, run.history, run.pending, _title(run, folder), note, main)
                for cb in callbacks:
                    cb.epoch_end(row)
                run.stop_if(stop)  # the signal came while the epoch was being written
    except KeyboardInterrupt as e:
        if isinstance(e, TrainingInterrupted) or not run.consistent or (run.dist.world_size > 1 and not run.agreed):
            raise
        signum = getattr(e, "signum", None) or stop.signum or signal.SIGINT
        # Finish what the epoch end started (a second signal may have cut it short), in the same
        # order, then record the exact position if last.npz does not hold it yet.
        folder.write_epoch(run.save, run.history, run.pending, _title(run, folder), note, main)
        if run.saved_at != (run.pos["epoch"], run.pos["batch"]):
            run.save(folder.last)
        finished = run.pos["epoch"] >= run.config.epochs
        raise TrainingInterrupted(folder.last, run.pos["epoch"], run.pos["batch"], signum, finished) from None
