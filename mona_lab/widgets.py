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

    from mona_lab.viz import plot_class_fractions, plot_rank_frequency

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
