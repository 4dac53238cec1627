"""Reader for CIFAR-10's binary batches.

Each record is 3073 bytes: one label byte, then the 32x32 image as 1024 red, 1024 green and
1024 blue bytes (row-major), which is already CHW order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["read_cifar_batch", "CIFAR10_CLASSES", "RECORD_BYTES"]

RECORD_BYTES = 1 + 3 * 32 * 32
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def read_cifar_batch(path, what: str = "cifar10") -> tuple[np.ndarray, np.ndarray]:
    """Parse one binary batch file.

    Args:
        path: e.g. ``cifar-10-batches-bin/data_batch_1.bin``.
        what: dataset name for error messages.

    Returns:
        ``(images (N, 3, 32, 32) uint8, labels (N,) int64)``.

    Raises:
        DataError: naming the file when its size is not a whole number of records or a label is not 0..9.
    """
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise DataError(f"{what}: {path}: cannot read the file ({exc.strerror or exc})") from exc
    if raw.size == 0 or raw.size % RECORD_BYTES:
        raise DataError(
            f"{what}: {path}: truncated or corrupt batch: {raw.size} bytes is not a whole number of "
            f"{RECORD_BYTES}-byte records"
        )
    records = raw.reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if int(labels.max()) >= len(CIFAR10_CLASSES):
        raise DataError(f"{what}: {path}: label {int(labels.max())} out of range 0..9")
    images = np.ascontiguousarray(records[:, 1:]).reshape(-1, 3, 32, 32)
    return images, labels
