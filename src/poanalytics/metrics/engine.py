"""The seam between building a metric's SQL and running it (issue 12).

A metric is three steps: validate the query against the warehouse (names, catalog), build SQL text
from the validated plan, run it. Building needs no connection: a builder takes the plan, a
``Params`` to bind values into, the events ``table`` and a ``Dialect``, and returns text. Running is
a ``Runner``'s job: it executes built SQL with its bound values and returns a table.

``Dialect`` names the few pieces of SQL that are DuckDB's own spelling (epoch microseconds, JSON
text extraction, a local wall-clock timestamp, a row generator, arg_min, ordered list aggregation,
struct construction). A builder never writes those functions itself; it asks its dialect. Another
engine (Spark, issue 13) adds a module with a ``Dialect`` subclass and a ``Runner`` that executes
on it, and every metric builds for it unchanged.

``DuckDBRunner`` runs on a DuckDB connection; the Workbench makes one per call, over the
connection its ``db.Session`` holds for that call, with the events table it was opened with.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb
import pandas as pd

from ..db import fetch_df, fetch_value
from ..sql import Params, quote_ident
from .spec import MetricError

EVENTS = "events"  # the warehouse's events table: the default of runners, never of builders


class Dialect:
    """DuckDB's spelling of the engine-specific SQL pieces; another engine subclasses this."""

    name = "duckdb"

    def table(self, name: str) -> str:
        """A table name as SQL (quoted identifier)."""
        return quote_ident(name)

    def epoch_us(self, ts: str) -> str:
        """Microseconds since the epoch of the instant ``ts`` (an integer)."""
        return f"epoch_us({ts})"

    def utc_wall(self, ts: str) -> str:
        """The instant ``ts`` as a zone-less TIMESTAMP of its UTC wall time."""
        return f"make_timestamp(epoch_us({ts}))"

    def json_text(self, column: str, path: str) -> str:
        """The value at JSON ``path`` (a bound '$.name' parameter) of ``column`` as text, NULL when
        missing."""
        return f"json_extract_string({column}, {path})"

    def json_keys(self, column: str) -> str:
        """The top-level keys of the JSON ``column``, one row each (a set-returning expression)."""
        return f"unnest(json_keys({column}))"

    def series(self, start: str, stop: str, alias: str = "t", column: str = "k") -> str:
        """A FROM item of the integers start .. stop - 1 as ``alias(column)``."""
        return f"range({start}, {stop}) AS {alias}({column})"

    def arg_min(self, value: str, key: str) -> str:
        """``value`` on the row with the smallest ``key`` (NULL values skipped)."""
        return f"arg_min({value}, {key})"

    def list_agg(self, expr: str, order: str) -> str:
        """The values of ``expr`` in a group as a list, ordered by ``order``."""
        return f"list({expr} ORDER BY {order})"

    def struct(self, **fields: str) -> str:
        """A struct (named tuple) value of SQL expressions."""
        return "struct_pack(" + ", ".join(f"{k} := {v}" for k, v in fields.items()) + ")"

    def ident(self, name: str) -> str:
        """A column alias or other identifier as SQL (quoted)."""
        return quote_ident(name)

    def json_path(self, key: str) -> str:
        """The JSON path (a value to bind) of the top-level key ``key``."""
        return "$." + json.dumps(key)

    def instant(self, value: str) -> str:
        """A bound instant (a tz-aware timestamp parameter) as the engine's instant type."""
        return f"CAST({value} AS TIMESTAMPTZ)"

    def local_wall(self, ts: str, tz: str) -> str:
        """The wall-clock TIMESTAMP in zone ``tz`` (bound) of the instant ``ts``."""
        return f"timezone({tz}, {ts})"

    def from_local(self, local: str, tz: str) -> str:
        """The instant at which the wall clock of zone ``tz`` (bound) shows ``local``."""
        return f"timezone({tz}, {local})"

    def trunc(self, unit: str, local: str) -> str:
        """The local timestamp ``local`` truncated to its ``unit`` (day, week, month; a literal)."""
        return f"date_trunc('{unit}', {local})"

    def days_between(self, a: str, b: str) -> str:
        """Whole days from the local timestamp ``a`` to ``b`` (midnights crossed)."""
        return f"date_diff('day', {a}, {b})"

    def months_between(self, a: str, b: str) -> str:
        """Whole months from the local timestamp ``a`` to ``b`` (month starts crossed)."""
        return f"date_diff('month', {a}, {b})"

    def int_div(self, a: str, b: str) -> str:
        """Integer division, truncating toward zero."""
        return f"({a} // {b})"

    def add_days(self, ts: str, k: str) -> str:
        """The local timestamp ``ts`` plus ``k`` (an integer expression) calendar days."""
        return f"({ts} + to_days(CAST({k} AS INTEGER)))"

    def add_months(self, ts: str, k: str) -> str:
        """The local timestamp ``ts`` plus ``k`` calendar months (clamped to the month's end)."""
        return f"({ts} + to_months(CAST({k} AS INTEGER)))"

    def add_us(self, ts: str, us: str) -> str:
        """The instant ``ts`` plus ``us`` microseconds."""
        return f"({ts} + to_microseconds({us}))"

    def text_test(self, op: str, text: str, value: str) -> str:
        """``text`` contains / starts with / ends with ``value`` (op: contains, starts_with,
        ends_with)."""
        name = {"contains": "contains", "starts_with": "starts_with", "ends_with": "suffix"}[op]
        return f"{name}({text}, {value})"

    def regex_test(self, text: str, pattern: str) -> str:
        """``pattern`` matches somewhere in ``text``."""
        return f"regexp_matches({text}, {pattern})"

    def day_label(self, ts: str) -> str:
        """The local timestamp ``ts``'s date as 'YYYY-MM-DD' text."""
        return f"strftime({ts}, '%Y-%m-%d')"

    def with_user_id(self, source: str, expr: str) -> str:
        """The rows of ``source`` with ``user_id`` replaced by ``expr`` and the row order as
        ``rowid``."""
        return f"SELECT * REPLACE ({expr} AS user_id), rowid AS rowid FROM {source}"

    # -- pieces the funnel needs (metrics/funnel_sql.py, funnel_unordered.py, funnel.py) -------

    # whether ``WITH x AS MATERIALIZED (...)`` computes a CTE once for all its references; an
    # engine without it is given queries that read each heavy CTE once
    materializes_ctes = True
    # whether a correlated subquery may name the enclosing query's alias ``b`` when its own table
    # has a column ``b`` (DuckDB looks the alias up; Spark reads the column); without it, a value
    # looked up by key is joined instead
    correlated_alias = True
    # a sliding window frame (RANGE BETWEEN CURRENT ROW AND x FOLLOWING) costs about the rows it
    # holds per row (DuckDB: segment trees); where it is evaluated again for every row (Spark),
    # builders write it as the difference of two growing frames instead
    sliding_frames = True

    def row_position(self, packed: str, partition: str, order: list[str]) -> str:
        """A number ordering the rows of each ``partition`` as the expressions ``order`` do,
        compared only within a partition. ``packed`` is the same order as one number built by the
        caller (the funnel's HUGEINT key: time, step, rowid), used where the engine has integers
        that wide; an engine without them numbers the rows with a window (``order`` then ends in
        enough columns that rows it ties are identical)."""
        return packed

    def ranked_key(self, rank: str, position: str, shift: int) -> str:
        """A key ordering by ``rank`` (a small non-negative integer), then ``position`` (below
        2^``shift``): one HUGEINT here, a struct where there is none."""
        return f"(({rank})::HUGEINT << {shift}) + {position}"

    def list_value(self, *items: str) -> str:
        """A list (array) of the expressions ``items``: an ordering key compared element-wise."""
        return "[" + ", ".join(items) + "]"

    def replacing(self, alias: str, columns: list[str], column: str, expr: str) -> str:
        """The select list of every column of ``alias`` (``columns``, in order) with ``column``
        replaced by ``expr``."""
        return f"{alias}.* REPLACE ({expr} AS {column})"

    # lists (arrays) and lambdas: the funnel's attempt chains on engines that number rows
    # (``metrics/funnel_chase.py``); ``var`` and ``acc`` name a lambda's parameters

    def list_item(self, lst: str, index: str) -> str:
        """The element at 1-based ``index`` of ``lst``; NULL when out of range or NULL."""
        return f"{lst}[{index}]"

    def list_transform(self, lst: str, var: str, expr: str) -> str:
        """``expr`` (of ``var``) for every element of ``lst``."""
        return f"list_transform({lst}, {var} -> {expr})"

    def list_filter(self, lst: str, var: str, cond: str) -> str:
        """The elements of ``lst`` for which ``cond`` (of ``var``) is true, in order."""
        return f"list_filter({lst}, {var} -> {cond})"

    def list_any(self, lst: str, var: str, cond: str) -> str:
        """Whether ``cond`` is true for some element of ``lst`` (false for none, NULL or empty)."""
        return f"coalesce(len(list_filter({lst}, {var} -> coalesce({cond}, false))) > 0, false)"

    def list_fold(self, lst: str, init: str, acc: str, var: str, expr: str) -> str:
        """``expr`` of (``acc``, ``var``) folded over ``lst`` from ``init``."""
        return f"list_reduce({lst}, ({acc}, {var}) -> {expr}, {init})"

    def list_max(self, lst: str) -> str:
        """The largest element of ``lst`` (NULL when empty)."""
        return f"list_max({lst})"

    def list_min(self, lst: str) -> str:
        """The smallest element of ``lst`` (NULL when empty); structs compare field by field."""
        return f"list_min({lst})"

    def list_len(self, lst: str) -> str:
        """The number of elements of ``lst``."""
        return f"len({lst})"

    def list_slice(self, lst: str, start: str, length: str) -> str:
        """``length`` elements of ``lst`` from 1-based ``start`` (fewer at its end)."""
        return f"list_slice({lst}, {start}, ({start}) + ({length}) - 1)"

    def list_concat(self, a: str, b: str) -> str:
        """The elements of ``a``, then those of ``b``."""
        return f"list_concat({a}, {b})"


DUCKDB = Dialect()


class Runner(Protocol):
    """Executes built SQL with its bound values; the one place a metric touches a connection."""

    @property
    def dialect(self) -> Dialect:
        """The SQL spelling the engine reads."""
        ...

    @property
    def table_name(self) -> str:
        """The events table builders read (the warehouse's ``events`` unless told otherwise)."""
        ...

    def table(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        """The result of ``sql`` as a DataFrame."""
        ...

    def value(self, sql: str, params: dict[str, Any]) -> Any:
        """The first column of the first row of ``sql``."""
        ...


@dataclass(frozen=True)
class DuckDBRunner:
    """Runs built SQL on a DuckDB connection (the Workbench's, during one call)."""

    con: duckdb.DuckDBPyConnection
    table_name: str = EVENTS
    dialect: Dialect = DUCKDB

    def table(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        return fetch_df(self.con, sql, params)

    def value(self, sql: str, params: dict[str, Any]) -> Any:
        return fetch_value(self.con, sql, params)


def runner_for(con: duckdb.DuckDBPyConnection | Runner, table: str = EVENTS) -> Runner:
    """A runner over ``con`` (a DuckDB connection, or a runner passed through as it is)."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        return DuckDBRunner(con, table)
    return con


@dataclass
class EventsSQL:
    """What a query of one's own over the events is written with (``events_query``): the events
    table as SQL (``events``), each value bound, never pasted (``value``, ``instant``), and the
    engine's spelling of what engines spell differently (``dialect``: ``epoch_us``, ``json_text``,
    ``json_path``, ``trunc``, ...)."""

    dialect: Dialect
    events: str
    params: Params = field(default_factory=Params)

    def value(self, value: Any) -> str:
        """A bound value's placeholder."""
        return self.params.add(value)

    def instant(self, value: Any) -> str:
        """A bound instant (a tz-aware timestamp) as the engine's instant type, to compare with
        ``ts``."""
        return self.dialect.instant(self.params.add(value))

    def property(self, key: str, column: str = "properties") -> str:
        """The top-level property ``key`` of ``column`` as text (NULL when missing)."""
        return self.dialect.json_text(column, self.params.add(self.dialect.json_path(key)))


def run_events_query(runner: Runner, build: Callable[[EventsSQL], str]) -> pd.DataFrame:
    """The table of the SQL ``build`` writes for ``runner``'s engine, over its events."""
    q = EventsSQL(runner.dialect, runner.dialect.table(runner.table_name))
    sql = build(q)
    if not isinstance(sql, str):
        raise MetricError(
            f"an events query's build function returned {type(sql).__name__}, not SQL text",
            code="metric.events_query",
            hint='return the SQL as text, e.g. lambda q: f"SELECT count(*) AS n FROM {q.events}"',
        )
    return runner.table(sql, q.params.used_in(sql))
