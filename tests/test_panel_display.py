"""A shown panel keeps a readable picture of its state: a short text in the widget output,
its Output widgets' contents known in the kernel (`capture_into`), and a snapshot of the
live widgets (`live_widget_models`, `snapshot_html`); notebook 02 stores both."""
from __future__ import annotations

import functools
import re
from pathlib import Path

import ipywidgets as widgets
import nbformat
import pytest

from mona_lab.lab.lecture.widget_snapshot import SNAPSHOT_METADATA_KEY, WIDGET_VIEW_MIMETYPE
from mona_lab.lab.panel_display import (
    PANEL_TEXT,
    capture_into,
    live_widget_models,
    panel_bundle,
    show_panel,
    snapshot_html,
)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_capture_into_puts_prints_in_the_output_widget_in_the_kernel() -> None:
    out = widgets.Output()
    with capture_into(out):
        print("first <line>")
        print("second")
    assert out.outputs == ({"output_type": "stream", "name": "stdout", "text": "first <line>\nsecond\n"},)
    with capture_into(out):
        print("replaced")
    assert [o["text"] for o in out.outputs] == ["replaced\n"], "each capture replaces what the widget showed"
    with pytest.raises(ZeroDivisionError):
        with capture_into(out):
            print("before")
            1 / 0
    assert [o["output_type"] for o in out.outputs] == ["stream", "error"]
    assert out.outputs[1]["ename"] == "ZeroDivisionError"


def test_snapshot_of_live_widgets_shows_their_values_and_outputs() -> None:
    out = widgets.Output()
    check = widgets.Checkbox(value=False, description="diversity")
    slider = widgets.IntSlider(value=4, min=1, max=8, description="labelled")
    panel = widgets.VBox([widgets.HBox([check, slider]), widgets.Label(value="status <ok>"), out])
    with capture_into(out):
        print("table row 1")
    models = live_widget_models(panel)
    assert {panel.model_id, check.model_id, slider.model_id, out.model_id, check.layout.model_id} <= set(models)
    assert models[panel.model_id]["model_name"] == "VBoxModel"
    page = snapshot_html(panel)
    assert page.startswith('<details class="mona-panel-snapshot">') and "<summary" in page
    assert re.search(r'<input type="checkbox" disabled> diversity', page) and ">4</span>" in page
    assert "status &lt;ok&gt;" in page and "table row 1" in page
    bundle = panel_bundle(panel)
    assert bundle["text/plain"] == PANEL_TEXT and bundle[WIDGET_VIEW_MIMETYPE]["model_id"] == panel.model_id


def test_outside_ipython_show_panel_displays_nothing_and_refresh_is_harmless(capsys) -> None:
    shown = show_panel(widgets.VBox([widgets.Label(value="x")]))
    shown.refresh()
    assert shown.handle is None and capsys.readouterr().out == ""


@functools.lru_cache(maxsize=1)
def _tiny_phantom():
    from mona_lab.data import PhantomConfig, load_dataset

    return load_dataset("phantom", phantom=PhantomConfig(num_patients=5, image_size=32))


def test_ablation_panel_writes_its_stored_answer_and_table_where_the_snapshot_reads_them() -> None:
    from mona_lab.lab.ablation import AblationBudget
    from mona_lab.lab.widgets import AblationPanel

    tiny = AblationBudget(iterations=2, pretrain_iterations=1, image_size=32, width=0.25, embed_dim=8,
                          num_queries=8, num_negatives=16)  # fmt: skip
    panel = AblationPanel(_tiny_phantom(), tiny, device="cpu", study=None)
    page = snapshot_html(panel.widget())
    for shown in ("tailness", "consistency", "diversity", "labelled", "sampler", "Train a fresh run",
                  "no stored study", "no fresh runs yet"):  # fmt: skip
        assert shown in page, shown
    panel.checks["diversity"].value = False
    assert re.search(r'<input type="checkbox" disabled> diversity', snapshot_html(panel.widget()))


def test_notebook_02_stores_a_short_text_and_a_picture_of_its_panel() -> None:
    nb = nbformat.read(NOTEBOOKS / "02_tailness.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if any(WIDGET_VIEW_MIMETYPE in o.get("data", {}) for o in c.get("outputs", []))]
    view = next(o for o in cell.outputs if WIDGET_VIEW_MIMETYPE in o.get("data", {}))
    assert view["data"]["text/plain"] == PANEL_TEXT, "no VBox(children=(... text when the panel cannot be drawn"
    pictures = [o for o in cell.outputs if o.get("metadata", {}).get(SNAPSHOT_METADATA_KEY)]
    assert len(pictures) == 1 and pictures[0]["metadata"][SNAPSHOT_METADATA_KEY] == view["data"][WIDGET_VIEW_MIMETYPE]["model_id"]
    page = pictures[0]["data"]["text/html"]
    page = "".join(page) if isinstance(page, list) else page
    for shown in ("tailness", "labelled", "sampler", "Train a fresh run", "stored study", "data:image/png;base64,"):
        assert shown in page, shown
