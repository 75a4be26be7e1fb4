"""Layers import only the layers below them (style guide): cli -> workbench -> ingest -> db/config/errors.

A light stand-in for an import-linter contract, read from the source with ast.
"""

from __future__ import annotations

import ast

from tests.conftest import ROOT

PKG = ROOT / "src" / "poanalytics"
# every layer above the base modules (sql, timezones, format, browser): they import none of them
ABOVE_BASE = {
    "db",
    "config",
    "schema",
    "ingest",
    "metrics",
    "charts",
    "report",
    "voice",
    "backlog",
    "workbench",
    "cli",
    "demo",
    "status",
    "explore",
    "spark",
}
# what metrics and the Spark engine beside it must not import
BESIDE_METRICS = {
    "ingest",
    "workbench",
    "cli",
    "demo",
    "status",
    "explore",
    "voice",
    "backlog",
    "report",
}
# module (or package) -> poanalytics modules it must not import
FORBIDDEN = {
    # browser: names the Chromium binary and flags (tests, benchmark, e-mail images); imports nothing
    "browser": ABOVE_BASE,
    # format: pure text helpers for charts, results and the report
    "format": ABOVE_BASE,
    # sql: Params and the quoting helper, the base every SQL builder uses; imports only errors
    "sql": ABOVE_BASE,
    # timezones: the IANA zone-name check, shared by ingest and metrics; imports only errors
    "timezones": ABOVE_BASE,
    "errors": {"db", "config", "schema", "ingest", "workbench", "cli", "demo", "status"},
    "config": {"db", "schema", "ingest", "workbench", "cli", "demo", "status"},
    "db": {"schema", "ingest", "workbench", "cli", "demo", "status"},
    "schema": {"ingest", "workbench", "cli", "demo", "status"},
    "ingest": {"workbench", "cli", "demo", "status", "explore", "voice", "backlog"},
    "demo": {"cli"},
    # metrics reads the warehouse ingest wrote, never ingest's code: both stand on the base modules
    "metrics": BESIDE_METRICS | {"spark"},
    # spark: the metrics' engine on Spark, beside metrics (it builds with them), below workbench;
    # it reads no DuckDB warehouse
    "spark": BESIDE_METRICS | {"db", "schema"},
    # voice reads tickets and notes (and events, for lift): beside metrics, below report
    "voice": {"workbench", "cli", "demo", "status", "explore", "report", "backlog"},
    # backlog orders items by evidence from metrics and voice: beside them, below report
    "backlog": {"workbench", "cli", "demo", "status", "explore", "report"},
    # report sits above metrics/charts/voice, below workbench/cli
    "report": {"workbench", "cli", "demo", "status", "explore"},
    # charts draw tables: no data access, no settings, below the report that embeds them
    "charts": ABOVE_BASE - {"charts"},
    "workbench": {"cli", "explore"},
    # explore: notebook controls over a Workbench (duck-typed), above it; the CLI has no use for it
    "explore": {"cli", "demo"},
}


def _resolve(path, node):
    """The poanalytics modules one import statement names, as dotted paths below the package."""
    if isinstance(node, ast.Import):
        return [a.name.split(".", 1)[1] for a in node.names if a.name.startswith("poanalytics.")]
    if not node.level:  # absolute
        if node.module == "poanalytics":
            return [a.name for a in node.names]
        if node.module and node.module.startswith("poanalytics."):
            return [node.module.split(".", 1)[1]]
        return []
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    base = parts[: len(parts) - node.level]  # `.` is the file's package, `..` its parent
    if node.module:
        return [".".join([*base, node.module])]
    # `from . import x`: x is a module of that package (or a name in its __init__)
    return [".".join([*base, a.name]) for a in node.names]


def _imports(path):
    """The top-level poanalytics modules or packages a file imports: anywhere in the file, inside
    functions and under ``if TYPE_CHECKING:`` alike (a type-only import still ties two layers)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for mod in _resolve(path, node):
                if mod:
                    yield mod.split(".")[0]


def _top(path):
    """The top-level module or package a file belongs to (``metrics`` for metrics/funnel.py)."""
    return path.relative_to(PKG).parts[0].removesuffix(".py")


def import_graph():
    """Top-level module/package -> the top-level ones it imports (the package's own __init__ and
    __main__ are the entry points above everything, so they are left out)."""
    graph = {}
    for path in sorted(PKG.rglob("*.py")):
        top = _top(path)
        if top in {"__init__", "__main__"}:
            continue
        graph.setdefault(top, set()).update(m for m in _imports(path) if m != top)
    return graph


class _Tarjan:
    """Tarjan's strongly connected components, split so each step reads on its own."""

    def __init__(self, graph):
        self.graph, self.index, self.low = graph, {}, {}
        self.stack, self.on, self.found = [], set(), []

    def run(self):
        for v in sorted(self.graph):
            if v not in self.index:
                self.visit(v)
        return self.found

    def visit(self, v):
        self.index[v] = self.low[v] = len(self.index)
        self.stack.append(v)
        self.on.add(v)
        for w in sorted(self.graph.get(v, ())):
            self.edge(v, w)
        if self.low[v] == self.index[v]:
            self.pop_group(v)

    def edge(self, v, w):
        if w not in self.index:
            self.visit(w)
            self.low[v] = min(self.low[v], self.low[w])
        elif w in self.on:
            self.low[v] = min(self.low[v], self.index[w])

    def pop_group(self, v):
        group = []
        while True:
            w = self.stack.pop()
            self.on.discard(w)
            group.append(w)
            if w == v:
                break
        if len(group) > 1:
            self.found.append(sorted(group))


def cycles(graph):
    """Every strongly connected group of more than one node (Tarjan): each holds an import circle."""
    return _Tarjan(graph).run()


def test_layers_import_only_downwards():
    problems = []
    for layer, forbidden in FORBIDDEN.items():
        target = PKG / layer
        files = sorted(target.rglob("*.py")) if target.is_dir() else [PKG / f"{layer}.py"]
        for path in files:
            if not path.exists():
                continue
            bad = set(_imports(path)) & forbidden
            if bad:
                problems.append(f"{path.relative_to(PKG)} imports {sorted(bad)}")
    assert not problems, problems


def test_no_import_circles_between_modules():
    """No two top-level modules or packages import each other, directly or round a longer circle
    (status <-> workbench was one: workbench imported status, status imported the Workbench for a
    type annotation)."""
    graph = import_graph()
    assert {"metrics", "charts", "workbench", "status", "db", "sql"} <= set(graph)
    assert "status" in graph["workbench"]  # the graph sees the real edges
    assert not cycles(graph), cycles(graph)


def test_circle_finder_finds_circles():
    """The circle check is not vacuous: it reports a two-node and a three-node circle and passes
    a one-way chain."""
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_imports_resolved_relative_and_type_only(tmp_path, monkeypatch):
    """Relative imports resolve against the file's package; TYPE_CHECKING and function-level
    imports count."""
    pkg = tmp_path / "poanalytics"
    (pkg / "metrics").mkdir(parents=True)
    f = pkg / "metrics" / "x.py"
    f.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import funnel\n"
        "from ..charts import style\n"
        "if TYPE_CHECKING:\n    from ..workbench import Workbench\n"
        "def g():\n    from poanalytics.status import Status\n"
    )
    monkeypatch.setitem(globals(), "PKG", pkg)
    assert sorted(set(_imports(f))) == ["charts", "metrics", "status", "workbench"]


def test_charts_take_tables_not_results():
    """Every public chart function annotates each parameter, and none takes a result object (or
    anything from metrics/voice/backlog): charts draw DataFrames and plain values."""
    import importlib
    import inspect
    import pkgutil

    import poanalytics.charts as charts

    bad, seen = [], 0
    for info in pkgutil.iter_modules(charts.__path__):
        mod = importlib.import_module(f"poanalytics.charts.{info.name}")
        for name, fn in vars(mod).items():
            if not inspect.isfunction(fn) or fn.__module__ != mod.__name__ or name.startswith("_"):
                continue
            for p in inspect.signature(fn).parameters.values():
                seen += 1
                ann = str(p.annotation)
                if p.kind is p.VAR_KEYWORD:  # **layout: plotly layout keywords
                    continue
                if p.annotation is p.empty or "Result" in ann or "Query" in ann:
                    bad.append(f"{info.name}.{name}({p.name}: {ann})")
    assert seen > 30
    assert not bad, bad


def test_the_default_install_does_not_import_pyspark():
    """pyspark is the ``spark`` extra: importing poanalytics, its Workbench and its metrics, and
    even the spark package itself, loads none of it (a session or a SparkWorkbench does)."""
    import subprocess
    import sys

    code = (
        "import sys, poanalytics, poanalytics.metrics, poanalytics.workbench, poanalytics.spark\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]", out.stdout
