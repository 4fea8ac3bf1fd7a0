"""What a new user meets when a run is stopped, misconfigured or pointed at the wrong file:
Ctrl-C keeps a checkpoint and says how to resume, time-based checkpoints, nothing is written
for a run that cannot start, small best.pt files, and plain messages for wrong paths."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import mona_lab.engine as engine
import mona_lab.training.checkpoint as checkpoint
from mona_lab.training.checkpoint import load_checkpoint
from mona_lab.cli import main
from mona_lab.config import TrainConfig
from mona_lab.data import TwoStreamBatches
from mona_lab.errors import MonaLabError

SMALL = dict(
    dataset="phantom", labeled=2, image_size=32, batch_size=4, width=0.25, embed_dim=16,
    num_queries=16, num_negatives=32, progress=False, validate_every=4,
)  # fmt: skip
SMALL_FLAGS = [
    "--dataset", "phantom", "--labeled", "2", "--image-size", "32", "--batch-size", "4", "--width", "0.25",
    "--embed-dim", "16", "--num-queries", "16", "--num-negatives", "32", "--no-progress",
]  # fmt: skip


@pytest.fixture(autouse=True)
def fast_phantom(monkeypatch):
    monkeypatch.setenv("MONA_LAB_FAST", "1")


def _rows(out: Path) -> list[dict]:
    with (out / "log.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _metrics(out: Path) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    metrics.pop("cpu_seconds")
    return metrics


def test_ctrl_c_keeps_the_finished_iterations_and_resume_continues_exactly(tmp_path, monkeypatch):
    """A signal in the middle of iteration 5 stops the run after it, with last.pt at 6; the
    resumed run ends bit for bit where an uninterrupted one does."""
    whole = tmp_path / "whole"
    engine.train(TrainConfig(method="mona", iterations=6, pretrain_iterations=4, out=str(whole), **SMALL))

    batch_at = TwoStreamBatches.batch_at

    def interrupting_batch_at(self, step):
        if step == 5:  # SIGTERM: SIGINT is ignored when the tests run under nohup
            os.kill(os.getpid(), signal.SIGTERM)
        return batch_at(self, step)

    stopped = tmp_path / "stopped"
    config = TrainConfig(method="mona", iterations=6, pretrain_iterations=4, out=str(stopped), **SMALL)
    monkeypatch.setattr(TwoStreamBatches, "batch_at", interrupting_batch_at)
    handler_before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(engine.TrainingInterrupted, match="--resume") as caught:
        engine.train(config)
    assert "iteration 6 of 10" in str(caught.value)
    assert load_checkpoint(stopped / "last.pt")["step"] == 6
    assert [int(r["step"]) for r in _rows(stopped)] == list(range(6))
    assert not (stopped / "metrics.json").exists()
    assert signal.getsignal(signal.SIGTERM) is handler_before  # handler restored

    monkeypatch.setattr(TwoStreamBatches, "batch_at", batch_at)
    engine.train(TrainConfig(method="mona", iterations=6, pretrain_iterations=4, out=str(stopped), resume=True, **SMALL))
    assert _rows(stopped) == _rows(whole)
    assert _metrics(stopped) == _metrics(whole)


def test_a_run_started_with_sigint_ignored_keeps_ignoring_it(tmp_path, monkeypatch):
    """A job started with ``nohup`` or ``&`` ignores SIGINT; training must not turn it back on
    (SIGTERM still stops the run cleanly)."""
    batch_at = TwoStreamBatches.batch_at

    def signalling_batch_at(self, step):
        if step in (1, 3):
            os.kill(os.getpid(), signal.SIGINT if step == 1 else signal.SIGTERM)
        return batch_at(self, step)

    monkeypatch.setattr(TwoStreamBatches, "batch_at", signalling_batch_at)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(engine.TrainingInterrupted, match="SIGTERM at iteration 4 of 8"):
            engine.train(TrainConfig(method="supervised", iterations=8, out=str(tmp_path / "run"), **SMALL))
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_on_the_command_line_exits_130_and_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "mona_lab.cli", "train", "--method", "supervised", "--iterations", "100000",
           "--out", str(out), *SMALL_FLAGS]  # fmt: skip
    env = dict(os.environ, MONA_LAB_FAST="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(  # SIGINT back to its default in the child, as in a terminal (not under nohup)
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not ((out / "log.csv").exists() and len((out / "log.csv").read_text().splitlines()) > 3):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "SIGINT" in err and "--resume" in err and "Traceback" not in err
    assert "training supervised for 100000 iterations" in stdout and "Ctrl-C" in stdout  # said before it starts
    step = load_checkpoint(out / "last.pt")["step"]
    assert [int(r["step"]) for r in _rows(out)] == list(range(step))


def test_checkpoints_are_also_written_by_the_clock(tmp_path, monkeypatch):
    saved = []
    save = checkpoint.atomic_torch_save  # patched where the loop's TrainingState calls it
    monkeypatch.setattr(checkpoint, "atomic_torch_save", lambda obj, path: saved.append((path.name, obj.get("step"))) or save(obj, path))
    engine.train(TrainConfig(method="supervised", iterations=5, out=str(tmp_path / "a"), checkpoint_every=1000,
                             checkpoint_minutes=1e-9, **SMALL))  # fmt: skip
    assert [step for name, step in saved if name == "last.pt"] == [1, 2, 3, 4, 5]
    saved.clear()
    engine.train(TrainConfig(method="supervised", iterations=5, out=str(tmp_path / "b"), checkpoint_every=1000,
                             checkpoint_minutes=0, **SMALL))  # fmt: skip
    assert [step for name, step in saved if name == "last.pt"] == [5]  # the clock off: only the end


def test_the_checkpoint_interval_may_change_on_resume(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--method", "supervised", "--iterations", "2", "--out", str(out), *SMALL_FLAGS]) == 0
    assert main(["train", "--method", "supervised", "--iterations", "4", "--out", str(out), "--resume",
                 "--checkpoint-every", "1", "--checkpoint-minutes", "0", *SMALL_FLAGS]) == 0  # fmt: skip
    assert load_checkpoint(out / "last.pt")["step"] == 4


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--labeled", "500"], "500"),
        (["--dataset", "acdc", "--root", "/nowhere/ACDC", "--labeled", "3"], "/nowhere/ACDC"),
        (["--root", "/some/folder", "--labeled", "2"], "phantom"),
    ],
)
def test_a_run_that_cannot_start_writes_nothing(tmp_path, capsys, flags, says):
    out = tmp_path / "run"
    base = ["--image-size", "32", "--batch-size", "4", "--width", "0.25", "--no-progress"]
    if "--dataset" not in flags:
        base += ["--dataset", "phantom"]
    code = main(["train", "--method", "supervised", "--iterations", "2", "--out", str(out), *base, *flags])
    err = capsys.readouterr().err
    assert code == 2 and says in err and "Traceback" not in err
    assert not out.exists()  # the corrected command is not refused with "already exists"


def test_out_that_is_a_file_is_refused_plainly(tmp_path, capsys):
    target = tmp_path / "README.md"
    target.write_text("keep me\n")
    assert main(["train", "--method", "supervised", "--iterations", "2", "--out", str(target), *SMALL_FLAGS]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me\n"


def test_best_pt_holds_the_student_only_and_evaluates(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--method", "mona", "--iterations", "4", "--pretrain-iterations", "2",
                 "--validate-every", "2", "--out", str(out), *SMALL_FLAGS]) == 0  # fmt: skip
    best, last = load_checkpoint(out / "best.pt"), load_checkpoint(out / "last.pt")
    assert set(best) >= {"model_config", "class_names", "image_size", "method"}
    assert not {"optimizer", "generator", "rng", "batches"} & set(best)
    assert all(k.startswith("student.") for k in best["method"])
    assert (out / "best.pt").stat().st_size < 0.5 * (out / "last.pt").stat().st_size
    assert main(["evaluate", "--checkpoint", str(out / "best.pt"), "--dataset", "phantom", "--split", "test", "--json"]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out.strip().splitlines()[-1])["mean_dice"] <= 1.0


def test_a_folder_given_as_checkpoint_names_the_files_inside(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"")
    with pytest.raises(MonaLabError, match="is a folder.*last.pt"):
        load_checkpoint(tmp_path)


class _NotOurs:
    pass


@pytest.mark.parametrize("content", ["pickled object", "text", "tensor dict"])
def test_a_file_that_is_not_a_mona_lab_checkpoint_is_named_as_such(tmp_path, content):
    path = tmp_path / "model.pt"
    if content == "pickled object":
        torch.save(_NotOurs(), path)
    elif content == "text":
        path.write_text("not a checkpoint\n")
    else:
        torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(MonaLabError, match="is not a mona_lab checkpoint") as caught:
        load_checkpoint(path)
    assert "weights_only=False" not in str(caught.value)  # never advise unsafe loading
