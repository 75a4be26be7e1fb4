"""Retention (R1-R4): cohorts by start event, returns by calendar period, empty cells for the unseen.

One query: cohort members, their return periods, a grid of cohort x interval, and the data's end to
tell which cells cannot be observed yet (NULL, not 0) and which are not over yet (incomplete).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from ..errors import PoaWarning
from ..sql import Params
from .catalog import check_events, check_filters, check_properties
from .engine import DUCKDB, EVENTS, Dialect, Runner, runner_for
from .periods import Calendar, check, data_span
from .predicates import step_predicate
from .result import MetricResult
from .spec import MetricError, Step
from .units import Unit, left_out_sql, left_out_warning, parse_unit, unit_source
from .validate import (
    check_choice,
    check_event,
    check_flag,
    check_int,
    metric_boundary,
    parse_instant,
    parse_range,
)

COHORTS = ("recurring", "first_time")


@dataclass(kw_only=True)
class RetentionQuery:
    start_event: str | Step | None = None
    return_event: str | Step | None = None
    period: str = "week"
    intervals: int = 8
    cohort: str = "recurring"
    cumulative: bool = False
    date_from: Any = None
    date_to: Any = None
    week_start: str = "monday"
    timezone: str = "UTC"
    strict: bool = False
    unit: Any = "user"  # "user", "session" or {"property": "company_id"} (F17)
    # the observation end instead of the data's last event (as for funnels, F18): events after it
    # are ignored, so a report on a past week shows what could be seen at its end
    as_of: Any = None


@dataclass
class RetentionResult(MetricResult):
    con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)

    def compare(self, compare: Any = "previous"):
        """Retention at each interval for this query's cohorts against another range's: "previous"
        (the same length just before) or ``(date_from, date_to)``; see ``metrics.compare``."""
        from .compare import compare_retention

        if self.con is None:
            raise MetricError(
                "this retention result has no warehouse connection to compare with",
                code="retention.compare_connection",
                hint="compute it with Workbench.retention() or run_retention()",
            )
        return compare_retention(self.con, self, compare)

    def summary_table(self) -> pd.DataFrame:
        """Cohorts by interval in percent; ``table`` stays numeric."""
        from .summary import retention_summary

        return retention_summary(self.table)

    def figure(self):
        """A cohort heatmap: rows are cohorts, columns intervals; unobservable cells stay blank."""
        from ..charts.retention import retention_figure

        q = self.query
        title = (
            f"Retention by {q.period} ({q.cohort.replace('_', '-')} cohorts"
            f"{', cumulative' if q.cumulative else ''}); blank = not observable yet"
        )
        return retention_figure(self.table, q.period, title)


@dataclass(frozen=True)
class RetentionPlan:
    tz: str
    start: Step
    ret: Step
    date_from: pd.Timestamp | None
    date_to: pd.Timestamp | None
    warnings: tuple[PoaWarning, ...]
    unit: Unit = Unit()
    as_of: pd.Timestamp | None = None


def _validate(con: duckdb.DuckDBPyConnection, q: RetentionQuery) -> RetentionPlan:
    tz = check(q.period, q.week_start, q.timezone, "retention")
    check_choice(q.cohort, COHORTS, "cohort", code="retention.cohort")
    check_int(q.intervals, "intervals", code="retention.intervals", low=1, high=366)
    check_flag(q.cumulative, "cumulative", code="retention.cumulative")
    check_flag(q.strict, "strict", code="retention.strict")
    start = check_event(q.start_event, "start_event", "retention")
    ret = check_event(q.return_event, "return_event", "retention")
    lo, hi = parse_range(q.date_from, q.date_to, "retention", whole_day=False)
    found = check_events(con, [start.event, ret.event], "retention", q.strict)
    check_filters(con, [start, ret], "retention")
    unit = parse_unit(q.unit, "retention")
    if unit.prop:
        check_properties(con, [unit.prop], "retention")
    as_of = parse_instant(q.as_of, "as_of", end=True)
    return RetentionPlan(tz, start, ret, lo, hi, tuple(found), unit, as_of)


def retention_sql(
    q: RetentionQuery, plan: RetentionPlan, params: Params, *, table: str, dialect: Dialect = DUCKDB
) -> str:
    """The retention table's SQL over the events ``table``, from a validated plan (no connection)."""
    tz, start, ret = plan.tz, plan.start, plan.ret
    events = dialect.table(table)
    cal = Calendar(q.period, q.week_start, tz, params, dialect)
    sp, rp = step_predicate(start, params, dialect), step_predicate(ret, params, dialect)
    data_end = f"(SELECT max(ts) FROM {events})"
    until = ""
    if plan.as_of is not None:
        data_end = dialect.instant(params.add(plan.as_of))
        until = f" AND ts <= {data_end}"
    lo, hi = cal.span(plan.date_from, plan.date_to, data_span(events)[0], data_end)
    n = int(q.intervals)
    # One pass over the events: each user's active periods, flagged by start and return events.
    activity = (
        f"SELECT user_id, {cal.start('ts')} AS p, bool_or({sp}) AS s, bool_or({rp}) AS r "
        f"FROM {unit_source(plan.unit, params, table=table, dialect=dialect)} WHERE (({sp}) OR ({rp})){until} GROUP BY ALL"
    )
    in_range = "BETWEEN (SELECT lo FROM bounds) AND (SELECT hi FROM bounds)"
    if q.cohort == "first_time":  # the period of the first start event ever, then kept if in range
        members = (
            "SELECT user_id, c FROM (SELECT user_id, min(p) AS c FROM activity WHERE s "
            f"GROUP BY user_id) WHERE c {in_range}"
        )
    else:  # every period in which the user did the start event (the last period counted to its end)
        members = f"SELECT user_id, p AS c FROM activity WHERE s AND p {in_range}"
    gap = cal.index("m.c", "r.p")
    reached = ("max(" + gap + ")") if q.cumulative else None
    if q.cumulative:
        counted = f"""SELECT c, k, count(*) AS users FROM (
                SELECT m.user_id, m.c, {reached} AS last_k FROM members m JOIN returns r USING (user_id)
                WHERE r.p > m.c GROUP BY m.user_id, m.c) x, {dialect.series("1", f"{n} + 1")}
            WHERE x.last_k >= k GROUP BY c, k"""
    else:
        counted = f"""SELECT m.c, {gap} AS k, count(DISTINCT m.user_id) AS users
            FROM members m JOIN returns r USING (user_id)
            WHERE {gap} BETWEEN 1 AND {n} GROUP BY ALL"""
    return f"""
WITH bounds AS (SELECT {lo} AS lo, {hi} AS hi, {cal.start(data_end)} AS last_p, {cal.local(data_end)} AS end_local),
activity AS ({activity}),
members AS ({members}),
returns AS (SELECT user_id, p FROM activity WHERE r),
sizes AS (SELECT c, count(*) AS cohort_size FROM members GROUP BY c),
counted AS ({counted}),
grid AS (SELECT s.c, s.cohort_size, t.k, {cal.add("s.c", "t.k")} AS cell FROM sizes s, {dialect.series("0", f"{n} + 1")})
SELECT g.c AS cohort_start, g.cohort_size, CAST(g.k AS INTEGER) AS interval,
       CASE WHEN g.cell > b.last_p THEN NULL WHEN g.k = 0 THEN g.cohort_size ELSE coalesce(x.users, 0) END AS users,
       CASE WHEN g.cell > b.last_p THEN NULL
            ELSE (CASE WHEN g.k = 0 THEN g.cohort_size ELSE coalesce(x.users, 0) END) / g.cohort_size END AS rate,
       ({cal.add("g.cell", "1")} > b.end_local) AS incomplete
FROM grid g CROSS JOIN bounds b LEFT JOIN counted x ON x.c = g.c AND x.k = g.k
ORDER BY cohort_start, interval"""


@metric_boundary("retention")
def run_retention(
    con: duckdb.DuckDBPyConnection, q: RetentionQuery, *, table: str = EVENTS
) -> RetentionResult:
    """Retention table: cohort_start, cohort_size, interval, users, rate (NULL when unobservable), incomplete."""
    plan = _validate(con, q)
    run = runner_for(con, table)
    params = Params()
    sql = retention_sql(q, plan, params, table=run.table_name, dialect=run.dialect)
    used = params.used_in(sql)
    frame = run.table(sql, used)
    if frame.empty:
        frame = pd.DataFrame(
            columns=["cohort_start", "cohort_size", "interval", "users", "rate", "incomplete"]
        )
    result = RetentionResult(q, frame, sql, used, con)
    result.warnings.extend(plan.warnings)
    result.warnings.extend(_left_out(run, plan))
    return result


def left_out_retention_sql(
    plan: RetentionPlan, params: Params, *, table: str, dialect: Dialect = DUCKDB
) -> str | None:
    """SQL counting the start and return events with no value for the unit (None for users)."""
    sp = step_predicate(plan.start, params, dialect)
    rp = step_predicate(plan.ret, params, dialect)
    return left_out_sql(plan.unit, params, f"({sp}) OR ({rp})", table=table, dialect=dialect)


def _left_out(run: Runner, plan: RetentionPlan) -> list[PoaWarning]:
    """F17: how many start and return events have no value for the unit, as a warning."""
    params = Params()
    sql = left_out_retention_sql(plan, params, table=run.table_name, dialect=run.dialect)
    if sql is None:
        return []
    count = run.value(sql, params.used_in(sql))
    return left_out_warning(plan.unit, int(count), "events", "retention")
