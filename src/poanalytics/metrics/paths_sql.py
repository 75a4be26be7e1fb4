"""The path definition, as one SQL builder shared by ``wb.paths`` and funnel drop-offs.

Plan, in portable SQL (window functions, GROUP BY and equi-joins only):

1. ``base``: the rows a path reads (a :class:`Stream`: the events in the date bounds minus excluded
   events, or a funnel's droppers from their step event on), each flagged as an anchor or not.
2. ``ordered``: each user's rows in time order. Ties at one instant put anchor rows first in paths
   from an event (last in paths to one), then load order (rowid), so results are deterministic.
3. ``runs`` -> ``nodes``: consecutive repeats of one event collapse into one node (optional). A node
   is an anchor when one of its rows is an anchor inside the date range, at that row's time.
4. ``anchors``: every anchor node, numbered per user (the first one, or all, are used); ``path``: the
   anchor node and the next (or previous) ``steps - 1`` nodes, by equi-joins on the node number,
   cut at ``window`` seconds from the anchor (edge included).
5. A marker node ("(end)", or "(start)" in paths to an event) where a path stops before the step
   limit, so that the users flowing into every node also flow out of it.

Engine-specific bits are few: ``rowid`` (load order; Spark's events view carries ``seq`` as
``rowid``) and epoch microseconds (``Dialect.epoch_us``), so ``path_sql`` is built for every engine.
DuckDB runs the nodes into a temp table, and for one path per user ``first_path_sql`` (DuckDB's
lists and HUGEINT keys); an engine without temp tables (Spark) runs ``path_sql`` as a CTE of each
statement that reads the nodes (``with_nodes``, ``report_sql``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..sql import Params
from .engine import DUCKDB, Dialect

END = "(end)"
START = "(start)"
SEPARATOR = " → "


@dataclass(frozen=True)
class PathPlan:
    """A validated path definition; structural values only (ints, flags), nothing user-typed."""

    direction: str  # "from": the anchor and what follows; "to": what precedes and the anchor
    steps: int  # nodes per path, the anchor (and a marker) included
    window: int | None  # seconds from the anchor; None = no limit
    collapse: bool  # consecutive repeats of one event are one node
    first_only: bool  # only each user's first anchor in range (else every anchor)


@dataclass(frozen=True)
class Stream:
    """The rows a path reads. SQL fragments over the events table aliased ``e``; values bound."""

    source: str  # FROM clause, e.g. '"events" e'
    where: str  # which rows are read
    anchor: str  # the row is an anchor (a path starts, or ends, there)
    in_range: str  # an anchor row that counts (e.g. inside the date range)
    anchor_label: str | None = None  # placeholder for the anchor node's label; None = its event
    ctes: tuple[str, ...] = ()  # CTEs the source refers to


def path_sql(
    plan: PathPlan,
    stream: Stream,
    params: Params,
    end_label: str | None = None,
    dialect: Dialect = DUCKDB,
) -> str:
    """SQL with one row per path node: user_id, anchor_node (with user_id: the path), i, label, marker.

    ``i`` runs 1..steps from left to right; in paths to an event the anchor is at ``i = steps``.
    """
    ctes, select = path_parts(plan, stream, params, end_label, dialect)
    return "WITH " + ",\n".join(ctes) + "\n" + select


def path_parts(
    plan: PathPlan,
    stream: Stream,
    params: Params,
    end_label: str | None = None,
    dialect: Dialect = DUCKDB,
) -> tuple[list[str], str]:
    """``path_sql`` as its CTEs and its final SELECT over them (for a statement that adds its own
    queries over the node rows: ``with_nodes``)."""
    us = dialect.epoch_us
    forward = plan.direction == "from"
    n = int(plan.steps)
    tie = (
        "CASE WHEN is_anchor THEN 0 ELSE 1 END"
        if forward
        else "CASE WHEN is_anchor THEN 1 ELSE 0 END"
    )
    if plan.collapse:
        node = (
            "sum(CASE WHEN prev_event = event THEN 0 ELSE 1 END) OVER (PARTITION BY user_id "
            "ORDER BY pos ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        )
    else:
        node = "pos"
    # the offsets 0..steps-1 are structural (like a funnel's step numbers), not user values
    offsets = ", ".join(f"({k})" for k in range(n))
    label = (
        f"CASE WHEN o.k = 0 THEN {stream.anchor_label} ELSE n.label END"
        if stream.anchor_label
        else "n.label"
    )
    cut = ["a.occurrence = 1"] if plan.first_only else []
    if plan.window is not None:
        w_us = params.add(int(plan.window) * 1_000_000)
        cut.append(
            f"{us('n.ts_first')} - {us('a.ats')} <= {w_us}"
            if forward
            else f"{us('a.ats')} - {us('n.ts_last')} <= {w_us}"
        )
    marker = params.add(end_label or (END if forward else START))
    ctes = [
        *stream.ctes,
        f"""base AS (SELECT e.user_id, e.event, e.ts, e.rowid AS rid, ({stream.anchor}) AS is_anchor,
            ({stream.in_range}) AS in_range FROM {stream.source} WHERE {stream.where})""",
        f"""ordered AS (SELECT *, row_number() OVER u AS pos, lag(event) OVER u AS prev_event
            FROM base WINDOW u AS (PARTITION BY user_id ORDER BY ts, {tie}, rid))""",
        f"runs AS (SELECT *, {node} AS node FROM ordered)",
        """nodes AS (SELECT user_id, node, min(event) AS label, min(ts) AS ts_first, max(ts) AS ts_last,
            min(CASE WHEN is_anchor AND in_range THEN ts END) AS ats
            FROM runs GROUP BY user_id, node)""",
        """anchors AS (SELECT user_id, node AS anchor_node, ats,
            row_number() OVER (PARTITION BY user_id ORDER BY node) AS occurrence
            FROM nodes WHERE ats IS NOT NULL)""",
        f"offsets AS (SELECT * FROM (VALUES {offsets}) AS o(k))",
        f"""path AS (SELECT a.user_id, a.anchor_node, {"o.k + 1" if forward else f"{n} - o.k"} AS i,
                {label} AS label
            FROM anchors a CROSS JOIN offsets o
            JOIN nodes n ON n.user_id = a.user_id AND n.node = a.anchor_node {"+" if forward else "-"} o.k
            WHERE {" AND ".join(cut) or "true"})""",
        "sizes AS (SELECT user_id, anchor_node, count(*) AS n FROM path GROUP BY user_id, anchor_node)",
    ]
    select = f"""SELECT user_id, anchor_node, i, label, false AS marker FROM path
UNION ALL
SELECT user_id, anchor_node, {"n + 1" if forward else f"{n} - n"} AS i, {marker} AS label, true AS marker
FROM sizes WHERE n < {n}"""
    return ctes, select


def with_nodes(ctes: list[str], select: str, query: str, name: str = "pa_nodes") -> str:
    """``query`` (a SELECT or a WITH statement reading the node rows as ``name``) with the node
    rows' CTEs (``path_parts``) before it, in one statement: an engine without temp tables (Spark)
    computes the nodes inside each query that reads them."""
    head = "WITH " + ",\n".join([*ctes, f"{name} AS ({select})"])
    body = query.lstrip()
    if body[:5].upper() == "WITH ":
        return f"{head},\n{body[5:]}"
    return f"{head}\n{body}"


# -- one path per user: only the rows it can reach, and no window function ----------------------------
# With one path per user (the first anchor), a path needs only the ``steps`` rows after its anchor
# (before it, in paths to an event), or a few more when repeats collapse. ``first_path_sql`` finds, in
# one pass and without sorting any user's history, each user's first anchor (time, then load order)
# and the time of the last row the path may need (``edge``: a top-K aggregate of times); a second pass
# gathers each user's rows from the anchor to the edge into one short list (every row at the edge's
# time too, so ties are never split), sorts it by (time, tie, load order) as ``path_sql`` orders rows,
# collapses repeats and keeps the first ``steps`` nodes. A user with more rows than that whose
# collapsed path still came out short is flagged ``short``, to be computed again from all their rows
# by ``path_sql`` (``only_users``).


ID_BITS = 23  # bits of an event's number in first_path_sql's row keys (8M names)


def row_limit(plan: PathPlan) -> int:
    """Rows read per user: exactly ``steps`` without collapsing, else room for some repeats."""
    return int(plan.steps) * (4 if plan.collapse else 1)


def first_path_sql(
    plan: PathPlan, stream: Stream, params: Params, end_label: str | None = None
) -> str:
    """``path_sql``'s rows for ``first_only`` plans, plus ``short`` (true for every row of a user to
    compute again: see above). DuckDB's alone: ``min_by``/``max_by`` with a count, HUGEINT keys,
    lists (``list``, ``list_sort``, ``list_filter`` with an index lambda, slicing, ``unnest``),
    ``rowid``; other engines take ``path_sql`` (``paths.compute_paths``)."""
    forward = plan.direction == "from"
    n = int(plan.steps)
    k = row_limit(plan)
    t = "epoch_us(e.ts)"
    anchor = f"coalesce(({stream.anchor}), false)"
    side = f"{t} >= pa_f.t" if forward else f"{t} <= pa_f.t"
    if plan.window is not None:
        w_us = params.add(int(plan.window) * 1_000_000)
        side += f" AND {t} - pa_f.t <= {w_us}" if forward else f" AND pa_f.t - {t} <= {w_us}"
    edge = f"list_max(min_by({t}, {t}, {k}))" if forward else f"list_min(max_by({t}, {t}, {k}))"
    # rows at the anchor's time: anchors come first in paths from it (last in paths to it), then
    # load order; those before (after) the first anchor are not on the path
    if forward:
        span = f"{t} BETWEEN pa_c.t AND pa_c.edge AND ({t} > pa_c.t OR NOT {anchor} OR e.rowid >= pa_c.r)"
    else:
        span = f"{t} BETWEEN pa_c.edge AND pa_c.t AND ({t} < pa_c.t OR NOT {anchor} OR e.rowid <= pa_c.r)"
    tie = f"CASE WHEN {anchor} THEN {0 if forward else 1} ELSE {1 if forward else 0} END"
    # one HUGEINT per row, ordered as path_sql orders rows: time (the top 64 bits), tie (1 bit),
    # load order (40 bits), and the event's number in pa_d (23 bits): a list of a fixed-size type
    # spills under a small memory_limit, a list of structs or text does not
    row = (
        f"{t}::HUGEINT * {2**64} + ({tie})::HUGEINT * {2**63} + e.rowid::HUGEINT * {2**ID_BITS} "
        "+ pa_d.pa_id"
    )
    order = "list_sort(l)" if forward else "list_sort(l, 'DESC')"
    ev = f"& {2**ID_BITS - 1}"  # the event's number (two's complement: right for times before 1970)
    nodes = (
        f"list_filter(r, lambda x, j: j = 1 OR (x {ev}) <> (r[j - 1] {ev}))"
        if plan.collapse
        else "r"
    )
    first = f"{stream.anchor_label}" if stream.anchor_label else "d.pa_event"
    marker = params.add(end_label or (END if forward else START))
    ctes = [
        *stream.ctes,
        f"""pa_d AS (SELECT pa_event, row_number() OVER (ORDER BY pa_event) AS pa_id
            FROM (SELECT DISTINCT e.event AS pa_event FROM {stream.source} WHERE {stream.where}))""",
        # the first anchor: its time (the top 64 bits) and its load order (the low 64)
        f"""pa_a AS (SELECT e.user_id, min({t}::HUGEINT * {2**64} + e.rowid) AS a FROM {stream.source}
            WHERE ({stream.where}) AND {anchor} AND ({stream.in_range}) GROUP BY e.user_id)""",
        f"""pa_f AS (SELECT user_id, (a >> 64)::BIGINT AS t, (a & {2**64 - 1})::BIGINT AS r
            FROM pa_a)""",
        f"""pa_c AS (SELECT e.user_id, any_value(pa_f.t) AS t, any_value(pa_f.r) AS r, {edge} AS edge,
            count(*) AS cnt
            FROM {stream.source} JOIN pa_f ON pa_f.user_id = e.user_id
            WHERE ({stream.where}) AND {side} GROUP BY e.user_id)""",
        f"""pa_l AS (SELECT e.user_id, any_value(pa_c.cnt) AS cnt, list({row}) AS l
            FROM {stream.source} JOIN pa_c ON pa_c.user_id = e.user_id JOIN pa_d ON pa_d.pa_event = e.event
            WHERE ({stream.where}) AND {span} GROUP BY e.user_id)""",
        f"pa_r AS (SELECT user_id, cnt, {order} AS r FROM pa_l)",
        f"pa_n AS (SELECT user_id, cnt, ({nodes})[1:{n}] AS p FROM pa_r)",
        # the events' numbers, and 0 for the marker where the path stops before the step limit
        f"""pa_m AS (SELECT user_id, cnt > {k} AND len(p) < {n} AS short,
            list_transform(p, lambda x: x {ev}) || CASE WHEN len(p) < {n} THEN [0] ELSE [] END AS ids
            FROM pa_n)""",
        """pa_u AS (SELECT user_id, short, unnest(ids) AS id, unnest(range(1, len(ids) + 1)) AS j
            FROM pa_m)""",
    ]
    label = f"CASE WHEN u.id = 0 THEN {marker} WHEN u.j = 1 THEN {first} ELSE d.pa_event END"
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"""
SELECT u.user_id, 1 AS anchor_node, {"u.j" if forward else f"{n} + 1 - u.j"} AS i, {label} AS label,
    u.id = 0 AS marker, u.short
FROM pa_u u LEFT JOIN pa_d d ON d.pa_id = u.id"""
    )


def only_users(stream: Stream, users: str) -> Stream:
    """The stream for the users in the table ``users`` only, all their rows."""
    return Stream(
        source=f"{stream.source} SEMI JOIN {users} pa_u ON pa_u.user_id = e.user_id",
        where=stream.where,
        anchor=stream.anchor,
        in_range=stream.in_range,
        anchor_label=stream.anchor_label,
        ctes=stream.ctes,
    )


def edges_sql(nodes: str, params: Params, max_edges: int, min_users: int) -> str:
    """Edges between consecutive nodes: step (the source's position), source, target, users, paths."""
    return f"""WITH hops AS (SELECT user_id, i AS step, label AS source,
        lead(label) OVER (PARTITION BY user_id, anchor_node ORDER BY i) AS target FROM {nodes}),
    counted AS (SELECT step, source, target, count(DISTINCT user_id) AS users, count(*) AS paths
        FROM hops WHERE target IS NOT NULL GROUP BY step, source, target),
    ranked AS (SELECT *, row_number() OVER (ORDER BY users DESC, paths DESC, step, source, target) AS r
        FROM counted)
SELECT step, source, target, users, paths FROM ranked
WHERE users >= {params.add(int(min_users))} AND r <= {params.add(int(max_edges))}
ORDER BY step, users DESC, source, target"""


def sequences_sql(
    nodes: str, params: Params, steps: int, top: int, *, all_users: bool = False
) -> str:
    """The most common whole paths: path (labels joined by " → "), events, users, paths, share;
    with ``all_users``, also the users with a path (the same on every row) as ``all_users``."""
    cols = ", ".join(f"max(CASE WHEN i = {k} THEN label END)" for k in range(1, int(steps) + 1))
    total = f"(SELECT count(DISTINCT user_id) FROM {nodes})"
    extra = f",\n    {total} AS all_users" if all_users else ""
    return f"""WITH whole AS (SELECT user_id, concat_ws({params.add(SEPARATOR)}, {cols}) AS path,
        sum(CASE WHEN marker THEN 0 ELSE 1 END) AS events FROM {nodes} GROUP BY user_id, anchor_node)
SELECT path, min(events) AS events, count(DISTINCT user_id) AS users, count(*) AS paths,
    count(DISTINCT user_id) / {total} AS share{extra}
FROM whole GROUP BY path ORDER BY users DESC, paths DESC, path LIMIT {params.add(int(top))}"""


def report_sql(
    nodes: str, params: Params, steps: int, top: int, max_edges: int, min_users: int
) -> str:
    """``edges_sql`` (``part`` 1) and ``sequences_sql`` with ``all_users`` (``part`` 2) as one
    query, each part in its own order: one statement (and one pass over the node rows where the
    engine reuses a subplan) on an engine without temp tables."""
    edges = edges_sql(nodes, params, max_edges, min_users)
    sequences = sequences_sql(nodes, params, steps, top, all_users=True)
    return f"""SELECT 1 AS part, e.step, e.source, e.target, e.users, e.paths, NULL AS path,
    NULL AS events, NULL AS share, NULL AS all_users FROM ({edges}) e
UNION ALL
SELECT 2 AS part, NULL, NULL, NULL, s.users, s.paths, s.path, s.events, s.share, s.all_users
FROM ({sequences}) s
ORDER BY part, step, users DESC, source, target, paths DESC, path"""


def prune_orphans(edges: pd.DataFrame, direction: str, steps: int) -> pd.DataFrame:
    """Drop edges cut off from the anchor once small edges are hidden, so no flow starts mid-chart.

    Works on the aggregated edge table (at most ``max_edges`` rows), one pass per step.
    """
    if edges.empty:
        return edges
    keep = pd.Series(False, index=edges.index)
    order = range(1, steps) if direction == "from" else range(steps - 1, 0, -1)
    reached: set[str] | None = None
    for step in order:
        at = edges.step == step
        if direction == "from":
            ok = at if reached is None else at & edges.source.isin(reached)
            reached = set(edges.target[ok])
        else:
            ok = at if reached is None else at & edges.target.isin(reached)
            reached = set(edges.source[ok])
        keep |= ok
    return edges[keep].reset_index(drop=True)
