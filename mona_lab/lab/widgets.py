"""ipywidgets panels for the notebooks.

Every panel's work is done by a plain function (``*_callback`` or a named helper) that the
tests call directly; the widget only wires sliders and buttons to it. Panels are shown by
`mona_lab.lab.panel_display.show_panel` and write into their ``Output`` widgets through
`mona_lab.lab.panel_display.capture_into`, so a saved notebook keeps a readable picture of
each panel's last state.
"""
from __future__ import annotations

from mona_lab.data.phantom import PhantomConfig
from mona_lab.data.stats import ClassStats, compute_class_stats


def phantom_stats_at_exponent(zipf_exponent: float, num_patients: int = 6, image_size: int = 64, seed: int = 0) -> ClassStats:
    """Class statistics of a freshly generated phantom whose foreground areas follow
    ``area_k ~ rank_k^-s`` with ``s = zipf_exponent`` (the slider of notebook 01)."""
    from mona_lab.data import make_phantom

    config = PhantomConfig(num_patients=num_patients, image_size=image_size, zipf_exponent=float(zipf_exponent), seed=seed)
    volumes = make_phantom(config)
    from mona_lab.data.phantom import PHANTOM_CLASS_NAMES

    return compute_class_stats(volumes, PHANTOM_CLASS_NAMES, dataset=f"phantom s={zipf_exponent:g}")


def zipf_explorer(num_patients: int = 6, image_size: int = 64):
    """A slider over the phantom's Zipf exponent that redraws its class frequencies and
    rank plot and prints the fitted exponent (MONA's tailness, notebook 01)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from mona_lab.lab.panel_display import capture_into, show_panel
    from mona_lab.lab.viz import plot_class_fractions, plot_rank_frequency

    slider = widgets.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.25, description="Zipf s", continuous_update=False)
    output = widgets.Output()

    shown = []  # the PanelDisplay, once the panel is shown

    def redraw(change=None) -> None:
        stats = phantom_stats_at_exponent(slider.value, num_patients, image_size)
        with capture_into(output):
            fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
            plot_class_fractions(stats, axes[0])
            plot_rank_frequency([stats], axes[1])
            fig.tight_layout()
            plt.show()
            print(f"generator exponent {slider.value:.2f} -> fitted exponent {stats.zipf_exponent:.2f}")
        for display in shown:
            display.refresh()

    slider.observe(redraw, names="value")
    redraw()
    panel = widgets.VBox([slider, output])
    shown.append(show_panel(panel))
    return panel


# --------------------------------------------------------------------------------------
# notebooks 02-04: MONA's principles, one short run per click
# --------------------------------------------------------------------------------------
def available_datasets(image_size: int = 64, fast: bool | None = None) -> dict:
    """Loaders for the data sets a panel can train on: the phantom always, ACDC when
    `mona_lab.data.resolve_acdc_root` finds it (``MONA_LAB_ACDC``). Each value is a
    function that loads the data set at ``image_size`` (called only when chosen)."""
    from mona_lab.data import load_dataset, resolve_acdc_root
    from mona_lab.errors import MonaLabError

    loaders = {"phantom": lambda: load_dataset("phantom", image_size=image_size, fast=fast)}
    try:
        root = resolve_acdc_root(None)
    except MonaLabError:
        root = None
    if root is not None:
        loaders["acdc"] = lambda: load_dataset("acdc", root=root, image_size=image_size)
    return loaders


class AblationPanel:
    """Check boxes for MONA's three principles, a slider for labelled patients, a sampler
    choice (ns / sg / sag); the stored study's answer for the ticked setting at once, and a
    button that trains a fresh run (with its expected time and a progress bar) and appends
    a row to a results table and a per-class Dice bar chart (notebooks 00, 02-04).

    The work is done by plain methods the tests call (`stored`, `estimate`, `run`); the
    widgets only read their values into them. Answers come from the stored study
    (`mona_lab.lab.stored_ablation.StoredAblation` over ``notebooks/results/ablation_grid.json``:
    mean +- spread over its seeds); fresh runs use `mona_lab.lab.ablation.run_ablation_row`
    with ``budget`` (default: `mona_lab.lab.ablation.notebook_budget()`, which follows the
    lab size, `mona_lab.lab_size`).

    Args:
        data: the `SegmentationData` to train on (also kept under ``loaders[data.name]``).
        budget: an `AblationBudget`.
        loaders: other data sets the panel may switch to, ``{name: () -> SegmentationData}``
            (e.g. `available_datasets()`); loaded on first use and cached.
        seed: run seed (also picks the labelled patients).
        device: where runs train (``"auto"``: a GPU when there is one).
        study: the stored study, a `StoredAblation`, a grid dict, or ``"default"`` (read
            `mona_lab.lab.ablation.load_grid()`; none when the file is missing). ``None``: no
            stored answers.
    """

    def __init__(self, data, budget=None, *, loaders: dict | None = None, seed: int = 0, device: str = "auto",
                 study="default") -> None:  # fmt: skip
        from mona_lab.lab.ablation import notebook_budget
        from mona_lab.lab.stored_ablation import StoredAblation

        self.budget = budget or notebook_budget()
        self.seed = int(seed)
        self.device = device
        self.loaders = dict(loaders or {})
        self._loaded = {data.name: data}
        self.loaders.setdefault(data.name, lambda: data)
        self.data = data
        self.rows: list[dict] = []
        self._widgets = None
        self._output = None
        self._display = None  # the shown panel's snapshot output (`show`)
        if isinstance(study, str) and study == "default":
            from mona_lab.errors import MonaLabError
            from mona_lab.lab.ablation import load_grid

            try:
                study = load_grid()
            except MonaLabError:
                study = None
        self.study = StoredAblation(study) if isinstance(study, dict) else study

    # ------------------------------------------------------------------ callbacks
    def use_dataset(self, name: str):
        """Switch the data set runs train on (loads it on first use)."""
        if name not in self.loaders:
            raise ValueError(f"unknown data set {name!r}; this panel offers {sorted(self.loaders)}")
        if name not in self._loaded:
            self._loaded[name] = self.loaders[name]()
        self.data = self._loaded[name]
        return self.data

    def stored(self, tailness: bool = True, consistency: bool = True, diversity: bool = True, labeled: int = 2,
               sampler: str = "ns", method: str = "mona") -> str:  # fmt: skip
        """The stored study's answer for this setting, at once: what it holds, then mean +-
        spread over its seeds (or why it has no answer)."""
        if self.study is None:
            return "no stored study (notebooks/results/ablation_grid.json); train a fresh run instead"
        if self.data.name not in self.study.datasets():
            return (f"{self.study.coverage()}\nthe stored study has no run on {self.data.name}; "
                    "train a fresh run instead")  # fmt: skip
        text = self.study.answer_text(tailness, consistency, diversity, labeled=labeled, sampler=sampler,
                                      method=method, dataset=self.data.name)  # fmt: skip
        return f"{self.study.coverage()}\n{text}"

    def iterations(self, method: str = "mona") -> int:
        """Iterations of one fresh run at this panel's budget (GLCon + fine-tuning)."""
        return self.budget.pretrain_iterations + self.budget.iterations

    def estimate(self, tailness: bool = True, consistency: bool = True, diversity: bool = True,
                 method: str = "mona") -> tuple[float | None, str]:  # fmt: skip
        """Expected seconds of a fresh run and where the figure comes from
        (`mona_lab.lab.run_progress.estimate_seconds`: this panel's earlier runs of the
        same method on the same data, else the stored study's runs)."""
        from mona_lab.lab.run_progress import estimate_seconds

        earlier = [r for r in self.rows if r["method"] == method and r["dataset"] == self.data.name]
        stored = None
        if self.study is not None:
            found = self.study.answer(tailness, consistency, diversity, method=method)
            stored = found.seconds_per_iteration if found is not None else None
        return estimate_seconds(self.iterations(method), earlier, stored)

    def run(self, tailness: bool = True, consistency: bool = True, diversity: bool = True, labeled: int = 2,
            sampler: str = "ns", *, iterations: int | None = None, method: str = "mona", progress=None) -> dict:
        """Train one fresh run with these settings, append its row to ``rows`` and return it
        (see `mona_lab.lab.ablation.run_ablation_row` for the row's keys). ``progress``, when
        given, is called with the iterations logged so far while the run trains
        (`mona_lab.lab.run_progress.LogProgress`)."""
        import contextlib
        import tempfile
        from pathlib import Path

        from mona_lab.lab.ablation import run_ablation_row
        from mona_lab.lab.run_progress import LogProgress

        out = Path(tempfile.mkdtemp(prefix="mona_lab_panel_")) / "run"
        watch = LogProgress(out / "log.csv", progress) if progress is not None else contextlib.nullcontext()
        with watch:
            row = run_ablation_row(
                tailness, consistency, diversity, labeled, sampler,
                data=self.data, iterations=iterations, seed=self.seed, budget=self.budget, method=method,
                device=self.device, out=out,
            )  # fmt: skip
        row["label"] = f"#{len(self.rows) + 1} {row['name']}" + (f" ({sampler})" if method == "mona" and sampler != "ns" else "")
        self.rows.append(row)
        return row

    def head_and_tail(self) -> tuple[list[str], list[str]]:
        """Head and tail foreground classes of the current data set (`mona_lab.lab.ablation.head_and_tail`)."""
        import torch

        from mona_lab.lab.ablation import head_and_tail

        counts = torch.bincount(self.data.train_labels.flatten(), minlength=self.data.num_classes).double()
        return head_and_tail(self.data.class_names, (counts / counts.sum()).numpy())

    def table(self) -> str:
        """The results so far as a fixed-width text table (one line per run)."""
        if not self.rows:
            return "no fresh runs yet: tick the principles and press 'Train a fresh run'"
        head, tail = self.head_and_tail()
        lines = [f"{'#':>2} {'run':<36}{'data':>8}{'lab.':>5}{'samp.':>6}{'its':>6}"
                 f"{'Dice':>7}{'head':>7}{'tail':>7}{'ASD':>7}{'time':>8}"]
        for i, row in enumerate(self.rows, 1):
            names = list(row["dice"])
            h = [row["dice"][c] for c in head if c in names]
            t = [row["dice"][c] for c in tail if c in names]
            hd = f"{sum(h) / len(h):.3f}" if h else "-"
            td = f"{sum(t) / len(t):.3f}" if t else "-"
            lines.append(
                f"{i:>2} {row['name']:<36}{row['dataset']:>8}{row['labeled']:>5}{row['sampler']:>6}"
                f"{row['pretrain_iterations'] + row['iterations']:>6}{row['mean_dice']:>7.3f}{hd:>7}{td:>7}"
                f"{row['mean_asd']:>7.1f}{row['seconds']:>7.1f}s"
            )
        return "\n".join(lines)

    def plot(self, ax=None):
        """Per-class Dice of the runs on the current data set (tail classes starred)."""
        from mona_lab.lab.viz import plot_per_class_dice

        rows = [r for r in self.rows if r["dataset"] == self.data.name]
        return plot_per_class_dice(rows, ax, tail=self.head_and_tail()[1], title=f"per-class Dice on {self.data.name}")

    # ------------------------------------------------------------------ widgets
    def widget(self):
        """The ipywidgets panel (built once): controls, the stored answer, the fresh-run
        button with its estimate and progress bar, and the fresh runs' table and chart."""
        if self._widgets is not None:
            return self._widgets
        import ipywidgets as widgets

        max_labeled = max(1, min(8, len(self.data.patients) - 1))
        self.checks = {
            name: widgets.Checkbox(value=True, description=name, indent=False, layout=widgets.Layout(width="120px"))
            for name in ("tailness", "consistency", "diversity")
        }
        self.labeled_slider = widgets.IntSlider(value=min(2, max_labeled), min=1, max=max_labeled, description="labelled",
                                                continuous_update=False)  # fmt: skip
        self.sampler_choice = widgets.ToggleButtons(options=["ns", "sg", "sag"], value="ns", description="sampler",
                                                    style={"button_width": "50px"})  # fmt: skip
        self.dataset_choice = widgets.Dropdown(options=list(self.loaders), value=self.data.name, description="data")
        self.button = widgets.Button(description="Train a fresh run", button_style="primary", icon="play",
                                     layout=widgets.Layout(width="170px"))  # fmt: skip
        self.progress = widgets.IntProgress(value=0, min=0, max=self.iterations(), description="iterations")
        self.status = widgets.Label(value=self._budget_text())
        self._stored_output = widgets.Output()
        self._output = widgets.Output()
        self.button.on_click(self._on_click)
        for control in (*self.checks.values(), self.labeled_slider, self.sampler_choice, self.dataset_choice):
            control.observe(self._on_change, names="value")
        controls = widgets.VBox([
            widgets.HBox(list(self.checks.values())),
            widgets.HBox([self.labeled_slider, self.sampler_choice, self.dataset_choice]),
        ])  # fmt: skip
        fresh = widgets.VBox([widgets.HBox([self.button, self.progress]), self.status])
        self._widgets = widgets.VBox([controls, self._stored_output, fresh, self._output])
        self._on_change()
        self.redraw()
        return self._widgets

    def _settings(self) -> dict:
        return dict(tailness=self.checks["tailness"].value, consistency=self.checks["consistency"].value,
                    diversity=self.checks["diversity"].value, labeled=int(self.labeled_slider.value),
                    sampler=self.sampler_choice.value)  # fmt: skip

    def _budget_text(self) -> str:
        b = self.budget
        seconds, source = self.estimate(*(self._settings()[k] for k in ("tailness", "consistency", "diversity"))) \
            if self._widgets is not None else self.estimate()  # fmt: skip
        expected = f"about {seconds:.0f} s ({source})" if seconds is not None else source
        return (f"a fresh run: {b.pretrain_iterations} GLCon + {b.iterations} fine-tuning iterations, "
                f"{self.data.image_size}px, width {b.width}; {expected}")  # fmt: skip

    def _on_change(self, _change=None) -> str:
        """A control moved: show the stored answer for the new setting at once. Returns it."""
        from mona_lab.lab.panel_display import capture_into

        self.use_dataset(self.dataset_choice.value)
        text = self.stored(**self._settings())
        with capture_into(self._stored_output):
            print(text)
        self.status.value = self._budget_text()
        self._refresh_snapshot()
        return text

    def _on_click(self, _button=None) -> dict:
        """Train button: read the controls, train with a progress bar, redraw. Returns the new row."""
        self.button.disabled = True
        try:
            self.use_dataset(self.dataset_choice.value)
            self.progress.max, self.progress.value = self.iterations(), 0
            self.status.value = "training... " + self._budget_text()

            def advance(count: int) -> None:
                self.progress.value = min(count, self.progress.max)

            row = self.run(**self._settings(), progress=advance)
        finally:
            self.button.disabled = False
        self.status.value = f"trained in {row['seconds']:.0f} s. Next: " + self._budget_text()
        self.redraw()
        return row

    def redraw(self) -> None:
        """Refresh the table and the bar chart in the panel's output area."""
        if self._output is None:
            return
        import matplotlib.pyplot as plt

        from mona_lab.lab.panel_display import capture_into

        with capture_into(self._output):
            print(self.table())
            if self.rows:
                fig, ax = plt.subplots(figsize=(7.5, 3))
                self.plot(ax)
                fig.tight_layout()
                plt.show()
        self._refresh_snapshot()

    def _refresh_snapshot(self) -> None:
        if self._display is not None:
            self._display.refresh()

    def show(self):
        """Display the panel (in a notebook) with its snapshot output
        (`mona_lab.lab.panel_display.show_panel`) and return it."""
        from mona_lab.lab.panel_display import show_panel

        panel = self.widget()
        self._display = show_panel(panel)
        return panel
