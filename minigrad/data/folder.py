"""Image folders read with Pillow.

Classification: ``root/<class_name>/*.png|jpg|...``. Segmentation: ``root/images/<name>.png`` with
``root/masks/<name>.png`` beside it, a single-channel image whose pixel values are class indices
(class names, one per line, optionally in ``root/classes.txt``).
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["read_image_folder", "read_mask_folder", "is_mask_folder", "open_image", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}


@contextlib.contextmanager
def open_image(path, what: str = "folder"):
    """``PIL.Image.open`` that fails with one ``DataError`` naming the file.

    Covers unreadable and truncated files and images over Pillow's pixel limit
    (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 million): Pillow warns between one and two times
    the limit and raises ``DecompressionBombError`` (not an ``OSError``) above; both are refused
    here, before any pixel is decoded.
    """
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DataError(f"{what}: {path}: refusing to decode it ({exc})") from None
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataError(f"{what}: {path}: unreadable image ({exc})") from None
    with image:
        try:
            yield image
        except (OSError, ValueError) as exc:  # truncated data shows when the pixels are decoded
            raise DataError(f"{what}: {path}: unreadable image ({exc})") from None


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read(path, mode, size, resample, what):
    """One image as a uint8 array (H, W) or (H, W, 3), resized to ``size`` = (H, W) when given."""
    with open_image(path, what) as img:
        img = img.convert(mode)
        if size is not None and (img.height, img.width) != tuple(size):
            img = img.resize((size[1], size[0]), resample)
        return np.asarray(img, dtype=np.uint8)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def is_mask_folder(root) -> bool:
    """Whether ``root`` has the segmentation layout ``images/`` + ``masks/``."""
    root = Path(root)
    return (root / "images").is_dir() and (root / "masks").is_dir()


def read_mask_folder(root, image_size=None, channels: int = 3, classes=None, what: str = "folder"):
    """Read ``root/images/*`` and the masks of the same name (any image extension) in ``root/masks/``.

    Args:
        root: folder holding ``images/`` and ``masks/``.
        image_size: ``(H, W)`` to resize to (images bilinear, masks nearest); default the first image's size.
        channels: 1 (grayscale) or 3 (RGB) for the images.
        classes: class names in index order; default ``root/classes.txt`` or "0", "1", ... up to the largest index.
        what: dataset name for error messages.

    Returns:
        ``(images (N, channels, H, W) uint8, masks (N, H, W) int64, classes)``.

    Raises:
        DataError: an image without a mask, a mask whose size differs from its image's, a class index
            outside ``classes``, or an unreadable file (each naming the file).
    """
    from PIL import Image

    root = Path(root)
    files = _image_files(root / "images")
    if not files:
        raise DataError(f"{what}: {root / 'images'}: no image files")
    masks_by_stem = {p.stem: p for p in _image_files(root / "masks")}
    mode = "L" if channels == 1 else "RGB"
    images, masks = [], []
    for path in files:
        mask_path = masks_by_stem.get(path.stem)
        if mask_path is None:
            raise DataError(f"{what}: {path}: no mask named {path.stem}.* in {root / 'masks'}")
        image = _read(path, mode, image_size, Image.BILINEAR, what)
        mask = _read(mask_path, "L", None, Image.NEAREST, what)
        if mask.shape != image.shape[:2]:
            raise DataError(f"{what}: {mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image "
                            f"(after resizing) is {image.shape[1]}x{image.shape[0]}")
        if image_size is None:
            image_size = image.shape[:2]
        images.append(image[None] if channels == 1 else image.transpose(2, 0, 1))
        masks.append(mask)
    masks = np.stack(masks).astype(np.int64)
    if classes is None and (root / "classes.txt").is_file():
        classes = [line.strip() for line in (root / "classes.txt").read_text().splitlines() if line.strip()]
    if classes is None:
        classes = [str(i) for i in range(int(masks.max()) + 1)]
    if masks.max() >= len(classes):
        bad = files[int(np.argmax(masks.reshape(len(masks), -1).max(axis=1)))]
        raise DataError(f"{what}: mask of {bad}: class index {int(masks.max())} but only {len(classes)} classes")
    return np.stack(images), masks, list(classes)


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
    from PIL import Image

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
        with open_image(path, what) as img:
            img = img.convert(mode)
            if image_size is None:
                image_size = (img.height, img.width)
            if (img.height, img.width) != image_size:
                img = img.resize((image_size[1], image_size[0]), Image.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
        if images is None:
            images = np.empty((len(files), channels) + image_size, dtype=np.uint8)
        images[i] = array[None] if channels == 1 else array.transpose(2, 0, 1)
    return images, np.asarray(labels, dtype=np.int64), list(classes)
