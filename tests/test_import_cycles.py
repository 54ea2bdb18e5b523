"""No import cycles among ``simmatch`` modules, lazy (function-level) imports included.

Every module of the package is parsed with ``ast``; an import of a ``simmatch`` module is an edge
to that module (``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to
``a.b``). Imports under ``if TYPE_CHECKING:`` never run and are not edges. A cycle is reported
with its modules in order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import simmatch

PACKAGE_DIR = Path(simmatch.__file__).resolve().parent


def _module_names() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for file in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = ["simmatch", *file.relative_to(PACKAGE_DIR).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = file
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Absolute names of every module imported anywhere in ``tree`` (runtime imports only)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            found.extend(f"{prefix}.{alias.name}" for alias in node.names)
            found.append(prefix)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, file in modules.items():
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        names = _imports(tree, name, file.name == "__init__.py")
        for imported in names:
            if imported in modules and imported != name:
                graph[name].add(imported)
        # ``from a.b import c`` with c a module: the edge goes to a.b.c, not also to a.b's names.
        for imported in names:
            parent = imported.rpartition(".")[0]
            in_graph = imported in modules and parent in graph[name] and parent != name
            if in_graph and not _names_non_module(tree, parent, modules):
                graph[name].discard(parent)
    return graph


def _names_non_module(tree: ast.AST, package: str, modules: dict[str, Path]) -> bool:
    """Whether some ``from <package> import x`` in ``tree`` imports a name that is not a module
    (then the package's ``__init__`` itself is used)."""
    for node in ast.walk(tree):
        same = isinstance(node, ast.ImportFrom) and node.module == package and not node.level
        if same and any(f"{package}.{alias.name}" not in modules for alias in node.names):  # type: ignore[attr-defined]
            return True
    return False


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_walk_sees_lazy_imports():
    graph = import_graph()
    assert len(graph) > 50
    # A function-level import (embedder loads its backend lazily) is an edge too.
    assert "simmatch.models.backends" in graph["simmatch.models.embedder"]


def test_finder_reports_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle among simmatch modules: " + " -> ".join(cycle or [])
