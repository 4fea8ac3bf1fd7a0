"""benchmarks/la_reduced.py: its command lines and its summary of stored LA runs."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "la_reduced.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("la_reduced", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_method_runs_the_same_budget_and_labelled_batch(bench, tmp_path):
    args = bench.build_parser().parse_args(["--lr-decay-at", "500"])
    supervised = bench.command_line("supervised", 1, args, tmp_path)
    action = bench.command_line("action++", 1, args, tmp_path)
    value = lambda cmd, flag: cmd[cmd.index(flag) + 1]  # noqa: E731
    assert value(supervised, "--dataset") == "la" and value(supervised, "--labeled") == "4"
    assert int(value(supervised, "--iterations")) == args.iterations
    assert int(value(action, "--iterations")) + int(value(action, "--pretrain-iterations")) == args.iterations
    assert value(supervised, "--batch-size") == "2" and value(action, "--batch-size") == "4"  # 2 labelled (+2)
    assert int(value(supervised, "--lr-step-every")) == 500  # the same global iteration for both
    assert int(value(action, "--lr-step-every")) + int(value(action, "--pretrain-iterations")) == 500
    assert "--pretrain-iterations" not in supervised and value(action, "--crop-size") == args.crop_size


def test_summary_gives_the_four_scores_and_paired_gains(bench):
    def run(dice, hd95):
        return {"mean_dice": dice, "cpu_seconds": 10.0, "shares": None,
                "per_class": {"left atrium": {"dice": dice, "jaccard": dice / (2 - dice), "hd95": hd95, "asd": hd95 / 4}}}  # fmt: skip

    results = {"supervised": {0: run(0.50, 20.0), 1: run(0.60, 16.0)}, "action++": {0: run(0.70, 10.0), 1: run(0.72, 8.0)}}
    summary = bench.summarise(results)
    assert summary["action++"]["dice"][0] == pytest.approx(0.71) and summary["supervised"]["hd95"] == [18.0, 2.0]
    assert set(summary["supervised"]) >= {"dice", "jaccard", "hd95", "asd", "cpu_seconds", "seeds"}
    gains = bench.acdc_reduced.paired_gains(results, "supervised")
    assert gains["action++"]["per_seed"] == pytest.approx({"0": 20.0, "1": 12.0})
