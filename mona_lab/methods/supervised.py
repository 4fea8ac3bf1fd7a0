"""Baselines: UNet trained on the labelled patients only, and the classic mean teacher.

Both run in 2D (a UNet on slices) and in 3D (a VNet on crops of whole volumes, ``--dataset
la``): the LA literature's VNet-L and mean teacher (UA-MT, Yu et al. MICCAI 2019; ACTION++
Table 1), where the weak view is the crop's RandomRotFlip (`weak_images`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mona_lab.losses import DiceCELoss
from mona_lab.methods.base import Method, Stage, StepContext
from mona_lab.methods.views import join_streams, weak_images


class Supervised(Method):
    """UNet-L (N labelled patients) or UNet-F (all labelled), VNet-L / VNet-F in 3D: L_sup =
    0.5 Dice + 0.5 CE on weakly augmented labelled slices (3D: crops). The whole batch is labelled (``labeled_fraction=1``),
    so it sees as many images per step as the semi-supervised recipes."""

    uses_teacher = False
    labeled_fraction = 1.0

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        self.sup_loss = DiceCELoss()

    def stages(self) -> list[Stage]:
        return [Stage("supervised", self.config.iterations)]

    def compute_losses(self, labeled_images, labeled_labels, unlabeled_images, ctx: StepContext):
        images, labels = weak_images(labeled_images, labeled_labels.long(), ctx.generator)
        logits = self.student(images).logits
        terms = self.sup_loss.terms(logits, labels)
        sup = self.sup_loss.dice_weight * terms.dice + self.sup_loss.ce_weight * terms.cross_entropy
        return self.combine({"sup": sup, "dice": terms.dice, "ce": terms.cross_entropy}, {"sup": 1.0})


class MeanTeacher(Method):
    """Mean teacher (Tarvainen & Valpola 2017), the consistency baseline of the papers' tables.

    Student and EMA teacher see the same weak view with independent Gaussian input noise
    (std 0.1, clipped to +-0.2); the consistency term is the mean squared difference of
    their softmax outputs over all pixels, weighted by ``0.1 * exp(-5 (1 - t)^2)`` with
    ``t`` ramping from 0 to 1 over the first 40 % of the iterations (the SSL4MIS choice).
    """

    labeled_fraction = 0.5
    max_consistency_weight = 0.1
    rampup_fraction = 0.4

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        self.sup_loss = DiceCELoss()

    def stages(self) -> list[Stage]:
        return [Stage("mean-teacher", self.config.iterations)]

    def consistency_weight(self, stage_step: int) -> float:
        rampup = max(1.0, self.rampup_fraction * self.config.iterations)
        t = min(stage_step / rampup, 1.0)
        return self.max_consistency_weight * math.exp(-5.0 * (1.0 - t) ** 2)

    def compute_losses(self, labeled_images, labeled_labels, unlabeled_images, ctx: StepContext):
        images, labels = join_streams(labeled_images, labeled_labels, unlabeled_images)
        images, labels = weak_images(images, labels, ctx.generator)
        bl = labeled_images.shape[0]
        noise = torch.randn((2, *images.shape), generator=ctx.generator).mul_(0.1).clamp_(-0.2, 0.2)
        noise = noise.to(images.device)
        student_logits = self.student(images + noise[0]).logits
        with torch.no_grad():
            teacher_logits = self.teacher(images + noise[1]).logits
        sup = self.sup_loss(student_logits[:bl], labels[:bl])
        consistency = F.mse_loss(student_logits.softmax(1), teacher_logits.softmax(1))
        weight = self.consistency_weight(ctx.stage_step)
        return self.combine({"sup": sup, "consistency": consistency}, {"sup": 1.0, "consistency": weight})
