"""Image formation of the phantom: from tissue codes to a normalised MR-like image.

Each tissue gets the patient's intensity (`Anatomy.intensities`; blood, effusion and fat
overlap, as do myocardium, papillary muscles and tissue), then a smooth texture, a
multiplicative bias field, a Gaussian blur and Rician noise; the volume is min-max
normalised to [0, 1], as ACDC scans are (MONA Sec. IV-A).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from mona_lab.data.phantom.anatomy import Anatomy
from mona_lab.data.phantom.raster import TISSUES, pixel_centres_mm


def image_from_tissues(a: Anatomy, tissue: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image of one frame from its tissue codes.

    Args:
        a: the patient's anatomy (intensities, texture, bias, blur, noise, field of view).
        tissue: ``[D, S, S]`` uint8 codes from `mona_lab.data.phantom.raster.paint_frame`.
        rng: the patient's generator (the noise is its only draw here).

    Returns:
        ``[D, S, S]`` float32 in [0, 1].
    """
    f32 = np.float32
    d, size = a.num_slices, tissue.shape[-1]
    px = a.fov / size
    coords = pixel_centres_mm(a.fov, size)
    x, y = coords[None, :], coords[:, None]  # [1, S] columns, [S, 1] rows (mm)
    it = a.intensities
    lut = np.array([it[name] for name in TISSUES], dtype=f32)
    image = lut[tissue]
    direction, wavenumber, phase, phase_drift = a.texture
    proj = np.cos(direction)[:, None, None] * x + np.sin(direction)[:, None, None] * y  # [K, S, S]
    arg = (wavenumber[:, None, None] * proj + phase[:, None, None]).astype(f32)
    shift = phase_drift[:, None] * np.arange(d)[None, :]  # [K, D]
    tex = np.einsum("kz,kyx->zyx", np.cos(shift).astype(f32), np.cos(arg)) - np.einsum(
        "kz,kyx->zyx", np.sin(shift).astype(f32), np.sin(arg)
    )
    half = a.fov / 2
    bx, bz = x / half, y / half
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
    return image.astype(f32, copy=False)
