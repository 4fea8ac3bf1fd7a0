"""A static HTML picture of an ipywidgets panel, drawn from its stored widget state.

A notebook saved after its panels ran keeps their models in
``nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]``
(``{model_id: {"model_name", "model_module", "model_module_version", "state": {...}}}``);
an output that showed a panel keeps only ``{"model_id": ...}`` under
``application/vnd.jupyter.widget-view+json``. `render_widget_view` walks the model tree from
that id and writes what the panel looked like, with no script and nothing fetched:

- boxes (``VBox``, ``HBox``, ``Box``, ``GridBox``) as columns or flex rows of their children,
  ``Tab`` / ``Accordion`` / ``Stack`` children under their titles;
- ``Label`` as text, ``HTML`` / ``HTMLMath`` values as they are (they are HTML by design);
- controls (check boxes, toggle buttons, drop-downs, sliders, text fields, buttons) as
  disabled form elements with their description and value, progress bars as ``<progress>``;
- ``Output`` widgets' stored outputs: streams and ``text/plain`` as ``<pre>``, ``text/html``
  as it is, PNG/JPEG/SVG images inline, errors as their traceback, nested widget views drawn;
- any other model as its ``_model_name`` in a small grey box (never an error).

Text is HTML-escaped; only inline styles are used, from the set JupyterLab's HTML sanitizer
keeps, so the same picture reads in an untrusted notebook. `stored_widget_models` reads the
models out of a notebook. `mona_lab.lab.lecture.notebooks.replace_widget_views` uses both for
the exported pages; `mona_lab.lab.panel_display` draws live panels the same way.
"""
from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping

WIDGET_VIEW_MIMETYPE = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIMETYPE = "application/vnd.jupyter.widget-state+json"
SNAPSHOT_CLASS = "mona-widget-snapshot"
MODEL_REFERENCE = "IPY_MODEL_"
MAX_DEPTH = 40  # deeper trees, and a model that contains itself, end in a grey box

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_BOX = "display: flex; margin: 2px 0"
_PRE = ("white-space: pre; font-family: monospace; font-size: 12px; margin: 2px 0; padding: 4px; "
        "background-color: #f7f7f7; overflow: auto")  # fmt: skip
_GREY = ("display: inline-block; margin: 2px; padding: 1px 6px; border: 1px solid #ccc; border-radius: 3px; "
         "background-color: #f0f0f0; color: #777; font-size: 11px")  # fmt: skip
_DESCRIPTION = "display: inline-block; margin-right: 6px; color: #333"
_ITEM = "display: inline-block; margin: 2px 8px 2px 0; vertical-align: middle"
_BUTTON = "margin: 0 2px; padding: 2px 8px; border: 1px solid #999; border-radius: 2px"


def _esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def stored_widget_models(nb) -> dict[str, dict]:
    """The widget models a notebook stored, ``{model_id: {"model_name", "state", ...}}``.

    Empty when the notebook keeps no widget state (or a malformed one).
    """
    stored = (nb.get("metadata") or {}).get("widgets") or {}
    state = (stored.get(WIDGET_STATE_MIMETYPE) or {}).get("state") if isinstance(stored, Mapping) else None
    return dict(state) if isinstance(state, Mapping) else {}


def view_model_id(view) -> str | None:
    """The ``model_id`` of a ``widget-view+json`` item (a dict, or its JSON text), else None."""
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError:
            return None
    model_id = view.get("model_id") if isinstance(view, Mapping) else None
    return str(model_id) if model_id else None


def render_widget_view(models: Mapping[str, Mapping], model_id: str, *, caption: str | None = None) -> str | None:
    """Static HTML of the widget view ``model_id`` drawn from ``models``.

    Args:
        models: ``{model_id: {"model_name": ..., "state": {...}}}`` (`stored_widget_models`, or
            `mona_lab.lab.panel_display.live_widget_models` for a live panel).
        model_id: the view's root model.
        caption: a line written (escaped) under the picture, e.g. how to use the live panel.

    Returns:
        One ``<div class="mona-widget-snapshot">``, or None when ``model_id`` is not among
        ``models`` (the caller keeps its own fallback). Models referenced but missing, and
        models this renderer does not know, show as small grey boxes.
    """
    if not model_id or model_id not in models:
        return None
    body = _Renderer(models).model(model_id, depth=0)
    note = f'<div style="color: #777; font-size: 12px; margin-top: 4px">{_esc(caption)}</div>' if caption else ""
    return (f'<div class="{SNAPSHOT_CLASS}" style="border: 1px dashed #bbb; border-radius: 4px; padding: 6px; '
            f'margin: 4px 0">{body}{note}</div>')  # fmt: skip


class _Renderer:
    def __init__(self, models: Mapping[str, Mapping]) -> None:
        self.models = models
        self.path: list[str] = []  # the models being drawn, root first (a cycle ends in a grey box)

    # ------------------------------------------------------------------ model tree
    def _entry(self, reference) -> tuple[str, dict] | None:
        if not isinstance(reference, str):
            return None
        model_id = reference[len(MODEL_REFERENCE):] if reference.startswith(MODEL_REFERENCE) else reference
        entry = self.models.get(model_id)
        if not isinstance(entry, Mapping):
            return None
        state = entry.get("state") if isinstance(entry.get("state"), Mapping) else {}
        name = entry.get("model_name") or state.get("_model_name") or "unknown model"
        return str(name), dict(state)

    def model(self, reference, depth: int) -> str:
        found = self._entry(reference)
        if found is None:
            return f'<span style="{_GREY}">missing widget {_esc(reference)}</span>'
        name, state = found
        key = str(reference).removeprefix(MODEL_REFERENCE)
        if depth > MAX_DEPTH or key in self.path:
            return f'<span style="{_GREY}">{_esc(name)} (contains itself or nested too deep)</span>'
        if self._hidden(state):
            return ""
        kind = name[:-5] if name.endswith("Model") else name
        draw = getattr(self, f"_draw_{kind}", None)
        if draw is None:
            return self._unknown(name, state)
        self.path.append(key)
        try:
            return draw(state, depth)
        except Exception:  # a state this renderer did not expect: never break the page
            return self._unknown(name, state)
        finally:
            self.path.pop()

    def _hidden(self, state: Mapping) -> bool:
        layout = self._entry(state.get("layout"))
        if layout is None:
            return False
        return layout[1].get("display") == "none" or layout[1].get("visibility") == "hidden"

    def _children(self, state: Mapping, depth: int) -> list[str]:
        return [self.model(child, depth + 1) for child in state.get("children") or []]

    # ------------------------------------------------------------------ pieces
    @staticmethod
    def _description(state: Mapping) -> str:
        text = state.get("description")
        if not text:
            return ""
        shown = str(text) if state.get("description_allow_html") else _esc(text)
        return f'<span style="{_DESCRIPTION}">{shown}</span>'

    def _item(self, state: Mapping, control: str, readout: str = "") -> str:
        extra = f' <span style="font-family: monospace">{_esc(readout)}</span>' if readout != "" else ""
        return f'<span style="{_ITEM}">{self._description(state)}{control}{extra}</span>'

    @staticmethod
    def _readout(value, spec: str | None) -> str:
        if value is None:
            return ""
        try:
            return format(value, spec) if spec else str(value)
        except (TypeError, ValueError):
            return str(value)

    @staticmethod
    def _label_at(state: Mapping, index) -> str:
        labels = list(state.get("_options_labels") or [])
        if isinstance(index, int) and 0 <= index < len(labels):
            return str(labels[index])
        return ""

    def _unknown(self, name: str, state: Mapping) -> str:
        value = state.get("value")
        shown = f": {_esc(value)}" if isinstance(value, (str, int, float, bool)) and value != "" else ""
        description = f" {_esc(state.get('description'))}" if state.get("description") else ""
        return f'<span style="{_GREY}">{_esc(name)}{description}{shown}</span>'

    # ------------------------------------------------------------------ boxes
    def _draw_VBox(self, state, depth):
        return "".join(f"<div>{child}</div>" for child in self._children(state, depth))

    def _draw_HBox(self, state, depth):
        inner = "".join(f'<div style="margin-right: 8px">{child}</div>' for child in self._children(state, depth))
        return f'<div style="{_BOX}; flex-wrap: wrap">{inner}</div>'

    _draw_Box = _draw_HBox
    _draw_GridBox = _draw_HBox

    def _titled(self, state, depth, kind: str) -> str:
        titles = state.get("titles") or state.get("_titles") or []
        if isinstance(titles, Mapping):  # ipywidgets 7 kept {"0": "title"}
            titles = [titles.get(str(k), "") for k in range(len(state.get("children") or []))]
        selected = state.get("selected_index")
        parts = []
        for k, child in enumerate(self._children(state, depth)):
            title = titles[k] if k < len(titles) and titles[k] else f"{kind} {k + 1}"
            mark = " (shown)" if selected == k and kind == "tab" else ""
            parts.append(f'<div style="margin: 4px 0"><div style="font-weight: bold; border-bottom: 1px solid #ccc">'
                         f"{_esc(title)}{mark}</div>{child}</div>")  # fmt: skip
        return "".join(parts)

    def _draw_Tab(self, state, depth):
        return self._titled(state, depth, "tab")

    def _draw_Accordion(self, state, depth):
        return self._titled(state, depth, "section")

    def _draw_Stack(self, state, depth):
        children = state.get("children") or []
        index = state.get("selected_index")
        if isinstance(index, int) and 0 <= index < len(children):
            return self.model(children[index], depth + 1)
        return ""

    # ------------------------------------------------------------------ text
    def _draw_Label(self, state, depth):
        return f'<span style="{_ITEM}">{self._description(state)}{_esc(state.get("value"))}</span>'

    def _draw_HTML(self, state, depth):
        return f'<div style="{_ITEM}">{self._description(state)}{state.get("value") or ""}</div>'

    _draw_HTMLMath = _draw_HTML

    # ------------------------------------------------------------------ controls
    def _draw_Checkbox(self, state, depth):
        checked = " checked" if state.get("value") else ""
        mark = f'<input type="checkbox" disabled{checked}>'
        return f'<span style="{_ITEM}">{mark} {_esc(state.get("description"))}</span>'

    def _draw_ToggleButton(self, state, depth):
        return f'<span style="{_ITEM}">{self._button(state.get("description"), bool(state.get("value")))}</span>'

    @staticmethod
    def _button(text, pressed: bool = False) -> str:
        colours = "background-color: #555; color: white; font-weight: bold" if pressed else "background-color: #eee; color: #333"
        return f'<button disabled style="{_BUTTON}; {colours}">{_esc(text)}</button>'

    def _draw_ToggleButtons(self, state, depth):
        labels = list(state.get("_options_labels") or [])
        buttons = "".join(self._button(label, k == state.get("index")) for k, label in enumerate(labels))
        return self._item(state, buttons)

    def _draw_Dropdown(self, state, depth):
        labels = list(state.get("_options_labels") or [])
        options = "".join(f'<option{" selected" if k == state.get("index") else ""}>{_esc(label)}</option>'
                          for k, label in enumerate(labels))  # fmt: skip
        return self._item(state, f"<select disabled>{options}</select>")

    def _draw_Select(self, state, depth):
        return self._draw_Dropdown(state, depth)

    def _draw_RadioButtons(self, state, depth):
        labels = list(state.get("_options_labels") or [])
        radios = "".join(f'<span style="margin-right: 8px"><input type="radio" disabled'
                         f'{" checked" if k == state.get("index") else ""}> {_esc(label)}</span>'
                         for k, label in enumerate(labels))  # fmt: skip
        return self._item(state, radios)

    def _range(self, state, value) -> str:
        attributes = " ".join(f'{key}="{_esc(state[key])}"' for key in ("min", "max", "step")
                              if isinstance(state.get(key), (int, float)))  # fmt: skip
        number = f' value="{_esc(value)}"' if isinstance(value, (int, float)) else ""
        return f'<input type="range" disabled {attributes}{number}>'

    def _draw_IntSlider(self, state, depth):
        value = state.get("value")
        return self._item(state, self._range(state, value), self._readout(value, state.get("readout_format") or "d"))

    def _draw_FloatSlider(self, state, depth):
        value = state.get("value")
        return self._item(state, self._range(state, value), self._readout(value, state.get("readout_format") or ".2f"))

    def _draw_FloatLogSlider(self, state, depth):
        value = state.get("value")
        return self._item(state, self._range({}, None), self._readout(value, state.get("readout_format") or ".3g"))

    def _draw_IntRangeSlider(self, state, depth):
        low, high = (list(state.get("value") or []) + [None, None])[:2]
        spec = state.get("readout_format") or ("d" if "Int" in str(state.get("_model_name")) else ".2f")
        return self._item(state, self._range(state, None), f"{self._readout(low, spec)} – {self._readout(high, spec)}")

    _draw_FloatRangeSlider = _draw_IntRangeSlider

    def _draw_SelectionSlider(self, state, depth):
        return self._item(state, self._range({}, None), self._label_at(state, state.get("index")))

    def _draw_SelectionRangeSlider(self, state, depth):
        low, high = (list(state.get("index") or []) + [None, None])[:2]
        return self._item(state, self._range({}, None), f"{self._label_at(state, low)} – {self._label_at(state, high)}")

    def _text_input(self, state, kind: str = "text"):
        value = state.get("value")
        placeholder = state.get("placeholder")
        hint = f' placeholder="{_esc(placeholder)}"' if placeholder and placeholder != "\u200b" else ""
        shown = "" if value is None else _esc(value)
        return self._item(state, f'<input type="{kind}" disabled value="{shown}"{hint}>')

    def _draw_Text(self, state, depth):
        return self._text_input(state)

    _draw_IntText = _draw_BoundedIntText = _draw_FloatText = _draw_BoundedFloatText = _draw_Combobox = _draw_Text

    def _draw_Password(self, state, depth):
        return self._item(state, '<input type="password" disabled value="">')

    def _draw_Textarea(self, state, depth):
        return self._item(state, f"<textarea disabled>{_esc(state.get('value'))}</textarea>")

    def _draw_Button(self, state, depth):
        return f'<span style="{_ITEM}">{self._button(state.get("description"))}</span>'

    def _draw_IntProgress(self, state, depth):
        value, low, high = state.get("value"), state.get("min") or 0, state.get("max")
        numbers = all(isinstance(v, (int, float)) for v in (value, low, high)) and high > low
        bar = (f'<progress max="{_esc(high - low)}" value="{_esc(value - low)}"></progress>' if numbers
               else "<progress></progress>")  # fmt: skip
        return self._item(state, bar, f"{value}/{high}" if numbers else "")

    _draw_FloatProgress = _draw_IntProgress

    # ------------------------------------------------------------------ output widget
    def _draw_Output(self, state, depth):
        return "".join(self.output(o, depth) for o in state.get("outputs") or [])

    def output(self, output: Mapping, depth: int) -> str:
        """One stored output (nbformat's output dict) as HTML."""
        kind = output.get("output_type")
        if kind == "stream":
            return f'<pre style="{_PRE}">{_esc(_text(output.get("text")))}</pre>'
        if kind == "error":
            trace = _ANSI.sub("", "\n".join(output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"]))
            return f'<pre style="{_PRE}; color: #a00">{_esc(trace)}</pre>'
        data = output.get("data") or {}
        if WIDGET_VIEW_MIMETYPE in data:
            nested = view_model_id(data[WIDGET_VIEW_MIMETYPE])
            if nested in self.models:
                return self.model(nested, depth + 1)
        if "text/html" in data:
            return f"<div>{_text(data['text/html'])}</div>"
        for mime in ("image/png", "image/jpeg"):
            if mime in data:
                return f'<img src="data:{mime};base64,{_esc(_text(data[mime]).strip())}" alt="figure" style="max-width: 100%">'
        if "image/svg+xml" in data:
            return f"<div>{_text(data['image/svg+xml'])}</div>"
        if "text/plain" in data:
            return f'<pre style="{_PRE}">{_esc(_ANSI.sub("", _text(data["text/plain"])))}</pre>'
        return ""


def _text(value) -> str:
    """nbformat keeps multi-line strings as a string or a list of lines."""
    if isinstance(value, (list, tuple)):
        return "".join(str(v) for v in value)
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------------------
# the snapshot output a live panel writes beside itself (`mona_lab.lab.panel_display`)
# ---------------------------------------------------------------------------------------
SNAPSHOT_METADATA_KEY = "mona_lab_panel_snapshot"  # output metadata: {key: model_id of the panel}
SNAPSHOT_SUMMARY = ("Saved state of this panel: a picture for reading the notebook without a kernel "
                    "(run the cell for the live panel)")  # fmt: skip
_DETAILS_OPENING = '<details class="mona-panel-snapshot">'


def snapshot_details(picture: str, summary: str = SNAPSHOT_SUMMARY) -> str:
    """``picture`` (from `render_widget_view`) in a collapsed ``<details>`` under ``summary``,
    so a live notebook does not show the panel twice at a glance."""
    return (f'{_DETAILS_OPENING}<summary style="color: #555; font-size: 12px; cursor: pointer">'
            f"{_esc(summary)}</summary>{picture}</details>")


def open_details(snapshot: str) -> str:
    """A `snapshot_details` output with its ``<details>`` opened (for the exported pages)."""
    return snapshot.replace(_DETAILS_OPENING, _DETAILS_OPENING[:-1] + " open>", 1)


def snapshot_output_model(output: Mapping) -> str | None:
    """The panel's model id when ``output`` is a panel's snapshot output, else None."""
    metadata = output.get("metadata") or {}
    found = metadata.get(SNAPSHOT_METADATA_KEY) if isinstance(metadata, Mapping) else None
    return str(found) if found else None
