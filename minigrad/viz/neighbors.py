"""Nearest neighbours in feature space versus pixel space (the course's comparison).

Neighbours in pixel space share brightness and position; neighbours in the last hidden layer's
feature space share the class, even when the pixels differ a lot.
"""

from __future__ import annotations

import numpy as np

from .embed import extract_features
from .render import chw_to_hwc, draw_text, hstack, save_png, tile_grid, to_rgb, vstack

__all__ = ["nearest_neighbors", "compare_neighbors", "neighbors_figure", "save_neighbors"]


def nearest_neighbors(vectors: np.ndarray, queries, k: int) -> np.ndarray:
    """Indices of the ``k`` nearest rows of ``vectors`` (Euclidean) to each query row, itself excluded.

    Args:
        vectors: ``(N, D)``.
        queries: indices of the query rows.
        k: neighbours per query (< N).

    Returns:
        ``(len(queries), k)`` indices, nearest first (ties broken by index).
    """
    vectors = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), -1)
    queries = np.asarray(queries, dtype=np.int64)
    if not 1 <= k < len(vectors):
        raise ValueError(f"neighbors: k={k} must be between 1 and the number of images minus one ({len(vectors) - 1})")
    sq = np.einsum("ij,ij->i", vectors, vectors)
    d2 = sq[queries, None] + sq[None, :] - 2.0 * vectors[queries] @ vectors.T
    d2[np.arange(len(queries)), queries] = np.inf
    return np.argsort(d2, axis=1, kind="stable")[:, :k]


def compare_neighbors(model, images: np.ndarray, pixels: np.ndarray, queries, k: int = 5,
                      layer: str | None = None, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """K nearest neighbours of some images in feature space and in pixel space.

    Args:
        model: a ``Module`` in eval mode.
        images: preprocessed ``(N, C, H, W)`` (what the model sees).
        pixels: the same images for the pixel-space distance, ``(N, C, H, W)`` in [0, 1].
        queries: indices of the query images.
        k: neighbours per query.
        layer: feature layer (default: input of the last Linear layer).

    Returns:
        ``(feature_neighbors, pixel_neighbors)``, each ``(len(queries), k)`` indices.
    """
    feats = extract_features(model, images, layer, progress=progress)
    return nearest_neighbors(feats, queries, k), nearest_neighbors(pixels, queries, k)


def neighbors_figure(pixels: np.ndarray, queries, by_features: np.ndarray, by_pixels: np.ndarray,
                     labels=None) -> np.ndarray:
    """One row per query: query | feature-space neighbours || pixel-space neighbours.

    Args:
        pixels: ``(N, C, H, W)`` images in [0, 1].
        queries: query indices.
        by_features, by_pixels: ``(Q, k)`` neighbour indices.
        labels: optional ``(N,)`` classes; neighbours of another class than the query get a red frame.

    Returns:
        RGB image; each half is a row of tiles of H x W with 1-pixel padding.
    """
    def tile(i, ref):
        img = to_rgb(chw_to_hwc(np.asarray(pixels[i], dtype=np.float64)))
        if labels is not None and labels[i] != labels[ref]:
            img = img.copy()
            img[[0, -1], :] = (1.0, 0.0, 0.0)
            img[:, [0, -1]] = (1.0, 0.0, 0.0)
        return img

    rows = []
    for q, f_row, p_row in zip(queries, by_features, by_pixels):
        query = tile_grid(np.stack([tile(q, q)]), pad=1)
        feats = tile_grid(np.stack([tile(i, q) for i in f_row]), ncols=len(f_row), pad=1)
        pix = tile_grid(np.stack([tile(i, q) for i in p_row]), ncols=len(p_row), pad=1)
        rows.append(hstack([query, feats, pix], gap=6, fill=0.85))
    body = vstack(rows, gap=2)
    h, w = pixels.shape[-2:]
    header = np.ones((12, body.shape[1], 3))
    k = by_features.shape[1]
    header = draw_text(header, [(0, 0, "query"), (w + 8, 0, "features"), (w + 14 + k * (w + 1), 0, "pixels")])
    return vstack([header, body], gap=0)


def save_neighbors(model, images, pixels, path, queries, k: int = 5, labels=None, layer=None, scale=None,
                   progress=None):
    """Compare neighbours in feature and pixel space and draw them into a PNG.

    Returns:
        ``(feature_neighbors, pixel_neighbors, path written)``.
    """
    by_f, by_p = compare_neighbors(model, images, pixels, queries, k, layer, progress)
    figure = neighbors_figure(pixels, queries, by_f, by_p, labels)
    if scale is None:
        scale = max(1, 48 // pixels.shape[-1])
    return by_f, by_p, save_png(figure, path, scale=scale)
