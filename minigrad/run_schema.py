"""What a checkpoint written by ``fit`` must hold, checked field by field before it is used.

A tampered or damaged checkpoint is refused with a ``CheckpointError`` naming the field
(``metrics.position.batch must be an integer, got 'x'``) instead of a ``TypeError`` deep inside
training or inference.
"""

from __future__ import annotations

from .checkpoint import CheckpointError, check_like

__all__ = ["check_training_state", "check_data_info"]

_NUMBER = 0.0
_ROW = {"epoch": 0, "train_loss": _NUMBER, "train_acc": _NUMBER, "test_loss": _NUMBER, "test_acc": _NUMBER,
        "lr": _NUMBER, "seconds": _NUMBER, "images_per_s": _NUMBER}


def check_training_state(ckpt, fresh_position: dict) -> None:
    """The history, best epoch and position ``fit`` resumes from."""
    where = f"{ckpt.path}: checkpoint metadata field metrics"
    metrics = ckpt.metrics
    check_like(metrics.get("position"), fresh_position, f"{where}.position")
    position = metrics["position"]
    if min(position.values()) < 0:
        raise CheckpointError(f"{where}.position has a negative entry: {position}")
    history = metrics.get("history", [])
    if not isinstance(history, list):
        raise CheckpointError(f"{where}.history must be a list, got {history!r:.60}")
    if len(history) != position["epoch"]:
        raise CheckpointError(f"{where}.history has {len(history)} rows but the position is epoch "
                              f"{position['epoch']}")
    for i, row in enumerate(history):
        if not isinstance(row, dict):
            raise CheckpointError(f"{where}.history[{i}] must be an object, got {row!r:.60}")
        for key, kind in _ROW.items():  # later versions may add columns: only these are required
            check_like(row.get(key), kind, f"{where}.history[{i}].{key}")
    best_acc, best_epoch = metrics.get("best_acc", -1.0), metrics.get("best_epoch", 0)
    check_like(best_acc, _NUMBER, f"{where}.best_acc")
    check_like(best_epoch, 0, f"{where}.best_epoch")
    if not 0 <= best_epoch <= position["epoch"]:
        raise CheckpointError(f"{where}.best_epoch {best_epoch} is not one of the {position['epoch']} epochs run")


def check_data_info(ckpt) -> dict:
    """The dataset record ``eval`` and ``predict`` rebuild the model and its input from ({} if none)."""
    where = f"{ckpt.path}: checkpoint metadata field metrics.data"
    data = ckpt.metrics.get("data")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CheckpointError(f"{where} must be an object, got {data!r:.60}")
    kinds = {"name": "", "task": "", "classes": [], "mean": [], "std": [], "src_size": [], "input_size": []}
    for key, kind in kinds.items():
        if key in data:
            value = data[key]
            if not isinstance(value, type(kind)):
                raise CheckpointError(f"{where}.{key} must be a {'string' if kind == '' else 'list'}, "
                                      f"got {value!r:.60}")
    classes = data.get("classes", [])
    if not classes or not all(isinstance(c, str) for c in classes):
        raise CheckpointError(f"{where}.classes must be a non-empty list of names, got {classes!r:.60}")
    for key in ("src_size", "input_size"):
        size = data.get(key)
        if not (isinstance(size, list) and len(size) == 3
                and all(isinstance(s, int) and not isinstance(s, bool) and 0 < s <= 1 << 16 for s in size)):
            raise CheckpointError(f"{where}.{key} must be [channels, height, width] (positive integers), "
                                  f"got {size!r:.60}")
    channels = data["src_size"][0]
    for key in ("mean", "std"):
        values = data.get(key)
        if not (isinstance(values, list) and len(values) == channels
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            raise CheckpointError(f"{where}.{key} must be a list of {channels} numbers, got {values!r:.60}")
    if any(not v > 0 for v in data["std"]):
        raise CheckpointError(f"{where}.std must be positive, got {data['std']}")
    return data
