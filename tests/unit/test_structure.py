"""The house rules a machine can check beyond import-linter's contracts (pyproject.toml): statuses
are created only by the status module's named transitions, functions stay short, and every
folder of the hub says in its first lines what it is for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("reconciler", "webview", "sandbox")
SOURCES = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))
LONGEST = 60  # lines of a function, docstring included; a table (one literal) may be longer


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _is_table(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A function that is one literal (after its docstring) reads as a table, not as steps."""
    body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return len(body) == 1 and isinstance(getattr(body[0], "value", None), (ast.Dict, ast.List, ast.Tuple))


def test_only_the_status_module_changes_a_status_freely() -> None:
    """`Status._to` is the status module's own: everything else uses a named transition."""
    offenders = []
    for path in SOURCES:
        if path == ROOT / "reconciler" / "model" / "status.py":
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and node.attr == "_to":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_no_function_is_longer_than_a_screen() -> None:
    long = []
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not _is_table(node):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LONGEST:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert long == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_says_where_it_sits(path: Path) -> None:
    if path.name == "__init__.py" and not path.read_text().strip():
        return
    assert ast.get_docstring(_tree(path)), f"{path.relative_to(ROOT)} opens with no docstring"
