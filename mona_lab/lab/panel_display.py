"""Show a notebook panel so that the saved notebook still reads without a kernel.

How JupyterLab (4.x, with ``jupyterlab_widgets`` 3) draws a saved widget output
(``application/vnd.jupyter.widget-view+json`` beside ``text/plain``): in a notebook opened
from the repository (untrusted) it picks the first *safe* item, and the widget renderer is
not safe, so the reader sees the ``text/plain`` (ipywidgets writes the panel's ``repr``,
``VBox(children=(VBox(children=(HBox(...``); in a trusted notebook the widget renderer
outranks every other item and, while the panel's model is missing, shows that text or
"Error displaying widget: model not found" (a ``text/html`` in the same output is then never
drawn). So `show_panel`

1. displays the panel with a short ``text/plain``, ``PANEL_TEXT`` (what a reader sees in
   the widget's place when the panel cannot be drawn), and
2. displays below it a second output: a picture of the panel's current state
   (`mona_lab.lab.lecture.widget_snapshot.render_widget_view` over `live_widget_models`)
   in a collapsed ``<details>`` (``SNAPSHOT_SUMMARY``), tagged with the panel's model id in
   its metadata (``SNAPSHOT_METADATA_KEY``) and updated in place (a display id) by
   `PanelDisplay.refresh` after every action of the panel, so the saved notebook carries
   the last state. `mona-lab lecture` draws the panel from the notebook's stored state and
   drops this output (`mona_lab.lab.lecture.notebooks.replace_widget_views`).

Why a second output and not a ``text/html`` item in the panel's own output: that item would
show only in an untrusted notebook, and updating it after an action would redraw the live
panel; a second output shows in both cases and collapsed it does not repeat the live panel.

The picture needs the panel's ``Output`` widgets' contents in the kernel: ``with output:``
lets the front end capture what is printed (the kernel learns it later, or never), so the
panels write through `capture_into`, which captures prints and figures in the kernel and
sets ``output.outputs`` (the route of ``Output.append_stdout``). Outside IPython nothing is
displayed and `show_panel` returns a `PanelDisplay` whose `refresh` does nothing.
"""
from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator

from mona_lab.lab.lecture.widget_snapshot import (
    SNAPSHOT_METADATA_KEY,
    SNAPSHOT_SUMMARY,
    WIDGET_VIEW_MIMETYPE,
    render_widget_view,
    snapshot_details,
)

PANEL_TEXT = "(interactive panel: run the cell to use it; a picture of its saved state is below)"
SNAPSHOT_TEXT = "(a picture of the panel's saved state, shown as HTML)"


def live_widget_models(widget) -> dict[str, dict]:
    """The state of ``widget`` and every widget it references (children, layouts, styles),
    in the format notebooks store (``{model_id: {"model_name", "model_module",
    "model_module_version", "state"}}``), read from the kernel's widgets."""
    from ipywidgets import Widget

    models: dict[str, dict] = {}
    pending = [widget]
    while pending:
        current = pending.pop()
        if not isinstance(current, Widget) or current.model_id in models:
            continue
        state = current.get_state()
        models[current.model_id] = {
            "model_name": state.get("_model_name"),
            "model_module": state.get("_model_module"),
            "model_module_version": state.get("_model_module_version"),
            "state": state,
        }
        for key in current.keys:
            value = getattr(current, key, None)
            if isinstance(value, Widget):
                pending.append(value)
            elif isinstance(value, (list, tuple)):
                pending.extend(v for v in value if isinstance(v, Widget))
            elif isinstance(value, dict):
                pending.extend(v for v in value.values() if isinstance(v, Widget))
    return models


def panel_bundle(widget) -> dict:
    """The panel's display bundle: the widget view and ``PANEL_TEXT`` as its text."""
    return {"text/plain": PANEL_TEXT,
            WIDGET_VIEW_MIMETYPE: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}}  # fmt: skip


def snapshot_html(widget, summary: str = SNAPSHOT_SUMMARY) -> str:
    """The panel's current state as a collapsed ``<details>`` picture."""
    return snapshot_details(render_widget_view(live_widget_models(widget), widget.model_id) or "", summary)


class PanelDisplay:
    """A shown panel and the snapshot output below it; `refresh` redraws the snapshot."""

    def __init__(self, widget, handle=None) -> None:
        self.widget = widget
        self.handle = handle

    def _snapshot(self) -> tuple[dict, dict]:
        data = {"text/html": snapshot_html(self.widget), "text/plain": SNAPSHOT_TEXT}
        return data, {SNAPSHOT_METADATA_KEY: self.widget.model_id}

    def refresh(self) -> None:
        """Redraw the snapshot output from the panel's state now (no-op when not shown)."""
        if self.handle is not None:
            data, metadata = self._snapshot()
            self.handle.update(data, metadata=metadata, raw=True)


def show_panel(widget) -> PanelDisplay:
    """Display ``widget`` (short ``text/plain``) and its snapshot output; see the module."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display

    shown = PanelDisplay(widget)
    if not InteractiveShell.initialized():
        return shown
    display(panel_bundle(widget), raw=True)
    data, metadata = shown._snapshot()
    shown.handle = display(data, metadata=metadata, raw=True, display_id=True)
    return shown


class _Recorder:
    """stdout/stderr and rich displays in the order they came, as nbformat outputs."""

    def __init__(self) -> None:
        self.outputs: list[dict] = []

    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        last = self.outputs[-1] if self.outputs else None
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})

    def display(self, data: dict, metadata: dict | None) -> None:
        self.outputs.append({"output_type": "display_data", "data": dict(data), "metadata": dict(metadata or {})})


class _Stream:
    def __init__(self, recorder: _Recorder, name: str) -> None:
        self.recorder, self.name = recorder, name

    def write(self, text: str) -> int:
        self.recorder.stream(self.name, str(text))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def capture_into(output) -> Iterator[None]:
    """Run the block with its prints and displays (figures from ``plt.show()``) captured in
    the kernel, then make them the whole content of the ``Output`` widget ``output``
    (replacing what it showed). An exception is written into ``output`` as its traceback
    and raised again."""
    recorder = _Recorder()
    shell = _shell()
    old_pub = getattr(shell, "display_pub", None)
    if shell is not None:
        shell.display_pub = _publisher(shell, recorder)
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Stream(recorder, "stdout"), _Stream(recorder, "stderr")
    try:
        yield
    except BaseException as err:
        recorder.outputs.append({"output_type": "error", "ename": type(err).__name__, "evalue": str(err),
                                 "traceback": traceback.format_exc().splitlines()})  # fmt: skip
        raise
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        if shell is not None:
            shell.display_pub = old_pub
        output.outputs = tuple(recorder.outputs)


def _shell():
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance() if InteractiveShell.initialized() else None


def _publisher(shell, recorder: _Recorder):
    from IPython.core.displaypub import DisplayPublisher

    class _Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs) -> None:
            recorder.display(data, metadata)

        def clear_output(self, wait=False) -> None:
            recorder.outputs.clear()

    return _Publisher(shell=shell)
