"""The ablation bookkeeping (mona_lab.lab.ablation), the principle inspectors (mona_lab.lab.principles),
the grid script (benchmarks/ablation_grid.py) and the stored grid the notebooks read."""
from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mona_lab.lab.ablation import (
    COMBINATIONS,
    DEFAULT_ACDC_GRID_PATH,
    DEFAULT_GRID_PATH,
    DIAGNOSTIC_NO_UNSUP,
    PAPER_TABLE_III,
    PAPER_TABLE_VI_MONA,
    SUPERVISED_NAME,
    combination_name,
    format_grid_rows,
    grid_comparison,
    grid_jobs,
    head_and_tail,
    load_grid,
    rank_agreement,
    seed_gaps,
    summarise_grid,
)
from mona_lab.errors import MonaLabError

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ names and paper numbers
def test_combinations_are_the_eight_rows_of_table_iii_in_order():
    assert len(set(COMBINATIONS)) == 8
    names = [combination_name(*c) for c in COMBINATIONS]
    assert names == list(PAPER_TABLE_III)
    assert names[0] == "vanilla" and names[-1] == "tailness + consistency + diversity"


def test_paper_table_iii_is_the_mona_block_of_table_vi_at_five_percent():
    assert PAPER_TABLE_III == PAPER_TABLE_VI_MONA["5%"]
    # spot checks against the printed tables (TPAMI 2024 Table III / VI)
    assert PAPER_TABLE_III["vanilla"] == (74.2, 3.89)
    assert PAPER_TABLE_III["tailness + consistency + diversity"] == (88.8, 0.622)
    assert PAPER_TABLE_VI_MONA["1%"]["diversity"] == (62.8, 3.97)
    assert PAPER_TABLE_VI_MONA["10%"]["tailness + diversity"] == (89.5, 0.673)
    for ratio in PAPER_TABLE_VI_MONA.values():  # all three principles beat vanilla in the paper
        assert ratio["tailness + consistency + diversity"][0] > ratio["vanilla"][0]


def test_grid_jobs_cover_every_combination_and_seed_once():
    assert len(grid_jobs([0, 1], include_diagnostics=True)) == 2 * 10
    jobs = grid_jobs([0, 1])
    assert len(jobs) == 2 * 9
    keys = {(j["method"], j["tailness"], j["consistency"], j["diversity"], j["seed"]) for j in jobs}
    assert len(keys) == len(jobs)
    assert sum(j["method"] == "supervised" for j in jobs) == 2


# ------------------------------------------------------------------ head / tail
def test_head_and_tail_split_by_frequency():
    names = ["background", "RV", "Myo", "LV", "PM", "PE"]
    head, tail = head_and_tail(names, [0.95, 0.0075, 0.0089, 0.0184, 0.004, 0.0047])
    assert head == ["LV", "Myo", "RV"] and tail == ["PE", "PM"]
    head, tail = head_and_tail(["background", "RV", "Myo", "LV"], [0.962, 0.0118, 0.0133, 0.0129])
    assert head == ["Myo", "LV"] and tail == ["RV"]


def test_head_and_tail_reject_bad_input():
    with pytest.raises(ValueError, match="shape"):
        head_and_tail(["background", "a", "b"], [0.9, 0.1])
    with pytest.raises(ValueError, match="two foreground"):
        head_and_tail(["background", "a"], [0.9, 0.1])


# ------------------------------------------------------------------ summaries
def _fake_run(name, seed, dice):
    return {"name": name, "seed": seed, "mean_dice": float(np.mean(list(dice.values()))), "mean_asd": 10.0 - seed,
            "dice": dice, "asd": {k: 1.0 for k in dice}}  # fmt: skip


def _fake_grid():
    runs = []
    for rank, combo in enumerate(COMBINATIONS):
        for seed in (0, 1):
            base = 0.1 + 0.05 * rank + 0.01 * seed
            runs.append(_fake_run(combination_name(*combo), seed, {"LV": base + 0.2, "PM": base}))
    runs.append(_fake_run(SUPERVISED_NAME, 0, {"LV": 0.5, "PM": 0.0}))
    return {"metadata": {}, "runs": runs, "summary": summarise_grid(runs, ["LV"], ["PM"])}


def test_summary_averages_seeds_and_keeps_table_order():
    summary = _fake_grid()["summary"]
    assert [s["name"] for s in summary] == [SUPERVISED_NAME] + [combination_name(*c) for c in COMBINATIONS]
    vanilla = summary[1]
    assert vanilla["seeds"] == [0, 1]
    assert vanilla["dice"]["PM"] == pytest.approx(0.105)
    assert vanilla["dice_std"]["PM"] == pytest.approx(0.005)
    assert vanilla["mean_asd"] == pytest.approx(9.5)
    assert vanilla["head_dice"] == pytest.approx(0.305) and vanilla["tail_dice"] == pytest.approx(0.105)


def test_comparison_measures_gains_from_vanilla_and_pairs_paper_rows():
    rows = grid_comparison(_fake_grid())
    by_name = {r["name"]: r for r in rows}
    assert by_name["vanilla"]["dice_gain"] == pytest.approx(0.0)
    full = by_name["tailness + consistency + diversity"]
    assert full["dice_gain"] == pytest.approx(100 * 7 * 0.05)
    assert full["paper_dice"] == 88.8 and full["paper_gain"] == pytest.approx(88.8 - 74.2)
    assert by_name[SUPERVISED_NAME]["paper_dice"] is None
    with pytest.raises(ValueError, match="paper_ratio"):
        grid_comparison(_fake_grid(), "3%")


def test_rank_agreement_is_one_for_the_same_order_and_minus_one_for_the_reverse():
    rows = [{"dice": d, "paper_dice": p} for d, p in zip([1, 2, 3, 4], [10, 20, 30, 40])]
    assert rank_agreement(rows) == pytest.approx(1.0)
    rows = [{"dice": d, "paper_dice": p} for d, p in zip([4, 3, 2, 1], [10, 20, 30, 40])]
    assert rank_agreement(rows) == pytest.approx(-1.0)
    assert math.isnan(rank_agreement([{"dice": 1, "paper_dice": 3}, {"dice": 1, "paper_dice": 4}]))


def test_load_grid_names_the_missing_file(tmp_path):
    with pytest.raises(MonaLabError, match="ablation_grid.py"):
        load_grid(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text(json.dumps({"runs": []}))
    with pytest.raises(MonaLabError, match="lacks"):
        load_grid(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text(json.dumps([1, 2]))
    with pytest.raises(MonaLabError, match="list.json is not a JSON object"):
        load_grid(tmp_path / "list.json")


def _two_row_grid():
    runs = [{"name": name, "seed": seed, "dice": {"RV": d, "LV": d + 0.2}, "mean_dice": d + 0.1,
             "asd": {"RV": 1.0, "LV": 1.0}, "mean_asd": 1.0}
            for name, base in (("a", 0.5), ("b", 0.3)) for seed, d in ((0, base), (1, base + 0.1), (2, base - 0.1))
            if not (name == "b" and seed == 2)]  # fmt: skip
    return {"runs": runs, "summary": summarise_grid(runs, ["LV"], ["RV"])}


def test_seed_gaps_pair_rows_by_seed_and_skip_unpaired_seeds():
    gaps = seed_gaps(_two_row_grid(), "a", "b")
    assert list(gaps) == [0, 1] and gaps[0] == pytest.approx(20.0) and gaps[1] == pytest.approx(20.0)
    assert seed_gaps(_two_row_grid(), "a", "missing row") == {}


def test_format_grid_rows_prints_each_class_head_tail_and_spread_and_skips_absent_rows():
    text = format_grid_rows(_two_row_grid(), ["b", "not in this grid", "a"])
    header, b_line, a_line = text.splitlines()
    assert header.split() == ["run", "RV", "LV", "head", "tail", "mean", "±"]
    assert b_line.split()[0] == "b" and a_line.split()[0] == "a"
    # a: RV 0.5 / 0.6 / 0.4 -> 0.50, LV 0.70, mean 0.600 with population sd over seeds 0.082
    assert a_line.split()[1:] == ["0.50", "0.70", "0.70", "0.50", "0.600", "0.082"]
    with pytest.raises(MonaLabError, match="none of"):
        format_grid_rows(_two_row_grid(), ["x"])


# ------------------------------------------------------------------ the stored grid
@pytest.mark.parametrize("dataset", ["phantom", "acdc"])
def test_stored_grid_has_every_combination_with_three_seeds_and_every_class(dataset):
    grid = load_grid(DEFAULT_GRID_PATH if dataset == "phantom" else DEFAULT_ACDC_GRID_PATH)
    meta = grid["metadata"]
    assert not meta["fast"] and len(meta["seeds"]) >= 3 and meta["complete"] and meta["dataset"] == dataset
    assert meta["runs_folder"] == f"benchmarks/runs/ablation_grid_{dataset}"  # reruns on any checkout
    for run in grid["runs"]:  # each run's own command trains it alone, from the repository root
        assert run["command"].startswith("python benchmarks/ablation_grid.py") and f"--only seed{run['seed']}-" in run["command"]
        assert f"--runs benchmarks/runs/ablation_grid_{dataset}" in run["command"] and run["cpu_seconds"] > 0
        assert ("--dataset acdc" in run["command"]) == (dataset == "acdc")
        assert run["out"].startswith(f"benchmarks/runs/ablation_grid_{dataset}/")  # no session's absolute path
    if dataset == "acdc":  # MONA's setting: 3 labelled patients, the 20 validation volumes
        assert meta["labeled_patients"] == 3 and meta["num_val_volumes"] == 20
    for key in ("created", "mona_lab_version", "budget", "wall_seconds", "class_names"):
        assert key in meta
    foreground = meta["class_names"][1:]
    names = [combination_name(*c) for c in COMBINATIONS]
    for name in names:
        runs = [r for r in grid["runs"] if r["name"] == name]
        assert sorted(r["seed"] for r in runs) == sorted(meta["seeds"]), name
        for run in runs:
            assert list(run["dice"]) == foreground and list(run["asd"]) == foreground
            assert run["mean_dice"] == pytest.approx(np.mean([run["dice"][c] for c in foreground]))
            assert run["iterations"] == meta["budget"]["iterations"]
    assert [s["name"] for s in grid["summary"] if s["name"] in names] == names
    assert grid["comparison"] == json.loads(json.dumps(grid_comparison(grid)))


# ------------------------------------------------------------------ the grid script
def _grid_script():
    spec = importlib.util.spec_from_file_location("ablation_grid_script", ROOT / "benchmarks" / "ablation_grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stable(grid):
    """The grid without what changes from one call to the next (the time of writing, this call's wall time)."""
    grid = json.loads(json.dumps(grid))
    for key in ("created", "wall_seconds"):
        grid["metadata"].pop(key)
    return grid


def test_grid_script_smoke_run_writes_a_complete_grid_and_resumes(tmp_path, capsys):
    out, runs = tmp_path / "grid.json", tmp_path / "runs"
    argv = ["--fast", "--workers", "1", "--out", str(out), "--runs", str(runs)]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ablation_grid.py"), *argv],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    grid = load_grid(out)
    meta = grid["metadata"]
    assert meta["fast"] and meta["seeds"] == [0] and meta["complete"] and meta["missing_runs"] == []
    assert meta["command"] == "python benchmarks/ablation_grid.py " + " ".join(argv)
    expected = {SUPERVISED_NAME, DIAGNOSTIC_NO_UNSUP} | {combination_name(*c) for c in COMBINATIONS}
    assert {r["name"] for r in grid["runs"]} == expected
    diagnostic = next(r for r in grid["runs"] if r["name"] == DIAGNOSTIC_NO_UNSUP)
    assert diagnostic["overrides"] == {"lambda_unsup": 0.0} and "unsup" in diagnostic["loss_components"]
    for run in grid["runs"]:  # each run: its own command, seed, config (the working recipe) and CPU seconds
        assert run["command"].endswith(f"--runs {runs} --workers 1 --only {run['out'].split('/')[-2].rsplit('-', 1)[0]}")
        assert run["seed"] == 0 and run["cpu_seconds"] > 0 and run["threads"] == 1
        assert run["recipe"] == "working" and run["config"]["seed"] == 0 and "out" not in run["config"]
    supervised = next(r for r in grid["runs"] if r["name"] == SUPERVISED_NAME)
    assert supervised["config"]["batch_size"] == grid["runs"][1]["config"]["batch_size"] == 6  # fast budget: one batch
    assert meta["run_cpu_seconds_total"] == pytest.approx(sum(r["cpu_seconds"] for r in grid["runs"]))
    assert {"head_dice_std", "tail_dice_std", "dice_std"} <= set(grid["summary"][0])
    assert "paper Dice" in done.stdout and str(out) in done.stdout
    assert not list(tmp_path.glob(".grid.json.*"))  # the temporary file of the atomic write is gone
    assert len(list(runs.glob("*/record.json"))) == 10

    # the same command again trains nothing and writes the same grid
    first = json.loads(out.read_text())
    again = _grid_script().main(argv)
    assert "10 finished, 0 to train" in capsys.readouterr().out
    assert _stable(again) == _stable(first) == _stable(json.loads(out.read_text()))

    # a partial set of runs: the grid says which are missing
    vanilla = next(p for p in runs.iterdir() if p.name.startswith("seed0-vanilla-"))
    (vanilla / "record.json").unlink()
    partial = _grid_script().main([*argv, "--assemble"])
    assert not partial["metadata"]["complete"] and partial["metadata"]["missing_runs"] == ["seed0-vanilla"]
    assert "vanilla" not in {r["name"] for r in partial["runs"]} and "INCOMPLETE" in capsys.readouterr().out


def test_grid_script_on_acdc_without_the_data_says_how_to_get_it(tmp_path):
    env = dict(os.environ, MONA_LAB_ACDC=str(tmp_path / "no_acdc_here"))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ablation_grid.py"), "--dataset", "acdc", "--fast",
                           "--out", str(tmp_path / "g.json"), "--runs", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "--dataset acdc needs the ACDC data: set MONA_LAB_ACDC" in done.stderr and "no_acdc_here" in done.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "g.json").exists()


def test_grid_runs_name_every_combination_and_the_acdc_budget_is_acdc_reduced():
    from mona_lab.lab.ablation import ACDC_GRID_BUDGET, GRID_BUDGET
    from mona_lab.lab.ablation.grid_study import data_settings, grid_study_runs

    runs = grid_study_runs(data_settings("acdc", 128), [0, 1, 2], ACDC_GRID_BUDGET, labeled=3)
    assert len(runs) == 30 and len({r.name for r in runs}) == 30
    assert [r.name for r in runs[:10]] == ["seed0-supervised", "seed0-vanilla", "seed0-t", "seed0-c", "seed0-d",
                                           "seed0-tc", "seed0-cd", "seed0-td", "seed0-tcd", "seed0-vanilla_no_unsup"]
    # benchmarks/acdc_reduced.py's MONA run: 2500 iterations (150 GLCon), 4 + 4 slices, lr 0.05 / 10 at 2000
    b = ACDC_GRID_BUDGET
    assert (b.iterations + b.pretrain_iterations, b.pretrain_iterations, b.batch_size, b.supervised_batch_size) == (2500, 150, 8, 4)
    assert (b.lr, b.lr_decay_at, b.image_size, b.width, b.embed_dim) == (0.05, 2000, 128, 0.25, 32)
    assert GRID_BUDGET.supervised_batch_size * 2 == GRID_BUDGET.batch_size
    with pytest.raises(ValueError, match="dataset"):
        data_settings("lits", 64)


# ------------------------------------------------------------------ principle inspectors
@functools.lru_cache(maxsize=1)
def _batch():
    from mona_lab.data import PhantomConfig, load_dataset

    data = load_dataset("phantom", phantom=PhantomConfig(num_patients=5, image_size=32))
    present = torch.stack([(data.train_labels == k).flatten(1).any(1) for k in range(data.num_classes)], 1)
    index = torch.argsort(present.sum(1), descending=True, stable=True)[:6]  # slices with the most classes
    return data.train_images[index], data.train_labels[index], data.num_classes


def _network(num_classes):
    from mona_lab.models import build_model

    torch.manual_seed(0)
    return build_model("unet2d", num_classes=num_classes, width=0.25, embed_dim=8, projection_dim=8,
                       heads=("representation", "global_projection", "global_prediction"), representation_stride=1)  # fmt: skip


def test_pixel_contrast_inspection_follows_the_hard_query_rule():
    from mona_lab.lab.principles import inspect_pixel_contrast

    images, labels, c = _batch()
    net = _network(c)
    strict = inspect_pixel_contrast(net, images, labels, num_queries=16, num_negatives=32, threshold=0.0)
    loose = inspect_pixel_contrast(net, images, labels, num_queries=16, num_negatives=32, threshold=1.0)
    # threshold 0: no pixel is hard, so the hard rule draws nothing; threshold 1: every pixel is hard
    assert strict.draws["hard"].query_index.numel() == 0 and strict.loss["hard"] == 0.0
    assert np.allclose(loose.hard_share[loose.counts > 0].numpy(), 1.0)
    np.testing.assert_array_equal(loose.query_counts("hard"), loose.query_counts("uniform"))
    # every query sits on a pixel of its own class, every negative on another class
    b, y, x = loose.query_positions("uniform", in_pixels=False)
    assert torch.equal(loose.labels[b, y, x], loose.draws["uniform"].query_class)
    hist = loose.negative_class_histogram("uniform")
    assert np.allclose(np.diag(hist), 0.0)
    for k in loose.draws["uniform"].classes:
        assert hist[k].sum() == pytest.approx(1.0)
    # the negative distribution is a softmax of the class-relation graph over the other present classes
    present = (loose.counts > 0).numpy()
    k = loose.draws["uniform"].classes[0]
    logits = loose.graph[k].numpy()[present & (np.arange(c) != k)]
    expected = np.exp(logits) / np.exp(logits).sum()
    assert np.allclose(loose.negative_distribution[k].numpy()[present & (np.arange(c) != k)], expected, atol=1e-6)
    # per-class losses average to the training loss (mean over contributing classes)
    assert np.nanmean(loose.class_loss["uniform"]) == pytest.approx(loose.loss["uniform"], rel=1e-5)


def test_a_pointwise_map_is_equivariant_and_a_spatial_filter_is_not():
    from mona_lab.lab.principles import affine_view, deformation_view, equivariance_maps

    images, _, c = _batch()
    torch.manual_seed(0)
    pointwise = torch.nn.Conv2d(1, c, kernel_size=1)
    spatial = torch.nn.Conv2d(1, c, kernel_size=5, padding=2)
    with torch.no_grad():  # confident outputs, so the KL is not hidden by near-uniform softmaxes
        pointwise.weight.mul_(20.0)
        spatial.weight.mul_(20.0)
    for make in (affine_view, deformation_view):
        view = make(images, torch.Generator().manual_seed(0))
        # bilinear resampling commutes with a pointwise affine map, except where values were filled in
        assert equivariance_maps(pointwise, images, view)["loss"] < 1e-5
        maps = equivariance_maps(spatial, images, view)
        assert maps["loss"] > 1e-3
        assert maps["kl_map"].shape == images[:, 0].shape and torch.all(maps["kl_map"][~maps["valid"]] == 0)


def test_view_dice_scores_a_background_only_model_zero_on_every_present_class():
    from mona_lab.lab.principles import view_dice

    images, labels, c = _batch()

    def background_only(x):
        logits = torch.zeros(x.shape[0], c, *x.shape[2:])
        logits[:, 0] = 5.0
        return logits

    assert all(bool((labels == k).any()) for k in range(c))
    for kind in ("weak", "strong"):
        dice = view_dice(background_only, images, labels, kind, repeats=2)
        assert dice.shape == (c - 1,)
        assert np.all(dice == 0.0)  # every foreground class is in the batch, none is predicted
    with pytest.raises(ValueError, match="kind"):
        view_dice(background_only, images, labels, "medium")


def test_neighbours_are_found_by_cosine_similarity_and_agreement_is_bounded():
    from mona_lab.lab.principles import neighbour_agreement, random_agreement, relation_entropy, retrieve_neighbours

    bank = torch.nn.functional.normalize(torch.randn(10, 4, generator=torch.Generator().manual_seed(1)), dim=1)
    index = retrieve_neighbours(bank[:3] * 2.0, bank, k=1)
    assert index.flatten().tolist() == [0, 1, 2]  # each entry is its own nearest neighbour
    _, labels, c = _batch()
    same = neighbour_agreement(labels, labels, torch.arange(labels.shape[0])[:, None], c)
    assert same == pytest.approx(1.0)
    assert 0.0 <= random_agreement(labels, labels, c) <= 1.0
    flat = relation_entropy(bank[:3], bank, temperature=1e3)
    assert flat == pytest.approx(math.log(10), rel=1e-3)
    assert relation_entropy(bank[:3], bank, temperature=0.01) < flat
    with pytest.raises(ValueError):
        relation_entropy(bank[:, :2], bank, 0.1)
