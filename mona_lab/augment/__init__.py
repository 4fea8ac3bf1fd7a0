"""Weak and strong views for teacher-student training, as batched, device-agnostic torch ops.

MONA (paper 001, Implementation Details and Sec. IV-F, Table IV): the teacher sees a weak
view (random rotation, random cropping, horizontal flipping); the student sees a strong
view (the same plus random contrast, CutMix, brightness changes and diffeomorphic
deformations). The papers give no ranges; the defaults of `WeakAugmentConfig` and
`StrongAugmentConfig` are mona_lab's choices and are documented there.

Design. Every geometric change is a `SpatialTransform`: per-sample affine matrices plus an
optional displacement field, i.e. one sampling grid per sample. The same object moves
images (bilinear), labels (nearest) and network outputs (logits / probabilities), which
is what the equivariance loss needs (paper 001 Eq. 6: compare ``T(F(x))`` with
``F(T(x))``), and it reports which output pixels came from inside the image
(`SpatialTransform.valid_mask`). Intensity changes (contrast, brightness) do not move
pixels, so outputs are never touched by them. CutMix pastes a box from another sample of
the batch into each image and its label together (`CutMix`); `AugmentedView.apply_to_outputs`
applies the spatial transform and then the same CutMix to any ``[B, C, H, W]`` tensor.

Aligning teacher pseudo-labels with the student's view: make the strong view *from* the
weak one, ``weak = weak_view(x, y, g)``, ``strong = strong_view(weak.images, weak.labels,
g)``; then ``strong.apply_to_outputs(teacher_probs_on_weak)`` is the teacher's prediction
in the student's frame (mask with ``strong.valid_mask``).

Every random number comes from the ``torch.Generator`` passed in (drawn on the generator's
device, then moved), in a fixed order, so a view is reproducible from the generator state
whatever the data device.

Where each idea lives (one module each):

- `configs`: `WeakAugmentConfig`, `StrongAugmentConfig` (the ranges and their checks);
- `spatial`: `identity_grid`, `SpatialTransform` (one sampling grid per sample, applied to
  images, labels and outputs), `affine_matrix`, `sample_affine` (rotation, crop, flip);
- `deformation`: `sample_velocity`, `integrate_velocity` (scaling and squaring),
  `sample_deformation`, `jacobian_determinant` (the diffeomorphic part);
- `intensity`: `IntensityChange`, `sample_intensity` (contrast and brightness);
- `cutmix`: `CutMix`, `sample_cutmix`;
- `crops3d`: `rot_flip_3d`, `random_crop_3d`, `pad_to_size_3d` (the LA literature's 3D
  training augmentation of UA-MT, on ``[D, H, W]`` tensors, separate from the 2D views);
- `crop_batches`: `CropBatches` (a `TwoStreamBatches` of those crops from whole volumes,
  seeded per step, resumable: the 3D training input);
- `views`: `sample_spatial_transform` (affine then deformation), `AugmentedView`,
  `weak_view`, `strong_view` (a view, step by step);
- `views3d`: `AxialSymmetry`, `sample_axial_symmetry`, `VolumeView`, `weak_view_3d`,
  `strong_view_3d` (the 3D teacher / student views: exact rot90 / flip of the axial plane);
- `_random`: the generator-device draws every ``sample_*`` uses (private).
"""
from __future__ import annotations

from mona_lab.augment.configs import StrongAugmentConfig, WeakAugmentConfig
from mona_lab.augment.crop_batches import CropBatches
from mona_lab.augment.crops3d import pad_to_size_3d, random_crop_3d, rot_flip_3d
from mona_lab.augment.cutmix import CutMix, sample_cutmix
from mona_lab.augment.deformation import (
    integrate_velocity,
    jacobian_determinant,
    sample_deformation,
    sample_velocity,
)
from mona_lab.augment.intensity import IntensityChange, sample_intensity
from mona_lab.augment.spatial import (
    INTERPOLATION_MODES,
    SpatialTransform,
    affine_matrix,
    identity_grid,
    sample_affine,
)
from mona_lab.augment.views import AugmentedView, sample_spatial_transform, strong_view, weak_view
from mona_lab.augment.views3d import AxialSymmetry, VolumeView, sample_axial_symmetry, strong_view_3d, weak_view_3d

__all__ = [
    "INTERPOLATION_MODES",
    "AugmentedView",
    "AxialSymmetry",
    "CropBatches",
    "CutMix",
    "IntensityChange",
    "SpatialTransform",
    "StrongAugmentConfig",
    "VolumeView",
    "WeakAugmentConfig",
    "affine_matrix",
    "identity_grid",
    "integrate_velocity",
    "jacobian_determinant",
    "pad_to_size_3d",
    "random_crop_3d",
    "rot_flip_3d",
    "sample_affine",
    "sample_axial_symmetry",
    "sample_cutmix",
    "sample_deformation",
    "sample_intensity",
    "sample_spatial_transform",
    "sample_velocity",
    "strong_view",
    "strong_view_3d",
    "weak_view",
    "weak_view_3d",
]
