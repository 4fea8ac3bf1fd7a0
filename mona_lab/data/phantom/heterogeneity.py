"""Inter-patient variation of the phantom: `PhantomConfig.heterogeneity` (issue 24).

Without it, phantom patients are so alike that two labelled ones cover the rest (supervised
Dice varies by 1.0 point between seeds, against 13.3 on ACDC), so unlabelled patients teach
nothing. Real cohorts differ in acquisition (scanner, contrast, bias, noise, resolution) and
anatomy (heart size, position, rotation, shape, contraction, pathology). Each factor below
is ``exp(level * x)`` (an offset ``level * x`` for shifts and rotation), ``x`` the point of
the factor's ``(low, high)`` that a ``u`` in U(-1, 1), drawn once per patient, picks
(`scaled`); so a patient moves along the same direction as the level grows, and level 0 is
today's phantom bit for bit. Ranges are at level 1, calibrated so the
phantom's across-patient spreads land near ACDC's (`PhantomConfig` states the numbers;
``benchmarks/phantom_heterogeneity.py`` measures them).

The draws come from a SEPARATE stream, ``SeedSequence(seed, spawn_key=(i, 1))`` for patient
``i``, so the draws of ``spawn_key=(i,)`` (the anatomy and the noise) are untouched, and
all of a patient's factors are drawn at every level in a fixed order.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from mona_lab.data.phantom.anatomy import Anatomy
from mona_lab.data.phantom.config import PHANTOM_RANK_ORDER, PhantomConfig

# (low, high) at level 1 of the log-factors (of the offsets for shift and rotation); the
# `PhantomConfig` docstring lists them with the calibration
ACQUISITION_RANGES = {
    # tissue intensities ** gamma, gamma in [0.82, 1.57]: blood/myo ratio ** gamma; leaning
    # up, since the phantom's mean contrast (1.84) is below ACDC's (2.47) and a gamma below
    # 0.6 leaves patients whose blood and myocardium barely differ
    "gamma": (-0.2, 0.45),
    "bright": (0.0, 1.0),  # fat (the brightest tissue) x [1, 2.7]: the blood level after min-max
    "bias": (-0.7, 0.7),  # bias-field coefficients x [0.50, 2.0]
    "noise": (-1.0, 1.0),  # Rician noise x [0.37, 2.7]
    "blur": (-0.3, 0.3),  # blur sigma x [0.74, 1.35] (resolution)
}
ANATOMY_RANGES = {
    "size": (-0.2, 0.2),  # LV radius x [0.82, 1.22]
    "shift": (-0.03, 0.03),  # heart centre + [-0.03, 0.03] field of view, each axis
    "rotation": (-0.65, 0.65),  # + [-0.65, 0.65] rad
    "shape": (-0.3, 0.3),  # wall harmonics x [0.74, 1.35]
    "contraction": (-0.7, 0.7),  # ES shortening (1 - es_lv, 1 - es_rv) x [0.50, 2.0]
}
RATIO_SD = 0.3  # extra log-normal sd of the tail-class area ratios at level 1 (mean kept)
PATHOLOGIES = ("DCM", "HCM", "MINF", "ARV")  # each with probability 0.2 * min(level, 1)
MAX_LV_RADIUS_FOV = 0.2  # cap: a larger LV (radius > 40-50 mm) would leave the thorax at level 2


def scaled(span: tuple[float, float], u: float, level: float) -> float:
    """The point of ``level * [low, high]`` that ``u`` in [-1, 1] picks (low at -1, high at 1)."""
    low, high = span
    return level * (low + (high - low) * 0.5 * (u + 1.0))


@dataclass(frozen=True)
class Variation:
    """One patient's standardised draws: ``u`` in U(-1, 1) per factor, normal ``z`` for the
    ratios of ranks 2-5, and ``p`` in U(0, 1) that picks the pathology at a level."""

    u: dict[str, float]
    z: np.ndarray
    p: float


def variation_rng(seed: int, index: int) -> np.random.Generator:
    """Patient ``index``'s variation stream, apart from its anatomy stream ``(index,)``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, 1)))


def draw_variation(rng: np.random.Generator) -> Variation:
    """Every draw, in a fixed order, whatever the levels (so a patient keeps its direction)."""
    names = list(ACQUISITION_RANGES) + ["size", "shift_x", "shift_y", "rotation", "shape", "contraction"]
    u = {name: float(rng.uniform(-1.0, 1.0)) for name in names}
    return Variation(u=u, z=rng.standard_normal(4), p=float(rng.uniform()))


def pathology_of(v: Variation, level: float) -> str | None:
    """``DCM``, ``HCM``, ``MINF`` or ``ARV`` each with probability ``0.2 min(level, 1)``
    (ACDC's five groups are 20 % each), else None (normal)."""
    q = 0.2 * min(level, 1.0)
    k = int(v.p // q) if q > 0 else len(PATHOLOGIES)
    return PATHOLOGIES[k] if k < len(PATHOLOGIES) else None


def vary_acquisition(a: Anatomy, v: Variation, level: float) -> Anatomy:
    """Scanner differences: contrast (a gamma on every tissue intensity, which raises the
    blood/myocardium ratio to that power), the brightest tissue (fat) relative to blood (a
    global scale or offset would vanish in the min-max; the bright tissue sets where blood
    lands), bias-field strength, noise level and blur (resolution)."""
    r, u = ACQUISITION_RANGES, v.u
    gamma = math.exp(scaled(r["gamma"], u["gamma"], level))
    intensities = {name: value**gamma for name, value in a.intensities.items()}
    intensities["fat"] *= math.exp(scaled(r["bright"], u["bright"], level))
    return dataclasses.replace(
        a,
        intensities=intensities,
        bias_coef=a.bias_coef * math.exp(scaled(r["bias"], u["bias"], level)),
        noise=a.noise * math.exp(scaled(r["noise"], u["noise"], level)),
        blur=a.blur * math.exp(scaled(r["blur"], u["blur"], level)),
    )


def vary_anatomy(a: Anatomy, v: Variation, level: float) -> Anatomy:
    """Heart size, position, rotation, wall-shape harmonics, ES contraction and the area
    ratios of the tail classes (log-normal, mean kept, so the Zipf law holds on average)."""
    r, u = ANATOMY_RANGES, v.u
    shape = math.exp(scaled(r["shape"], u["shape"], level))
    a2, p2, a3, p3 = a.harmonics
    m1, pm = a.myo_harmonic
    squeeze = math.exp(scaled(r["contraction"], u["contraction"], level))
    sd = level * RATIO_SD
    ratios = dict(a.ratios)
    for cls, z in zip(PHANTOM_RANK_ORDER[1:], v.z):  # all but LV (rank 1)
        ratios[cls] *= math.exp(sd * z - 0.5 * sd * sd)
    dx, dy = (scaled(r["shift"], u[k], level) * a.fov for k in ("shift_x", "shift_y"))
    return dataclasses.replace(
        a,
        lv_radius=min(a.lv_radius * math.exp(scaled(r["size"], u["size"], level)), MAX_LV_RADIUS_FOV * a.fov),
        centre=(a.centre[0] + dx, a.centre[1] + dy),
        rotation=a.rotation + scaled(r["rotation"], u["rotation"], level),
        harmonics=(a2 * shape, p2, a3 * shape, p3),
        myo_harmonic=(min(m1 * shape, 0.7), pm),
        es_lv=float(np.clip(1.0 - (1.0 - a.es_lv) * squeeze, 0.3, 0.95)),
        es_rv=float(np.clip(1.0 - (1.0 - a.es_rv) * squeeze, 0.3, 0.95)),
        ratios=ratios,
    )


def vary_pathology(a: Anatomy, v: Variation, level: float) -> Anatomy:
    """ACDC's four pathology groups, severity ``level`` (so 2 is twice as marked as 1):

    - DCM, dilated: LV radius x (1 + 0.3 sev), ES shortening x (1 - 0.45 sev), Myo area
      ratio x exp(-0.5 sev) (a thin wall round a large cavity);
    - HCM, hypertrophic: LV radius x (1 - 0.12 sev), Myo ratio x exp(0.6 sev), shortening
      x (1 + 0.25 sev);
    - MINF, infarction: shortening x (1 - 0.35 sev), a stronger regional wall thinning;
    - ARV, abnormal right ventricle: RV area ratio x exp(0.7 sev), RV shortening x (1 - 0.3 sev).
    Shortening factors are floored at 0.15; ES/ED radius ratios stay in [0.3, 0.97].
    """
    kind, sev = pathology_of(v, level), level
    if kind is None:
        return a
    ratios, radius = dict(a.ratios), a.lv_radius
    lv_short, rv_short, m1 = 1.0 - a.es_lv, 1.0 - a.es_rv, a.myo_harmonic[0]
    if kind == "DCM":
        radius, lv_short = radius * (1 + 0.3 * sev), lv_short * max(0.15, 1 - 0.45 * sev)
        ratios[2] *= math.exp(-0.5 * sev)
    elif kind == "HCM":
        radius, lv_short = radius * (1 - 0.12 * sev), lv_short * (1 + 0.25 * sev)
        ratios[2] *= math.exp(0.6 * sev)
    elif kind == "MINF":
        lv_short, m1 = lv_short * max(0.15, 1 - 0.35 * sev), min(0.7, m1 + 0.3 * sev)
    else:  # ARV
        rv_short, ratios[1] = rv_short * max(0.15, 1 - 0.3 * sev), ratios[1] * math.exp(0.7 * sev)
    return dataclasses.replace(
        a,
        lv_radius=min(radius, MAX_LV_RADIUS_FOV * a.fov),
        es_lv=float(np.clip(1.0 - lv_short, 0.3, 0.97)),
        es_rv=float(np.clip(1.0 - rv_short, 0.3, 0.97)),
        myo_harmonic=(m1, a.myo_harmonic[1]),
        ratios=ratios,
    )


def apply_heterogeneity(a: Anatomy, config: PhantomConfig, index: int) -> Anatomy:
    """Patient ``index``'s anatomy with its acquisition and anatomy variation at the levels
    of ``config``; at both levels 0 ``a`` itself (today's phantom, bit for bit)."""
    acquisition, anatomy = config.acquisition_level, config.anatomy_level
    if acquisition == 0 and anatomy == 0:
        return a
    v = draw_variation(variation_rng(config.seed, index))
    a = vary_acquisition(a, v, acquisition)
    return vary_pathology(vary_anatomy(a, v, anatomy), v, anatomy)
