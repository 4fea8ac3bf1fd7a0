"""Atomic writes (mona_lab.atomic_files): complete file or the old one, never half a file."""
from __future__ import annotations

import stat

import pytest

from mona_lab.atomic_files import atomic_write, atomic_write_bytes, atomic_write_text, atomic_write_to_path


def test_text_and_bytes_land_whole_and_create_the_folder(tmp_path):
    target = tmp_path / "new" / "metrics.json"
    atomic_write_text(target, "héllo\n")
    assert target.read_text(encoding="utf-8") == "héllo\n"
    atomic_write_bytes(target, b"\x00\x01", mode=0o644)
    assert target.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]


def test_a_failing_writer_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "last.pt"
    target.write_text("old")

    def broken(handle):
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken)
    with pytest.raises(OSError):
        atomic_write_to_path(target, lambda tmp: (_ for _ in ()).throw(OSError("nope")), suffix=".nii.gz")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_path_writers_get_a_temporary_name_with_the_suffix(tmp_path):
    seen = []

    def produce(tmp):
        seen.append(tmp)
        with open(tmp, "w") as handle:
            handle.write("volume")

    atomic_write_to_path(tmp_path / "a.nii.gz", produce, suffix=".nii.gz")
    assert seen[0].endswith(".nii.gz") and (tmp_path / "a.nii.gz").read_text() == "volume"
