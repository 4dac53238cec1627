"""Scoring a model: the default training criterion and ``evaluate`` (loss, accuracy, mean IoU over a loader).

Used by ``minigrad.train.fit`` every epoch and by ``minigrad eval``; no CLI here. A model whose
training loss is not the cross entropy of one output (GoogLeNet's auxiliary heads) defines it
itself as ``training_loss(output, target, label_smoothing) -> (loss, logits)``; ``fit`` calls
that method instead of ``criterion`` when the model has it.
"""

from __future__ import annotations

import numpy as np

from .functional import cross_entropy
from .autograd import no_grad

__all__ = ["criterion", "evaluate", "evaluate_checkpoint"]


def _flat_logits(out, y):
    """(N, C, H, W) scores with (N, H, W) targets become (N*H*W, C) and (N*H*W,)."""
    if out.ndim == 4:
        c = out.shape[1]
        return out.permute(0, 2, 3, 1).reshape(-1, c), y.reshape(-1)
    return out, y


def criterion(out, y, label_smoothing: float = 0.0):
    """Cross entropy of a model's single output; returns ``(loss, logits)``.

    (N, C, H, W) outputs with (N, H, W) targets use per-pixel cross entropy.

    Raises:
        TypeError: ``out`` is a tuple or list: a model with several outputs says how they make
            its loss, with a ``training_loss`` method.
    """
    if isinstance(out, (tuple, list)):
        raise TypeError(f"criterion: the model returned {len(out)} outputs; a model with several outputs defines "
                        f"training_loss(output, target, label_smoothing) -> (loss, logits)")
    kwargs = {"label_smoothing": label_smoothing} if label_smoothing else {}
    logits, target = _flat_logits(out, y)
    return cross_entropy(logits, target, **kwargs), out


def _confusion(pred, target, num_classes):
    """Confusion matrix counts[target, pred]."""
    idx = target.astype(np.int64).ravel() * num_classes + pred.astype(np.int64).ravel()
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def evaluate(model, loader, device: str = "cpu", num_classes: int | None = None, reduce=None) -> dict:
    """Loss and accuracy of ``model`` over ``loader`` (in eval mode, without gradients).

    Args:
        model: a ``Module`` returning (N, K) logits, or (N, K, H, W) scores for (N, H, W) targets.
        loader: yields ``(x, y)`` tensors.
        device: where to run.
        num_classes: classes for mean IoU (default: the output's channel count).
        reduce: ``reduce(array) -> array`` summing the counts over processes (a distributed run
            evaluates a disjoint share of the test set on each rank; every rank gets the totals).

    Returns:
        ``{"loss", "accuracy", "count"}``; for segmentation ``accuracy`` is pixel accuracy and
        ``"miou"`` (mean intersection over union of the classes present) is added.
    """
    was_training = model.training
    model.eval()
    loss_sum, correct, count, confusion = 0.0, 0, 0, None
    try:
        with no_grad():
            for x, y in loader:
                out = model(x.to(device))
                if isinstance(out, (tuple, list)):
                    out = out[0]
                y_dev = y.to(device)
                logits, target = _flat_logits(out, y_dev)
                n = target.shape[0]
                loss_sum += float(cross_entropy(logits, target).item()) * n
                pred = logits.numpy().argmax(axis=1)
                truth = target.numpy()
                correct += int((pred == truth).sum())
                count += n
                if out.ndim == 4:
                    k = num_classes or out.shape[1]
                    cm = _confusion(pred, truth, k)
                    confusion = cm if confusion is None else confusion + cm
    finally:
        model.train(was_training)
    if reduce is not None:
        totals = reduce(np.array([loss_sum, correct, count], np.float64))
        loss_sum, correct, count = float(totals[0]), int(totals[1]), int(totals[2])
        confusion = None if confusion is None else reduce(confusion)
    if count == 0:
        raise ValueError("evaluate: the loader yielded no examples")
    result = {"loss": loss_sum / count, "accuracy": correct / count, "count": count}
    if confusion is not None:
        inter = np.diag(confusion).astype(np.float64)
        union = confusion.sum(0) + confusion.sum(1) - inter
        result["miou"] = float(np.mean(inter[union > 0] / union[union > 0]))
    return result


def evaluate_checkpoint(ckpt, model, data: dict, dataset: str | None = None, data_dir=None, split: str | None = None,
                        limit: int | None = None, batch_size: int = 256, device: str = "cpu"):
    """Score a trained checkpoint on a dataset split, prepared as its run prepared its test images.

    Args:
        ckpt, model, data: what ``minigrad.predict.open_checkpoint`` returns.
        dataset: dataset name (None: the checkpoint's).
        data_dir: dataset folder (None: the run's).
        split: split to evaluate (None: the run's test split).
        limit: the first ``limit`` examples only.
        batch_size: evaluation batch size.
        device: where to run.

    Returns:
        ``(result, notes)``: ``{"model", "dataset", "split", "examples", "accuracy", "loss"}`` (and
        ``"miou"`` for segmentation), and the lines describing the input conversion.

    Raises:
        ValueError: an empty split, or a dataset whose class count is not the model's.
    """
    from .data.pipeline import DataSpec, load_datasets, make_loaders
    from .train_config import resolve_dataset

    saved = ckpt.config or {}
    name = resolve_dataset(dataset or data["name"], ckpt.model_name, note=lambda m: None)
    spec = DataSpec(dataset=name, batch_size=batch_size, test_limit=limit,
                    data_dir=str(data_dir) if data_dir else saved.get("data_dir"),
                    test_split=split or saved.get("test_split", "test"))
    _, test_ds = load_datasets(spec, train=False)
    if len(test_ds) == 0:
        origin = "--split" if split else "the run's test split, saved in the checkpoint"
        raise ValueError(f"eval: split {spec.test_split!r} of {name} ({origin}) holds no examples; "
                         f"choose another with --split")
    if test_ds.num_classes != len(data["classes"]):
        raise ValueError(f"eval: dataset {name} has {test_ds.num_classes} classes but the model in "
                         f"{ckpt.path} was trained on {len(data['classes'])}")
    notes = []
    _, loader, _ = make_loaders(spec, None, test_ds, data["input_size"], stats=(data["mean"], data["std"]),
                                note=notes.append)
    metrics = evaluate(model, loader, device)
    result = {"model": ckpt.model_name, "dataset": name, "split": spec.test_split, "examples": metrics["count"],
              "accuracy": metrics["accuracy"], "loss": metrics["loss"]}
    if "miou" in metrics:
        result["miou"] = metrics["miou"]
    return result, notes
