"""``ArrayDataset``: images and targets held in memory as NumPy arrays."""

from __future__ import annotations

import numpy as np

__all__ = ["ArrayDataset"]


class ArrayDataset:
    """A labelled image set in memory.

    Images stay in their compact storage dtype (uint8 0..255 or float32 in [0, 1]) and are
    converted to float32 in [0, 1] only when read, so a whole dataset costs one byte per pixel.

    Args:
        images: (N, C, H, W) uint8 array (0..255) or floating array with values in [0, 1].
        targets: (N,) integer class indices, or (N, H, W) integer masks for segmentation.
        classes: class names; ``len(classes)`` is the number of classes.
        name: dataset name (for messages and summaries).
        mean: per-channel mean of the [0, 1] images; computed from the images when omitted.
        std: per-channel standard deviation; computed from the images when omitted.

    Shape:
        - ``ds[i]``: ``(image (C, H, W) float32, target)`` with target an ``int`` or an (H, W) int64 mask.
    """

    def __init__(self, images, targets, classes, name: str = "", mean=None, std=None):
        images = np.asarray(images)
        targets = np.asarray(targets)
        if images.ndim != 4:
            raise ValueError(f"ArrayDataset{_tag(name)}: images must be (N, C, H, W), got shape {images.shape}")
        if images.dtype != np.uint8 and images.dtype.kind != "f":
            raise TypeError(f"ArrayDataset{_tag(name)}: images must be uint8 or floating, got dtype {images.dtype}")
        if targets.dtype.kind not in "iu":
            raise TypeError(f"ArrayDataset{_tag(name)}: targets must be integers, got dtype {targets.dtype}")
        if targets.ndim not in (1, 3) or len(targets) != len(images):
            raise ValueError(
                f"ArrayDataset{_tag(name)}: targets of shape {targets.shape} do not match images of shape "
                f"{images.shape}; expected ({len(images)},) labels or ({len(images)}, H, W) masks"
            )
        if targets.ndim == 3 and targets.shape[1:] != images.shape[2:]:
            raise ValueError(
                f"ArrayDataset{_tag(name)}: masks of shape {targets.shape} do not match images of shape {images.shape}"
            )
        self.images = images
        self.targets = targets.astype(np.int64, copy=False)
        self.classes = list(classes)
        self.name = name
        self._mean = None if mean is None else tuple(float(m) for m in mean)
        self._std = None if std is None else tuple(float(s) for s in std)

    # ---------------------------------------------------------------- sizes
    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_size(self) -> tuple:
        """``(C, H, W)`` of one image."""
        return tuple(int(s) for s in self.images.shape[1:])

    @property
    def task(self) -> str:
        return "segmentation" if self.targets.ndim == 3 else "classification"

    # ------------------------------------------------------------ statistics
    def _compute_stats(self) -> None:
        # Accumulate per channel in float64: float32 sums over 10^8 pixels lose digits.
        n = self.images.shape[0] * self.images.shape[2] * self.images.shape[3]
        scale = 255.0 if self.images.dtype == np.uint8 else 1.0
        total = np.zeros(self.images.shape[1])
        total_sq = np.zeros(self.images.shape[1])
        for start in range(0, len(self.images), 4096):
            chunk = self.images[start:start + 4096].astype(np.float64) / scale
            total += chunk.sum(axis=(0, 2, 3))
            total_sq += (chunk * chunk).sum(axis=(0, 2, 3))
        mean = total / max(n, 1)
        var = np.maximum(total_sq / max(n, 1) - mean * mean, 0.0)
        if self._mean is None:
            self._mean = tuple(float(m) for m in mean)
        if self._std is None:
            # A constant channel would divide by zero in Normalize; 1.0 leaves it unscaled.
            self._std = tuple(float(s) if s > 0 else 1.0 for s in np.sqrt(var))

    @property
    def mean(self) -> tuple:
        """Per-channel mean of the images in [0, 1] (the normalization statistic)."""
        if self._mean is None:
            self._compute_stats()
        return self._mean

    @property
    def std(self) -> tuple:
        """Per-channel standard deviation of the images in [0, 1]."""
        if self._std is None:
            self._compute_stats()
        return self._std

    # ---------------------------------------------------------------- access
    def get_batch(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """Images (float32 in [0, 1]) and int64 targets at ``indices`` (one vectorized gather)."""
        images = self.images[indices]
        if images.dtype == np.uint8:
            images = images.astype(np.float32) * np.float32(1.0 / 255.0)
        else:
            images = images.astype(np.float32, copy=True)
        return images, self.targets[indices]

    def __getitem__(self, index):
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"ArrayDataset{_tag(self.name)}: index must be an int, got {type(index).__name__}; "
                            f"use subset() for slices")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"ArrayDataset{_tag(self.name)}: index {index} out of range for {n} examples")
        image, target = self.get_batch(int(index))
        return image, (int(target) if target.ndim == 0 else target)

    def subset(self, indices) -> "ArrayDataset":
        """The examples at ``indices`` (a slice, index array or boolean mask), sharing class names and statistics."""
        if isinstance(indices, slice):
            images, targets = self.images[indices], self.targets[indices]
        else:
            indices = np.asarray(indices)
            if indices.dtype != bool and indices.dtype.kind not in "iu":
                raise TypeError(f"subset{_tag(self.name)}: indices must be a slice, integers or a boolean mask")
            images, targets = self.images[indices], self.targets[indices]
        return ArrayDataset(images, targets, self.classes, self.name, self.mean, self.std)

    def __repr__(self) -> str:
        return (f"ArrayDataset(name={self.name!r}, n={len(self)}, input_size={self.input_size}, "
                f"classes={self.num_classes}, task={self.task!r})")


def _tag(name: str) -> str:
    return f" ({name})" if name else ""
