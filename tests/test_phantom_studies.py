"""The phantom studies (benchmarks/phantom_studies.py) and their summaries, text and plot
(mona_lab.lab.phantom_studies)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from mona_lab.errors import MonaLabError  # noqa: E402
from mona_lab.lab.ablation import SUPERVISED_NAME  # noqa: E402
from mona_lab.lab.ablation.grid_study import data_settings  # noqa: E402
from mona_lab.lab.phantom_studies import (  # noqa: E402
    PHANTOM_STUDIES,
    format_phantom_study,
    level_summary,
    load_phantom_study,
    paired_effect,
    plot_phantom_study,
)

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("phantom_studies_script", ROOT / "benchmarks" / "phantom_studies.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _records(runs: Path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/record.json")}


def test_fast_heterogeneity_study_runs_resumes_and_lists_pending_runs(tmp_path, capsys):
    out, runs = tmp_path / "h.json", tmp_path / "runs"
    argv = ["heterogeneity", "--fast", "--workers", "1", "--out", str(out), "--runs", str(runs)]
    payload = _script().main(argv)
    assert json.loads(out.read_text())["metadata"]["command"] == payload["metadata"]["command"]
    meta = payload["metadata"]
    assert meta["complete"] and meta["levels"] == [0.0, 1.0] and meta["seeds"] == [0, 1]
    assert meta["command"] == "python benchmarks/phantom_studies.py " + " ".join(argv)
    assert meta["budget_name"] == "GRID_FAST_BUDGET" and meta["image_size"] == 32
    assert meta["run_cpu_seconds_total"] == pytest.approx(sum(r["cpu_seconds"] for r in payload["runs"]))
    assert set(meta["cpu_seconds_per_run"]) == {"supervised", "core", "mona"}
    # 2 levels x 2 seeds x (supervised, core, MONA), each in its own folder
    first = _records(runs)
    assert len(first) == 12 and len(payload["runs"]) == 12
    for row in payload["runs"]:  # the command that trains it alone, its config and CPU seconds
        assert row["command"].endswith(f"--runs {runs} --workers 1 --only {row['run']}") and row["cpu_seconds"] > 0
        assert row["config"]["image_size"] == 32 and row["study_command"] == meta["command"]
    # the same run at two levels: different settings, different folders
    h0, h1 = (next(r for r in first if r.startswith(f"h{level}-seed0-tcd-")) for level in (0, 1))
    assert h0.rsplit("-", 1)[1] != h1.rsplit("-", 1)[1]
    setup = _script().study_setup(_script().parse_args(argv))
    by_name = {r.name: r for r in setup["runs"]}
    assert by_name["h0-seed0-tcd"].settings["data"]["heterogeneity"] == 0.0
    assert by_name["h1-seed0-tcd"].settings["data"]["heterogeneity"] == 1.0
    # per level: the three methods (mean ± sd, per class, head/tail) and the paired effects
    for block in payload["levels"]:
        assert list(block["methods"]) == ["supervised", "core", "mona"] and block["tail_classes"] == ["PE", "PM"]
        assert {"dice", "dice_std", "mean_dice_std", "head_dice", "tail_dice"} <= set(block["methods"]["mona"])
        pairs = {(e["a"], e["b"], e["measure"]) for e in block["effects"]}
        assert ("mona", "supervised", "mean_dice") in pairs and ("mona", "core", "tail_dice") in pairs
        for effect in block["effects"]:
            assert effect["seeds"] == [0, 1] and effect["n"] == 2 and len(effect["ci95"]) == 2
            assert effect["mean"] == pytest.approx(sum(effect["differences"]) / 2)
            assert effect["ci95"][0] <= effect["mean"] <= effect["ci95"][1]
    capsys.readouterr()

    # the same command again trains nothing
    again = _script().main(argv)
    assert "12 finished, 0 to train" in capsys.readouterr().out and _records(runs) == first
    assert again["levels"] == payload["levels"]

    # a missing run: --stored-only trains nothing and lists it as pending
    victim = next(p for p in runs.iterdir() if p.name.startswith("h1-seed1-vanilla-"))
    (victim / "record.json").unlink()
    partial = _script().main([*argv, "--stored-only"])
    assert not partial["metadata"]["complete"] and partial["metadata"]["missing_runs"] == ["h1-seed1-vanilla"]
    assert partial["metadata"]["pending_commands"][0].endswith("--only h1-seed1-vanilla")
    assert "--stored-only" not in partial["metadata"]["pending_commands"][0]
    assert len(_records(runs)) == 11 and "PENDING: 1 of 12" in capsys.readouterr().out


def test_fast_zipf_study_pairs_core_and_tailness_per_exponent(tmp_path):
    out = tmp_path / "z.json"
    payload = _script().main(["zipf", "--fast", "--workers", "1", "--exponents", "0.5", "2", "--out", str(out),
                              "--runs", str(tmp_path / "runs")])  # fmt: skip
    assert [b["level"] for b in payload["levels"]] == [0.5, 2.0] and payload["metadata"]["fixed_phantom"] == {"heterogeneity": 0.0}
    assert {r["run"].split("-")[0] for r in payload["runs"]} == {"zipf0.5", "zipf2"}
    for block in payload["levels"]:
        assert list(block["methods"]) == ["core", "core + tailness"]
        assert [(e["a"], e["b"], e["measure"]) for e in block["effects"]] == [
            ("core + tailness", "core", "mean_dice"), ("core + tailness", "core", "tail_dice")]
    assert load_phantom_study(out)["levels"] == payload["levels"]


@pytest.mark.parametrize("argv, message", [
    (["zipf", "--fast", "--budget", "NO_SUCH_BUDGET"], "--budget 'NO_SUCH_BUDGET' is neither a budget"),
    (["heterogeneity", "--fast", "--levels", "0", "2.5"], "--levels: 2.5 is outside [0, 2] (PhantomConfig.heterogeneity)"),
    (["heterogeneity", "--fast", "--levels", "-0.5"], "--levels: -0.5 is outside [0, 2]"),
    (["zipf", "--fast", "--exponents", "4.5"], "--exponents: 4.5 is outside [0, 4] (PhantomConfig.zipf_exponent)"),
    (["zipf", "--fast", "--exponents", "1", "1"], "--exponents must differ"),
    (["heterogeneity", "--levels", "0"], "--budget is required"),
])  # fmt: skip
def test_bad_arguments_fail_with_a_message_that_names_them(argv, message, capsys):
    with pytest.raises(SystemExit) as err:
        _script().parse_args(argv)
    assert err.value.code == 2 and message in capsys.readouterr().err


def test_a_lecture_size_candidate_brings_its_phantom_and_overrides():
    script = _script()
    candidates = script.lecture_candidates()
    name = next((n for n, c in candidates.items() if c.overrides), None)
    if name is None:
        pytest.skip("benchmarks/lecture_size.py is absent or has no candidate with TrainConfig overrides")
    setup = script.study_setup(script.parse_args(["zipf", "--budget", name, "--exponents", "2"]))
    run, candidate = setup["runs"][0], candidates[name]
    assert run.settings["data"]["heterogeneity"] == candidate.heterogeneity and run.settings["data"]["zipf_exponent"] == 2.0
    assert run.settings["data"]["patients"] == candidate.patients and run.settings["labeled"] == candidate.labeled
    assert run.settings["job"]["overrides"] == candidate.overrides and run.settings["budget"]["lr"] == candidate.budget.lr


def test_data_settings_without_the_new_fields_keep_the_stored_grid_folders():
    assert data_settings("phantom", 64, 20) == {"name": "phantom", "image_size": 64, "patients": 20, "seed": 0}
    assert data_settings("phantom", 64, 20, heterogeneity=0.5, zipf_exponent=2)["zipf_exponent"] == 2.0
    with pytest.raises(MonaLabError, match="heterogeneity must be a number in \\[0, 2\\]"):
        data_settings("phantom", 64, 20, heterogeneity=3.0)


# ------------------------------------------------------------------ summary, text and plot
def _hand_made_payload():
    """Five seeds: supervised 0.50, MONA 0.51 ... 0.55 (differences 1..5 points: mean 3.0, sd
    1.58, t(0.975, 4) = 2.776, 95 % interval 3.0 -+ 1.96 = [1.04, 4.96])."""
    study = PHANTOM_STUDIES["heterogeneity"]
    rows = []
    for seed in range(5):
        for name, value in ((SUPERVISED_NAME, 0.50), ("vanilla", 0.50), ("tailness + consistency + diversity", 0.51 + 0.01 * seed)):
            rows.append({"name": name, "seed": seed, "mean_dice": value, "mean_asd": 1.0, "cpu_seconds": 2.0,
                         "dice": {"LV": value, "PM": value}, "asd": {"LV": 1.0, "PM": 1.0}})  # fmt: skip
    block = level_summary(study, 0.5, rows, ["background", "LV", "PM"], [0.8, 0.15, 0.05])
    meta = {"title": "hand-made", "budget_name": "B", "seeds": list(range(5)), "class_names": ["background", "LV", "PM"],
            "parameter_label": study.label}  # fmt: skip
    return {"metadata": meta, "levels": [block]}


def test_formatter_prints_each_paired_effect_with_its_interval_and_seeds():
    payload = _hand_made_payload()
    effect = next(e for e in payload["levels"][0]["effects"] if (e["a"], e["b"], e["measure"]) == ("mona", "supervised", "mean_dice"))
    assert effect["mean"] == pytest.approx(3.0) and effect["ci95"] == pytest.approx([1.0367, 4.9633], abs=1e-3)
    text = format_phantom_study(payload)
    line = next(line for line in text.splitlines() if line.strip().startswith("mona - supervised"))
    assert "mean Dice  +3.0 [+1.0, +5.0]" in line and "s0 +1.0  s1 +2.0  s2 +3.0  s3 +4.0  s4 +5.0" in line
    assert "phantom heterogeneity 0.5 (tail: PM)" in text
    with pytest.raises(MonaLabError, match="not a phantom study"):
        format_phantom_study({"runs": []})


def test_paired_effect_needs_the_tail_classes_for_tail_dice():
    with pytest.raises(MonaLabError, match="tail classes"):
        paired_effect([], "a", "b", "tail_dice", method_of={})
    assert paired_effect([], "a", "b", method_of={})["n"] == 0


def test_plot_draws_one_error_bar_series_per_contrast(tmp_path):
    payload = _hand_made_payload()
    ax = plot_phantom_study(payload)
    assert len(ax.containers) == 3 and ax.get_xlabel() == "phantom heterogeneity"
    with pytest.raises(MonaLabError, match="not in this study"):
        plot_phantom_study(payload, measure="head_dice")
    (tmp_path / "x.json").write_text(json.dumps({"levels": []}))
    with pytest.raises(MonaLabError, match="not a phantom study"):
        load_phantom_study(tmp_path / "x.json")
