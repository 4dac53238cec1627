"""Stopping a training run cleanly: Ctrl-C becomes a flag checked between batches.

``fit`` checks the flag after every optimizer step and at the end of an epoch, so weights are
never saved half-updated; a second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import signal
import threading

__all__ = ["StopSignals"]


class StopSignals:
    """Turn the first Ctrl-C into ``raised = True``; a second Ctrl-C interrupts immediately.

    Handlers are installed only in the main thread (Python delivers signals there) and the
    previous handlers are restored on exit.
    """

    def __init__(self):
        self.raised = False
        self._previous = None

    def _handle(self, signum, frame):
        self.raised = True
        signal.signal(signal.SIGINT, self._previous)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
