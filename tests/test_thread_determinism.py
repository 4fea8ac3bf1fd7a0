"""CPU runs are bit-reproducible with more than one thread (issue 12, item 5).

With two threads, the accumulating ``index_put_`` behind the pixel-gather backward passes
of the pixel contrasts summed repeated pixels in a thread-dependent order: two identical
MONA runs drifted apart after a few fine-tuning steps, and "6 iterations, then resume to
12" differed from 12 in one go. For every method: two runs with two threads write the
same ``log.csv`` bit for bit, and 6 + 6 iterations (a validation at the boundary) give
the same ``log.csv``, ``metrics.json`` and final weights as 12 in one go.

Mean teacher and ACTION++ follow schedules over the planned length (the consistency
ramp-up over 40 % of ``iterations``; ATS, the cosine temperature over the fine-tuning
stage), so a run planned for 6 iterations differs from one planned for 12 from the
second step on, with any number of threads. For those two the split run is planned for
12, stopped after 6 (SIGTERM; SIGINT, as Ctrl-C sends, is ignored under nohup) and resumed.

The runs are small but not tiny: the pixel embeddings (embed 128 on an 8 x 8 grid of
4 images) and the drawn pixels must be large enough for torch to split the backward sums
between two threads, or the test could not see the bug. Checked against the code before
the fix: the run tests of mona, arco-ns/sg/sag, action and action++ and both op-level
tests fail there (two MONA runs with these settings differ from row 5 of ``log.csv`` on).

Every run happens in one subprocess with ``OMP_NUM_THREADS=2`` and
``OMP_WAIT_POLICY=PASSIVE``: on a busy machine with fewer free cores than threads, the
default spinning OpenMP threads made one run 10x slower (35-58 s instead of 4 s);
passive waiting needs the environment variable before torch starts. The tests then
compare what the subprocess wrote.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import torch

from mona_lab.config import METHOD_CHOICES, PRETRAINING_METHODS
from mona_lab.losses.adaptive_anatomical_contrast import AdaptiveAnatomicalContrastLoss
from mona_lab.losses.anatomical_contrast import AnatomicalContrastLoss
from mona_lab.losses.pixel_statistics import gather_rows as _gather_rows

SMALL = dict(
    dataset="phantom", labeled=2, image_size=32, batch_size=4, width=0.25, embed_dim=128,
    num_queries=64, num_negatives=128, progress=False, dynamics_every=0, checkpoint_every=1000, seed=0,
)  # fmt: skip
THREADS = 2
PRETRAIN = 2
FIRST, TOTAL = 6, 12  # fine-tuning iterations of the first part and of the whole run
RUNS = ("first", "second", "split")
# methods whose schedules follow the planned number of iterations (see the module docstring)
LENGTH_DEPENDENT = ("mean-teacher", "action++")


def _pretrain(method: str) -> int:
    return PRETRAIN if method in PRETRAINING_METHODS else 0


def _train_all(root: Path, methods: list[str]) -> None:
    """In the subprocess: for each method, two runs of TOTAL iterations and one of FIRST
    iterations resumed to TOTAL, in ``root/method/{first,second,split}``."""
    os.environ["MONA_LAB_FAST"] = "1"
    torch.set_num_threads(THREADS)
    import mona_lab.engine as engine
    from mona_lab.config import TrainConfig

    def config(method: str, out: Path, iterations: int, resume: bool = False) -> TrainConfig:
        pretrain = _pretrain(method)
        # validate exactly at the boundary of the split run (and at the end), so the split
        # run validates at the same steps as the one in one go
        return TrainConfig(
            method=method, out=str(out), iterations=iterations, pretrain_iterations=pretrain or None,
            validate_every=pretrain + FIRST, resume=resume, **SMALL,
        )  # fmt: skip

    for method in methods:
        folder = root / method
        folder.mkdir(parents=True)
        try:
            engine.train(config(method, folder / "first", TOTAL))
            engine.train(config(method, folder / "second", TOTAL))
            if method in LENGTH_DEPENDENT:
                _train_stopped_after(engine, config(method, folder / "split", TOTAL), _pretrain(method) + FIRST)
            else:
                engine.train(config(method, folder / "split", FIRST))
            engine.train(config(method, folder / "split", TOTAL, resume=True))
            (folder / "threads.txt").write_text(str(torch.get_num_threads()))
        except Exception:
            (folder / "error.txt").write_text(traceback.format_exc())


def _train_stopped_after(engine, config, steps: int) -> None:
    """Train ``config`` but stop it after ``steps`` iterations with a SIGTERM to this
    process (the engine finishes the step, writes last.pt and raises TrainingInterrupted)."""
    import signal

    from mona_lab.data import TwoStreamBatches

    batch_at = TwoStreamBatches.batch_at

    def interrupting_batch_at(self, step):
        if step == steps - 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return batch_at(self, step)

    TwoStreamBatches.batch_at = interrupting_batch_at
    try:
        engine.train(config)
    except engine.TrainingInterrupted as stopped:
        assert f"iteration {steps} of" in str(stopped), stopped
    else:
        raise AssertionError("the run was not stopped")
    finally:
        TwoStreamBatches.batch_at = batch_at


@pytest.fixture(scope="module")
def two_thread_runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("threads")
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), OMP_WAIT_POLICY="PASSIVE", MONA_LAB_FAST="1")
    result = subprocess.run(
        [sys.executable, __file__, str(root), *METHOD_CHOICES],
        env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


def _metrics(out: Path) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics.pop("cpu_seconds") > 0  # time differs between runs, nothing else may
    return metrics


def _weights(out: Path) -> dict[str, torch.Tensor]:
    state = torch.load(out / "last.pt", weights_only=True)["method"]
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _differing(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    assert a.keys() == b.keys()
    return [k for k in a if not torch.equal(a[k], b[k])]


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _features_and_labels(seed: int = 0, classes: int = 5):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(4, 512, 16, 16, generator=generator)
    labels = torch.randint(0, classes, (4, 16, 16), generator=generator)
    probs = torch.rand(4, classes, 16, 16, generator=generator).softmax(dim=1)
    return features, labels, probs


def test_the_pixel_gather_backward_repeats_bit_for_bit_and_equals_plain_indexing(two_threads):
    """The op behind the drift: rows gathered at repeated pixels of [4, 512, 256] features.
    Its backward through plain indexing (an accumulating index_put_) differed by up to 2e-6
    between two identical calls with two threads; `_gather_rows` gives the same values
    every time, equal to the plain gradient up to the order of the additions."""
    features = torch.randn(4, 512, 256)
    index = torch.randint(0, 4 * 256, (3840,), generator=torch.Generator().manual_seed(1))
    upstream = torch.randn(3840, 512)

    def gradient(gather):
        leaf = features.clone().requires_grad_(True)
        gather(leaf).backward(upstream)
        return leaf.grad

    ours = [gradient(lambda x: _gather_rows(x, index)) for _ in range(5)]
    assert all(torch.equal(g, ours[0]) for g in ours[1:])
    plain = gradient(lambda x: x[index // 256, :, index % 256])
    torch.testing.assert_close(ours[0], plain, rtol=0, atol=1e-5)
    assert torch.equal(_gather_rows(features, index), features[index // 256, :, index % 256])


def test_the_pixel_contrasts_repeat_their_gradients_bit_for_bit(two_threads):
    """MONA's / ACTION's pixel contrast and ACTION++'s SAACL at MONA's embedding size:
    the same draw twice gives the same feature gradient, bit for bit, with two threads."""
    features, labels, probs = _features_and_labels()
    # (loss, calls): the race is not certain on every call. Before the fix the contrast
    # differed within 4 calls every time; SAACL (whose only racing op was the pixel gather,
    # which the test above checks on its own) in 2 of 3 runs of this test with 16 calls
    losses = {
        "contrast": (lambda f, g: AnatomicalContrastLoss(5, 512)(f, labels, probs, generator=g), 4),
        # on the labelled half, as ACTION++ does
        "saacl": (lambda f, g: AdaptiveAnatomicalContrastLoss(5, 512).train()(f[:2], labels[:2], generator=g), 16),
    }
    differing = []
    for name, (loss_of, calls) in losses.items():
        gradients = []
        for _ in range(calls):
            leaf = features.clone().requires_grad_(True)
            loss_of(leaf, torch.Generator().manual_seed(3)).backward()
            gradients.append(leaf.grad)
        if not all(torch.equal(g, gradients[0]) for g in gradients[1:]):
            differing.append(name)
    assert differing == []


@pytest.mark.parametrize("method", METHOD_CHOICES)
def test_two_threads_repeat_bit_for_bit_and_resume_matches_one_go(two_thread_runs, method):
    folder = two_thread_runs / method
    error = folder / "error.txt"
    assert not error.exists(), error.read_text()
    assert (folder / "threads.txt").read_text() == str(THREADS)
    first, second, split = (folder / run for run in RUNS)

    log = (first / "log.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(log)))
    pretrain = _pretrain(method)
    assert len(rows) == pretrain + TOTAL
    validated = [int(r["step"]) for r in rows if r["val_mean_dice"]]
    assert validated == [pretrain + FIRST - 1, pretrain + TOTAL - 1]  # at the boundary and at the end
    assert (second / "log.csv").read_text() == log, "two identical runs with two threads differ"
    assert (split / "log.csv").read_text() == log, f"{FIRST} + {TOTAL - FIRST} iterations differ from {TOTAL}"

    metrics = _metrics(first)
    assert _metrics(second) == metrics
    assert _metrics(split) == metrics
    weights = _weights(first)
    assert _differing(weights, _weights(second)) == []
    assert _differing(weights, _weights(split)) == []


if __name__ == "__main__":
    _train_all(Path(sys.argv[1]), sys.argv[2:])
