"""Random draws shared by the augment modules (private).

Every random number of a view comes from the ``torch.Generator`` passed in, drawn on the
generator's device and then moved to the data's device, so a view is reproducible from
the generator state whatever the data device. None uses torch's global RNG (on the CPU).
"""
from __future__ import annotations

import torch


def draw_uniform(
    generator: torch.Generator | None, shape: tuple[int, ...], low: float, high: float, device
) -> torch.Tensor:
    """``shape`` float32 values uniform in ``[low, high)``, drawn on the generator's device."""
    src = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(shape, generator=generator, device=src, dtype=torch.float32)
    return (low + (high - low) * u).to(device)


def draw_normal(generator: torch.Generator | None, shape: tuple[int, ...], device) -> torch.Tensor:
    """``shape`` float32 standard normal values, drawn on the generator's device."""
    src = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=src, dtype=torch.float32).to(device)
