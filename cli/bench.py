"""``minigrad bench``: the kernel timing table of ``minigrad.bench``, CPU and GPU side by side."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .errors import fail


def bench(
    device: List[str] = typer.Option(["cpu"], "--device", "-d", help="cpu and/or cuda; repeat the option for both."),
    model: str = typer.Option("lenet5", help="Model of the training-step row (lenet5, resnet18, ...)."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", help="Images per batch."),
    repeats: int = typer.Option(5, help="Timed runs per cell; the median is shown."),
    only: Optional[str] = typer.Option(None, help="Keep only rows whose name contains this text."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON."),
    chart: Optional[Path] = typer.Option(None, help="Also draw a bar chart PNG."),
    torch: Optional[bool] = typer.Option(None, "--torch/--no-torch", help="PyTorch column.",
                                         show_default="when installed"),
    step: bool = typer.Option(True, "--step/--no-step", help="Include the training-step row."),
) -> None:
    """Time every kernel (reference, CPU, GPU) and a training step; print one table."""
    from minigrad import bench as lib
    from minigrad.models import list_models

    if model not in list_models():
        fail(f"unknown model {model!r}; valid names: {', '.join(list_models())}")
    try:
        result = lib.run_bench(devices=[d.lower() for d in device], model=model, batch_size=batch_size,
                               repeats=repeats, torch=torch, only=only, step=step)
    except ValueError as exc:
        fail(str(exc))
    if not result.rows:
        fail(f"no benchmark row matches --only {only!r}")
    lib.print_table(result)
    if json_out is not None:
        lib.write_json(result, json_out)
        typer.echo(f"wrote {json_out}")
    if chart is not None:
        lib.write_chart(result, chart)
        typer.echo(f"wrote {chart}")


def register(app: typer.Typer) -> None:
    """Add ``bench`` to the app."""
    app.command()(bench)
