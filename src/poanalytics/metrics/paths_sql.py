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

Engine-specific bits are few: ``rowid`` (load order; an ingestion sequence elsewhere) and ``epoch_us``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..sql import Params

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


def path_sql(plan: PathPlan, stream: Stream, params: Params, end_label: str | None = None) -> str:
    """SQL with one row per path node: user_id, anchor_node (with user_id: the path), i, label, marker.

    ``i`` runs 1..steps from left to right; in paths to an event the anchor is at ``i = steps``.
    """
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
            f"epoch_us(n.ts_first) - epoch_us(a.ats) <= {w_us}"
            if forward
            else f"epoch_us(a.ats) - epoch_us(n.ts_last) <= {w_us}"
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
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"""
SELECT user_id, anchor_node, i, label, false AS marker FROM path
UNION ALL
SELECT user_id, anchor_node, {"n + 1" if forward else f"{n} - n"} AS i, {marker} AS label, true AS marker
FROM sizes WHERE n < {n}"""
    )


# -- reading only the rows a path can reach ---------------------------------------------------------
# With one path per user (the first anchor), a path needs only the ``steps`` rows after its anchor
# (before it, in paths to an event), or a few more when repeats collapse. ``cut_sql`` finds, in one
# pass and without sorting any user's history, each user's anchor time and the time of the last row
# the path may need (a top-K aggregate); ``restrict`` keeps the rows between them (a superset: ties
# at either end stay, and the path SQL orders them exactly). A user with more rows than that whose
# collapsed path still came out short is computed again from all their rows (``short_sql``).


def row_limit(plan: PathPlan) -> int:
    """Rows read per user: exactly ``steps`` without collapsing, else room for some repeats."""
    return int(plan.steps) * (4 if plan.collapse else 1)


def cut_sql(plan: PathPlan, stream: Stream, params: Params) -> str:
    """One row per user with an anchor: user_id, ats (the first anchor's time), edge (the time of
    the last row to read: the ``row_limit``-th from the anchor), n (rows on the path's side of the
    anchor, inside the window). Rows at ``ats`` or ``edge`` are all kept, so ties are never split."""
    forward = plan.direction == "from"
    k = row_limit(plan)
    t = "epoch_us(e.ts)"
    side = f"{t} >= pa_f.ats" if forward else f"{t} <= pa_f.ats"
    if plan.window is not None:
        w_us = params.add(int(plan.window) * 1_000_000)
        side += f" AND {t} - pa_f.ats <= {w_us}" if forward else f" AND pa_f.ats - {t} <= {w_us}"
    edge = f"list_max(min_by({t}, {t}, {k}))" if forward else f"list_min(max_by({t}, {t}, {k}))"
    ctes = [
        *stream.ctes,
        f"""pa_f AS (SELECT e.user_id, min({t}) AS ats FROM {stream.source}
            WHERE ({stream.where}) AND ({stream.anchor}) AND ({stream.in_range}) GROUP BY e.user_id)""",
    ]
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"""
SELECT e.user_id, any_value(pa_f.ats) AS ats, {edge} AS edge, count(*) AS n
FROM {stream.source} JOIN pa_f ON pa_f.user_id = e.user_id
WHERE ({stream.where}) AND {side} GROUP BY e.user_id"""
    )


def restrict(plan: PathPlan, stream: Stream, cut: str) -> Stream:
    """The stream cut down to the rows between each user's anchor and edge (``cut``: a table)."""
    span = "pa_c.ats AND pa_c.edge" if plan.direction == "from" else "pa_c.edge AND pa_c.ats"
    return Stream(
        source=f"{stream.source} JOIN {cut} pa_c ON pa_c.user_id = e.user_id",
        where=f"({stream.where}) AND epoch_us(e.ts) BETWEEN {span}",
        anchor=stream.anchor,
        in_range=stream.in_range,
        anchor_label=stream.anchor_label,
        ctes=stream.ctes,
    )


def short_sql(plan: PathPlan, cut: str, nodes: str) -> str:
    """Users whose rows were cut and whose (collapsed) path has fewer nodes than ``steps``."""
    return f"""SELECT c.user_id FROM {cut} c JOIN (SELECT user_id,
        count(*) FILTER (WHERE NOT marker) AS m FROM {nodes} GROUP BY user_id) t USING (user_id)
    WHERE c.n > {row_limit(plan)} AND t.m < {int(plan.steps)}"""


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


def sequences_sql(nodes: str, params: Params, steps: int, top: int) -> str:
    """The most common whole paths: path (labels joined by " → "), events, users, paths, share."""
    cols = ", ".join(f"max(CASE WHEN i = {k} THEN label END)" for k in range(1, int(steps) + 1))
    return f"""WITH whole AS (SELECT user_id, concat_ws({params.add(SEPARATOR)}, {cols}) AS path,
        sum(CASE WHEN marker THEN 0 ELSE 1 END) AS events FROM {nodes} GROUP BY user_id, anchor_node)
SELECT path, min(events) AS events, count(DISTINCT user_id) AS users, count(*) AS paths,
    count(DISTINCT user_id) / (SELECT count(DISTINCT user_id) FROM {nodes}) AS share
FROM whole GROUP BY path ORDER BY users DESC, paths DESC, path LIMIT {params.add(int(top))}"""


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
