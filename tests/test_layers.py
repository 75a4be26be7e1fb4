"""Layers import only the layers below them (style guide): cli -> workbench -> ingest -> db/config/errors.

A light stand-in for an import-linter contract, read from the source with ast.
"""

from __future__ import annotations

import ast

from tests.conftest import ROOT

PKG = ROOT / "src" / "poanalytics"
# module (or package) -> poanalytics modules it must not import
FORBIDDEN = {
    # browser: names the Chromium binary and flags (tests, benchmark, e-mail images); imports nothing
    "browser": {
        "db",
        "config",
        "schema",
        "ingest",
        "metrics",
        "charts",
        "report",
        "workbench",
        "cli",
        "demo",
        "status",
    },
    # format: pure text helpers for charts, results and the report
    "format": {
        "db",
        "config",
        "schema",
        "ingest",
        "metrics",
        "charts",
        "workbench",
        "cli",
        "demo",
        "status",
    },
    # sql: Params and the quoting helper, the base every SQL builder uses; imports only errors
    "sql": {
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
    },
    "errors": {"db", "config", "schema", "ingest", "workbench", "cli", "demo", "status"},
    "config": {"db", "schema", "ingest", "workbench", "cli", "demo", "status"},
    "db": {"schema", "ingest", "workbench", "cli", "demo", "status"},
    "schema": {"ingest", "workbench", "cli", "demo", "status"},
    "ingest": {"workbench", "cli", "demo", "status", "explore", "voice", "backlog"},
    "demo": {"cli"},
    "metrics": {"workbench", "cli", "demo", "status", "explore", "voice", "backlog", "report"},
    # voice reads tickets and notes (and events, for lift): beside metrics, below report
    "voice": {"workbench", "cli", "demo", "status", "explore", "report", "backlog"},
    # backlog orders items by evidence from metrics and voice: beside them, below report
    "backlog": {"workbench", "cli", "demo", "status", "explore", "report"},
    # report sits above metrics/charts/voice, below workbench/cli
    "report": {"workbench", "cli", "demo", "status", "explore"},
    # charts draw results: no data access
    "charts": {
        "db",
        "schema",
        "ingest",
        "metrics",
        "voice",
        "backlog",
        "workbench",
        "cli",
        "demo",
        "status",
        "explore",
    },
    "workbench": {"cli", "explore"},
    # explore: notebook controls over a Workbench (duck-typed), above it; the CLI has no use for it
    "explore": {"cli", "demo"},
}


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                parts = path.relative_to(PKG).parts[:-1]
                base = (
                    list(parts[: len(parts) - (node.level - 1)]) if node.level > 1 else list(parts)
                )
                mod = ".".join([*base, node.module] if node.module else base)
                yield mod.split(".")[0] if mod else (node.names[0].name if node.names else "")
                if not node.module:
                    for alias in node.names:
                        yield alias.name
            elif node.module and node.module.startswith("poanalytics."):
                yield node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("poanalytics."):
                    yield alias.name.split(".")[1]


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
