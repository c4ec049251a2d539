"""The code as a place to work: short functions, no import circles, no borrowed private names.

Read with ``ast`` from every ``.py`` file under ``simnet/``; nothing is imported or run.

How imports become edges of the module graph (for the circles):

- ``import simnet.a.b`` and ``from simnet.a.b import name`` are an edge to ``simnet.a.b``,
  or to ``simnet.a.b.name`` when that is a module; relative imports are resolved first.
  A package's module is its ``__init__.py``, named after the package (``simnet.data``).
- Importing ``simnet.a.b`` first runs the ``__init__`` of every package above it, so the
  import is also an edge to each of those packages (``simnet.a``), except the packages
  that hold the importing module: they were initialised before it started, so its
  import cannot be what runs them (and every module would otherwise sit in a circle
  with its own package). Naming such a package outright (``from simnet.data import x``
  inside ``simnet/data/``) is an edge like any other: it reads a half-run ``__init__``.
- Imports inside functions count (they run as soon as the function is called), except
  those in functions of ``simnet/cli.py``, which imports lazily on purpose so that
  ``simnet --help`` starts fast, and which nothing imports.
- Imports under ``if TYPE_CHECKING:`` never run; they are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "simnet"
MAX_FUNCTION_LINES = 60
LAZY_IMPORTS_ALLOWED = {"simnet.cli"}  # modules whose functions may import anything


def module_name(path: Path) -> str:
    """``simnet/data/cache.py`` -> ``simnet.data.cache``; a package's ``__init__.py`` ->
    the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_modules() -> dict[str, tuple[Path, ast.Module]]:
    """Every module of the package by name, with its file and syntax tree."""
    return {
        module_name(path): (path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


MODULES = read_modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


ImportNode = ast.Import | ast.ImportFrom


def imports(tree: ast.Module) -> Iterator[tuple[ImportNode, bool]]:
    """Each import statement that runs, and whether it is inside a function."""

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[ImportNode, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, in_function
            elif isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    yield from visit(other, in_function)  # the branch that does run
            else:
                inner = in_function or isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                )
                yield from visit(child, inner)

    yield from visit(tree, False)


def _absolute(node: ast.ImportFrom, importer: str) -> str:
    """The module a ``from ... import`` statement names, relative ones resolved."""
    if not node.level:
        return node.module or ""
    is_package = MODULES[importer][0].name == "__init__.py"
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(node: ImportNode, importer: str) -> list[str]:
    """The simnet modules an import statement names (a name that is a module counts as it)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in MODULES]
    module = _absolute(node, importer)
    found = []
    for alias in node.names:
        submodule = f"{module}.{alias.name}"
        if submodule in MODULES:
            found.append(submodule)
        elif module in MODULES:
            found.append(module)
    return list(dict.fromkeys(found))


def _packages_run(target: str, importer: str) -> list[str]:
    """The packages whose ``__init__`` importing ``target`` runs, leaving out those that hold
    the importer (already initialised before it ran)."""
    parts = target.split(".")
    above = [".".join(parts[:i]) for i in range(1, len(parts))]
    return [p for p in above if not (importer == p or importer.startswith(p + "."))]


def import_graph() -> dict[str, set[str]]:
    """Module -> the simnet modules its imports run (see the module docstring)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, (_, tree) in MODULES.items():
        for node, in_function in imports(tree):
            if in_function and name in LAZY_IMPORTS_ALLOWED:
                continue
            for target in imported_modules(node, name):
                for module in [*_packages_run(target, name), target]:
                    if module != name:
                        graph[name].add(module)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(found)


def _path_within(graph: dict[str, set[str]], members: list[str]) -> str:
    """One circle through a component, written ``a -> b -> a``, to show what to cut."""
    inside = set(members)
    start = members[0]
    route, seen = [start], {start}
    node = start
    while True:
        nxt = sorted(m for m in graph[node] if m in inside)
        back = [m for m in nxt if m == start]
        if back and len(route) > 1:
            return " -> ".join([*route, start])
        fresh = [m for m in nxt if m not in seen]
        if not fresh:
            return " <-> ".join(members)
        node = fresh[0]
        route.append(node)
        seen.add(node)


def long_functions() -> list[str]:
    """``path:line name (N lines)`` of every function, nested ones too, over the limit."""
    found = []
    for path, tree in MODULES.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    where = path.relative_to(ROOT)
                    found.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    return sorted(found)


def private_imports() -> list[str]:
    """``path:line imports name from module`` for each ``_name`` (not ``__dunder__``)
    imported from another simnet module."""
    found = []
    for name, (path, tree) in MODULES.items():
        for node, _ in imports(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            module = _absolute(node, name)
            if module != "simnet" and not module.startswith("simnet."):
                continue
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and module != name:
                    where = path.relative_to(ROOT)
                    found.append(f"{where}:{node.lineno} imports {alias.name} from {module}")
    return sorted(found)


def test_the_package_is_read() -> None:
    assert {"simnet", "simnet.cli", "simnet.data", "simnet.data.cache"} <= set(MODULES)


def test_no_function_is_longer_than_60_lines() -> None:
    offenders = long_functions()
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines:\n  " + "\n  ".join(offenders)


def test_no_import_circles() -> None:
    graph = import_graph()
    found = [
        f"{', '.join(members)} (one circle: {_path_within(graph, members)})"
        for members in circles(graph)
    ]
    assert not found, "modules that import each other, in circles:\n  " + "\n  ".join(found)


def test_no_private_name_is_imported_from_another_module() -> None:
    offenders = private_imports()
    assert not offenders, "private names imported across modules:\n  " + "\n  ".join(offenders)


# -- the checks themselves, on small made-up modules -------------------------------------


def test_circles_are_found_and_a_chain_is_not() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
    assert _path_within(graph, ["a", "b", "c"]) == "a -> b -> c -> a"
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_imports_inside_functions_are_seen_and_type_checking_ones_are_not() -> None:
    tree = ast.parse(
        "import os\n"
        "if TYPE_CHECKING:\n    import simnet.data\n"
        "def f():\n    from simnet.data import cache\n"
    )
    seen = [(ast.unparse(node), inside) for node, inside in imports(tree)]
    assert seen == [("import os", False), ("from simnet.data import cache", True)]


def test_a_name_that_is_a_module_is_an_edge_to_that_module() -> None:
    statement = ast.parse("from simnet.data import cache, Dataset").body[0]
    assert isinstance(statement, ast.ImportFrom)
    found = imported_modules(statement, "simnet.eval.report")
    assert found == ["simnet.data.cache", "simnet.data"]
    relative = ast.parse("from .cache import ImageSet").body[0]
    assert isinstance(relative, ast.ImportFrom)
    assert imported_modules(relative, "simnet.data.pairs") == ["simnet.data.cache"]


def test_a_package_init_counts_only_from_outside_the_package() -> None:
    assert _packages_run("simnet.data.cache", "simnet.eval.report") == ["simnet.data"]
    assert _packages_run("simnet.data.cache", "simnet.data.pairs") == []
