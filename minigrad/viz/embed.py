"""Embeddings: the last hidden layer's features of many images, reduced to 2-D and scattered.

Features are the input of the final fully connected layer (the representation the classifier
separates linearly), read with a forward pre-hook. They are reduced with PCA (the top right
singular vectors of the centred data) or with t-SNE (``minigrad.viz.tsne``).
"""

from __future__ import annotations

import numpy as np

from .layers import forward_collect, get_layer, last_linear, run_batches
from .render import PALETTE, save_png
from .tsne import tsne

__all__ = ["extract_features", "pca", "embed", "class_colors", "scatter_plot", "save_embedding"]


def extract_features(model, images: np.ndarray, layer: str | None = None, batch_size: int = 256,
                     progress=None) -> np.ndarray:
    """Feature vectors of ``images`` at a layer, one row per image.

    Args:
        model: a ``Module`` in eval mode.
        images: preprocessed ``(N, C, H, W)``.
        layer: take this layer's output; default: the input of the last Linear layer.
        batch_size: images per forward pass.
        progress: optional ``callback(done, total)``.

    Returns:
        ``(N, F)`` float64, each image's activations flattened.
    """
    if layer is None:
        name, module = last_linear(model, op="embed")
        watch, inputs = {name: module}, True
    else:
        name, watch, inputs = layer, {layer: get_layer(model, layer, op="embed")}, False

    def features(batch):
        return forward_collect(model, batch, watch, inputs=inputs)[name]

    feats = run_batches(features, images, batch_size, progress)
    return feats.reshape(len(feats), -1).astype(np.float64)


def pca(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project ``x`` ``(N, D)`` on its ``k`` principal directions.

    With the centred data ``X = U S V^T`` (thin SVD), the projection is ``X V_k = U_k S_k``.

    Returns:
        ``(projection (N, k), explained variance ratio (k,))``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"pca: expected (N, D) data with N >= 2, got shape {x.shape}")
    if k > min(x.shape):
        raise ValueError(f"pca: cannot keep {k} components of data of shape {x.shape}")
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    variance = s ** 2
    ratio = variance[:k] / variance.sum() if variance.sum() > 0 else np.zeros(k)
    return u[:, :k] * s[:k], ratio


def embed(features: np.ndarray, method: str = "tsne", seed: int = 0, **kw) -> np.ndarray:
    """Reduce features ``(N, F)`` to 2-D with "pca" or "tsne" (keyword arguments go to ``tsne``)."""
    if method == "pca":
        return pca(features, 2)[0]
    if method == "tsne":
        # PCA to 50 dimensions first, as van der Maaten does: cheaper distances, less noise.
        reduced = pca(features, min(50, *features.shape))[0] if features.shape[1] > 50 else features
        return tsne(reduced, 2, seed=seed, **kw)
    raise ValueError(f"embed: unknown method {method!r}; use 'pca' or 'tsne'")


def class_colors(n: int) -> np.ndarray:
    """``(n, 3)`` uint8 colours: the ten palette colours, then evenly spaced hues."""
    if n <= len(PALETTE):
        return PALETTE[:n]
    import colorsys

    return np.array([[int(255 * c) for c in colorsys.hsv_to_rgb(i / n, 0.75, 0.85)] for i in range(n)],
                    dtype=np.uint8)


def scatter_plot(points: np.ndarray, labels: np.ndarray, classes=None, size: int = 480, radius: int = 2,
                 title: str = "") -> np.ndarray:
    """A 2-D scatter plot coloured by class, with a legend, drawn with Pillow.

    Args:
        points: ``(N, 2)``.
        labels: ``(N,)`` class indices.
        classes: class names (default "0", "1", ...).
        size: side of the square plotting area in pixels.
        radius: dot radius.
        title: text above the plot.

    Returns:
        ``(size + 40, size + 130, 3)`` float image in [0, 1]: plot area, 20 px margins, a
        110 px legend column.
    """
    from PIL import Image, ImageDraw

    points, labels = np.asarray(points, dtype=np.float64), np.asarray(labels).astype(np.int64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"scatter_plot: expected points (N, 2) and labels (N,), got {points.shape} and {labels.shape}")
    n_classes = int(labels.max()) + 1 if classes is None else len(classes)
    classes = [str(c) for c in (classes if classes is not None else range(n_classes))]
    colors = class_colors(n_classes)
    margin, legend = 20, 110
    canvas = Image.new("RGB", (size + 2 * margin + legend - margin, size + 2 * margin), "white")
    draw = ImageDraw.Draw(canvas)
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    xy = margin + radius + (points - lo) / span * (size - 2 * radius)
    xy[:, 1] = 2 * margin + size - xy[:, 1]  # image rows grow downwards
    draw.rectangle([margin - 1, margin - 1, margin + size, margin + size], outline=(200, 200, 200))
    # Shuffle the drawing order so that no class is systematically painted over the others.
    for i in np.random.default_rng(0).permutation(len(points)):
        x, y = xy[i]
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=tuple(int(c) for c in colors[labels[i]]))
    if title:
        draw.text((margin, 4), title, fill=(0, 0, 0))
    left = size + 2 * margin
    for k, name in enumerate(classes):
        y = margin + 16 * k
        draw.rectangle([left, y + 2, left + 9, y + 11], fill=tuple(int(c) for c in colors[k]))
        draw.text((left + 15, y), name[:14], fill=(0, 0, 0))
    return np.asarray(canvas, dtype=np.float64) / 255.0


def save_embedding(model, images, labels, path, classes=None, method: str = "tsne", layer: str | None = None,
                   seed: int = 0, progress=None, **kw):
    """Extract features, reduce them to 2-D and draw the scatter plot into a PNG.

    Returns:
        ``(points (N, 2), path written)``.
    """
    feats = extract_features(model, images, layer, progress=progress)
    points = embed(feats, method, seed=seed, **kw)
    title = f"{'PCA' if method == 'pca' else 't-SNE'} of {'last hidden layer' if layer is None else layer} features, N={len(points)}"
    return points, save_png(scatter_plot(points, labels, classes, title=title), path)
