"""The set-up files agree with each other: what CI runs is what the README tells a newcomer,
and conda users get the same packages as pip users."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _env_pip_entries() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    entries = []
    for line in lines[start + 1 :]:
        match = re.match(r"^\s+- (.+)$", line)
        if not match:
            break
        entries.append(match.group(1).strip())
    return entries


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_installs_exactly_the_pyproject_packages():
    project = _pyproject()["project"]
    wanted = {_name(r): r for r in project["dependencies"] + project["optional-dependencies"]["all"]}
    entries = _env_pip_entries()
    assert "-e .[all]" in entries, "environment.yml must install the project itself with -e .[all]"
    listed = {_name(r): r for r in entries if not r.startswith("-e")}
    assert listed.keys() == wanted.keys(), f"differs: {sorted(listed.keys() ^ wanted.keys())}"
    for name, requirement in wanted.items():
        assert listed[name].replace(" ", "") == requirement.replace(" ", ""), name


def test_environment_yml_takes_python_and_pip_from_conda():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s+- python>=3\.10$", text, re.M)
    assert re.search(r"^\s+- pip$", text, re.M)


def test_all_extra_contains_test_extra():
    extras = _pyproject()["project"]["optional-dependencies"]
    assert {_name(r) for r in extras["test"]} <= {_name(r) for r in extras["all"]}


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    command = ci_lines[-1].strip()
    readme = (ROOT / "README.md").read_text()
    code_lines = [line.strip() for line in readme.splitlines()]
    assert command in code_lines, "the last line of .ci/run must appear verbatim in README.md"
    assert "pytest" in command and "MONA_LAB_FAST=1" in command and "--nbval-lax" in command


def test_console_script_and_python_floor():
    project = _pyproject()["project"]
    assert project["scripts"]["mona-lab"] == "mona_lab.cli:main"
    assert project["requires-python"] == ">=3.10"
