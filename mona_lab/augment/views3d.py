"""The teacher's and the student's views of a 3D batch of crops, and how outputs follow them.

The 2D views (`mona_lab.augment.views`: rotation, crop, flip, diffeomorphic deformation,
contrast, brightness, CutMix) have no settled 3D counterpart in the papers: ACTION++ on LA
(paper 004, Sec. 4, "Implementation Details") states "the data augmentations are rotation and
flip operations", ACTION is built the same way, and UA-MT's pipeline gives every crop a
``RandomRotFlip`` (`mona_lab.augment.crops3d.rot_flip_3d`). mona_lab therefore builds the 3D
views from the 8 symmetries of the axial plane only (rotations by ``k * 90`` degrees in
``(H, W)`` and a flip of W; the dihedral group D4). They are exact on the voxel grid: no
interpolation, no voxel leaves the crop, every voxel of a view is valid, and the map from the
teacher's frame to the student's (``apply_to_outputs``) and its inverse are exact, so an
equivariance loss (MONA Eq. 6) measures the network alone.

- teacher (weak) view: the crop itself, which arrives augmented by RandomRotFlip + RandomCrop
  (`mona_lab.augment.CropBatches`); `weak_view_3d` draws nothing;
- student (strong) view: a fresh random axial symmetry of that crop (`strong_view_3d`); with
  ``identity_rows=k`` the first k rows keep the identity (``TrainConfig.strong_labeled=False``:
  the labelled rows of the student's view are the weak view, as in 2D);
- `sample_axial_symmetry`: the random symmetry, also L_eqv's transform T in 3D.

Crops whose H and W differ only rotate by 0 or 180 degrees (a quarter turn would change the
shape of the batch). Tensors are ``[B, C, D, H, W]`` (images, logits, features) or
``[B, D, H, W]`` (labels, masks); the draws come from the generator passed in (on its device),
in a fixed order.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class AxialSymmetry:
    """One symmetry of the axial plane per row: rotate ``(H, W)`` by ``quarter_turns[i] * 90``
    degrees (`torch.rot90` on the last two axes), then flip W where ``flips[i]``.

    Attributes:
        quarter_turns: ``[B]`` int64 in 0..3.
        flips: ``[B]`` bool.
    """

    quarter_turns: torch.Tensor
    flips: torch.Tensor

    @classmethod
    def identity(cls, batch: int) -> AxialSymmetry:
        return cls(torch.zeros(batch, dtype=torch.long), torch.zeros(batch, dtype=torch.bool))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, ..., H, W]`` (any dtype) moved row by row; the identity returns ``x`` itself.

        Raises:
            ValueError: a batch size other than the symmetry's, or a quarter turn of a
                non-square ``(H, W)``.
        """
        if x.shape[0] != self.quarter_turns.shape[0]:
            raise ValueError(f"AxialSymmetry of {self.quarter_turns.shape[0]} rows applied to a batch of shape {tuple(x.shape)}")
        turns, flips = self.quarter_turns.tolist(), self.flips.tolist()
        if not any(turns) and not any(flips):
            return x
        if x.shape[-1] != x.shape[-2] and any(k % 2 for k in turns):
            raise ValueError(f"a quarter turn of the axial plane needs H == W, got {tuple(x.shape)}")
        rows = []
        for i, (k, flip) in enumerate(zip(turns, flips)):
            row = torch.rot90(x[i], k, dims=(-2, -1)) if k else x[i]
            rows.append(row.flip(-1) if flip else row)
        return torch.stack(rows)

    def subset(self, rows) -> AxialSymmetry:
        """The symmetries of ``rows`` (a slice or an index tensor)."""
        return AxialSymmetry(self.quarter_turns[rows], self.flips[rows])


def sample_axial_symmetry(
    batch: int, spatial: tuple[int, ...], generator: torch.Generator | None = None, identity_rows: int = 0
) -> AxialSymmetry:
    """A uniform random element of D4 per row (``k`` in 0..3, a flip with probability 1/2; ``k``
    in {0, 2} when ``spatial``'s last two sides differ); rows ``[:identity_rows]`` get the
    identity (drawn all the same, so the draws do not depend on ``identity_rows``)."""
    src = generator.device if generator is not None else torch.device("cpu")
    turns = torch.randint(0, 4, (batch,), generator=generator, device=src).cpu()
    flips = (torch.randint(0, 2, (batch,), generator=generator, device=src) == 1).cpu()
    if spatial[-1] != spatial[-2]:
        turns = turns - turns % 2
    turns[:identity_rows] = 0
    flips[:identity_rows] = False
    return AxialSymmetry(turns, flips)


@dataclass
class VolumeView:
    """A view of a 3D batch with the interface of `mona_lab.augment.AugmentedView`.

    Attributes:
        images: ``[B, 1, D, H, W]``.
        labels: ``[B, D, H, W]`` moved with the images, or None.
        transform: the `AxialSymmetry` from the crops to this view.
        valid_mask: ``[B, D, H, W]`` bool, all True (the symmetries keep every voxel).
        cutmix, intensity: None (not used on LA), kept for the 2D interface.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    transform: AxialSymmetry
    valid_mask: torch.Tensor
    cutmix: None = None
    intensity: None = None

    def apply_to_outputs(self, x: torch.Tensor, mode: str = "bilinear", fill: float = 0.0) -> torch.Tensor:
        """Map ``[B, C, D, H, W]`` outputs (or ``[B, D, H, W]`` maps) of the crops into this
        view, exactly (``mode`` and ``fill`` are accepted for the 2D interface and unused)."""
        return self.transform.apply(x)

    def apply_to_labels(self, labels: torch.Tensor, fill: int = 0) -> torch.Tensor:
        """Map integer labels ``[B, D, H, W]`` into this view."""
        return self.transform.apply(labels)


def _check_volumes(images: torch.Tensor, labels: torch.Tensor | None) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 5 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a float tensor [B, C, D, H, W], got {shape}")
    if labels is not None and (labels.is_floating_point() or tuple(labels.shape) != (images.shape[0], *images.shape[2:])):
        raise ValueError(f"labels must be an integer tensor [B, D, H, W] matching images {tuple(images.shape)}, got {tuple(labels.shape)} {labels.dtype}")


def weak_view_3d(images: torch.Tensor, labels: torch.Tensor | None = None) -> VolumeView:
    """The teacher's view: the crops as they arrive (already RandomRotFlip'd); draws nothing."""
    _check_volumes(images, labels)
    valid = torch.ones((images.shape[0], *images.shape[2:]), dtype=torch.bool, device=images.device)
    return VolumeView(images, labels, AxialSymmetry.identity(images.shape[0]), valid)


def strong_view_3d(
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    identity_rows: int = 0,
) -> VolumeView:
    """The student's view: a random axial symmetry of every crop (`sample_axial_symmetry`),
    the identity for rows ``[:identity_rows]``.

    Raises:
        ValueError: images not ``[B, C, D, H, W]`` float, or labels not matching them.
    """
    _check_volumes(images, labels)
    transform = sample_axial_symmetry(images.shape[0], tuple(images.shape[2:]), generator, identity_rows)
    valid = torch.ones((images.shape[0], *images.shape[2:]), dtype=torch.bool, device=images.device)
    moved_labels = None if labels is None else transform.apply(labels)
    return VolumeView(transform.apply(images), moved_labels, transform, valid)
