"""No committed notebook stores an image made from real ACDC or LA data.

ACDC's and the LA challenge's terms forbid redistributing the data, and an image of a slice is
the data. A cell that reads real data may draw it when a user runs it, but the repository must
keep that cell's outputs empty (issue 23). Aggregate statistics (class frequencies, Dice tables)
are not images of the data and may be stored.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
# names whose call returns images of real data (slices or volumes)
READERS = ("iter_acdc_training_slices", "read_acdc_volumes", "read_h5_pair", 'load_dataset("acdc"', "load_dataset('acdc'",
           'dataset="acdc"', 'load_dataset("la"', 'dataset="la"')  # fmt: skip


def _image_outputs(cell: dict) -> list[str]:
    return [key for output in cell.get("outputs", []) for key in output.get("data", {}) if key.startswith("image/")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_stored_image_from_a_cell_that_reads_real_data(path):
    cells = json.loads(path.read_text())["cells"]
    offending = []
    for index, cell in enumerate(cells):
        source = "".join(cell.get("source", []))
        if cell.get("cell_type") == "code" and any(name in source for name in READERS) and _image_outputs(cell):
            offending.append(index)
    assert not offending, f"{path.name}: cells {offending} read real data and store an image output; clear them"


def test_the_check_sees_an_image_from_a_reading_cell():
    cell = {"cell_type": "code", "source": ["slices = list(iter_acdc_training_slices(root))\n"],
            "outputs": [{"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}}]}  # fmt: skip
    assert _image_outputs(cell) == ["image/png"]
