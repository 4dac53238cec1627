"""``minigrad summary`` and ``minigrad convert-weights``: a thin Typer layer over the summary and convert libraries."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .errors import fail, reported

__all__ = ["register", "parse_input_size"]


def parse_input_size(text: str) -> tuple:
    """"3,224,224" (or "3x224x224") -> (3, 224, 224).

    Raises:
        typer.BadParameter: not three positive integers.
    """
    parts = text.replace("x", ",").split(",")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise typer.BadParameter(f"--input-size: expected C,H,W (three positive integers), got {text!r}")
    return size


def summary_command(
    model: Optional[str] = typer.Argument(None, help="Registered model name (see `minigrad models`), "
                                          "or an ONNX file (*.onnx)."),
    input_size: Optional[str] = typer.Option(None, "--input-size", help="C,H,W; default: the model's registered size "
                                             "(C,32,32 with --small-input)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of the table."),
    small_input: bool = typer.Option(False, "--small-input", help="Build the 28x28/32x32 variant."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Output classes.",
                                             show_default="the model's"),
    compare_all: bool = typer.Option(False, "--compare", help="Compare every architecture at --input-size "
                                     "(default 3,224,224) and write the cost chart."),
    chart: Path = typer.Option(Path("model_cost.png"), "--chart", help="PNG written by --compare."),
) -> None:
    """Per-layer table: output shape, parameters, MACs, activation memory, receptive field (size, jump, start)."""
    import json

    from minigrad.compare import compare, format_compare, plot_cost, summarize_registered
    from minigrad.models import list_models

    size = parse_input_size(input_size) if input_size else None
    if compare_all:
        if model is not None and model not in list_models():
            fail(f"summary: unknown model {model!r}; valid names: {', '.join(list_models())}")
        rows = compare([model] if model else None, size or (3, 224, 224),
                       progress=None if as_json else (lambda n: typer.echo(f"  summarising {n} ...", err=True)))
        plot_cost(rows, chart)
        if as_json:
            typer.echo(json.dumps([dict(r, input_size=list(r["input_size"])) for r in rows], indent=2))
        else:
            typer.echo(format_compare(rows))
            typer.echo(f"\nchart: {chart}")
        return
    if model is None:
        fail("summary: give a MODEL name or --compare")
    if model.lower().endswith(".onnx"):
        _summarize_onnx(Path(model), size, as_json)
        return
    try:
        result = summarize_registered(model, size, small_input, num_classes)
    except ValueError as error:
        fail(str(error))
    typer.echo(result.to_json() if as_json else result.format())


def _summarize_onnx(path: Path, size, as_json: bool) -> None:
    """The summary of an ONNX file loaded as a minigrad model (input size from its graph unless given)."""
    from minigrad.onnx import load
    from minigrad.model_summary import summary

    with reported("summary"):
        net = load(path)
        size = size or net.image_size()
        if size is None:
            raise ValueError(f"summary: {path} does not fix its input's C, H, W; pass --input-size C,H,W")
        result = summary(net, size)
    typer.echo(result.to_json() if as_json else result.format())


def convert_weights_command(
    source: Path = typer.Argument(..., help="PyTorch state_dict file (.pt / .pth)."),
    destination: Path = typer.Argument(..., help="Output .npz file."),
) -> None:
    """Convert a PyTorch state_dict to .npz for `load_state_dict` (needs torch installed)."""
    from minigrad.models.convert import convert_weights

    try:
        arrays = convert_weights(source, destination)
    except (RuntimeError, FileNotFoundError, TypeError) as error:
        fail(str(error))
    total = sum(int(a.size) for a in arrays.values())
    typer.echo(f"wrote {destination}: {len(arrays)} arrays, {total:,} values")


def register(app: typer.Typer) -> None:
    """Add the ``summary`` and ``convert-weights`` commands to ``app``."""
    app.command("summary")(summary_command)
    app.command("convert-weights")(convert_weights_command)
