"""The phantom's settings (`PhantomConfig`) and its classes.

Six classes, background first; the foreground ranked from most to least frequent by
`PHANTOM_RANK_ORDER` (LV, Myo, RV, PE, PM), the ranks of the Zipf law that
``PhantomConfig.zipf_exponent`` sets (the package docstring, "Long tail").
"""
from __future__ import annotations

from dataclasses import dataclass

from mona_lab.errors import MonaLabError

PHANTOM_CLASS_NAMES = ("background", "RV", "Myo", "LV", "PM", "PE")
# foreground classes from most to least frequent (rank 1 first)
PHANTOM_RANK_ORDER = (3, 2, 1, 5, 4)


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
