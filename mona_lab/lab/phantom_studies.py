"""Phantom studies: one phantom setting varied, methods compared paired by seed.

Two studies (``benchmarks/phantom_studies.py`` trains them; `PHANTOM_STUDIES` defines them):

- ``heterogeneity``: does the semi-supervised gain grow with how much patients differ
  (`PhantomConfig.heterogeneity`)? supervised, ``core`` (MONA with its three principles off:
  Table III's "vanilla") and ``mona`` (all three) at each level;
- ``zipf``: does tailness matter more as the tail thins (`PhantomConfig.zipf_exponent`, MONA
  Sec. 3)? ``core`` against ``core + tailness`` at each exponent, with the tail classes' Dice.

At each level the runs of one seed share the labelled patients, so a contrast ``A - B`` is
one difference per seed; `paired_effect` gives its mean, sd and 95 % t interval
(`mona_lab.metrics.paired_interval`) in Dice points, for the mean foreground Dice and for
the tail classes' Dice (the rarest 40 % of the foreground by training pixels,
`mona_lab.lab.ablation.head_and_tail`: PE and PM on the phantom). `level_summary` makes one
level's block of the study's JSON; `format_phantom_study` prints a study for a notebook and
`plot_phantom_study` draws each effect against the level with its interval.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mona_lab.errors import MonaLabError

MEASURES = {"mean_dice": "mean Dice", "tail_dice": "tail Dice", "head_dice": "head Dice"}


@dataclass(frozen=True)
class PhantomStudy:
    """One phantom study: which `PhantomConfig` field it varies and what it compares.

    Attributes:
        name: the study's name (the script's sub-command, ``phantom_<name>.json``).
        parameter: the `PhantomConfig` field varied (``"heterogeneity"``, ``"zipf_exponent"``).
        label: the field as an axis label.
        flag: the script's option that lists the levels.
        bounds: the levels `PhantomConfig` accepts (inclusive).
        levels: default levels; ``fast_levels``: the smoke run's.
        methods: ``{label: (tailness, consistency, diversity)}``; ``None`` is the supervised
            UNet-L baseline.
        contrasts: ``(A, B)`` pairs of method labels, reported as ``A - B`` per seed.
        measures: keys of `MEASURES` each contrast is reported for.
        question: what the study asks, one sentence.
    """

    name: str
    parameter: str
    label: str
    flag: str
    bounds: tuple[float, float]
    levels: tuple[float, ...]
    fast_levels: tuple[float, ...]
    methods: dict[str, tuple[bool, bool, bool] | None]
    contrasts: tuple[tuple[str, str], ...]
    measures: tuple[str, ...] = ("mean_dice", "tail_dice")
    question: str = ""

    def level_prefix(self, level: float) -> str:
        """The run-name prefix of a level: ``"h0.5-"``, ``"zipf2-"``."""
        return f"{'h' if self.parameter == 'heterogeneity' else 'zipf'}{float(level):g}-"


PHANTOM_STUDIES: dict[str, PhantomStudy] = {
    "heterogeneity": PhantomStudy(
        name="heterogeneity", parameter="heterogeneity", label="phantom heterogeneity", flag="--levels",
        bounds=(0.0, 2.0), levels=(0.0, 0.5, 1.0, 1.5), fast_levels=(0.0, 1.0),
        methods={"supervised": None, "core": (False, False, False), "mona": (True, True, True)},
        contrasts=(("core", "supervised"), ("mona", "supervised"), ("mona", "core")),
        question="does the semi-supervised gain grow as patients differ more?",
    ),
    "zipf": PhantomStudy(
        name="zipf", parameter="zipf_exponent", label="Zipf exponent s", flag="--exponents",
        bounds=(0.0, 4.0), levels=(0.5, 1.0, 2.0), fast_levels=(0.5, 2.0),
        methods={"core": (False, False, False), "core + tailness": (True, False, False)},
        contrasts=(("core + tailness", "core"),),
        question="does tailness matter more as the tail thins?",
    ),
}  # fmt: skip


def method_row_name(switches: tuple[bool, bool, bool] | None) -> str:
    """The row name a run of ``switches`` has in its record (`run_ablation_row`):
    ``"supervised (UNet-L)"`` for ``None``, else the paper's combination name (``"vanilla"``...)."""
    from mona_lab.lab.ablation import SUPERVISED_NAME, combination_name

    return SUPERVISED_NAME if switches is None else combination_name(*switches)


def _finite_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def paired_effect(
    rows: Sequence[Mapping[str, Any]],
    a: str,
    b: str,
    measure: str = "mean_dice",
    *,
    method_of: Mapping[str, str],
    head: Sequence[str] = (),
    tail: Sequence[str] = (),
) -> dict[str, Any]:
    """``A - B`` in Dice points, paired by seed, with its mean, sd and 95 % t interval.

    Args:
        rows: run rows of one level (each with ``name``, ``seed``, ``mean_dice`` and ``dice``
            {class: value}).
        a, b: method labels (values of ``method_of``).
        measure: ``"mean_dice"`` (the row's mean foreground Dice), ``"tail_dice"`` or
            ``"head_dice"`` (the mean Dice over ``tail`` / ``head`` classes).
        method_of: ``{row name: method label}``.
        head, tail: class names (needed for the head / tail measures).

    Returns:
        ``{"a", "b", "measure", "unit", "seeds", "differences", "mean", "sd", "n", "ci95"}``
        over the seeds both methods have (``n = 0``: none, all statistics ``None``; one seed:
        sd and interval ``None``).

    Raises:
        MonaLabError: an unknown measure, or a head / tail measure without its classes.
    """
    from mona_lab.metrics import paired_interval

    if measure not in MEASURES:
        raise MonaLabError(f"measure must be one of {list(MEASURES)}, got {measure!r}")
    classes = {"head_dice": head, "tail_dice": tail}.get(measure)
    if classes is not None and not classes:
        raise MonaLabError(f"measure {measure!r} needs the {measure.split('_')[0]} classes; got none")

    def value(row: Mapping[str, Any]) -> float:
        if classes is None:
            return float(row["mean_dice"])
        return sum(float(row["dice"][c]) for c in classes) / len(classes)

    by_method: dict[str, dict[int, float]] = {}
    for row in rows:
        label = method_of.get(row["name"])
        if label is not None:
            by_method.setdefault(label, {})[int(row["seed"])] = value(row)
    first, second = by_method.get(a, {}), by_method.get(b, {})
    seeds = sorted(set(first) & set(second))
    differences = [100.0 * (first[s] - second[s]) for s in seeds]
    effect: dict[str, Any] = {"a": a, "b": b, "measure": measure, "unit": "Dice points", "seeds": seeds,
                              "differences": differences}  # fmt: skip
    if not differences:
        return {**effect, "mean": None, "sd": None, "n": 0, "ci95": [None, None]}
    stats = paired_interval(differences)
    return {**effect, "mean": _finite_or_none(stats["mean"]), "sd": _finite_or_none(stats["sd"]), "n": stats["n"],
            "ci95": [_finite_or_none(v) for v in stats["ci95"]]}  # fmt: skip


def level_summary(
    study: PhantomStudy,
    level: float,
    rows: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
    class_fractions: Sequence[float],
) -> dict[str, Any]:
    """One level's block of a study's JSON.

    Args:
        study: the study.
        level: the value of ``study.parameter``.
        rows: the finished runs of this level (rows of `mona_lab.lab.ablation.grid_study.grid_record_row`).
        class_names: C names, background first; ``class_fractions``: their training pixel
            fractions (what `head_and_tail` splits on).

    Returns:
        ``{"level", "head_classes", "tail_classes", "class_fractions", "methods" {label:
        mean ± sd over seeds of the mean, per-class, head and tail Dice
        (`mona_lab.lab.ablation.summarise_grid`, sd with ddof 0) and the mean CPU seconds},
        "effects" [one `paired_effect` per contrast and measure]}``.
    """
    from mona_lab.lab.ablation import head_and_tail, summarise_grid

    head, tail = head_and_tail(list(class_names), list(class_fractions))
    method_of = {method_row_name(s): label for label, s in study.methods.items()}
    mine = [r for r in rows if r["name"] in method_of]
    methods = {}
    for entry in summarise_grid(mine, head, tail):
        label = method_of[entry["name"]]
        cpu = [float(r["cpu_seconds"]) for r in mine if r["name"] == entry["name"] and "cpu_seconds" in r]
        methods[label] = {**entry, "method": label, "cpu_seconds": sum(cpu) / len(cpu) if cpu else None}
    methods = {label: methods[label] for label in study.methods if label in methods}  # the study's order
    effects = [paired_effect(mine, a, b, measure, method_of=method_of, head=head, tail=tail)
               for a, b in study.contrasts for measure in study.measures]  # fmt: skip
    return {"level": float(level), "head_classes": head, "tail_classes": tail,
            "class_fractions": dict(zip(class_names, map(float, class_fractions))), "methods": methods,
            "effects": effects}  # fmt: skip


def load_phantom_study(path: str | Path) -> dict[str, Any]:
    """A stored phantom study (``benchmarks/results/phantom_<study>.json``).

    Raises:
        MonaLabError: the file is missing, not JSON, or not written by benchmarks/phantom_studies.py.
    """
    from mona_lab.lab.run_records import read_json_file

    payload = read_json_file(path, "phantom study", "make it with: python benchmarks/phantom_studies.py")
    _check_payload(payload, str(path))
    return payload


def _check_payload(payload: Any, where: str = "payload") -> None:
    if not isinstance(payload, Mapping) or "metadata" not in payload or "levels" not in payload:
        raise MonaLabError(f"{where} is not a phantom study (it needs 'metadata' and 'levels'); "
                           "write one with python benchmarks/phantom_studies.py")  # fmt: skip


def _interval(effect: Mapping[str, Any]) -> str:
    """``+x.x [low, high]`` (points), or why there is no interval."""
    if effect.get("mean") is None:
        return "no paired seeds"
    low, high = effect["ci95"]
    if low is None:
        return f"{effect['mean']:+.1f} [one seed: no interval]"
    return f"{effect['mean']:+.1f} [{low:+.1f}, {high:+.1f}]"


def format_phantom_study(payload: Mapping[str, Any]) -> str:
    """A phantom study as text: one block per level with each method's mean ± sd over seeds
    (mean Dice, Dice per class, head and tail Dice) and each paired effect ``A - B`` as
    ``+x.x [low, high]`` (Dice points, 95 % t interval) with its per-seed values ``s0 +1.2 ...``.

    Raises:
        MonaLabError: not a phantom study payload (no ``metadata`` / ``levels``).
    """
    _check_payload(payload)
    meta = payload["metadata"]
    label = meta.get("parameter_label", meta.get("parameter", "level"))
    lines = [f"{meta.get('title', 'phantom study')} (budget {meta.get('budget_name', '?')}, seeds "
             f"{' '.join(map(str, meta.get('seeds', [])))}; effects in Dice points, paired by seed, 95 % t interval)"]  # fmt: skip
    if meta.get("missing_runs"):
        lines.append(f"INCOMPLETE: {len(meta['missing_runs'])} runs pending")
    for block in payload["levels"]:
        first = next(iter(block["methods"].values()), {"dice": {}})
        classes = list(meta.get("class_names", [])[1:]) or list(first["dice"])
        lines.append(f"\n{label} {block['level']:g} (tail: {', '.join(block['tail_classes'])})")
        width = max([17, *(len(m) + 2 for m in block["methods"])])
        lines.append("  " + f"{'method':<{width}}" + "".join(f"{c:>6}" for c in classes)
                     + f"{'head':>6}{'tail':>6}{'mean Dice':>11}{'±':>7}{'seeds':>7}")  # fmt: skip
        for name, m in block["methods"].items():
            cells = "".join(f"{m['dice'][c]:>6.2f}" for c in classes)
            lines.append(f"  {name:<{width}}{cells}{m.get('head_dice', float('nan')):>6.2f}"
                         f"{m.get('tail_dice', float('nan')):>6.2f}{m['mean_dice']:>11.3f}{m['mean_dice_std']:>7.3f}"
                         f"{len(m['seeds']):>7}")  # fmt: skip
        effect_width = max([width, *(len(f"{e['a']} - {e['b']}") + 2 for e in block["effects"])])
        previous = None
        for effect in block["effects"]:
            contrast = f"{effect['a']} - {effect['b']}"
            seeds = "  ".join(f"s{s} {d:+.1f}" for s, d in zip(effect["seeds"], effect["differences"]))
            shown = "" if contrast == previous else contrast  # the contrast once, then its other measures
            lines.append(f"  {shown:<{effect_width}}{MEASURES[effect['measure']]:<11}{_interval(effect):<30}{seeds}")
            previous = contrast
    return "\n".join(lines)


def plot_phantom_study(payload: Mapping[str, Any], measure: str = "mean_dice", ax=None):
    """Each paired effect of ``measure`` against the level: the mean over seeds (Dice points)
    with its 95 % t interval as error bars (a point alone where one seed gives no interval).

    Returns:
        the matplotlib Axes.

    Raises:
        MonaLabError: not a phantom study, or a ``measure`` the study does not report.
    """
    from mona_lab.lab.viz.common import axes_or_new

    _check_payload(payload)
    meta = payload["metadata"]
    found = {e["measure"] for block in payload["levels"] for e in block["effects"]}
    if measure not in found:
        raise MonaLabError(f"measure {measure!r} is not in this study; it reports {sorted(found)}")
    ax = axes_or_new(ax)
    contrasts = list(dict.fromkeys((e["a"], e["b"]) for block in payload["levels"] for e in block["effects"]))
    levels = [block["level"] for block in payload["levels"]]
    step = min((b - a for a, b in zip(levels, levels[1:])), default=1.0) or 1.0
    for i, (a, b) in enumerate(contrasts):
        shift = (i - (len(contrasts) - 1) / 2) * 0.06 * step  # side by side, not on top of each other
        xs, ys, lows, highs = [], [], [], []
        for block in payload["levels"]:
            effect = next((e for e in block["effects"] if (e["a"], e["b"], e["measure"]) == (a, b, measure)), None)
            if effect is None or effect["mean"] is None:
                continue
            low, high = effect["ci95"]
            xs.append(block["level"] + shift)
            ys.append(effect["mean"])
            lows.append(0.0 if low is None else effect["mean"] - low)
            highs.append(0.0 if high is None else high - effect["mean"])
        ax.errorbar(xs, ys, yerr=[lows, highs], marker="o", capsize=4, label=f"{a} - {b}")
    ax.axhline(0.0, color="0.5", linewidth=0.8, linestyle="--")
    ax.set_xlabel(meta.get("parameter_label", "level"))
    ax.set_ylabel(f"{MEASURES[measure]}: paired difference (points)")
    ax.set_title(f"{meta.get('title', 'phantom study')}\n(mean over {len(meta.get('seeds', []))} seeds, 95 % t interval)",
                 fontsize=10)  # fmt: skip
    ax.legend(fontsize=8)
    return ax


__all__ = [
    "MEASURES",
    "PHANTOM_STUDIES",
    "PhantomStudy",
    "format_phantom_study",
    "level_summary",
    "load_phantom_study",
    "method_row_name",
    "paired_effect",
    "plot_phantom_study",
]
