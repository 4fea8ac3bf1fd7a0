"""Resumable studies (mona_lab.lab.study_runs): records on disk, skipping finished runs, estimates, commands."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mona_lab.errors import MonaLabError
from mona_lab.lab.study_runs import (
    StudyRun,
    estimate_seconds,
    execute,
    finished_record,
    format_duration,
    pending_and_finished,
    run_command,
    save_record,
    select,
)

CALLS: list[str] = []


def _square(settings: dict, folder: Path) -> dict:
    """A tiny 'training run': writes a file into its folder and returns a record."""
    CALLS.append(settings["tag"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "log.csv").write_text("step\n0\n")
    (folder / "last.pt").write_text("checkpoint")
    return {"value": settings["x"] ** 2}


def _runs(xs=(1, 2, 3)) -> list[StudyRun]:
    return [StudyRun(f"run{x}", {"x": x, "tag": f"run{x}"}, kind="square") for x in xs]


def test_the_folder_depends_on_the_settings_not_on_their_order(tmp_path):
    a = StudyRun("seed0-tcd", {"a": 1, "b": [1, 2]})
    b = StudyRun("seed0-tcd", {"b": [1, 2], "a": 1})
    c = StudyRun("seed0-tcd", {"a": 2, "b": [1, 2]})
    assert a.folder(tmp_path) == b.folder(tmp_path) != c.folder(tmp_path)
    assert a.folder(tmp_path).name.startswith("seed0-tcd-")
    assert StudyRun("tailness + consistency", {}).folder(tmp_path).name.startswith("tailness_+_consistency-")


def test_execute_stores_records_and_skips_finished_runs(tmp_path):
    CALLS.clear()
    runs = _runs()
    done = []
    records = execute(runs, tmp_path, _square, on_done=lambda run, rec, i, n: done.append((run.name, i, n)))
    assert CALLS == ["run1", "run2", "run3"] and done == [("run1", 1, 3), ("run2", 2, 3), ("run3", 3, 3)]
    assert {name: r["value"] for name, r in records.items()} == {"run1": 1, "run2": 4, "run3": 9}
    for run in runs:
        record = json.loads((run.folder(tmp_path) / "record.json").read_text())
        assert record["name"] == run.name and record["settings"] == run.settings and record["threads"] == 1
        assert record["cpu_seconds"] >= 0 and record["seconds"] >= 0
        assert not list(run.folder(tmp_path).rglob("*.pt"))  # checkpoints are dropped, the log kept
        assert (run.folder(tmp_path) / "train" / "log.csv").is_file()
    before = {r.name: finished_record(r, tmp_path) for r in runs}
    CALLS.clear()
    again = execute(runs, tmp_path, _square)
    assert CALLS == [] and again == before


def test_a_stopped_study_resumes_with_the_unfinished_runs_only(tmp_path):
    CALLS.clear()
    runs = _runs()
    execute(runs[:1], tmp_path, _square)
    (runs[1].folder(tmp_path) / "train").mkdir(parents=True)  # a run stopped half-way: no record
    (runs[1].folder(tmp_path) / "train" / "stale.txt").write_text("half")
    pending, finished = pending_and_finished(runs, tmp_path)
    assert [r.name for r in pending] == ["run2", "run3"] and list(finished) == ["run1"]
    CALLS.clear()
    execute(runs, tmp_path, _square)
    assert CALLS == ["run2", "run3"]
    assert not (runs[1].folder(tmp_path) / "train" / "stale.txt").exists()  # restarted from scratch


def test_other_settings_are_not_mistaken_for_a_finished_run(tmp_path):
    run = StudyRun("run1", {"x": 1, "tag": "run1"})
    save_record(run, tmp_path, {"value": 1, "cpu_seconds": 1.0})
    assert finished_record(run, tmp_path)["value"] == 1
    assert finished_record(StudyRun("run1", {"x": 2, "tag": "run1"}), tmp_path) is None
    with pytest.raises(ValueError, match="unique"):
        pending_and_finished([run, run], tmp_path)


def test_estimate_uses_finished_runs_of_the_same_kind_then_the_fallback():
    pending = [StudyRun("a", {}, kind="mona"), StudyRun("b", {}, kind="supervised"), StudyRun("c", {}, kind="mona")]
    finished = {"x": {"kind": "mona", "cpu_seconds": 100.0}, "y": {"kind": "mona", "cpu_seconds": 200.0}}
    # mona runs cost 150 each; supervised has no finished run of its kind: the mean of all (150)
    assert estimate_seconds(pending, finished, workers=1) == pytest.approx(450.0)
    assert estimate_seconds(pending, finished, workers=2) == pytest.approx(225.0)
    assert estimate_seconds(pending, {}, workers=1, per_run_fallback={"mona": 10.0, "supervised": 1.0}) == pytest.approx(21.0)
    assert estimate_seconds(pending, {}, workers=1) is None
    assert estimate_seconds([], {}, workers=1) == 0.0
    assert format_duration(None) == "unknown" and format_duration(40) == "40 s"
    assert format_duration(450) == "7.5 min" and format_duration(7500) == "2 h 05 min"


def test_stored_paths_inside_the_repository_are_relative_to_it(tmp_path):
    from mona_lab.lab.study_runs import REPO_ROOT, repo_path

    assert repo_path(REPO_ROOT / "benchmarks" / "runs" / "arco_curves") == "benchmarks/runs/arco_curves"
    assert repo_path(tmp_path / "runs") == str(tmp_path / "runs")  # outside: kept as given
    run = StudyRun("seed0-vanilla", {"a": 1})
    command = run_command("benchmarks/ablation_grid.py", ["--seeds", "0"], run, REPO_ROOT / "benchmarks" / "runs" / "g")
    assert "--runs benchmarks/runs/g " in command


def test_a_run_command_repeats_one_run_with_the_same_settings(tmp_path):
    run = StudyRun("seed1-tc", {})
    argv = ["--dataset", "acdc", "--workers", "2", "--out", "x.json", "--only", "seed0-t", "seed0-c", "--seeds", "0", "1"]
    command = run_command("benchmarks/ablation_grid.py", argv, run, tmp_path / "runs")
    assert command == (f"python benchmarks/ablation_grid.py --dataset acdc --seeds 0 1 --runs {tmp_path / 'runs'} "
                       "--workers 1 --only seed1-tc")  # fmt: skip


def test_select_names_unknown_runs():
    runs = _runs()
    assert [r.name for r in select(runs, ["run3", "run1"])] == ["run1", "run3"]
    assert select(runs, None) == runs
    with pytest.raises(MonaLabError, match="run9.*its runs are"):
        select(runs, ["run9"])
