"""Relational pre-training shared by MONA (GLCon, Sec. III-A) and ACTION (stages i and ii).

Global form: the student's predictor output u_g on the strong view against the teacher's
projection v'_g on the weak view, both related to the mined views w_1..w_k (MONA Eq. 1-2,
ACTION Eq. 1-3). Mined views are the FIFO queue of earlier teacher embeddings (36 in the
papers), pushed after each step. Local form: the same on a random 64x64 window of the
decoder output (MONA: "36 different views (random crops at the same location) ... 64x64");
mona_lab takes one window per step, the same location in both views (the teacher's output
is first mapped into the student's frame), and mean-pools it to one embedding per image.

3D (a VNet on LA crops): the 64x64 window has no 3D size in the papers; mona_lab scales it
with the crop, keeping its share of each side: ``TrainConfig.local_window_shape`` =
``crop * local_region / image_size`` per axis (64 / 128: half of every side, a
16x24x24 box of a 32x48x48 crop, 40x56x56 of the papers' 80x112x112), a random box at the
same place in both views, mean-pooled over its voxels.
"""
from __future__ import annotations

import torch

from mona_lab.losses import InstanceDiscriminationLoss
from mona_lab.methods.views import TeacherStudentViews, random_window, random_window_3d


class RelationalPretraining(torch.nn.Module):
    """The global and local instance-discrimination losses and their queues.

    L_inst of MONA Eq. (1)-(2) and ACTION Eq. (1)-(3): on pooled bottleneck embeddings
    (global) and on a window of the decoder's features (local).
    """

    def __init__(self, config) -> None:
        super().__init__()
        kwargs = dict(
            dim=config.embed_dim,
            queue_size=config.queue_size,
            student_temperature=config.student_temperature,
            teacher_temperature=config.teacher_temperature,
        )
        self.global_loss = InstanceDiscriminationLoss(**kwargs)
        self.local_loss = InstanceDiscriminationLoss(**kwargs)
        self.local_region = config.local_region
        self.local_window_3d = config.local_window_shape if config.spatial_dims == 3 else None

    def losses(
        self,
        method,
        views: TeacherStudentViews,
        rows: slice,
        generator: torch.Generator,
        *,
        use_global: bool,
        use_local: bool,
    ):
        """Student output and the losses ``{"inst_global", "inst_local"}`` on ``rows`` of the batch.

        ``method`` is the recipe (its ``student``, ``teacher`` and ``_pending`` queue pushes).
        Returns ``(student_output, losses)``; the student output covers every row, so the
        caller can add L_sup on the labelled rows without a second forward pass.
        """
        heads = []
        if use_global:
            heads.append("global_prediction")
        window = None
        if use_local:
            heads.append("local_prediction")
            if views.strong.images.dim() == 5:
                window = random_window_3d(tuple(views.strong.images.shape[2:]), self.local_window_3d, generator)
            else:
                window = random_window(views.strong.images.shape[-1], self.local_region, generator)
        student = method.student(
            views.strong.images, heads=tuple(heads), local_window=window,
            statistics_rows=method.statistics_rows(views.num_labeled),
        )
        losses = {}
        with torch.no_grad():
            teacher = method.teacher(views.weak.images, heads=("global_projection",) if use_global else ())
        if use_global:
            target = teacher.global_embedding[rows]
            losses["inst_global"] = self.global_loss(student.global_prediction[rows], target)
            method._pending.append((self.global_loss.enqueue, target))
        if use_local:
            box = (Ellipsis, *(slice(start, start + size) for start, size in window))
            axes = tuple(range(2, 2 + len(window)))  # (2, 3), or (2, 3, 4) for a 3D box
            with torch.no_grad():
                aligned = views.strong.apply_to_outputs(teacher.logits)[box]
                teacher_local = method.teacher.module.heads["local_projection"](aligned).mean(dim=axes)
            student_local = student.local_prediction.mean(dim=axes)
            target = teacher_local[rows]
            losses["inst_local"] = self.local_loss(student_local[rows], target)
            method._pending.append((self.local_loss.enqueue, target))
        return student, losses
