"""``minigrad eval``, ``minigrad predict`` and ``minigrad models``: using what ``train`` saved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .errors import fail, reported


def _load(checkpoint: Path, device: str):
    from minigrad.checkpoint import load_checkpoint
    from minigrad.train import load_for_inference

    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; valid: cpu, cuda")
    if device == "cuda":
        from minigrad.backends import cuda_available

        if not cuda_available():
            raise ValueError("--device cuda was requested but no CUDA GPU is available; use --device cpu")
    ckpt = load_checkpoint(checkpoint)
    model, data = load_for_inference(ckpt, device)
    if not data:
        raise ValueError(f"{checkpoint}: the checkpoint records no dataset information (not written by minigrad train)")
    return ckpt, model, data


def eval_cmd(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by `minigrad train` (last.npz or best.npz)."),
    dataset: Optional[str] = typer.Option(None, help="Dataset.", show_default="the one recorded in the checkpoint"),
    data_dir: Optional[Path] = typer.Option(None, help="Dataset folder.",
                                            show_default="the one recorded in the checkpoint"),
    split: Optional[str] = typer.Option(None, help="Split to evaluate.", show_default="the run's test split"),
    limit: Optional[int] = typer.Option(None, help="Evaluate the first N examples only."),
    batch_size: int = typer.Option(256, help="Evaluation batch size."),
    device: str = typer.Option("cpu", help="cpu|cuda"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of text."),
) -> None:
    """Evaluate a checkpoint: accuracy and loss on a dataset split."""
    from minigrad.train import TrainConfig, evaluate, load_datasets, make_loaders, resolve_dataset

    with reported("eval"):
        ckpt, model, data = _load(checkpoint, device)
        saved = ckpt.config or {}
        name = resolve_dataset(dataset or data["name"], ckpt.model_name, note=lambda m: None)
        config = TrainConfig(model=ckpt.model_name, dataset=name, batch_size=batch_size, test_limit=limit,
                             data_dir=str(data_dir) if data_dir else saved.get("data_dir"),
                             test_split=split or saved.get("test_split", "test"))
        _, test_ds = load_datasets(config.data_spec(), train=False)
        if len(test_ds) == 0:
            origin = "--split" if split else "the run's test split, saved in the checkpoint"
            raise ValueError(f"eval: split {config.test_split!r} of {name} ({origin}) holds no examples; "
                             f"choose another with --split")
        if test_ds.num_classes != len(data["classes"]):
            raise ValueError(f"eval: dataset {name} has {test_ds.num_classes} classes but the model in "
                             f"{checkpoint} was trained on {len(data['classes'])}")
        notes = []
        _, loader, _ = make_loaders(config.data_spec(), None, test_ds, data["input_size"], stats=(data["mean"], data["std"]),
                                    note=notes.append)
        metrics = evaluate(model, loader, device)
    result = {"checkpoint": str(checkpoint), "model": ckpt.model_name, "dataset": name, "split": config.test_split,
              "examples": metrics["count"], "accuracy": metrics["accuracy"], "loss": metrics["loss"]}
    if "miou" in metrics:
        result["miou"] = metrics["miou"]
    extra = f"  mIoU {100 * result['miou']:.2f}%" if "miou" in result else ""
    _report(result, notes, as_json, [
        f"{ckpt.model_name} on {name} {config.test_split} ({metrics['count']:,} examples): "
        f"accuracy {100 * metrics['accuracy']:.2f}%  loss {metrics['loss']:.4f}{extra}"])


def _report(result, notes: list, as_json: bool, lines: list) -> None:
    """Print ``result`` as JSON, or the notes (in yellow) and then the human-readable ``lines``."""
    if as_json:
        typer.echo(json.dumps(result))
        return
    for line in notes:
        typer.secho(f"note: {line}", fg="yellow")
    for line in lines:
        typer.echo(line)


def _read_image(path: Path, size, notes: list):
    """An image file as a float32 (C, H, W) array in [0, 1], converted to ``size`` = (C, H, W)."""
    import numpy as np
    from PIL import Image

    from minigrad.data.folder import open_image

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


def _matched(pixels, path, data, invert, notes):
    """``pixels`` inverted when asked, or (``invert`` None) when their background is the opposite of training's."""
    from minigrad.data.background import needs_inversion

    if invert is None and needs_inversion(pixels, data["mean"]):
        notes.append(f"{path}: light background; inverted it to light-on-dark like the training images "
                     f"(--no-invert keeps it)")
        invert = True
    return 1.0 - pixels if invert else pixels


def predict(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by `minigrad train`."),
    images: List[Path] = typer.Argument(..., help="Image files (PNG, JPEG, ...)."),
    top: int = typer.Option(3, "--top", "-k", help="How many classes to show per image."),
    invert: Optional[bool] = typer.Option(
        None, "--invert/--no-invert", help="Invert grey levels (dark digits on white paper -> MNIST style).",
        show_default="when a grey image's background is light and the training images' dark"),
    device: str = typer.Option("cpu", help="cpu|cuda"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of text."),
    out: Optional[Path] = typer.Option(
        None, help="Segmentation models: folder for the predicted masks.", show_default="beside each image"),
) -> None:
    """Classify images with a trained checkpoint and print the top classes with probabilities.

    For a segmentation checkpoint (U-Net), write each image's predicted mask as a PNG instead
    (pixel values are class indices, shown in colour) and print the share of each class."""
    import numpy as np

    from minigrad import functional as F
    from minigrad import no_grad
    from minigrad.train import wrap_batch

    if top < 1:
        fail(f"predict: --top must be at least 1, got {top}")
    with reported("predict"):
        ckpt, model, data = _load(checkpoint, device)
        if data.get("task", "classification") == "segmentation":
            _predict_masks(model, data, images, out, invert, device, as_json)
            return
        size = tuple(data["input_size"])
        notes = []
        batch = np.stack([_matched(_read_image(p, size, notes), p, data, invert, notes) for p in images])
        mean = np.asarray(data["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(data["std"], dtype=np.float32).reshape(1, -1, 1, 1)
        with no_grad():
            logits = model(wrap_batch((batch - mean) / std, device))
            probs = F.softmax(logits, dim=1).numpy()
    classes = data["classes"]
    k = min(top, len(classes))
    results = []
    for path, p in zip(images, probs):
        order = np.argsort(-p, kind="stable")[:k]
        results.append({"image": str(path), "top": [{"class": classes[i], "index": int(i), "probability": float(p[i])}
                                                    for i in order]})
    _report(results, notes, as_json, [
        f"{r['image']}: " + "  ".join(f"{t['class']} {100 * t['probability']:.1f}%" for t in r["top"])
        for r in results])


def _predict_masks(model, data, images, out, invert, device, as_json) -> None:
    """Segment each image at its own size (in tiles when large: ``minigrad.predict.segment``) and
    write ``<stem>-mask.png``."""
    import numpy as np

    from minigrad.data.folder import open_image
    from minigrad.predict import segment
    from minigrad.viz.render import save_mask_png, save_png
    from minigrad.viz.segmentation import mask_figure

    channels = int(data["input_size"][0])
    mean = np.asarray(data["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(data["std"], dtype=np.float32).reshape(1, -1, 1, 1)
    classes, notes, results = data["classes"], [], []
    for path in images:
        with open_image(path, "predict") as image:
            width, height = image.size
        pixels = _matched(_read_image(path, (channels, height, width), notes), path, data, invert, notes)[None]
        mask = segment(model, ((pixels - mean) / std)[0], device)
        target = (out / f"{path.stem}-mask.png") if out else path.with_name(f"{path.stem}-mask.png")
        save_mask_png(mask, target)
        view = target.with_name(f"{path.stem}-mask-view.png")
        save_png(mask_figure(pixels[0], mask, classes, heading=f"{path.name}: predicted segmentation"), view)
        share = {classes[k]: float(np.mean(mask == k)) for k in range(len(classes))}
        results.append({"image": str(path), "mask": str(target), "view": str(view), "class_fraction": share})
    _report(results, notes, as_json, [
        f"{r['image']}: wrote {r['mask']} and {Path(r['view']).name}  ("
        + "  ".join(f"{name} {100 * f:.1f}%" for name, f in r["class_fraction"].items()) + ")"
        for r in results])


def models() -> None:
    """List the architectures that `minigrad train` knows."""
    from rich.console import Console
    from rich.table import Table

    from minigrad.models import list_models, model_info

    table = Table(title="minigrad models")
    for column in ("name", "task", "input (C, H, W)", "description"):
        table.add_column(column)
    for name in list_models():
        info = model_info(name)
        table.add_row(name, info["task"], "x".join(str(s) for s in info["input_size"]), info["description"])
    Console(width=120).print(table)


def register(app: typer.Typer) -> None:
    """Add ``eval``, ``predict`` and ``models`` to the app."""
    app.command(name="eval")(eval_cmd)
    app.command()(predict)
    app.command()(models)
