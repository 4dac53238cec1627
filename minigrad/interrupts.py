"""Stopping a training run cleanly: Ctrl-C, SIGTERM and SIGHUP become a flag checked between batches.

Schedulers, ``timeout``, container stops and closed terminals send SIGTERM or SIGHUP where a
person presses Ctrl-C; all three are treated alike. ``fit`` checks the flag after every
optimizer step and after each epoch's outputs are written, so weights are never saved
half-updated. A second signal interrupts at once (raising ``Interrupted``); a third gets the
handler that was there before (for SIGTERM and SIGHUP: the process ends).
"""

from __future__ import annotations

import signal
import threading

__all__ = ["StopSignals", "Interrupted", "STOP_SIGNALS", "signal_name"]

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def signal_name(signum: int) -> str:
    """"Ctrl-C" for SIGINT, else the signal's name ("SIGTERM")."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class Interrupted(KeyboardInterrupt):
    """A second stop signal arrived before the first was acted on. ``signum``: which one."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(f"interrupted by {signal_name(signum)}")
        self.signum = signum


class StopSignals:
    """Context manager: the first stop signal sets ``raised`` (and ``signum``); a second raises
    ``Interrupted``. Handlers are installed only in the main thread (Python delivers signals
    there) and the previous ones are restored on exit.
    """

    def __init__(self):
        self.raised = False
        self.signum = None
        self._previous = {}

    def _handle(self, signum, frame):
        if not self.raised:
            self.raised, self.signum = True, signum
            return
        self._restore()
        raise Interrupted(signum)

    def _restore(self):
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.getsignal(signum)
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        self._restore()
