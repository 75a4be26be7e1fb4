"""Rewrite the events table in user order: ``poanalytics optimize`` (``Workbench.optimize``:
``sort_events``, then ``compact_events`` on a new attachment of the file).

Loads append events in the order their files hold them, so one user's events lie scattered over
the whole table, and every per-user question (funnels, paths, retention, lifecycle) hashes all of
them into users first. Written in (user_id, ts, load order) order, each user's events lie
together and in time order: the same questions answer in about 60-75% of the time
(docs/performance.md), with the same numbers. This is what ClickHouse's MergeTree ``ORDER BY`` and
Delta's ``OPTIMIZE ... ZORDER BY`` do; here it is an explicit step, because a load that sorted
would cost about twice as long.

What it keeps:

- every row, checked by counting the table before and after in the same transaction;
- the order in which one user's events were loaded (rows at one instant keep their load order,
  which decides ties the funnel contract leaves open, F6), and the order of everything loaded
  later, which is appended after;
- the table itself (its constraints, the catalogs, the load log): its rows are copied in order
  and the old ones deleted, in one transaction, then DuckDB checkpoints to free their space.

What it changes: ties between *different* users' events at one instant are read in user order
instead of load order. Only a funnel counted by a group of users (``unit=`` a company or session,
F17) compares such events, and only rows that can fill the same lowest step at the same
microsecond; their order is one the contract leaves open, before and after.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from ..db import execute, fetch_one
from ..errors import WarehouseError


@dataclass
class OptimizeReport:
    """What ``Workbench.optimize`` (``sort_events``, ``compact_events``) did: ``free_bytes`` is
    the space left free inside the file (reused by later loads)."""

    events: int
    seconds: float
    compacted: bool = False
    free_bytes: int = 0

    def __str__(self) -> str:
        text = f"events rewritten in user order: {self.events:,} events in {self.seconds:.1f} s"
        if self.free_bytes >= 1 << 20:
            text += f"; {self.free_bytes / (1 << 20):,.0f} MB free inside the file for later loads"
        return text


def sort_events(con: duckdb.DuckDBPyConnection) -> OptimizeReport:
    """Rewrite ``events`` in (user_id, ts, load order) order in one transaction, then checkpoint.
    Fails with ``db.optimize_lost_rows`` (and changes nothing) if the count differs afterwards.
    The copies go after the old rows, whose blocks stay in the file, free: ``compact_events``
    on a new attachment of the file moves the rows into them."""
    return _in_order(con, "ORDER BY user_id, ts, rowid")


def compact_events(con: duckdb.DuckDBPyConnection) -> float | None:
    """Copy ``events`` once more in its own order, into the blocks the last rewrite freed at the
    start of the file (DuckDB reuses them once the file is attached again), after which it cuts
    the free end off; the same checks as ``sort_events``. Returns its seconds, or None (and does
    nothing) when the table needs more blocks than are free: the copy would only grow the file
    (events in user order can take more room than in load order, their times compress less)."""
    free = fetch_one(
        con,
        "SELECT free_blocks FROM pragma_database_size() WHERE database_name = current_database()",
    )
    used = fetch_one(
        con,
        "SELECT count(DISTINCT block_id) FROM pragma_storage_info('events') WHERE block_id >= 0",
    )
    if free is None or used is None or int(free[0]) < int(used[0]):
        return None
    return _in_order(con, "").seconds  # preserve_insertion_order: the copies keep the rowid order


def free_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """The space inside the file DuckDB holds free (reused by later writes)."""
    row = fetch_one(
        con,
        "SELECT free_blocks * block_size FROM pragma_database_size() "
        "WHERE database_name = current_database()",
    )
    return int(row[0]) if row else 0


def _in_order(con: duckdb.DuckDBPyConnection, order: str) -> OptimizeReport:
    started = time.perf_counter()
    kept = fetch_one(con, "SELECT current_setting('preserve_insertion_order')")
    execute(con, "SET preserve_insertion_order = true")  # the copies are written in order
    try:
        report = _rewrite(con, order)
    finally:
        execute(con, f"SET preserve_insertion_order = {'true' if kept and kept[0] else 'false'}")
    execute(con, "CHECKPOINT")  # the deleted rows' blocks free
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _rewrite(con: duckdb.DuckDBPyConnection, order: str) -> OptimizeReport:
    """Copy every event in ``order`` (a fixed clause) and delete the old rows, in one
    transaction."""
    execute(con, "BEGIN TRANSACTION")
    try:
        before, last = _count_and_last_rowid(con)
        if before:
            # the old rows keep their rowids until deleted; the copies come after the last of them
            execute(con, f"INSERT INTO events SELECT * FROM events {order}")
            execute(con, "DELETE FROM events WHERE rowid <= $last", {"last": last})
            after, _ = _count_and_last_rowid(con)
            if after != before:
                raise WarehouseError(
                    f"rewriting the events would leave {after:,} of {before:,} events",
                    code="db.optimize_lost_rows",
                    hint="nothing was changed; report this with the warehouse's `poanalytics "
                    "status`, and keep using the warehouse as it is",
                )
        execute(con, "COMMIT")
    except BaseException:
        execute(con, "ROLLBACK")
        raise
    return OptimizeReport(events=before, seconds=0.0)


def _count_and_last_rowid(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    row = fetch_one(con, "SELECT count(*), coalesce(max(rowid), -1) FROM events")
    assert row is not None
    return int(row[0]), int(row[1])
