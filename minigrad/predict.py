"""Using a trained checkpoint: rebuilding its model, wrapping image batches, segmenting large images.

Used by ``minigrad eval`` and ``minigrad predict``; no CLI here.
"""

from __future__ import annotations

import numpy as np

from .autograd import no_grad
from .checkpoint import CheckpointError
from .run_schema import check_data_info
from .tensor import Tensor

__all__ = ["load_for_inference", "wrap_batch", "segment", "TILE", "MARGIN"]

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
