"""A 3D volume's slices at the network's working size, for validation and testing.

Validation and test volumes stay 3D at their native resolution (Dice and ASD are per
volume); the network sees their slices resized bilinearly to ``S x S``, all at once
(`volume_slices`) or a few at a time (`iter_volume_batches`). Predictions go back to the
native ``(H, W)`` with `mona_lab.data.preprocess.resize_probabilities`.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from mona_lab.data.preprocess import resize_images
from mona_lab.data.volume import Volume


def volume_slices(volume: Volume, image_size: int) -> torch.Tensor:
    """A volume's slices resized for the network: ``[D, 1, S, S]`` float32 (bilinear).

    Predictions ``[D, C, S, S]`` go back to the native ``(H, W)`` with
    `mona_lab.data.preprocess.resize_probabilities` before the arg-max.
    """
    return resize_images(torch.from_numpy(volume.image), image_size)


def iter_volume_batches(volume: Any, image_size: int, batch_size: int | None = None) -> Iterator[torch.Tensor]:
    """A 3D volume's slices resized for the network, ``[b, 1, S, S]`` at a time (all ``D``
    slices at once when ``batch_size`` is ``None``); for validation on 3D volumes."""
    d = volume.image.shape[0]
    step = d if batch_size is None else int(batch_size)
    for start in range(0, d, step):
        yield resize_images(torch.from_numpy(volume.image[start : start + step]), image_size)
