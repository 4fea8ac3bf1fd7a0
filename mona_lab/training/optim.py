"""The optimiser and the per-step schedules: learning rate and contrastive temperature.

Optimisation (MONA Sec. IV-B): SGD lr 0.01, momentum 0.9, weight decay 1e-4 (or AdamW).
The learning rate restarts at each stage (the papers train pre-training and fine-tuning
as separate runs) and follows ``step`` (divide by 10 every ``lr_step_every`` iterations)
or ``poly`` (power 0.9); the contrastive temperature is fixed (0.5) or follows ATS / a
Table-6 schedule (ACTION++ Eq. 6, `mona_lab.schedules.temperature`) over the stage.
"""
from __future__ import annotations

import torch

from mona_lab.config import TrainConfig
from mona_lab.schedules import TemperatureSchedule, poly_lr, step_decay_lr


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


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> float:
    """Set ``lr`` on every parameter group of ``optimizer``; returns ``lr``."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def temperature_schedule(config: TrainConfig, stage_iterations: int) -> TemperatureSchedule:
    """The contrastive temperature schedule of a stage, built once from ``config``: its
    ``schedule(stage_step) -> tau`` is the one place a step's temperature comes from (fixed
    ``contrast_temperature``, 0.5, or ATS / a Table-6 schedule between ``tau_min`` and ``tau_max``)."""
    return TemperatureSchedule(
        kind=config.resolved_temperature_schedule,
        total=stage_iterations,
        tau_min=config.tau_min,
        tau_max=config.tau_max,
        period=config.temperature_period,
        seed=config.seed,
        tau_fixed=config.contrast_temperature,
    )
