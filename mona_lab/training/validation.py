"""Validation: score a network on 3D volumes (Dice, ASD per class), during and after training.

- `evaluate_volumes`: predict every volume slice by slice at its native grid and score it
  against its label (`mona_lab.metrics`); with several processes the volumes are shared
  out and the results gathered.
- `evaluate_volumes_3d`: the LA literature's evaluation of a 3D network: a sliding window
  over each whole volume, Dice, Jaccard, 95HD and ASD in native voxels
  (`mona_lab.metrics.window_scores`), volumes shared out across processes the same way.
- `validate`: the training loop's validation of the method's student on ``data.val_volumes``
  (3D: with the periodic validation's stride, the final scores with the papers' overlap).
- `load_trained_model` and `evaluate_checkpoint`: rebuild the student of a ``best.pt`` /
  ``last.pt`` (`mona_lab.training.checkpoint.model_state`) and score it on the ``val`` or
  ``test`` volumes of any data set with the same classes (``mona-lab evaluate``).
"""
from __future__ import annotations

from pathlib import Path

import torch

from mona_lab.config import VOLUME_DATASETS
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


@torch.no_grad()
def evaluate_volumes_3d(
    model_fn, volumes, inputs, class_names, patch_size, stride, device, info=None, batch_size: int = 2
) -> dict:
    """Sliding-window scores of a 3D network over whole volumes (`volume_window_scores`).

    Args:
        model_fn: ``[B, 1, *patch] -> logits``.
        volumes: the labelled `Volume` objects at their native grid (scored there).
        inputs: their images at the network's grid (``volume.image``, or downsampled).
        class_names: background first.
        patch_size, stride: the window (the training crop) and its step, ``(D, H, W)``.
        device, info: where to run, and the processes to share the volumes among.
        batch_size: windows per forward (the result does not depend on it). 2 by default: on
            one CPU thread a VNet (8 base filters, 32x64x64 windows) took 0.17 s per window
            one at a time and 0.03 s two at a time (4: 0.04 s, 16: 0.07 s).

    Returns:
        `summarise_window_scores`'s dict (``per_class``, ``mean_dice``, ``mean_jaccard``,
        ``mean_hd95``, ``mean_asd``, ``per_volume`` rows, ``protocol`` ``"la"``, ``asd_units``
        ``"voxels"``) plus ``"window"``: the patch and stride used.

    Raises:
        MonaLabError: a volume without a label, or ``inputs`` not matching ``volumes``.
    """
    from mona_lab.metrics import summarise_window_scores, volume_window_scores

    if len(inputs) != len(volumes):
        raise MonaLabError(f"got {len(inputs)} network inputs for {len(volumes)} volumes")
    info = info or distributed.DistInfo()
    results = []
    for i, (volume, image) in enumerate(zip(volumes, inputs)):
        if i % info.world_size != info.rank:
            continue
        if volume.label is None:
            raise MonaLabError(f"volume {volume.case_id} has no label; it cannot be evaluated")
        scores = volume_window_scores(
            model_fn, image, volume.label, patch_size, stride, len(class_names), device=device, batch_size=batch_size
        )
        results.append((volume.case_id, scores))
    gathered = sorted((r for part in distributed.gather_objects(results, info) for r in part), key=lambda item: item[0])
    summary = summarise_window_scores([c for c, _ in gathered], [r for _, r in gathered], list(class_names)[1:])
    summary["window"] = {"patch": list(patch_size), "stride": list(stride)}
    return summary


def validate(
    method, data, image_size: int, device: torch.device, info: distributed.DistInfo, final: bool = False
) -> dict:
    """`evaluate_volumes` of the method's student on ``data.val_volumes`` (in eval mode,
    then back in train mode). 3D data (`VolumeData`): `evaluate_volumes_3d` with the crop as
    the window and the stride ``config.window_stride`` when ``final`` (metrics.json: the
    papers' overlap), else ``config.val_window_stride`` (the cheaper periodic validation)."""
    method.eval()
    try:
        if getattr(data, "spatial_dims", 2) == 3:
            config = method.config
            stride = config.window_stride_shape if final else config.val_window_stride_shape
            return evaluate_volumes_3d(
                method.predict_logits, data.val_volumes, data.val_inputs, data.class_names, config.crop_shape, stride, device, info
            )
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
    from mona_lab.data import load_dataset, phantom_config_for
    from mona_lab.metrics import PROTOCOL_CHOICES

    if split not in ("val", "test"):
        raise MonaLabError(f"unknown split {split!r}; choose val or test")
    if protocol not in PROTOCOL_CHOICES:
        raise MonaLabError(f"unknown protocol {protocol!r}; choose {' or '.join(PROTOCOL_CHOICES)}")
    dev = select_device(device)
    model, state = load_trained_model(Path(checkpoint), dev)
    if dataset in VOLUME_DATASETS or state["model_config"].get("kind") == "vnet3d":
        return _evaluate_checkpoint_3d(checkpoint, model, state, dataset, root, split, dev)
    # a phantom checkpoint is scored on the phantom it was trained with (its config records the size)
    recorded = state.get("config", {})
    fast = recorded.get("phantom_fast") if dataset == "phantom" else None
    phantom = None
    if dataset == "phantom":  # the size and heterogeneity it was trained at
        phantom = phantom_config_for(fast, int(state["image_size"]), recorded.get("seed", 0),
                                     heterogeneity=recorded.get("phantom_heterogeneity", 0.0))  # fmt: skip
    data = load_dataset(dataset, root=root, image_size=int(state["image_size"]), fast=fast, phantom=phantom)
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




def _evaluate_checkpoint_3d(checkpoint, model, state: dict, dataset: str, root, split: str, device) -> dict:
    """`evaluate_checkpoint` for a 3D checkpoint (a VNet): the LA evaluation of
    `evaluate_volumes_3d`, with the crop, downsampling and final stride its run recorded."""
    from mona_lab.config import TrainConfig
    from mona_lab.data import load_volume_dataset

    kind = state["model_config"].get("kind")
    if dataset not in VOLUME_DATASETS or kind != "vnet3d":
        trained = "a 3D VNet" if kind == "vnet3d" else "a 2D UNet"
        raise MonaLabError(
            f"checkpoint {checkpoint} holds {trained}, which cannot be evaluated on --dataset {dataset}; "
            f"3D checkpoints go with {', '.join(VOLUME_DATASETS)}, 2D ones with the 2D data sets"
        )
    config = TrainConfig.from_dict(state["config"])
    if config.dataset != dataset:
        raise MonaLabError(f"checkpoint {checkpoint} was trained on {config.dataset!r}, not {dataset!r}")
    data = load_volume_dataset(dataset, root=root, downsample=config.la_downsample, train=False)
    if list(data.class_names) != list(state["class_names"]):
        raise MonaLabError(f"checkpoint classes {list(state['class_names'])} differ from data set {dataset!r} classes {list(data.class_names)}")
    volumes, inputs = data.split(split)
    if not volumes:
        raise MonaLabError(f"data set {dataset!r} has no {split} volumes here ({split}.list is missing)")
    summary = evaluate_volumes_3d(
        lambda x: model(x).logits, volumes, inputs, data.class_names, config.crop_shape, config.window_stride_shape, device
    )
    summary["window"]["downsample"] = config.la_downsample
    return {"checkpoint": str(checkpoint), "dataset": dataset, "split": split, **summary}
