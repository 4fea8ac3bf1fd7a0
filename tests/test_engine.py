"""End-to-end training runs on the fast phantom: every method writes its files, resume is
exact, bad input is refused clearly, checkpoints evaluate on other splits and data sets."""
from __future__ import annotations

import csv
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mona_lab.cli import main
from mona_lab.config import METHOD_CHOICES, PAPER_RECIPE, TrainConfig
from mona_lab.errors import MonaLabError

SMALL = [
    "--dataset", "phantom", "--labeled", "2", "--image-size", "32", "--batch-size", "4", "--width", "0.25",
    "--embed-dim", "16", "--num-queries", "16", "--num-negatives", "32", "--no-progress",
]  # fmt: skip


@pytest.fixture(autouse=True)
def fast_phantom(monkeypatch):
    monkeypatch.setenv("MONA_LAB_FAST", "1")


def _train(out: Path, method: str, iterations: int, *extra: str) -> int:
    return main(["train", "--method", method, "--iterations", str(iterations), "--out", str(out), *SMALL, *extra])


def _log_rows(out: Path) -> list[dict]:
    with (out / "log.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("method", METHOD_CHOICES)
def test_every_method_trains_from_the_cli_and_writes_its_files(tmp_path, method, capsys):
    out = tmp_path / method
    assert _train(out, method, 2, "--pretrain-iterations", "2") == 0
    for name in ("config.json", "log.csv", "last.pt", "metrics.json"):
        assert (out / name).is_file(), name
    rows = _log_rows(out)
    config = TrainConfig.load(out / "config.json")
    assert len(rows) == config.total_iterations
    assert all(float(r["total"]) == float(r["total"]) for r in rows)  # finite, logged
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["per_class"]) == {"RV", "Myo", "LV", "PM", "PE"}
    assert 0.0 <= metrics["mean_dice"] <= 1.0
    assert "mean Dice" in capsys.readouterr().out
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == config.total_iterations


def test_stages_are_logged_in_order_with_their_losses(tmp_path):
    out = tmp_path / "mona"
    assert _train(out, "mona", 2, "--pretrain-iterations", "2") == 0
    rows = _log_rows(out)
    assert [r["stage"] for r in rows] == ["glcon", "glcon", "finetune", "finetune"]
    assert rows[0]["inst_global"] and rows[0]["inst_local"] and not rows[0]["contrast"]
    assert rows[-1]["contrast"] and rows[-1]["eqv"] and rows[-1]["nn"] and rows[-1]["unsup"]


def test_action_plus_plus_follows_the_cosine_temperature(tmp_path):
    out = tmp_path / "app"
    assert _train(out, "action++", 4, "--pretrain-iterations", "2") == 0
    taus = [float(r["temperature"]) for r in _log_rows(out) if r["stage"] == "anco"]
    # ATS (ACTION++ Eq. 6) over the 4 fine-tuning steps: 1.0, 0.55, 0.1, 0.55
    assert taus == pytest.approx([1.0, 0.55, 0.1, 0.55], abs=1e-4)


def test_switching_a_principle_off_removes_its_loss(tmp_path):
    out = tmp_path / "ablation"
    assert _train(out, "mona", 2, "--pretrain-iterations", "0", "--without", "consistency", "diversity") == 0
    last = _log_rows(out)[-1]
    assert last["contrast"] and not last["eqv"] and not last["nn"]


def test_unsup_rampup_scales_every_auxiliary_term_but_not_l_sup(tmp_path):
    out = tmp_path / "ramp"
    assert _train(out, "mona", 4, "--pretrain-iterations", "0", "--unsup-rampup", "1.0") == 0
    for step, row in enumerate(_log_rows(out)):
        ramp = math.exp(-5.0 * (1.0 - step / 4) ** 2)  # sigmoid ramp-up over all 4 steps
        aux = 0.01 * float(row["contrast"]) + float(row["eqv"]) + float(row["unsup"]) + float(row["nn"])
        assert float(row["total"]) == pytest.approx(float(row["sup"]) + ramp * aux, rel=1e-4, abs=1e-5)


def test_lr_step_every_divides_the_learning_rate_by_ten_on_schedule(tmp_path):
    out = tmp_path / "step"
    assert _train(out, "supervised", 5, "--lr", "0.05", "--lr-step-every", "2") == 0
    assert [float(r["lr"]) for r in _log_rows(out)] == pytest.approx([0.05, 0.05, 0.005, 0.005, 0.0005])
    with pytest.raises(MonaLabError, match="lr-step-every"):
        TrainConfig(method="supervised", out="x", lr_step_every=0)


def test_weak_student_view_and_mask_weighting_reach_the_config(tmp_path):
    out = tmp_path / "weak"
    args = ("--pretrain-iterations", "0", "--student-labeled-view", "weak", "--unsup-weighting", "mask")
    assert _train(out, "mona", 1, *args) == 0
    config = TrainConfig.load(out / "config.json")
    assert config.strong_labeled is False and config.unsup_weighting == "mask"
    assert TrainConfig(method="mona", out="x").strong_labeled is False  # the working recipe's default
    assert TrainConfig(method="mona", out="x", **PAPER_RECIPE).strong_labeled is True  # the papers' recipe
    with pytest.raises(MonaLabError, match="unsup-rampup"):
        TrainConfig(method="mona", out="x", unsup_rampup=1.5)
    with pytest.raises(MonaLabError, match="unsup weighting 'soft'"):
        TrainConfig(method="mona", out="x", unsup_weighting="soft")


def test_bn_statistics_and_optimizer_flags_reach_the_config_and_train(tmp_path):
    out = tmp_path / "flags"
    args = ("--pretrain-iterations", "0", "--bn-statistics", "all", "--optimizer", "adamw", "--lr", "0.001")
    assert _train(out, "mona", 2, *args) == 0
    config = TrainConfig.load(out / "config.json")
    assert (config.bn_statistics, config.optimizer, config.unsup_weighting) == ("all", "adamw", "dice_ce")
    assert config.recipe == "custom"
    with pytest.raises(MonaLabError, match="bn statistics 'some'"):
        TrainConfig(method="mona", out="x", bn_statistics="some")
    with pytest.raises(MonaLabError, match="optimizer 'adam'"):
        TrainConfig(method="mona", out="x", optimizer="adam")


def test_resume_is_exact(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    common = ("--pretrain-iterations", "2", "--checkpoint-every", "1")
    assert _train(straight, "mona", 4, *common) == 0
    assert _train(split, "mona", 1, *common) == 0  # 2 GLCon + 1 fine-tuning iterations
    assert _train(split, "mona", 4, *common, "--resume") == 0
    a = json.loads((straight / "metrics.json").read_text())
    b = json.loads((split / "metrics.json").read_text())
    assert a.pop("cpu_seconds") > 0 and b.pop("cpu_seconds") > 0  # time differs, nothing else
    assert a == b
    dynamics = [(d / "dynamics.csv").read_text() for d in (straight, split)]
    assert dynamics[0] == dynamics[1]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "val_mean_dice"} for r in rows]  # noqa: E731
    assert strip(_log_rows(straight)) == strip(_log_rows(split))


def test_existing_out_without_resume_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "supervised", 1) == 0
    assert _train(out, "supervised", 1) == 2
    assert "already exists" in capsys.readouterr().err


def test_resume_with_another_config_lists_the_differences(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "supervised", 1) == 0
    assert _train(out, "supervised", 2, "--resume", "--lr", "0.5", "--seed", "3") == 2
    err = capsys.readouterr().err
    assert "lr: 0.01 -> 0.5" in err and "seed: 0 -> 3" in err


def test_unknown_method_and_dataset_name_the_choices(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--method", "monaa", "--labeled", "1", "--iterations", "1", "--out", str(tmp_path / "x")])
    assert "supervised" in capsys.readouterr().err
    with pytest.raises(MonaLabError, match="choose one of supervised"):
        TrainConfig(method="monaa", out="x")
    with pytest.raises(MonaLabError, match="phantom, acdc, nifti"):
        TrainConfig(method="mona", dataset="brats", out="x")


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    from mona_lab.methods.supervised import Supervised

    original = Supervised.compute_losses

    def poisoned(self, li, ll, ui, ctx):
        losses = original(self, li, ll, ui, ctx)
        if ctx.step == 3:
            losses["total"] = losses["total"] * float("nan")
        return losses

    monkeypatch.setattr(Supervised, "compute_losses", poisoned)
    out = tmp_path / "nan"
    assert _train(out, "supervised", 6, "--checkpoint-every", "2") == 2
    err = capsys.readouterr().err
    assert "non-finite at iteration 3" in err and "last.pt" in err
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 2
    assert not (out / "metrics.json").exists()


def test_evaluate_runs_a_checkpoint_on_val_and_test(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "supervised", 2) == 0
    capsys.readouterr()
    for split in ("val", "test"):
        assert main(["evaluate", "--checkpoint", str(out / "last.pt"), "--dataset", "phantom", "--split", split, "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["split"] == split and summary["num_volumes"] > 0
    val = json.loads((out / "metrics.json").read_text())
    assert main(["evaluate", "--checkpoint", str(out / "last.pt"), "--dataset", "phantom", "--split", "val", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mean_dice"] == pytest.approx(val["mean_dice"])


def test_evaluate_refuses_a_data_set_with_other_classes(tmp_path, acdc_root, capsys):
    out = tmp_path / "run"
    assert _train(out, "supervised", 1) == 0
    code = main(["evaluate", "--checkpoint", str(out / "last.pt"), "--dataset", "acdc", "--root", str(acdc_root)])
    assert code == 2 and "classes" in capsys.readouterr().err


def test_evaluate_on_acdc_validation_volumes(tmp_path, acdc_root, capsys):
    out = tmp_path / "acdc"
    code = main(
        ["train", "--method", "supervised", "--dataset", "acdc", "--root", str(acdc_root), "--labeled", "1",
         "--iterations", "1", "--image-size", "32", "--width", "0.25", "--out", str(out), "--no-progress"]
    )  # fmt: skip
    assert code == 0
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out / "last.pt"), "--dataset", "acdc", "--root", str(acdc_root), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["num_volumes"] == 20 and set(summary["per_class"]) == {"RV", "Myo", "LV"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_run_with_gloo(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "MONA_LAB_FAST": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}", "-m", "mona_lab.cli", "train", "--method", "mona", "--iterations", "2",
        "--pretrain-iterations", "1", "--device", "cpu", "--out", str(out), *SMALL,
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(_log_rows(out)) == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_volumes"] == len(metrics["volumes"]) > 1  # gathered from both processes
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 3
