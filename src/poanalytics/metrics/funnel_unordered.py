"""Unordered funnels (F8, F9, F16): k distinct steps within one window, in any order.

Every funnel event in the date range starts an attempt, a window [t, t + window]. One event fills at
most one step (F3), so the number of steps a window completes is the size of a maximum matching
between its events and the steps. With an event's *mask* (the set of steps it can fill), Hall's
theorem gives that size without searching: N - max(0, max over step subsets S of
(|S| - #events whose mask meets S)). Each count is one window aggregate over a RANGE frame (on an
engine that evaluates a sliding frame again for every row, Spark, the difference of two growing
ones: the events up to t + window, less those before t), so funnels have at most MAX_STEPS steps.

Exclusions (F9) span the whole funnel. An exclusion event inside an attempt's window, after its
start, clears the attempt: progress made before an exclusion does not count toward the unit's
result. An exclusion event never fills a step, and one at the attempt's first instant does not clear
it. The unit stays in the funnel: its result is at least 1.

Conversion times (F16): in the attempt behind the result (the furthest clean one, earliest first),
t_k is the first instant by which k distinct steps are complete (the same Hall count over the events
from the attempt's start up to that instant), so t1 is its first completed step.
"""

from __future__ import annotations

from itertools import combinations

from ..sql import Params
from .engine import DUCKDB, Dialect
from .funnel_sql import FunnelPlan, bind
from .predicates import prop_expr

MAX_STEPS = 7


def _completed(n: int, frame: str, before: str | None = None) -> str:
    """Steps completed by distinct events over a window frame (Hall's theorem on the masks): the
    events of ``frame``, less those of ``before`` when given (a frame that ends earlier)."""
    deficits = []
    for size in range(1, n + 1):
        for subset in combinations(range(n), size):
            bits = sum(1 << i for i in subset)
            meets = f"CASE WHEN (mask & {bits}) <> 0 THEN 1 ELSE 0 END"
            count = f"sum({meets}) OVER {frame}"
            if before is not None:
                count = f"({count} - coalesce(sum({meets}) OVER {before}, 0))"
            deficits.append(f"{size} - {count}")
    return f"({n} - greatest(0, {', '.join(deficits)}))::INTEGER"


def unordered_sql(
    plan: FunnelPlan, params: Params, *, table: str, dialect: Dialect = DUCKDB
) -> str:
    """SQL with one row per funnel unit (``funnel_sql.per_user_sql``'s columns), for
    ``dialect``."""
    c = bind(plan, params, table=table, dialect=dialect)
    us = dialect.epoch_us
    n, w_us, preds, xpreds, src = c.n, c.w_us, c.preds, c.xpreds, c.src
    in_range, lower, upper = c.in_range, c.lower, c.upper
    bval = f"coalesce({prop_expr(plan.breakdown, params, dialect)}, '')" if plan.breakdown else "''"
    mask = " | ".join(f"(CASE WHEN {p} THEN {1 << i} ELSE 0 END)" for i, p in enumerate(preds))
    excl = " OR ".join(xpreds) if xpreds else "false"
    unit = (
        f"user_id || chr(31) || {bval}"
        if (plan.attribution == "all_events" and plan.breakdown)
        else "user_id"
    )
    any_step = " OR ".join(preds)
    order_by = f"PARTITION BY unit ORDER BY {us('ts')}"
    if dialect.sliding_frames:  # an attempt's window [t, t + window] as one frame
        windows = f"w AS ({order_by} RANGE BETWEEN CURRENT ROW AND {w_us} FOLLOWING)"
        depth = _completed(n, "w")
        cleared = "false"
        if xpreds:  # an exclusion after the attempt's first instant, inside its window (F9)
            windows += f", wx AS ({order_by} RANGE BETWEEN 1 FOLLOWING AND {w_us} FOLLOWING)"
            cleared = "coalesce(bool_or(is_x) OVER wx, false)"
    else:  # the events up to t + window less those before t: frames that only grow
        windows = (
            f"w AS ({order_by} RANGE BETWEEN UNBOUNDED PRECEDING AND {w_us} FOLLOWING), "
            f"wb AS ({order_by} RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        )
        depth = _completed(n, "w", "wb")
        cleared = "false"
        if xpreds:
            windows += f", wt AS ({order_by} RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
            x = "CASE WHEN is_x THEN 1 ELSE 0 END"
            cleared = f"(sum({x}) OVER w - sum({x}) OVER wt > 0)"
    # the attempt behind the result: deepest clean one, earliest first; none clean: the first one
    best_key = dialect.list_value(
        "cleared::INTEGER", f"CASE WHEN cleared THEN 0 ELSE {n} - depth END", us("ts")
    )
    reached = ", ".join(f"min(ts) FILTER (WHERE k >= {k}) AS t{k}" for k in range(2, n + 1))
    times = ", ".join(f"t.t{k}" for k in range(2, n + 1))
    breakdown = "split_part(p.unit, chr(31), 2)" if plan.attribution == "all_events" else "p.b"
    return f"""WITH
entrants AS (SELECT DISTINCT user_id FROM {src} WHERE ({any_step}) AND {in_range}),
raw AS (SELECT user_id, ts, rowid AS rid, {bval} AS b, {unit} AS unit, ({excl}) AS is_x,
            CASE WHEN {excl} THEN 0 ELSE {mask} END AS mask
        FROM {src} WHERE user_id IN (SELECT user_id FROM entrants) {lower} {upper}
            AND (({any_step}) OR ({excl}))),
win AS (SELECT unit, user_id, b, ts, rid, mask, {depth} AS depth, {cleared} AS cleared
        FROM raw WINDOW {windows}),
att AS (SELECT * FROM win WHERE mask <> 0 AND {in_range}),
per AS (SELECT unit, any_value(user_id) AS user_id, {dialect.arg_min("b", dialect.list_value(us("ts"), "rid"))} AS b,
            greatest(1, coalesce(max(depth) FILTER (WHERE NOT cleared), 0)) AS depth,
            {dialect.arg_min("ts", best_key)} AS start, min(ts) AS entered,
            bool_or({us("ts")} + {w_us} > {c.end_us}) AS open
        FROM att GROUP BY unit),
span AS (SELECT r.unit, r.ts, r.mask FROM per p JOIN raw r ON r.unit = p.unit
        WHERE p.depth >= 2 AND r.mask <> 0 AND r.ts >= p.start
            AND {us("r.ts")} <= {us("p.start")} + {w_us}),
run AS (SELECT unit, ts, {_completed(n, "c")} AS k FROM span
        WINDOW c AS ({order_by} RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
times AS (SELECT unit, {reached} FROM run GROUP BY unit)
SELECT p.unit, p.user_id, {breakdown} AS breakdown, p.depth, (p.open AND p.depth < {n}) AS in_progress,
       p.entered, p.start AS t1, {times}
FROM per p LEFT JOIN times t ON t.unit = p.unit"""
