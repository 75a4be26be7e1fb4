"""The registry of source formats: each reads a stage and returns a Mapping to a target.

Vendor formats (Segment, Zendesk, ...) register themselves here; the generic formats (csv,
parquet, json, dataframe) map by column names and go last, so detection tries vendors first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from ..errors import unknown_name
from ..sql import Params
from .mapping import Columns, Mapping, generic_mapping
from .readers import Stage
from .targets import TARGETS, Target

MapFn = Callable[[duckdb.DuckDBPyConnection, Target, Stage, "Columns | None", Params], Mapping]
DetectFn = Callable[[Stage], bool]
AfterFn = Callable[[duckdb.DuckDBPyConnection, int], None]


@dataclass(frozen=True)
class Format:
    name: str
    kind: str  # events | tickets | notes
    containers: frozenset[str]  # csv | parquet | json | dataframe | markdown
    detect: DetectFn
    mapping: MapFn
    after_load: AfterFn | None = None  # run once per load, inside its transaction
    description: str = ""


_REGISTRY: dict[str, list[Format]] = {"events": [], "tickets": [], "notes": []}
GENERIC = ("csv", "parquet", "json", "dataframe")


def register(fmt: Format) -> Format:
    formats = _REGISTRY[fmt.kind]
    formats[:] = [f for f in formats if f.name != fmt.name]
    # vendors before the generic formats
    generic = [f for f in formats if f.name in GENERIC]
    vendors = [f for f in formats if f.name not in GENERIC]
    if fmt.name in GENERIC:
        generic.append(fmt)
    else:
        vendors.append(fmt)
    formats[:] = vendors + generic
    return fmt


def formats_for(kind: str) -> list[Format]:
    _load_builtin()
    return list(_REGISTRY[kind])


def get(kind: str, name: str) -> Format:
    for fmt in formats_for(kind):
        if fmt.name == name:
            return fmt
    raise unknown_name(
        f"{kind} format",
        name,
        [f.name for f in formats_for(kind)],
        code="ingest.unknown_format",
        hint="leave format= out to detect it, or pass one of the known names",
    )


def detect(kind: str, stage: Stage) -> Format:
    for fmt in formats_for(kind):
        if stage.container in fmt.containers and fmt.detect(stage):
            return fmt
    return get(kind, stage.container)


def keys_of(stage: Stage) -> set[str]:
    """Lower-cased column (or top-level JSON key) names, for detectors."""
    return {n.lower() for n in stage.names}


def _generic(kind: str, container: str) -> Format:
    def mapping(con, target, stage, columns, params):  # noqa: ARG001 - signature shared by all formats
        return generic_mapping(target, stage, columns, format_name=container, params=params)

    return Format(
        container,
        kind,
        frozenset({container}),
        lambda stage: True,
        mapping,
        description=f"any {container} with one row per record, mapped by column names",
    )


_loaded = False


def _load_builtin() -> None:
    """Import the vendor modules once; each calls register()."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for kind in TARGETS:
        for container in GENERIC:
            register(_generic(kind, container))
    import importlib
    import pkgutil

    from . import vendors

    for info in pkgutil.iter_modules(vendors.__path__):
        importlib.import_module(f"{vendors.__name__}.{info.name}")
    importlib.import_module(f"{__package__}.notes")  # markdown, highlights_csv, survey
