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

**Determinism.** Patient ``i`` draws from ``numpy.random.default_rng(SeedSequence(seed,
spawn_key=(i,)))``, so it is the same whatever ``num_patients`` is. All anatomy is drawn in
millimetres before rasterising, so the same patient at another ``image_size`` is the same
anatomy at another resolution (the noise differs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from mona_lab.data.volume import Volume
from mona_lab.errors import MonaLabError

PHANTOM_CLASS_NAMES = ("background", "RV", "Myo", "LV", "PM", "PE")
# foreground classes from most to least frequent (rank 1 first)
PHANTOM_RANK_ORDER = (3, 2, 1, 5, 4)
FRAME_NAMES = ("frame01", "frame02")  # ED, ES
_THETA = np.linspace(-np.pi, np.pi, 360, endpoint=False)  # integration grid


@dataclass(frozen=True)
class PhantomConfig:
    """Settings of the phantom data set.

    Args:
        num_patients: number of patients (each gives an ED and an ES volume).
        image_size: slices are ``image_size x image_size`` pixels.
        zipf_exponent: ``s`` in the target foreground areas ``area_k ~ rank_k ** -s``.
        seed: master seed; patient ``i`` uses ``SeedSequence(seed, spawn_key=(i,))``.
        min_slices, max_slices: slices per volume, drawn uniformly per patient.
        noise: Rician noise standard deviation relative to the blood signal (scaled by
            U(0.6, 1.4) per patient).
        bias: strength of the multiplicative bias field (log-amplitude at the image corner).
        blur_mm: range of the Gaussian blur sigma in millimetres.
        size_jitter: standard deviation of the per-patient log-normal jitter of the class
            area ratios.
        slice_thickness_mm: z spacing.
    """

    num_patients: int = 40
    image_size: int = 128
    zipf_exponent: float = 1.0
    seed: int = 0
    min_slices: int = 8
    max_slices: int = 12
    noise: float = 0.07
    bias: float = 0.35
    blur_mm: tuple[float, float] = (1.0, 2.5)
    size_jitter: float = 0.2
    slice_thickness_mm: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.num_patients, int) or self.num_patients < 1:
            raise MonaLabError(f"num_patients must be a positive integer, got {self.num_patients!r}")
        if not isinstance(self.image_size, int) or self.image_size < 16:
            raise MonaLabError(f"image_size must be an integer >= 16, got {self.image_size!r}")
        if not (0.0 <= float(self.zipf_exponent) <= 4.0):
            raise MonaLabError(f"zipf_exponent must lie in [0, 4], got {self.zipf_exponent!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise MonaLabError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (2 <= self.min_slices <= self.max_slices):
            raise MonaLabError(
                f"need 2 <= min_slices <= max_slices, got {self.min_slices}, {self.max_slices}"
            )
        if self.noise < 0 or self.bias < 0 or self.size_jitter < 0:
            raise MonaLabError("noise, bias and size_jitter must be non-negative")
        lo, hi = self.blur_mm
        if not (0 <= lo <= hi):
            raise MonaLabError(f"blur_mm must be (low, high) with 0 <= low <= high, got {self.blur_mm}")


def patient_id(index: int) -> str:
    """``0 -> "patient001"``: ACDC-style names, so the NIfTI writer needs no mapping."""
    return f"patient{index + 1:03d}"


def phantom_split(num_patients: int) -> tuple[list[str], list[str], list[str]]:
    """Fixed train / val / test patients of a phantom with ``num_patients`` patients.

    The last ``max(1, round(0.1 n))`` patients are the test set, the ``max(1, round(0.2 n))``
    before them validation, the rest training (40 -> 28 / 8 / 4). Patients are i.i.d. draws,
    so taking them by position is as good as a random split and never changes with the seed.
    With fewer than 3 patients everything is training data and val/test are empty.
    """
    ids = [patient_id(i) for i in range(num_patients)]
    if num_patients < 3:
        return ids, [], []
    n_test = max(1, int(math.floor(0.1 * num_patients + 0.5)))
    n_val = max(1, int(math.floor(0.2 * num_patients + 0.5)))
    n_train = num_patients - n_val - n_test
    return ids[:n_train], ids[n_train : n_train + n_val], ids[n_train + n_val :]


def _profile(delta: np.ndarray, half_width: float, power: float) -> np.ndarray:
    """``cos(pi/2 * delta / w) ** power`` inside ``|delta| < w``, else 0 (delta wrapped)."""
    d = (delta + np.pi) % (2 * np.pi) - np.pi
    inside = np.abs(d) < half_width
    return np.where(inside, np.cos(0.5 * np.pi * np.clip(d / half_width, -1, 1)) ** power, 0.0)


def _solve_quadratic(quad: float, lin: float, target: float) -> float:
    """Positive root of ``quad x^2 + lin x = target`` (quad, lin >= 0)."""
    if target <= 0:
        return 0.0
    disc = lin * lin + 4.0 * quad * target
    denom = lin + math.sqrt(disc)
    return 2.0 * target / denom if denom > 0 else 0.0


@dataclass
class _Anatomy:
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


def _draw_anatomy(rng: np.random.Generator, cfg: PhantomConfig) -> _Anatomy:
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
    return _Anatomy(
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


@dataclass
class _Geometry:
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


def _lv_boundary(a: _Anatomy, radius: np.ndarray, theta: np.ndarray) -> np.ndarray:
    a2, p2, a3, p3 = a.harmonics
    return radius * (1.0 + a2 * np.cos(2 * theta + p2) + a3 * np.cos(3 * theta + p3))


def _myo_shape(a: _Anatomy, theta: np.ndarray) -> np.ndarray:
    m1, pm = a.myo_harmonic
    return 1.0 + m1 * np.cos(theta - pm)


def _solve_geometry(a: _Anatomy) -> _Geometry:
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
    lv = _lv_boundary(a, radius[..., None], th)  # [2, D, G]
    lv_area = (0.5 * lv**2).sum(-1) * dth  # [2, D]
    total_cavity = float(lv_area.sum())
    r = a.ratios

    # papillary muscles: two discs of radius kappa * L(theta_j) on present slices, so
    # P = kappa^2 * pi * sum L(theta_j)^2 and P = r_pm * (cavity - P)
    pap_target = r[4] * total_cavity / (1.0 + r[4])
    at_pap = np.stack([_lv_boundary(a, radius, angle) for angle in a.pap_angles])  # [2, 2, D]
    pap_norm = math.pi * float((at_pap**2 * pap_present[None]).sum())
    pap_kappa = min(math.sqrt(pap_target / pap_norm), 0.42)  # 0.42: must fit inside the cavity
    lv_total = total_cavity - pap_kappa**2 * pap_norm

    # myocardium: T = t * f_frame * h(theta)
    h = _myo_shape(a, th)
    lin = float((myo_factor[:, None, None] * lv * h).sum() * dth)
    quad = float((0.5 * (myo_factor[:, None, None] * h) ** 2).sum() * d * dth)
    t = _solve_quadratic(quad, lin, r[2] * lv_total)
    outer = lv + t * myo_factor[:, None, None] * h  # [2, D, G]

    # right ventricle: depth H * rv_factor * profile(theta)
    k = rv_factor[..., None] * _profile(th - a.rv_angle, a.rv_width, 0.6)
    lin = float((outer * k).sum() * dth)
    quad = float((0.5 * k**2).sum() * dth)
    rv_depth = _solve_quadratic(quad, lin, r[1] * lv_total)
    heart = outer + rv_depth * k

    # effusion: depth e * profile, on present slices, beyond the pericardium
    ke = eff_present[..., None] * _profile(th - a.eff_angle, a.eff_width, 0.5)
    lin = float(((heart + a.pericardium) * ke).sum() * dth)
    quad = float((0.5 * ke**2).sum() * dth)
    eff_depth = _solve_quadratic(quad, lin, r[5] * lv_total)
    return _Geometry(radius, myo_factor, rv_factor, pap_present, eff_present, pap_kappa, t, rv_depth, eff_depth)


_TISSUES = ("air", "fat", "tissue", "lung", "liver", "blood", "rv_blood", "myo", "pap", "effusion", "pericardium")
_CODE = {name: np.uint8(i) for i, name in enumerate(_TISSUES)}
_LUT_BINS = 4096  # angular resolution of the tabulated boundary functions (0.09 degrees)


def _render_frame(a: _Anatomy, g: _Geometry, frame: int, size: int, rng: np.random.Generator):
    """Rasterise one frame: returns image ``[D, S, S]`` float32 in [0, 1], label int64.

    Pixels are classified by their centre (so pixel counts are unbiased estimates of the
    continuous areas that `_solve_geometry` calibrated). Boundary functions of the polar
    angle are tabulated once per frame and looked up per pixel; tissues are painted as
    uint8 codes and turned into intensities with one table look-up.
    """
    f32 = np.float32
    d = a.num_slices
    px = a.fov / size
    coords = ((np.arange(size) + 0.5 - size / 2) * px).astype(f32)
    yy = coords[None, :, None]  # [1, S, 1] rows (mm)
    xx = coords[None, None, :]  # [1, 1, S]
    pos = np.linspace(0.0, 1.0, d).astype(f32)[:, None, None]  # [D, 1, 1]
    it = a.intensities

    # ---- background anatomy (image frame) ----
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
    lv = radius * table(_lv_boundary(a, 1.0, grid))
    outer = lv + f32(g.myo_thickness * g.myo_factor[frame]) * table(_myo_shape(a, grid))
    rv_scale = (g.rv_depth * g.rv_factor[frame]).astype(f32)[:, None, None]
    heart = outer + rv_scale * table(_profile(grid - a.rv_angle, a.rv_width, 0.6))
    peri_out = heart + f32(a.pericardium)
    eff_scale = (g.eff_depth * g.eff_present[frame]).astype(f32)[:, None, None]
    eff_out = peri_out + eff_scale * table(_profile(grid - a.eff_angle, a.eff_width, 0.5))
    fat_out = eff_out + f32(a.fat_depth) * table(_profile(grid - a.fat_angle, a.fat_width, 0.7))

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
        boundary = g.radius[frame][present] * _lv_boundary(a, 1.0, angle)  # [P]
        rho = (g.pap_kappa * boundary).astype(f32)[:, None, None]
        dist = ((1.0 - 1.15 * g.pap_kappa) * boundary).astype(f32)[:, None, None]
        sub = (xe[present] - dist * f32(math.cos(angle))) ** 2 + (ye[present] - dist * f32(math.sin(angle))) ** 2
        pap = np.zeros_like(cavity)
        pap[present] = (sub < rho**2) & cavity[present]
        np.putmask(tissue, pap, _CODE["pap"])
        np.putmask(label, pap, 4)

    # ---- intensities, texture, bias field, blur, Rician noise, min-max ----
    lut = np.array([it[name] for name in _TISSUES], dtype=f32)
    image = lut[tissue]
    direction, wavenumber, phase, phase_drift = a.texture
    proj = np.cos(direction)[:, None, None] * xx[0] + np.sin(direction)[:, None, None] * yy[0]  # [K, S, S]
    arg = (wavenumber[:, None, None] * proj + phase[:, None, None]).astype(f32)
    shift = phase_drift[:, None] * np.arange(d)[None, :]  # [K, D]
    tex = np.einsum("kz,kyx->zyx", np.cos(shift).astype(f32), np.cos(arg)) - np.einsum(
        "kz,kyx->zyx", np.sin(shift).astype(f32), np.sin(arg)
    )
    half = a.fov / 2
    bx, bz = xx[0] / half, yy[0] / half
    c = a.bias_coef
    bias = np.exp(c[0] * bx + c[1] * bz + c[2] * bx**2 + c[3] * bz**2 + c[4] * bx * bz).astype(f32)
    image *= 1.0 + f32(0.04) * tex
    image *= bias
    sigma = a.blur / px
    if sigma > 0.05:
        image = gaussian_filter(image, sigma=(0.0, sigma, sigma), mode="nearest", truncate=3.0)
    noise = rng.standard_normal((2, d, size, size), dtype=f32)
    noise *= f32(a.noise * it["blood"])
    image += noise[0]
    image = np.sqrt(image * image + noise[1] * noise[1])
    lo, hi = image.min(), image.max()
    image = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    return image.astype(f32, copy=False), label


def make_phantom_patient(config: PhantomConfig, index: int) -> list[Volume]:
    """The ED and ES volumes of patient ``index`` (0-based), in that order.

    Returns:
        two `Volume` objects, ``case_id = "patientXXX_frame01"`` (ED) and ``..._frame02``
        (ES), image ``[D, S, S]`` float32 in [0, 1], label int64 in 0..5, spacing
        ``(slice thickness, pixel, pixel)`` in mm.
    """
    if index < 0:
        raise MonaLabError(f"patient index must be >= 0, got {index}")
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(index,)))
    anatomy = _draw_anatomy(rng, config)
    geometry = _solve_geometry(anatomy)
    pid = patient_id(index)
    # float32-exact values, so that a NIfTI header (float32 zooms) stores them unchanged
    px = float(np.float32(anatomy.fov / config.image_size))
    spacing = (float(np.float32(anatomy.spacing_mm)), px, px)
    volumes = []
    for frame, name in enumerate(FRAME_NAMES):
        image, label = _render_frame(anatomy, geometry, frame, config.image_size, rng)
        volumes.append(Volume(f"{pid}_{name}", pid, image, label, spacing))
    return volumes


def make_phantom(config: PhantomConfig | None = None) -> list[Volume]:
    """All volumes of the phantom, patient by patient (ED then ES).

    The default (40 patients, 788 slices at 128 x 128) built in 3.5-4.4 s on 2 heavily
    shared cores (``benchmarks/bench_data.py`` measures it; the target is < 10 s).
    """
    config = config or PhantomConfig()
    volumes: list[Volume] = []
    for i in range(config.num_patients):
        volumes.extend(make_phantom_patient(config, i))
    return volumes
