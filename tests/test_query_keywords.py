"""Query objects are built by keyword only (issue 12, "keywords, not positions"): a reordered
dataclass field can never silently swap two parameters, because no call passes one by position."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect

import pytest

from tests.conftest import ROOT

_MISSING = object()


def _defines_query(path) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(n, ast.ClassDef) and n.name.endswith("Query") for n in ast.walk(tree))


def _import_quietly(name: str):
    """Import a module without letting it replace an attribute of its package (importing
    poanalytics.report.weekly for the first time would set poanalytics.report.weekly, the
    function, to the module for every later test)."""
    parent, _, child = name.rpartition(".")
    package = importlib.import_module(parent)
    before = getattr(package, child, _MISSING)
    module = importlib.import_module(name)
    if before is not _MISSING and getattr(package, child, _MISSING) is not before:
        setattr(package, child, before)
    return module


def _query_classes():
    """Every dataclass named *Query in the package, found from the source (only the modules that
    define one are imported)."""
    src = ROOT / "src"
    found = {}
    for path in sorted((src / "poanalytics").rglob("*.py")):
        if not _defines_query(path):
            continue
        name = ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        mod = _import_quietly(name)
        for attr, cls in vars(mod).items():
            if (
                inspect.isclass(cls)
                and cls.__module__ == mod.__name__
                and attr.endswith("Query")
                and dataclasses.is_dataclass(cls)
            ):
                found[f"{cls.__module__}.{attr}"] = cls
    return found


QUERIES = _query_classes()


def test_every_query_class_found():
    names = {k.rsplit(".", 1)[1] for k in QUERIES}
    assert {
        "FunnelQuery",
        "RetentionQuery",
        "LifecycleQuery",
        "ChurnQuery",
        "SurvivalQuery",
    } <= names
    assert {"PathsQuery", "ComparisonQuery", "LiftQuery", "EvidenceQuery", "OrderQuery"} <= names
    assert len(QUERIES) >= 20


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_query_fields_are_keyword_only(name):
    cls = QUERIES[name]
    params = list(inspect.signature(cls).parameters.values())
    assert params, name
    positional = [p.name for p in params if p.kind is not p.KEYWORD_ONLY]
    assert not positional, f"{name} takes {positional} by position"
    assert all(f.kw_only for f in dataclasses.fields(cls) if f.init)


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_positional_construction_raises(name):
    """Even one value by position is refused before any validation runs."""
    cls = QUERIES[name]
    with pytest.raises(TypeError, match="positional argument"):
        cls(object())


def test_no_query_built_by_position_in_the_code():
    """Every Query(...) call in src/ (Workbench, explore, report, backlog, voice) names its values."""
    names = {k.rsplit(".", 1)[1] for k in QUERIES}
    calls, bad = 0, []
    for path in sorted((ROOT / "src" / "poanalytics").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            called = f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)
            if called in names:
                calls += 1
                if node.args:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {called}")
    assert calls > 20
    assert not bad, bad
