"""The training loop: stages, EMA, AMP, DDP, checkpoints, progress and logging.

`train(config)` runs one recipe from `mona_lab.methods` end to end and writes, in
``config.out``:

- ``config.json``: the `TrainConfig`;
- ``log.csv``: one row per iteration with every loss component, the learning rate, the
  contrastive temperature and, at validation iterations, the mean validation Dice;
- ``last.pt``: everything an exact resume needs -- student, teacher, optimiser, queues and
  memory banks, batch-stream position, RNG states and config -- tensors and plain values
  only, written atomically, read with ``weights_only=True``; written every
  ``checkpoint_every`` iterations, whenever ``checkpoint_minutes`` of wall time have passed
  since the last one, at the end, and when Ctrl-C / SIGTERM stops the run (at the end of
  the step in progress; `TrainingInterrupted` then says how to resume);
- ``best.pt`` (the best validation Dice so far): the student's weights and what evaluation
  needs to rebuild it (`model_state`), a fraction of ``last.pt``'s size;
- ``metrics.json``: per-class Dice and ASD on the validation volumes and their means;
- ``dynamics.csv`` (every ``dynamics_every`` iterations): weight norms of the first conv,
  the bottleneck conv and the classifier, and each loss term's gradient norm there
  (`mona_lab.dynamics`; single-process runs only).

Exact resume: ``resume=True`` reloads ``last.pt`` and continues from its iteration with
every random stream restored, so 6 + 6 iterations give the same ``metrics.json`` as 12 on
the CPU, at any thread count (tests/test_thread_determinism.py). ``iterations`` may grow
on resume, but the schedules laid over the run's length then change from that point on:
ATS, poly, the mean teacher's consistency ramp-up and ``--unsup-rampup``. For those, a run
stopped early (Ctrl-C) and resumed with the same ``iterations`` is exact.

Optimisation (MONA Sec. IV-B): SGD lr 0.01, momentum 0.9, weight decay 1e-4; the learning
rate restarts at each stage (the papers train pre-training and fine-tuning as separate
runs) and follows ``step`` (divide by 10 every 2500 iterations) or ``poly`` (0.9).
"""
from __future__ import annotations

import csv
import io
import json
import math
import time

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from mona_lab import distributed
from mona_lab.checkpoint import (
    atomic_torch_save,
    atomic_write_text,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
)
from mona_lab.config import TrainConfig, config_differences
from mona_lab.dynamics import DynamicsLog, term_gradient_norms, weight_norms
from mona_lab.errors import MonaLabError
from mona_lab.methods import Method, StepContext, build_method, stage_at
from mona_lab.metrics import evaluate_volume, predict_volume, summarise
from mona_lab.runtime import seed_everything, select_device
from mona_lab.schedules import poly_lr, step_decay_lr, temperature

LOG_COLUMNS = (
    "step", "stage", "lr", "temperature", "total", "sup", "dice", "ce", "consistency", "inst_global",
    "inst_local", "unsup", "contrast", "eqv", "nn", "saacl", "val_mean_dice",
)  # fmt: skip
CHECKPOINT_FORMAT = 1


@dataclass
class TrainResult:
    """What `train` returns: the output folder, the final metrics and the run's method."""

    out: Path
    metrics: dict[str, Any]
    method: Method


class NonFiniteLossError(MonaLabError):
    """A loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


# ---------------------------------------------------------------------------- helpers
def _check_out(config: TrainConfig) -> Path:
    """Refuse a bad ``--out`` before anything is written: a file, an existing non-empty
    folder without ``resume``, or a ``resume`` that does not match the saved run."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise MonaLabError(f"--out {out} is a file, not a folder; choose a folder for the run's outputs")
    if config.resume:
        saved = TrainConfig.load(out / "config.json") if (out / "config.json").exists() else None
        if saved is None or not (out / "last.pt").exists():
            raise MonaLabError(f"--resume: {out} holds no run to resume (config.json and last.pt are needed)")
        differences = config_differences(saved, config)
        if differences:
            raise MonaLabError(
                f"--resume: the requested config differs from the one in {out / 'config.json'}: " + "; ".join(differences)
            )
        if config.iterations < saved.iterations:
            raise MonaLabError(f"--resume: --iterations {config.iterations} is below the saved run's {saved.iterations}")
    elif out.exists() and any(out.iterdir()):
        raise MonaLabError(f"output folder {out} already exists and is not empty; pass --resume to continue it or choose another --out")
    return out


def _create_out(config: TrainConfig, info: distributed.DistInfo) -> Path:
    """Create ``--out`` and write ``config.json`` (after every argument has been checked)."""
    out = Path(config.out)
    distributed.barrier(info)  # every process has checked before the main one writes
    if info.is_main:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise MonaLabError(f"--out {out} could not be created ({err.strerror or err})") from err
        config.save(out / "config.json")
    distributed.barrier(info)
    return out


class TrainingInterrupted(MonaLabError):
    """Ctrl-C (SIGINT) or SIGTERM stopped a run; ``last.pt`` holds the last finished iteration."""

    exit_code = 130


class _StopRequest:
    """Turns SIGINT/SIGTERM into a request that the loop honours at the end of a step, so
    the checkpoint it writes is a consistent state. A second Ctrl-C stops at once; a signal
    the process ignores (SIGINT under ``nohup``) stays ignored. Only in
    the main thread of a single-process run (a signal handler cannot be set elsewhere,
    and ranks of a distributed run would stop at different steps)."""

    def __init__(self, enabled: bool) -> None:
        import signal
        import threading

        self.requested: str | None = None
        self._previous: dict[int, Any] = {}
        self._signal = signal
        if enabled and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(sig) is signal.SIG_IGN:
                    continue  # e.g. SIGINT of a job started with nohup or `&`: it stays ignored
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested is not None and signum == self._signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.requested = self._signal.Signals(signum).name

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            self._signal.signal(sig, handler)
        self._previous = {}


def build_optimizer(config: TrainConfig, parameters) -> torch.optim.Optimizer:
    """SGD with momentum (the papers) or AdamW, at ``config.lr`` with ``config.weight_decay``."""
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def learning_rate(config: TrainConfig, stage_step: int, stage_iterations: int) -> float:
    """The learning rate at ``stage_step`` of a stage (restarts at each stage)."""
    if config.lr_schedule == "poly":
        return poly_lr(config.lr, stage_step, stage_iterations)
    return step_decay_lr(config.lr, stage_step, every=config.lr_step_every)


def contrast_temperature(config: TrainConfig, stage_step: int, stage_iterations: int) -> float:
    """The contrastive temperature of a step: fixed 0.5, or ATS / a Table-6 schedule."""
    return temperature(
        config.resolved_temperature_schedule,
        stage_step,
        stage_iterations,
        config.tau_min,
        config.tau_max,
        config.temperature_period,
        seed=config.seed,
        tau_fixed=config.contrast_temperature,
    )


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


class _CsvLog:
    """``log.csv``, appended row by row; on resume, rows from the lost future are dropped."""

    def __init__(self, path: Path, start_step: int, enabled: bool) -> None:
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        kept = []
        if start_step > 0 and path.exists():
            with path.open(newline="") as handle:
                kept = [row for row in csv.DictReader(handle) if int(row["step"]) < start_step]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(path, buffer.getvalue())
        self.handle = path.open("a", newline="")
        self.writer = csv.DictWriter(self.handle, fieldnames=LOG_COLUMNS, lineterminator="\n")

    def write(self, row: dict[str, Any]) -> None:
        if self.enabled:
            unknown = set(row) - set(LOG_COLUMNS)
            if unknown:
                raise KeyError(f"log.csv has no column(s) {sorted(unknown)}")
            self.writer.writerow(row)
            self.handle.flush()

    def close(self) -> None:
        if self.enabled:
            self.handle.close()


def _format(value: float) -> str:
    return f"{value:.6g}"


# ---------------------------------------------------------------------------- validation
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


# ---------------------------------------------------------------------------- training
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
    from mona_lab.data import TwoStreamBatches, load_dataset, split_patients

    device = select_device(config.device)
    info = distributed.init(device)
    stop = None
    try:
        out = _check_out(config)
        seed_everything(config.seed)
        if data is None:
            data = load_dataset(config.dataset, root=config.root, image_size=config.image_size, seed=config.seed)
        elif data.image_size != config.image_size:
            raise MonaLabError(f"data were loaded at {data.image_size}px but config.image_size is {config.image_size}")
        labeled_ids, unlabeled_ids = split_patients(data.patients, config.labeled, seed=config.seed)
        method = build_method(config, data.num_classes)
        batches = TwoStreamBatches(
            data,
            labeled_ids,
            unlabeled_ids,
            batch_size=config.batch_size,
            labeled_fraction=method.labeled_fraction,
            seed=config.seed * 1000 + info.rank,
        )
        # every argument has been checked (data, split, method): now --out may be written
        out = _create_out(config, info)
        # model initialisation is seeded once for every process (DDP also broadcasts rank 0's)
        method.to(device)
        if device.type == "cuda":
            method.to(memory_format=torch.channels_last)
        optimizer = build_optimizer(config, method.trainable_parameters())
        generator = torch.Generator().manual_seed(config.seed * 7919 + info.rank)
        start_step, best_dice, cpu_before = 0, -math.inf, 0.0
        cpu_started = time.process_time()
        if config.resume:
            state = load_checkpoint(out / "last.pt", map_location=device)
            method.load_state_dict(state["method"])
            optimizer.load_state_dict(state["optimizer"])
            batches.load_state_dict(state["batches"])
            generator.set_state(state["generator"])
            restore_rng_state(state["rng"])
            start_step, best_dice = int(state["step"]), float(state["best_dice"])
            cpu_before = float(state.get("cpu_seconds", 0.0))
        wrapped = method
        if info.enabled:
            wrapped = DistributedDataParallel(
                method,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=True,
            )
        stages = method.stages()
        total = sum(s.iterations for s in stages)
        log = _CsvLog(out / "log.csv", start_step, info.is_main)
        # per-term gradients need autograd.grad on the step's graph: single process only
        dynamics = DynamicsLog(out / "dynamics.csv", start_step, info.is_main and not info.enabled and config.dynamics_every > 0)
        progress = None
        if config.progress and info.is_main:
            from tqdm.auto import tqdm

            progress = tqdm(total=total, initial=start_step, desc=config.method, dynamic_ncols=True)

        def checkpoint_state(next_step: int) -> dict[str, Any]:
            return {  # best.pt's entries, with the whole method (teacher, banks) and the resume state
                **model_state(method, config, data.class_names),
                "step": next_step,
                "method": method.state_dict(),
                "optimizer": optimizer.state_dict(),
                "batches": batches.state_dict(),
                "generator": generator.get_state(),
                "rng": capture_rng_state(),
                "best_dice": best_dice,
                "cpu_seconds": cpu_before + time.process_time() - cpu_started,
            }

        def save_last(next_step: int) -> None:
            nonlocal last_saved
            atomic_torch_save(checkpoint_state(next_step), out / "last.pt")
            last_saved = time.monotonic()

        def validate() -> dict:
            method.eval()
            try:
                return evaluate_volumes(
                    method.predict_logits, data.val_volumes, data.num_classes, data.class_names, config.image_size, device, info
                )
            finally:
                method.train()

        method.train()
        summary = None
        last_saved = time.monotonic()
        stop = _StopRequest(enabled=not info.enabled)
        for step in range(start_step, total):
            stage, stage_step = stage_at(stages, step)
            lr = learning_rate(config, stage_step, stage.iterations)
            for group in optimizer.param_groups:
                group["lr"] = lr
            tau = contrast_temperature(config, stage_step, stage.iterations)
            method.context = StepContext(step, stage, stage_step, tau, generator)
            batch = batches.batch_at(step).to(device)
            images = [batch.labeled_images, batch.unlabeled_images]
            if device.type == "cuda":
                images = [x.contiguous(memory_format=torch.channels_last) for x in images]
            with _autocast(device, config.amp):
                losses = wrapped(images[0], batch.labeled_labels, images[1])
            values = {name: float(value.detach()) for name, value in losses.items()}
            bad = [name for name, value in values.items() if not math.isfinite(value)]
            if bad:
                kept = out / "last.pt"
                raise NonFiniteLossError(
                    f"loss became non-finite at iteration {step} (stage {stage.name}, component(s) {', '.join(bad)}); "
                    + (f"the last good checkpoint is {kept}" if kept.exists() else "no checkpoint had been written yet")
                )
            if dynamics.enabled and step % config.dynamics_every == 0:
                dynamics.write({
                    "step": step, "stage": stage.name, **weight_norms(method.student),
                    **term_gradient_norms(method.student, losses, method.term_weights),
                })  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            optimizer.step()
            method.after_step()
            values = distributed.mean_across(values, info, device)
            row = {"step": step, "stage": stage.name, "lr": _format(lr), "temperature": _format(tau)}
            row.update({name: _format(value) for name, value in values.items()})
            done = step + 1
            if done % config.validate_every == 0 or done == total:
                summary = validate()
                row["val_mean_dice"] = _format(summary["mean_dice"])
                if summary["mean_dice"] > best_dice:
                    best_dice = summary["mean_dice"]
                    if info.is_main:
                        atomic_torch_save(model_state(method, config, data.class_names), out / "best.pt")
            log.write(row)
            minutes = (time.monotonic() - last_saved) / 60.0
            due = done % config.checkpoint_every == 0 or done == total or stop.requested is not None
            if info.is_main and (due or 0 < config.checkpoint_minutes <= minutes):
                save_last(done)
            if progress is not None:
                progress.update(1)
                progress.set_postfix({k: f"{v:.3f}" for k, v in values.items()}, refresh=False)
            if stop.requested is not None and done < total:
                if progress is not None:
                    progress.close()
                log.close()
                raise TrainingInterrupted(
                    f"{stop.requested} at iteration {done} of {total}: {out / 'last.pt'} holds it; continue with the "
                    f"same command plus --resume (mona-lab train ... --out {out} --resume)"
                )
        stop.restore()  # Ctrl-C during the final validation is a plain KeyboardInterrupt again
        if progress is not None:
            progress.close()
        log.close()
        if summary is None or start_step >= total:  # the last iteration validated already
            summary = validate()
        metrics = {
            "method": config.method,
            "dataset": config.dataset,
            "labeled_patients": labeled_ids,
            "iterations": total,
            "recipe": config.recipe,
            # process CPU seconds of training and validation (all runs of a resumed run)
            "cpu_seconds": cpu_before + time.process_time() - cpu_started,
            **summary,
        }
        if info.is_main:
            atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        distributed.barrier(info)
        return TrainResult(out, metrics, method)
    finally:
        if stop is not None:
            stop.restore()
        distributed.shutdown(info)


def model_state(method: Method, config: TrainConfig, class_names) -> dict[str, Any]:
    """What ``best.pt`` holds: the student's weights and what evaluation needs to rebuild
    it (its model config, class names, image size, the run's config) -- no teacher,
    optimiser, memory banks or random states, so it is a fraction of ``last.pt``."""
    return {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "model_config": method.student.config.to_dict(),
        "class_names": list(class_names),
        "image_size": config.image_size,
        "method": {f"student.{k}": v for k, v in method.student.state_dict().items()},
    }


# ---------------------------------------------------------------------------- evaluation
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
    data = load_dataset(dataset, root=root, image_size=int(state["image_size"]))
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


