"""What one principle does in a stored grid, seed by seed (MONA TPAMI 2024 Table III's reading).

Table III reads a principle's effect from rows that differ only in that principle: vanilla ->
tailness, consistency -> tailness + consistency, and so on (four pairs per principle). With
several seeds, each pair gives one *paired* difference per seed (both runs share the seed:
the same labelled patients, initial weights and batches), so the effect of a principle is
twelve numbers for three seeds, not one. `principle_effect` returns them and their summary;
`format_principle_effects` prints the verdict table the notebooks show: the mean change, its
spread, the range and how many paired differences are positive.

A principle "helps at this budget" only when its mean change is larger than the spread of
the paired differences and most of them share its sign; the table gives the numbers, and the
notebooks say it in words.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mona_lab.lab.ablation.paper import COMBINATIONS, PRINCIPLES, combination_name


def principle_pairs(principle: str) -> list[tuple[str, str]]:
    """The four (without, with) row names that differ only in ``principle`` (Table III order)."""
    if principle not in PRINCIPLES:
        raise ValueError(f"principle must be one of {list(PRINCIPLES)}, got {principle!r}")
    k = PRINCIPLES.index(principle)
    pairs = []
    for switches in COMBINATIONS:
        if not switches[k]:
            on = tuple(True if i == k else s for i, s in enumerate(switches))
            pairs.append((combination_name(*switches), combination_name(*on)))
    return pairs


def _run_value(run: dict[str, Any], measure: str, head: list[str], tail: list[str]) -> float:
    if measure == "mean":
        return float(run["mean_dice"])
    classes = head if measure == "head" else tail
    return float(np.mean([run["dice"][c] for c in classes]))


def principle_effect(grid: dict[str, Any], principle: str) -> dict[str, Any]:
    """Paired per-seed Dice differences (with - without ``principle``) over its four pairs.

    Args:
        grid: a stored grid (`load_grid`): ``runs`` with ``name``, ``seed``, ``mean_dice`` and
            ``dice`` per class; ``metadata`` with ``head_classes`` and ``tail_classes``.
        principle: ``"tailness"``, ``"consistency"`` or ``"diversity"``.

    Returns:
        ``{"principle", "pairs": [{"without", "with", "seeds", "mean", "head", "tail"}],
        "mean" | "head" | "tail": {"differences", "average", "spread", "low", "high",
        "positive", "count"}}``: each pair's differences per seed (Dice as a fraction), and
        for each measure all paired differences pooled (spread: standard deviation, ddof=0).
        Seeds missing on either side of a pair are left out of that pair.
    """
    meta = grid["metadata"]
    head, tail = list(meta["head_classes"]), list(meta["tail_classes"])
    by_key = {(r["name"], int(r["seed"])): r for r in grid["runs"]}
    pairs, pooled = [], {m: [] for m in ("mean", "head", "tail")}
    for off, on in principle_pairs(principle):
        seeds = sorted(s for (name, s) in by_key if name == off and (on, s) in by_key)
        entry: dict[str, Any] = {"without": off, "with": on, "seeds": seeds}
        for measure in pooled:
            diffs = [_run_value(by_key[(on, s)], measure, head, tail) - _run_value(by_key[(off, s)], measure, head, tail)
                     for s in seeds]  # fmt: skip
            entry[measure] = diffs
            pooled[measure] += diffs
        pairs.append(entry)
    out: dict[str, Any] = {"principle": principle, "pairs": pairs}
    for measure, diffs in pooled.items():
        d = np.asarray(diffs, dtype=float)
        out[measure] = {
            "differences": diffs,
            "average": float(d.mean()) if d.size else float("nan"),
            "spread": float(d.std()) if d.size else float("nan"),
            "low": float(d.min()) if d.size else float("nan"),
            "high": float(d.max()) if d.size else float("nan"),
            "positive": int((d > 0).sum()),
            "count": int(d.size),
        }
    return out


def format_principle_effects(grid: dict[str, Any], principles=PRINCIPLES) -> str:
    """One line per principle and measure: the average paired change in Dice points, its spread,
    its range and the number of positive differences, e.g.
    ``tailness   mean  +1.2 ± 2.0  [-2.1, +4.0]  8/12 positive``."""
    lines = [f"{'adding':<12}{'Dice':<6}{'change':>8}{'±':>6}   {'range':<16}{'positive':>9}   (points; paired by seed)"]
    for principle in principles:
        effect = principle_effect(grid, principle)
        for measure in ("mean", "head", "tail"):
            s = effect[measure]
            span = f"[{100 * s['low']:+.1f}, {100 * s['high']:+.1f}]"
            lines.append(f"{principle if measure == 'mean' else '':<12}{measure:<6}{100 * s['average']:>+8.1f}"
                         f"{100 * s['spread']:>6.1f}   {span:<16}{s['positive']:>6}/{s['count']}")  # fmt: skip
    return "\n".join(lines)
