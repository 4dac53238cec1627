"""Occlusion sensitivity (Zeiler & Fergus, 2014): hide part of the image, watch the score fall.

A square grey patch slides over the input; for each position the classifier sees the occluded
image and we record how much the probability of the class drops. Regions the network relies on
give large drops. All positions of one batch go through the network in a single forward pass.
"""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from .figure import Panel, compose, prediction_text
from .render import chw_to_hwc, colormap, normalize, overlay, save_png

__all__ = ["softmax_np", "class_probabilities", "occlusion_map", "occlusion_figure", "save_occlusion"]


def softmax_np(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of class scores ``(N, K)``, shifted by the row maximum for stability."""
    z = np.asarray(scores, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def class_probabilities(model, x: np.ndarray) -> np.ndarray:
    """Softmax of the model's scores for one preprocessed input ``(C, H, W)``: ``(K,)``."""
    with no_grad():
        return softmax_np(model(Tensor(np.asarray(x, dtype=np.float32)[None])).numpy())[0]


def occlusion_map(model, x: np.ndarray, target: int | None = None, patch: int = 8, stride: int = 4,
                  fill=0.0, batch_size: int = 64, progress=None) -> dict:
    """Drop in the target class's probability for every position of an occluding patch.

    Args:
        model: a classifier ``Module`` in eval mode returning scores ``(N, K)``.
        x: one preprocessed input ``(C, H, W)``.
        target: class index (default: the predicted class).
        patch: side of the square patch, in pixels.
        stride: step between patch positions.
        fill: the patch's value in the model's input space: a number or one value per channel
            (with normalized inputs, 0 is the dataset's mean colour: a neutral grey).
        batch_size: occluded images per forward pass.
        progress: optional ``callback(done, total)`` after each batch.

    Returns:
        A dict with ``drops`` ``(nY, nX)`` (probability without occlusion minus with, patch at
        ``(i * stride, j * stride)``), ``pixel_map`` ``(H, W)`` (mean drop over the patches
        covering each pixel), ``target``, ``probability`` (unoccluded).

    Shape:
        nY = floor((H - patch) / stride) + 1, nX = floor((W - patch) / stride) + 1
        (the patch always lies inside the image; pixels no position covers get 0).
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"occlusion: expected one image (C, H, W), got shape {x.shape}")
    c, h, w = x.shape
    if patch < 1 or stride < 1 or patch > min(h, w):
        raise ValueError(f"occlusion: patch {patch} and stride {stride} must be >= 1 and the patch must fit "
                         f"the {h}x{w} image")
    fill = np.broadcast_to(np.asarray(fill, dtype=np.float32).reshape(-1, 1, 1), (c, 1, 1))
    ys = np.arange(0, h - patch + 1, stride)
    xs = np.arange(0, w - patch + 1, stride)
    positions = [(y, xx) for y in ys for xx in xs]
    base = class_probabilities(model, x)
    if target is None:
        target = int(np.argmax(base))
    if not 0 <= target < len(base):
        raise ValueError(f"occlusion: class {target} out of range for a model with {len(base)} classes")
    probs = np.empty(len(positions))
    with no_grad():
        for start in range(0, len(positions), batch_size):
            chunk = positions[start:start + batch_size]
            batch = np.repeat(x[None], len(chunk), axis=0)
            for b, (y, xx) in enumerate(chunk):
                batch[b, :, y:y + patch, xx:xx + patch] = fill
            probs[start:start + len(chunk)] = softmax_np(model(Tensor(batch)).numpy())[:, target]
            if progress is not None:
                progress(start + len(chunk), len(positions))
    drops = (base[target] - probs).reshape(len(ys), len(xs))
    total, count = np.zeros((h, w)), np.zeros((h, w))
    for (y, xx), d in zip(positions, drops.reshape(-1)):
        total[y:y + patch, xx:xx + patch] += d
        count[y:y + patch, xx:xx + patch] += 1
    pixel_map = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return {"drops": drops, "pixel_map": pixel_map, "target": target, "probability": float(base[target])}


def occlusion_figure(image: np.ndarray, pixel_map: np.ndarray, heading: str = "", patch: int | None = None,
                     scale: int = 1) -> np.ndarray:
    """Input | drop heat map with its colour bar | overlay, titled (drops below zero shown as zero).

    Args:
        image: the displayable input ``(C, H, W)`` in [0, 1].
        pixel_map: ``(H, W)`` mean probability drop per pixel.
        heading: the figure's first line (the CLI names the prediction here).
        patch: side of the occluder, said in the caption.
        scale: enlargement of every panel.
    """
    shown = chw_to_hwc(np.asarray(image, dtype=np.float64))
    peak = float(pixel_map.max())
    heat = np.clip(pixel_map, 0, None) / peak if peak > 0 else normalize(pixel_map)
    caption = (f"Each pixel: mean drop of the class probability when a {patch}x{patch} patch covers it "
               if patch else "Each pixel: mean drop of the class probability when the patch covers it ")
    return compose([Panel(shown, "input"), Panel(colormap(heat), "probability drop", ("inferno", "0", f"{peak:.2f}")),
                    Panel(overlay(shown, heat), "overlay")], heading=heading,
                   caption=caption + "(bright: the network needs it).", scale=scale)


def save_occlusion(model, x, image, path, target=None, patch=8, stride=4, fill=0.0, batch_size=64,
                   progress=None, scale: int | None = None, classes=None):
    """Compute the occlusion map of one input and draw it into a PNG.

    Args:
        classes: class names for the heading (default: indices).

    Returns:
        ``(result dict of occlusion_map, path written)``.
    """
    result = occlusion_map(model, x, target, patch, stride, fill, batch_size, progress)
    if scale is None:
        scale = max(1, 160 // x.shape[-1])
    heading = "Occlusion: " + prediction_text(class_probabilities(model, x), result["target"], classes)
    figure = occlusion_figure(image, result["pixel_map"], heading, patch, scale)
    return result, save_png(figure, path)
