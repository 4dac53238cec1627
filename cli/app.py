"""Entry point of the ``minigrad`` console script."""

from __future__ import annotations

import typer

import minigrad

from . import bench, export_cmd, infer_cmds, summary, train_cmds, viz

class _Group(typer.core.TyperGroup):
    """Typer's command group with the help written as users read it (applied to every subcommand).

    Arguments are named in capitals, ``MODEL`` (Typer writes ``{model}``), and flags get no
    ``<bool>`` type.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        _tidy(self)


def _tidy(command) -> None:
    for param in command.params:
        if isinstance(param, typer.core.TyperArgument) and param.metavar is None:
            param.metavar = param.name.upper()
            usage = param.metavar if param.required else f"[{param.metavar}]"
            usage += "..." if param.nargs != 1 else ""
            param.get_usage_pieces = lambda ctx, usage=usage: [usage]
        elif isinstance(param, typer.core.TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    if getattr(command, "_help_option", "absent") is None:
        # Typer >= 0.20 builds --help on first use and caches it: build it now, without its <bool> type.
        from typer._click.decorators import help_option

        help_option(["--help"])(command)
        command._help_option = command.params.pop()
        command._help_option.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _tidy(sub)


def _version(value: bool) -> None:
    if value:
        version()
        raise typer.Exit()


app = typer.Typer(
    name="minigrad",
    cls=_Group,
    help="A from-scratch deep-learning engine: train, evaluate, inspect, benchmark and visualize CNNs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")) -> None:
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
export_cmd.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
