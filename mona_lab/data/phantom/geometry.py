"""Structure sizes of one phantom patient, solved so the class areas follow the Zipf tail.

The package docstring's "Long tail": the foreground classes get target areas
``area_k = area_LV * rank_k ** (-s)`` (times the patient's jitter, `Anatomy.ratios`);
`solve_geometry` finds the papillary radius, the myocardial thickness, the RV depth and the
effusion depth that give exactly these areas on the continuous geometry, each in closed
form (a quadratic in one depth scale), so pixel fractions fall off as ``rank ** -s``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mona_lab.data.phantom.anatomy import Anatomy, angular_profile, lv_boundary, myo_shape

_THETA = np.linspace(-np.pi, np.pi, 360, endpoint=False)  # integration grid


def _solve_quadratic(quad: float, lin: float, target: float) -> float:
    """Positive root of ``quad x^2 + lin x = target`` (quad, lin >= 0)."""
    if target <= 0:
        return 0.0
    disc = lin * lin + 4.0 * quad * target
    denom = lin + math.sqrt(disc)
    return 2.0 * target / denom if denom > 0 else 0.0


@dataclass
class Geometry:
    """Solved sizes (mm) and per-frame, per-slice factors of one patient."""

    radius: np.ndarray  # [2, D] LV base radius per frame/slice
    myo_factor: np.ndarray  # [2]
    rv_factor: np.ndarray  # [2, D]
    pap_present: np.ndarray  # [2, D] bool
    eff_present: np.ndarray  # [2, D] bool
    pap_kappa: float  # papillary radius / LV radius at its angle
    myo_thickness: float
    rv_depth: float
    eff_depth: float


def solve_geometry(a: Anatomy) -> Geometry:
    """Closed-form structure sizes that give the target class-area ratios (module docstring).

    Areas are integrated in the heart's polar frame (rotation and the area-preserving
    ellipticity leave areas unchanged): a band ``b(theta) <= r < b(theta) + d(theta)`` has
    area ``int (b d + d^2 / 2) dtheta``, quadratic in a depth scale, solved exactly.
    """
    d = a.num_slices
    pos = np.linspace(0.0, 1.0, d)  # base -> apex
    taper = np.sqrt(np.clip(1.0 - (a.apex_taper * pos) ** 2, 0.05, None))
    radius = a.lv_radius * taper[None, :] * np.array([1.0, a.es_lv])[:, None]  # [2, D]
    myo_factor = np.array([1.0, a.es_myo])
    rv_taper = np.clip(1.0 - (pos / 1.05) ** 2, 0.0, None)
    rv_factor = np.array([1.0, a.es_rv])[:, None] * rv_taper[None, :]
    pap_present = np.broadcast_to((pos >= a.pap_band[0]) & (pos <= a.pap_band[1]), (2, d)).copy()
    eff_present = np.broadcast_to((pos >= a.eff_band[0]) & (pos <= a.eff_band[1]), (2, d)).copy()
    if not eff_present.any():
        eff_present[:, int(np.argmin(np.abs(pos - a.eff_band[0])))] = True
    if not pap_present.any():
        pap_present[:, d // 2] = True

    th = _THETA
    dth = 2 * np.pi / th.size
    lv = lv_boundary(a, radius[..., None], th)  # [2, D, G]
    lv_area = (0.5 * lv**2).sum(-1) * dth  # [2, D]
    total_cavity = float(lv_area.sum())
    r = a.ratios

    # papillary muscles: two discs of radius kappa * L(theta_j) on present slices, so
    # P = kappa^2 * pi * sum L(theta_j)^2 and P = r_pm * (cavity - P)
    pap_target = r[4] * total_cavity / (1.0 + r[4])
    at_pap = np.stack([lv_boundary(a, radius, angle) for angle in a.pap_angles])  # [2, 2, D]
    pap_norm = math.pi * float((at_pap**2 * pap_present[None]).sum())
    pap_kappa = min(math.sqrt(pap_target / pap_norm), 0.42)  # 0.42: must fit inside the cavity
    lv_total = total_cavity - pap_kappa**2 * pap_norm

    # myocardium: T = t * f_frame * h(theta)
    h = myo_shape(a, th)
    lin = float((myo_factor[:, None, None] * lv * h).sum() * dth)
    quad = float((0.5 * (myo_factor[:, None, None] * h) ** 2).sum() * d * dth)
    t = _solve_quadratic(quad, lin, r[2] * lv_total)
    outer = lv + t * myo_factor[:, None, None] * h  # [2, D, G]

    # right ventricle: depth H * rv_factor * profile(theta)
    k = rv_factor[..., None] * angular_profile(th - a.rv_angle, a.rv_width, 0.6)
    lin = float((outer * k).sum() * dth)
    quad = float((0.5 * k**2).sum() * dth)
    rv_depth = _solve_quadratic(quad, lin, r[1] * lv_total)
    heart = outer + rv_depth * k

    # effusion: depth e * profile, on present slices, beyond the pericardium
    ke = eff_present[..., None] * angular_profile(th - a.eff_angle, a.eff_width, 0.5)
    lin = float(((heart + a.pericardium) * ke).sum() * dth)
    quad = float((0.5 * ke**2).sum() * dth)
    eff_depth = _solve_quadratic(quad, lin, r[5] * lv_total)
    return Geometry(radius, myo_factor, rv_factor, pap_present, eff_present, pap_kappa, t, rv_depth, eff_depth)
