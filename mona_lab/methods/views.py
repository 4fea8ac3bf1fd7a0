"""The two views of a batch that every teacher-student recipe uses.

The teacher sees a weak view (rotation, crop, flip); the student sees a strong view built
*on top of* the weak one (deformation, contrast, brightness, CutMix), so the teacher's
output maps into the student's frame exactly through ``strong.apply_to_outputs`` (MONA
Sec. IV-B: weak augmentation for the teacher, strong for the student). Labels travel
with the images; unlabelled rows carry -1 (ignore) and never a real label.

3D batches (``[B, 1, D, H, W]`` crops, ``--dataset la``) get `mona_lab.augment.views3d`'s
views instead: the teacher sees the crop, the student a random exact rot90 / flip of its axial
plane (the papers' LA augmentations are rotation and flip only; ACTION++ Sec. 4).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mona_lab.augment import (
    AugmentedView,
    CutMix,
    IntensityChange,
    SpatialTransform,
    VolumeView,
    strong_view,
    strong_view_3d,
    weak_view,
    weak_view_3d,
)

IGNORE = -1


@dataclass
class TeacherStudentViews:
    """``weak``: the teacher's view; ``strong``: the student's; ``num_labeled``: Bl, the
    first rows are the labelled part. Labels are [B,S,S] with -1 where unknown (3D: `VolumeView`s,
    labels [B,D,H,W])."""

    weak: AugmentedView | VolumeView
    strong: AugmentedView | VolumeView
    num_labeled: int


def join_streams(labeled_images: torch.Tensor, labeled_labels: torch.Tensor, unlabeled_images: torch.Tensor):
    """Concatenate the two streams: images [Bl+Bu,1,S,S], labels [Bl+Bu,S,S] (-1 for unlabelled)."""
    images = torch.cat([labeled_images, unlabeled_images], dim=0)
    unknown = torch.full(
        (unlabeled_images.shape[0], *unlabeled_images.shape[2:]), IGNORE, dtype=torch.long, device=images.device
    )
    labels = torch.cat([labeled_labels.long(), unknown], dim=0)
    return images, labels


def weak_images(images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The weak view's images and labels of a batch, what the baselines learn from.

    2D ``[B, 1, S, S]``: `weak_view` (rotation, crop, flip). 3D ``[B, 1, D, H, W]``: the
    crops arrive augmented by the LA literature's RandomRotFlip + RandomCrop
    (`mona_lab.augment.CropBatches`, UA-MT), so they are returned as they are and draw nothing.
    """
    if images.dim() == 5:
        return images, labels
    view = weak_view(images, labels, generator)
    return view.images, view.labels


def make_views(
    labeled_images: torch.Tensor,
    labeled_labels: torch.Tensor,
    unlabeled_images: torch.Tensor,
    generator: torch.Generator,
    strong_labeled: bool = True,
) -> TeacherStudentViews:
    """The teacher's weak view and the student's strong view of a two-stream batch.

    ``strong_labeled=True``: every row of the student's view is strongly augmented.
    ``strong_labeled=False``: only the unlabelled rows are; the labelled rows of the
    student's view are their weak view unchanged (identity on top of it), so L_sup sees
    the same kind of images as the supervised baseline (the FixMatch / ReCo convention;
    see ``TrainConfig.strong_labeled``). CutMix then mixes unlabelled rows only.

    3D (``[B, 1, D, H, W]``): `weak_view_3d` (the crops) and `strong_view_3d` (a random axial
    symmetry on top; ``strong_labeled=False`` keeps the identity on the labelled rows).
    """
    images, labels = join_streams(labeled_images, labeled_labels, unlabeled_images)
    bl = labeled_images.shape[0]
    if images.dim() == 5:
        weak = weak_view_3d(images, labels)
        strong = strong_view_3d(images, labels, generator, identity_rows=0 if strong_labeled else bl)
        return TeacherStudentViews(weak, strong, bl)
    weak = weak_view(images, labels, generator)
    if strong_labeled or bl == 0:
        strong = strong_view(weak.images, weak.labels, generator)
    else:
        strong = _identity_then_strong(weak, bl, generator)
    # unlabelled rows carry no label anywhere, also where a view filled pixels from outside
    # the image (the augmentations fill labels with 0 = background there)
    weak.labels[bl:] = IGNORE
    strong.labels[bl:] = IGNORE
    return TeacherStudentViews(weak, strong, bl)


def _identity_then_strong(weak: AugmentedView, bl: int, generator: torch.Generator) -> AugmentedView:
    """A view of ``weak`` that leaves rows ``[:bl]`` as they are and strongly augments the rest."""
    rest = strong_view(weak.images[bl:], weak.labels[bl:], generator)
    size, device = rest.transform.size, weak.images.device
    identity = SpatialTransform.identity(bl, size, device)
    displacement = None
    if rest.transform.displacement is not None:
        zeros = torch.zeros((bl, *rest.transform.displacement.shape[1:]), device=device)
        displacement = torch.cat([zeros, rest.transform.displacement], dim=0)
    transform = SpatialTransform(torch.cat([identity.theta, rest.transform.theta], dim=0), size, displacement)
    cutmix = None
    if rest.cutmix is not None:
        cutmix = CutMix(
            torch.cat([torch.zeros((bl, *size), dtype=torch.bool, device=device), rest.cutmix.mask], dim=0),
            torch.cat([torch.arange(bl, device=device), rest.cutmix.source_index + bl], dim=0),
            torch.cat([torch.zeros((bl, 4), dtype=rest.cutmix.boxes.dtype, device=device), rest.cutmix.boxes], dim=0),
        )
    intensity = None
    if rest.intensity is not None:
        intensity = IntensityChange(
            torch.cat([torch.ones(bl, device=device), rest.intensity.contrast.to(device)]),
            torch.cat([torch.zeros(bl, device=device), rest.intensity.brightness.to(device)]),
        )
    return AugmentedView(
        images=torch.cat([weak.images[:bl], rest.images], dim=0),
        labels=torch.cat([weak.labels[:bl], rest.labels], dim=0),
        transform=transform,
        valid_mask=torch.cat([torch.ones((bl, *size), dtype=torch.bool, device=device), rest.valid_mask], dim=0),
        cutmix=cutmix,
        intensity=intensity,
    )


def resize_labels_nearest(labels: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """[B,H,W] integer labels (-1 kept) to [B,h,w] by nearest sampling at cell centres
    (3D: [B,D,H,W] to [B,d,h,w], ``size`` with one entry per spatial axis).

    ``nearest-exact`` takes the label at the centre of each output cell, where the
    area-averaged features and probabilities of that cell are centred too. (Plain
    ``nearest`` took each block's top-left pixel: at stride 4 the labels sat 1.5 px off
    the representation they label; issue "Methods that work", alignment bug 2.)
    """
    if tuple(labels.shape[1:]) == tuple(size):
        return labels
    moved = F.interpolate(labels[:, None].float(), size=size, mode="nearest-exact")
    return moved[:, 0].round().long()


def resize_probabilities(probs: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """[B,C,H,W] probabilities to [B,C,h,w] by area averaging (still sums to 1; 3D:
    [B,C,D,H,W] to [B,C,d,h,w])."""
    if tuple(probs.shape[2:]) == tuple(size):
        return probs
    if probs.dim() == 5:
        return F.adaptive_avg_pool3d(probs, size)
    return F.adaptive_avg_pool2d(probs, size)


def random_window(size: int, window: int, generator: torch.Generator) -> tuple[tuple[int, int], tuple[int, int]]:
    """A random ``window`` x ``window`` square inside a ``size`` x ``size`` map, as
    ``((top, window), (left, window))``."""
    window = min(window, size)
    top, left = torch.randint(0, size - window + 1, (2,), generator=generator).tolist()
    return (top, window), (left, window)


def random_window_3d(
    shape: tuple[int, int, int], window: tuple[int, int, int], generator: torch.Generator
) -> tuple[tuple[int, int], ...]:
    """A random ``window`` box (D, H, W) inside a map of ``shape`` (each side clipped to the
    map), as ``((front, d), (top, h), (left, w))``, the 3D `random_window`."""
    window = tuple(min(int(w), int(s)) for w, s in zip(window, shape))
    starts = [int(torch.randint(0, s - w + 1, (1,), generator=generator)) for s, w in zip(shape, window)]
    return tuple((start, w) for start, w in zip(starts, window))
