"""Answers from the stored ablation study, at once: what the ablation panels show first.

`StoredAblation` wraps a grid written by ``benchmarks/ablation_grid.py``
(``notebooks/results/ablation_grid.json``, read with `mona_lab.lab.ablation.load_grid`) and
answers "what did the study measure for these switches?" from its runs: the mean and the
spread (standard deviation over seeds, ``ddof=0`` as in the grid's own summary) of the mean
Dice, of each class's Dice and of the head and tail means. It reads only what the file
has: a run without ``sampler`` or ``labeled`` counts as the study's (metadata) value, and
`coverage` says in words which seeds, samplers and labelled counts the study holds, so a
setting it did not run is answered with what it did run instead of a number from
elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SUPERVISED = "supervised (UNet-L)"


def _combination_name(tailness: bool, consistency: bool, diversity: bool) -> str:
    from mona_lab.lab.ablation import combination_name

    return combination_name(tailness, consistency, diversity)


@dataclass(frozen=True)
class StoredAnswer:
    """The stored runs of one setting, summarised over their seeds.

    Attributes:
        name: the combination's name (as in the paper's Table III) or the supervised baseline.
        seeds: the seeds the study ran for it.
        mean_dice, mean_dice_spread: mean over seeds of the runs' mean foreground Dice, and
            its standard deviation over seeds.
        dice, dice_spread: the same per class ``{class: value}``.
        head, head_spread, tail, tail_spread: the same for each run's mean over the head
            (tail) classes.
        seconds_per_iteration: the runs' mean wall seconds per iteration (``None`` when the
            file has no times).
        iterations: GLCon + fine-tuning iterations of one run.
    """

    name: str
    seeds: tuple[int, ...]
    mean_dice: float
    mean_dice_spread: float
    dice: dict[str, float]
    dice_spread: dict[str, float]
    head: float
    head_spread: float
    tail: float
    tail_spread: float
    seconds_per_iteration: float | None
    iterations: int

    def text(self) -> str:
        """One block of text: the overall, head and tail line, then each class."""
        seeds = ", ".join(str(s) for s in self.seeds)
        lines = [f"{self.name}: mean Dice {self.mean_dice:.3f} ± {self.mean_dice_spread:.3f}, "
                 f"head {self.head:.3f} ± {self.head_spread:.3f}, tail {self.tail:.3f} ± {self.tail_spread:.3f} "
                 f"(seeds {seeds}; ± is the spread over seeds)"]  # fmt: skip
        lines.append("  " + "  ".join(f"{c} {self.dice[c]:.2f}±{self.dice_spread[c]:.2f}" for c in self.dice))
        return "\n".join(lines)


class StoredAblation:
    """The stored study's runs, answered per setting (see the module docstring).

    Args:
        grid: a grid dict as `mona_lab.lab.ablation.load_grid` returns it (``metadata``,
            ``runs``).
    """

    def __init__(self, grid: dict[str, Any]) -> None:
        if not isinstance(grid, dict) or "runs" not in grid or "metadata" not in grid:
            raise ValueError("grid must be a stored ablation grid with 'metadata' and 'runs' (load_grid())")
        self.metadata = grid["metadata"]
        self.runs = list(grid["runs"])
        meta = self.metadata
        self.tail_classes = list(meta.get("tail_classes", []))
        self.head_classes = list(meta.get("head_classes", []))
        self.dataset = meta.get("dataset", "phantom")

    # ------------------------------------------------------------------ what it holds
    def _value(self, run: dict[str, Any], key: str, meta_key: str) -> Any:
        return run.get(key, self.metadata.get(meta_key))

    def seeds(self) -> list[int]:
        return sorted({int(r["seed"]) for r in self.runs if "seed" in r})

    def samplers(self) -> list[str]:
        return sorted({str(self._value(r, "sampler", "sampler") or "ns") for r in self.runs})

    def labeled_counts(self) -> list[Any]:
        return sorted({self._value(r, "labeled", "labeled_patients") for r in self.runs} - {None}, key=float)

    def datasets(self) -> list[str]:
        return sorted({str(r.get("dataset", self.dataset)) for r in self.runs})

    def coverage(self) -> str:
        """One line: the data sets, seeds, samplers and labelled counts the study holds."""
        def listed(values, what):
            values = [str(v) for v in values]
            return f"{what} {values[0]} only" if len(values) == 1 else f"{what}s {', '.join(values)}"

        budget = self.metadata.get("budget", {})
        length = (f"; {budget['pretrain_iterations']} GLCon + {budget['iterations']} fine-tuning iterations"
                  if {"pretrain_iterations", "iterations"} <= set(budget) else "")  # fmt: skip
        return (f"stored study: {len(self.runs)} runs on {', '.join(self.datasets())}; "
                f"{listed(self.seeds(), 'seed')}; {listed(self.samplers(), 'sampler')}; "
                f"{listed(self.labeled_counts(), 'labelled count')}{length}")  # fmt: skip

    # ------------------------------------------------------------------ answers
    def matching_runs(self, tailness: bool = True, consistency: bool = True, diversity: bool = True,
                      labeled: Any = None, sampler: str = "ns", method: str = "mona",
                      dataset: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """The stored runs of one setting (``labeled=None``: any labelled count; the
        supervised baseline ignores the switches and the sampler)."""
        name = SUPERVISED if method == "supervised" else _combination_name(tailness, consistency, diversity)
        chosen = []
        for run in self.runs:
            if run.get("name") != name or run.get("overrides"):
                continue
            if dataset is not None and run.get("dataset", self.dataset) != dataset:
                continue
            if labeled is not None and float(self._value(run, "labeled", "labeled_patients")) != float(labeled):
                continue
            if method != "supervised" and (self._value(run, "sampler", "sampler") or "ns") != sampler:
                continue
            chosen.append(run)
        return chosen

    def answer(self, tailness: bool = True, consistency: bool = True, diversity: bool = True,
               labeled: Any = None, sampler: str = "ns", method: str = "mona",
               dataset: str | None = None) -> StoredAnswer | None:  # fmt: skip
        """Mean ± spread over seeds of the stored runs of this setting, or ``None`` when the
        study has no run of it (then `coverage` says what it has)."""
        runs = self.matching_runs(tailness, consistency, diversity, labeled, sampler, method, dataset)
        if not runs:
            return None
        classes = list(runs[0]["dice"])
        head = [c for c in self.head_classes if c in classes]
        tail = [c for c in self.tail_classes if c in classes]

        def spread(values):
            return float(np.mean(values)), float(np.std(values))

        per_run_head = [float(np.mean([r["dice"][c] for c in head])) if head else float("nan") for r in runs]
        per_run_tail = [float(np.mean([r["dice"][c] for c in tail])) if tail else float("nan") for r in runs]
        iterations = int(runs[0].get("iterations", 0)) + int(runs[0].get("pretrain_iterations") or 0)
        times = [r["seconds"] / iterations for r in runs if r.get("seconds") and iterations]
        mean_dice, mean_spread = spread([r["mean_dice"] for r in runs])
        head_mean, head_spread = spread(per_run_head)
        tail_mean, tail_spread = spread(per_run_tail)
        return StoredAnswer(
            name=runs[0]["name"],
            seeds=tuple(sorted(int(r["seed"]) for r in runs)),
            mean_dice=mean_dice, mean_dice_spread=mean_spread,
            dice={c: spread([r["dice"][c] for r in runs])[0] for c in classes},
            dice_spread={c: spread([r["dice"][c] for r in runs])[1] for c in classes},
            head=head_mean, head_spread=head_spread, tail=tail_mean, tail_spread=tail_spread,
            seconds_per_iteration=float(np.mean(times)) if times else None,
            iterations=iterations,
        )  # fmt: skip

    def answer_text(self, *args, **kwargs) -> str:
        """`answer` as text, or why there is none (naming what the study holds)."""
        found = self.answer(*args, **kwargs)
        if found is not None:
            return found.text()
        settings = {k: v for k, v in kwargs.items() if k in ("labeled", "sampler", "dataset") and v is not None}
        asked = ", ".join(f"{k} {v}" for k, v in settings.items())
        return f"the stored study has no run of this setting ({asked}); press 'Train a fresh run' to train one"
