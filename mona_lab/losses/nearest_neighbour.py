"""Nearest-neighbour loss L_nn (MONA TPAMI 2024 Sec. III-B "Diversity"; CVPR 2023 Sec. 3.2).

Teacher global embeddings v'_g go into a FIFO memory bank; for each student embedding u_g
the K nearest bank entries are found and L_nn pulls u_g towards them by minimising the
negative cosine similarity (K = 5, MONA Fig. 11(b)).
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mona_lab.losses.instance_discrimination import EmbeddingQueue

SelectWith = Literal["student", "teacher"]


class NearestNeighbourLoss(nn.Module):
    """-mean_k cos(u, bank[n_k(u)]) over K nearest bank entries (MONA Sec. III-B, L_nn).

    For each student embedding u (row of ``student``)::

        n_1..n_K = the K bank entries with the largest cos(query, bank_j)   (no gradient)
        L_nn(u)  = -(1/K) sum_k cos(u, bank[n_k])

    and the loss is the mean over the batch. The bank holds detached, L2-normalised teacher
    embeddings, so the gradient reaches the student through cos(u, .) and nowhere else.

    Which embedding picks the neighbours: ``select_with="student"`` (default) uses u itself;
    ``"teacher"`` uses the teacher embedding v' of the same image (the paper's wording,
    "v'_g is fed to the memory bank, where it searches for K nearest neighbours", reads
    either way). Both keep the gradient on the student. The public MONA code instead picks
    neighbours with the student but then scores teacher-to-neighbour similarity, a loss with
    no path to any trainable weight (zero gradient); mona_lab does not do that.

    The bank is updated only by ``enqueue(teacher_embeddings)``, normally after ``forward``.
    Bank size: MONA states "the size of the memory bank is 36" without saying which bank;
    mona_lab uses 36 here too. With an empty bank the loss is 0, attached to the student's
    graph; with fewer than K entries all stored entries are the neighbours.

    Args:
        dim: embedding width d (512).
        bank_size: FIFO capacity (36).
        num_neighbours: K (5).
        select_with: "student" or "teacher" (see above).

    Shapes:
        student: [B, d] student embeddings u_g (after the predictor).
        teacher: [B, d] teacher embeddings v'_g; needed only when ``select_with="teacher"``.
        returns: scalar.

    Raises:
        ValueError: bad sizes or ``select_with``; wrongly shaped inputs; ``teacher`` missing
            when ``select_with="teacher"``.
    """

    def __init__(
        self,
        dim: int = 512,
        bank_size: int = 36,
        num_neighbours: int = 5,
        select_with: SelectWith = "student",
    ) -> None:
        super().__init__()
        if num_neighbours < 1:
            raise ValueError(f"num_neighbours must be >= 1, got {num_neighbours}")
        if select_with not in ("student", "teacher"):
            raise ValueError(f"select_with must be 'student' or 'teacher', got {select_with!r}")
        self.dim = int(dim)
        self.num_neighbours = int(num_neighbours)
        self.select_with: SelectWith = select_with
        self.bank = EmbeddingQueue(bank_size, dim)

    def enqueue(self, teacher_embeddings: torch.Tensor) -> None:
        """Push teacher embeddings [B, d] into the FIFO bank (no gradient)."""
        self.bank.enqueue(teacher_embeddings)

    @torch.no_grad()
    def neighbour_indices(self, queries: torch.Tensor) -> torch.Tensor:
        """Indices [B, K'] into ``self.bank.contents()`` of each query's nearest entries.

        K' = min(K, entries in the bank). ``queries``: [B, d].
        """
        stored = self.bank.contents()
        k = min(self.num_neighbours, stored.shape[0])
        similarity = F.normalize(queries.float(), dim=1) @ stored.float().to(queries.device).T
        return similarity.topk(k, dim=1).indices

    def forward(self, student: torch.Tensor, teacher: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar L_nn; see the class docstring for shapes."""
        if student.dim() != 2 or student.shape[1] != self.dim:
            raise ValueError(
                f"student must be [B, {self.dim}], got shape {tuple(student.shape)}"
            )
        if teacher is not None and teacher.shape != student.shape:
            raise ValueError(
                f"teacher shape {tuple(teacher.shape)} must equal student shape "
                f"{tuple(student.shape)}"
            )
        if self.select_with == "teacher" and teacher is None:
            raise ValueError("select_with='teacher' needs the teacher embeddings [B, d]")
        if len(self.bank) == 0 or student.shape[0] == 0:
            return student.sum() * 0.0
        queries = student if self.select_with == "student" else teacher
        index = self.neighbour_indices(queries)  # [B, K']
        stored = self.bank.contents().float().to(student.device)
        neighbours = stored[index]  # [B, K', d], unit rows, no gradient
        student_unit = F.normalize(student.float(), dim=1)
        cosine = torch.einsum("bd,bkd->bk", student_unit, neighbours)
        return -cosine.mean()
