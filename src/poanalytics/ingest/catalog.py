"""The event and property catalog (``event_catalog``, ``property_catalog``; schema migration 6),
kept exact by every change to ``events`` in that change's own transaction.

A load calls ``add_load`` once, inside its transaction, after its rows are written: the counts of the
rows it added (``WHERE load_id = ?``, which DuckDB answers from the last row groups only: their
min/max statistics skip the rest) are added to the catalog, so a load costs one read of its own rows,
never a scan of the warehouse. A failed load rolls the catalog back with its events.

Nothing in poanalytics deletes events or changes their names or properties (identity stitching only
sets ``user_id``, which the catalog does not hold). A change made by hand (``wb.con.execute("INSERT
INTO events ...")``) leaves the catalog behind: the metrics notice that its counts no longer add up to
the events and read the events instead (``poanalytics.metrics.catalog``), and the next load, finding
the same, rebuilds it from all the events (``rebuild``, which can also be called by hand). A future
path that deletes or edits events must keep the catalog in its transaction too (the simplest:
``rebuild`` before COMMIT; tests/test_catalog.py compares the catalog with a full scan).
"""

from __future__ import annotations

import duckdb

from ..db import fetch_value
from ..sql import Params

# The catalog of a set of events, in one read of them (``{rows}``: a relation with event, ts and
# properties). Each event's properties are parsed once, by json_structure (its keys and their JSON
# types); events are grouped by name and structure (a few hundred groups, however many events), and
# each group's keys are read from its structure: far cheaper than a json_each or a json_type call per
# key of every event.
GROUPED = (
    "SELECT event, json_structure(properties) AS s, count(*) AS n, min(ts) AS first_ts, "
    "max(ts) AS last_ts FROM {rows} GROUP BY ALL"
)
EVENTS_OF = (
    "SELECT event, sum(n)::BIGINT AS events, min(first_ts) AS first_ts, max(last_ts) AS last_ts "
    "FROM {grouped} GROUP BY event"
)
PROPERTIES_OF = """
SELECT g.event, j.key, CASE j.type WHEN 'VARCHAR' THEN j.value ->> '$' ELSE j.type END AS json_type,
       sum(g.n)::BIGINT AS events
FROM {grouped} AS g, json_each(g.s) AS j
WHERE json_type(g.s) = 'OBJECT' AND j.key IS NOT NULL
GROUP BY ALL"""

_GROUPED = "__poa_catalog_grouped"
_NEW = "__poa_catalog_new"


def _write(con: duckdb.DuckDBPyConnection, table: str, query: str) -> None:
    con.execute(f"CREATE TEMP TABLE {_NEW} AS {query}")
    con.execute(f"DELETE FROM {table}")
    con.execute(f"INSERT INTO {table} SELECT * FROM {_NEW}")
    con.execute(f"DROP TABLE {_NEW}")


def add_load(con: duckdb.DuckDBPyConnection, table: str, load_id: int) -> None:
    """Add the events load ``load_id`` wrote to the catalog: call it inside the load's transaction,
    once its rows are written. A load into another table (tickets, notes) changes nothing."""
    if table != "events":
        return
    p = Params()
    rows = f"(SELECT event, ts, properties FROM events WHERE load_id = {p.add(int(load_id))})"
    # no try/finally: a failure aborts the load's transaction, whose rollback drops the temp tables
    con.execute(f"CREATE TEMP TABLE {_GROUPED} AS {GROUPED.format(rows=rows)}", p.values)
    behind = fetch_value(
        con,
        "SELECT (SELECT coalesce(sum(events), 0) FROM event_catalog) "
        f"+ (SELECT coalesce(sum(n), 0) FROM {_GROUPED}) <> (SELECT count(*) FROM events)",
    )
    if behind:  # events were written by hand since: this load makes the catalog exact again
        con.execute(f"DROP TABLE {_GROUPED}")
        rebuild(con)
        return
    # a name's count grows by the batch's and its span widens to the batch's; new names are added.
    # The catalog is small (a row per name, and per name, key and type): it is written again whole.
    batch = EVENTS_OF.format(grouped=_GROUPED)
    _write(
        con,
        "event_catalog",
        "SELECT event, sum(events)::BIGINT, min(first_ts), max(last_ts) FROM "
        f"(SELECT * FROM event_catalog UNION ALL {batch}) GROUP BY event",
    )
    batch = PROPERTIES_OF.format(grouped=_GROUPED)
    _write(
        con,
        "property_catalog",
        "SELECT event, key, json_type, sum(events)::BIGINT FROM "
        f"(SELECT * FROM property_catalog UNION ALL ({batch})) GROUP BY ALL",
    )
    con.execute(f"DROP TABLE {_GROUPED}")


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Make the catalog that of every event in the warehouse, in one full read (after events were
    changed by hand). Runs in the caller's transaction if one is open."""
    con.execute(f"CREATE TEMP TABLE {_GROUPED} AS {GROUPED.format(rows='events')}")
    _write(con, "event_catalog", EVENTS_OF.format(grouped=_GROUPED))
    _write(con, "property_catalog", PROPERTIES_OF.format(grouped=_GROUPED))
    con.execute(f"DROP TABLE {_GROUPED}")
