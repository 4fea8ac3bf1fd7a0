"""The two evaluation protocols of `mona_lab.metrics` ("strict", the default, and "paper",
the papers' test scripts), checked against an independent implementation written here
(surface voxels by neighbour shifts, distances by k-d tree, the papers' empty-mask branches
spelled out) on synthetic shapes always, against medpy 0.5.x when it is installed, and on
perturbed real ACDC validation volumes when ``MONA_LAB_ACDC`` points at them; plus the
per-volume rows and ``mona-lab evaluate --protocol/--csv``."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from mona_lab.cli import main
from mona_lab.errors import MonaLabError
from mona_lab.metrics import (
    PER_VOLUME_COLUMNS,
    PROTOCOL_CHOICES,
    average_surface_distance,
    average_symmetric_surface_distance,
    evaluate_volume,
    paper_scores_per_class,
    per_volume_csv,
    per_volume_rows,
    volume_diagonal,
)

pytestmark = pytest.mark.usefixtures("single_thread")


# ----------------------------------------------------------------------------- independent references
def surface_points(mask: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Coordinates of voxels with a face neighbour outside the mask (outside the array = background)."""
    padded = np.pad(mask.astype(bool), 1, constant_values=False)
    interior = np.ones(mask.shape, dtype=bool)
    for axis in range(3):
        for step in (-1, 1):
            interior &= np.roll(padded, step, axis=axis)[1:-1, 1:-1, 1:-1]
    return np.argwhere(mask.astype(bool) & ~interior) * np.asarray(spacing, dtype=float)


def directed_distances(a: np.ndarray, b: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Distance from every surface voxel of ``a`` to the nearest surface voxel of ``b``."""
    return cKDTree(surface_points(b, spacing)).query(surface_points(a, spacing))[0]


def reference_dice(p: np.ndarray, g: np.ndarray) -> float:
    return 2.0 * float(np.sum(p & g)) / float(p.sum() + g.sum())


def reference_paper(p: np.ndarray, g: np.ndarray, directed_asd=None, dice=None) -> tuple[float, float]:
    """The per-class branches of the papers' ``calculate_metric_percase`` (ARCO/ACTION
    ``code/test_2D.py``), with the Dice and directed ASD of the non-empty case pluggable."""
    if p.sum() > 0 and g.sum() > 0:
        return (dice or reference_dice)(p, g), (directed_asd or (lambda x, y: directed_distances(x, y).mean()))(p, g)
    if p.sum() > 0 and g.sum() == 0:
        return 1.0, 0.0
    return 0.0, 0.0


def reference_strict(p: np.ndarray, g: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> tuple[float, float]:
    if not p.any() and not g.any():
        return 1.0, 0.0
    if not p.any() or not g.any():
        return 0.0, volume_diagonal(p.shape, spacing)
    d_pg, d_gp = directed_distances(p, g, spacing), directed_distances(g, p, spacing)
    return reference_dice(p, g), float((d_pg.sum() + d_gp.sum()) / (d_pg.size + d_gp.size))


def ball(shape, centre, radius) -> np.ndarray:
    grid = np.indices(shape, dtype=float)
    return np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre))) <= radius


def synthetic_pairs():
    """(name, pred labels, target labels) with 3 classes: shifted, grown, shrunk, cut by the
    field of view, and every empty-mask combination."""
    shape = (9, 20, 22)
    target = np.zeros(shape, dtype=np.int64)
    target[ball(shape, (4, 8, 9), 4.5)] = 1
    target[ball(shape, (4, 14, 15), 3.0) & (target == 0)] = 2
    target[0:3, 0:4, 18:22] = 3  # touches the border: surface on the cut
    pairs = [("identical", target.copy(), target)]
    shifted = np.zeros_like(target)
    for c in (1, 2, 3):
        shifted[np.roll(target == c, (1, 2, -1), axis=(0, 1, 2)) & (shifted == 0)] = c
    pairs.append(("shifted", shifted, target))
    grown = target.copy()
    grown[ndimage.binary_dilation(target == 1, iterations=2) & (target == 0)] = 1
    grown[(target == 2) & ~ndimage.binary_erosion(target == 2)] = 0  # class 2 shrunk
    pairs.append(("grown_and_shrunk", grown, target))
    small_inside = np.zeros_like(target)
    small_inside[ball(shape, (4, 8, 9), 1.5)] = 1  # asymmetric: directed P->G != G->P
    small_inside[target == 3] = 3
    pairs.append(("small_inside_missing_2", small_inside, target))  # class 2: empty prediction
    no_gt_3 = target.copy()
    no_gt_3[no_gt_3 == 3] = 0
    pairs.append(("false_positive_3", target.copy(), no_gt_3))  # class 3: empty truth
    both_empty = target.copy()
    both_empty[both_empty == 3] = 0
    pairs.append(("both_empty_3", both_empty, both_empty.copy()))  # class 3 absent from both
    return pairs


SYNTHETIC = synthetic_pairs()


# ----------------------------------------------------------------------------- synthetic shapes, always
@pytest.mark.parametrize("name,pred,target", SYNTHETIC, ids=[p[0] for p in SYNTHETIC])
def test_both_protocols_match_the_independent_reference(name, pred, target):
    spacing = (2.5, 0.8, 0.7)
    strict = evaluate_volume(pred, target, 4, spacing)
    paper = evaluate_volume(pred, target, 4, spacing, protocol="paper")
    for k, c in enumerate((1, 2, 3)):
        p, g = pred == c, target == c
        want_dice, want_asd = reference_strict(p, g, spacing)
        assert strict["dice"][k] == pytest.approx(want_dice, abs=1e-12), (name, c)
        assert strict["asd"][k] == pytest.approx(want_asd, abs=1e-9), (name, c)
        want_dice, want_asd = reference_paper(p, g)  # voxels: the spacing is ignored
        assert paper["dice"][k] == pytest.approx(want_dice, abs=1e-12), (name, c)
        assert paper["asd"][k] == pytest.approx(want_asd, abs=1e-9), (name, c)
    assert (strict["protocol"], strict["asd_units"]) == ("strict", "mm")
    assert (paper["protocol"], paper["asd_units"]) == ("paper", "voxels")
    assert paper["mean_dice"] == pytest.approx(np.mean(paper["dice"]))
    assert paper["mean_asd"] == pytest.approx(np.mean(paper["asd"]))


@pytest.mark.parametrize(
    "case,pred_has,target_has,strict,paper",
    [
        # (Dice, ASD) of the empty-mask rules; "diag" = the strict protocol's volume diagonal
        ("both empty", False, False, (1.0, 0.0), (0.0, 0.0)),
        ("empty truth", True, False, (0.0, "diag"), (1.0, 0.0)),
        ("empty prediction", False, True, (0.0, "diag"), (0.0, 0.0)),
    ],
)
def test_empty_mask_conventions_of_both_protocols(case, pred_has, target_has, strict, paper):
    shape, spacing = (4, 6, 8), (3.0, 1.0, 0.5)
    blob = np.zeros(shape, dtype=np.int64)
    blob[1:3, 2:4, 2:6] = 1
    pred = blob if pred_has else np.zeros(shape, dtype=np.int64)
    target = blob.copy() if target_has else np.zeros(shape, dtype=np.int64)
    got_strict = evaluate_volume(pred, target, 2, spacing)
    got_paper = evaluate_volume(pred, target, 2, spacing, protocol="paper")
    diagonal = volume_diagonal(shape, spacing)
    want_strict = tuple(diagonal if v == "diag" else v for v in strict)
    assert (got_strict["dice"][0], got_strict["asd"][0]) == pytest.approx(want_strict), case
    assert (got_paper["dice"][0], got_paper["asd"][0]) == paper, case
    assert got_paper["pred_empty"] == [not pred_has] and got_paper["target_empty"] == [not target_has]
    nan = evaluate_volume(pred, target, 2, spacing, empty_asd="nan")
    assert math.isnan(nan["asd"][0]) == (pred_has != target_has)


def test_directed_asd_is_the_prediction_to_truth_mean_and_not_symmetric():
    shape = (9, 20, 22)
    small, big = ball(shape, (4, 10, 11), 1.5), ball(shape, (4, 10, 11), 4.5)
    forward, backward = average_surface_distance(small, big), average_surface_distance(big, small)
    assert forward == pytest.approx(directed_distances(small, big).mean(), abs=1e-12)
    assert backward == pytest.approx(directed_distances(big, small).mean(), abs=1e-12)
    assert forward != pytest.approx(backward, rel=0.05)
    symmetric = average_symmetric_surface_distance(small, big)
    assert min(forward, backward) < symmetric < max(forward, backward)
    spacing = (2.0, 1.0, 1.0)
    assert average_surface_distance(small, big, spacing) == pytest.approx(
        directed_distances(small, big, spacing).mean(), abs=1e-12
    )


def test_paper_protocol_ignores_spacing_and_strict_uses_it():
    _, pred, target = SYNTHETIC[1]
    paper_none = evaluate_volume(pred, target, 4, None, protocol="paper")
    paper_mm = evaluate_volume(pred, target, 4, (5.0, 1.5, 1.5), protocol="paper")
    assert paper_none == paper_mm
    strict_none = evaluate_volume(pred, target, 4, None)
    strict_mm = evaluate_volume(pred, target, 4, (5.0, 1.5, 1.5))
    assert strict_none["asd_units"] == "voxels" and strict_mm["asd_units"] == "mm"
    assert strict_mm["mean_asd"] > strict_none["mean_asd"]
    dice, asd = paper_scores_per_class(pred, target, 4)
    assert list(dice) == paper_none["dice"] and list(asd) == paper_none["asd"]


def test_bad_protocol_arguments_are_refused():
    _, pred, target = SYNTHETIC[0]
    with pytest.raises(ValueError, match="protocol must be one of"):
        evaluate_volume(pred, target, 4, protocol="medpy")
    with pytest.raises(ValueError, match="empty_asd='nan' applies to protocol='strict' only"):
        evaluate_volume(pred, target, 4, protocol="paper", empty_asd="nan")
    with pytest.raises(ValueError, match="target_mask is empty"):
        average_surface_distance(target == 1, np.zeros_like(target))
    with pytest.raises(ValueError, match="pred_mask is empty"):
        average_surface_distance(np.zeros_like(target), target == 1)
    assert PROTOCOL_CHOICES == ("strict", "paper")


# ----------------------------------------------------------------------------- medpy (test-only dependency)
def medpy_binary():
    return pytest.importorskip("medpy.metric.binary", reason="medpy not installed (it is in the test extra: pip install -e .[test])")


def medpy_paper(binary, p: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    return reference_paper(p, g, directed_asd=lambda x, y: binary.asd(x, y), dice=lambda x, y: binary.dc(x, y))


def medpy_strict_nonempty(binary, p: np.ndarray, g: np.ndarray, spacing) -> tuple[float, float]:
    return binary.dc(p, g), binary.assd(p, g, voxelspacing=spacing)  # medpy >= 0.5: pooled


def check_against_medpy(binary, pred: np.ndarray, target: np.ndarray, num_classes: int, spacing, label: str) -> list:
    """Both protocols vs medpy on every class of one volume; returns the (paper, strict) ASD
    pairs of the classes present in both masks."""
    strict = evaluate_volume(pred, target, num_classes, spacing)
    paper = evaluate_volume(pred, target, num_classes, spacing, protocol="paper")
    pairs = []
    for k, c in enumerate(range(1, num_classes)):
        p, g = pred == c, target == c
        want = medpy_paper(binary, p.copy(), g.copy())
        assert paper["dice"][k] == want[0], (label, c)
        assert paper["asd"][k] == pytest.approx(want[1], rel=1e-12, abs=1e-12), (label, c)
        if p.any() and g.any():
            want = medpy_strict_nonempty(binary, p, g, spacing)
            assert strict["dice"][k] == want[0], (label, c)
            assert strict["asd"][k] == pytest.approx(want[1], rel=1e-12, abs=1e-12), (label, c)
            pairs.append((paper["asd"][k], strict["asd"][k]))
    return pairs


@pytest.mark.parametrize("name,pred,target", SYNTHETIC, ids=[p[0] for p in SYNTHETIC])
def test_both_protocols_match_medpy_on_synthetic_shapes(name, pred, target):
    check_against_medpy(medpy_binary(), pred, target, 4, (2.5, 0.8, 0.7), name)


def test_medpy_assd_pools_both_directions():
    """What the metrics docstring says about medpy 0.5.x: assd = mean of the pooled distances."""
    binary = medpy_binary()
    shape = (9, 20, 22)
    small, big = ball(shape, (4, 10, 11), 1.5), ball(shape, (4, 10, 11), 4.5)
    d_sb, d_bs = directed_distances(small, big), directed_distances(big, small)
    assert binary.assd(small, big) == pytest.approx((d_sb.sum() + d_bs.sum()) / (d_sb.size + d_bs.size), rel=1e-12)
    assert binary.assd(small, big) != pytest.approx((d_sb.mean() + d_bs.mean()) / 2, rel=1e-3)  # medpy <= 0.4.0


# ----------------------------------------------------------------------------- real ACDC volumes
def perturbations(label: np.ndarray, rng: np.random.Generator):
    """Realistic errors on a real label volume: boundary growth/erosion, a shift, a dropped
    slice, a structure missed entirely, a false positive on a structure absent from the truth."""
    out = []
    pred = label.copy()
    pred[ndimage.binary_dilation(label == 1, iterations=2) & (label == 0)] = 1
    lv = label == 3
    pred[lv & ~ndimage.binary_erosion(lv, iterations=1)] = 2
    out.append(("grow_rv_erode_lv", pred, label))
    pred = np.zeros_like(label)
    for c in (1, 2, 3):
        pred[np.roll(label == c, (0, int(rng.integers(1, 4)), -int(rng.integers(1, 4))), axis=(0, 1, 2)) & (pred == 0)] = c
    out.append(("shift", pred, label))
    pred = label.copy()
    pred[int(rng.integers(0, label.shape[0]))] = 0
    pred[pred == 2] = 0  # Myo missed entirely: empty prediction
    out.append(("drop_slice_miss_myo", pred, label))
    truth = label.copy()
    truth[truth == 1] = 0  # RV absent from the truth, predicted anyway: empty truth
    out.append(("false_positive_rv", label.copy(), truth))
    return out


@pytest.mark.acdc
@pytest.mark.parametrize("reference", ["independent", "medpy"])
def test_both_protocols_on_perturbed_acdc_validation_volumes(acdc_root, reference):
    from mona_lab.data.acdc import read_case_list, read_h5_pair

    binary = medpy_binary() if reference == "medpy" else None
    rng = np.random.default_rng(12)
    names = read_case_list(acdc_root / "val.list")
    ratios = []
    for name in names[:: max(1, len(names) // 3)][:3]:  # 3 volumes of different patients
        _, label = read_h5_pair(acdc_root / "data" / f"{name}.h5", ndim=3)
        label = label.astype(np.int64)
        assert all((label == c).any() for c in (1, 2, 3)), name
        for kind, pred, target in perturbations(label, rng):
            tag = f"{name}/{kind}"
            if binary is not None:
                for directed, symmetric in check_against_medpy(binary, pred, target, 4, None, tag):
                    if symmetric > 0:  # classes the perturbation left unchanged score 0 under both
                        ratios.append(directed / symmetric)
                continue
            paper = evaluate_volume(pred, target, 4, protocol="paper")
            strict = evaluate_volume(pred, target, 4)
            for k, c in enumerate((1, 2, 3)):
                p, g = pred == c, target == c
                assert (paper["dice"][k], paper["asd"][k]) == pytest.approx(reference_paper(p, g), abs=1e-9), (tag, c)
                assert (strict["dice"][k], strict["asd"][k]) == pytest.approx(reference_strict(p, g), abs=1e-9), (tag, c)
    if binary is not None:  # the protocols differ materially on realistic errors
        assert max(abs(r - 1.0) for r in ratios) > 0.2


# ----------------------------------------------------------------------------- per-volume rows
def test_per_volume_rows_and_csv_round_trip():
    results = [evaluate_volume(p, t, 4, protocol="paper") for _, p, t in SYNTHETIC[:3]]
    rows = per_volume_rows(["a", "b", "c"], results, ["RV", "Myo", "LV"])
    assert len(rows) == 9 and set(rows[0]) == set(PER_VOLUME_COLUMNS)
    assert [(r["volume"], r["class"]) for r in rows[:4]] == [("a", "RV"), ("a", "Myo"), ("a", "LV"), ("b", "RV")]
    assert rows[4]["dice"] == results[1]["dice"][1] and rows[4]["asd"] == results[1]["asd"][1]
    parsed = list(csv.DictReader(io.StringIO(per_volume_csv(rows))))
    assert [float(r["asd"]) for r in parsed] == [r["asd"] for r in rows]  # repr: exact round trip
    assert {r["pred_empty"] for r in parsed} <= {"true", "false"}
    with pytest.raises(ValueError, match="2 case ids for 3 results"):
        per_volume_rows(["a", "b"], results, ["RV", "Myo", "LV"])
    with pytest.raises(ValueError, match="one value per class"):
        per_volume_rows(["a", "b", "c"], results, ["RV", "Myo"])


# ----------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A 1-iteration supervised run on the fast phantom (a few seconds)."""
    out = tmp_path_factory.mktemp("eval_protocol") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MONA_LAB_FAST", "1")
        code = main(
            ["train", "--method", "supervised", "--iterations", "1", "--out", str(out), "--dataset", "phantom",
             "--labeled", "2", "--image-size", "32", "--batch-size", "4", "--width", "0.25", "--embed-dim", "16",
             "--no-progress"]
        )  # fmt: skip
    assert code == 0
    return out / "last.pt"


@pytest.fixture
def fast_phantom(monkeypatch):
    monkeypatch.setenv("MONA_LAB_FAST", "1")


def _evaluate(checkpoint: Path, *extra: str) -> int:
    return main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "phantom", *extra])


def test_evaluate_paper_protocol_writes_json_and_csv_rows(tiny_checkpoint, tmp_path, capsys, fast_phantom):
    capsys.readouterr()
    table = tmp_path / "new" / "rows.csv"  # a missing folder is created
    assert _evaluate(tiny_checkpoint, "--protocol", "paper", "--csv", str(table), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["protocol"] == "paper" and summary["asd_units"] == "voxels"
    names = list(summary["per_class"])
    rows = summary["per_volume"]
    assert len(rows) == summary["num_volumes"] * len(names)
    assert sorted({r["volume"] for r in rows}) == summary["volumes"]
    for name in names:  # the per-class means are the means of the rows
        assert summary["per_class"][name]["dice"] == pytest.approx(np.mean([r["dice"] for r in rows if r["class"] == name]))
        assert summary["per_class"][name]["asd"] == pytest.approx(np.mean([r["asd"] for r in rows if r["class"] == name]))
    with table.open(newline="") as handle:
        parsed = list(csv.DictReader(handle))
    assert list(parsed[0]) == list(PER_VOLUME_COLUMNS)
    assert [(r["volume"], r["class"], float(r["dice"]), float(r["asd"])) for r in parsed] == [
        (r["volume"], r["class"], r["dice"], r["asd"]) for r in rows
    ]
    assert not [p for p in table.parent.iterdir() if p.name != "rows.csv"]  # no temporary file left


def test_evaluate_text_output_names_the_protocol(tiny_checkpoint, capsys, fast_phantom):
    capsys.readouterr()
    assert _evaluate(tiny_checkpoint) == 0
    out = capsys.readouterr().out
    assert "protocol strict" in out and "(ASD in mm)" in out and "lowest Dice:" in out
    assert _evaluate(tiny_checkpoint, "--protocol", "paper") == 0
    out = capsys.readouterr().out
    assert "protocol paper" in out and "(ASD in voxels)" in out


def test_evaluate_refuses_a_bad_csv_path_before_evaluating(tiny_checkpoint, tmp_path, capsys, fast_phantom):
    capsys.readouterr()
    assert _evaluate(tiny_checkpoint, "--csv", str(tmp_path)) == 2
    assert f"--csv {tmp_path} is a folder" in capsys.readouterr().err
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert _evaluate(tiny_checkpoint, "--csv", str(blocker / "rows.csv")) == 2
    assert f"{blocker} is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        _evaluate(tiny_checkpoint, "--protocol", "medpy")
    assert stop.value.code == 2 and "invalid choice: 'medpy'" in capsys.readouterr().err


def test_evaluate_checkpoint_refuses_an_unknown_protocol(tiny_checkpoint):
    from mona_lab.engine import evaluate_checkpoint

    with pytest.raises(MonaLabError, match="unknown protocol 'medpy'; choose strict or paper"):
        evaluate_checkpoint(tiny_checkpoint, "phantom", protocol="medpy")
