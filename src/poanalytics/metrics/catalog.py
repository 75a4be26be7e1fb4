"""What the warehouse's events are called and which property keys they carry: the one check every
metric query makes of its event and property names (MetricError with a stable code, "did you mean")."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from ..db import fetch_all
from ..errors import did_you_mean
from .spec import MetricError

EVENTS_SQL = "SELECT DISTINCT event FROM events"
KEYS_SQL = "SELECT DISTINCT unnest(json_keys(properties)) FROM events WHERE properties IS NOT NULL"


def check_events(con: duckdb.DuckDBPyConnection, names: Iterable[str | None], area: str) -> None:
    """Raise ``{area}.unknown_event`` for the first name no event has.

    None (any event) always passes, and so does every name while the warehouse holds no events: its
    metrics are all zero (F13), not errors.
    """
    wanted = [n for n in names if n is not None]
    if not wanted:
        return
    known = {r[0] for r in fetch_all(con, EVENTS_SQL)}
    for name in wanted:
        if known and name not in known:
            raise MetricError(
                f"no event is called {name!r}.{did_you_mean(name, known)}",
                code=f"{area}.unknown_event",
                hint=f"check the name in wb.sql({EVENTS_SQL!r})",
            )


def check_properties(con: duckdb.DuckDBPyConnection, names: Iterable[str], area: str) -> None:
    """Raise ``{area}.unknown_property`` for the first property key no event carries."""
    wanted = list(names)
    if not wanted:
        return
    known = {r[0] for r in fetch_all(con, KEYS_SQL)}
    for name in wanted:
        if name not in known:
            raise MetricError(
                f"no event has a property {name!r}.{did_you_mean(name, known)}",
                code=f"{area}.unknown_property",
                hint=f"check the name in wb.sql({KEYS_SQL!r})",
            )
