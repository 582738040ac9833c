"""The prose of the repository cites only what a reader of it has: docs/ and the paper.

Scanned: comments and string statements (docstrings, attribute docstrings) of every Python file under
``gvis/``, ``tests/`` and ``experiments/``; every Markdown file of ``docs/`` and the top level; every YAML
file of ``configs/``; the help texts of every command. Forbidden: files outside the repository (the one exception is the real-fixture
folder the tests read), notes that are not part of it, tracker issue numbers and the history of the work.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
THIS_FILE = Path(__file__).resolve()

FORBIDDEN = {
    "a file outside the repository": re.compile(r"\.\./shared(?!/data/real)"),
    "a spec or design note": re.compile(r"\b(?:spec|design)\.md\b|\bspec(?:'s)?\b(?!_)(?![(\[.=])", re.IGNORECASE),
    "an issue number": re.compile(r"\bissues?\s*#?\d+|(?<![\w/&#])#\d{1,4}\b(?![\w-])", re.IGNORECASE),
    "the history of the work": re.compile(
        r"\bsessions?[- ]\d|\b(?:previous|earlier|later|last|next|this|another) session\b|\bthe lead\b"
        r"|\bwas fixed\b|\bhelper (?:session|agent|engineer)s?\b",
        re.IGNORECASE),
}


def python_prose(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of every comment and every string statement (docstrings) of a Python file."""
    source = path.read_text(encoding="utf-8")
    prose = [(token.start[0], token.string)
             for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type == tokenize.COMMENT]
    prose += [(node.lineno, node.value.value) for node in ast.walk(ast.parse(source))
              if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
              and isinstance(node.value.value, str)]
    return prose


def scanned_files() -> list[Path]:
    files = [p for folder in ("gvis", "tests", "experiments") for p in (REPO / folder).rglob("*.py")]
    files += sorted((REPO / "docs").rglob("*.md")) + sorted(REPO.glob("*.md"))
    files += sorted((REPO / "configs").rglob("*.yaml"))
    return [p for p in files if p.resolve() != THIS_FILE]


def prose_of(path: Path) -> list[tuple[int, str]]:
    if path.suffix == ".py":
        return python_prose(path)
    return list(enumerate(path.read_text(encoding="utf-8").splitlines(), start=1))


def offences(path: Path) -> list[str]:
    found = []
    for line, text in prose_of(path):
        for what, pattern in FORBIDDEN.items():
            for match in pattern.finditer(text):
                found.append(f"{path.relative_to(REPO)}:{line}: {what}: {match.group(0)!r}")
    return found


def test_scan_covers_the_repository():
    files = scanned_files()
    folders = {p.relative_to(REPO).parts[0] for p in files}
    assert {"gvis", "tests", "experiments", "docs", "configs", "README.md", "CONTRIBUTING.md"} <= folders


@pytest.mark.parametrize("text, what", [
    ("See ``../shared/spec.md`` §2.", "a file outside the repository"),
    ("Defaults are the spec's values.", "a spec or design note"),
    ("The JSON of design.md's contract.", "a spec or design note"),
    ("(spec §4)", "a spec or design note"),
    ("Learning proof (issue 6, point 8).", "an issue number"),
    ("fixed by #14.", "an issue number"),
    ("ran in session 3 with two processes", "the history of the work"),
    ("as the previous session found", "the history of the work"),
    ("since the tie-breaking was fixed", "the history of the work"),
])
def test_patterns_catch_references(text, what):
    assert FORBIDDEN[what].search(text), text


@pytest.mark.parametrize("text", [
    "Real fixtures live in ``../shared/data/real``.",
    "The paper's gated block (docs/model.md §2, P eq. 1a–c).",
    "importlib.util.spec_from_file_location(name, path)",
    "see [model.md §0](model.md#0-choices-where-the-paper-leaves-room)",
    "colour '#1f77b4'",
    "the DataLoader's session-scoped fixture",
])
def test_patterns_allow_ordinary_text(text):
    assert not [what for what, pattern in FORBIDDEN.items() if pattern.search(text)], text


def test_help_texts_cite_nothing_outside_the_repository():
    from gvis.cli import build_parser

    commands = next(action for action in build_parser()._actions if action.dest == "command").choices
    found = [f"gvis {name} --help: {what}: {match.group(0)!r}"
             for name, command in commands.items()
             for text in [command.description or ""] + [action.help or "" for action in command._actions]
             for what, pattern in FORBIDDEN.items() for match in pattern.finditer(text)]
    assert commands and not found, "\n".join(found)


def test_no_references_outside_the_repository():
    found = [offence for path in scanned_files() for offence in offences(path)]
    assert not found, "\n".join(found)
