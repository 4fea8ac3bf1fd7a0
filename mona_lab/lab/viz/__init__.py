"""Plotting helpers for the notebooks (matplotlib; plotly where a 3D view helps).

Every function draws into an ``ax`` it is given (or a new one) and returns the axes, so
notebooks compose figures without pasting plotting code. One module per topic:

- `mona_lab.lab.viz.common`: class colours, `label_overlay` (every notebook);
- `mona_lab.lab.viz.class_frequencies`: MONA Fig. 1, pixel fractions and Zipf plots (00, 01);
- `mona_lab.lab.viz.principle_panels`: MONA's principles and ablation grid (00, 02-04);
- `mona_lab.lab.viz.sampler_variance`: ARCO's NS / SG / SAG estimators (05);
- `mona_lab.lab.viz.loss_landscapes`: loss curves, contours and surfaces (06);
- `mona_lab.lab.viz.temperature`: ACTION++ temperature schedules and class centres (07);
- `mona_lab.lab.viz.training_curves`: ``log.csv`` and ``dynamics.csv`` curves (05, 07, 08);
- `mona_lab.lab.viz.la_views`: an LA volume's label and prediction, slices and 3D (08).

Every public name of these modules is importable from ``mona_lab.lab.viz``.
"""
from __future__ import annotations

from mona_lab.lab.viz.class_frequencies import (
    plot_class_fractions,
    plot_query_share,
    plot_rank_frequency,
    plot_slice_presence,
)
from mona_lab.lab.viz.common import CLASS_COLOURS, SAMPLER_COLOURS, label_overlay
from mona_lab.lab.viz.la_views import (
    LABEL_COLOUR,
    PREDICTION_COLOUR,
    atrium_slices,
    la_slice_montage,
    la_volume_view,
)
from mona_lab.lab.viz.loss_landscapes import (
    loss_surface_figure,
    pixel_loss_figure,
    plot_loss_contour,
    plot_loss_curves_1d,
)
from mona_lab.lab.viz.principle_panels import (
    plot_class_matrix,
    plot_embeddings_2d,
    plot_equivariance_row,
    plot_grid_gains,
    plot_neighbour_tiles,
    plot_per_class_dice,
    plot_query_overlay,
    plot_query_rules,
)
from mona_lab.lab.viz.sampler_variance import (
    plot_estimator_histograms,
    plot_groups_on_map,
    plot_variance_against,
)
from mona_lab.lab.viz.temperature import (
    class_centres_figure,
    plot_softmax_weights,
    plot_temperature_schedules,
)
from mona_lab.lab.viz.training_curves import (
    plot_curve_bands,
    plot_loss_curves,
    plot_training_dynamics,
)

__all__ = [
    "CLASS_COLOURS",
    "LABEL_COLOUR",
    "PREDICTION_COLOUR",
    "SAMPLER_COLOURS",
    "atrium_slices",
    "class_centres_figure",
    "la_slice_montage",
    "la_volume_view",
    "label_overlay",
    "loss_surface_figure",
    "pixel_loss_figure",
    "plot_class_fractions",
    "plot_class_matrix",
    "plot_curve_bands",
    "plot_embeddings_2d",
    "plot_equivariance_row",
    "plot_estimator_histograms",
    "plot_grid_gains",
    "plot_groups_on_map",
    "plot_loss_contour",
    "plot_loss_curves",
    "plot_loss_curves_1d",
    "plot_neighbour_tiles",
    "plot_per_class_dice",
    "plot_query_overlay",
    "plot_query_rules",
    "plot_query_share",
    "plot_rank_frequency",
    "plot_slice_presence",
    "plot_softmax_weights",
    "plot_temperature_schedules",
    "plot_training_dynamics",
    "plot_variance_against",
]
