"""Looking inside MONA's three principles on real features (notebooks 02-04).

Each function takes a trained network (``TrainResult.method.student``, a
`mona_lab.models.SegmentationNetwork`) and a batch, runs the same loss modules the
training recipe uses, and returns what happened inside them as tensors the notebooks
plot. One module per principle:

- tailness (MONA TPAMI 2024 Eq. 3-5), `mona_lab.lab.principles.tailness`:
  `inspect_pixel_contrast` -- which pixels the hard-query rule picks, class means (positive
  keys, Eq. 4), the class-relation graph G and the negative-class distribution
  softmax(G[c, .]) it induces, the per-class loss of Eq. 3; with the hard-query rule
  (tailness) and with uniform queries among all class pixels; `query_allocation` (and `query_picks`, its query pixels);
- consistency (Eq. 6), `mona_lab.lab.principles.consistency`: `equivariance_maps` --
  T(F(x)) against F(T(x)) per pixel for an affine or a deformation T, and `view_dice` --
  how well a model segments weak and strong views (the augmentation pairs of Table IV);
- diversity (Sec. III-B "Diversity", Fig. 9), `mona_lab.lab.principles.diversity`:
  `global_embeddings`, `retrieve_neighbours` (the K nearest teacher embeddings in a FIFO
  bank, as L_nn finds them) and `neighbour_agreement`, and `relation_entropy` for the
  mined-view set size of Eq. 1-2.

The model's own softmax stands in for the teacher's probabilities (in training they come
from the EMA teacher, which after a short run is almost the same network). Every public
name of the three modules is importable from ``mona_lab.lab.principles``.
"""
from __future__ import annotations

from mona_lab.lab.principles.consistency import (
    affine_view,
    augmented_view,
    deformation_view,
    equivariance_maps,
    view_dice,
)
from mona_lab.lab.principles.diversity import (
    class_presence,
    global_embeddings,
    neighbour_agreement,
    random_agreement,
    relation_entropy,
    retrieve_neighbours,
)
from mona_lab.lab.principles.tailness import (
    ContrastInspection,
    boundary_mask,
    inspect_pixel_contrast,
    query_allocation,
    query_picks,
    soft_label_probabilities,
)

__all__ = [
    "ContrastInspection",
    "affine_view",
    "augmented_view",
    "boundary_mask",
    "class_presence",
    "deformation_view",
    "equivariance_maps",
    "global_embeddings",
    "inspect_pixel_contrast",
    "neighbour_agreement",
    "query_allocation",
    "query_picks",
    "random_agreement",
    "relation_entropy",
    "retrieve_neighbours",
    "soft_label_probabilities",
    "view_dice",
]
