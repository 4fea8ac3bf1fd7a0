"""MONA's class-aware memory bank: a FIFO queue of detached, normalised embeddings per class.

With ``memory_size`` > 0, `AnatomicalContrastLoss` keeps, per class c, up to
``memory_size`` embeddings of class-c pixels of earlier batches in three buffers
(``memory`` [C, M, D], ``memory_count`` [C], ``memory_pointer`` [C]), so ``state_dict()``
saves the bank and a resumed run continues exactly. Bank entries join the pool of
negative keys (`mona_lab.losses.contrast_draw.draw_key_pool`), and a class known only
from the bank enters the class relation graph with the mean of its entries
(`bank_class_means`). After each training step, up to ``memory_push`` random pixels of
every class present are pushed (`push_to_memory_bank`), the oldest entries overwritten.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mona_lab.losses.pixel_statistics import gather_rows


def bank_class_means(
    memory: torch.Tensor | None, memory_count: torch.Tensor | None, num_classes: int, device: torch.device
) -> torch.Tensor:
    """Mean of each class's filled memory-bank entries, the graph row of a class known only from the bank.

    Args:
        memory: [C, M, D] bank (filled slots first), or ``None``.
        memory_count: [C] int64 filled slots per class.
        num_classes: C.
        device: where the zeros go without a bank.

    Returns:
        [C, D] means (zero for an empty class); [C, 1] zeros without a bank.
    """
    if memory is None:
        return torch.zeros(num_classes, 1, device=device)
    slots = torch.arange(memory.shape[1], device=device)
    filled = (slots[None, :] < memory_count[:, None]).to(memory.dtype)  # [C, M]
    sums = (memory * filled[..., None]).sum(dim=1)
    return sums / memory_count.clamp_min(1)[:, None].to(sums.dtype)


@torch.no_grad()
def push_to_memory_bank(
    memory: torch.Tensor,
    memory_count: torch.Tensor,
    memory_pointer: torch.Tensor,
    flat_features: torch.Tensor,
    flat_labels: torch.Tensor,
    memory_push: int,
    generator: torch.Generator | None,
) -> None:
    """FIFO update: up to ``memory_push`` random pixels of each present class (detached, normalised).

    Args:
        memory: [C, M, D] bank, updated in place.
        memory_count: [C] int64 filled slots per class, updated in place.
        memory_pointer: [C] int64 next slot to write per class, updated in place.
        flat_features: [B, D, S] embeddings.
        flat_labels: [B, S] int64 labels, -1 = ignore.
        memory_push: embeddings pushed per class.
        generator: the source of randomness of the chosen pixels.
    """
    device = memory.device
    memory_size = memory.shape[1]
    pixels = flat_labels.reshape(-1)
    for c in torch.unique(pixels[pixels >= 0]).tolist():
        index = (pixels == c).nonzero().flatten()
        source = generator.device if generator is not None else index.device
        order = torch.randperm(index.numel(), generator=generator, device=source)
        chosen = index[order.to(index.device)[:memory_push]]
        embeddings = F.normalize(gather_rows(flat_features.detach(), chosen).float(), dim=1).to(device)
        count = embeddings.shape[0]
        slots = (memory_pointer[c] + torch.arange(count, device=device)) % memory_size
        memory[c, slots] = embeddings
        memory_pointer[c] = (memory_pointer[c] + count) % memory_size
        memory_count[c] = torch.clamp(memory_count[c] + count, max=memory_size)
