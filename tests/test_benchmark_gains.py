"""The bar verdict of benchmarks/acdc_reduced.py: paired gains over supervised per seed."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "acdc_reduced.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("acdc_reduced", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runs(*dice):
    return {seed: {"mean_dice": d} for seed, d in enumerate(dice)}


def test_gains_are_paired_by_seed_and_both_spreads_are_stored(bench):
    results = {"supervised": runs(0.50, 0.60, 0.30), "mona": runs(0.58, 0.66, 0.40), "glcon": runs(0.50)}
    gains = bench.gains_over_supervised(results)
    mona = gains["mona"]
    assert mona["per_seed"] == pytest.approx({"0": 8.0, "1": 6.0, "2": 10.0})
    assert mona["mean"] == pytest.approx(8.0)
    assert mona["paired_sd"] == pytest.approx(1.633, abs=1e-3)  # the gain hardly moves between splits
    assert mona["larger_sd"] == pytest.approx(12.47, abs=1e-2)  # while each result moves a lot
    assert mona["at_least_5"] and mona["above_paired_sd"] and not mona["above_larger_sd"]
    assert gains["glcon"]["per_seed"] == {"0": 0.0} and not gains["glcon"]["at_least_5"]


def test_a_method_without_its_supervised_seed_is_left_out(bench):
    gains = bench.gains_over_supervised({"supervised": runs(0.5), "mona": runs(0.6, 0.7)})
    assert "mona" not in gains
