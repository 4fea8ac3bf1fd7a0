"""mona_lab: semi-supervised contrastive medical image segmentation under long-tailed
class distributions (MONA, ARCO, ACTION, ACTION++), for teaching and analysis.

Data flows one way: data -> augment -> models -> losses (samplers, schedules) ->
methods -> training (engine) -> metrics -> lab (the notebooks' tools) / notebooks.
The README's "Layout" names each package; docs/equations.md maps every equation of the
papers to the function that implements it.
"""
from mona_lab.runtime import is_fast_mode, seed_everything, select_device


__version__ = "0.1.0"

__all__ = ["__version__", "is_fast_mode", "seed_everything", "select_device"]
