"""The lab's size, chosen once: fast, lecture or full.

The notebooks run at one of three sizes, read from the environment when a notebook starts:

- ``fast``: the regression (seconds per notebook; runs far too short to mean anything).
  ``MONA_LAB_SIZE=fast``, or ``MONA_LAB_FAST=1`` as before.
- ``lecture``: the default on a CPU. Each notebook in a minute or two on a laptop; cells that
  train run long enough for the principles' terms to move the numbers.
- ``full``: the papers' setting (the stored studies' budgets), the default when CUDA is
  available; ``MONA_LAB_SIZE=full`` asks for it anywhere.

``MONA_LAB_FAST=0`` (or unset) expresses no choice: the default applies. ``MONA_LAB_FAST=1``
together with ``MONA_LAB_SIZE=lecture`` or ``full`` is a contradiction and raises.
`mona_lab.runtime.is_fast_mode` is ``lab_size_requested() is LabSize.FAST``, so every caller
of it keeps its meaning.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from enum import Enum

SIZE_ENV_VAR = "MONA_LAB_SIZE"
FAST_ENV_VAR = "MONA_LAB_FAST"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


class LabSize(str, Enum):
    """How big the notebooks' runs are (see the module docstring)."""

    FAST = "fast"
    LECTURE = "lecture"
    FULL = "full"


SIZE_NAMES = tuple(size.value for size in LabSize)


def fast_flag(environ: Mapping[str, str] | None = None) -> bool:
    """``MONA_LAB_FAST`` read as a switch: ``1/true/yes/on`` -> True, unset/``0/false/no/off`` -> False.

    Raises:
        ValueError: any other value (names the variable), so a typo never silently runs the
            full setting.
    """
    env = os.environ if environ is None else environ
    raw = env.get(FAST_ENV_VAR, "").strip().lower()
    if raw in _FALSE:
        return False
    if raw in _TRUE:
        return True
    raise ValueError(f"{FAST_ENV_VAR}={raw!r} is not understood; use 1 (fast) or 0 (full)")


def lab_size_requested(environ: Mapping[str, str] | None = None) -> LabSize | None:
    """The size the environment asks for, or ``None`` when it asks for none.

    ``MONA_LAB_SIZE`` (any case, surrounding spaces ignored) wins; ``MONA_LAB_FAST=1`` means
    ``fast``. Raises ``ValueError`` naming the variable and the allowed values for a bad
    ``MONA_LAB_SIZE``, and for ``MONA_LAB_FAST=1`` with another size.
    """
    env = os.environ if environ is None else environ
    fast = fast_flag(env)
    raw = env.get(SIZE_ENV_VAR, "").strip().lower()
    if not raw:
        return LabSize.FAST if fast else None
    if raw not in SIZE_NAMES:
        raise ValueError(f"{SIZE_ENV_VAR}={raw!r} is not a lab size; use one of {', '.join(SIZE_NAMES)}")
    size = LabSize(raw)
    if fast and size is not LabSize.FAST:
        raise ValueError(f"{FAST_ENV_VAR}=1 asks for the fast size but {SIZE_ENV_VAR}={raw!r}; unset one of them")
    return size


def default_lab_size(cuda_available: bool | None = None) -> LabSize:
    """``full`` when CUDA is available (``None``: ask torch), else ``lecture``."""
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    return LabSize.FULL if cuda_available else LabSize.LECTURE


def lab_size(environ: Mapping[str, str] | None = None, cuda_available: bool | None = None) -> LabSize:
    """The size the notebooks run at: the one the environment asks for, else the default."""
    requested = lab_size_requested(environ)
    return requested if requested is not None else default_lab_size(cuda_available)


def lab_size_line(environ: Mapping[str, str] | None = None, cuda_available: bool | None = None) -> str:
    """One line saying which size runs, why, and how to pick another."""
    env = os.environ if environ is None else environ
    size = lab_size(env, cuda_available)
    if env.get(SIZE_ENV_VAR, "").strip():
        reason = f"{SIZE_ENV_VAR}={size.value}"
    elif size is LabSize.FAST:
        reason = f"{FAST_ENV_VAR}={env.get(FAST_ENV_VAR, '').strip()}"
    else:
        reason = "default " + ("with a GPU" if size is LabSize.FULL else "on a CPU")
    others = "|".join(name for name in SIZE_NAMES if name != size.value)
    unset = f"unset {FAST_ENV_VAR} and " if fast_flag(env) else ""
    return f"lab size: {size.value} ({reason}) - {unset}set {SIZE_ENV_VAR}={others} before starting JupyterLab to change it"


def use_lab_threads(size: LabSize) -> int:
    """Set torch's thread count for a notebook at ``size`` and return it: the one place that
    does it for every notebook that trains. Below the full size one thread: the networks are
    tiny, so one thread per process is as fast, is never oversubscribed on a shared CPU, and
    gives the same numbers on any core count (measured, issue 24: 50 steps of notebook 09's run
    took 9.9 s with one thread, 33.7 s with two while the other core was busy). At the full
    size torch's default."""
    import torch

    if size is not LabSize.FULL:
        torch.set_num_threads(1)
    return torch.get_num_threads()


def announce_lab_size() -> LabSize:
    """Print `lab_size_line`, set the threads (`use_lab_threads`) and return the size (the
    first code cell of every notebook)."""
    print(lab_size_line())
    size = lab_size()
    use_lab_threads(size)
    return size
