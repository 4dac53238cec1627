"""Entry point of the ``minigrad`` console script."""

from __future__ import annotations

import typer

import minigrad

from . import bench, infer_cmds, summary, train_cmds, viz

app = typer.Typer(
    name="minigrad",
    help="A from-scratch deep-learning engine: train, evaluate, inspect, benchmark and visualize CNNs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """minigrad: train, evaluate, inspect, benchmark and visualize CNNs."""


@app.command()
def version() -> None:
    """Print minigrad's version and those of its main dependencies."""
    import numba
    import numpy

    typer.echo(f"minigrad {minigrad.__version__} (numpy {numpy.__version__}, numba {numba.__version__})")


train_cmds.register(app)
infer_cmds.register(app)
summary.register(app)
viz.register(app)
bench.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
