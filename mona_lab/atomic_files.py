"""Atomic file writes: write to a temporary name in the target's folder, then rename.

``os.replace`` is atomic on one file system, so a reader (or a resumed run) sees either the
old file or the complete new one, never a half-written file; on any error the temporary
file is removed and the target is left as it was. No torch import at module level, so light
modules (the CLI's parsers, the lecture export) can use it.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write_to_path(path: Path, produce: Callable[[str], None], *, suffix: str = ".tmp", mode: int | None = None) -> None:
    """Call ``produce(temporary_path)`` to create the file, then rename it over ``path``.

    For writers that want a file name (``nibabel.save`` picks the format from the suffix).
    ``mode``: permission bits to set before the rename (``mkstemp`` creates files 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        produce(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write(path: Path, write: Callable[[BinaryIO], object], *, mode: int | None = None) -> None:
    """Call ``write(handle)`` on a binary handle of a temporary file, flush it to disk
    (``fsync``), then rename it over ``path``."""

    def produce(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())

    atomic_write_to_path(path, produce, mode=mode)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda handle: handle.write(data), mode=mode)


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save(obj)`` to ``path`` atomically (torch is imported here, not by the module)."""
    import torch

    atomic_write(Path(path), lambda handle: torch.save(obj, handle))
