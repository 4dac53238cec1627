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
    repeats: int = typer.Option(10, help="Most timed runs per cell; the median is shown."),
    budget: float = typer.Option(0.5, help="Seconds of timed runs after which a cell stops repeating."),
    full: bool = typer.Option(False, "--full", help="Every ResNet-18 layer shape and the reference on every row "
                                                    "(several minutes)."),
    reference: Optional[bool] = typer.Option(None, "--reference/--no-reference",
                                             help="Plain-NumPy reference column on every row / on none.",
                                             show_default="rows up to 0.5 GFLOP; all with --full"),
    only: Optional[str] = typer.Option(None, help="Keep only rows whose name contains this text (any shape)."),
    list_rows: bool = typer.Option(False, "--list", help="Print the rows that would be timed and exit."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON ('-': stdout "
                                                                 "only, the table goes to stderr)."),
    chart: Optional[Path] = typer.Option(None, help="Also draw a bar chart PNG."),
    torch: Optional[bool] = typer.Option(None, "--torch/--no-torch", help="PyTorch column.",
                                         show_default="when installed"),
    step: bool = typer.Option(True, "--step/--no-step", help="Include the training-step row."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
) -> None:
    """Time the kernels (reference, CPU, GPU) and a training step; print one table. Progress goes to stderr."""
    from minigrad import bench as lib
    from minigrad.bench_report import table_console
    from minigrad.models import list_models

    if model not in list_models():
        fail(f"unknown model {model!r}; valid names: {', '.join(list_models())}")
    if list_rows:
        jobs = lib.bench_plan([d.lower() for d in device], model, batch_size, only, step, full)
        if not jobs:
            fail(f"no benchmark row matches --only {only!r}")
        for job in jobs:
            typer.echo(job.name)
        return
    to_stdout = json_out is not None and str(json_out) == "-"
    try:
        result = lib.run_bench(devices=[d.lower() for d in device], model=model, batch_size=batch_size,
                               repeats=repeats, torch=torch, only=only, step=step, full=full, budget=budget,
                               reference=reference, progress=None if quiet else lib.BenchProgress())
    except ValueError as exc:
        fail(str(exc))
    if not result.rows:
        fail(f"no benchmark row matches --only {only!r}")
    lib.print_table(result, table_console(stderr=True) if to_stdout else None)
    if to_stdout:
        typer.echo(lib.json_text(result))
    elif json_out is not None:
        lib.write_json(result, json_out)
        typer.echo(f"wrote {json_out}")
    if chart is not None:
        lib.write_chart(result, chart)
        typer.secho(f"wrote {chart}", err=to_stdout)


def register(app: typer.Typer) -> None:
    """Add ``bench`` to the app."""
    app.command()(bench)
