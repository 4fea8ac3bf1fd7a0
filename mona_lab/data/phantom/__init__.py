"""A synthetic short-axis cardiac cine-MRI data set with a tunable long tail: the "phantom".

Every patient has two frames (ED = ``frame01``, ES = ``frame02``, as in the SSL4MIS copy
of ACDC), each a stack of 8-12 short-axis slices from base to apex. Six classes:

====  ====================  ==================================================
 0    background            thorax, lungs, fat, liver, aorta, pericardium
 1    RV                    right-ventricular blood pool, a crescent on the septum
 2    Myo                   left-ventricular myocardium, a ring
 3    LV                    left-ventricular blood pool
 4    PM                    papillary muscles, two blobs inside the LV (mid slices)
 5    PE                    pericardial effusion, fluid on an arc outside the heart
====  ====================  ==================================================

**Long tail.** MONA's "tailness" (TPAMI Sec. I, Fig. 1) is about class frequencies that
follow a Zipf law. Here the foreground classes, ranked LV, Myo, RV, PE, PM, are given target
areas ``area_k = area_LV * rank_k ** (-s)`` per patient (summed over both frames and all
slices), with ``s = PhantomConfig.zipf_exponent`` and a small per-patient log-normal jitter.
Structure sizes (papillary radius, myocardial thickness, RV depth, effusion depth) are solved
in closed form from these targets on the continuous geometry, so the data set's foreground
pixel fractions fall off as ``rank ** -s`` and `mona_lab.data.stats.fit_zipf_exponent`
recovers ``s`` within about 0.05 on the default 40 patients for ``s`` in [1, 3]. Below 1
the papillary muscles would have to be too large to fit inside an ES cavity: their radius is
capped and the fitted exponent comes out larger than asked (0.5 -> 0.72, 0 -> 0.59).

**Variation.** Per patient: field of view, heart size, position, rotation, ellipticity, wall
shape harmonics, ES contraction (smaller LV cavity, thicker myocardium, smaller RV),
intensities of every tissue (blood/effusion/fat overlap; myocardium/papillary/tissue
overlap), smooth texture, a multiplicative bias field, Gaussian blur and Rician noise. Each
volume is min-max normalised to [0, 1], as ACDC scans are (MONA Sec. IV-A). Tail classes
are absent from many slices (papillary muscles only mid-ventricle, effusion only in a band).

**Heterogeneity.** With the ranges above, patients are so alike that two labelled ones
cover the rest (issue 24). ``PhantomConfig.heterogeneity`` (default 0, the phantom above bit
for bit; 1 about ACDC's inter-patient spread) widens them: scanner contrast, brightest
tissue, bias, noise and blur per patient, and heart size, position, rotation, wall shape,
ES contraction, tail-class area ratios and four ACDC pathologies (DCM, HCM, MINF, ARV).
`PhantomConfig`'s docstring gives the ranges and the calibration against ACDC.

**Determinism.** Patient ``i`` draws from ``numpy.random.default_rng(SeedSequence(seed,
spawn_key=(i,)))`` (its heterogeneity from ``spawn_key=(i, 1)``), so it is the same
whatever ``num_patients`` is. All anatomy is drawn in
millimetres before rasterising, so the same patient at another ``image_size`` is the same
anatomy at another resolution (the noise differs).

Where each part lives (one idea per module):

- `config`: `PhantomConfig`, `PHANTOM_CLASS_NAMES`, `PHANTOM_RANK_ORDER`;
- `anatomy`: `draw_anatomy`, every random draw of one patient, and the wall shapes
  (`lv_boundary`, `myo_shape`, `angular_profile`);
- `geometry`: `solve_geometry`, the closed-form sizes that give the Zipf tail;
- `raster`: `paint_frame`, tissue codes and labels pixel by pixel;
- `intensity`: `image_from_tissues`, intensities, texture, bias, blur, Rician noise, min-max;
- `heterogeneity`: `apply_heterogeneity`, the inter-patient variation from its own stream;
- `build`: `patient_id`, `phantom_split`, `make_phantom_patient`, `make_phantom`.
"""
from __future__ import annotations

from mona_lab.data.phantom.build import (
    FRAME_NAMES,
    make_phantom,
    make_phantom_patient,
    patient_id,
    phantom_split,
)
from mona_lab.data.phantom.config import PHANTOM_CLASS_NAMES, PHANTOM_RANK_ORDER, PhantomConfig

__all__ = [
    "FRAME_NAMES",
    "PHANTOM_CLASS_NAMES",
    "PHANTOM_RANK_ORDER",
    "PhantomConfig",
    "make_phantom",
    "make_phantom_patient",
    "patient_id",
    "phantom_split",
]
