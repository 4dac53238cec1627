"""Light or dark background: dark digits on white paper against MNIST's white digits on black.

A model trained on MNIST answers confidently and wrongly on a photo of ink on paper; the fix
is to invert the grey levels. ``needs_inversion`` decides from the image's border (where the
background is) and the training images' mean brightness.
"""

from __future__ import annotations

import numpy as np

__all__ = ["border_level", "needs_inversion"]


def border_level(image: np.ndarray) -> float:
    """Median grey level of the outermost ring of pixels of a ``(C, H, W)`` or ``(H, W)`` image in [0, 1]."""
    a = np.asarray(image, dtype=np.float64)
    a = a.mean(axis=0) if a.ndim == 3 else a
    if a.ndim != 2 or min(a.shape) < 2:
        raise ValueError(f"border_level: expected an image (C, H, W) or (H, W) of at least 2x2, got {np.shape(image)}")
    ring = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    return float(np.median(ring))


def needs_inversion(image: np.ndarray, train_mean) -> bool:
    """Whether a grey ``(1, H, W)`` image has a light background while the training images are dark.

    Args:
        image: pixels in [0, 1].
        train_mean: the training images' per-channel mean in [0, 1] (MNIST: 0.13).

    Returns:
        False for colour images (photos have no "background colour" to flip) and for models
        trained on light images.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] != 1:
        return False
    return float(np.mean(train_mean)) < 0.5 and border_level(image) > 0.5
