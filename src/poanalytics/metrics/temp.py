"""Temp tables that outlive one query (a funnel's per-unit table) and when they are dropped.

A result's table cannot be dropped from the garbage collector: a finalizer that ran a statement on
the connection could land between a caller's ``con.execute`` and its ``.df()`` and replace the
result being read. So a finalizer only notes the table as released (``release``), and the next
metric call or ``wb.sql`` on that connection drops it (``drop_released``), between statements.
"""

from __future__ import annotations

import contextlib

import duckdb

_RELEASED: dict[int, list[str]] = {}  # id(connection) -> quoted names of released temp tables


def release(con_id: int, name: str) -> None:
    """Note ``name`` (quoted) as no longer needed; runs no SQL (safe in a finalizer)."""
    _RELEASED.setdefault(con_id, []).append(name)


def drop_table(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a temp table (quoted name) if it exists; a closed connection has none left anyway."""
    # con.execute, not db.execute: the failed statement stays the one an error report shows
    with contextlib.suppress(duckdb.ConnectionException):
        con.execute(f"DROP TABLE IF EXISTS {name}")


def drop_released(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the released temp tables of this connection (call between statements)."""
    for name in _RELEASED.pop(id(con), []):
        drop_table(con, name)
