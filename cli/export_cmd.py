"""``minigrad export``: a thin Typer layer over ``minigrad.onnx.export``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .errors import reported

__all__ = ["register"]


def export_command(
    checkpoint: Path = typer.Argument(..., help="Checkpoint (.npz) written by `minigrad train`."),
    out: Path = typer.Argument(..., help="ONNX file to write (.onnx)."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset to target (13..21)."),
    model: Optional[str] = typer.Option(None, "--model", help="Registry name of the model, for checkpoints "
                                        "that do not record it."),
) -> None:
    """Export a checkpoint to ONNX (weights as initializers, symbolic batch size), for onnxruntime or Netron."""
    import numpy as np

    from minigrad import Tensor
    from minigrad.onnx import export
    from minigrad.viz.source import load_model

    with reported("export"):
        vm = load_model(checkpoint, model, note=lambda m: None)
        example = Tensor(np.zeros((1,) + tuple(vm.input_size), dtype=np.float32))
        export(vm.model, example, out, opset=opset)
    typer.echo(f"wrote {out} ({vm.name}, input 1x{'x'.join(str(s) for s in vm.input_size)}, opset {opset})")


def register(app: typer.Typer) -> None:
    """Add the ``export`` command to ``app``."""
    app.command("export")(export_command)
