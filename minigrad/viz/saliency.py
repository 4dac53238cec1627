"""Saliency maps (Simonyan et al., 2014): which pixels the class score is most sensitive to.

The saliency of pixel (i, j) is ``max_c |d score_k / d x[c, i, j]|``: one backward pass from
the (pre-softmax) score of class k to the input.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .layers import frozen
from .render import chw_to_hwc, colormap, hstack, normalize, overlay, save_png

__all__ = ["input_gradient", "saliency_map", "saliency_figure", "save_saliency"]


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


def saliency_map(model, x: np.ndarray, target: int | None = None, guided: bool = False) -> tuple[np.ndarray, int]:
    """``max_c |d score_target / d x|`` for one input.

    Args:
        model: a classifier ``Module`` in eval mode.
        x: one input ``(C, H, W)``.
        target: class index (default: the predicted class).
        guided: use guided backpropagation instead of the plain gradient.

    Returns:
        ``(saliency (H, W) >= 0, target)``.
    """
    if guided:
        from .guided import guided_backprop

        grad, target = guided_backprop(model, x, target)
    else:
        grad, target = input_gradient(model, x, target)
    return np.abs(grad).max(axis=0), target


def saliency_figure(image: np.ndarray, saliency: np.ndarray, guided_grad: np.ndarray | None = None) -> np.ndarray:
    """Input | heat map | overlay [| guided backprop], side by side.

    Args:
        image: the displayable input ``(C, H, W)`` in [0, 1] (before normalization).
        saliency: ``(H, W)``.
        guided_grad: optional guided-backprop gradient ``(C, H, W)``, drawn with zero as grey.

    Returns:
        ``(H, 3 * W + 8[, + W + 4], 3)``.
    """
    shown = chw_to_hwc(np.asarray(image, dtype=np.float64))
    heat = normalize(saliency)
    panels = [shown, colormap(heat), overlay(shown, heat)]
    if guided_grad is not None:
        g = chw_to_hwc(guided_grad)
        panels.append(normalize(g, symmetric=True))
    return hstack(panels, gap=4)


def save_saliency(model, x, image, path, target: int | None = None, scale: int | None = None):
    """Compute the saliency map and guided backprop of one input and draw them into a PNG.

    Args:
        model: classifier in eval mode.
        x: preprocessed input ``(C, H, W)``.
        image: the same input for display, ``(C, H, W)`` in [0, 1].
        path: PNG to write.
        target: class index (default: predicted).
        scale: enlargement (default: about 160 px per panel).

    Returns:
        ``(saliency (H, W), target, path written)``.
    """
    from .guided import guided_backprop  # guided imports this module: bind at call time

    sal, target = saliency_map(model, x, target)
    guided, _ = guided_backprop(model, x, target)
    figure = saliency_figure(image, sal, guided)
    if scale is None:
        scale = max(1, 160 // x.shape[-1])
    return sal, target, save_png(figure, path, scale=scale)
