"""The gradient of one class score with respect to the input image, the quantity behind saliency maps.

Used by ``saliency.py`` (plain backpropagation) and ``guided.py`` (the same pass under the
guided ReLU rule).
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .layers import frozen

__all__ = ["input_gradient"]


def input_gradient(model, x: np.ndarray, target: int | None = None) -> tuple[np.ndarray, int]:
    """d score_target / d x for one input.

    Args:
        model: a classifier ``Module`` (in eval mode) returning scores ``(1, K)``.
        x: one input ``(C, H, W)``.
        target: class index (default: the predicted class).

    Returns:
        ``(gradient (C, H, W), target)``.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"saliency: expected one image (C, H, W), got shape {x.shape}")
    inp = Tensor(x[None].copy(), requires_grad=True)
    with frozen(model):
        scores = model(inp)
    if scores.ndim != 2 or scores.shape[0] != 1:
        raise ValueError(f"saliency: the model must return class scores (1, K), got shape {scores.shape}")
    k = scores.shape[1]
    if target is None:
        target = int(np.argmax(scores.numpy()[0]))
    if not 0 <= target < k:
        raise ValueError(f"saliency: class {target} out of range for a model with {k} classes")
    # Seeding backward with a one-hot vector differentiates exactly score[target].
    seed = np.zeros(scores.shape, dtype=scores.dtype)
    seed[0, target] = 1
    scores.backward(gradient=seed)
    return np.array(inp.grad.numpy()[0], dtype=np.float64), target
