"""Old import paths of modules that moved, kept working.

mona_lab's top level once held every module side by side. The training loop's parts now
live in `mona_lab.training` and the notebooks' helpers in `mona_lab.lab`, so the library's
layers and the lecture's tools are told apart at a glance. Code written against the old
paths (``import mona_lab.variance``, ``from mona_lab.checkpoint import ...``) keeps
working: importing an old path returns the very module object at its new home (so a
monkeypatch on either name affects both) and warns once with a `DeprecationWarning`
that names the new path.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings

# old dotted path -> new dotted path
MOVED_MODULES: dict[str, str] = {
    "mona_lab.checkpoint": "mona_lab.training.checkpoint",
    "mona_lab.distributed": "mona_lab.training.distributed",
    "mona_lab.dynamics": "mona_lab.training.dynamics",
    "mona_lab.ablation": "mona_lab.lab.ablation",
    "mona_lab.allocation_trace": "mona_lab.lab.allocation_trace",
    "mona_lab.landscape_studies": "mona_lab.lab.landscape_studies",
    "mona_lab.lecture": "mona_lab.lab.lecture",
    "mona_lab.principles": "mona_lab.lab.principles",
    "mona_lab.results": "mona_lab.lab.results",
    "mona_lab.run_records": "mona_lab.lab.run_records",
    "mona_lab.temperature_study": "mona_lab.lab.temperature_study",
    "mona_lab.variance": "mona_lab.lab.variance",
    "mona_lab.viz": "mona_lab.lab.viz",
    "mona_lab.widgets": "mona_lab.lab.widgets",
}


class _MovedModuleLoader(importlib.abc.Loader):
    """Loads an old path by importing the new one and returning that module object."""

    def __init__(self, new_name: str) -> None:
        self.new_name = new_name

    def create_module(self, spec):
        warnings.warn(
            f"{spec.name} moved to {self.new_name}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(self.new_name)
        self.new_spec = module.__spec__
        return module

    def exec_module(self, module) -> None:
        # the new module is already executed; the import system has just set its
        # ``__spec__`` to the old path's spec: give it back its own
        module.__spec__ = self.new_spec


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Answers only for the old paths in `MOVED_MODULES`."""

    def find_spec(self, fullname, path=None, target=None):
        new_name = MOVED_MODULES.get(fullname)
        if new_name is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedModuleLoader(new_name))


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once; called by ``import mona_lab``)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
