"""The training loop: one recipe from `mona_lab.methods`, stage by stage, step by step.

`train(config)` reads top to bottom: set up (data, method, optimiser, resume state, logs),
then for each stage (e.g. pre-training, then fine-tuning), for each step::

    batch -> the method's views and losses -> backward -> optimiser step -> EMA teacher
          -> log.csv row -> validation (best.pt) -> checkpoint (last.pt)

and at the end ``metrics.json``. It writes, in ``config.out``:

- ``config.json``: the `TrainConfig` (`mona_lab.training.run_folder`);
- ``log.csv``: one row per iteration with every loss component, the learning rate, the
  contrastive temperature and, at validation iterations, the mean validation Dice
  (`mona_lab.training.logs`);
- ``last.pt``: everything an exact resume needs -- student, teacher, optimiser, queues and
  memory banks, batch-stream position, RNG states and config -- tensors and plain values
  only, written atomically, read with ``weights_only=True``; written every
  ``checkpoint_every`` iterations, whenever ``checkpoint_minutes`` of wall time have passed
  since the last one, at the end, and when Ctrl-C / SIGTERM stops the run (at the end of
  the step in progress; `TrainingInterrupted` then says how to resume)
  (`mona_lab.training.checkpoint`, `mona_lab.training.stop_request`);
- ``best.pt`` (the best validation Dice so far): the student's weights and what evaluation
  needs to rebuild it (`model_state`), a fraction of ``last.pt``'s size;
- ``metrics.json``: per-class Dice and ASD on the validation volumes and their means
  (`mona_lab.training.validation`);
- ``dynamics.csv`` (every ``dynamics_every`` iterations): weight norms of the first conv,
  the bottleneck conv and the classifier, and each loss term's gradient norm there
  (`mona_lab.training.dynamics`; single-process runs only).

Exact resume: ``resume=True`` reloads ``last.pt`` and continues from its iteration with
every random stream restored, so 6 + 6 iterations give the same ``metrics.json`` as 12 on
the CPU, at any thread count (tests/test_thread_determinism.py). ``iterations`` may grow
on resume, but the schedules laid over the run's length then change from that point on:
ATS, poly, the mean teacher's consistency ramp-up and ``--unsup-rampup``. For those, a run
stopped early (Ctrl-C) and resumed with the same ``iterations`` is exact.

Optimisation (MONA Sec. IV-B): SGD lr 0.01, momentum 0.9, weight decay 1e-4; the learning
rate restarts at each stage (the papers train pre-training and fine-tuning as separate
runs) and follows ``step`` (divide by 10 every 2500 iterations) or ``poly`` (0.9)
(`mona_lab.training.optim`). Several processes (``torchrun``) train with
DistributedDataParallel (`mona_lab.training.distributed`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mona_lab.atomic_files import atomic_write_text
from mona_lab.config import TrainConfig
from mona_lab.errors import MonaLabError
from mona_lab.methods import Method, StepContext, build_method
from mona_lab.runtime import seed_everything, select_device
from mona_lab.training import distributed
from mona_lab.training.checkpoint import TrainingState
from mona_lab.training.dynamics import DynamicsLog, dynamics_row
from mona_lab.training.logs import CsvLog, ProgressBar, format_value, log_row
from mona_lab.training.optim import build_optimizer, learning_rate, set_learning_rate, temperature_schedule
from mona_lab.training.run_folder import check_out, create_out
from mona_lab.training.stop_request import StopRequest
from mona_lab.training.validation import validate


@dataclass
class TrainResult:
    """What `train` returns: the output folder, the final metrics and the run's method."""

    out: Path
    metrics: dict[str, Any]
    method: Method


class NonFiniteLossError(MonaLabError):
    """A loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


def train(config: TrainConfig, data=None) -> TrainResult:
    """Run (or resume) one training run; see the module docstring for what it writes.

    Args:
        config: the run's `TrainConfig`.
        data: an already loaded `SegmentationData` (notebooks reuse one); ``None`` loads
            ``config.dataset`` from ``config.root`` at ``config.image_size``.

    Raises:
        MonaLabError: a bad configuration, an existing ``out`` without ``resume``, a
            ``resume`` with a different configuration, or a non-finite loss
            (`NonFiniteLossError`).
    """
    device = select_device(config.device)
    info = distributed.init(device)
    stop = None
    try:
        # ---- set up: data, method, optimiser, the resume state, the logs
        data, labeled_ids, state = _set_up(config, data, device, info)
        method, optimizer, out = state.method, state.optimizer, state.out
        model = distributed.wrap(method, device, info)  # the method itself on one process
        stages = method.stages()
        total = sum(s.iterations for s in stages)
        log = CsvLog(out / "log.csv", state.start_step, info.is_main)
        # per-term gradients need autograd.grad on the step's graph: single process only
        dynamics_on = info.is_main and not info.enabled and config.dynamics_every > 0
        dynamics = DynamicsLog(out / "dynamics.csv", state.start_step, dynamics_on)
        progress = ProgressBar(
            config.progress and info.is_main, total, state.start_step, config.method
        )
        method.train()
        summary = None
        stop = StopRequest(enabled=not info.enabled)
        # ---- for each stage, for each step
        stage_start = 0  # the global step at which the stage starts
        for stage in stages:
            tau_at = temperature_schedule(config, stage.iterations)  # the stage's tau(stage_step)
            for stage_step in range(max(state.start_step - stage_start, 0), stage.iterations):
                step = stage_start + stage_step
                # the learning rate and the temperature restart at each stage
                lr = set_learning_rate(optimizer, learning_rate(config, stage_step, stage.iterations))
                tau = tau_at(stage_step)
                method.context = StepContext(step, stage, stage_step, tau, state.generator)
                # views -> losses: the method draws its views of the batch and returns every loss term
                losses = _losses(model, state.batches.batch_at(step), device, config.amp)
                values = _finite_values(losses, step, stage.name, out)
                if dynamics.enabled and step % config.dynamics_every == 0:
                    dynamics.write(
                        dynamics_row(step, stage.name, method.student, losses, method.term_weights)
                    )
                # backward -> optimiser step -> EMA teacher (and the method's queues and banks)
                optimizer.zero_grad(set_to_none=True)
                losses["total"].backward()
                optimizer.step()
                method.after_step()
                # log -> validate (best.pt) -> checkpoint (last.pt)
                values = distributed.mean_across(values, info, device)
                row = log_row(step, stage.name, lr, tau, values)
                done = step + 1
                if done % config.validate_every == 0 or done == total:
                    summary = validate(method, data, config.image_size, device, info, final=done == total)
                    row["val_mean_dice"] = format_value(summary["mean_dice"])
                    if state.is_new_best(summary["mean_dice"]) and info.is_main:
                        state.save_best()
                log.write(row)
                if info.is_main and state.checkpoint_due(done, total, stop.requested is not None):
                    state.save_last(done)
                progress.update(values)
                if stop.requested is not None and done < total:
                    progress.close()
                    log.close()
                    raise stop.interruption(done, total, out)  # TrainingInterrupted
            stage_start += stage.iterations
        # ---- the end: metrics.json
        stop.restore()  # Ctrl-C during the final validation is a plain KeyboardInterrupt again
        progress.close()
        log.close()
        if summary is None or state.start_step >= total:  # the last iteration validated already
            summary = validate(method, data, config.image_size, device, info, final=True)
        metrics = _write_metrics(config, labeled_ids, total, state, summary, info)
        return TrainResult(out, metrics, method)
    finally:
        if stop is not None:
            stop.restore()
        distributed.shutdown(info)


def _set_up(config: TrainConfig, data, device: torch.device, info: distributed.DistInfo):
    """Check ``--out``, seed, load the data, split the patients, build the method, its
    batch stream and optimiser, create ``--out`` and, with ``resume``, load ``last.pt``.

    3D data sets (``config.spatial_dims == 3``, LA) load a `VolumeData` (volumes downsampled
    by ``la_downsample``; a patient is a volume) and draw `CropBatches` of ``crop_size``.

    Returns:
        ``(data, labeled_ids, state)``: the `SegmentationData` (3D: `VolumeData`), the labelled
        patients and the run's `TrainingState` (method, optimiser, batches, generator, start step).
    """
    from functools import partial

    from mona_lab.augment import CropBatches
    from mona_lab.data import TwoStreamBatches, load_dataset, load_volume_dataset, phantom_config_for, split_patients

    check_out(config)
    seed_everything(config.seed)
    batch_source = TwoStreamBatches
    if config.spatial_dims == 3:
        if data is None:
            data = load_volume_dataset(config.dataset, root=config.root, downsample=config.la_downsample)
        elif data.downsample != config.la_downsample:
            raise MonaLabError(f"data were downsampled by {data.downsample} but config.la_downsample is {config.la_downsample}")
        batch_source = partial(CropBatches, crop_size=config.crop_shape)
    elif data is None:
        phantom = None
        if config.dataset == "phantom":  # the phantom the config records (size, heterogeneity)
            phantom = phantom_config_for(config.phantom_fast, config.image_size, config.seed,
                                         heterogeneity=config.phantom_heterogeneity)  # fmt: skip
        data = load_dataset(config.dataset, root=config.root, image_size=config.image_size, seed=config.seed,
                            fast=config.phantom_fast, phantom=phantom)  # fmt: skip
    elif data.image_size != config.image_size:
        raise MonaLabError(f"data were loaded at {data.image_size}px but config.image_size is {config.image_size}")
    labeled_ids, unlabeled_ids = split_patients(data.patients, config.labeled, seed=config.seed)
    method = build_method(config, data.num_classes)
    batches = batch_source(
        data,
        labeled_ids,
        unlabeled_ids,
        batch_size=config.batch_size,
        labeled_fraction=method.labeled_fraction,
        seed=config.seed * 1000 + info.rank,
    )
    # every argument has been checked (data, split, method): now --out may be written
    out = create_out(config, info)
    # model initialisation is seeded once for every process (DDP also broadcasts rank 0's)
    method.to(device)
    if device.type == "cuda":
        method.to(memory_format=torch.channels_last if config.spatial_dims == 2 else torch.channels_last_3d)
    optimizer = build_optimizer(config, method.trainable_parameters())
    generator = torch.Generator().manual_seed(config.seed * 7919 + info.rank)
    state = TrainingState(out, config, data.class_names, method, optimizer, batches, generator)
    if config.resume:
        state.resume(device)
    return data, labeled_ids, state


def _write_metrics(
    config: TrainConfig, labeled_ids, total: int, state: TrainingState, summary: dict, info: distributed.DistInfo
) -> dict[str, Any]:
    """Write ``metrics.json``: the run's description and the final validation ``summary``."""
    metrics = {
        "method": config.method,
        "dataset": config.dataset,
        "labeled_patients": labeled_ids,
        "iterations": total,
        "recipe": config.recipe,
        # process CPU seconds of training and validation (all runs of a resumed run)
        "cpu_seconds": state.cpu_seconds(),
        **summary,
    }
    if info.is_main:
        atomic_write_text(state.out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    distributed.barrier(info)
    return metrics


def _losses(model: torch.nn.Module, batch, device: torch.device, amp: bool) -> dict[str, torch.Tensor]:
    """The method's loss terms on one `TwoStreamBatch` (``"total"`` among them), under
    bf16 autocast when ``amp`` on a CUDA device that supports it."""
    batch = batch.to(device)
    images = [batch.labeled_images, batch.unlabeled_images]
    if device.type == "cuda":
        layout = torch.channels_last if images[0].dim() == 4 else torch.channels_last_3d
        images = [x.contiguous(memory_format=layout) for x in images]
    with _autocast(device, amp):
        return model(images[0], batch.labeled_labels, images[1])


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def _finite_values(losses: dict[str, torch.Tensor], step: int, stage: str, out: Path) -> dict[str, float]:
    """The loss terms as floats.

    Raises:
        NonFiniteLossError: a term is NaN or infinite (naming it and the last good checkpoint).
    """
    values = {name: float(value.detach()) for name, value in losses.items()}
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        kept = out / "last.pt"
        raise NonFiniteLossError(
            f"loss became non-finite at iteration {step} (stage {stage}, component(s) {', '.join(bad)}); "
            + (f"the last good checkpoint is {kept}" if kept.exists() else "no checkpoint had been written yet")
        )
    return values
