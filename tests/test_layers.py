"""The library's layers: the library never imports the lecture's tools in `mona_lab.lab`."""
from __future__ import annotations

import ast
from pathlib import Path

import mona_lab

PACKAGE = Path(mona_lab.__file__).resolve().parent
# the layers that sit on top of everything and may use the lecture's tools
TOP_LAYERS = {PACKAGE / "lab", PACKAGE / "cli.py"}


def _imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Dotted names the source of ``module`` imports (relative imports resolved)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            imported = ".".join(base + ([node.module] if node.module else []))
            names.add(imported)
            names.update(f"{imported}.{alias.name}" for alias in node.names)
    return names


def _library_modules() -> dict[str, tuple[Path, bool]]:
    """Every module of mona_lab below the top layers: dotted name -> (file, is a package)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(path == top or top in path.parents for top in TOP_LAYERS):
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _is_lab(name: str) -> bool:
    return name == "mona_lab.lab" or name.startswith("mona_lab.lab.")


def test_the_library_never_imports_the_lab_package() -> None:
    modules = _library_modules()
    assert {"mona_lab.engine", "mona_lab.losses", "mona_lab.data", "mona_lab.metrics"} <= set(modules)
    offenders = {}
    for name, (path, is_package) in modules.items():
        lab_imports = sorted(n for n in _imported_modules(path.read_text(), name, is_package) if _is_lab(n))
        if lab_imports:
            offenders[name] = lab_imports
    assert offenders == {}


def test_the_import_scan_sees_relative_and_absolute_lab_imports() -> None:
    source = "from ..lab import viz\nimport mona_lab.lab.variance\nfrom mona_lab.lab.ablation import runs\nfrom . import x\n"
    found = _imported_modules(source, "mona_lab.losses", is_package=True)
    assert {"mona_lab.lab.viz", "mona_lab.lab.variance", "mona_lab.lab.ablation.runs", "mona_lab.losses.x"} <= found
    found = _imported_modules("from .lab import viz\n", "mona_lab.engine", is_package=False)
    assert "mona_lab.lab.viz" in found
