"""The random anatomy of one phantom patient, in millimetres and radians.

`draw_anatomy` makes every random draw of a patient (field of view, heart size, position,
rotation, wall-shape harmonics, ES contraction, where the papillary muscles and the
effusion sit, tissue intensities, texture, bias, noise, blur) in a fixed order from the
patient's own generator. The wall shapes are functions of the polar angle in the heart's
frame: `lv_boundary` (the LV cavity), `myo_shape` (the myocardial thickness) and
`angular_profile` (the bump that shapes the RV, the effusion and the fat).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mona_lab.data.phantom.config import PHANTOM_RANK_ORDER, PhantomConfig


def angular_profile(delta: np.ndarray, half_width: float, power: float) -> np.ndarray:
    """``cos(pi/2 * delta / w) ** power`` inside ``|delta| < w``, else 0 (delta wrapped)."""
    d = (delta + np.pi) % (2 * np.pi) - np.pi
    inside = np.abs(d) < half_width
    return np.where(inside, np.cos(0.5 * np.pi * np.clip(d / half_width, -1, 1)) ** power, 0.0)


@dataclass
class Anatomy:
    """All random draws of one patient, in millimetres and radians."""

    fov: float
    num_slices: int
    spacing_mm: float
    lv_radius: float
    apex_taper: float
    harmonics: tuple[float, float, float, float]
    myo_harmonic: tuple[float, float]
    ellipticity: float
    rotation: float
    centre: tuple[float, float]
    drift: tuple[float, float]
    es_lv: float
    es_myo: float
    es_rv: float
    rv_angle: float
    rv_width: float
    pap_angles: tuple[float, float]
    pap_band: tuple[float, float]
    eff_angle: float
    eff_width: float
    eff_band: tuple[float, float]
    fat_angle: float
    fat_width: float
    fat_depth: float
    pericardium: float
    ratios: dict[int, float]
    intensities: dict[str, float]
    body: tuple[float, float, float]
    lungs: tuple[float, float, float, float]
    aorta: tuple[float, float, float]
    liver: tuple[float, float, float, float]
    texture: np.ndarray
    bias_coef: np.ndarray
    noise: float
    blur: float


def draw_anatomy(rng: np.random.Generator, cfg: PhantomConfig) -> Anatomy:
    """Every random draw of one patient from its generator ``rng``, in a fixed order."""
    u = rng.uniform
    fov = u(200.0, 250.0)
    num_slices = int(rng.integers(cfg.min_slices, cfg.max_slices + 1))
    s = float(cfg.zipf_exponent)
    jitter = rng.normal(0.0, cfg.size_jitter, size=5)
    ratios = {}
    for rank, cls in enumerate(PHANTOM_RANK_ORDER, start=1):
        ratios[cls] = 1.0 if rank == 1 else rank ** (-s) * math.exp(jitter[rank - 1] - 0.5 * cfg.size_jitter**2)
    blood = u(0.75, 0.95)
    myo = u(0.22, 0.38)
    intensities = {
        "air": u(0.0, 0.04),
        "tissue": u(0.28, 0.45),
        "fat": u(0.6, 0.85),
        "lung": u(0.03, 0.12),
        "liver": u(0.3, 0.45),
        "blood": blood,
        "rv_blood": blood * u(0.82, 1.0),
        "myo": myo,
        "pap": myo + u(0.0, 0.1),
        "effusion": u(0.55, 0.8),
        "pericardium": u(0.15, 0.3),
    }
    rv_angle = math.pi + u(-0.25, 0.25)
    pap_centre = rv_angle + math.pi
    pap_start = u(0.1, 0.3)
    eff_start = u(0.0, 0.6)
    return Anatomy(
        fov=fov,
        num_slices=num_slices,
        spacing_mm=cfg.slice_thickness_mm,
        lv_radius=u(22.0, 30.0),
        apex_taper=u(0.82, 0.95),
        harmonics=(u(0.0, 0.08), u(0, 2 * np.pi), u(0.0, 0.05), u(0, 2 * np.pi)),
        myo_harmonic=(u(0.0, 0.3), u(0, 2 * np.pi)),
        ellipticity=u(-0.12, 0.12),
        rotation=u(-0.6, 0.6),
        centre=(u(-0.08, 0.08) * fov, u(-0.08, 0.08) * fov),
        drift=(u(-10.0, 10.0), u(-10.0, 10.0)),
        es_lv=u(0.62, 0.8),
        es_myo=u(1.3, 1.6),
        es_rv=u(0.6, 0.85),
        rv_angle=rv_angle,
        rv_width=u(0.95, 1.35),
        pap_angles=(pap_centre - u(0.75, 1.05), pap_centre + u(0.75, 1.05)),
        pap_band=(pap_start, pap_start + u(0.5, 0.7)),
        eff_angle=u(-np.pi, np.pi),
        eff_width=u(0.5, 1.1),
        eff_band=(eff_start, eff_start + u(0.3, 0.5)),
        fat_angle=u(-np.pi, np.pi),
        fat_width=u(0.4, 1.2),
        fat_depth=u(3.0, 9.0),
        pericardium=u(1.0, 2.5),
        ratios=ratios,
        intensities=intensities,
        body=(u(0.40, 0.47) * fov, u(0.30, 0.38) * fov, u(8.0, 16.0)),
        lungs=(u(0.22, 0.28) * fov, u(0.1, 0.14) * fov, u(0.16, 0.22) * fov, u(-0.05, 0.05) * fov),
        aorta=(u(40.0, 60.0), u(0.4, 1.2), u(9.0, 13.0)),
        liver=(u(0.15, 0.25) * fov, u(0.12, 0.2) * fov, u(0.18, 0.25) * fov, u(0.4, 0.7)),
        texture=np.stack(
            [
                rng.uniform(-np.pi, np.pi, 6),  # direction
                2 * np.pi / rng.uniform(15.0, 60.0, 6),  # wave number (1/mm)
                rng.uniform(-np.pi, np.pi, 6),  # phase
                rng.uniform(0.0, 0.3, 6),  # phase drift per slice
            ]
        ),
        bias_coef=rng.normal(0.0, 1.0, 5) * cfg.bias / 2.0,
        noise=cfg.noise * u(0.6, 1.4),
        blur=u(*cfg.blur_mm),
    )


def lv_boundary(a: Anatomy, radius: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """LV cavity radius at polar angle ``theta``: ``radius (1 + a2 cos(2 theta + p2) + a3 cos(3 theta + p3))``."""
    a2, p2, a3, p3 = a.harmonics
    return radius * (1.0 + a2 * np.cos(2 * theta + p2) + a3 * np.cos(3 * theta + p3))


def myo_shape(a: Anatomy, theta: np.ndarray) -> np.ndarray:
    """Relative myocardial thickness at polar angle ``theta``: ``1 + m1 cos(theta - pm)``."""
    m1, pm = a.myo_harmonic
    return 1.0 + m1 * np.cos(theta - pm)
