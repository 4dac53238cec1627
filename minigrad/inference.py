"""One line to save a model and one to load it back ready for inference: ``mg.save`` and ``mg.load``.

    >>> import minigrad as mg
    >>> model = mg.load("runs/lenet-.../best.npz")      # eval mode, with the run's preprocessing
    >>> probs = mg.softmax(model(model.preprocess(images)), dim=1)
    >>> model.classes[int(probs.numpy()[0].argmax())]

A checkpoint written by ``minigrad train`` (or ``fit``) records the architecture's registry
name, its constructor arguments and the data statistics; ``load`` rebuilds the model from them
and attaches ``classes`` and ``preprocess`` (pixels to the normalized input it was trained on).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["load", "save", "Preprocess"]


class Preprocess:
    """Images to the model's input: scaled to [0, 1], brought to its size and channels, normalized.

    Args:
        mean, std: per-channel statistics of the training images in [0, 1] units.
        input_size: ``(C, H, W)`` the model takes.
        device: where the returned tensor lives.
    """

    def __init__(self, mean, std, input_size, device: str = "cpu"):
        self.input_size = tuple(int(s) for s in input_size)
        c = self.input_size[0]
        self.mean = np.resize(np.asarray(mean, dtype=np.float32), c).reshape(1, c, 1, 1)
        self.std = np.resize(np.asarray(std, dtype=np.float32), c).reshape(1, c, 1, 1)
        self.device = device

    def __call__(self, images):
        """``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)`` images (uint8 0..255 or floats in [0, 1]) ->
        a float32 ``(N, C, H, W)`` tensor (padded or resized as in training)."""
        from .data.pipeline import PadOrResize
        from .tensor import Tensor

        a = np.asarray(images)
        scale = 255.0 if a.dtype == np.uint8 else 1.0
        a = a.astype(np.float32) / scale
        if a.ndim not in (2, 3, 4):
            raise ValueError(f"preprocess: expected images (H, W), (C, H, W) or (N, C, H, W), got shape {a.shape}")
        a = a.reshape((1,) * (4 - a.ndim) + a.shape)
        if a.shape[1:] != self.input_size:
            a = PadOrResize(self.input_size[0], self.input_size[1:])(a)
        return Tensor(np.ascontiguousarray((a - self.mean) / self.std, dtype=np.float32), device=self.device)


def load(path, device: str = "cpu"):
    """The model saved in a checkpoint, in eval mode on ``device``, ready for inference.

    Args:
        path: a checkpoint written by ``minigrad train``, ``fit`` or ``save``.
        device: "cpu" or "cuda".

    Returns:
        The ``Module``, with ``classes`` (class names, or None when not recorded) and
        ``preprocess`` (a ``Preprocess``: images -> the normalized input tensor).

    Raises:
        ValueError (``CheckpointError``): unreadable file, or no registered model of the
            recorded name (``minigrad.models.register_model`` adds your own).
    """
    from .checkpoint import CheckpointError, load_checkpoint
    from .predict import load_for_inference

    ckpt = load_checkpoint(path)
    if not ckpt.model_name:
        raise CheckpointError(f"{path}: the checkpoint does not record which model it holds; "
                              f"rebuild the model and call load_state_dict instead")
    model, data = load_for_inference(ckpt, device)
    size = data.get("input_size") or getattr(model, "input_size", None)
    if size is None:
        from .models import model_info

        size = model_info(ckpt.model_name)["input_size"]
    channels = int(size[0])
    model.classes = list(data["classes"]) if data.get("classes") else None
    model.preprocess = Preprocess(data.get("mean", [0.0] * channels), data.get("std", [1.0] * channels), size,
                                  device)
    return model


def save(model, path, *, model_name: str | None = None, classes=None, mean=None, std=None, input_size=None,
         model_kwargs: dict | None = None) -> Path:
    """Write ``model``'s weights with what ``load`` needs to rebuild it (atomically).

    Args:
        model: a ``Module``; one built by ``get_model`` remembers its registry name.
        path: the ``.npz`` to write.
        model_name: registry name (default: the one ``get_model`` recorded).
        classes: class names (default: ``model.classes`` when set).
        mean, std: per-channel input statistics in [0, 1] units (default: those of a model from
            ``load``, else none: 0 and 1).
        input_size: ``(C, H, W)`` (default: the loaded model's, the model's or the registry's).
        model_kwargs: constructor arguments besides ``num_classes``/``in_channels`` (``small_input``, ...).

    Returns:
        The path written.

    Raises:
        ValueError: no registry name known for the model.
    """
    from .checkpoint import save_checkpoint
    from .models import list_models, model_info

    name = model_name or getattr(model, "registry_name", None)
    if name not in list_models():
        raise ValueError(f"save: {type(model).__name__} has no registry name {name!r}; pass model_name= one of "
                         f"{', '.join(list_models())} (or register yours with minigrad.models.register_model)")
    loaded = getattr(model, "preprocess", None)  # a model from load(): keep its preprocessing
    if isinstance(loaded, Preprocess):
        mean = loaded.mean.ravel() if mean is None else mean
        std = loaded.std.ravel() if std is None else std
        input_size = input_size or loaded.input_size
    size = tuple(input_size or getattr(model, "input_size", None) or model_info(name)["input_size"])
    data = {"input_size": list(size), "src_size": list(size)}
    classes = classes if classes is not None else getattr(model, "classes", None)
    if classes is not None:
        data["classes"] = [str(c) for c in classes]
    if mean is not None and std is not None:
        data["mean"], data["std"] = [float(m) for m in np.ravel(mean)], [float(s) for s in np.ravel(std)]
    config = {"model": name, "model_kwargs": dict(model_kwargs or {})}
    return save_checkpoint(path, model, model_name=name, config=config, metrics={"data": data})
