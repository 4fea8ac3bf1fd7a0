"""Validation: score a network on 3D volumes (Dice, ASD per class), during and after training.

- `evaluate_volumes`: predict every volume slice by slice at its native grid and score it
  against its label (`mona_lab.metrics`); with several processes the volumes are shared
  out and the results gathered.
- `validate`: the training loop's validation of the method's student on ``data.val_volumes``.
- `load_trained_model` and `evaluate_checkpoint`: rebuild the student of a ``best.pt`` /
  ``last.pt`` (`mona_lab.training.checkpoint.model_state`) and score it on the ``val`` or
  ``test`` volumes of any data set with the same classes (``mona-lab evaluate``).
"""
from __future__ import annotations

from pathlib import Path

import torch

from mona_lab.errors import MonaLabError
from mona_lab.metrics import evaluate_volume, predict_volume, summarise
from mona_lab.runtime import select_device
from mona_lab.training import distributed
from mona_lab.training.checkpoint import load_checkpoint


@torch.no_grad()
def evaluate_volumes(
    model_fn, volumes, num_classes: int, class_names, image_size: int, device, info=None, protocol: str = "strict"
) -> dict:
    """Dice and ASD per class over 3D ``volumes`` (slice-wise prediction, stacked).

    Each volume is predicted at its native grid ``[D, H, W]`` (`predict_volume`) and scored
    against its stored label with `evaluate_volume` under ``protocol``: ``"strict"``
    (default; pooled symmetric ASD, in mm when ``volume.spacing`` is known, else voxels) or
    ``"paper"`` (the papers' test scripts: directed ASD in voxels, their empty-mask rules);
    see `mona_lab.metrics`. With several processes each evaluates every ``world_size``-th
    volume and the results are gathered, so every process returns the same summary.

    Returns:
        `summarise`'s dict plus ``"volumes"`` (the case ids, sorted), ``"protocol"``,
        ``"asd_units"`` (``"mm"``, ``"voxels"`` or ``"mixed"``) and ``"per_volume"``: one
        row per volume and foreground class, ``{"volume", "class", "dice", "asd",
        "pred_empty", "target_empty"}`` (`mona_lab.metrics.per_volume_rows`).

    Raises:
        MonaLabError: a volume without a label, or an unknown ``protocol``.
    """
    from mona_lab.metrics import check_protocol, per_volume_rows

    try:
        protocol = check_protocol(protocol)
    except ValueError as err:
        raise MonaLabError(str(err)) from err
    info = info or distributed.DistInfo()
    mine = [v for i, v in enumerate(volumes) if i % info.world_size == info.rank]
    results = []
    for volume in mine:
        if volume.label is None:
            raise MonaLabError(f"volume {volume.case_id} has no label; it cannot be evaluated")
        pred = predict_volume(model_fn, volume.image, image_size, device=device)
        results.append(
            (volume.case_id, evaluate_volume(pred, volume.label, num_classes, volume.spacing, protocol=protocol))
        )
    gathered = [r for part in distributed.gather_objects(results, info) for r in part]
    gathered.sort(key=lambda item: item[0])
    foreground = list(class_names)[1:]
    summary = summarise([r for _, r in gathered], foreground)
    summary["volumes"] = [case for case, _ in gathered]
    summary["protocol"] = protocol
    units = sorted({r["asd_units"] for _, r in gathered})
    summary["asd_units"] = units[0] if len(units) == 1 else "mixed"
    summary["per_volume"] = per_volume_rows(summary["volumes"], [r for _, r in gathered], foreground)
    return summary


def validate(method, data, image_size: int, device: torch.device, info: distributed.DistInfo) -> dict:
    """`evaluate_volumes` of the method's student on ``data.val_volumes`` (in eval mode,
    then back in train mode)."""
    method.eval()
    try:
        return evaluate_volumes(method.predict_logits, data.val_volumes, data.num_classes, data.class_names, image_size, device, info)
    finally:
        method.train()


def load_trained_model(checkpoint: Path, device: torch.device):
    """The student network of a checkpoint, in eval mode, and the checkpoint's metadata."""
    from mona_lab.models import model_from_config

    state = load_checkpoint(checkpoint, map_location=device)
    missing = [k for k in ("model_config", "method", "class_names", "image_size") if k not in state]
    if missing:
        raise MonaLabError(f"checkpoint {checkpoint} is not a mona_lab training checkpoint (missing {missing})")
    model = model_from_config(state["model_config"])
    prefix = "student."
    weights = {k[len(prefix) :]: v for k, v in state["method"].items() if k.startswith(prefix)}
    model.load_state_dict(weights)
    return model.to(device).eval(), state


def evaluate_checkpoint(
    checkpoint: Path, dataset: str, root: str | None = None, split: str = "val", device: str = "auto",
    protocol: str = "strict",
) -> dict:
    """Run a checkpoint's student on the ``val`` or ``test`` volumes of any data set with the same classes.

    ``protocol``: ``"strict"`` (default) or ``"paper"``, see `evaluate_volumes`. Returns its
    summary (per-class means, ``per_volume`` rows) with ``checkpoint``, ``dataset``, ``split``.
    """
    from mona_lab.data import load_dataset
    from mona_lab.metrics import PROTOCOL_CHOICES

    if split not in ("val", "test"):
        raise MonaLabError(f"unknown split {split!r}; choose val or test")
    if protocol not in PROTOCOL_CHOICES:
        raise MonaLabError(f"unknown protocol {protocol!r}; choose {' or '.join(PROTOCOL_CHOICES)}")
    dev = select_device(device)
    model, state = load_trained_model(Path(checkpoint), dev)
    # a phantom checkpoint is scored on the phantom it was trained with (its config records the size)
    fast = state.get("config", {}).get("phantom_fast") if dataset == "phantom" else None
    data = load_dataset(dataset, root=root, image_size=int(state["image_size"]), fast=fast)
    if list(data.class_names) != list(state["class_names"]):
        raise MonaLabError(
            f"checkpoint classes {list(state['class_names'])} differ from data set {dataset!r} classes {list(data.class_names)}"
        )
    volumes = data.val_volumes if split == "val" else data.test_volumes
    if not volumes:
        raise MonaLabError(f"data set {dataset!r} has no {split} volumes here (for ACDC the test split needs test.list and its volumes)")
    summary = evaluate_volumes(
        lambda x: model(x).logits, volumes, data.num_classes, data.class_names, int(state["image_size"]), dev,
        protocol=protocol,
    )
    return {"checkpoint": str(checkpoint), "dataset": dataset, "split": split, **summary}


