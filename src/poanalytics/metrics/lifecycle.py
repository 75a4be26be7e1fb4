"""Lifecycle (L1) and stickiness, per calendar period in a time zone.

Each active user in a period is new (their first qualifying event ever falls in it), returning (also
active in the previous period) or resurrecting (neither); dormant users were active in the previous
period and not in this one, reported as a negative count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from ..errors import PoaWarning
from ..sql import Params
from .catalog import check_events, check_filters, check_properties
from .churn import no_value
from .engine import DUCKDB, EVENTS, Dialect, runner_for
from .periods import Calendar, check, data_span
from .predicates import prop_expr, step_predicate
from .result import MetricResult
from .spec import MetricError, Step
from .validate import check_event, check_flag, check_name, metric_boundary, parse_range

LIFECYCLE_COLUMNS = ["period_start", "new", "returning", "resurrecting", "dormant"]


@dataclass(kw_only=True)
class LifecycleQuery:
    event: str | Step | None = None
    period: str = "week"
    segment: str | None = None  # lifecycle only: a property, as churn's segment (L2)
    date_from: Any = None
    date_to: Any = None
    timezone: str = "UTC"
    week_start: str = "monday"
    strict: bool = False


class LifecycleResult(MetricResult):
    def figure(self):
        """Stacked bars per period; dormant users below zero."""
        from ..charts.lifecycle import lifecycle_figure

        return lifecycle_figure(self.table, self.query.period, self.query.segment)


class StickinessResult(MetricResult):
    def figure(self):
        from ..charts.lifecycle import stickiness_figure

        return stickiness_figure(self.table, self.query.period)


@dataclass(frozen=True)
class LifecyclePlan:
    """A validated lifecycle or stickiness query: plain values a builder reads, no connection."""

    tz: str
    step: Step
    date_from: pd.Timestamp | None
    date_to: pd.Timestamp | None
    segment: str | None
    warnings: tuple[PoaWarning, ...] = ()


def _validate(con: duckdb.DuckDBPyConnection, q: LifecycleQuery, code: str) -> LifecyclePlan:
    tz = check(q.period, q.week_start, q.timezone, code)
    check_flag(q.strict, "strict", f"{code}.strict")
    step = check_event(q.event, "event", code)
    date_from, date_to = parse_range(q.date_from, q.date_to, code, whole_day=False)
    found = check_events(con, [step.event], code, q.strict)
    check_filters(con, [step], code)
    segment = None
    if code == "lifecycle":
        segment = check_name(q.segment, "segment", code="lifecycle.segment")
        check_properties(con, [segment] if segment else [], "lifecycle")
    elif q.segment is not None:
        raise MetricError(
            f"stickiness has no segments, got segment={q.segment!r}",
            code="stickiness.segment",
            hint="leave segment=None for stickiness; wb.lifecycle(segment=...) splits by segment",
        )
    return LifecyclePlan(tz, step, date_from, date_to, segment, tuple(found))


def lifecycle_sql(
    q: LifecycleQuery, plan: LifecyclePlan, params: Params, *, table: str, dialect: Dialect = DUCKDB
) -> str:
    """The lifecycle table's SQL over the events ``table``, from a validated plan (no connection)."""
    events = dialect.table(table)
    cal = Calendar(q.period, q.week_start, plan.tz, params, dialect)
    lo, hi = cal.span(plan.date_from, plan.date_to, *data_span(events))
    pred = step_predicate(plan.step, params, dialect)
    nxt = cal.add("p", "1")
    # with a segment: each user's segment (churn's rule, L2) rides along every row, and every
    # period is listed for every segment; without one the query is the unsegmented one
    sc, segs, join, keys = "", "", "", ""
    if plan.segment:
        sc = ", segment"
        value = dialect.arg_min(f"nullif({prop_expr(plan.segment, params, dialect)}, '')", "ts")
        segs = (
            f"segs AS (SELECT user_id, coalesce({value}, {params.add(no_value(plan.segment))}) "
            f"AS segment FROM {events} WHERE {pred} GROUP BY user_id),\n"
        )
        join = " JOIN segs USING (user_id)"
        keys = ", (SELECT DISTINCT segment FROM segs)"
    periods = dialect.series("0", f"{cal.index('lo', 'hi')} + 1")
    return f"""
WITH {segs}act AS (SELECT DISTINCT user_id, {cal.start("ts")} AS p FROM {events} WHERE {pred}),
seq AS (SELECT user_id, p{sc}, min(p) OVER (PARTITION BY user_id) AS first_p,
               lag(p) OVER (PARTITION BY user_id ORDER BY p) AS prev_p,
               lead(p) OVER (PARTITION BY user_id ORDER BY p) AS next_p FROM act{join}),
states AS (
  SELECT p AS period_start{sc}, CASE WHEN p = first_p THEN 'new'
         WHEN prev_p = {cal.add("p", "-1")} THEN 'returning' ELSE 'resurrecting' END AS state FROM seq
  UNION ALL  -- dormant in the period after an active one that is not followed by activity
  SELECT {nxt}{sc}, 'dormant' FROM seq WHERE next_p IS NULL OR next_p > {nxt}
),
bounds AS (SELECT {lo} AS lo, {hi} AS hi),
periods AS (SELECT {cal.add("lo", "k")} AS period_start{sc} FROM bounds,
            {periods}{keys})
SELECT p.period_start{sc.replace(" ", " p.")},
       count(s.state) FILTER (WHERE s.state = 'new') AS new,
       count(s.state) FILTER (WHERE s.state = 'returning') AS returning,
       count(s.state) FILTER (WHERE s.state = 'resurrecting') AS resurrecting,
       -count(s.state) FILTER (WHERE s.state = 'dormant') AS dormant
FROM periods p LEFT JOIN states s USING (period_start{sc})
GROUP BY p.period_start{sc.replace(" ", " p.")} ORDER BY {"p.segment, " if sc else ""}p.period_start"""


def stickiness_sql(
    q: LifecycleQuery, plan: LifecyclePlan, params: Params, *, table: str, dialect: Dialect = DUCKDB
) -> str:
    """The stickiness table's SQL over the events ``table``, from a validated plan (no connection)."""
    events = dialect.table(table)
    cal = Calendar(q.period, q.week_start, plan.tz, params, dialect)
    lo, hi = cal.span(plan.date_from, plan.date_to, *data_span(events))
    pred = step_predicate(plan.step, params, dialect)
    return f"""
WITH days AS (SELECT user_id, {cal.start("ts")} AS period_start, count(DISTINCT CAST({cal.local("ts")} AS DATE)) AS active_days
              FROM {events} WHERE {pred} GROUP BY ALL)
SELECT period_start, active_days, count(*) AS users FROM days
WHERE period_start BETWEEN {lo} AND {hi} GROUP BY ALL ORDER BY period_start, active_days"""


@metric_boundary("lifecycle")
def run_lifecycle(
    con: duckdb.DuckDBPyConnection, q: LifecycleQuery, *, table: str = EVENTS
) -> LifecycleResult:
    plan = _validate(con, q, "lifecycle")
    run = runner_for(con, table)
    params = Params()
    sql = lifecycle_sql(q, plan, params, table=run.table_name, dialect=run.dialect)
    used = params.used_in(sql)
    frame = run.table(sql, used)
    if frame.empty:
        columns = LIFECYCLE_COLUMNS[:1] + ["segment"] * bool(q.segment) + LIFECYCLE_COLUMNS[1:]
        frame = pd.DataFrame(columns=columns)
    result = LifecycleResult(q, frame, sql, used)
    result.warnings.extend(plan.warnings)
    return result


@metric_boundary("stickiness")
def run_stickiness(
    con: duckdb.DuckDBPyConnection, q: LifecycleQuery, *, table: str = EVENTS
) -> StickinessResult:
    """Users by the number of days (local calendar days) they were active in each period."""
    plan = _validate(con, q, "stickiness")
    run = runner_for(con, table)
    params = Params()
    sql = stickiness_sql(q, plan, params, table=run.table_name, dialect=run.dialect)
    used = params.used_in(sql)
    frame = run.table(sql, used)
    if frame.empty:
        frame = pd.DataFrame(columns=["period_start", "active_days", "users"])
    result = StickinessResult(q, frame, sql, used)
    result.warnings.extend(plan.warnings)
    return result
