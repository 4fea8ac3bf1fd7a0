"""ACTION (anatomical-aware contrastive distillation) and ACTION++.

ACTION's three stages (ACTION Sec. 2, implementation details):

i.   ``global-distill``: the encoder and global heads learn from unlabelled images only,
     by global relational distillation (Eq. 1-3); half of ``pretrain_iterations``;
ii.  ``local-distill``: the whole network, L_sup on labelled images plus local relational
     distillation on unlabelled ones; the other half;
iii. ``anco``: anatomical contrast fine-tuning, L_sup + l1 L_anco (the pixel contrast of
     Eq. 4-7 on ground truth and pseudo-labels, temperature 0.5) + l3 L_unsup.

ACTION++ adds in stage iii the supervised adaptive anatomical contrast (SAACL, ACTION++
Eq. 5) on labelled pixels, with class centres allocated to classes (Eq. 3-4), and drives
the temperature of both contrastive losses with the cosine schedule (ATS, Eq. 6) by
default. SAACL is weighted like L_anco (``lambda_contrast``); ``lambda_centers`` is its
lambda_a (0.2). ACTION++ uses d = 128 embeddings: pass ``--embed-dim 128`` for the paper's
setting (mona_lab keeps one ``embed_dim`` for every recipe so runs compare at equal cost).

3D (``--dataset la``, ACTION++ Sec. 4: a VNet on 112x112x80 crops, batch 2 labelled + 2
unlabelled): the same stages on crops, with `mona_lab.augment.views3d`'s views (the papers'
rotation and flip: the student's view is an exact axial rot90 / flip of the teacher's), the
local distillation on a box scaled with the crop (`mona_lab.methods.pretraining`), and the
heads (projection, local, representation) in 3D; AnCo and SAACL take the [B, m, d, h, w]
representation (stride ``representation_stride`` on every axis) with labels and probabilities
resized to it.
"""
from __future__ import annotations

import torch

from mona_lab.losses import AdaptiveAnatomicalContrastLoss, DiceCELoss, PseudoLabelLoss
from mona_lab.methods.base import Method, Stage, StepContext
from mona_lab.methods.mona import contrast_targets, pixel_contrast_loss
from mona_lab.methods.pretraining import RelationalPretraining
from mona_lab.methods.views import make_views, resize_labels_nearest, resize_probabilities


class Action(Method):
    """ACTION: global distillation, local distillation, then AnCo fine-tuning (ACTION Sec. 2,
    stages i-iii; see the module docstring)."""

    heads = ("global_prediction", "local_prediction", "representation")
    labeled_fraction = 0.5

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        self.sup_loss = DiceCELoss()
        self.pretraining = RelationalPretraining(config)
        self.contrast = pixel_contrast_loss(config, num_classes, hard_queries=config.tailness)
        self.pseudo_label = PseudoLabelLoss(config.pseudo_label_threshold, config.unsup_weighting)

    def stages(self) -> list[Stage]:
        pre = self.config.resolved_pretrain_iterations
        stages = [
            Stage("global-distill", pre // 2),
            Stage("local-distill", pre - pre // 2),
            Stage("anco", self.config.iterations),
        ]
        return [s for s in stages if s.iterations > 0]

    def compute_losses(self, labeled_images, labeled_labels, unlabeled_images, ctx: StepContext):
        views = make_views(labeled_images, labeled_labels, unlabeled_images, ctx.generator, self.config.strong_labeled)
        bl = views.num_labeled
        unlabeled_rows = slice(bl, None)
        if ctx.stage.name == "global-distill":
            _, losses = self.pretraining.losses(
                self, views, unlabeled_rows, ctx.generator, use_global=True, use_local=False
            )
            return self.combine(losses, {"inst_global": 1.0})
        if ctx.stage.name == "local-distill":
            student, losses = self.pretraining.losses(
                self, views, unlabeled_rows, ctx.generator, use_global=False, use_local=True
            )
            losses["sup"] = self.sup_loss(student.logits[:bl], views.strong.labels[:bl])
            return self.combine(losses, {"sup": 1.0, "inst_local": 1.0})
        return self.anco_losses(views, ctx)

    def anco_losses(self, views, ctx: StepContext) -> dict[str, torch.Tensor]:
        """Stage iii: L_sup + l1 L_anco (ACTION Eq. (4)-(7), the pixel contrast on ground
        truth and pseudo-labels) + l3 L_unsup."""
        cfg = self.config
        bl = views.num_labeled
        student = self.student(
            views.strong.images, heads=("representation",), statistics_rows=self.statistics_rows(bl)
        )
        with torch.no_grad():
            teacher_logits = views.strong.apply_to_outputs(self.teacher(views.weak.images).logits)
        labels, probs = contrast_targets(views, teacher_logits)
        size = tuple(student.representation.shape[2:])
        labels_small = resize_labels_nearest(labels, size)
        losses = {
            "sup": self.sup_loss(student.logits[:bl], views.strong.labels[:bl]),
            "unsup": self.pseudo_label(student.logits[bl:], teacher_logits[bl:]),
            "contrast": self.contrast(
                student.representation,
                labels_small,
                resize_probabilities(probs, size),
                temperature=ctx.temperature,
                generator=ctx.generator,
            ),
        }
        ramp = self.unsup_ramp(ctx)
        weights = {"sup": 1.0, "unsup": ramp * cfg.lambda_unsup, "contrast": ramp * cfg.lambda_contrast}
        self.add_supervised_contrast(losses, weights, student.representation, views, labels_small, ctx)
        return self.combine(losses, weights)

    def add_supervised_contrast(self, losses, weights, representation, views, labels_small, ctx) -> None:
        """ACTION has none; ACTION++ adds SAACL (its term and weight) here."""


class ActionPlusPlus(Action):
    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        self.adaptive_contrast = AdaptiveAnatomicalContrastLoss(
            num_classes,
            config.embed_dim,
            num_samples=config.num_queries,
            center_weight=config.lambda_centers,
            temperature=config.contrast_temperature,
            sampler=config.resolved_sampler,
            grid=config.grid,
            seed=config.seed,
        )

    def add_supervised_contrast(self, losses, weights, representation, views, labels_small, ctx) -> None:
        """SAACL (ACTION++ Eq. 5) on the labelled rows, ground-truth pixels only."""
        bl = views.num_labeled
        gt = resize_labels_nearest(views.strong.labels[:bl], tuple(labels_small.shape[1:]))
        losses["saacl"] = self.adaptive_contrast(
            representation[:bl], gt, temperature=ctx.temperature, generator=ctx.generator
        )
        weights["saacl"] = self.unsup_ramp(ctx) * self.config.lambda_contrast
