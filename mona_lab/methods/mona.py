"""MONA (GLCon pre-training, then anatomical contrastive reconstruction) and ARCO.

Fine-tuning loss (MONA Sec. III-B "Setup")::

    L = L_sup + r(t) (l1 L_contrast + l2 L_eqv + l3 L_unsup + l4 L_nn),  (l1..l4) = (0.01, 1, 1, 1)

with r(t) = 1 as printed, or the sigmoid ramp-up `mona_lab.schedules.sigmoid_rampup` over
``TrainConfig.unsup_rampup`` of the fine-tuning stage.

- tailness -> L_contrast (Eq. 3-5, hard queries, class-relation negatives) on GT labels
  of labelled pixels and teacher pseudo-labels elsewhere;
- consistency -> L_eqv (Eq. 6) between T(F(x)) and F(T(x)) for a fresh random affine T
  (on ``eqv_fraction`` of the labelled and of the unlabelled rows, `equivariance_rows`);
- diversity -> L_nn (K nearest teacher embeddings in a FIFO bank);
- L_unsup: confidence-weighted CE on the teacher's pseudo-labels (unlabelled rows).

Each principle has its own switch in `TrainConfig` (``tailness``, ``consistency``,
``diversity``) for the ablations of MONA Tables III and VI. ARCO (``arco-ns/sg/sag``) is
MONA with that pixel sampler inside L_contrast.

3D (``--dataset la``, a VNet on crops): GLCon with a local box scaled with the crop
(`mona_lab.methods.pretraining`), views and L_eqv's T from the axial symmetries (rot90 / flip,
exact on the voxel grid; `mona_lab.augment.views3d`), and the pixel contrast and its samplers
(NS, SG, SAG: ``grid`` strata per axis) on the [B, m, d, h, w] representation.
"""
from __future__ import annotations

import math

import torch

from mona_lab.augment import StrongAugmentConfig, sample_axial_symmetry, sample_intensity, weak_view
from mona_lab.losses import AnatomicalContrastLoss, DiceCELoss, EquivarianceLoss, NearestNeighbourLoss, PseudoLabelLoss
from mona_lab.methods.base import Method, Stage, StepContext
from mona_lab.methods.pretraining import RelationalPretraining
from mona_lab.methods.views import IGNORE, make_views, resize_labels_nearest, resize_probabilities


def contrast_targets(views, teacher_logits_in_student_frame: torch.Tensor):
    """Labels for the pixel contrast: ground truth where known, else the teacher's
    pseudo-label; -1 where the student's view has no image content. Also the teacher's
    probabilities (the confidence that decides hard queries, Eq. 5)."""
    probs = teacher_logits_in_student_frame.softmax(dim=1)
    pseudo = probs.max(dim=1).indices  # = argmax over classes; argmax(dim=1) is ~30x slower on CPU
    labels = torch.where(views.strong.labels >= 0, views.strong.labels, pseudo)
    labels = torch.where(views.strong.valid_mask, labels, torch.full_like(labels, IGNORE))
    return labels, probs


def pixel_contrast_loss(config, num_classes: int, hard_queries: bool) -> AnatomicalContrastLoss:
    """The pixel contrast (MONA Eq. 3-5 / ACTION AnCo) configured from a `TrainConfig`."""
    return AnatomicalContrastLoss(
        num_classes,
        config.embed_dim,
        num_queries=config.num_queries,
        num_negatives=config.num_negatives,
        threshold=config.confidence_threshold,
        hard_queries=hard_queries,
        temperature=config.contrast_temperature,
        sampler=config.resolved_sampler,
        grid=config.grid,
    )


def equivariance_rows(num_labeled: int, batch: int, fraction: float, device=None) -> slice | torch.Tensor:
    """Rows of a [batch, ...] step (labelled rows first) that L_eqv is computed on: the first
    ``floor(fraction * n)`` of the ``num_labeled`` labelled rows and of the unlabelled rows,
    at least one of each group that has rows (batch 6 = 3 + 3 at 0.5: rows 0 and 3; batch
    8 = 4 + 4: rows 0, 1, 4, 5). ``fraction`` 1 (the paper): every row.

    The batch's images are independent draws, so the mean of Eq. 6 over the kept rows is an
    unbiased estimate of its mean over all of them (`TrainConfig.eqv_fraction`)."""
    if fraction >= 1.0:
        return slice(None)
    num_unlabeled = batch - num_labeled
    keep_labeled = min(num_labeled, max(1, math.floor(fraction * num_labeled))) if num_labeled else 0
    keep_unlabeled = min(num_unlabeled, max(1, math.floor(fraction * num_unlabeled))) if num_unlabeled else 0
    rows = [torch.arange(keep_labeled), torch.arange(num_labeled, num_labeled + keep_unlabeled)]
    return torch.cat(rows).to(device)


class Mona(Method):
    """MONA: GLCon for ``pretrain_iterations``, then fine-tuning for ``iterations``.

    GLCon is MONA Sec. III-A; fine-tuning (MONA Sec. III-B, "Setup") minimises
    ``L_sup + l1 L_contrast + l2 L_eqv + l3 L_unsup + l4 L_nn``.
    """

    heads = ("global_prediction", "local_prediction", "representation")
    labeled_fraction = 0.5

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        self.sup_loss = DiceCELoss()
        self.pretraining = RelationalPretraining(config)
        self.contrast = pixel_contrast_loss(config, num_classes, hard_queries=True)
        self.equivariance = EquivarianceLoss()
        self.pseudo_label = PseudoLabelLoss(config.pseudo_label_threshold, config.unsup_weighting)
        self.neighbours = NearestNeighbourLoss(
            dim=config.embed_dim, bank_size=config.queue_size, num_neighbours=config.num_neighbours
        )

    def stages(self) -> list[Stage]:
        stages = [Stage("glcon", self.config.resolved_pretrain_iterations), Stage("finetune", self.config.iterations)]
        return [s for s in stages if s.iterations > 0]

    def compute_losses(self, labeled_images, labeled_labels, unlabeled_images, ctx: StepContext):
        views = make_views(labeled_images, labeled_labels, unlabeled_images, ctx.generator, self.config.strong_labeled)
        if ctx.stage.name == "glcon":
            return self.glcon_losses(views, ctx)
        return self.finetune_losses(views, ctx)

    def glcon_losses(self, views, ctx: StepContext) -> dict[str, torch.Tensor]:
        """GLCon: L_inst^global + L_inst^local + L_sup (MONA Sec. III-A)."""
        student, losses = self.pretraining.losses(
            self, views, slice(None), ctx.generator, use_global=True, use_local=True
        )
        bl = views.num_labeled
        losses["sup"] = self.sup_loss(student.logits[:bl], views.strong.labels[:bl])
        return self.combine(losses, {"inst_global": 1.0, "inst_local": 1.0, "sup": 1.0})

    def finetune_losses(self, views, ctx: StepContext) -> dict[str, torch.Tensor]:
        cfg = self.config
        bl = views.num_labeled
        heads = (("representation",) if cfg.tailness else ()) + (("global_prediction",) if cfg.diversity else ())
        student = self.student(views.strong.images, heads=heads, statistics_rows=self.statistics_rows(bl))
        with torch.no_grad():
            teacher = self.teacher(views.weak.images, heads=("global_projection",) if cfg.diversity else ())
            teacher_logits = views.strong.apply_to_outputs(teacher.logits)
        losses = {
            "sup": self.sup_loss(student.logits[:bl], views.strong.labels[:bl]),
            "unsup": self.pseudo_label(student.logits[bl:], teacher_logits[bl:]),
        }
        ramp = self.unsup_ramp(ctx)
        weights = {"sup": 1.0, "unsup": ramp * cfg.lambda_unsup}
        if cfg.tailness:
            losses["contrast"] = self.pixel_contrast(student.representation, views, teacher_logits, ctx)
            weights["contrast"] = ramp * cfg.lambda_contrast
        if cfg.consistency:
            rows = equivariance_rows(bl, student.logits.shape[0], cfg.eqv_fraction, student.logits.device)
            losses["eqv"] = self.equivariance_loss(views.strong.images[rows], student.logits[rows], ctx)
            weights["eqv"] = ramp * cfg.lambda_eqv
        if cfg.diversity:
            rows = slice(bl, None) if cfg.nn_unlabeled_only else slice(None)
            losses["nn"] = self.neighbours(student.global_prediction[rows])
            self._pending.append((self.neighbours.enqueue, teacher.global_embedding[rows]))
            weights["nn"] = ramp * cfg.lambda_nn
        return self.combine(losses, weights)

    def pixel_contrast(self, representation, views, teacher_logits, ctx: StepContext) -> torch.Tensor:
        """L_contrast (Eq. 3-5) on the representation grid (labels nearest, probabilities area-resized)."""
        labels, probs = contrast_targets(views, teacher_logits)
        size = tuple(representation.shape[2:])
        return self.contrast(
            representation,
            resize_labels_nearest(labels, size),
            resize_probabilities(probs, size),
            temperature=ctx.temperature,
            generator=ctx.generator,
        )

    def equivariance_loss(self, images, logits, ctx: StepContext) -> torch.Tensor:
        """L_eqv (Eq. 6): a fresh random rotation/crop/flip T (with ``eqv_intensity`` also a
        random contrast/brightness change of T(x)); KL both ways between T(F(x)) and F(T(x))."""
        if images.dim() == 5:
            return self.equivariance_loss_3d(images, logits, ctx)
        transformed = weak_view(images, None, ctx.generator)
        moved = transformed.images
        if self.config.eqv_intensity:
            change = sample_intensity(moved.shape[0], ctx.generator, StrongAugmentConfig(), device=moved.device)
            moved = change.apply(moved, transformed.valid_mask)
        logits_of_transformed = self.student(moved, statistics_rows=self.statistics_rows(0)).logits
        return self.equivariance(
            transformed.apply_to_outputs(logits), logits_of_transformed, valid_mask=transformed.valid_mask
        )


    def equivariance_loss_3d(self, images, logits, ctx: StepContext) -> torch.Tensor:
        """L_eqv (Eq. 6) on 3D crops: T a random symmetry of the axial plane (rot90 by k * 90
        degrees, then a flip of W; `sample_axial_symmetry`), the papers' LA augmentations and
        exact on the voxel grid, so T(F(x)) and F(T(x)) differ by the network alone (a random
        affine or deformation would resample, and MONA prints no 3D T). ``eqv_intensity`` is
        refused in 3D (`TrainConfig`)."""
        transform = sample_axial_symmetry(images.shape[0], tuple(images.shape[2:]), ctx.generator)
        logits_of_transformed = self.student(transform.apply(images), statistics_rows=self.statistics_rows(0)).logits
        return self.equivariance(transform.apply(logits), logits_of_transformed)


class GLCon(Mona):
    """MONA's first stage alone (global + local instance discrimination + L_sup)."""

    heads = ("global_prediction", "local_prediction")

    def stages(self) -> list[Stage]:
        return [Stage("glcon", self.config.iterations)]
