"""A panel's stored widget state drawn as static HTML (`render_widget_view`), and the exported
lecture using it in place of the "interactive panel" note (`replace_widget_views`)."""
from __future__ import annotations

import base64
import re
import struct
import zlib
from pathlib import Path

import nbformat

from mona_lab.lab.lecture.notebooks import WIDGET_NOTE, replace_widget_views
from mona_lab.lab.lecture.widget_snapshot import (
    SNAPSHOT_CLASS,
    SNAPSHOT_METADATA_KEY,
    WIDGET_STATE_MIMETYPE,
    WIDGET_VIEW_MIMETYPE,
    render_widget_view,
    snapshot_details,
    stored_widget_models,
)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def tiny_png(width: int = 3, height: int = 2) -> str:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    rows = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))  # fmt: skip
    return base64.b64encode(png).decode()


def _model(name: str, **state) -> dict:
    module = "@jupyter-widgets/output" if name == "OutputModel" else "@jupyter-widgets/controls"
    return {"model_name": name, "model_module": module, "model_module_version": "2.0.0",
            "state": {"_model_name": name, **state}}  # fmt: skip


def hand_made_state() -> dict:
    ref = "IPY_MODEL_{}".format
    return {
        "root": _model("VBoxModel", children=[ref("title"), ref("row"), ref("fresh"), ref("out"), ref("tabs"),
                                              ref("odd"), ref("gone"), ref("root"), ref("hidden")]),  # fmt: skip
        "title": _model("LabelModel", value="Dice <head> & tail"),
        "row": _model("HBoxModel", children=[ref("check"), ref("slider"), ref("float"), ref("drop"), ref("toggle"),
                                             ref("text")]),  # fmt: skip
        "check": _model("CheckboxModel", value=True, description="tailness"),
        "slider": _model("IntSliderModel", value=3, min=1, max=8, step=1, description="labelled"),
        "float": _model("FloatSliderModel", value=0.125, min=0.0, max=1.0, step=0.025, description="tau",
                        readout_format=".3f"),  # fmt: skip
        "drop": _model("DropdownModel", _options_labels=["phantom", "acdc"], index=1, description="data"),
        "toggle": _model("ToggleButtonsModel", _options_labels=["ns", "sg", "sag"], index=2, description="sampler"),
        "text": _model("TextModel", value='say "hi"', description="note"),
        "fresh": _model("HBoxModel", children=[ref("button"), ref("bar")]),
        "button": _model("ButtonModel", description="Train a fresh run"),
        "bar": _model("IntProgressModel", value=12, min=0, max=30, description="iterations"),
        "out": _model("OutputModel", outputs=[
            {"output_type": "stream", "name": "stdout", "text": "mean Dice 0.51 < 0.6\n"},
            {"output_type": "display_data", "data": {"text/html": "<b>bold table</b>", "text/plain": "t"}, "metadata": {}},
            {"output_type": "display_data", "data": {"image/png": tiny_png(), "text/plain": "<Figure>"}, "metadata": {}},
            {"output_type": "error", "ename": "ValueError", "evalue": "bad",
             "traceback": ["\x1b[31mValueError\x1b[0m: bad <input>"]},
        ]),  # fmt: skip
        "tabs": _model("TabModel", children=[ref("first"), ref("second")], titles=["Head", "Tail"], selected_index=1),
        "first": _model("HTMLModel", value="<i>head classes</i>"),
        "second": _model("HTMLMathModel", value="tail $k^{-s}$"),
        "odd": _model("ColorPickerModel", value="#ff0000", description="colour"),
        "hidden": _model("LabelModel", value="never shown", layout=ref("hidden_layout")),
        "hidden_layout": {"model_name": "LayoutModel", "state": {"_model_name": "LayoutModel", "display": "none"}},
    }


def test_hand_made_state_draws_every_kind_of_widget_with_its_value() -> None:
    page = render_widget_view(hand_made_state(), "root", caption="run it <live>")
    assert page.startswith(f'<div class="{SNAPSHOT_CLASS}"') and "<script" not in page
    assert "Dice &lt;head&gt; &amp; tail" in page, "label text escaped"
    assert re.search(r'<input type="checkbox" disabled checked> tailness', page)
    assert 'type="range" disabled min="1" max="8" step="1" value="3"' in page and ">3</span>" in page
    assert "0.125</span>" in page and "tau" in page, "float slider with its readout format"
    assert "<option selected>acdc</option>" in page and "<option>phantom</option>" in page
    assert re.search(r"font-weight: bold\">sag</button>", page), "the chosen toggle button stands out"
    assert 'value="say &quot;hi&quot;"' in page, "text field value escaped inside its attribute"
    assert re.search(r"<button disabled[^>]*>Train a fresh run</button>", page)
    assert '<progress max="30" value="12"></progress>' in page and "12/30" in page
    assert "mean Dice 0.51 &lt; 0.6" in page and "<b>bold table</b>" in page, "stream escaped, HTML as is"
    assert f'src="data:image/png;base64,{tiny_png()}"' in page
    assert "ValueError: bad &lt;input&gt;" in page and "\x1b" not in page, "traceback without ANSI codes"
    assert "Head" in page and "Tail (shown)" in page and "<i>head classes</i>" in page and "tail $k^{-s}$" in page
    assert "ColorPickerModel" in page and "#ff0000" in page, "an unknown model: its name in a grey box"
    assert "missing widget IPY_MODEL_gone" in page, "a dangling reference does not break the picture"
    assert "never shown" not in page, "layout display none hides a widget"
    assert "run it &lt;live&gt;" in page
    assert page.count("Dice &lt;head&gt;") == 1 and "contains itself" in page, "a cycle ends in a grey box"


def test_missing_root_or_state_gives_none_and_odd_states_never_raise() -> None:
    assert render_widget_view({}, "root") is None
    assert render_widget_view(hand_made_state(), "nope") is None
    odd = {"r": _model("VBoxModel", children=["IPY_MODEL_s", 7]), "s": _model("IntProgressModel", value="x", max=None)}
    page = render_widget_view(odd, "r")
    assert page is not None and "missing widget 7" in page


def _notebook_with_panel(state: dict | None, snapshot: bool = False):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("panel.show()")]
    outputs = [nbformat.v4.new_output("display_data", data={
        WIDGET_VIEW_MIMETYPE: {"model_id": "root", "version_major": 2, "version_minor": 0}, "text/plain": "(panel)"})]
    if snapshot:
        outputs.append(nbformat.v4.new_output("display_data", data={
            "text/html": snapshot_details("<p>kernel-side picture</p>"), "text/plain": "(picture)"},
            metadata={SNAPSHOT_METADATA_KEY: "root"}))  # fmt: skip
    nb.cells[0].outputs = outputs
    if state is not None:
        nb.metadata["widgets"] = {WIDGET_STATE_MIMETYPE: {"state": state, "version_major": 2, "version_minor": 0}}
    return nb


def test_export_draws_the_panel_from_stored_state_and_drops_its_kernel_side_picture() -> None:
    nb = _notebook_with_panel(hand_made_state(), snapshot=True)
    assert replace_widget_views(nb) == 1
    (output,) = nb.cells[0].outputs
    assert SNAPSHOT_CLASS in output["data"]["text/html"] and "Train a fresh run" in output["data"]["text/html"]
    assert WIDGET_VIEW_MIMETYPE not in output["data"] and "widgets" not in nb.metadata
    nbformat.validate(nb)


def test_export_without_stored_state_opens_the_panels_picture_else_keeps_the_note() -> None:
    nb = _notebook_with_panel(None, snapshot=True)
    replace_widget_views(nb)
    (output,) = nb.cells[0].outputs
    assert '<details class="mona-panel-snapshot" open>' in output["data"]["text/html"]
    nb = _notebook_with_panel({"other": _model("LabelModel", value="x")})
    replace_widget_views(nb)
    assert nb.cells[0].outputs[0]["data"]["text/html"] == WIDGET_NOTE


def test_notebook_02s_stored_panel_shows_its_labels_and_values() -> None:
    nb = nbformat.read(NOTEBOOKS / "02_tailness.ipynb", as_version=4)
    models = stored_widget_models(nb)
    views = [o["data"][WIDGET_VIEW_MIMETYPE]["model_id"] for c in nb.cells for o in c.get("outputs", [])
             if WIDGET_VIEW_MIMETYPE in o.get("data", {})]  # fmt: skip
    assert len(views) == 1 and views[0] in models
    page = render_widget_view(models, views[0])
    for shown in ("tailness", "consistency", "diversity", "labelled", "sampler", "Train a fresh run",
                  "iterations", "stored study", "<option selected>phantom</option>", "a fresh run:"):  # fmt: skip
        assert shown in page, shown
    assert re.search(r'<input type="checkbox" disabled checked> tailness', page)
    assert "data:image/png;base64," in page, "the fresh runs' bar chart"
    assert "ModelModel" not in page and "missing widget" not in page
