"""Using a trained checkpoint: rebuilding its model, reading image files for it, classifying them
and segmenting them (large images in tiles).

Used by ``minigrad eval`` and ``minigrad predict``; no CLI here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .autograd import no_grad
from .checkpoint import CheckpointError
from .data.transforms import Normalize
from .run_schema import check_data_info
from .tensor import Tensor

__all__ = ["load_for_inference", "open_checkpoint", "read_image", "match_background", "classify_files",
           "segment_files", "wrap_batch", "segment", "TILE", "MARGIN"]

TILE = 192  # segmentation: images larger than TILE + 2 * MARGIN are done in tiles of TILE pixels,
MARGIN = 32  # each run with MARGIN pixels of context on every side (multiples of 2**depth = 16)


def load_for_inference(ckpt, device: str = "cpu"):
    """Rebuild the model of a checkpoint (``Checkpoint`` from ``load_checkpoint``) in eval mode.

    Returns:
        ``(model, data_info)`` where ``data_info`` holds the dataset's classes, mean, std and the
        model's input size as recorded by ``fit``.
    """
    from .models import get_model, list_models

    if ckpt.model_name not in list_models():
        raise ValueError(f"{ckpt.path}: checkpoint of unknown model {ckpt.model_name!r}; "
                         f"valid names: {', '.join(list_models())}")
    data = check_data_info(ckpt)
    kwargs = (ckpt.config or {}).get("model_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{ckpt.path}: checkpoint metadata field config.model_kwargs must be an object, "
                              f"got {kwargs!r:.60}")
    kwargs = dict(kwargs)
    if "classes" in data:
        kwargs.update(num_classes=len(data["classes"]), in_channels=int(data["src_size"][0]))
    try:
        model = get_model(ckpt.model_name, **kwargs)
    except TypeError as e:  # a tampered model_kwargs: an argument the constructor does not take
        raise CheckpointError(f"{ckpt.path}: checkpoint metadata field config.model_kwargs does not fit "
                              f"{ckpt.model_name} ({e})") from None
    ckpt.load_model(model)
    model.to(device)
    model.eval()
    return model, data


def open_checkpoint(path, device: str = "cpu"):
    """``(checkpoint, model, data_info)`` of a checkpoint written by ``fit``, its model in eval mode on ``device``.

    Raises:
        ValueError: an unknown device, "cuda" without a GPU, or a checkpoint that records no
            dataset (``CheckpointError`` for unreadable or foreign files).
    """
    from .checkpoint import load_checkpoint

    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; valid: cpu, cuda")
    if device == "cuda":
        from .backends import cuda_available

        if not cuda_available():
            raise ValueError("--device cuda was requested but no CUDA GPU is available; use --device cpu")
    ckpt = load_checkpoint(path)
    model, data = load_for_inference(ckpt, device)
    if not data:
        raise ValueError(f"{path}: the checkpoint records no dataset information (not written by minigrad train)")
    return ckpt, model, data


def read_image(path, size, notes: list) -> np.ndarray:
    """An image file as a float32 (C, H, W) array in [0, 1], converted to ``size`` = (C, H, W).

    Each conversion (colour mode, size) is described by a line appended to ``notes``.
    """
    from PIL import Image

    from .data.folder import open_image

    channels, height, width = size
    with open_image(path, "predict") as image:
        image.load()
    mode = "L" if channels == 1 else "RGB"
    if image.mode != mode:
        notes.append(f"{path}: converted {image.mode} to {'grayscale' if mode == 'L' else 'RGB'}")
        image = image.convert(mode)
    if image.size != (width, height):
        notes.append(f"{path}: resized {image.size[0]}x{image.size[1]} to {width}x{height}")
        image = image.resize((width, height), Image.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def match_background(pixels: np.ndarray, path, data: dict, invert, notes: list) -> np.ndarray:
    """``pixels`` inverted when ``invert`` is True, or (``invert`` None) when their background is the
    opposite of the training images' (``data["mean"]``), which adds a line to ``notes``."""
    from .data.background import needs_inversion

    if invert is None and needs_inversion(pixels, data["mean"]):
        notes.append(f"{path}: light background; inverted it to light-on-dark like the training images "
                     f"(--no-invert keeps it)")
        invert = True
    return 1.0 - pixels if invert else pixels


def classify_files(model, data: dict, paths, top: int = 3, invert=None, device: str = "cpu"):
    """The ``top`` classes of each image file, as the model trained on ``data`` sees them.

    Returns:
        ``(results, notes)``: per image ``{"image", "top": [{"class", "index", "probability"}]}``,
        most probable first, and the lines describing each conversion.
    """
    from .functional import softmax

    size, notes = tuple(data["input_size"]), []
    batch = np.stack([match_background(read_image(p, size, notes), p, data, invert, notes) for p in paths])
    with no_grad():
        probs = softmax(model(wrap_batch(Normalize(data["mean"], data["std"])(batch), device)), dim=1).numpy()
    classes = data["classes"]
    k = min(top, len(classes))
    results = []
    for path, p in zip(paths, probs):
        order = np.argsort(-p, kind="stable")[:k]
        results.append({"image": str(path), "top": [{"class": classes[i], "index": int(i), "probability": float(p[i])}
                                                    for i in order]})
    return results, notes


def segment_files(model, data: dict, paths, out=None, invert=None, device: str = "cpu"):
    """Segment each image file at its own size (``segment``) and write ``<stem>-mask.png`` (class
    indices) and ``<stem>-mask-view.png`` (the mask in colour over the image) into ``out`` or
    beside the image.

    Returns:
        ``(results, notes)``: per image ``{"image", "mask", "view", "class_fraction"}``, and the
        lines describing each conversion.
    """
    from .data.folder import open_image
    from .viz.render import save_mask_png, save_png
    from .viz.segmentation import mask_figure

    channels, normalize = int(data["input_size"][0]), Normalize(data["mean"], data["std"])
    classes, notes, results = data["classes"], [], []
    for path in paths:
        path = Path(path)
        with open_image(path, "predict") as image:
            width, height = image.size
        pixels = match_background(read_image(path, (channels, height, width), notes), path, data, invert, notes)[None]
        mask = segment(model, normalize(pixels)[0], device)
        target = (Path(out) / f"{path.stem}-mask.png") if out else path.with_name(f"{path.stem}-mask.png")
        save_mask_png(mask, target)
        view = target.with_name(f"{path.stem}-mask-view.png")
        save_png(mask_figure(pixels[0], mask, classes, heading=f"{path.name}: predicted segmentation"), view)
        share = {classes[k]: float(np.mean(mask == k)) for k in range(len(classes))}
        results.append({"image": str(path), "mask": str(target), "view": str(view), "class_fraction": share})
    return results, notes


def wrap_batch(images: np.ndarray, device="cpu") -> Tensor:
    """A float32 (N, C, H, W) array as a tensor on ``device``."""
    return Tensor(np.ascontiguousarray(images, dtype=np.float32), device=device)


def segment(model, pixels: np.ndarray, device: str = "cpu", tile: int = TILE, margin: int = MARGIN,
            scores: bool = False) -> np.ndarray:
    """Per-pixel classes of one normalized image, in overlapping tiles so that memory stays bounded.

    A U-Net's activations cost about 10 kB per pixel at the default width (a 3000x3000 image
    would need 19 GiB in one pass). Images up to ``tile + 2 * margin`` pixels on a side run in
    one pass; larger ones run as tiles of ``tile`` pixels, each with ``margin`` pixels of the
    surrounding image as context (clipped at the image border), and keep the tile's centre.
    Where ``margin`` covers the model's receptive field the result equals a whole-image pass.

    Args:
        model: a segmentation model in eval mode, (1, C, h, w) -> (1, K, h, w).
        pixels: (C, H, W) float32, normalized as the model was trained.
        device: where to run.
        tile, margin: tile size and context, multiples of the model's total pooling factor
            (so that tiles pool on the same grid as the whole image).
        scores: return the (K, H, W) float32 class scores instead of the classes.

    Returns:
        (H, W) int64 class indices (or the scores).
    """
    _, height, width = pixels.shape
    if max(height, width) <= tile + 2 * margin:
        tile = max(height, width)
    mask = np.empty((height, width), dtype=np.int64)
    kept = None
    with no_grad():
        for y in range(0, height, tile):
            for x in range(0, width, tile):
                y0, x0 = max(0, y - margin), max(0, x - margin)
                y1, x1 = min(height, y + tile + margin), min(width, x + tile + margin)
                logits = model(wrap_batch(pixels[None, :, y0:y1, x0:x1], device)).numpy()[0]
                h, w = min(tile, height - y), min(tile, width - x)
                centre = logits[:, y - y0:y - y0 + h, x - x0:x - x0 + w]
                if scores:
                    if kept is None:
                        kept = np.empty((logits.shape[0], height, width), np.float32)
                    kept[:, y:y + h, x:x + w] = centre
                else:
                    mask[y:y + h, x:x + w] = centre.argmax(axis=0)
    return kept if scores else mask
