"""The LA literature's training augmentation of a 3D volume: a random rot90/flip, then a random crop.

UA-MT (Yu et al., MICCAI 2019, ``dataloaders/la_heart.py``), followed by SASSNet, DTC, SS-Net,
ACTION and ACTION++ (paper 004, Sec. 3), trains the V-Net on 112x112x80 crops (x, y, z) of
each labelled and unlabelled LA volume, composed as ``RandomRotFlip`` then ``RandomCrop``:

- `rot_flip_3d`: rotate the axial plane by ``k * 90`` degrees, ``k`` uniform in 0..3, then
  flip one of the two in-plane axes, chosen uniformly (``np.rot90(image, k)`` and
  ``np.flip(image, axis=randint(0, 2))`` on their (x, y, z) arrays; the slice axis is never
  flipped). Always applied, as in UA-MT. An odd ``k`` swaps H and W. Since a flip always
  follows the rotation, the result is always one of the 4 reflections of the axial plane
  (flip W, flip H, transpose, anti-transpose), each with probability 1/4; the identity and
  the pure rotations never occur (so it is in UA-MT's code too).
- `random_crop_3d`: a crop of ``size`` at a uniformly drawn position, after zero padding of
  any axis shorter than the crop.

Tensors are in the package's ``[D, H, W]`` = (z, y, x) order (`mona_lab.data.la`), so the
papers' crop is ``mona_lab.data.la.LA_PATCH_SIZE`` = (80, 112, 112) and the axial plane is
``(H, W)``, the last two dimensions. Every random number comes from the ``torch.Generator``
passed in (drawn on its device; None uses torch's global CPU generator), in a fixed order,
so the result is reproducible from the generator's state.
"""
from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import torch
import torch.nn.functional as F


def _draw_int(generator: torch.Generator | None, high: int) -> int:
    """One integer uniform in ``[0, high)``, drawn on the generator's device."""
    src = generator.device if generator is not None else torch.device("cpu")
    return int(torch.randint(0, high, (1,), generator=generator, device=src).item())


def _check_pair(image: torch.Tensor, label: torch.Tensor | None, name: str) -> None:
    if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4):
        got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{name}: image must be a tensor [D, H, W] or [C, D, H, W], got {got}")
    if label is not None and (not isinstance(label, torch.Tensor) or tuple(label.shape) != tuple(image.shape[-3:])):
        got = tuple(label.shape) if isinstance(label, torch.Tensor) else type(label).__name__
        raise ValueError(f"{name}: label must be a tensor [D, H, W] = {tuple(image.shape[-3:])} or None, got {got}")


def _crop_size(size: int | Sequence[int]) -> tuple[int, int, int]:
    values = tuple(size) if isinstance(size, (tuple, list)) else (size,) * 3
    if len(values) != 3 or not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in values):
        raise ValueError(f"size must be a positive int or three of them (D, H, W), got {size!r}")
    return tuple(int(s) for s in values)  # type: ignore[return-value]


def pad_to_size_3d(
    image: torch.Tensor, label: torch.Tensor | None, size: int | Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Zero-pad each spatial axis shorter than ``size`` up to ``size``, symmetrically.

    An axis short by ``p`` voxels gets ``p // 2`` before and ``p - p // 2`` after (as UA-MT's
    sliding-window test pads); longer axes are left alone. The image is padded with 0 (the
    z-scored scan's mean), the label with 0 (background).

    Shapes: image ``[D, H, W]`` or ``[C, D, H, W]``, label ``[D, H, W]`` or None ->
    the same with each axis ``max(n, size)``.
    """
    _check_pair(image, label, "pad_to_size_3d")
    size = _crop_size(size)
    deficit = [max(s - n, 0) for n, s in zip(image.shape[-3:], size)]
    if not any(deficit):
        return image, label
    pads: list[int] = []
    for p in reversed(deficit):  # F.pad takes the last dimension first
        pads += [p // 2, p - p // 2]
    image = F.pad(image, pads, value=0.0)
    if label is not None:
        label = F.pad(label, pads, value=0)
    return image, label


def random_crop_3d(
    image: torch.Tensor,
    label: torch.Tensor | None,
    size: int | Sequence[int],
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A ``size`` crop of a volume and its label at a random position (UA-MT's ``RandomCrop``).

    Axes shorter than the crop are first zero-padded to it (`pad_to_size_3d`); then the
    start along each axis ``(D, H, W)`` is drawn in that order, uniform over
    ``0 .. n - s`` (every position, the last one flush with the end included).
    Departures from UA-MT's code, both at the edges: it pads *every* axis by
    ``(s - n) // 2 + 3`` per side once any axis is ``<= s`` (a few extra voxels of padding),
    and draws ``np.random.randint(0, n - s)``, which never reaches the last position.

    Args:
        image: ``[D, H, W]`` or ``[C, D, H, W]``.
        label: ``[D, H, W]`` (any dtype) or None for an unlabelled volume.
        size: crop ``(s_D, s_H, s_W)`` or one int for all three; the papers' is
            ``LA_PATCH_SIZE`` = (80, 112, 112).
        generator: source of the three draws.

    Returns:
        ``(image [..., s_D, s_H, s_W], label [s_D, s_H, s_W] or None)``, new tensors.

    Raises:
        ValueError: image not 3D/4D, a label whose shape is not the image's spatial shape,
            or a bad ``size``.
    """
    _check_pair(image, label, "random_crop_3d")
    size = _crop_size(size)
    image, label = pad_to_size_3d(image, label, size)
    starts = [_draw_int(generator, n - s + 1) for n, s in zip(image.shape[-3:], size)]
    box = tuple(slice(a, a + s) for a, s in zip(starts, size))
    return image[(..., *box)].clone(), (label[box].clone() if label is not None else None)


def rot_flip_3d(
    image: torch.Tensor, label: torch.Tensor | None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """UA-MT's ``RandomRotFlip``: rot90 in the axial plane, ``k`` in 0..3, then one in-plane flip.

    Draws ``k`` uniform in 0..3, then the flipped axis uniform in {W, H} (their x and y);
    the image and the label move together. The 8 draws give the 4 reflections of the
    axial plane, each twice (module docstring). ``torch.rot90`` turns from H towards W, the
    opposite sense to ``np.rot90`` on UA-MT's (x, y, z) arrays; with ``k`` uniform the
    distribution of results is the same.

    Args:
        image: ``[D, H, W]`` or ``[C, D, H, W]``.
        label: ``[D, H, W]`` or None.
        generator: source of the two draws.

    Returns:
        ``(image, label)`` as new tensors, shapes ``[..., D, W, H]`` when ``k`` is odd, else
        unchanged.

    Raises:
        ValueError: as `random_crop_3d`.
    """
    _check_pair(image, label, "rot_flip_3d")
    k = _draw_int(generator, 4)
    flip_dim = -1 if _draw_int(generator, 2) == 0 else -2  # their axis 0 = x = W, axis 1 = y = H
    image = torch.rot90(image, k, dims=(-2, -1)).flip(flip_dim)
    if label is not None:
        label = torch.rot90(label, k, dims=(-2, -1)).flip(flip_dim)
    return image, label
