"""Readers for the IDX format of MNIST and Fashion-MNIST (gzipped or raw).

An IDX file is a big-endian header followed by the raw values::

    bytes 0-1   0x0000
    byte  2     value type (0x08 = unsigned byte)
    byte  3     number of dimensions d
    d x int32   the size of each dimension (big-endian)
    ...         prod(sizes) values

Read as one big-endian int32, the first four bytes are the "magic number":
2051 (0x00000803) for images (N, rows, cols), 2049 (0x00000801) for labels (N,).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["read_idx", "read_idx_images", "read_idx_labels", "IMAGES_MAGIC", "LABELS_MAGIC"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


def _read_bytes(path: Path, what: str) -> bytes:
    """The file's content, gunzipped when it starts with the gzip signature."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{what}: {path}: cannot read the file ({exc.strerror or exc})") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise DataError(f"{what}: {path}: corrupt or truncated gzip data ({exc})") from exc
    return raw


def read_idx(path, expected_magic: int, what: str = "idx") -> np.ndarray:
    """Parse one IDX file of unsigned bytes.

    Args:
        path: the file (raw or gzipped).
        expected_magic: 2051 for images, 2049 for labels.
        what: the dataset's name, used in error messages.

    Returns:
        uint8 array with the dimensions given in the header.

    Raises:
        DataError: naming the file, for a short header, a wrong magic number or a size that
            does not match the header.
    """
    path = Path(path)
    data = _read_bytes(path, what)
    if len(data) < 4:
        raise DataError(f"{what}: {path}: truncated file: {len(data)} bytes, too short for an IDX header")
    (magic,) = struct.unpack(">i", data[:4])
    if magic != expected_magic:
        raise DataError(f"{what}: {path}: bad magic number {magic}, expected {expected_magic}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{what}: {path}: truncated header: {len(data)} bytes, the header needs {header}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    found = len(data) - header
    if found != expected:
        problem = "truncated file" if found < expected else "trailing data"
        raise DataError(
            f"{what}: {path}: {problem}: header says {'x'.join(map(str, dims))} = {expected} values, "
            f"found {found} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_images(path, what: str = "idx") -> np.ndarray:
    """(N, 1, rows, cols) uint8 images from an IDX image file (magic 2051)."""
    # The magic number's last byte is the rank, so a matching magic guarantees (N, rows, cols).
    images = read_idx(path, IMAGES_MAGIC, what)
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise DataError(f"{what}: {path}: its images are {images.shape[2]}x{images.shape[1]} pixels (an image "
                        f"needs at least one)")
    return images[:, None, :, :]


def read_idx_labels(path, num_classes: int = 10, what: str = "idx") -> np.ndarray:
    """(N,) int64 labels from an IDX label file (magic 2049), checked to lie in 0..num_classes-1."""
    array = read_idx(path, LABELS_MAGIC, what)
    if array.size and int(array.max()) >= num_classes:
        raise DataError(f"{what}: {path}: label {int(array.max())} out of range 0..{num_classes - 1}")
    return array.astype(np.int64)
