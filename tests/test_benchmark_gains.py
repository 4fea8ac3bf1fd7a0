"""The bar verdict of benchmarks/acdc_reduced.py: paired gains over supervised per seed."""
import importlib.util
import math
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


def test_gains_carry_a_t_interval_and_a_block_over_core(bench):
    results = {"supervised": runs(0.50, 0.60, 0.30), "core": runs(0.55, 0.62, 0.38), "mona": runs(0.58, 0.66, 0.40)}
    gains = bench.gains_over_supervised(results)
    low, high = gains["mona"]["ci95"]
    # mean 8, sample sd 2 over 3 seeds: half-width t(0.975, 2) * 2 / sqrt(3) = 4.968
    assert (low, high) == (pytest.approx(3.032, abs=1e-3), pytest.approx(12.968, abs=1e-3))
    assert gains["mona"]["ci95_above_0"]
    over_core = bench.paired_gains(results, "core")
    assert set(over_core) == {"supervised", "mona"}
    assert over_core["mona"]["per_seed"] == pytest.approx({"0": 3.0, "1": 4.0, "2": 2.0})
    assert over_core["mona"]["ci95"][0] < 3.0 < over_core["mona"]["ci95"][1]


def test_core_and_recipes_are_spelled_in_the_command(bench, tmp_path):
    args = bench.build_parser().parse_args(["--supervised-lr", "0.02"])
    core = bench.command_line("core", 3, args, tmp_path)
    assert core[core.index("--method") + 1] == "mona"
    assert core[core.index("--without"):][:4] == ["--without", "tailness", "consistency", "diversity"]
    muted = bench.command_line("mona@muted", 3, args, tmp_path)
    assert muted[muted.index("--recipe") + 1] == "muted"
    supervised = bench.command_line("supervised", 3, args, tmp_path)
    assert supervised[supervised.index("--lr") + 1] == "0.02" and core[core.index("--lr") + 1] == "0.05"
    assert args.seeds == [0, 1, 2, 3, 4]


def test_paired_interval_refuses_bad_input():
    from mona_lab.metrics import paired_interval

    one = paired_interval([4.0])
    assert one["mean"] == 4.0 and math.isnan(one["ci95"][0])
    with pytest.raises(ValueError, match="at least one"):
        paired_interval([])
    with pytest.raises(ValueError, match="finite"):
        paired_interval([1.0, math.nan])


def test_the_tuning_choice_takes_the_best_dice_among_strengths_whose_terms_act_in_every_run():
    spec = importlib.util.spec_from_file_location("acdc_tuning", SCRIPT.parent / "acdc_tuning.py")
    tuning = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tuning)

    def row(dice, shares):  # shares: term -> per-seed values
        records = {s: {"mean_dice": d, "shares": {t: v[i] for t, v in shares.items()}, "command": "c"}
                   for i, (s, d) in enumerate(zip((10, 11, 12), dice))}  # fmt: skip
        return tuning.summarise_setting(records)

    dose = {
        "0.01": row([0.70, 0.70, 0.70], {"nn": [0.002, 0.003, 0.002]}),  # best Dice, muted
        "0.1": row([0.60, 0.62, 0.61], {"nn": [0.012, 0.008, 0.02]}),  # median acts, one run does not
        "0.3": row([0.58, 0.60, 0.59], {"nn": [0.03, 0.02, 0.05]}),
        "1": row([0.40, 0.45, 0.50], {"nn": [0.3, 0.2, 0.5]}),
    }
    assert dose["0.1"]["shares"]["nn"] == [pytest.approx(0.012), pytest.approx(0.008)]
    choice = tuning.choose(dose, complete=set(dose))
    assert choice["head_grad_scale"] == 0.3 and choice["acting"] == ["0.3", "1"]
    assert tuning.choose(dose, complete={"0.01", "0.1"})["head_grad_scale"] is None  # incomplete settings wait


def test_the_stored_benchmark_prints_intervals_shares_and_the_noise_floor(bench):
    from mona_lab.errors import MonaLabError
    from mona_lab.lab.results import format_benchmark

    def records(*dice, nn=0.02):
        return {s: {"mean_dice": d, "mean_asd": 1.0, "per_class": {"RV": {"dice": d, "asd": 1.0}}, "cpu_seconds": 1.0,
                    "shares": {"contrast": 0.03, "nn": nn}} for s, d in enumerate(dice)}  # fmt: skip

    results = {"supervised": records(0.5, 0.6, 0.3), "core": records(0.55, 0.62, 0.38),
               "mona@muted": records(0.58, 0.66, 0.40, nn=0.002)}  # fmt: skip
    reruns = {"supervised": {"mean_dice": 0.52, "seed": 0, "threads": 2, "command": "c", "cpu_seconds": 1.0}}
    payload = {"summary": bench.summarise(results), "gains": bench.gains_over_supervised(results),
               "gains_over_core": bench.paired_gains(results, "core"), "noise_floor": bench.noise_floor(results, reruns),
               "contrasts": bench.paired_contrasts(results, [("mona@muted", "core")])}  # fmt: skip
    text = format_benchmark(payload)
    # each paired contrast with its interval and every seed's difference, labelled by seed
    assert "mona@muted - core" in text and "s0  +3.0 s1  +4.0 s2  +2.0" in text
    assert "mona@muted" in text and "0.002*" in text  # a muted term is marked
    assert "+8.0 [  +3.0,  +13.0]" in text  # mean gain and its t interval over supervised
    assert "0.500 -> 0.520 (+2.0 points)" in text
    with pytest.raises(MonaLabError, match="acdc_reduced"):
        format_benchmark({"runs": {}})


def test_principle_and_temperature_specs_and_their_paired_contrasts(bench, tmp_path):
    """Issue 24's ACDC study runs through the same script: one principle added to core, ACTION++
    at a fixed temperature, and each contrast paired over the seeds both specs ran."""
    args = bench.build_parser().parse_args([])
    tail = bench.command_line("core+tailness", 0, args, tmp_path)
    assert tail[tail.index("--without"):][:3] == ["--without", "consistency", "diversity"]
    fixed = bench.command_line("action++-fixed", 0, args, tmp_path)
    assert fixed[fixed.index("--method") + 1] == "action++"
    assert fixed[fixed.index("--temperature-schedule") + 1] == "fixed"
    results = {"core": runs(0.50, 0.60, 0.30), "core+tailness": runs(0.52, 0.57), "action++": runs(0.6, 0.6, 0.6)}
    contrasts = bench.paired_contrasts(results)
    assert set(contrasts) == {"core+tailness - core"}  # action++-fixed has no run: not reported
    assert contrasts["core+tailness - core"]["per_seed"] == pytest.approx({"0": 2.0, "1": -3.0})
    assert contrasts["core+tailness - core"]["mean"] == pytest.approx(-0.5)


def test_gains_over_core_pair_the_seeds_both_ran(bench):
    """While the benchmark is filled in parts the core may have fewer seeds than a method: the
    gain over core is still reported, over the common seeds."""
    results = {"core": runs(0.50, 0.60), "mona": runs(0.55, 0.58, 0.40, 0.70)}
    over_core = bench.gains_over_core(results)
    assert over_core["mona"]["per_seed"] == pytest.approx({"0": 5.0, "1": -2.0})
