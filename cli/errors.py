"""How the CLI reports failures: one line on stderr and an exit code, never a traceback.

Exit codes: 2 bad input (unknown names, missing/corrupt data, bad checkpoints, no GPU),
3 training diverged (NaN/Inf loss), 128 + the signal's number when stopped by a signal (after
saving a checkpoint): 130 Ctrl-C (SIGINT), 143 SIGTERM, 129 SIGHUP.
"""

from __future__ import annotations

import contextlib
import signal

import typer

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_BAD_INPUT):
    """Print ``error: message`` to stderr and exit with ``code``."""
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(code)


@contextlib.contextmanager
def reported(command: str, model: str = "MODEL"):
    """Turn the library's exceptions into one-line messages and exit codes.

    ``model`` names the architecture in the resume hint printed after Ctrl-C.

    ``ValueError`` covers ``DataError`` and ``CheckpointError`` (both subclass it); ``OSError``
    covers unreadable files and directories.
    """
    from minigrad.train import TrainingDiverged, TrainingInterrupted

    try:
        yield
    except TrainingDiverged as e:
        fail(str(e), EXIT_DIVERGED)
    except TrainingInterrupted as e:
        by = "" if e.signum == signal.SIGINT else f" by {signal.Signals(e.signum).name}"
        if e.finished:
            typer.secho(f"interrupted{by} after the last epoch: every output is saved ({e.checkpoint})",
                        err=True, fg="yellow")
        else:
            typer.secho(f"interrupted{by}: saved {e.checkpoint} (epoch {e.epoch + 1}, batch {e.batch}); "
                        f"continue with: minigrad train {model} --resume {e.checkpoint}", err=True, fg="yellow")
        raise typer.Exit(128 + e.signum)
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        by = "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"
        typer.secho(f"{command}: interrupted{by}", err=True, fg="yellow")
        raise typer.Exit(128 + signum)
    except (ValueError, OSError) as e:
        fail(_one_line(e))


def _one_line(e: Exception) -> str:
    text = str(e) if not isinstance(e, OSError) or not e.filename else f"{e.filename}: {e.strerror or e}"
    return " ".join(text.split())
