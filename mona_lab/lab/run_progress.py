"""A fresh run's progress and its expected time, for the notebooks' panels.

`mona_lab.training` appends one row to the run folder's ``log.csv`` per iteration and
flushes it, so the count of rows is the run's progress: `LogProgress` reads it from a
background thread while the run trains in the caller's thread (the panel's callback stays
a plain, synchronous function) and hands each new count to a reporter (an ipywidgets
progress bar in the notebooks). `estimate_seconds` says how long a run should take before
it starts, from measured times only: this session's earlier runs at the same budget when
there are any, else the stored study's seconds per iteration.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def logged_iterations(log_path: str | Path) -> int:
    """Iterations a run has logged so far: the data rows of its ``log.csv`` (0 before it exists)."""
    try:
        with Path(log_path).open() as handle:
            return max(0, sum(1 for line in handle if line.strip()) - 1)
    except FileNotFoundError:
        return 0


class LogProgress:
    """Report a run's logged iterations every ``every`` seconds while it trains.

    Use as a context manager around the training call; on leaving, the reporter gets the
    final count once more.

    Args:
        log_path: the run folder's ``log.csv`` (it need not exist yet).
        report: called with the number of iterations logged so far.
        every: seconds between reads (> 0).
    """

    def __init__(self, log_path: str | Path, report: Callable[[int], None], every: float = 0.5) -> None:
        if not every > 0:
            raise ValueError(f"every must be a positive number of seconds, got {every!r}")
        self.log_path, self.report, self.every = Path(log_path), report, float(every)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last = 0

    def _poll(self) -> None:
        while not self._stop.wait(self.every):
            self._send()

    def _send(self) -> None:
        count = logged_iterations(self.log_path)
        if count != self.last:
            self.last = count
            self.report(count)

    def __enter__(self) -> "LogProgress":
        self._thread = threading.Thread(target=self._poll, name="mona-lab-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._send()


def estimate_seconds(iterations: int, earlier_runs: Iterable[dict[str, Any]] = (),
                     stored_seconds_per_iteration: float | None = None) -> tuple[float | None, str]:  # fmt: skip
    """Expected wall seconds of a run of ``iterations`` iterations, and where the figure comes from.

    Args:
        iterations: GLCon + fine-tuning iterations of the run to be trained (>= 1).
        earlier_runs: rows of runs already trained at the same budget in this session
            (`mona_lab.lab.ablation.run_ablation_row` rows: ``seconds``, ``iterations``,
            ``pretrain_iterations``); their mean seconds per iteration is used when given.
        stored_seconds_per_iteration: the stored study's measured cost, the fallback (its
            runs may have had another size and thread count: the text says so).

    Returns:
        ``(seconds, source)``; ``(None, reason)`` when nothing measured is available.
    """
    if int(iterations) < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations!r}")
    rates = [r["seconds"] / (r["iterations"] + (r.get("pretrain_iterations") or 0))
             for r in earlier_runs if r.get("seconds")]  # fmt: skip
    if rates:
        per = sum(rates) / len(rates)
        return per * iterations, f"from {len(rates)} earlier run(s) here at {per:.2f} s per iteration"
    if stored_seconds_per_iteration:
        per = float(stored_seconds_per_iteration)
        return per * iterations, f"from the stored study's runs at {per:.2f} s per iteration (their size and cores)"
    return None, "no run measured yet"
