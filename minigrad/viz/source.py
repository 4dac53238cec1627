"""What the visualizations look at: a trained model from a checkpoint, and images for it.

A checkpoint written by ``minigrad train`` records the architecture's registry name, the
training configuration (dataset, data folder, splits, constructor arguments) and the data
statistics (classes, per-channel mean/std, input size); ``load_model`` rebuilds the model from
them. Images come from a file (converted to the model's channels and size, with a note) or from
the checkpoint's dataset, and are kept in two forms: ``pixels`` in [0, 1] for drawing and the
normalized model input ``x``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["VizModel", "load_model", "load_image", "load_dataset_images", "resolve_image"]


@dataclass
class VizModel:
    """A model ready to be looked at, with what is needed to feed it.

    Attributes:
        model: the ``Module``, in eval mode, on the CPU.
        name: its registry name.
        path: the checkpoint file.
        input_size: ``(C, H, W)`` the model takes.
        classes: class names.
        mean, std: per-channel normalization of the inputs (zeros/ones when unknown).
        config: the training configuration saved in the checkpoint.
        data: the dataset description saved in the checkpoint (may be empty).
    """

    model: object
    name: str
    path: Path
    input_size: tuple
    classes: list
    mean: np.ndarray
    std: np.ndarray
    config: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """[0, 1] images ``(..., C, H, W)`` to the model's normalized float32 input."""
        c = pixels.shape[-3]
        return ((pixels - self.mean[:c, None, None]) / self.std[:c, None, None]).astype(np.float32)

    def to_display(self, x: np.ndarray) -> np.ndarray:
        """Undo ``preprocess``: model input back to (unclipped) [0, 1] pixel units."""
        return x * self.std[:x.shape[-3], None, None] + self.mean[:x.shape[-3], None, None]

    def fill(self, level: float | None = None) -> np.ndarray:
        """Per-channel model-input value of an occluder: the dataset's mean colour (None) or a grey level."""
        return np.zeros_like(self.mean) if level is None else (level - self.mean) / self.std

    def default_out(self, method: str) -> Path:
        """``<checkpoint folder>/<checkpoint stem>-<method>.png``."""
        return self.path.parent / f"{self.path.stem}-{method}.png"


def _channel_stats(values, channels: int, default: float) -> np.ndarray:
    if values is None:
        return np.full(channels, default)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) != channels:
        values = np.full(channels, values.mean())
    return values


def load_model(path, model_name: str | None = None, note=print) -> VizModel:
    """Rebuild the model saved in a checkpoint.

    Args:
        path: a checkpoint written by ``minigrad train`` (or ``save_checkpoint``), or an ONNX file
            (``.onnx``, read by ``minigrad.onnx.load``).
        model_name: registry name, needed when the checkpoint does not record one.
        note: receives one line per assumption made.

    Raises:
        ValueError (``CheckpointError``): unreadable file, missing model name (saying to pass
            ``--model``), unknown model, or weights that do not fit it.
    """
    from ..checkpoint import CheckpointError, load_checkpoint
    from ..models import get_model, list_models, model_info

    if Path(path).suffix.lower() == ".onnx":
        return _load_onnx(path, note)
    ckpt = load_checkpoint(path)
    name = model_name or ckpt.model_name
    if not name:
        raise CheckpointError(f"{path}: the checkpoint does not record which model it holds; pass it with "
                              f"--model NAME (one of: {', '.join(list_models())})")
    info = model_info(name)
    data = dict(ckpt.metrics.get("data") or {})
    config = dict(ckpt.config or {})
    state = ckpt.model_state
    kernels = [v for v in state.values() if np.ndim(v) == 4]
    in_channels = int((data.get("input_size") or [kernels[0].shape[1] if kernels else info["input_size"][0]])[0])
    classes = list(data.get("classes") or [])
    if not classes:
        weights = [v for k, v in state.items() if k.endswith("weight")]
        n = int(weights[-1].shape[0]) if weights else 10
        classes = [str(i) for i in range(n)]
        note(f"{path}: no class names recorded; assuming {n} classes named 0..{n - 1}")
    kwargs = dict(config.get("model_kwargs") or {})
    model = get_model(name, num_classes=len(classes), in_channels=in_channels, **kwargs)
    ckpt.load_model(model)
    model.eval()
    input_size = tuple(int(s) for s in (getattr(model, "input_size", None) or data.get("input_size")
                                         or info["input_size"]))
    input_size = (in_channels,) + input_size[1:]
    if data.get("mean") is None:
        note(f"{path}: no normalization statistics recorded; feeding pixels in [0, 1] unnormalized")
    return VizModel(model=model, name=name, path=Path(path), input_size=input_size, classes=classes,
                    mean=_channel_stats(data.get("mean"), in_channels, 0.0),
                    std=_channel_stats(data.get("std"), in_channels, 1.0), config=config, data=data)


def _load_onnx(path, note) -> VizModel:
    """An ONNX file as a ``VizModel``: input size from the graph, classes from its output width."""
    from ..onnx import OnnxError, load

    model = load(path)
    input_size = model.image_size()
    if input_size is None:
        raise OnnxError(f"{path}: the graph's input {model.input_shapes[0] if model.input_shapes else None} is not "
                        f"one (N, C, H, W) image batch with fixed C, H, W")
    from ..autograd import no_grad
    from ..tensor import Tensor

    with no_grad():
        out = model(Tensor(np.zeros((1,) + input_size, dtype=np.float32)))
    out = out[0] if isinstance(out, tuple) else out
    n = int(out.shape[1]) if out.ndim >= 2 else 1
    note(f"{path}: an ONNX model records no class names or normalization; assuming {n} classes named "
         f"0..{n - 1} and pixels in [0, 1] unnormalized")
    c = input_size[0]
    return VizModel(model=model, name=Path(path).stem, path=Path(path), input_size=input_size,
                    classes=[str(i) for i in range(n)], mean=np.zeros(c), std=np.ones(c))


def load_image(path, input_size, note=print) -> np.ndarray:
    """Read an image file as ``(C, H, W)`` pixels in [0, 1] of the model's channels and size.

    A colour image for a grey model is converted to luminance, a grey one for a colour model
    repeated over three channels, and a different size resized bilinearly; each conversion is
    reported through ``note``.

    Raises:
        ValueError: unreadable file, or a model whose channel count is neither 1 nor 3.
    """
    from PIL import Image

    from ..data.folder import open_image

    c, h, w = (int(s) for s in input_size)
    if c not in (1, 3):
        raise ValueError(f"viz: cannot convert an image file for a model with {c} input channels (only 1 or 3)")
    with open_image(path, "viz") as img:
        img.load()
    mode = "L" if c == 1 else "RGB"
    if img.mode != mode:
        note(f"{path}: converted {img.mode} image to {mode} ({c} channel{'s' if c > 1 else ''}) for the model")
        img = img.convert(mode)
    if img.size != (w, h):
        note(f"{path}: resized {img.size[0]}x{img.size[1]} image to the model's {w}x{h}")
        img = img.resize((w, h), Image.BILINEAR)
    pixels = np.asarray(img, dtype=np.float64) / 255.0
    return pixels[None] if c == 1 else np.transpose(pixels, (2, 0, 1))


def load_dataset_images(vm: VizModel, dataset: str | None = None, split: str | None = None,
                        data_dir: str | None = None, limit: int | None = None, note=print):
    """Images and labels of a dataset (default: the checkpoint's test split), at the model's size.

    Returns:
        ``(pixels (N, C, H, W) in [0, 1], labels (N,), class names)``.
    """
    from ..data.datasets import load_dataset
    from ..data.pipeline import PadOrResize

    name = dataset or vm.data.get("name") or vm.config.get("dataset")
    if not name or name == "auto":
        raise ValueError(f"viz: {vm.path} does not record its dataset: give an image file "
                         "(or --dataset NAME, for the commands that take a dataset)")
    split = split or vm.config.get("test_split") or "test"
    root = data_dir or vm.config.get("data_dir")
    ds = load_dataset(name, split=split, root=root, limit=limit, seed=int(vm.config.get("seed", 0)) + 1)
    if ds.task != "classification":
        raise ValueError(f"viz: dataset {name!r} is for {ds.task}; these views need class labels")
    pixels = ds.images.astype(np.float32)
    if ds.images.dtype == np.uint8:
        pixels /= 255.0
    if tuple(pixels.shape[1:]) != tuple(vm.input_size):
        c, h, w = pixels.shape[1:]
        note(f"{name}: {c}x{h}x{w} images brought to the model's {'x'.join(map(str, vm.input_size))}")
        pixels = PadOrResize(vm.input_size[0], vm.input_size[1:])(pixels)
    return pixels.astype(np.float64), np.asarray(ds.targets, dtype=np.int64), list(ds.classes)


def resolve_image(spec: str, vm: VizModel, data_dir: str | None = None, note=print) -> tuple[np.ndarray, int | None]:
    """An image file, or ``SPLIT:INDEX`` (e.g. ``test:7``) for an image of the checkpoint's dataset.

    Returns:
        ``(pixels (C, H, W) in [0, 1], its label or None)``.
    """
    if Path(spec).is_file():
        return load_image(spec, vm.input_size, note), None
    match = re.fullmatch(r"(.+):(\d+)", spec)
    if match is None:
        raise ValueError(f"viz: {spec}: no such image file (or write SPLIT:INDEX, e.g. test:0, for an image "
                         f"of the checkpoint's dataset)")
    split, index = match.group(1), int(match.group(2))
    pixels, labels, _ = load_dataset_images(vm, split=split, data_dir=data_dir, limit=index + 1, note=note)
    if index >= len(pixels):
        raise ValueError(f"viz: {spec}: index {index} out of range; the split has {len(pixels)} images")
    return pixels[index], int(labels[index])
