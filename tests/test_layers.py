"""The import graph follows the layers, with no cycles (an AST check of every module).

Layers, bottom to top: io -> core -> estimator -> embed -> analysis -> runs -> cli. A module may
import its own layer and the layers below it, never one above; ``humelabel/__init__`` (the
public API) and ``_version`` are outside the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "humelabel"
LAYERS = ("io", "core", "estimator", "embed", "analysis", "runs", "cli")
MAX_LINES = 420


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the humelabel modules ``path`` imports (at any depth in the file)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("humelabel"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("humelabel"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
    return found


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in ("_version", "__main__"):
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


MODULES = sorted(PACKAGE.rglob("*.py"))
KNOWN = {_module_name(p) for p in MODULES}


def test_every_module_is_in_a_layer():
    stray = [_module_name(p) for p in MODULES
             if _module_name(p) not in ("humelabel", "humelabel._version", "humelabel.__main__")
             and _layer(_module_name(p)) is None]
    assert stray == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_no_upward_import(path):
    module = _module_name(path)
    own = _layer(module)
    if own is None:
        return
    upward = sorted(name for name in _imports(path) if name in KNOWN
                    and (_layer(name) or 0) > own)
    assert upward == [], f"{module} imports from a higher layer: {upward}"


def test_no_import_cycles():
    graph = {_module_name(p): {n for n in _imports(p) if n in KNOWN and n != _module_name(p)}
             for p in MODULES}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt == "humelabel" or nxt.startswith(node + "."):
                continue  # the package root and a package's own submodules (its __init__)
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*stack, node, nxt]))
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_modules_are_small(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES
