"""The LA literature's evaluation of a 3D network: sliding window, then Dice, Jaccard, 95HD, ASD per volume.

UA-MT (``test_util.py``: ``test_all_case`` / ``calculate_metric_percase``), reused by SASSNet,
DTC, SS-Net, ACTION and ACTION++ (paper 004, Sec. 3, Table 1): each validation volume is
predicted whole by a sliding window (`sliding_window_predict`: patch = the training crop,
stride 18x18x4 at 112x112x80, `scaled_stride` for a smaller crop) and scored with medpy's
``dc``, ``jc``, ``hd95`` and ``asd(pred, gt)`` in voxels (`binary_scores`); the tables print
the mean over volumes.

A network trained on volumes downsampled by ``f`` (a CPU setting, `mona_lab.data.la.
downsample_volume`) is run on the downsampled image, and its probabilities are brought back
to the volume's native grid before the argmax: trilinear upsampling by ``f`` (voxel centres
aligned with the block means the downsampling took), then the ``n mod f`` slices the
downsampling dropped at the far end of an axis repeat the last ones. The scores are
therefore always on the native grid, in native voxels, comparable with the papers' tables.

- `volume_window_scores`: one volume -> per foreground class Dice, Jaccard, 95HD, ASD and
  whether either mask is empty;
- `summarise_window_scores`: mean and population sd over volumes per class, the class
  means, and one row per volume and class (`per_volume_csv` writes them with their
  Jaccard and 95HD columns).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mona_lab.metrics.binary_metrics import BINARY_SCORE_NAMES, binary_scores
from mona_lab.metrics.sliding_window import sliding_window_predict

LA_PROTOCOL = "la"
LA_PROTOCOL_DESCRIPTION = (
    "the LA literature's (UA-MT test_util.py): sliding window, medpy dc, jc, hd95 and directed asd(pred, gt) "
    "in native voxels; a missed structure gets the volume diagonal"
)


def to_native_grid(probabilities: np.ndarray, native_shape: Sequence[int]) -> np.ndarray:
    """``[C, d, h, w]`` probabilities of a volume downsampled by an integer factor per axis
    back to ``native_shape`` ``(D, H, W)`` (``d = D // f_D``, ...), module docstring.

    Raises:
        ValueError: a shape that is not an integer downsampling of ``native_shape``.
    """
    probs = torch.from_numpy(np.ascontiguousarray(probabilities, dtype=np.float32))
    small, native = tuple(probs.shape[1:]), tuple(int(n) for n in native_shape)
    if small == native:
        return probabilities
    factors = [n // s if s else 0 for n, s in zip(native, small)]
    if len(native) != 3 or any(f < 1 or n // f != s for f, n, s in zip(factors, native, small)):
        raise ValueError(f"probabilities of shape {small} are not an integer downsampling of {native}")
    up = F.interpolate(probs[None], size=tuple(s * f for s, f in zip(small, factors)), mode="trilinear", align_corners=False)
    tail = [n - s * f for n, s, f in zip(native, small, factors)]
    pads = [q for t in reversed(tail) for q in (0, t)]  # F.pad: last axis first, only at the far end
    return F.pad(up, pads, mode="replicate")[0].numpy() if any(tail) else up[0].numpy()


def volume_window_scores(
    model_fn: Callable[[torch.Tensor], Any],
    image: np.ndarray,
    label: np.ndarray,
    patch_size: Sequence[int],
    stride: Sequence[int],
    num_classes: int,
    *,
    device: str | torch.device | None = None,
    batch_size: int = 1,
) -> dict[str, list]:
    """Sliding-window prediction of one volume and its scores per foreground class.

    Args:
        model_fn: ``[B, 1, *patch] -> logits [B, C, *patch]`` (or an output with ``.logits``).
        image: ``[d, h, w]`` the network's input grid (the stored volume, or downsampled).
        label: ``[D, H, W]`` the native label (``d = D // f``; equal shapes when not downsampled).
        patch_size, stride: the window and its step, ``(D, H, W)`` at the input grid.
        num_classes: ``C``.
        device, batch_size: as `sliding_window_predict`.

    Returns:
        ``{"dice", "jaccard", "hd95", "asd", "pred_empty", "target_empty"}``, each a list of
        ``C - 1`` values (class 1 first), distances in native voxels (`binary_scores`).
    """
    probs = sliding_window_predict(model_fn, image, patch_size, stride, num_classes, device=device, batch_size=batch_size)
    pred = to_native_grid(probs, np.shape(label)).argmax(0)
    target = np.asarray(label)
    result: dict[str, list] = {name: [] for name in (*BINARY_SCORE_NAMES, "pred_empty", "target_empty")}
    for k in range(1, num_classes):
        p, g = pred == k, target == k
        for name, value in binary_scores(p, g).items():
            result[name].append(value)
        result["pred_empty"].append(not bool(p.any()))
        result["target_empty"].append(not bool(g.any()))
    return result


def summarise_window_scores(
    case_ids: Sequence[str], results: Sequence[dict[str, list]], class_names: Sequence[str]
) -> dict[str, Any]:
    """Mean and spread over volumes of `volume_window_scores` results.

    Returns:
        ``{"num_volumes", "per_class": {name: {"dice", "dice_std", "jaccard", "jaccard_std",
        "hd95", "hd95_std", "asd", "asd_std", "asd_undefined"}}, "mean_dice", "mean_jaccard",
        "mean_hd95", "mean_asd", "volumes", "protocol": "la", "asd_units": "voxels",
        "per_volume": [{"volume", "class", "dice", "asd", "pred_empty", "target_empty",
        "jaccard", "hd95"}, ...]}``; sd is the population sd (``ddof=0``), NaN values skipped.

    Raises:
        ValueError: no results, or ``case_ids`` / ``class_names`` of the wrong length.
    """
    if not results:
        raise ValueError("results is empty: evaluate at least one volume before summarising")
    if len(case_ids) != len(results):
        raise ValueError(f"got {len(case_ids)} case ids for {len(results)} results")
    names = [str(n) for n in class_names]
    if any(len(r["dice"]) != len(names) for r in results):
        raise ValueError(f"each result must hold one value per class of {names}")
    per_class: dict[str, dict[str, float]] = {}
    for k, name in enumerate(names):
        entry: dict[str, float] = {}
        for score in BINARY_SCORE_NAMES:
            values = np.array([float(r[score][k]) for r in results])
            finite = values[~np.isnan(values)]
            entry[score] = float(finite.mean()) if finite.size else float("nan")
            entry[f"{score}_std"] = float(finite.std()) if finite.size else float("nan")
        entry["asd_undefined"] = int(sum(np.isnan(float(r["asd"][k])) for r in results))
        per_class[name] = entry
    rows = [
        {
            "volume": str(case), "class": name, "dice": float(r["dice"][k]), "asd": float(r["asd"][k]),
            "pred_empty": bool(r["pred_empty"][k]), "target_empty": bool(r["target_empty"][k]),
            "jaccard": float(r["jaccard"][k]), "hd95": float(r["hd95"][k]),
        }
        for case, r in zip(case_ids, results)
        for k, name in enumerate(names)
    ]  # fmt: skip
    summary: dict[str, Any] = {"num_volumes": len(results), "per_class": per_class}
    for score in BINARY_SCORE_NAMES:
        summary[f"mean_{score}"] = float(np.mean([per_class[n][score] for n in names]))
    summary.update(volumes=[str(c) for c in case_ids], protocol=LA_PROTOCOL, asd_units="voxels", per_volume=rows)
    return summary
