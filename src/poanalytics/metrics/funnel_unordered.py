"""Unordered funnels (F8): k distinct steps within one window, in any order.

Every funnel event starts a window [t, t + window]. One event fills at most one step (F3), so the
number of steps a window completes is the size of a maximum matching between its events and the
steps. With an event's *mask* (the set of steps it can fill), Hall's theorem gives that size without
searching: N - max(0, max over step subsets S of (|S| - #events whose mask meets S)). Each count is
one window aggregate over a RANGE frame, so funnels have at most MAX_STEPS steps.

An exclusion spans the whole funnel: it clears the progress made before it in the window. Events are
split into segments at exclusion events (an event at the same instant as an exclusion belongs to the
later segment) and windows never cross a segment boundary; the user stays in the funnel.
"""

from __future__ import annotations

from itertools import combinations

from ..ingest.sql import Params
from .funnel_sql import FunnelPlan, bind
from .predicates import prop_expr

MAX_STEPS = 7


def unordered_sql(plan: FunnelPlan, params: Params, table: str = "events") -> str:
    c = bind(plan, params, table)
    n, w_us, preds, xpreds, src = c.n, c.w_us, c.preds, c.xpreds, c.src
    in_range, lower, upper = c.in_range, c.lower, c.upper
    bval = f"coalesce({prop_expr(plan.breakdown, params)}, '')" if plan.breakdown else "''"
    mask = " | ".join(f"(CASE WHEN {p} THEN {1 << i} ELSE 0 END)" for i, p in enumerate(preds))
    excl = " OR ".join(xpreds) if xpreds else "false"
    unit = (
        f"user_id || chr(31) || {bval}"
        if (plan.attribution == "all_events" and plan.breakdown)
        else "user_id"
    )
    any_step = " OR ".join(preds)

    frame = (
        "(PARTITION BY unit, seg ORDER BY epoch_us(ts) RANGE BETWEEN CURRENT ROW AND "
        + w_us
        + " FOLLOWING)"
    )
    deficits = []
    for size in range(1, n + 1):
        for subset in combinations(range(n), size):
            bits = sum(1 << i for i in subset)
            deficits.append(
                f"{size} - sum(CASE WHEN (mask & {bits}) <> 0 THEN 1 ELSE 0 END) OVER w"
            )
    depth = f"({n} - greatest(0, {', '.join(deficits)}))::INTEGER"
    return f"""WITH
entrants AS (SELECT DISTINCT user_id FROM {src} WHERE ({any_step}) AND {in_range}),
raw AS (SELECT user_id, ts, {bval} AS b, {unit} AS unit, {mask} AS mask, ({excl}) AS is_x
        FROM {src} WHERE user_id IN (SELECT user_id FROM entrants) {lower} {upper} AND (({any_step}) OR ({excl}))),
seg AS (SELECT *, sum(CASE WHEN is_x THEN 1 ELSE 0 END) OVER (PARTITION BY unit ORDER BY epoch_us(ts)
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS seg FROM raw),
win AS (SELECT unit, user_id, b, ts, mask, {depth} AS depth FROM seg WHERE NOT is_x WINDOW w AS {frame}),
att AS (SELECT * FROM win WHERE mask <> 0 AND {in_range}),
per AS (SELECT unit, any_value(user_id) AS user_id, arg_min(b, ts) AS breakdown, max(depth) AS depth,
            bool_or(epoch_us(ts) + {w_us} > (SELECT epoch_us(max(ts)) FROM {src})) AS open, min(ts) AS entered
            FROM att GROUP BY unit)
SELECT unit, user_id, {"breakdown" if plan.attribution != "all_events" else "split_part(unit, chr(31), 2)"} AS breakdown,
       depth, (open AND depth < {n}) AS in_progress, entered, {", ".join(f"NULL::TIMESTAMPTZ AS t{k}" for k in range(1, n + 1))}
FROM per"""
