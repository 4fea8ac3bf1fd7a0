"""What every training recipe shares: stages, the per-step context, the method module.

A method is an ``nn.Module`` holding the student network, its EMA teacher and its losses
(with their queues and memory banks, so one ``state_dict`` resumes all of them). The
engine calls ``method(labeled_images, labeled_labels, unlabeled_images)`` once per step
-- one ``forward``, so DistributedDataParallel sees exactly the parameters the step used --
and ``method.after_step()`` after the optimiser step (EMA update, queue pushes).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mona_lab.config import TrainConfig
from mona_lab.models import EMATeacher, build_model


@dataclass(frozen=True)
class Stage:
    """One phase of a recipe: its name (logged per iteration) and its length."""

    name: str
    iterations: int


@dataclass
class StepContext:
    """What a step needs besides the batch.

    Attributes:
        step: global 0-based iteration.
        stage: the current `Stage`.
        stage_step: 0-based iteration inside the stage.
        temperature: the contrastive temperature of this step (fixed or scheduled).
        generator: the run's random stream for augmentations and pixel samplers.
    """

    step: int
    stage: Stage
    stage_step: int
    temperature: float
    generator: torch.Generator


def stage_at(stages: list[Stage], step: int) -> tuple[Stage, int]:
    """The stage that global step ``step`` falls in, and the step's index inside it."""
    start = 0
    for stage in stages:
        if step < start + stage.iterations:
            return stage, step - start
        start += stage.iterations
    last = stages[-1]
    return last, step - (start - last.iterations)


def _with_projections(heads: tuple[str, ...]) -> tuple[str, ...]:
    """A predictor head needs its projection head built too."""
    implied = {"global_prediction": "global_projection", "local_prediction": "local_projection"}
    return tuple(dict.fromkeys([implied[h] for h in heads if h in implied] + list(heads)))


class Method(nn.Module):
    """Base class of the recipes in `mona_lab.methods`.

    Subclasses set ``heads`` (the network heads they need), ``uses_teacher`` and implement
    `stages` and `compute_losses`; the result of `forward` is a dict of scalar tensors
    with ``"total"`` the one to minimise and the others logged.
    """

    heads: tuple[str, ...] = ()
    uses_teacher: bool = True

    def __init__(self, config: TrainConfig, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.num_classes = num_classes
        self.student = build_model(
            "vnet3d" if config.spatial_dims == 3 else "unet2d",  # VNet3D: base filters 16 * width
            num_classes=num_classes,
            width=config.width,
            embed_dim=config.embed_dim,
            projection_dim=config.embed_dim,
            heads=_with_projections(self.heads),
            representation_stride=config.representation_stride,
            representation_hidden=config.representation_hidden,
            dropout_kind=config.dropout_kind,
            head_grad_scale=config.head_grad_scale,
        )
        self.teacher = EMATeacher(self.student, momentum=config.ema_momentum) if self.uses_teacher else None
        self.context: StepContext | None = None
        self._pending: list = []
        self.term_weights: dict[str, float] = {}

    # ------------------------------------------------------------------ recipe
    def stages(self) -> list[Stage]:
        raise NotImplementedError

    def compute_losses(
        self, labeled_images: torch.Tensor, labeled_labels: torch.Tensor, unlabeled_images: torch.Tensor, ctx: StepContext
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def combine(self, losses: dict[str, torch.Tensor], weights: dict[str, float]) -> dict[str, torch.Tensor]:
        """Set ``losses["total"] = sum_k weights[k] * losses[k]`` and remember the weights
        (``self.term_weights``), so the training-dynamics log can take each term's gradient
        as it enters the total. Terms in ``losses`` but not in ``weights`` are only logged."""
        total = None
        for name, weight in weights.items():
            term = losses[name] if weight == 1.0 else weight * losses[name]
            total = term if total is None else total + term
        losses["total"] = total
        self.term_weights = dict(weights)
        return losses

    # ------------------------------------------------------------------ engine API
    def forward(
        self, labeled_images: torch.Tensor, labeled_labels: torch.Tensor, unlabeled_images: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Losses of one step on ``labeled_images`` [Bl,1,S,S], ``labeled_labels`` [Bl,S,S]
        and ``unlabeled_images`` [Bu,1,S,S]; the step's `StepContext` is set by the engine."""
        if self.context is None:
            raise RuntimeError("set method.context (a StepContext) before calling the method")
        self._pending = []
        return self.compute_losses(labeled_images, labeled_labels, unlabeled_images, self.context)

    def after_step(self) -> None:
        """After the optimiser step: EMA teacher update, then the queue pushes of the step."""
        if self.teacher is not None:
            warmup = self.teacher.warmup_momentum() if self.config.ema_warmup else None
            self.teacher.update(self.student, momentum=warmup)
        for push, tensor in self._pending:
            push(tensor.detach())
        self._pending = []

    def unsup_ramp(self, ctx: StepContext) -> float:
        """Multiplier of the unsupervised loss weights at this step: `sigmoid_rampup` over
        ``config.unsup_rampup`` of the current stage (1 when the ramp is off)."""
        from mona_lab.schedules import sigmoid_rampup

        return sigmoid_rampup(ctx.stage_step, self.config.unsup_rampup * ctx.stage.iterations)

    def statistics_rows(self, num_labeled: int) -> int | None:
        """``statistics_rows`` for a student forward whose first ``num_labeled`` rows are
        the labelled ones: those rows alone update BatchNorm's running statistics when
        ``config.bn_statistics == "labeled"``; ``None`` (every row) for ``"all"``."""
        return num_labeled if self.config.bn_statistics == "labeled" else None

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.student.parameters() if p.requires_grad]

    @torch.no_grad()
    def predict_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Student logits [B,C,S,S] for images [B,1,S,S] (3D: [B,C,D,H,W] for [B,1,D,H,W];
        evaluation uses the student)."""
        return self.student(images).logits
