"""What a run reports while it trains: ``log.csv`` (one row per iteration) and the progress bar.

``log.csv`` has the columns `LOG_COLUMNS`: the iteration, its stage, the learning rate and
the contrastive temperature, every loss component the method returns (averaged over the
processes of a distributed run) and, at validation iterations, the mean validation Dice.
Numbers are written with 6 significant digits (`format_value`). On resume the rows of
the lost future (from the checkpoint's step on) are dropped, so the file always reads as
one run. The training dynamics (``dynamics.csv``) are `mona_lab.training.dynamics`.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from mona_lab.atomic_files import atomic_write_text

LOG_COLUMNS = (
    "step", "stage", "lr", "temperature", "total", "sup", "dice", "ce", "consistency", "inst_global",
    "inst_local", "unsup", "contrast", "eqv", "nn", "saacl", "val_mean_dice",
)  # fmt: skip


def format_value(value: float) -> str:
    """A number as ``log.csv`` writes it: 6 significant digits."""
    return f"{value:.6g}"


def log_row(step: int, stage: str, lr: float, tau: float, losses: dict[str, float]) -> dict[str, Any]:
    """One ``log.csv`` row: the step, its stage, learning rate, temperature and loss values."""
    row = {"step": step, "stage": stage, "lr": format_value(lr), "temperature": format_value(tau)}
    row.update({name: format_value(value) for name, value in losses.items()})
    return row


class CsvLog:
    """``log.csv``, appended row by row; on resume, rows from the lost future are dropped."""

    def __init__(self, path: Path, start_step: int, enabled: bool) -> None:
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        kept = []
        if start_step > 0 and path.exists():
            with path.open(newline="") as handle:
                kept = [row for row in csv.DictReader(handle) if int(row["step"]) < start_step]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(path, buffer.getvalue())
        self.handle = path.open("a", newline="")
        self.writer = csv.DictWriter(self.handle, fieldnames=LOG_COLUMNS, lineterminator="\n")

    def write(self, row: dict[str, Any]) -> None:
        if self.enabled:
            unknown = set(row) - set(LOG_COLUMNS)
            if unknown:
                raise KeyError(f"log.csv has no column(s) {sorted(unknown)}")
            self.writer.writerow(row)
            self.handle.flush()

    def close(self) -> None:
        if self.enabled:
            self.handle.close()


class ProgressBar:
    """A tqdm bar over the run's iterations with the latest loss values (when ``enabled``)."""

    def __init__(self, enabled: bool, total: int, initial: int, description: str) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=description, dynamic_ncols=True)

    def update(self, losses: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
