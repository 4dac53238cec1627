"""Batch transforms: callables ``t(batch, rng) -> batch`` on whole (N, C, H, W) float32 batches.

Every transform is vectorized over the batch (one NumPy expression, no per-image Python loop)
and draws its randomness from the ``numpy.random.Generator`` it is given, so a ``DataLoader``
seeded the same way reproduces the same augmentations.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip", "Resize"]


def _check_batch(name, batch):
    if not isinstance(batch, np.ndarray) or batch.ndim != 4:
        raise ValueError(f"{name}: expects a (N, C, H, W) NumPy batch, got "
                         f"{getattr(batch, 'shape', type(batch).__name__)}")


def _pair(name, size):
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{name}: size must be a positive int or (H, W), got {size}")
    return size


class Compose:
    """Apply transforms in order.

    Args:
        transforms: list of callables ``t(batch, rng)``.
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, batch: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = np.random.default_rng() if rng is None else rng
        for t in self.transforms:
            batch = t(batch, rng)
        return batch

    def __repr__(self):
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class Normalize:
    """``out[n, c] = (x[n, c] - mean[c]) / std[c]``.

    Args:
        mean: per-channel means (a sequence with one value per channel, or a single number).
        std: per-channel standard deviations (positive).
    """

    def __init__(self, mean, std):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if self.mean.ndim != 1 or self.std.ndim != 1 or len(self.mean) != len(self.std):
            raise ValueError(f"Normalize: mean {tuple(self.mean)} and std {tuple(self.std)} must be "
                             f"sequences of equal length")
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive, got {tuple(self.std.tolist())}")

    def __call__(self, batch: np.ndarray, rng=None) -> np.ndarray:
        _check_batch("Normalize", batch)
        channels = batch.shape[1]
        if len(self.mean) not in (1, channels):
            raise ValueError(f"Normalize: {len(self.mean)} means for a batch of shape {batch.shape} "
                             f"({channels} channels)")
        return ((batch - self.mean[:, None, None]) / self.std[:, None, None]).astype(np.float32, copy=False)

    def __repr__(self):
        return f"Normalize(mean={tuple(self.mean.tolist())}, std={tuple(self.std.tolist())})"


class RandomCrop:
    """Zero-pad by ``padding`` on every side, then crop a random ``size`` window per image.

    Args:
        size: output ``(H, W)`` (or one int for a square).
        padding: zeros added on each side before cropping.

    Shape:
        (N, C, H, W) -> (N, C, size_h, size_w), requiring size <= H + 2 * padding.
    """

    def __init__(self, size, padding: int = 0):
        self.size = _pair("RandomCrop", size)
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be non-negative, got {padding}")
        self.padding = int(padding)

    def __call__(self, batch: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check_batch("RandomCrop", batch)
        rng = np.random.default_rng() if rng is None else rng
        p = self.padding
        n, c, h, w = batch.shape
        th, tw = self.size
        if th > h + 2 * p or tw > w + 2 * p:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded image "
                             f"({h + 2 * p}, {w + 2 * p}) of a batch of shape {batch.shape}")
        padded = np.pad(batch, ((0, 0), (0, 0), (p, p), (p, p))) if p else batch
        top = rng.integers(0, h + 2 * p - th + 1, n)
        left = rng.integers(0, w + 2 * p - tw + 1, n)
        rows = top[:, None] + np.arange(th)
        cols = left[:, None] + np.arange(tw)
        return padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                      rows[:, None, :, None], cols[:, None, None, :]]

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``.

    Args:
        p: flip probability.
    """

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, batch: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check_batch("RandomHorizontalFlip", batch)
        rng = np.random.default_rng() if rng is None else rng
        flip = rng.random(batch.shape[0]) < self.p
        return np.where(flip[:, None, None, None], batch[..., ::-1], batch)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class Resize:
    """Bilinear resize of every image, as ``F.interpolate(mode="bilinear", align_corners=False)``.

    Output pixel ``i`` samples the source at ``max((i + 0.5) * H / H_out - 0.5, 0)``.

    Args:
        size: output ``(H, W)`` (or one int for a square).

    Shape:
        (N, C, H, W) -> (N, C, size_h, size_w).
    """

    def __init__(self, size):
        self.size = _pair("Resize", size)

    @staticmethod
    def _axis(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (src - i0).astype(np.float32)

    def __call__(self, batch: np.ndarray, rng=None) -> np.ndarray:
        _check_batch("Resize", batch)
        h, w = batch.shape[2:]
        if (h, w) == self.size:
            return batch
        y0, y1, wy = self._axis(h, self.size[0])
        x0, x1, wx = self._axis(w, self.size[1])
        rows = batch[:, :, y0] * (1 - wy)[:, None] + batch[:, :, y1] * wy[:, None]
        return (rows[..., x0] * (1 - wx) + rows[..., x1] * wx).astype(np.float32, copy=False)

    def __repr__(self):
        return f"Resize(size={self.size})"
