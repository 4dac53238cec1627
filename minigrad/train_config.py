"""What defines a training run: ``TrainConfig`` (saved in every checkpoint, validated on load),
the dataset it trains on, and the optimizer and learning-rate schedule it names.

Kept apart from ``train.py`` (the loop) so that ``minigrad eval`` can rebuild a run's data
without the trainer. The data pipeline does not see this class: ``TrainConfig.data_spec`` hands
it the fields it reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from .data.pipeline import DataSpec, choose_dataset

__all__ = ["TrainConfig", "OPTIMIZERS", "SCHEDULES", "resolve_dataset", "build_optimizer", "build_scheduler"]

OPTIMIZERS = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}  # name -> default learning rate
SCHEDULES = ("none", "step", "multistep", "cosine", "onecycle")


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in every checkpoint).

    Attributes:
        model: registry name (``minigrad.models.list_models()``), or a ``Module`` instance to train
            as it is (checkpoints record its class name; register a constructor under that name
            with ``minigrad.models.register_model`` to load them with ``mg.load`` or ``minigrad eval``).
        dataset: a name of ``minigrad.data.DATASETS`` or "auto" (see ``resolve_dataset``).
        data_dir: where the dataset files are (default: ``MINIGRAD_DATA`` or ``~/.cache/minigrad``).
        epochs: number of epochs (None when resuming: as saved in the checkpoint).
        batch_size: training batch size.
        lr: learning rate (None: 0.05 for SGD, 1e-3 for Adam/AdamW).
        optimizer: "sgd", "adam" or "adamw".
        momentum: SGD momentum.
        weight_decay: L2 penalty (decoupled for AdamW; None: the optimizer's default).
        schedule: "none", "step" (x0.1 every third of the run), "multistep" (x0.1 at 50% and 75%),
            "cosine" (to 0 at the end), or "onecycle" (per batch, warm-up 30% or ``warmup_epochs``).
        warmup_epochs: linear warm-up from lr/10 before the schedule (step/multistep/cosine).
        limit: train on the first ``limit`` examples only.
        test_limit: evaluate on the first ``test_limit`` test examples only.
        device: "cpu" or "cuda".
        seed: seeds initialisation, shuffling, augmentation and dropout.
        out_dir: output folder (default ``runs/<model>-<timestamp>``).
        train_split, test_split: split names, slices allowed ("test[:8000]").
        augment: random crop (and horizontal flip for RGB images) during training.
        label_smoothing: cross-entropy label smoothing.
        prefetch: batches prepared ahead by the loader's background thread.
        model_kwargs: extra constructor arguments (e.g. ``{"classic": True}``).
    """

    model: str = "lenet"
    dataset: str = "auto"
    data_dir: str | None = None
    epochs: int | None = 10
    batch_size: int = 64
    lr: float | None = None
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float | None = None
    schedule: str = "cosine"
    warmup_epochs: int = 0
    limit: int | None = None
    test_limit: int | None = None
    device: str = "cpu"
    seed: int = 0
    out_dir: str | None = None
    train_split: str = "train"
    test_split: str = "test"
    augment: bool = False
    label_smoothing: float = 0.0
    prefetch: int = 2
    model_kwargs: dict = field(default_factory=dict)

    def validate(self, registered: bool = True) -> "TrainConfig":
        """Check the types and values; raise ValueError naming the option (and the valid choices).

        Args:
            registered: ``model`` must be a registry name (False: the name of a ``Module`` given to ``fit``).
        """
        from .models import list_models

        self._check_types()
        if registered and self.model not in list_models():
            raise ValueError(f"train: unknown model {self.model!r}; valid names: {', '.join(list_models())}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"train: unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"train: unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"train: unknown device {self.device!r}; valid: cpu, cuda")
        for name in ("epochs", "batch_size", "limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
                raise ValueError(f"train: {name} must be a positive integer, got {value!r}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"train: lr must be a positive number, got {self.lr!r}")
        if not (0.0 <= self.momentum < 1.0):
            raise ValueError(f"train: momentum must be in [0, 1), got {self.momentum!r}")
        if self.weight_decay is not None and not (0.0 <= self.weight_decay < math.inf):
            raise ValueError(f"train: weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"train: label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.warmup_epochs < 0 or (self.epochs is not None and self.warmup_epochs and
                                      self.warmup_epochs >= self.epochs):
            raise ValueError(f"train: warmup_epochs must be in [0, epochs) = [0, {self.epochs}), "
                             f"got {self.warmup_epochs!r}")
        if self.prefetch < 0:
            raise ValueError(f"train: prefetch must be >= 0, got {self.prefetch!r}")
        return self

    def _check_types(self) -> None:
        """Each field against its annotation (``int | None`` ...): a saved configuration may be tampered."""
        kinds = {"str": str, "int": (int, np.integer), "float": (int, float, np.integer, np.floating),
                 "bool": (bool, np.bool_), "dict": dict, "None": type(None)}
        for f in fields(self):
            names = [t.strip() for t in str(f.type).split("|")]
            if not all(n in kinds for n in names):
                continue  # a type this check does not know (checked where it is used)
            value = getattr(self, f.name)
            ok = any(isinstance(value, kinds[n]) for n in names)
            if ok and "bool" not in names and isinstance(value, (bool, np.bool_)):
                ok = False  # True is an int to Python, not an epoch count
            if not ok:
                wanted = " or ".join({"str": "a string", "int": "an integer", "float": "a number", "bool": "true/false",
                                      "dict": "a mapping", "None": "None"}[n] for n in names)
                raise ValueError(f"train: {f.name} must be {wanted}, got {value!r:.60}")

    def data_spec(self) -> DataSpec:
        """What the data pipeline reads of this run (``dataset`` must be resolved: see ``resolve_dataset``)."""
        return DataSpec(**{f.name: getattr(self, f.name) for f in fields(DataSpec)})


def resolve_dataset(name: str, model: str, data_dir=None, note=print) -> str:
    """The dataset to train ``model`` on: ``name``, or for "auto" the one for the model's task.

    The registry says the task (an unregistered model is a classifier); "auto" then picks
    "synth-shapes" for segmentation and "mnist" or, offline, "synth-digits" for classification
    (``minigrad.data.pipeline.choose_dataset``, which also reports the fallback through ``note``).

    Raises:
        ValueError: for an unknown dataset name, listing the valid ones.
    """
    from .models import list_models, model_info

    task = model_info(model)["task"] if model in list_models() else "classification"
    return choose_dataset(name, task, data_dir, note)


# ------------------------------------------------------- optimizer, schedule
def build_optimizer(config: TrainConfig, params):
    from .optim import SGD, Adam, AdamW

    lr = config.lr if config.lr is not None else OPTIMIZERS[config.optimizer]
    kw = {} if config.weight_decay is None else {"weight_decay": config.weight_decay}
    if config.optimizer == "sgd":
        return SGD(params, lr=lr, momentum=config.momentum, **kw)
    if config.optimizer == "adam":
        return Adam(params, lr=lr, **kw)
    return AdamW(params, lr=lr, **kw)


def build_scheduler(config: TrainConfig, optimizer, steps_per_epoch: int):
    """``(scheduler or None, per_batch)``: onecycle steps every batch, the others every epoch."""
    from .optim import lr_scheduler as S

    epochs, warm = config.epochs, config.warmup_epochs
    if config.schedule == "onecycle":
        lr = optimizer.param_groups[0]["lr"]
        pct = warm / epochs if warm else 0.3
        return S.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=pct), True
    main_epochs = epochs - warm
    if config.schedule == "none":
        main = None
    elif config.schedule == "step":
        main = S.StepLR(optimizer, step_size=max(1, math.ceil(main_epochs / 3)), gamma=0.1)
    elif config.schedule == "multistep":
        main = S.MultiStepLR(optimizer, milestones=sorted({max(1, main_epochs // 2), max(1, 3 * main_epochs // 4)}),
                             gamma=0.1)
    else:
        main = S.CosineAnnealingLR(optimizer, T_max=max(1, main_epochs))
    if not warm:
        return main, False
    warmup = S.LinearLR(optimizer, start_factor=0.1, total_iters=warm)
    if main is None:
        return warmup, False
    return S.SequentialLR(optimizer, [warmup, main], milestones=[warm]), False
