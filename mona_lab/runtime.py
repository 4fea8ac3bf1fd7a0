"""Run-time switches shared by every part of mona_lab: seeding, device choice, fast mode.

One seed controls a run (`seed_everything`), the device is chosen once
(`select_device`, never a hard-coded ``cuda:0``) and ``MONA_LAB_FAST=1`` shrinks every
notebook and test run so it finishes in seconds on a laptop CPU (`is_fast_mode`; the three
lab sizes, fast, lecture and full, are in `mona_lab.lab_size`).
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

FAST_ENV_VAR = "MONA_LAB_FAST"
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def is_fast_mode() -> bool:
    """True when the lab runs at the fast size: ``MONA_LAB_FAST`` set to a true value, or
    ``MONA_LAB_SIZE=fast`` (`mona_lab.lab_size`).

    For ``MONA_LAB_FAST``, ``1``, ``true``, ``yes`` and ``on`` (any case) count as true;
    unset, empty, ``0``, ``false``, ``no`` and ``off`` as false. Anything else, and any
    ``MONA_LAB_SIZE`` other than fast, lecture or full, raises ``ValueError`` so that a typo
    never silently runs a multi-hour full setting.
    """
    from mona_lab.lab_size import LabSize, lab_size_requested

    return lab_size_requested() is LabSize.FAST


def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and every CUDA device) from one integer.

    Args:
        seed: the run's seed, a non-negative integer.
        deterministic: on CUDA, also ask torch for deterministic kernels where they exist
            (``warn_only`` so that ops without a deterministic version still run). Without
            CUDA the flag is left alone (switching it imports torch's compiler stack,
            seconds): at a fixed thread count the CPU kernels mona_lab uses give the same
            result every time. The exception, an accumulating ``index_put_`` (also behind
            the backward of advanced indexing), sums repeated indices in a thread-dependent
            order; the pixel contrasts avoid it (`mona_lab.losses.pixel_statistics`,
            ``_add_rows_at_pixels``; issue 12), which tests/test_thread_determinism.py checks
            for every method with two threads.

    Returns:
        a CPU ``torch.Generator`` seeded with ``seed``, for code that wants its own stream.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic and torch.cuda.is_available():
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve a device name to a ``torch.device``.

    ``auto`` picks CUDA when present, then Apple's MPS, then the CPU. An explicit
    ``cuda`` / ``cuda:N`` / ``mps`` that is not available raises ``ValueError`` rather
    than silently falling back. ``LOCAL_RANK`` (set by ``torchrun``) picks the GPU of a
    distributed worker when the name carries no index.
    """
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise ValueError(f"device must be a string such as {DEVICE_CHOICES}, got {device!r}")
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif _mps_available():
            name = "mps"
        else:
            return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for but CUDA is not available; use --device auto or cpu")
        if name == "cuda":
            local_rank = int(os.environ.get("LOCAL_RANK", "0"))
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        try:
            dev = torch.device(name)
        except RuntimeError as err:
            raise ValueError(f"device {name!r} is not a valid device name") from err
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} asked for but only {torch.cuda.device_count()} CUDA device(s) exist")
        return dev
    if name == "mps":
        if not _mps_available():
            raise ValueError("device 'mps' was asked for but MPS is not available; use --device auto or cpu")
        return torch.device("mps")
    raise ValueError(f"unknown device {name!r}; choose one of {DEVICE_CHOICES} (or cuda:N)")
