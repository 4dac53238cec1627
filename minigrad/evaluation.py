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

__all__ = ["criterion", "evaluate"]


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
