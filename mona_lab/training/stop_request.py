"""Stopping a run cleanly: Ctrl-C (SIGINT) or SIGTERM ends it at the end of the step in progress.

`StopRequest` turns the signal into a flag that the training loop reads after each step;
the loop then writes ``last.pt`` (a consistent state between two steps) and raises
`TrainingInterrupted`, whose message says how to resume (``--resume``). The CLI turns it
into exit code 130.
"""
from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from mona_lab.errors import MonaLabError


class TrainingInterrupted(MonaLabError):
    """Ctrl-C (SIGINT) or SIGTERM stopped a run; ``last.pt`` holds the last finished iteration."""

    exit_code = 130


class StopRequest:
    """Turns SIGINT/SIGTERM into a request that the loop honours at the end of a step, so
    the checkpoint it writes is a consistent state. A second Ctrl-C stops at once; a signal
    the process ignores (SIGINT under ``nohup``) stays ignored. Only in
    the main thread of a single-process run (a signal handler cannot be set elsewhere,
    and ranks of a distributed run would stop at different steps)."""

    def __init__(self, enabled: bool) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}
        if enabled and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(sig) is signal.SIG_IGN:
                    continue  # e.g. SIGINT of a job started with nohup or `&`: it stays ignored
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.requested = signal.Signals(signum).name

    def interruption(self, done: int, total: int, out: Path) -> TrainingInterrupted:
        """The error the loop raises after ``done`` of ``total`` steps (``last.pt`` in ``out``)."""
        return TrainingInterrupted(
            f"{self.requested} at iteration {done} of {total}: {out / 'last.pt'} holds it; continue with the "
            f"same command plus --resume (mona-lab train ... --out {out} --resume)"
        )

    def restore(self) -> None:
        """Put back the handlers that were there before."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
