"""ipywidgets panels for the notebooks.

Every panel's work is done by a plain function (``*_callback`` or a named helper) that the
tests call directly; the widget only wires sliders and buttons to it.
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
    from IPython.display import display

    from mona_lab.lab.viz import plot_class_fractions, plot_rank_frequency

    slider = widgets.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.25, description="Zipf s", continuous_update=False)
    output = widgets.Output()

    def redraw(change=None) -> None:
        stats = phantom_stats_at_exponent(slider.value, num_patients, image_size)
        with output:
            output.clear_output(wait=True)
            fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
            plot_class_fractions(stats, axes[0])
            plot_rank_frequency([stats], axes[1])
            fig.tight_layout()
            plt.show()
            print(f"generator exponent {slider.value:.2f} -> fitted exponent {stats.zipf_exponent:.2f}")

    slider.observe(redraw, names="value")
    redraw()
    panel = widgets.VBox([slider, output])
    display(panel)
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
    choice (ns / sg / sag) and a Run button that trains one short run and appends a row to
    a results table and a per-class Dice bar chart (notebooks 02-04).

    The work is done by `run` (a plain method the tests call); the widgets only read their
    values into it. Runs use `mona_lab.lab.ablation.run_ablation_row` with ``budget`` (default:
    `mona_lab.lab.ablation.notebook_budget()`, tiny in fast mode).

    Args:
        data: the `SegmentationData` to train on (also kept under ``loaders[data.name]``).
        budget: an `AblationBudget`.
        loaders: other data sets the panel may switch to, ``{name: () -> SegmentationData}``
            (e.g. `available_datasets()`); loaded on first use and cached.
        seed: run seed (also picks the labelled patients).
        device: where runs train (``"auto"``: a GPU when there is one).
    """

    def __init__(self, data, budget=None, *, loaders: dict | None = None, seed: int = 0, device: str = "auto") -> None:
        from mona_lab.lab.ablation import notebook_budget

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

    # ------------------------------------------------------------------ callbacks
    def use_dataset(self, name: str):
        """Switch the data set runs train on (loads it on first use)."""
        if name not in self.loaders:
            raise ValueError(f"unknown data set {name!r}; this panel offers {sorted(self.loaders)}")
        if name not in self._loaded:
            self._loaded[name] = self.loaders[name]()
        self.data = self._loaded[name]
        return self.data

    def run(self, tailness: bool = True, consistency: bool = True, diversity: bool = True, labeled: int = 2,
            sampler: str = "ns", *, iterations: int | None = None, method: str = "mona") -> dict:
        """Train one short run with these settings, append its row to ``rows`` and return it
        (see `mona_lab.lab.ablation.run_ablation_row` for the row's keys)."""
        from mona_lab.lab.ablation import run_ablation_row

        row = run_ablation_row(
            tailness, consistency, diversity, labeled, sampler,
            data=self.data, iterations=iterations, seed=self.seed, budget=self.budget, method=method, device=self.device,
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
            return "no runs yet: tick the principles and press Run"
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
        """The ipywidgets panel (built once): controls, Run button, and an output area."""
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
        self.button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.status = widgets.Label(value=self._budget_text())
        self._output = widgets.Output()
        self.button.on_click(self._on_click)
        controls = widgets.VBox([
            widgets.HBox(list(self.checks.values())),
            widgets.HBox([self.labeled_slider, self.sampler_choice]),
            widgets.HBox([self.dataset_choice, self.button, self.status]),
        ])  # fmt: skip
        self._widgets = widgets.VBox([controls, self._output])
        self.redraw()
        return self._widgets

    def _budget_text(self) -> str:
        b = self.budget
        return f"{b.pretrain_iterations} GLCon + {b.iterations} fine-tuning iterations, {self.data.image_size}px, width {b.width}"

    def _on_click(self, _button=None) -> dict:
        """Run button: read the controls, train, redraw. Returns the new row."""
        self.button.disabled = True
        self.status.value = "training..."
        try:
            self.use_dataset(self.dataset_choice.value)
            row = self.run(
                self.checks["tailness"].value, self.checks["consistency"].value, self.checks["diversity"].value,
                int(self.labeled_slider.value), self.sampler_choice.value,
            )  # fmt: skip
        finally:
            self.button.disabled = False
            self.status.value = self._budget_text()
        self.redraw()
        return row

    def redraw(self) -> None:
        """Refresh the table and the bar chart in the panel's output area."""
        if self._output is None:
            return
        import matplotlib.pyplot as plt

        with self._output:
            self._output.clear_output(wait=True)
            print(self.table())
            if self.rows:
                fig, ax = plt.subplots(figsize=(7.5, 3))
                self.plot(ax)
                fig.tight_layout()
                plt.show()

    def show(self):
        """Display the panel (in a notebook) and return it."""
        from IPython.display import display

        panel = self.widget()
        display(panel)
        return panel
