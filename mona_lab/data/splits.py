"""Labelled / unlabelled splits by patient.

The papers give label ratios "of patients" (MONA TPAMI Sec. IV-A: "1%, 5%, and 10% label
ratios denote the ratio of patients"); on ACDC's 70 training patients these are 1, 3 and 7
patients. (The public code instead takes the first N rows of the slice list, which cuts a
patient in half; mona_lab does not.)

**Rounding rule** (`resolve_labeled_count`): ``k = floor(r * n)``, except that a ratio asking
for between half a patient and one patient gets one patient; ``r * n < 0.5`` is an error.
On ACDC, ``n = 70``: 1% -> 0.7 -> 1, 5% -> 3.5 -> 3, 10% -> 7.0 -> 7, as in the papers.

**Which patients** (`split_patients`): a seeded random permutation of the sorted patient
ids; the first ``k`` are labelled. The same seed gives nested labelled sets (the 1-patient set
is inside the 3-patient set), so label-ratio sweeps only ever add labels.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from mona_lab.errors import MonaLabError

_SPLIT_STREAM = 0x5B117  # separates the split's random stream from other users of `seed`


def parse_labeled(text: str | int | float) -> int | float:
    """Parse a ``--labeled`` value: ``"3"`` -> 3 (patients), ``"0.05"`` / ``"5%"`` -> 0.05."""
    if isinstance(text, bool):
        raise MonaLabError(f"--labeled must be a patient count or a ratio, got {text!r}")
    if isinstance(text, (int, float)):
        return text
    raw = str(text).strip()
    try:
        if raw.endswith("%"):
            return float(raw[:-1]) / 100.0
        value = float(raw)
    except ValueError as err:
        raise MonaLabError(f"--labeled must be a patient count (3) or a ratio (0.05 or 5%), got {text!r}") from err
    return int(value) if value.is_integer() else value


def resolve_labeled_count(labeled: int | float, num_patients: int) -> int:
    """Number of labelled patients for a count (``>= 1``) or a ratio in ``(0, 1)``.

    Args:
        labeled: an integer count (``3`` or ``3.0``) or a ratio ``0 < r < 1``.
        num_patients: training patients available, ``n >= 1``.

    Returns:
        ``k`` with ``1 <= k <= n`` (rounding rule in the module docstring).

    Raises:
        MonaLabError: non-positive, non-integer >= 1, a ratio selecting fewer than half a
            patient, or a count larger than ``n``.
    """
    if isinstance(labeled, bool) or not isinstance(labeled, (int, float, np.integer, np.floating)):
        raise MonaLabError(f"labeled must be a patient count or a ratio in (0, 1), got {labeled!r}")
    if num_patients < 1:
        raise MonaLabError("there are no training patients to split")
    value = float(labeled)
    if not math.isfinite(value) or value <= 0:
        raise MonaLabError(f"labeled must be a patient count >= 1 or a ratio in (0, 1), got {labeled!r}")
    if value < 1:
        wanted = value * num_patients
        if wanted < 0.5:
            raise MonaLabError(
                f"labeled ratio {value:g} of {num_patients} patients selects {wanted:.2f} patients "
                f"(less than half a patient); use a larger ratio or a count such as 1"
            )
        return max(1, int(math.floor(wanted + 1e-9)))
    if not value.is_integer():
        raise MonaLabError(f"labeled count must be a whole number of patients, got {labeled!r}")
    count = int(value)
    if count > num_patients:
        raise MonaLabError(f"labeled count {count} is larger than the {num_patients} training patients")
    return count


def split_patients(
    patients: Iterable[str], labeled: int | float, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split patients into labelled and unlabelled sets.

    Args:
        patients: training patient ids (duplicates are ignored; order does not matter).
        labeled: a count or a ratio (`resolve_labeled_count`).
        seed: the permutation's seed; same seed, same (nested) choice.

    Returns:
        ``(labeled_ids, unlabeled_ids)``, each sorted, disjoint, together all patients.
    """
    unique = sorted(set(patients))
    k = resolve_labeled_count(labeled, len(unique))
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise MonaLabError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SPLIT_STREAM]))
    order = rng.permutation(len(unique))
    chosen = set(order[:k].tolist())
    labeled_ids = [p for i, p in enumerate(unique) if i in chosen]
    unlabeled_ids = [p for i, p in enumerate(unique) if i not in chosen]
    return labeled_ids, unlabeled_ids
