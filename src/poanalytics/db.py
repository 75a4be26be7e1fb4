"""The DuckDB connection: the only module that opens DuckDB.

Identifiers go through :func:`quote_ident`; values are always bound parameters.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .errors import WarehouseError


def quote_ident(name: str) -> str:
    """Quote an identifier (table or column name) for DuckDB SQL."""
    if not isinstance(name, str) or name == "" or "\x00" in name:
        raise WarehouseError(
            f"invalid SQL identifier {name!r}",
            code="db.identifier",
            hint="use a non-empty name without NUL characters",
        )
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string constant, for the few places DuckDB refuses parameters (table functions' options)."""
    return "'" + str(value).replace("'", "''") + "'"


def connect(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open (or create) a DuckDB database with poanalytics' session settings."""
    target = str(path)
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(target)
    except duckdb.IOException as exc:
        raise WarehouseError(
            f"cannot open the warehouse {target}: {exc}",
            code="db.open",
            hint="close other programs (or notebooks) that hold the file open, or pass another path",
        ) from exc
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB turns an ASOF join whose left side it *estimates* small into a nested loop; behind the
    # funnel's CTEs the estimate is a handful of rows while the truth is every attempt, and the loop
    # then costs 10x the whole funnel (13 s instead of 0.1 s at 10M events). Always use the real one.
    with contextlib.suppress(duckdb.CatalogException, duckdb.InvalidInputException):
        con.execute("SET asof_loop_join_threshold = 0")
    # In Jupyter, DuckDB refuses to touch the setting without ipywidgets; it is off there anyway.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    return con


def fetch_df(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pd.DataFrame:
    """Run a query with bound parameters and return a DataFrame."""
    cur = con.execute(sql, params) if params is not None else con.execute(sql)
    return cur.df()


def fetch_all(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple]:
    cur = con.execute(sql, params) if params is not None else con.execute(sql)
    return cur.fetchall()


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple | None:
    cur = con.execute(sql, params) if params is not None else con.execute(sql)
    return cur.fetchone()


def fetch_value(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> Any:
    """The first column of the first row (a count, a flag, a single value)."""
    row = fetch_one(con, sql, params)
    if row is None:
        raise WarehouseError(f"query returned no row: {sql[:80]}", code="db.no_row")
    return row[0]


def table_columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    """(name, type) of every column of a table or view."""
    rows = fetch_all(con, f"DESCRIBE SELECT * FROM {relation}")  # noqa: S608 - relation is quoted by callers
    return [(r[0], r[1]) for r in rows]
