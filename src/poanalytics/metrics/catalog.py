"""What the warehouse's events are called and which property keys they carry: the one check every
metric query makes of its event and property names (MetricError with a stable code, "did you mean").

The names come from the catalog every load keeps (``event_catalog``, ``property_catalog``: schema
migration 6, ``poanalytics.ingest.catalog``), a few rows however many events the warehouse holds. A
connection without the catalog (an events table made by hand), or a warehouse whose events no longer
add up to the catalog's counts (rows inserted by hand), is read the old way, from the events
themselves: slower, never wrong.

An event that does not occur is not an error (F13): a scheduled report must not fail because a new
feature has no data yet. Its counts are zero, and the metric says so with a ``PoaWarning``
(``{area}.missing_event``) that offers the closest names; ``strict=True`` raises
``{area}.unknown_event`` instead. An unknown property is always an error (a typo in a breakdown would
otherwise give one silent '' segment).

Codes: ``{area}.missing_event`` (a PoaWarning) and ``{area}.unknown_event`` for area in funnel,
retention, lifecycle, stickiness, churn, survival and paths; ``{area}.unknown_property``;
``step.filter_regex`` (a regular expression DuckDB's RE2 cannot read: no look-arounds).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import duckdb

from ..db import fetch_all, fetch_value
from ..errors import PoaWarning, did_you_mean, warn
from .spec import MetricError, Step

# what the names are read from when there is no catalog that fits (see the module's docstring)
EVENTS_SQL = "SELECT DISTINCT event FROM events"
KEYS_SQL = "SELECT DISTINCT unnest(json_keys(properties)) FROM events WHERE properties IS NOT NULL"
# what a user reads to see them (the errors' hints)
EVENTS_HINT = "SELECT event, events, last_ts FROM event_catalog ORDER BY events DESC"
KEYS_HINT = (
    "SELECT key, json_type, sum(events) AS events FROM property_catalog GROUP BY ALL ORDER BY 1"
)

_HAS_CATALOG = (
    "SELECT count(*) = 2 FROM duckdb_tables() WHERE database_name = current_database() "
    "AND schema_name = current_schema() AND table_name IN ('event_catalog', 'property_catalog')"
)
# Every load adds its events to the catalog in its own transaction, so the catalog's counts add up to
# the events unless rows were written by hand; count(*) of a table is read from its row groups.
_IN_STEP = (
    "SELECT (SELECT coalesce(sum(events), 0) FROM event_catalog) = (SELECT count(*) FROM events)"
)


@runtime_checkable
class Catalog(Protocol):
    """What a metric's validation reads of an engine other than a DuckDB warehouse (Spark): the
    event names, the property keys and the span of some events. A DuckDB connection is read
    through the functions below instead."""

    def event_names(self) -> list[str]:
        """Every event name, sorted."""
        ...

    def property_keys(self) -> list[str]:
        """Every top-level property key, sorted."""
        ...

    def event_span(self, names: Iterable[str]) -> tuple[int | None, int | None]:
        """Epoch microseconds of the earliest and latest event with one of ``names``, or
        (None, None) when the engine does not know them cheaply."""
        ...


Source = duckdb.DuckDBPyConnection | Catalog


def _names_hint(con: Source, method: str, sql: str) -> str:
    """Where a user reads the names: the warehouse's catalog, or another engine's Catalog."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        return f"check the name in wb.sql({sql!r})"
    return f"check the name in {method}() of the Spark workbench (on.{method}())"


def has_catalog(con: duckdb.DuckDBPyConnection) -> bool:
    """The connection's warehouse has the catalog, and its counts add up to the events."""
    return bool(fetch_value(con, _HAS_CATALOG)) and bool(fetch_value(con, _IN_STEP))


def event_names(con: Source) -> list[str]:
    """Every event name in the warehouse, sorted (from the catalog when it fits)."""
    if not isinstance(con, duckdb.DuckDBPyConnection):
        return con.event_names()
    sql = "SELECT event FROM event_catalog" if has_catalog(con) else EVENTS_SQL
    return sorted(str(r[0]) for r in fetch_all(con, sql))


def property_keys(con: Source) -> list[str]:
    """Every top-level property key any event carries, sorted (from the catalog when it fits)."""
    if not isinstance(con, duckdb.DuckDBPyConnection):
        return con.property_keys()
    sql = "SELECT DISTINCT key FROM property_catalog" if has_catalog(con) else KEYS_SQL
    return sorted(str(r[0]) for r in fetch_all(con, sql))


def event_span(con: Source, names: Iterable[str]) -> tuple[int | None, int | None]:
    """Epoch microseconds of the earliest and latest event with one of ``names``, from the catalog
    (None, None without a catalog that fits, or when none occurs): a few rows, never the events."""
    if not isinstance(con, duckdb.DuckDBPyConnection):
        return con.event_span(names)
    wanted = sorted(set(names))
    if not wanted or not has_catalog(con):
        return None, None
    marks = ", ".join("?" for _ in wanted)
    rows = fetch_all(
        con,
        f"SELECT epoch_us(min(first_ts)), epoch_us(max(last_ts)) FROM event_catalog "
        f"WHERE event IN ({marks})",
        wanted,
    )
    first, last = rows[0]
    return (int(first), int(last)) if first is not None else (None, None)


def check_events(
    con: Source,
    names: Iterable[str | None],
    area: str,
    strict: bool = True,
) -> list[PoaWarning]:
    """Names no event has: ``{area}.unknown_event`` when ``strict``, else a ``PoaWarning`` each
    (``{area}.missing_event``, also returned, for the result's ``warnings``), issued at the
    caller's line (``errors.warn``).

    None (any event) always passes, and so does every name while the warehouse holds no events: its
    metrics are all zero (F13), not errors.
    """
    wanted = [n for n in dict.fromkeys(names) if n is not None]
    if not wanted:
        return []
    known = event_names(con)
    names = set(known)
    found = []
    for name in wanted:
        if known and name not in names:
            if strict:
                raise MetricError(
                    f"no event is called {name!r}.{did_you_mean(name, known)}",
                    code=f"{area}.unknown_event",
                    hint=_names_hint(con, "event_names", EVENTS_HINT),
                )
            warning = PoaWarning(
                f"no event is called {name!r}, so nobody reached it: its counts are zero."
                f"{did_you_mean(name, known)}",
                code=f"{area}.missing_event",
                hint="if the name is right, the event has no data yet; pass strict=True to refuse "
                "unknown events instead",
            )
            warn(warning)  # at the line that called wb.funnel, ...
            found.append(warning)
    return found


def check_properties(con: Source, names: Iterable[str], area: str) -> None:
    """Raise ``{area}.unknown_property`` for the first property key no event carries."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    known = property_keys(con)
    names = set(known)
    for name in wanted:
        if name not in names:
            raise MetricError(
                f"no event has a property {name!r}.{did_you_mean(name, known)}",
                code=f"{area}.unknown_property",
                hint=_names_hint(con, "property_keys", KEYS_HINT),
            )


def check_filters(con: Source, steps: Iterable[Step], area: str) -> None:
    """The steps' property names exist, and their regular expressions compile in DuckDB (RE2:
    no look-arounds or back-references): ``{area}.unknown_property``, ``step.filter_regex``.
    On another engine the expressions are checked by an in-memory DuckDB all the same, so both
    engines accept the same expressions."""
    steps = list(steps)
    check_properties(con, [p for s in steps for p in s.props], area)
    if isinstance(con, duckdb.DuckDBPyConnection):
        _check_regexes(con, steps)
    elif any(f.op in ("regex", "not_regex") for s in steps for f in s.filters):
        with duckdb.connect() as mem:
            _check_regexes(mem, steps)


def _check_regexes(con: duckdb.DuckDBPyConnection, steps: list[Step]) -> None:
    for s in steps:
        for f in s.filters:
            if f.op in ("regex", "not_regex"):
                try:
                    fetch_all(con, "SELECT regexp_matches('', ?)", [f.value])
                except duckdb.Error as exc:
                    raise MetricError(
                        f"cannot read the regular expression {f.value!r} on {f.prop!r}: "
                        f"{str(exc).splitlines()[0]}",
                        code="step.filter_regex",
                        hint="DuckDB's regular expressions are RE2: no look-arounds or "
                        "back-references; (?i) ignores case",
                    ) from exc
