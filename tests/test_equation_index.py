"""The equation index (docs/equations.md) names code that exists and cites its equation.

Every table row of the index maps one paper equation ("MONA Eq. 3", "ARCO Theorem 3.2",
"ACTION++ Eq. 6", "MONA Sec. III-B", ...) to one or more fully dotted symbols. For each
(equation, symbol) entry this test imports the symbol (the longest importable prefix is the
module, the rest an attribute chain) and checks that:

- the path names the module that defines the symbol (not a package that re-exports it),
  so the index is one hop from the code;
- the symbol has a docstring of its own (an inherited one does not count: a subclass or an
  override that says nothing about its equation is not one hop from the paper);
- that docstring cites the equation's number, in any of the usual spellings ("Eq. 3",
  "Eq. (3)", "Eqs. 3-5", "Equation 3", "Thm 3.2", "Section III-B", ...);
- the paper's name (MONA, ARCO, ACTION, ACTION++) appears in that docstring or in the
  docstring of the symbol's module (many modules name their paper once, at the top).
  ``ACTION`` inside ``ACTION++`` does not count as ACTION, and ACTION++ entries need
  ``ACTION++``.

It also checks that every equation issue 11 lists has at least one entry, and that the
index uses current import paths (no path that `mona_lab.moved` only redirects).
Nothing here trains or runs a model: importing and reading docstrings takes well under a
second after the imports.
"""
from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

INDEX = Path(__file__).resolve().parent.parent / "docs" / "equations.md"

PAPERS = ("ACTION++", "ACTION", "MONA", "ARCO")  # longest first: ACTION++ before ACTION
KINDS = {
    "eq": "Eq.", "eqs": "Eq.", "eqn": "Eq.", "eqns": "Eq.", "equation": "Eq.", "equations": "Eq.",
    "sec": "Sec.", "secs": "Sec.", "section": "Sec.", "sections": "Sec.", "§": "Sec.",
    "lemma": "Lemma", "theorem": "Theorem", "thm": "Theorem", "appendix": "Appendix",
}

# An equation/section id: "3", "3.1", "III", "III-B", "A".
_ID = r"(?:\d+(?:\.\d+)?|[IVX]+-[A-Z](?![\w-])|[IVX]+(?![\w-])|[A-Z](?![\w.-]))"
_ID_PAREN = rf"\(?\s*{_ID}\s*\)?"
_KIND = r"(?i:Eqns?\.?|Eqs?\.|Equations?|Sec(?:tion)?s?\.?|§|Lemma|Theorem|Thm\.?|Appendix)"
CITATION = re.compile(
    rf"(?<![\w])(?P<kind>{_KIND})\s*(?P<first>{_ID_PAREN})"
    rf"(?P<rest>(?:\s*(?:-|–|—|,|and|to)\s*{_ID_PAREN})*)",
)
_ID_TOKEN = re.compile(_ID)
_STEP = re.compile(rf"\s*(?P<separator>-|–|—|,|and|to)\s*\(?\s*(?P<id>{_ID})\s*\)?")
KEY = re.compile(
    rf"^(?P<paper>ACTION\+\+|ACTION|MONA|ARCO)\s+(?P<kind>Eq\.|Sec\.|Lemma|Theorem|Appendix)\s+(?P<id>{_ID})"
)

# What issue 11 asks the index to cover.
REQUIRED = (
    [("MONA", "Eq.", str(i)) for i in range(1, 7)]
    + [("ARCO", "Sec.", "3.3"), ("ARCO", "Lemma", "3.1"), ("ARCO", "Theorem", "3.2")]
    + [("ACTION", "Eq.", str(i)) for i in range(1, 8)]
    + [("ACTION++", "Eq.", str(i)) for i in range(3, 7)]
)


def _kind(raw: str) -> str:
    return KINDS[raw.lower().rstrip(".")]


def _expand(first: str, last: str) -> list[str]:
    """The ids of a range "first-last": 3-5 -> 3, 4, 5; 3.3-3.5 -> 3.3, 3.4, 3.5."""
    if first.isdigit() and last.isdigit() and 0 <= int(last) - int(first) <= 20:
        return [str(i) for i in range(int(first), int(last) + 1)]
    a, b = first.split("."), last.split(".")
    if (
        len(a) == len(b) == 2 and a[0] == b[0] and all(x.isdigit() for x in a + b)
        and 0 <= int(b[1]) - int(a[1]) <= 20
    ):
        return [f"{a[0]}.{i}" for i in range(int(a[1]), int(b[1]) + 1)]
    return [first, last]


def cited(text: str) -> set[tuple[str, str]]:
    """Every (kind, id) a text cites, ranges and lists expanded.

    >>> sorted(cited("MONA Eqs. 3-5 and Equation (6); ARCO Thm 3.2, Sec. III-B"))
    [('Eq.', '3'), ('Eq.', '4'), ('Eq.', '5'), ('Eq.', '6'), ('Sec.', 'III-B'), ('Theorem', '3.2')]
    """
    found: set[tuple[str, str]] = set()
    for match in CITATION.finditer(text):
        kind = _kind(match.group("kind"))
        ids = [_ID_TOKEN.search(match.group("first")).group(0)]
        for step in _STEP.finditer(match.group("rest")):
            if step.group("separator") in ("-", "–", "—", "to"):
                ids[-1:] = _expand(ids[-1], step.group("id"))
            else:
                ids.append(step.group("id"))
        found.update((kind, i) for i in ids)
    return found


def names_paper(text: str, paper: str) -> bool:
    """Whether ``text`` names ``paper``; ACTION inside ACTION++ does not count as ACTION."""
    if paper == "ACTION":
        return re.search(r"(?<![\w])ACTION(?![\w+])", text) is not None
    return re.search(rf"(?<![\w]){re.escape(paper)}(?![\w+])", text) is not None


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_index(text: str) -> list[dict]:
    """Rows of every table whose header has an "implemented by" column."""
    rows, column = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.lstrip().startswith("|"):
            column = None
            continue
        cells = _cells(line)
        if column is None:
            headers = [cell.lower() for cell in cells]
            column = headers.index("implemented by") if "implemented by" in headers else -1
            continue
        if column < 0 or set("".join(cells)) <= set("-: "):
            continue
        key = KEY.match(cells[0].replace("*", "").strip())
        assert key, f"docs/equations.md:{number}: first cell {cells[0]!r} does not start with an equation key"
        symbols = re.findall(r"`(mona_lab(?:\.\w+)+)`", cells[column])
        assert symbols, f"docs/equations.md:{number}: no `mona_lab....` symbol in {cells[column]!r}"
        rows.append({
            "line": number, "paper": key["paper"], "kind": key["kind"], "id": key["id"],
            "key": f"{key['paper']} {key['kind']} {key['id']}", "symbols": symbols,
        })
    return rows


ROWS = parse_index(INDEX.read_text(encoding="utf-8")) if INDEX.is_file() else []
ENTRIES = [(row, symbol) for row in ROWS for symbol in row["symbols"]]


def resolve(path: str):
    """(module, object) for a dotted path: the longest importable prefix, then getattr."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        name = ".".join(parts[:split])
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is not None and not name.startswith(error.name) and error.name != name:
                raise  # the module exists but one of its own imports is broken
            continue
        obj = module
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return module, obj
    raise ModuleNotFoundError(path)


def own_docstring(obj) -> str:
    """The symbol's own docstring (classes and functions do not inherit one here)."""
    if isinstance(obj, property):
        obj = obj.fget
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if doc else ""


def _moved_modules() -> dict[str, str]:
    try:
        from mona_lab.moved import MOVED_MODULES
    except ImportError:
        return {}
    return MOVED_MODULES


def test_index_exists_and_has_entries():
    assert INDEX.is_file(), "docs/equations.md is missing"
    assert len(ENTRIES) >= 30, f"only {len(ENTRIES)} entries parsed from docs/equations.md"


@pytest.mark.parametrize(
    ("row", "symbol"), ENTRIES, ids=[f"{row['key']}-{symbol.rsplit('.', 2)[-2:]}" for row, symbol in ENTRIES]
)
def test_symbol_exists_and_cites_its_equation(row, symbol):
    where = f"docs/equations.md:{row['line']} ({row['key']})"
    moved = _moved_modules()
    parts = symbol.split(".")
    for split in range(len(parts), 1, -1):
        old = ".".join(parts[:split])
        assert old not in moved, f"{where}: `{symbol}` uses the old path {old}; it is now {moved[old]}"
    try:
        module, obj = resolve(symbol)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"{where}: `{symbol}` does not resolve: {error!r}")
    defined_in = getattr(obj.fget if isinstance(obj, property) else obj, "__module__", None)
    if not inspect.ismodule(obj) and defined_in is not None:
        assert defined_in == module.__name__, (
            f"{where}: `{symbol}` is a re-export; the code lives in {defined_in}: name it there"
        )
    doc = own_docstring(obj)
    assert doc, f"{where}: `{symbol}` has no docstring of its own"
    wanted = (row["kind"], row["id"])
    assert wanted in cited(doc), (
        f"{where}: the docstring of `{symbol}` does not cite {row['kind']} {row['id']} "
        f"(it cites {sorted(cited(doc)) or 'nothing'})"
    )
    home = inspect.getmodule(obj)
    context = [doc, inspect.getdoc(module) or "", inspect.getdoc(home) or "" if home else ""]
    assert any(names_paper(text, row["paper"]) for text in context), (
        f"{where}: neither the docstring of `{symbol}` nor its module's names {row['paper']}"
    )


def test_every_equation_of_the_issue_has_an_entry():
    present = {(row["paper"], row["kind"], row["id"]) for row in ROWS}
    missing = [" ".join(key) for key in REQUIRED if key not in present]
    assert not missing, f"docs/equations.md has no entry for: {', '.join(missing)}"


@pytest.mark.parametrize(
    ("text", "kind", "number"),
    [
        ("MONA Eq. (3)", "Eq.", "3"),
        ("MONA Eq. 3", "Eq.", "3"),
        ("MONA Eqs. 3-5", "Eq.", "4"),
        ("MONA Equation 3", "Eq.", "3"),
        ("MONA's equation (3)", "Eq.", "3"),
        ("MONA Eq. (3)-(5)", "Eq.", "5"),
        ("MONA Eq. 3, 4 and 5", "Eq.", "5"),
        ("MONA CVPR 2023 Eq. 3.3-3.5", "Eq.", "3.4"),
        ("ARCO Eq. 3.1", "Eq.", "3.1"),
        ("ARCO Lemma 3.1 / Thm 3.2", "Theorem", "3.2"),
        ("ARCO Section 3.3", "Sec.", "3.3"),
        ("MONA Sec. III-B", "Sec.", "III-B"),
        ("ACTION++ Appendix A's classifier", "Appendix", "A"),
    ],
)
def test_citation_spellings(text, kind, number):
    assert (kind, number) in cited(text)


def test_citations_are_not_over_read():
    assert ("Eq.", "3") not in cited("ARCO Eq. 3.1")
    assert ("Eq.", "3") not in cited("MONA Eq. 1-2")
    assert ("Sec.", "III") not in cited("MONA Sec. III-B")


def test_action_does_not_match_inside_action_plus_plus():
    assert not names_paper("ACTION++ (MICCAI 2023) Eq. 5", "ACTION")
    assert names_paper("ACTION++ Eq. 5", "ACTION++")
    assert names_paper("MONA / ACTION Eq. 6", "ACTION")
    assert not names_paper("ACTION Eq. 4", "ACTION++")
    assert not names_paper("ACTIONS", "ACTION")
