"""User paths (like PostHog's and Amplitude's): the most common sequences of events after an event
(``start_event``) or before one (``end_event``). Query object -> validation -> SQL (paths_sql) ->
result with a Sankey-ready edge table, the top whole sequences, their SQL and a figure."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from ..db import drop_table, execute, fetch_all, fetch_df, quote_ident
from ..errors import PoaWarning
from ..sql import Params
from .catalog import Source, check_events, check_filters
from .engine import DUCKDB, EVENTS, Dialect, DuckDBRunner, Runner, runner_for
from .paths_sql import (
    PathPlan,
    Stream,
    edges_sql,
    first_path_sql,
    only_users,
    path_parts,
    path_sql,
    prune_orphans,
    report_sql,
    sequences_sql,
    with_nodes,
)
from .predicates import step_predicate
from .result import MetricResult
from .spec import MetricError, Step
from .validate import (
    check_choice,
    check_event,
    check_flag,
    check_int,
    event_names,
    metric_boundary,
    parse_range,
    parse_window,
)

OCCURRENCES = ("first", "every")
MAX_STEPS = 20
EDGE_COLUMNS = ["step", "source", "target", "users", "paths"]
SEQUENCE_COLUMNS = ["path", "events", "users", "paths", "share"]


@dataclass(kw_only=True)
class PathsQuery:
    start_event: str | Step | None = None
    end_event: str | Step | None = None
    steps: int = 5
    window: Any = None
    occurrence: str = "first"
    collapse_repeats: bool = True
    exclude_events: Sequence[str] | str = ()
    date_from: Any = None
    date_to: Any = None
    top: int = 10
    max_edges: int = 50
    min_users: int = 1
    strict: bool = False


@dataclass
class PathsResult(MetricResult):
    """``table``: the edges (step, source, target, users, paths), ready for a Sankey;
    ``sequences``: the top whole paths; ``users``: users with at least one path."""

    sequences: pd.DataFrame = field(default_factory=pd.DataFrame)
    users: int = 0
    title: str = "Paths"

    @property
    def edges(self) -> pd.DataFrame:
        return self.table

    def figure(self):
        """A plotly Sankey of the edges: one column per step, link widths are users."""
        from ..charts.paths import paths_figure

        return paths_figure(self.table, self.title)


def check_count(value: Any, name: str, code: str, low: int = 1, high: int | None = None) -> int:
    """A whole number in [low, high]; else a MetricError with ``code``."""
    return int(check_int(value, name, code, low, high))


def check_window(value: Any, name: str, code: str) -> int | None:
    """Seconds, or None for no limit. Errors: ``code`` (not positive), ``code``_format (unreadable),
    ``code``_unit (a bare number)."""
    if value is None:
        return None
    return parse_window(value, name, code)


def excluded_events(q: PathsQuery) -> tuple[str, ...]:
    """One event name or several; a bare string is one name, not its letters."""
    return event_names(q.exclude_events, "exclude_events", code="paths.exclude_type")


def plan_paths(
    con: Source, q: PathsQuery, warnings: list[PoaWarning] | None = None
) -> tuple[PathPlan, Step | None]:
    """Validate against the warehouse, or another engine's catalog (MetricError with a stable
    ``paths.*`` code)."""
    if q.start_event is not None and q.end_event is not None:
        raise MetricError(
            "give a start_event or an end_event, not both",
            code="paths.start_and_end",
            hint="paths from an event: start_event=...; paths leading to an event: end_event=...",
        )
    steps = check_count(q.steps, "steps", code="paths.steps", low=2, high=MAX_STEPS)
    check_count(q.top, "top", code="paths.top")
    check_count(q.max_edges, "max_edges", code="paths.max_edges")
    check_count(q.min_users, "min_users", code="paths.min_users")
    check_choice(q.occurrence, OCCURRENCES, "occurrence", code="paths.occurrence")
    check_flag(q.collapse_repeats, "collapse_repeats", code="paths.collapse_repeats")
    check_flag(q.strict, "strict", code="paths.strict")
    given = q.start_event if q.start_event is not None else q.end_event
    which = "start_event" if q.start_event is not None else "end_event"
    anchor = check_event(given, which, "paths") if given is not None else None
    if q.occurrence == "every" and anchor is None:
        raise MetricError(
            "occurrence='every' needs a start_event or an end_event",
            code="paths.occurrence_needs_event",
            hint="without an event, each user's path starts at their first event in the range",
        )
    excluded = excluded_events(q)
    window = check_window(q.window, "window", code="paths.window")
    parse_range(q.date_from, q.date_to, "paths")
    found = check_events(con, [anchor.event if anchor else None, *excluded], "paths", q.strict)
    if warnings is not None:
        warnings.extend(found)
    if anchor is not None and anchor.event is not None and anchor.event in excluded:
        raise MetricError(
            f"{anchor.event!r} is both the path's event and excluded",
            code="paths.exclude_anchor",
            hint="remove it from exclude_events",
        )
    check_filters(con, [anchor] if anchor is not None else [], "paths")
    plan = PathPlan(
        direction="to" if q.end_event is not None else "from",
        steps=steps,
        window=window,
        collapse=bool(q.collapse_repeats),
        first_only=q.occurrence == "first",
    )
    return plan, anchor


def events_stream(
    q: PathsQuery,
    plan: PathPlan,
    anchor: Step | None,
    params: Params,
    *,
    table: str,
    dialect: Dialect = DUCKDB,
) -> Stream:
    """The events ``table`` as a path stream: date bounds, exclusions, the anchor predicate.

    The anchor must fall in [date_from, date_to]; the rest of a path may lie outside the range
    (as a funnel's later steps may, F12), up to the window.
    """
    lo, hi = parse_range(q.date_from, q.date_to, "paths")  # a bare date_to: the whole day
    d = dialect
    dfrom = d.instant(params.add(lo)) if lo is not None else None
    dto = d.instant(params.add(hi)) if hi is not None else None
    w_us = params.add(plan.window * 1_000_000) if plan.window is not None else None
    in_range = [f"e.ts >= {dfrom}"] if dfrom else []
    in_range += [f"e.ts <= {dto}"] if dto else []
    where = []
    if plan.direction == "from":
        where += [f"e.ts >= {dfrom}"] if dfrom else []
        where += [f"{d.epoch_us('e.ts')} <= {d.epoch_us(dto)} + {w_us}"] if dto and w_us else []
    else:
        where += [f"e.ts <= {dto}"] if dto else []
        where += [f"{d.epoch_us('e.ts')} >= {d.epoch_us(dfrom)} - {w_us}"] if dfrom and w_us else []
    if excluded_events(q):
        where.append(f"e.event NOT IN ({', '.join(params.add(x) for x in excluded_events(q))})")
    label = None
    if anchor is not None and (anchor.where or anchor.label):
        label = params.add(anchor.name)  # e.g. "view (page=pricing)": only matching rows anchor
    return Stream(
        source=f"{d.table(table)} e",
        where=" AND ".join(where) or "true",
        anchor=step_predicate(anchor, params, d) if anchor is not None else "true",
        in_range=" AND ".join(in_range) or "true",
        anchor_label=label,
    )


@dataclass
class PathTables:
    edges: pd.DataFrame
    sequences: pd.DataFrame
    users: int
    extra: pd.DataFrame | None
    sql: str
    params: dict[str, Any]


def compute_paths(
    con: duckdb.DuckDBPyConnection | Runner,
    plan: PathPlan,
    stream: Stream,
    params: Params,
    *,
    top: int,
    max_edges: int,
    min_users: int,
    end_label: str | None = None,
    extra_sql: str | None = None,
) -> PathTables:
    """The edges, the top sequences, the users with a path and an optional ``extra_sql`` over the
    path's node rows (``{nodes}`` names them).

    On DuckDB (a connection, or its runner) the nodes are built once into a temp table
    (``first_path_sql`` for one path per user, its fallback and ``path_sql`` otherwise), read by
    each query and dropped afterwards. Another engine's runner (Spark) has no temp tables: each
    query is one statement with the definition's node rows (``path_sql``, built for its dialect)
    as a CTE, and only the result-sized answers return."""
    if isinstance(con, DuckDBRunner):
        con = con.con
    if isinstance(con, duckdb.DuckDBPyConnection):
        frames, users, script, queries = _duckdb_paths(
            con, plan, stream, params, top, max_edges, min_users, end_label, extra_sql
        )
    else:
        frames, users, script, queries = _runner_paths(
            runner_for(con), plan, stream, params, top, max_edges, min_users, end_label, extra_sql
        )
    edges = frames[0] if not frames[0].empty else pd.DataFrame(columns=EDGE_COLUMNS)
    edges = prune_orphans(edges, plan.direction, plan.steps)
    sequences = frames[1] if not frames[1].empty else pd.DataFrame(columns=SEQUENCE_COLUMNS)
    for frame, ints in (
        (edges, ["step", "users", "paths"]),
        (sequences, ["events", "users", "paths"]),
    ):
        for col in ints:
            frame[col] = frame[col].astype("int64")
    sequences["share"] = sequences["share"].astype("float64")
    script_text = ";\n".join([*script, *queries])
    return PathTables(
        edges,
        sequences,
        users,
        frames[2] if extra_sql else None,
        script_text,
        params.used_in(script_text),
    )


def _duckdb_paths(
    con: duckdb.DuckDBPyConnection,
    plan: PathPlan,
    stream: Stream,
    params: Params,
    top: int,
    max_edges: int,
    min_users: int,
    end_label: str | None,
    extra_sql: str | None,
) -> tuple[list[pd.DataFrame], int, list[str], list[str]]:
    """The path nodes once (a temp table), then the edges, the top sequences and ``extra_sql``
    over them; the temp table is dropped afterwards. Frames, users, the script and the queries."""
    tag = uuid.uuid4().hex[:10]
    name = quote_ident(f"__poa_paths_{tag}")
    short = quote_ident(f"__poa_pathshort_{tag}")
    script: list[str] = []
    queries = [
        edges_sql(name, params, max_edges, min_users),
        sequences_sql(name, params, plan.steps, top),
    ]
    if extra_sql:
        queries.append(extra_sql.format(nodes=name))

    def run(sql: str) -> None:
        script.append(sql)
        execute(con, sql, params.used_in(sql))

    try:
        if plan.first_only:  # only the rows each user's path can reach, as lists (first_path_sql)
            try:
                run(
                    f"CREATE TEMP TABLE {name} AS {first_path_sql(plan, stream, params, end_label)}"
                )
            except duckdb.OutOfMemoryException:  # per-user lists may not spill; windows do
                script.pop()
                full = path_sql(plan, stream, params, end_label)
                run(f"CREATE TEMP TABLE {name} AS SELECT *, false AS short FROM ({full})")
            if fetch_all(con, f"SELECT 1 FROM {name} WHERE short LIMIT 1"):
                run(f"CREATE TEMP TABLE {short} AS SELECT DISTINCT user_id FROM {name} WHERE short")
                run(f"DELETE FROM {name} WHERE short")
                full = path_sql(plan, only_users(stream, short), params, end_label)
                run(f"INSERT INTO {name} (user_id, anchor_node, i, label, marker) {full}")
        else:
            run(f"CREATE TEMP TABLE {name} AS {path_sql(plan, stream, params, end_label)}")
        frames = [fetch_df(con, s, params.used_in(s)) for s in queries]
        users = int(fetch_all(con, f"SELECT count(DISTINCT user_id) FROM {name}")[0][0])
    finally:
        for table in (name, short):
            drop_table(con, table)
    return frames, users, script, queries


NODES = "pa_nodes"  # the node rows' CTE in the statements of an engine without temp tables


def _runner_paths(
    run: Runner,
    plan: PathPlan,
    stream: Stream,
    params: Params,
    top: int,
    max_edges: int,
    min_users: int,
    end_label: str | None,
    extra_sql: str | None,
) -> tuple[list[pd.DataFrame], int, list[str], list[str]]:
    """The edges and the top sequences (with the users with a path) as one statement, and
    ``extra_sql`` as another, each over the definition's node rows (``path_sql``'s CTEs, for the
    runner's dialect): window functions partitioned by user, so each user's rows are shuffled
    together once."""
    ctes, select = path_parts(plan, stream, params, end_label, run.dialect)
    queries = [report_sql(NODES, params, plan.steps, top, max_edges, min_users)]
    if extra_sql:
        queries.append(extra_sql.format(nodes=NODES))
    statements = [with_nodes(ctes, select, q, NODES) for q in queries]
    frames = [run.table(s, params.used_in(s)) for s in statements]
    report = frames.pop(0)
    edges = report[report.part == 1][EDGE_COLUMNS].reset_index(drop=True)
    sequences = report[report.part == 2].reset_index(drop=True)
    users = int(sequences.all_users.iloc[0]) if len(sequences) else 0
    return [edges, sequences[SEQUENCE_COLUMNS], *frames], users, [], statements


@metric_boundary("paths")
def run_paths(
    con: duckdb.DuckDBPyConnection | Runner, q: PathsQuery, *, table: str = EVENTS
) -> PathsResult:
    """Paths from ``start_event`` (or to ``end_event``, or from each user's first event).

    ``con`` may also be another engine's runner (``spark.SparkRunner``, its catalog for validation
    too): the paths are then built for its dialect and read the runner's table."""
    found: list[PoaWarning] = []
    plan, anchor = plan_paths(con, q, found)  # type: ignore[arg-type]  # a runner is a Catalog
    run = runner_for(con, table)
    params = Params()
    stream = events_stream(q, plan, anchor, params, table=run.table_name, dialect=run.dialect)
    t = compute_paths(
        con, plan, stream, params, top=q.top, max_edges=q.max_edges, min_users=q.min_users
    )
    what = anchor.name if anchor is not None else "each user's first event"
    users = f"{t.users:,} user" + ("" if t.users == 1 else "s")
    title = f"Paths {plan.direction} {what} ({users})"
    result = PathsResult(q, t.edges, t.sql, t.params, t.sequences, t.users, title)
    result.warnings.extend(found)
    return result
