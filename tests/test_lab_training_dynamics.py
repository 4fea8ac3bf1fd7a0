"""Notebook 09's tools (mona_lab.lab.training_dynamics) and benchmarks/dynamics_runs.py."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from mona_lab.errors import MonaLabError  # noqa: E402
from mona_lab.lab import training_dynamics as td  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def test_scale_invariance_demo_numbers():
    rows = td.scale_invariance_demo(scales=(1.0, 2.0, 4.0), lr=0.1, seed=0)
    base = rows[0]
    for row in rows:
        assert row["output_change"] < 1e-9  # BN output independent of the weight's scale
        assert abs(row["cos_grad_w"]) < 1e-9  # gradient orthogonal to w
        assert row["scale_times_grad"] == pytest.approx(base["grad_norm"], rel=1e-9)  # g(a w) = g(w) / a
        assert row["norm_after_step"] == pytest.approx(row["predicted_norm"], rel=1e-12)  # the step only grows |w|
        assert row["norm_after_step"] > row["w_norm"]
        # the direction turns lr |g| / |w| = lr |g(w0)| / (a^2 |w0|): effective lr ~ 1 / |w|^2
        assert row["turn"] * row["scale"] ** 2 == pytest.approx(base["turn"], rel=1e-3)
    assert rows[1]["grad_norm"] == pytest.approx(rows[0]["grad_norm"] / 2, rel=1e-9)


def test_scale_invariance_demo_rejects_bad_input():
    with pytest.raises(ValueError, match="scales"):
        td.scale_invariance_demo(scales=(1.0, -2.0))
    with pytest.raises(ValueError, match="lr"):
        td.scale_invariance_demo(lr=0.0)


def test_instance_logit_demo_grows_as_one_over_tau():
    rows = td.instance_logit_demo(temperatures=(1.0, 0.1, 0.01))
    for row in rows:
        assert row["max_abs_logit"] <= 1.0 / row["tau"] + 1e-9
    assert rows[1]["max_abs_logit"] == pytest.approx(10 * rows[0]["max_abs_logit"])
    assert rows[2]["top_probability"] > 0.99 > rows[0]["top_probability"]
    assert rows[2]["grad_norm"] > 10 * rows[0]["grad_norm"]
    with pytest.raises(ValueError, match="temperatures"):
        td.instance_logit_demo(temperatures=(0.0,))


def _dynamics(shares_at_end):
    return {
        "step": [0.0, 10.0], "stage": ["finetune", "finetune"],
        "weight_norm@first_conv": [1.0, 2.0], "bn_running_var@bottleneck": [0.5, 3.0],
        "grad@bottleneck_conv:sup": [1.0, shares_at_end[0]], "grad@bottleneck_conv:nn": [0.0, shares_at_end[1]],
    }  # fmt: skip


def test_gradient_shares_and_summary():
    dyn = _dynamics((1.0, 3.0))
    shares = td.gradient_shares(dyn, "bottleneck_conv")
    assert shares["sup"].tolist() == [1.0, 0.25]
    assert shares["nn"].tolist() == [0.0, 0.75]
    with pytest.raises(KeyError, match="classifier"):
        td.gradient_shares(dyn, "classifier")
    summary = td.run_summary({"dynamics": dyn, "metrics": {"mean_dice": 0.5}})
    assert summary["|w| first_conv"] == (1.0, 2.0)  # initialisation -> last row
    assert summary["BN var bottleneck"] == (0.5, 3.0)
    assert summary["share nn"] == pytest.approx(0.375)
    assert summary["mean Dice"] == 0.5
    assert "first_conv" in td.format_summary(summary)
    with pytest.raises(MonaLabError, match="glcon"):
        td.run_summary({"dynamics": dyn, "metrics": {"mean_dice": 0.5}}, stage="glcon")


def test_stage_rows_table_lists_the_stage_rows():
    dyn = _dynamics((1.0, 3.0))
    dyn["weight_norm@bottleneck_conv"] = [4.0, 5.0]
    text = td.stage_rows_table({"dynamics": dyn}, "finetune", count=1)
    lines = text.splitlines()
    assert len(lines) == 2 and "share sup" in lines[0] and "share nn" not in lines[0]  # nn is 0 in row 0
    assert lines[1].split() == ["0", "4.000", "0.500", "1.000"]
    with pytest.raises(MonaLabError, match="stages"):
        td.stage_rows_table({"dynamics": dyn}, "glcon")


def test_acdc_recipe_runs_reads_the_stored_benchmark(tmp_path):
    runs = td.acdc_recipe_runs(REPO / "benchmarks" / "results" / "acdc_reduced.json")
    assert set(runs) == {"mona@working", "mona@paper"}
    assert "--recipe paper" in runs["mona@paper"]["command"] and "--recipe" not in runs["mona@working"]["command"]
    assert td.run_summary(runs["mona@paper"], stage="finetune")["mean Dice"] > 0
    empty = tmp_path / "acdc.json"
    empty.write_text(json.dumps({"runs": {}}))
    with pytest.raises(MonaLabError, match="no dynamics"):
        td.acdc_recipe_runs(empty)


def test_load_dynamics_study_checks_the_file(tmp_path):
    with pytest.raises(MonaLabError, match="does not exist"):
        td.load_dynamics_study(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(MonaLabError, match="not valid JSON"):
        td.load_dynamics_study(bad)
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"format": 1, "meta": {}, "runs": {"a": {"command": "x"}}}))
    with pytest.raises(MonaLabError, match="lacks"):
        td.load_dynamics_study(incomplete)


def test_stored_study_is_readable_and_records_its_commands():
    study = td.load_dynamics_study(REPO / "notebooks" / "results" / td.STUDY_FILE)
    assert {"supervised", "mona@working", "mona@paper"} <= set(study["runs"])
    seeds = {run["seed"] for run in study["runs"].values()}
    assert len(seeds) == 1  # same seed for every run
    for name, run in study["runs"].items():
        assert "mona-lab train" in run["command"] and f"--seed {run['seed']}" in run["command"]
        assert run["cpu_seconds"] > 0
        assert len(run["dynamics"]["step"]) >= 2
    assert "--recipe paper" in study["runs"]["mona@paper"]["command"]


@pytest.fixture(scope="module")
def fast_data():
    from mona_lab.data import load_dataset

    return load_dataset("phantom", image_size=64, fast=True, seed=0)


def test_dynamics_callback_runs_and_draws(fast_data):
    fig, axes = plt.subplots(1, 2)
    result = td.dynamics_callback(0.05, 1.0, 1.0, data=fast_data, setting=td.panel_setting("fast"), axes=axes)
    assert result["dynamics"]["step"][0] == 0.0
    assert set(result["dynamics"]["stage"]) == {"glcon", "finetune"}
    assert any(k.startswith("share ") for k in result["summary"])
    assert 0.0 <= result["mean_dice"] <= 1.0
    assert len(axes[0].lines) >= 2 and len(axes[1].lines) >= 3
    plt.close(fig)
    with pytest.raises(ValueError, match="lambda_nn"):
        td.dynamics_callback(0.05, -1.0, 1.0, data=fast_data, setting=td.panel_setting("fast"))


def test_panel_setting_grows_with_the_size():
    lengths = [td.panel_setting(s)["iterations"] + td.panel_setting(s)["pretrain_iterations"] for s in ("fast", "lecture", "full")]
    assert lengths == sorted(lengths) and lengths[0] < 10
    with pytest.raises(ValueError, match="size must be one of"):
        td.panel_setting("huge")


def test_dynamics_runs_script_fast_records_commands_seeds_cpu(tmp_path):
    spec = importlib.util.spec_from_file_location("dynamics_runs", REPO / "benchmarks" / "dynamics_runs.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "study.json"
    assert script.main(["--fast", "--out", str(out), "--runs", "supervised", "mona@paper"]) == 0
    study = td.load_dynamics_study(out)
    for name in ("supervised", "mona@paper"):
        run = study["runs"][name]
        assert run["seed"] == 0 and "--seed 0" in run["command"] and "MONA_LAB_FAST=1" in run["command"]
        assert run["cpu_seconds"] > 0 and math.isfinite(run["max_abs_logit"])
        assert run["dynamics"]["step"][0] == 0.0
    before = out.stat().st_mtime_ns, out.read_text()
    assert script.main(["--fast", "--out", str(out), "--runs", "supervised"]) == 0  # finished: not redone
    assert json.loads(out.read_text())["runs"] == json.loads(before[1])["runs"]


def test_dynamics_widget_shows_progress_and_an_estimate_and_blocks_a_second_click(fast_data):
    """Notebook 09's panel: the button is disabled while a run trains, a bar counts its
    iterations, the status gives the expected time (the stored study's cost first, then this
    panel's own runs) and the measured time afterwards."""
    setting = td.panel_setting("fast")
    panel = td.dynamics_widget(fast_data, setting)
    button = panel.children[1].children[1]
    bar, status = panel.children[2].children
    seen = []
    original = td.dynamics_callback

    def watching(*args, **kwargs):  # what the panel shows while the run trains
        seen.append((button.disabled, status.value))
        return original(*args, **kwargs)

    td.dynamics_callback = watching
    try:
        button.click()
        button.click()
    finally:
        td.dynamics_callback = original
        plt.close("all")
    total = setting["iterations"] + setting["pretrain_iterations"]
    assert all(disabled for disabled, _ in seen) and not button.disabled
    assert "training" in seen[0][1] and ("stored study" in seen[0][1] or "no run measured" in seen[0][1])
    assert "1 earlier run(s) here" in seen[1][1]
    assert bar.value == total and status.value.startswith(f"trained {total} iterations in")
