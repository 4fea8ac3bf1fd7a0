"""How much patients differ: ACDC against the phantom at several ``heterogeneity`` levels.

Issue 24: on the default phantom two labelled patients cover all the others, so
unlabelled patients teach nothing. `PhantomConfig.heterogeneity` adds inter-patient
variation of acquisition (contrast, intensity scale, bias, noise, resolution) and anatomy
(size, position, rotation, shape, contraction, pathology). This script measures, without
any training, per-patient statistics of the image and the labels and their spread ACROSS
patients, for the 70 ACDC training patients (training slices, native resolution) and for
phantoms of 70 patients (seed 0, 128 x 128) at each level, and prints them side by side.

Per-patient statistics (``LV`` is ACDC's cavity label 3; on the phantom 3 and the papillary
muscles 4, which ACDC counts as cavity; ``fg`` = RV + Myo + LV):

==============  ==============================================================  ========
name            what                                                            spread
==============  ==============================================================  ========
contrast        mean LV intensity / mean Myo intensity                          CV
blood           mean LV intensity (after each volume's min-max)                 CV
median          median intensity of all pixels                                  CV
p95             95th percentile of all pixels                                   CV
noise           Immerkaer noise estimate (median over slices) / blood           CV
lv_cv           std / mean inside the LV eroded by one pixel (noise + bias)     CV
sharpness       mean gradient on the LV-Myo border / (LV - Myo contrast), 1/px  CV
lv_fraction     LV pixels / all pixels, ED                                      CV
centre_x, _y    foreground centroid, fraction of the image width / height        std
rv_angle        direction LV centroid -> RV centroid, ED, radians (rotation)    circ. std
lv_elong        sqrt(major / minor second moment) - 1 of the LV, ED slices      CV
es_ed           LV area ES / LV area ED (contraction; pathology)                CV
myo_lv          Myo area / LV area, ED (wall thickness; pathology)              CV
rv_lv           RV area / LV area, ED                                           CV
==============  ==============================================================  ========

CV is std / mean across patients (ddof 1). Only these statistics are stored
(``benchmarks/results/phantom_heterogeneity.json``), never images: ACDC's terms forbid
redistribution. Runs in about a minute on one thread.

Usage: ``python benchmarks/phantom_heterogeneity.py [--levels 0 0.5 1 1.5] [--patients 70]
[--root PATH] [--out PATH]``
"""
from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion, convolve

from mona_lab.data.acdc import iter_acdc_training_slices, resolve_acdc_root
from mona_lab.data.phantom import PhantomConfig, make_phantom_patient
from mona_lab.data.stats import fit_zipf_exponent
from mona_lab.errors import MonaLabError

STATS = ("contrast", "blood", "median", "p95", "noise", "lv_cv", "sharpness", "lv_fraction",
         "centre_x", "centre_y", "rv_angle", "lv_elong", "es_ed", "myo_lv", "rv_lv")
STD_STATS = ("centre_x", "centre_y")  # positions: spread is the std, not the CV
ANGLE_STATS = ("rv_angle",)  # circular mean and circular std sqrt(-2 ln R), radians
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
OUT = Path(__file__).resolve().parent / "results" / "phantom_heterogeneity.json"
_SHARED_ACDC = Path(__file__).resolve().parents[2] / "shared" / "data" / "ACDC"  # as in tests/conftest.py


def immerkaer_sigma(image: np.ndarray) -> float:
    """Gaussian noise sigma of a 2-D image (Immerkaer 1996): the mean absolute response of a
    Laplacian difference mask, which cancels locally linear signal."""
    h, w = image.shape
    response = convolve(image.astype(np.float64), _IMMERKAER, mode="reflect")[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.abs(response).sum() / (6.0 * (w - 2) * (h - 2)))


def slice_sums(image: np.ndarray, label: np.ndarray, lv_labels: tuple[int, ...]) -> dict[str, float]:
    """Additive per-slice sums from which `patient_stats` forms the ratios."""
    lv, myo, rv = np.isin(label, lv_labels), label == 2, label == 1
    fg = lv | myo | rv
    inner = binary_erosion(lv)
    band = binary_dilation(lv) & binary_dilation(myo)
    gy, gx = np.gradient(image.astype(np.float64))
    grad = np.hypot(gx, gy)
    h, w = image.shape
    ys, xs = np.nonzero(fg)
    ly, lx = np.nonzero(lv)
    ry, rx = np.nonzero(rv)
    elong = float("nan")
    if lx.size >= 20:  # sqrt of the ratio of the principal second moments of the cavity
        evals = np.linalg.eigvalsh(np.cov(np.stack([lx, ly]).astype(np.float64)))
        elong = float(np.sqrt(evals[1] / max(evals[0], 1e-9)) - 1.0)
    return {
        "pixels": float(image.size), "lv": float(lv.sum()), "myo": float(myo.sum()), "rv": float(rv.sum()),
        "lv_int": float(image[lv].sum()), "myo_int": float(image[myo].sum()),
        "inner": float(inner.sum()), "inner_sum": float(image[inner].sum()),
        "inner_sq": float((image[inner].astype(np.float64) ** 2).sum()),
        "band": float(band.sum()), "band_grad": float(grad[band].sum()),
        "fg": float(fg.sum()), "fg_x": float(((xs + 0.5) / w).sum()), "fg_y": float(((ys + 0.5) / h).sum()),
        "lv_x": float(lx.sum()), "lv_y": float(ly.sum()), "rv_x": float(rx.sum()), "rv_y": float(ry.sum()),
        "elong": elong, "sigma": immerkaer_sigma(image),
    }


def patient_stats(slices: list[tuple[int, np.ndarray, np.ndarray]], lv_labels: tuple[int, ...]) -> dict:
    """The statistics of the module docstring for one patient from its ``(frame, image,
    label)`` slices (frame 0 = ED, 1 = ES)."""
    sums = [(frame, slice_sums(img, lab, lv_labels)) for frame, img, lab in slices]

    def total(key: str, frame: int | None = None) -> float:
        return sum(s[key] for f, s in sums if frame is None or f == frame)

    def mean_of(key: str, count: str) -> float:  # an ED centroid coordinate, pixels
        return total(key, 0) / total(count, 0)

    pixels = np.concatenate([img.ravel() for _, img, _ in slices])
    blood, myo = total("lv_int") / total("lv"), total("myo_int") / total("myo")
    inner_mean = total("inner_sum") / total("inner")
    inner_var = total("inner_sq") / total("inner") - inner_mean**2
    return {
        "contrast": blood / myo,
        "blood": blood,
        "median": float(np.median(pixels)),
        "p95": float(np.percentile(pixels, 95)),
        "noise": float(np.median([s["sigma"] for _, s in sums])) / blood,
        "lv_cv": float(np.sqrt(max(inner_var, 0.0))) / inner_mean,
        "sharpness": total("band_grad") / total("band") / (blood - myo),
        "lv_fraction": total("lv", 0) / total("pixels", 0),
        "centre_x": total("fg_x") / total("fg"),
        "centre_y": total("fg_y") / total("fg"),
        "es_ed": total("lv", 1) / total("lv", 0),
        "myo_lv": total("myo", 0) / total("lv", 0),
        "rv_lv": total("rv", 0) / total("lv", 0),
        "rv_angle": float(np.arctan2(mean_of("rv_y", "rv") - mean_of("lv_y", "lv"),
                                     mean_of("rv_x", "rv") - mean_of("lv_x", "lv"))),
        "lv_elong": float(np.nanmean([s["elong"] for f, s in sums if f == 0])),
    }


def acdc_patient_stats(root: Path) -> list[dict[str, float]]:
    """`patient_stats` of every ACDC training patient (``frame01`` = ED, ``frame02`` = ES)."""
    by_patient: dict[str, list] = defaultdict(list)
    for vol in iter_acdc_training_slices(root):
        frame = 0 if "_frame01" in vol.case_id else 1
        by_patient[vol.patient_id].append((frame, vol.image[0], vol.label[0]))
    return [patient_stats(slices, (3,)) for _, slices in sorted(by_patient.items())]


def phantom_patient_stats(config: PhantomConfig) -> tuple[list[dict[str, float]], float]:
    """`patient_stats` of every phantom patient (LV = cavity 3 + papillary muscles 4), and
    the data set's fitted Zipf exponent (the tail must survive the heterogeneity)."""
    rows, counts = [], np.zeros(6)
    for i in range(config.num_patients):
        volumes = make_phantom_patient(config, i)
        counts += sum(np.bincount(v.label.ravel(), minlength=6) for v in volumes)
        slices = [(f, v.image[z], v.label[z]) for f, v in enumerate(volumes) for z in range(v.num_slices)]
        rows.append(patient_stats(slices, (3, 4)))
    return rows, fit_zipf_exponent(counts)


def summarise(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Across-patient mean, std and spread (CV, or std for `STD_STATS`) of each statistic."""
    out = {}
    for name in STATS:
        values = np.array([r[name] for r in rows])
        if name in ANGLE_STATS:
            resultant = np.exp(1j * values).mean()
            mean, std = float(np.angle(resultant)), float(np.sqrt(-2.0 * np.log(abs(resultant))))
            out[name] = {"mean": mean, "std": std, "spread": std}
            continue
        mean, std = float(values.mean()), float(values.std(ddof=1))
        out[name] = {"mean": mean, "std": std, "spread": std if name in STD_STATS else std / abs(mean)}
    return out


def format_table(columns: dict[str, dict[str, dict[str, float]]]) -> str:
    """One row per statistic: ``mean (spread)`` per column; then the ratio of each phantom
    column's spread to ACDC's, the figure the heterogeneity-1 calibration aims at 1."""
    names = list(columns)
    lines = ["statistic    " + "".join(f"{n:>20}" for n in names), "-" * (13 + 20 * len(names))]
    for stat in STATS:
        cells = "".join(f"{columns[n][stat]['mean']:>11.3f} ({columns[n][stat]['spread']:.3f})" for n in names)
        lines.append(f"{stat:<13}{cells}")
    if "ACDC" in columns:
        lines += ["", "spread / ACDC spread", "-" * (13 + 20 * len(names))]
        for stat in STATS:
            ref = columns["ACDC"][stat]["spread"]
            lines.append(f"{stat:<13}" + "".join(f"{columns[n][stat]['spread'] / ref:>20.2f}" for n in names))
    return "\n".join(lines)


def acdc_root(given: str | None) -> Path:
    """``given``, else ``$MONA_LAB_ACDC``, else the shared copy beside the checkout, else
    `resolve_acdc_root`'s default (which raises `MonaLabError` naming the fixes)."""
    shared = _SHARED_ACDC if _SHARED_ACDC.is_dir() else None
    return resolve_acdc_root(given or os.environ.get("MONA_LAB_ACDC") or shared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5])
    parser.add_argument("--patients", type=int, default=70, help="phantom patients per level (ACDC has 70)")
    parser.add_argument("--root", default=None, help="ACDC folder (default $MONA_LAB_ACDC, ../shared/data/ACDC)")
    parser.add_argument("--out", default=str(OUT), help="JSON file for the statistics")
    args = parser.parse_args()
    start = time.perf_counter()
    columns: dict[str, dict[str, dict[str, float]]] = {}
    zipf: dict[str, float] = {}
    try:
        columns["ACDC"] = summarise(acdc_patient_stats(acdc_root(args.root)))
    except MonaLabError as err:  # ACDC absent: the phantom columns still print
        print(f"ACDC skipped: {err}")
    for level in args.levels:
        name = f"phantom h={level:g}"
        rows, zipf[name] = phantom_patient_stats(PhantomConfig(num_patients=args.patients, heterogeneity=level))
        columns[name] = summarise(rows)
    print(format_table(columns))
    print("\nfitted Zipf exponent (asked 1.0): " + ", ".join(f"{k} {v:.3f}" for k, v in zipf.items()))
    elapsed = time.perf_counter() - start
    print(f"\n{elapsed:.0f} s")
    payload = {"patients": args.patients, "levels": args.levels, "columns": columns, "zipf_exponent": zipf,
               "seconds": round(elapsed, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=1) + "\n")

if __name__ == "__main__":
    main()
