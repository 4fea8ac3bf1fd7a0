"""Losses of MONA, ARCO, ACTION and ACTION++: one loss per module, each an ``nn.Module``
whose docstring cites the paper equation it implements and spells out the shapes.

- ``DiceCELoss``: supervised L_sup, equal mix of soft Dice and cross-entropy.
- ``InstanceDiscriminationLoss``: GLCon / ACTION relational distillation against mined views
  (MONA Eq. 1-2, ACTION Eq. 1-3); ``region_embeddings`` pools decoder maps for the local form.
- ``AnatomicalContrastLoss``: pixel contrast with class-mean positive keys (MONA Eq. 3-5);
  ``exact_contrast_reference`` / ``drawn_contrast_reference`` (`mona_lab.losses.reference`):
  the same Eq. 3-4 in plain loops, the reference it is tested against.
- ``AdaptiveAnatomicalContrastLoss``: ACTION++ SAACL with uniform class centres (Eq. 5).
- ``EquivarianceLoss``: symmetric KL between T(F(x)) and F(T(x)) (MONA Eq. 6).
- ``NearestNeighbourLoss``: pull the student towards its K nearest bank entries (MONA L_nn).
- ``PseudoLabelLoss``: confidence-weighted cross-entropy on teacher labels (MONA L_unsup).
- ``uniform_class_centers`` / ``allocate_class_centers``: ACTION++ off-line centres and their
  one-to-one assignment to classes.
"""
from mona_lab.losses.adaptive_anatomical_contrast import AdaptiveAnatomicalContrastLoss
from mona_lab.losses.anatomical_contrast import AnatomicalContrastLoss
from mona_lab.losses.class_centers import allocate_class_centers, uniform_class_centers
from mona_lab.losses.dice_ce import DiceCELoss, DiceCETerms
from mona_lab.losses.equivariance import EquivarianceLoss
from mona_lab.losses.instance_discrimination import (
    EmbeddingQueue,
    InstanceDiscriminationLoss,
    region_embeddings,
)
from mona_lab.losses.nearest_neighbour import NearestNeighbourLoss
from mona_lab.losses.pseudo_label import PseudoLabelLoss
from mona_lab.losses.reference import drawn_contrast_reference, exact_contrast_reference

__all__ = [
    "AdaptiveAnatomicalContrastLoss",
    "AnatomicalContrastLoss",
    "DiceCELoss",
    "DiceCETerms",
    "EmbeddingQueue",
    "EquivarianceLoss",
    "InstanceDiscriminationLoss",
    "NearestNeighbourLoss",
    "PseudoLabelLoss",
    "allocate_class_centers",
    "drawn_contrast_reference",
    "exact_contrast_reference",
    "region_embeddings",
    "uniform_class_centers",
]
