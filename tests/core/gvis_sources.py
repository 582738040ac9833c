"""Static facts about gvis's own source files (ast, nothing imported): which gvis modules each one imports
and which functions call what. Shared by the layering and defined-once tests."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Callable, Iterator

GVIS = Path(__file__).resolve().parents[2] / "gvis"


def module_name(path: Path, root: Path = GVIS) -> str:
    """``gvis/train/loop.py`` → ``gvis.train.loop``; a package's ``__init__.py`` → the package."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(root: Path = GVIS) -> Iterator[tuple[str, Path, ast.Module]]:
    """``(module name, path, syntax tree)`` of every ``.py`` file under ``root``."""
    for path in sorted(root.rglob("*.py")):
        yield module_name(path, root), path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def imported(tree: ast.Module) -> set[str]:
    """Every module ``tree`` imports, anywhere in the file (also inside functions); ``from package import
    name`` counts as importing ``package.name`` too (it may be a submodule). A relative import is recorded
    as ``.`` + its text (gvis uses none: the layering test checks it)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = "." * node.level + (node.module or "")
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def top_package(name: str) -> str | None:
    """``gvis.train.loop`` → ``train``; ``gvis`` itself and non-gvis modules → ``None``."""
    parts = name.split(".")
    return parts[1] if parts[0] == "gvis" and len(parts) > 1 else None


def calling_functions(tree: ast.Module, module: str, is_target: Callable[[ast.Call], bool]) -> list[str]:
    """``module:Class.function`` (or ``module:<module>``) of every call in ``tree`` that ``is_target``
    accepts, one entry per call."""
    found: list[str] = []

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, [*scope, child.name])
                continue
            if isinstance(child, ast.Call) and is_target(child):
                found.append(f"{module}:{'.'.join(scope) or '<module>'}")
            visit(child, scope)

    visit(tree, [])
    return found


def attribute_call(attribute: str, owner: Callable[[str], bool] = lambda name: True) -> Callable[[ast.Call], bool]:
    """A call ``<owner>.<attribute>(...)`` whose owner's last name passes ``owner`` (``torch.save``:
    owner ``torch``; ``self.optimizer.step``: owner ``optimizer``)."""

    def match(call: ast.Call) -> bool:
        function = call.func
        if not (isinstance(function, ast.Attribute) and function.attr == attribute):
            return False
        target = function.value
        name = target.attr if isinstance(target, ast.Attribute) else target.id if isinstance(target, ast.Name) else ""
        return owner(name)

    return match


def name_call(name: str) -> Callable[[ast.Call], bool]:
    """A call of the plain name ``name(...)`` (a function imported by name)."""
    return lambda call: isinstance(call.func, ast.Name) and call.func.id == name


def callers(is_target: Callable[[ast.Call], bool], root: Path = GVIS) -> set[str]:
    """The functions of gvis (``module:qualified name``) that make such a call."""
    return {site for module, _, tree in sources(root) for site in calling_functions(tree, module, is_target)}
