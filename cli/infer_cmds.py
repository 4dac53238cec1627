"""``minigrad eval``, ``minigrad predict`` and ``minigrad models``: using what ``train`` saved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .errors import fail, reported


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
    from minigrad.evaluation import evaluate_checkpoint
    from minigrad.predict import open_checkpoint

    with reported("eval"):
        ckpt, model, data = open_checkpoint(checkpoint, device)
        metrics, notes = evaluate_checkpoint(ckpt, model, data, dataset=dataset, data_dir=data_dir, split=split,
                                             limit=limit, batch_size=batch_size, device=device)
    result = {"checkpoint": str(checkpoint), **metrics}
    extra = f"  mIoU {100 * result['miou']:.2f}%" if "miou" in result else ""
    _report(result, notes, as_json, [
        f"{result['model']} on {result['dataset']} {result['split']} ({result['examples']:,} examples): "
        f"accuracy {100 * result['accuracy']:.2f}%  loss {result['loss']:.4f}{extra}"])


def _report(result, notes: list, as_json: bool, lines: list) -> None:
    """Print ``result`` as JSON, or the notes (in yellow) and then the human-readable ``lines``."""
    if as_json:
        typer.echo(json.dumps(result))
        return
    for line in notes:
        typer.secho(f"note: {line}", fg="yellow")
    for line in lines:
        typer.echo(line)


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
    from minigrad.predict import classify_files, open_checkpoint, segment_files

    if top < 1:
        fail(f"predict: --top must be at least 1, got {top}")
    with reported("predict"):
        _, model, data = open_checkpoint(checkpoint, device)
        if data.get("task", "classification") == "segmentation":
            results, notes = segment_files(model, data, images, out, invert, device)
            _report(results, notes, as_json, [
                f"{r['image']}: wrote {r['mask']} and {Path(r['view']).name}  ("
                + "  ".join(f"{name} {100 * f:.1f}%" for name, f in r["class_fraction"].items()) + ")"
                for r in results])
            return
        results, notes = classify_files(model, data, images, top, invert, device)
    _report(results, notes, as_json, [
        f"{r['image']}: " + "  ".join(f"{t['class']} {100 * t['probability']:.1f}%" for t in r["top"])
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
