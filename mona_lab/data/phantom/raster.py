"""Rasterising one frame of a phantom patient: a tissue code and a class label per pixel.

Pixels are classified by their centre (so pixel counts are unbiased estimates of the
continuous areas that `solve_geometry` calibrated). Boundary functions of the polar
angle are tabulated once per frame and looked up per pixel; tissues are painted as
uint8 codes (`TISSUES`), which `mona_lab.data.phantom.intensity` turns into intensities.
Painting order matters: later structures cover earlier ones (thorax, aorta, fat,
effusion, pericardium, RV, myocardium, LV cavity, papillary muscles).
"""
from __future__ import annotations

import math

import numpy as np

from mona_lab.data.phantom.anatomy import Anatomy, angular_profile, lv_boundary, myo_shape
from mona_lab.data.phantom.geometry import Geometry

TISSUES = ("air", "fat", "tissue", "lung", "liver", "blood", "rv_blood", "myo", "pap", "effusion", "pericardium")
_CODE = {name: np.uint8(i) for i, name in enumerate(TISSUES)}
_LUT_BINS = 4096  # angular resolution of the tabulated boundary functions (0.09 degrees)


def pixel_centres_mm(fov: float, size: int) -> np.ndarray:
    """``[S]`` float32 coordinates of the pixel centres in mm, 0 at the image centre."""
    px = fov / size
    return ((np.arange(size) + 0.5 - size / 2) * px).astype(np.float32)


def _paint_thorax(a: Anatomy, xx: np.ndarray, yy: np.ndarray, pos: np.ndarray, size: int) -> np.ndarray:
    """Tissue codes ``[D, S, S]`` of the background anatomy in the image frame: body, fat,
    lungs, and the liver on the apical slices."""
    d = a.num_slices
    x2, y2 = xx[0], yy[0]  # [1, S], [S, 1]
    plane = np.full((size, size), _CODE["air"], dtype=np.uint8)
    ax, by, fat = a.body
    np.putmask(plane, (x2 / ax) ** 2 + (y2 / by) ** 2 < 1.0, _CODE["fat"])
    np.putmask(plane, (x2 / (ax - fat)) ** 2 + (y2 / (by - fat)) ** 2 < 1.0, _CODE["tissue"])
    lx, lax, lby, ly = a.lungs
    for side in (-1.0, 1.0):
        np.putmask(plane, ((x2 - side * lx) / lax) ** 2 + ((y2 - ly) / lby) ** 2 < 1.0, _CODE["lung"])
    tissue = np.repeat(plane[None], d, axis=0)
    livx, liva, livb, livstart = a.liver
    liver = ((x2 + livx) / liva) ** 2 + ((y2 - 0.5 * livx) / livb) ** 2 < 1.0
    first_apical = int(np.searchsorted(pos[:, 0, 0], livstart))  # pos increases base -> apex
    tissue[first_apical:][:, liver] = _CODE["liver"]
    return tissue


def paint_frame(a: Anatomy, g: Geometry, frame: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise frame ``frame`` (0 = ED, 1 = ES) at ``size x size`` pixels.

    Returns:
        tissue codes ``[D, S, S]`` uint8 (indices into `TISSUES`) and the label map
        ``[D, S, S]`` int64 in 0..5.
    """
    f32 = np.float32
    d = a.num_slices
    coords = pixel_centres_mm(a.fov, size)
    yy = coords[None, :, None]  # [1, S, 1] rows (mm)
    xx = coords[None, None, :]  # [1, 1, S]
    pos = np.linspace(0.0, 1.0, d).astype(f32)[:, None, None]  # [D, 1, 1]
    tissue = _paint_thorax(a, xx, yy, pos, size)

    # ---- heart frame: the centre drifts from base to apex ----
    dx = xx - (a.centre[0] + a.drift[0] * pos)  # [D, 1, S]
    dy = yy - (a.centre[1] + a.drift[1] * pos)  # [D, S, 1]
    cr, sr = f32(math.cos(a.rotation)), f32(math.sin(a.rotation))
    e = f32(1.0 + a.ellipticity)
    xe = (cr * dx + sr * dy) / e  # area-preserving ellipticity
    ye = (-sr * dx + cr * dy) * e
    r = np.sqrt(xe * xe + ye * ye)
    th = np.arctan2(ye, xe)
    bins = ((th + f32(np.pi)) * f32(_LUT_BINS / (2 * np.pi))).astype(np.int32)
    np.clip(bins, 0, _LUT_BINS - 1, out=bins)
    grid = (np.arange(_LUT_BINS) + 0.5) * (2 * np.pi / _LUT_BINS) - np.pi

    ao_dist, ao_angle, ao_radius = a.aorta
    ang = a.rv_angle + math.pi + ao_angle
    aox = ao_dist * math.cos(ang) + a.lv_radius
    aoy = ao_dist * math.sin(ang)
    np.putmask(tissue, (xe - aox) ** 2 + (ye - aoy) ** 2 < ao_radius**2, _CODE["blood"])

    def table(values: np.ndarray) -> np.ndarray:
        return np.take(values.astype(f32), bins)

    radius = g.radius[frame].astype(f32)[:, None, None]
    lv = radius * table(lv_boundary(a, 1.0, grid))
    outer = lv + f32(g.myo_thickness * g.myo_factor[frame]) * table(myo_shape(a, grid))
    rv_scale = (g.rv_depth * g.rv_factor[frame]).astype(f32)[:, None, None]
    heart = outer + rv_scale * table(angular_profile(grid - a.rv_angle, a.rv_width, 0.6))
    peri_out = heart + f32(a.pericardium)
    eff_scale = (g.eff_depth * g.eff_present[frame]).astype(f32)[:, None, None]
    eff_out = peri_out + eff_scale * table(angular_profile(grid - a.eff_angle, a.eff_width, 0.5))
    fat_out = eff_out + f32(a.fat_depth) * table(angular_profile(grid - a.fat_angle, a.fat_width, 0.7))

    label = np.zeros((d, size, size), dtype=np.int64)
    np.putmask(tissue, r < fat_out, _CODE["fat"])
    effusion = (r >= peri_out) & (r < eff_out)
    np.putmask(tissue, effusion, _CODE["effusion"])
    np.putmask(label, effusion, 5)
    np.putmask(tissue, r < peri_out, _CODE["pericardium"])
    rv = (r >= outer) & (r < heart)
    np.putmask(tissue, rv, _CODE["rv_blood"])
    np.putmask(label, rv, 1)
    cavity = r < lv
    myo = (r < outer) & ~cavity
    np.putmask(tissue, myo, _CODE["myo"])
    np.putmask(label, myo, 2)
    np.putmask(tissue, cavity, _CODE["blood"])
    np.putmask(label, cavity, 3)
    present = np.flatnonzero(g.pap_present[frame])
    for angle in a.pap_angles:
        boundary = g.radius[frame][present] * lv_boundary(a, 1.0, angle)  # [P]
        rho = (g.pap_kappa * boundary).astype(f32)[:, None, None]
        dist = ((1.0 - 1.15 * g.pap_kappa) * boundary).astype(f32)[:, None, None]
        sub = (xe[present] - dist * f32(math.cos(angle))) ** 2 + (ye[present] - dist * f32(math.sin(angle))) ** 2
        pap = np.zeros_like(cavity)
        pap[present] = (sub < rho**2) & cavity[present]
        np.putmask(tissue, pap, _CODE["pap"])
        np.putmask(label, pap, 4)
    return tissue, label
