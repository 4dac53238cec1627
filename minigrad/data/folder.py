"""Image folders: ``root/<class_name>/*.png|jpg|...`` read with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["read_image_folder", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_image_folder(root, classes=None, image_size=None, channels: int = 3, what: str = "folder"):
    """Read every image under ``root/<class>/``.

    Args:
        root: folder whose subfolders are the classes.
        classes: class names in label order; default the sorted subfolder names.
        image_size: ``(H, W)`` every image is resized to (bilinear); default the first image's size.
        channels: 1 (grayscale) or 3 (RGB).
        what: dataset name for error messages.

    Returns:
        ``(images (N, channels, H, W) uint8, labels (N,) int64, classes)``.

    Raises:
        DataError: for a missing or empty folder, or an image Pillow cannot read (naming the file).
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    if channels not in (1, 3):
        raise ValueError(f"{what}: channels must be 1 or 3, got {channels}")
    if image_size is not None:
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        image_size = tuple(int(s) for s in image_size)
        if len(image_size) != 2 or min(image_size) < 1:
            raise ValueError(f"{what}: image_size must be (H, W) with positive sizes, got {image_size}")
    if not root.is_dir():
        raise DataError(f"{what}: {root}: no such folder; expected {root}/<class_name>/<image files>")
    if classes is None:
        classes = [p.name for p in _class_dirs(root)]
    if not classes:
        raise DataError(f"{what}: {root}: no class subfolders; expected {root}/<class_name>/<image files>")
    files, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        if folder.is_dir():
            found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            files += found
            labels += [label] * len(found)
    if not files:
        raise DataError(f"{what}: {root}: no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) in the class folders")
    mode = "L" if channels == 1 else "RGB"
    images = None
    for i, path in enumerate(files):
        try:
            with Image.open(path) as img:
                img = img.convert(mode)
                if image_size is None:
                    image_size = (img.height, img.width)
                if (img.height, img.width) != image_size:
                    img = img.resize((image_size[1], image_size[0]), Image.BILINEAR)
                array = np.asarray(img, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataError(f"{what}: {path}: unreadable image ({exc})") from exc
        if images is None:
            images = np.empty((len(files), channels) + image_size, dtype=np.uint8)
        images[i] = array[None] if channels == 1 else array.transpose(2, 0, 1)
    return images, np.asarray(labels, dtype=np.int64), list(classes)
