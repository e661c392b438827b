"""No import cycles in paas.*: every import statement counts, at module level or inside a function.

An import inside a function hides a cycle from Python at import time, not from a reader: the two
modules still cannot be understood, tested or moved apart. The graph is read with ``ast``; the
packages are the ones the wheel ships (setup.py ``paas_packages``).
"""

import ast
import runpy
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


def modules() -> dict[str, Path]:
    """Every module of every paas package, by dotted name."""
    found = {}
    for package in runpy.run_path(str(CHECKOUT / "setup.py"), run_name="paas_setup")["paas_packages"]():
        directory = CHECKOUT.joinpath(*package.split(".")[1:])
        for path in directory.glob("*.py"):
            found[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return found


def imported_modules(tree: ast.Module, package: str, known) -> set[str]:
    """The modules among ``known`` that the import statements of a module (in ``package``) name.

    ``from a import b`` imports module a.b when there is one, else a name of a; the parent
    packages Python also runs on the way are not counted (each package's ``__init__`` would
    otherwise be in a cycle with every module that imports a sibling).
    """
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
    return {name for name in names if name in known}


def import_graph() -> dict[str, set[str]]:
    """module -> the paas modules it imports."""
    found = modules()
    graph = {}
    for name, path in found.items():
        package = name if path.stem == "__init__" else name.rpartition(".")[0]
        tree = ast.parse(path.read_bytes(), filename=str(path))
        graph[name] = imported_modules(tree, package, found) - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative), each sorted."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_and_names_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_relative_and_function_level_imports_are_edges():
    tree = ast.parse("from . import config\nfrom .errors import X\ndef f():\n    from ..router import sync\n"
                     "import paas.web\n")
    known = {"paas.runtime", "paas.runtime.config", "paas.runtime.errors", "paas.router", "paas.router.sync",
             "paas.web"}
    assert imported_modules(tree, "paas.runtime", known) == known - {"paas.runtime", "paas.router"}


def test_the_graph_covers_the_whole_package():
    graph = import_graph()
    assert "paas.platform.control.loop" in graph and "paas.contracts.redis_keys" in graph
    assert "paas.platform.control.wake" in graph["paas.platform.actions.releases"]


def test_no_import_cycles_in_paas():
    found = cycles(import_graph())
    assert not found, "import cycles in paas.*, each among:\n" + "\n".join(", ".join(c) for c in found)
