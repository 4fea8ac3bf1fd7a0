"""Relational instance discrimination against a queue of mined views (GLCon / ACTION pre-training).

MONA (TPAMI 2024) Eq. 1-2 (CVPR 2023 Eq. 3.1-3.2) and ACTION Eq. 1-3: the student's
embedding u and the teacher's embedding v' are each compared (cosine similarity) with k
mined views w_1..w_k produced by the teacher; a softmax over the k similarities, with
temperature tau_s (student, 0.1) and tau_t (teacher, 0.01), turns each into a distribution
over the mined views, and the loss is the KL divergence between the two distributions,
the teacher's being the target.

Also here: the FIFO buffer of embeddings used by this loss and by the nearest-neighbour
loss, and the pooling of decoder maps into region embeddings for the local form.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class EmbeddingQueue(nn.Module):
    """A first-in-first-out buffer of L2-normalised embeddings kept in registered buffers.

    ``state_dict`` holds ``embeddings`` [size, dim], ``ptr`` (next row to overwrite) and
    ``filled`` (rows written so far, at most ``size``), and all three follow ``.to(device)``.
    Stored rows are detached copies: nothing in the queue carries gradient.

    Args:
        size: number of embeddings kept (the oldest are overwritten first).
        dim: embedding width d.

    Raises:
        ValueError: ``size`` or ``dim`` < 1; ``enqueue`` with a last axis other than ``dim``.
    """

    embeddings: torch.Tensor
    ptr: torch.Tensor
    filled: torch.Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"queue size and dim must be >= 1, got size={size}, dim={dim}")
        self.size = int(size)
        self.dim = int(dim)
        self.register_buffer("embeddings", torch.zeros(self.size, self.dim))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    def __len__(self) -> int:
        return int(self.filled)

    def contents(self) -> torch.Tensor:
        """The stored embeddings, [n, dim] with n = len(self) (order is not meaningful)."""
        return self.embeddings[: len(self)]

    @torch.no_grad()
    def enqueue(self, new: torch.Tensor) -> None:
        """Append ``new`` [..., dim] (flattened to rows), overwriting the oldest rows.

        When more rows arrive than the queue holds, only the last ``size`` are kept.
        """
        if new.dim() < 1 or new.shape[-1] != self.dim:
            raise ValueError(
                f"embeddings to enqueue must be [..., {self.dim}], got shape {tuple(new.shape)}"
            )
        rows = new.detach().reshape(-1, self.dim)[-self.size :]
        if rows.shape[0] == 0:
            return
        rows = F.normalize(rows.to(self.embeddings), dim=1)
        index = (self.ptr + torch.arange(rows.shape[0], device=self.ptr.device)) % self.size
        self.embeddings[index] = rows
        self.ptr.copy_((self.ptr + rows.shape[0]) % self.size)
        self.filled.copy_(torch.clamp(self.filled + rows.shape[0], max=self.size))

    @torch.no_grad()
    def clear(self) -> None:
        """Forget every stored embedding."""
        self.embeddings.zero_()
        self.ptr.zero_()
        self.filled.zero_()


def region_embeddings(features: torch.Tensor, region_size: int = 64) -> torch.Tensor:
    """Average-pool a decoder map into one embedding per square (cubic) region.

    The local form of GLCon (MONA TPAMI Sec. IV-B: "64x64" regions of the decoder output,
    "random crops at the same location" for the two views) compares regions rather than
    whole images. mona_lab uses the non-overlapping grid of ``region_size`` tiles, the same
    grid for student and teacher so region r of one view matches region r of the other.
    A remainder narrower than a tile is dropped; an image smaller than a tile along an axis
    uses its full extent there (so tiny images give one region).

    Args:
        features: [B, C, H, W] or [B, C, D, H, W] decoder output (or its projection).
        region_size: tile edge in pixels (64 in the paper).

    Returns:
        [B, R, C] region embeddings, R = number of tiles, ordered row-major.

    Raises:
        ValueError: ``features`` is not 4-D or 5-D, or ``region_size`` < 1.
    """
    if features.dim() not in (4, 5):
        raise ValueError(
            f"features must be [B, C, H, W] or [B, C, D, H, W], got shape {tuple(features.shape)}"
        )
    if region_size < 1:
        raise ValueError(f"region_size must be >= 1, got {region_size}")
    kernel = tuple(min(region_size, extent) for extent in features.shape[2:])
    pool = F.avg_pool2d if features.dim() == 4 else F.avg_pool3d
    pooled = pool(features, kernel_size=kernel, stride=kernel)  # [B, C, *grid]
    return pooled.flatten(2).transpose(1, 2)


class InstanceDiscriminationLoss(nn.Module):
    """KL(p_teacher || p_student) over similarities to k mined views (MONA Eq. 1-2, ACTION Eq. 1-3).

    For each embedding pair (student u, teacher v') and mined views w_1..w_k::

        p_s(j) = softmax_j(sim(u,  w_j) / tau_s)      (student, MONA Eq. 1 s_theta)
        p_t(j) = softmax_j(sim(v', w_j) / tau_t)      (teacher, MONA Eq. 1 s_xi)
        L_inst = KL(p_t || p_s) = sum_j p_t(j) (log p_t(j) - log p_s(j))   (ACTION Eq. 3)

    averaged over the embeddings of the batch (and regions, in the local form). sim is
    cosine similarity. The teacher distribution is the target: it carries no gradient.
    MONA Eq. 2 prints KL(s_theta || s_xi) with the student first; ACTION Eq. 3 and the
    distillation reading of both papers put the teacher first, which mona_lab follows.
    ACTION++ Eq. (1) restates the same loss as KL(u_s || u_t); the teacher stays the
    target there too.

    Mined views: either pass them as ``mined`` [k, d] (teacher embeddings of randomly drawn
    images, as the papers describe), or leave ``mined=None`` to use the loss's FIFO queue of
    earlier teacher embeddings (ACTION: "memory bank size is 36"). The queue is updated only
    by an explicit ``enqueue(teacher_embeddings)`` call, normally after ``forward`` in each
    step, so an embedding is never compared with itself and ``forward`` has no side effects.
    With no mined views (empty queue) the loss is 0, attached to the student's graph.

    Global form: embeddings [B, d] (pooled bottleneck -> projection -> predictor).
    Local form: region embeddings [B, R, d] (see ``region_embeddings``) or [B*R, d]; use
    a separate instance, with its own queue, for each form.

    Args:
        dim: embedding width d (512 in the papers).
        queue_size: number of mined views k kept in the queue (36).
        student_temperature: tau_s (0.1).
        teacher_temperature: tau_t (0.01).

    Shapes:
        student: [N, d] or [B, R, d] -- the student's prediction embeddings u.
        teacher: same shape as ``student`` -- the teacher's projection embeddings v'.
        mined: optional [k, d].
        returns: scalar.

    Raises:
        ValueError: non-positive temperatures or sizes; mismatched or wrongly sized inputs.
    """

    def __init__(
        self,
        dim: int = 512,
        queue_size: int = 36,
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.01,
    ) -> None:
        super().__init__()
        if not (student_temperature > 0 and teacher_temperature > 0):
            raise ValueError(
                f"temperatures must be > 0, got student_temperature={student_temperature}, "
                f"teacher_temperature={teacher_temperature}"
            )
        self.dim = int(dim)
        self.student_temperature = float(student_temperature)
        self.teacher_temperature = float(teacher_temperature)
        self.queue = EmbeddingQueue(queue_size, dim)

    def enqueue(self, teacher_embeddings: torch.Tensor) -> None:
        """Push teacher embeddings [N, d] or [B, R, d] into the FIFO queue (no gradient)."""
        self.queue.enqueue(teacher_embeddings)

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor,
        mined: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scalar L_inst; see the class docstring for shapes."""
        if student.dim() not in (2, 3) or student.shape[-1] != self.dim:
            raise ValueError(
                f"student must be [N, {self.dim}] or [B, R, {self.dim}], "
                f"got shape {tuple(student.shape)}"
            )
        if teacher.shape != student.shape:
            raise ValueError(
                f"teacher shape {tuple(teacher.shape)} must equal student shape "
                f"{tuple(student.shape)}"
            )
        if mined is None:
            anchors = self.queue.contents()
        else:
            if mined.dim() != 2 or mined.shape[1] != self.dim:
                raise ValueError(
                    f"mined must be [k, {self.dim}], got shape {tuple(mined.shape)}"
                )
            anchors = mined.detach()
        if anchors.shape[0] == 0 or student.numel() == 0:
            return student.sum() * 0.0
        anchors = F.normalize(anchors.float(), dim=1).to(student.device)
        student_rows = F.normalize(student.reshape(-1, self.dim).float(), dim=1)
        log_p_student = F.log_softmax(student_rows @ anchors.T / self.student_temperature, dim=1)
        with torch.no_grad():
            teacher_rows = F.normalize(teacher.reshape(-1, self.dim).float(), dim=1)
            log_p_teacher = F.log_softmax(
                teacher_rows @ anchors.T / self.teacher_temperature, dim=1
            )
        return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
