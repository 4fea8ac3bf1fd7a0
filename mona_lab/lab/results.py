"""Reading what training runs wrote: ``log.csv`` curves, ``metrics.json`` tables, the slices a
trained model gets most wrong, the stored benchmarks as text (ACDC: `format_benchmark`, LA:
`la_benchmark_table`) and one LA volume predicted by a run's checkpoint (`predict_la_volume`)."""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
from mona_lab.errors import MonaLabError


def read_log(out: str | Path) -> dict[str, np.ndarray]:
    """Columns of ``out/log.csv`` as arrays (floats; NaN where a step has no value;
    ``stage`` stays a string array)."""
    path = Path(out) / "log.csv"
    if not path.is_file():
        raise MonaLabError(f"{path} does not exist; is {out} a training run folder?")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, np.ndarray] = {}
    for name in rows[0].keys() if rows else ():
        if name == "stage":
            columns[name] = np.array([r[name] for r in rows])
        else:
            columns[name] = np.array([float(r[name]) if r[name] != "" else np.nan for r in rows])
    return columns


def read_metrics(out: str | Path) -> dict:
    path = Path(out) / "metrics.json"
    if not path.is_file():
        raise MonaLabError(f"{path} does not exist; did the run finish?")
    return json.loads(path.read_text())


def metrics_table(metrics_by_name: Mapping[str, dict], digits: int = 3) -> str:
    """A plain-text table: one row per run, Dice per class, mean Dice and mean ASD."""
    names = list(metrics_by_name)
    classes = list(metrics_by_name[names[0]]["per_class"])
    header = f"{'run':<14}" + "".join(f"{c:>9}" for c in classes) + f"{'mean Dice':>11}{'mean ASD':>10}"
    lines = [header]
    for name in names:
        m = metrics_by_name[name]
        cells = "".join(f"{m['per_class'][c]['dice']:>9.{digits}f}" for c in classes)
        lines.append(f"{name:<14}{cells}{m['mean_dice']:>11.{digits}f}{m['mean_asd']:>10.2f}")
    return "\n".join(lines)


def slice_dice(prediction: np.ndarray, label: np.ndarray, num_classes: int) -> np.ndarray:
    """Mean foreground Dice of each slice of a volume [D,H,W] (`mona_lab.metrics.dice_per_class`
    per slice; a class absent from both prediction and label counts as 1)."""
    from mona_lab.metrics import dice_per_class

    return np.array([float(dice_per_class(p[None], g[None], num_classes).mean()) for p, g in zip(prediction, label)])


def format_benchmark(payload: Mapping, terms=("contrast", "nn", "saacl", "eqv", "unsup")) -> str:
    """The stored five-seed ACDC benchmark (``benchmarks/results/acdc_active.json``) as text:
    mean Dice ± sd over seeds per method with each term's gradient share at the bottleneck
    (median over seeds; ``*`` below 0.01: muted), then the paired gains over supervised, over
    ``core`` and the stored ``contrasts`` (``"A - B"``: a principle over core, one sampler over
    another, MONA over its muted recipe) with their 95 % t intervals (points), each per-seed
    difference labelled with its seed, then the rerun noise floor.

    Raises:
        MonaLabError: a payload without ``summary`` / ``gains`` (named).
    """
    if not isinstance(payload, Mapping) or "summary" not in payload or "gains" not in payload:
        raise MonaLabError("not a stored ACDC benchmark (no summary / gains): run python benchmarks/acdc_reduced.py")
    lines = [f"{'method':<13}{'seeds':>6}{'mean Dice':>16}" + "".join(f"{t:>10}" for t in terms)]
    for spec, row in payload["summary"].items():
        mean, sd = row["dice"]["mean"]
        shares = row.get("shares", {})
        cells = "".join(
            f"{shares[t][0]:>9.3f}{'*' if shares[t][0] < 0.01 else ' '}" if t in shares else f"{'-':>10}" for t in terms
        )
        lines.append(f"{spec:<13}{len(row['seeds']):>6}{mean:>9.3f} ± {sd:.3f}{cells}")
    blocks = (("paired gain over supervised", payload["gains"]), ("paired gain over core", payload.get("gains_over_core", {})),
              ("paired contrasts A - B", payload.get("contrasts", {})))  # fmt: skip
    for title, block in blocks:
        if not block:
            continue
        lines.append(f"\n{title} (mean Dice points; 95 % t interval over seeds; each seed)")
        width = max(13, *(len(spec) + 1 for spec in block))
        for spec, gain in block.items():
            if spec == "supervised" and title.endswith("core"):
                continue  # the same pairs as core's gain over supervised, sign flipped
            low, high = gain["ci95"]
            interval = f"[{low:+6.1f}, {high:+6.1f}]" if low == low else "[  n/a,   n/a]"
            seeds = " ".join(f"s{seed} {v:+5.1f}" for seed, v in gain["per_seed"].items())
            lines.append(f"  {spec:<{width}}{gain['mean']:+6.1f} {interval}   {seeds}")
    for spec, floor in payload.get("noise_floor", {}).items():
        first, again = floor["mean_dice"]
        lines.append(f"\nnoise floor: {spec} seed {floor['seed']} rerun with {floor['threads']} threads: "
                     f"{first:.3f} -> {again:.3f} ({floor['difference']:+.1f} points)")  # fmt: skip
    return "\n".join(lines)


LA_SCORES = (("dice", "Dice", 3), ("jaccard", "Jaccard", 3), ("hd95", "95HD", 1), ("asd", "ASD", 2))


def la_benchmark_table(payload: Mapping, baseline: str = "supervised") -> str:
    """The stored LA benchmark (``benchmarks/la_reduced.py`` -> ``benchmarks/results/
    la_reduced.json``) as text, in `format_benchmark`'s style: per method the number of seeds,
    Dice, Jaccard, 95HD and ASD as mean ± sd over seeds (each run's mean over the validation
    volumes; distances in voxels) and the paired gain in Dice points over ``baseline`` with its
    95 % t interval over seeds (``n/a`` with one seed), then the per-seed gains. A method the
    run asked for (``args["methods"]``) without a finished run says so on its row.

    Args:
        payload: la_reduced.py's JSON: ``summary[method]`` (``seeds``; ``dice``, ``jaccard``,
            ``hd95``, ``asd`` as ``[mean, sd]``), ``gains[method]`` (``mean``, ``ci95``,
            ``per_seed``), optionally ``args`` (``methods``) and ``runs``.
        baseline: the method the gains are over (la_reduced.py: supervised).

    Raises:
        MonaLabError: a payload without ``summary`` / ``gains`` (named).
    """
    if not isinstance(payload, Mapping) or "summary" not in payload or "gains" not in payload:
        raise MonaLabError("not a stored LA benchmark (no summary / gains): run python benchmarks/la_reduced.py")
    summary, gains = payload["summary"], payload["gains"]
    asked = list(payload.get("args", {}).get("methods") or [])
    methods = list(dict.fromkeys([*asked, *payload.get("runs", {}), *summary]))
    lines = [f"{'method':<13}{'seeds':>6}" + "".join(f"{title:>10}{'':8}" for _, title, _ in LA_SCORES)
             + f"{f'gain over {baseline} [95 %]':>32}"]  # fmt: skip
    for method in methods:
        row = summary.get(method)
        if not row or not row.get("seeds"):
            lines.append(f"{method:<13}{0:>6}   no runs yet (python benchmarks/la_reduced.py --methods {method})")
            continue
        cells = "".join(f"{row[key][0]:>10.{digits}f} ± {row[key][1]:<5.{digits}f}" for key, _, digits in LA_SCORES)
        if method == baseline:
            gain = "(baseline)"
        elif method in gains:
            low, high = gains[method]["ci95"]
            interval = f"[{low:+6.1f}, {high:+6.1f}]" if low == low else "[  n/a,   n/a]"
            gain = f"{gains[method]['mean']:+6.1f} {interval}"
        else:
            gain = f"- (no {baseline} run on its seeds)"
        lines.append(f"{method:<13}{len(row['seeds']):>6}{cells}{gain:>32}")
    per_seed = {m: g["per_seed"] for m, g in gains.items() if g.get("per_seed")}
    if per_seed:
        lines.append(f"\npaired gain over {baseline} per seed (Dice points; each method against the {baseline} run "
                     "on the same labelled volumes)")  # fmt: skip
        for method, values in per_seed.items():
            lines.append(f"  {method:<13}" + " ".join(f"seed {s} {v:+5.1f}" for s, v in values.items()))
    lines.append("Dice and Jaccard as fractions; 95HD and ASD in voxels of the native grid; mean ± sd over seeds")
    return "\n".join(lines)


class LAPrediction(NamedTuple):
    """One LA volume and a checkpoint's segmentation of it, all ``[D, H, W]`` at the native grid."""

    case_id: str
    image: np.ndarray  # float32, as stored (z-scored)
    label: np.ndarray  # int64 in {0, 1}
    prediction: np.ndarray  # int64 class indices


def predict_la_volume(
    checkpoint: str | os.PathLike, case: str | os.PathLike, root: str | os.PathLike | None = None,
    device: str = "auto", batch_size: int = 2,
) -> LAPrediction:
    """Predict one LA volume with a 3D run's checkpoint, as ``mona-lab evaluate --dataset la``
    does: the sliding window of the run's crop and final stride (``window_stride``) on the
    volume downsampled as the run was trained (``la_downsample``), probabilities brought back
    to the native grid (`mona_lab.metrics.to_native_grid`), then the argmax. The scores of
    this prediction are the run's ``metrics.json`` ``per_volume`` scores for that case.

    Args:
        checkpoint: a ``.pt`` file, or a run folder (its ``last.pt``: the model la_reduced.py
            and ``metrics.json`` score).
        case: an ``mri_norm2.h5`` file, or a case ID read from the LA folder ``root``.
        root: the LA folder for a case ID (else ``$MONA_LAB_LA``, then ``data/LA``:
            `mona_lab.data.resolve_la_root`).
        device: where to run (`mona_lab.select_device`); batch_size: windows per forward.

    Returns:
        `LAPrediction` ``(case_id, image, label, prediction)``.

    Raises:
        MonaLabError: no checkpoint there, a 2D checkpoint, or an LA case that cannot be read
            (the readers' messages name the file).
    """
    from mona_lab.config import TrainConfig
    from mona_lab.data import downsample_volume, read_la_volume, resolve_la_root
    from mona_lab.metrics import sliding_window_predict, to_native_grid
    from mona_lab.runtime import select_device
    from mona_lab.training.validation import load_trained_model

    path = Path(checkpoint)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise MonaLabError(f"checkpoint {path} does not exist; pass a .pt file or a run folder holding last.pt")
    dev = select_device(device)
    model, state = load_trained_model(path, dev)
    if state["model_config"].get("kind") != "vnet3d":
        raise MonaLabError(f"checkpoint {path} holds a 2D UNet, not a 3D VNet: predict its volumes with mona_lab.metrics.predict_volume")
    config = TrainConfig.from_dict(state["config"])
    given = Path(case)
    volume = read_la_volume(given) if given.is_file() else read_la_volume(resolve_la_root(root), str(case))
    network_input = volume if config.la_downsample == 1 else downsample_volume(volume, config.la_downsample)
    probabilities = sliding_window_predict(
        lambda x: model(x).logits, network_input.image, config.crop_shape, config.window_stride_shape,
        len(state["class_names"]), batch_size=batch_size, device=dev,
    )  # fmt: skip
    prediction = to_native_grid(probabilities, volume.shape).argmax(0).astype(np.int64)
    return LAPrediction(volume.case_id, volume.image, volume.label, prediction)
