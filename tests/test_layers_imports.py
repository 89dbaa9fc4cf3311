"""The import graph of l2o_lib: no circle, and the layers of DEVELOPING.md point down only.

Every import statement is read from the sources (no import is run), those deferred inside a function included:
a circle closed by a deferred import is still a circle. Importing ``a.b.c`` also imports the packages ``a.b``
and ``a``, so those are edges too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "l2o_lib"


def _module(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                for k in range(1, len(parts) + 1):  # a.b.c imports a, a.b, a.b.c
                    target = ".".join(parts[:k])
                    if target in graph and target != mod and not mod.startswith(target + "."):
                        graph[mod].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_circle():
    assert _cycles(_graph()) == []


#: lower layers never import these (DEVELOPING.md, "Layers of l2o_lib")
UPPER = ("l2o_lib.scorecard", "l2o_lib.scaling", "l2o_lib.mpc_sizes", "l2o_lib.pretrained", "l2o_lib.recorded",
         "l2o_lib.viz")
LOWER = ("l2o_lib.problems", "l2o_lib.metrics", "l2o_lib.runtime", "l2o_lib.paths", "l2o_lib.solvers",
         "l2o_lib.enhance", "l2o_lib.explicit_mpc", "l2o_lib.control", "l2o_lib.predict", "l2o_lib.compiled",
         "l2o_lib.datasets")


@pytest.mark.parametrize("lower", LOWER)
def test_lower_layers_never_import_the_upper_ones(lower):
    graph = _graph()
    bad = sorted((m, t) for m, targets in graph.items() if m == lower or m.startswith(lower + ".")
                 for t in targets if any(t == u or t.startswith(u + ".") for u in UPPER))
    assert bad == []


def test_the_graph_sees_real_edges():  # the parser itself: a test that could not fail would prove nothing
    graph = _graph()
    assert "l2o_lib.solvers" in graph["l2o_lib.enhance.certified"]
    assert "l2o_lib.problems.solution" in graph["l2o_lib.problems.base"]
    assert "l2o_lib.control.invariant" in graph["l2o_lib.control"]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
