"""Saliency maps (Simonyan et al., 2014): which pixels the class score is most sensitive to.

The saliency of pixel (i, j) is ``max_c |d score_k / d x[c, i, j]|``: one backward pass from
the (pre-softmax) score of class k to the input.
"""

from __future__ import annotations

import numpy as np

from .figure import Panel, compose, prediction_text
from .gradient import input_gradient
from .guided import guided_backprop
from .render import chw_to_hwc, colormap, normalize, overlay, save_png

__all__ = ["saliency_map", "saliency_figure", "save_saliency"]


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
        grad, target = guided_backprop(model, x, target)
    else:
        grad, target = input_gradient(model, x, target)
    return np.abs(grad).max(axis=0), target


def saliency_figure(image: np.ndarray, saliency: np.ndarray, guided_grad: np.ndarray | None = None,
                    heading: str = "", scale: int = 1) -> np.ndarray:
    """Input | heat map with its colour bar | overlay [| guided backprop], titled.

    Args:
        image: the displayable input ``(C, H, W)`` in [0, 1] (before normalization).
        saliency: ``(H, W)``.
        guided_grad: optional guided-backprop gradient ``(C, H, W)``, drawn with zero as grey.
        heading: the figure's first line (the prediction).
        scale: enlargement of every panel.

    Returns:
        ``(H', W', 3)`` in [0, 1].
    """
    shown = chw_to_hwc(np.asarray(image, dtype=np.float64))
    heat = normalize(saliency)
    peak = float(np.max(saliency)) if np.size(saliency) else 0.0
    panels = [Panel(shown, "input"),
              Panel(colormap(heat), "saliency |d score / d pixel|", ("inferno", "0", f"{peak:.2g}")),
              Panel(overlay(shown, heat), "overlay")]
    if guided_grad is not None:
        g = chw_to_hwc(guided_grad)
        m = float(np.abs(g).max()) if g.size else 0.0
        panels.append(Panel(normalize(g, symmetric=True), "guided backprop", ("grey", f"-{m:.2g}", f"+{m:.2g}")))
    return compose(panels, heading=heading, scale=scale,
                   caption="Saliency: how much the class score changes per unit change of each pixel; "
                           "guided backprop: mid-grey = 0.")


def save_saliency(model, x, image, path, target: int | None = None, scale: int | None = None, classes=None):
    """Compute the saliency map and guided backprop of one input and draw them into a PNG.

    Args:
        model: classifier in eval mode.
        x: preprocessed input ``(C, H, W)``.
        image: the same input for display, ``(C, H, W)`` in [0, 1].
        path: PNG to write.
        target: class index (default: predicted).
        scale: enlargement (default: about 160 px per panel).
        classes: class names for the heading (default: indices).

    Returns:
        ``(saliency (H, W), target, path written)``.
    """
    from .occlusion import class_probabilities

    sal, target = saliency_map(model, x, target)
    guided, _ = guided_backprop(model, x, target)
    if scale is None:
        scale = max(1, 160 // x.shape[-1])
    heading = "Saliency: " + prediction_text(class_probabilities(model, x), target, classes)
    return sal, target, save_png(saliency_figure(image, sal, guided, heading, scale), path)
