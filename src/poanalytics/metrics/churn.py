"""Churn by inactivity and survival (L2).

A user becomes churned N days (default 28) after a qualifying event that no other qualifying event
follows within those N days, provided that moment has come before the data's end. A user who comes
back and goes quiet again churns again. Active at an instant = a qualifying event in the N days up to
it. Churn rate of a period = users who became churned in it / users active at its start.

The edges: a period that begins less than N days after the data's first event cannot show churn
yet (nobody can have been quiet for N days), so its churned count and rate are NULL and
``observable`` is false; the period holding the data's last event (and any after it) is
``incomplete``. Users none of whose qualifying events carries the segment property form the named
group "no <property>" (e.g. "no plan").

Survival is Kaplan-Meier over signup cohorts: time from the first signup event to the first churn
after it, censored at the data's end for users who have not churned; 95% intervals by Greenwood's
formula (log-log). A date range picks the users whose first signup falls in it; they are followed
on past its end, to the data's end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from ..errors import PoaWarning
from ..sql import Params
from .catalog import check_events, check_filters, check_properties
from .engine import DUCKDB, EVENTS, Dialect, runner_for
from .periods import Calendar, check, data_span
from .predicates import prop_expr, step_predicate
from .result import MetricResult
from .spec import Step
from .validate import (
    check_event,
    check_flag,
    check_int,
    check_name,
    metric_boundary,
    parse_range,
)

Z95 = 1.959963984540054


@dataclass(kw_only=True)
class ChurnQuery:
    inactive_days: int = 28
    event: str | Step | None = None
    period: str = "week"
    segment: str | None = None
    date_from: Any = None
    date_to: Any = None
    timezone: str = "UTC"
    week_start: str = "monday"
    strict: bool = False


@dataclass(kw_only=True)
class SurvivalQuery:
    signup_event: str | Step | None = "signed_up"
    inactive_days: int = 28
    event: str | Step | None = None
    by: str | None = None  # a property of the signup event, or "cohort" (signup week)
    max_days: int | None = None
    # the signup cohort: users whose first signup event falls in [date_from, date_to] (a bare
    # date_to is the whole day); followed on to the data's end, like a funnel's window (F12)
    date_from: Any = None
    date_to: Any = None
    strict: bool = False


class ChurnResult(MetricResult):
    def figure(self):
        from ..charts.churn import churn_figure

        q = self.query
        return churn_figure(self.table, q.period, q.inactive_days, q.segment)


class SurvivalResult(MetricResult):
    def figure(self):
        from ..charts.churn import survival_figure

        return survival_figure(self.table, self.query.inactive_days)


def no_value(segment: str) -> str:
    """The name of the group of users without the segment property (L2), e.g. "no plan"."""
    return f"no {segment}"


MAX_INACTIVE_DAYS = 3660  # ten years


def _check_days(days: int, code: str) -> int:
    return int(check_int(days, "inactive_days", f"{code}.inactive_days", 1, MAX_INACTIVE_DAYS))


def churns_sql(pred: str, n_us: str, *, table: str, dialect: Dialect = DUCKDB) -> str:
    """CTE body: one row per churn moment (user_id, churned_at) over the events ``table``."""
    events, ep = dialect.table(table), dialect.epoch_us
    return f"""SELECT user_id, {dialect.add_us("ts", n_us)} AS churned_at FROM (
            SELECT user_id, ts, lead(ts) OVER (PARTITION BY user_id ORDER BY ts) AS nxt FROM {events} WHERE {pred})
        WHERE (nxt IS NULL OR {ep("nxt")} - {ep("ts")} > {n_us})
          AND {ep("ts")} + {n_us} <= (SELECT {ep("max(ts)")} FROM {events})"""


@dataclass(frozen=True)
class ChurnPlan:
    """A validated churn query: plain values a builder reads, no connection."""

    tz: str
    days: int
    step: Step
    segment: str | None
    date_from: pd.Timestamp | None
    date_to: pd.Timestamp | None
    warnings: tuple[PoaWarning, ...] = ()


def _validate_churn(con: duckdb.DuckDBPyConnection, q: ChurnQuery) -> ChurnPlan:
    tz = check(q.period, q.week_start, q.timezone, "churn")
    days = _check_days(q.inactive_days, "churn")
    check_flag(q.strict, "strict", code="churn.strict")
    step = check_event(q.event, "event", "churn")
    segment = check_name(q.segment, "segment", code="churn.segment")
    date_from, date_to = parse_range(q.date_from, q.date_to, "churn", whole_day=False)
    found = check_events(con, [step.event], "churn", q.strict)
    check_filters(con, [step], "churn")
    check_properties(con, [segment] if segment else [], "churn")
    return ChurnPlan(tz, days, step, segment, date_from, date_to, tuple(found))


def churn_sql(
    q: ChurnQuery, plan: ChurnPlan, p: Params, *, table: str, dialect: Dialect = DUCKDB
) -> str:
    """The churn table's SQL over the events ``table``, from a validated plan (no connection).

    Active at a period's start ``t0``: an event in (t0 - n, t0], n = inactive_days >= 1 day. The
    events are first cut to each user's first and last event of each UTC day (``days``), then
    joined to the periods: a day holds such an event exactly when its first or its last does.
    (If its first is at or before t0 - n, the whole day, shorter than n, ends by t0, so its last
    is at or before t0 too, and it is the day's latest candidate.) The range join then reads
    one or two rows per user and day instead of every event."""
    events, ep = dialect.table(table), dialect.epoch_us
    cal = Calendar(q.period, q.week_start, plan.tz, p, dialect)
    pred = step_predicate(plan.step, p, dialect)
    n_us = p.add(plan.days * 86_400_000_000)
    # the value on the user's first qualifying event that has one (arg_min skips NULLs)
    seg = "''"
    if plan.segment:
        first = dialect.arg_min(f"nullif({prop_expr(plan.segment, p, dialect)}, '')", "ts")
        seg = f"coalesce({first}, {p.add(no_value(plan.segment))})"
    lo, hi = cal.span(plan.date_from, plan.date_to, *data_span(events))
    periods = dialect.series("0", f"{cal.index('lo', 'hi')} + 1")
    return f"""
WITH segs AS (SELECT user_id, {seg} AS segment FROM {events} WHERE {pred} GROUP BY user_id),
churns AS ({churns_sql(pred, n_us, table=table, dialect=dialect)}),
bounds AS (SELECT {lo} AS lo, {hi} AS hi, (SELECT min(ts) FROM {events}) AS first_ts,
                  (SELECT max(ts) FROM {events}) AS last_ts),
periods AS (SELECT {cal.add("lo", "k")} AS period_start, {cal.instant(cal.add("lo", "k"))} AS t0,
                   {cal.instant(cal.add("lo", "k + 1"))} AS t1, first_ts, last_ts
            FROM bounds, {periods}),
days AS (SELECT user_id, min(ts) AS first_ts, max(ts) AS last_ts FROM {events} WHERE {pred}
         GROUP BY user_id, CAST({dialect.utc_wall("ts")} AS DATE)),
active AS (SELECT x.period_start, s.segment, count(DISTINCT d.user_id) AS active_at_start
           FROM periods x JOIN days d
             ON (d.first_ts <= x.t0 AND {ep("d.first_ts")} > {ep("x.t0")} - {n_us})
             OR (d.last_ts <= x.t0 AND {ep("d.last_ts")} > {ep("x.t0")} - {n_us})
           JOIN segs s USING (user_id) GROUP BY ALL),
gone AS (SELECT x.period_start, s.segment, count(DISTINCT c.user_id) AS churned
         FROM periods x JOIN churns c ON c.churned_at >= x.t0 AND c.churned_at < x.t1
         JOIN segs s USING (user_id) GROUP BY ALL),
keys AS (SELECT period_start, segment,
                {ep("t0")} - {ep("first_ts")} >= {n_us} AND t0 <= last_ts AS observable,
                t1 > last_ts AS incomplete
         FROM periods, (SELECT DISTINCT segment FROM segs))
SELECT k.period_start, k.segment, coalesce(a.active_at_start, 0) AS active_at_start,
       CASE WHEN k.observable THEN coalesce(g.churned, 0) END AS churned,
       CASE WHEN k.observable THEN coalesce(g.churned, 0) / nullif(coalesce(a.active_at_start, 0), 0)
       END AS churn_rate,
       {plan.days} AS inactive_days, k.observable, k.incomplete
FROM keys k LEFT JOIN active a USING (period_start, segment) LEFT JOIN gone g USING (period_start, segment)
ORDER BY k.segment, k.period_start"""


@metric_boundary("churn")
def run_churn(con: duckdb.DuckDBPyConnection, q: ChurnQuery, *, table: str = EVENTS) -> ChurnResult:
    """Per period (and segment): active_at_start, churned, churn_rate, inactive_days, observable
    (false: too early for churn to show, churned and churn_rate NULL), incomplete (the data ends
    inside or before the period)."""
    plan = _validate_churn(con, q)
    run = runner_for(con, table)
    p = Params()
    sql = churn_sql(q, plan, p, table=run.table_name, dialect=run.dialect)
    used = p.used_in(sql)
    frame = run.table(sql, used)
    if not q.segment:
        frame = frame.drop(columns=["segment"])
    result = ChurnResult(q, frame, sql, used)
    result.warnings.extend(plan.warnings)
    return result


@dataclass(frozen=True)
class SurvivalPlan:
    """A validated survival query: plain values a builder reads, no connection."""

    days: int
    max_days: int | None
    signup: Step
    activity: Step
    by: str | None
    date_from: pd.Timestamp | None
    date_to: pd.Timestamp | None
    warnings: tuple[PoaWarning, ...] = ()


def _validate_survival(con: duckdb.DuckDBPyConnection, q: SurvivalQuery) -> SurvivalPlan:
    days = _check_days(q.inactive_days, "survival")
    check_flag(q.strict, "strict", code="survival.strict")
    max_days = check_int(
        q.max_days, "max_days", code="survival.max_days", low=0, high=100_000, none_ok=True
    )
    signup = check_event(q.signup_event, "signup_event", "survival")
    activity = check_event(q.event, "event", "survival")
    by = check_name(q.by, "by", code="survival.by")
    lo, hi = parse_range(q.date_from, q.date_to, "survival")
    found = check_events(con, [signup.event, activity.event], "survival", q.strict)
    check_filters(con, [signup, activity], "survival")
    check_properties(con, [by] if by and by != "cohort" else [], "survival")
    return SurvivalPlan(days, max_days, signup, activity, by, lo, hi, tuple(found))


def survival_sql(plan: SurvivalPlan, p: Params, *, table: str, dialect: Dialect = DUCKDB) -> str:
    """Churn and censoring counts per group and day over the events ``table`` (no connection)."""
    events, ep = dialect.table(table), dialect.epoch_us
    n_us = p.add(plan.days * 86_400_000_000)
    sp, ap = step_predicate(plan.signup, p, dialect), step_predicate(plan.activity, p, dialect)
    cohort = (
        [f"min(ts) >= {dialect.instant(p.add(plan.date_from))}"]
        if plan.date_from is not None
        else []
    )
    cohort += (
        [f"min(ts) <= {dialect.instant(p.add(plan.date_to))}"] if plan.date_to is not None else []
    )
    having = f" HAVING {' AND '.join(cohort)}" if cohort else ""
    if plan.by == "cohort":
        group = dialect.day_label(dialect.trunc("week", dialect.utc_wall("min(ts)")))
    elif plan.by:
        group = f"coalesce({dialect.arg_min(prop_expr(plan.by, p, dialect), 'ts')}, '')"
    else:
        group = "'all'"
    end = f"coalesce(churned_at, (SELECT max(ts) FROM {events}))"
    return f"""
WITH signups AS (SELECT user_id, min(ts) AS t0, {group} AS grp FROM {events} WHERE {sp} GROUP BY user_id{having}),
churns AS ({churns_sql(f"({ap} OR {sp})", n_us, table=table, dialect=dialect)}),
firsts AS (SELECT s.user_id, s.grp, s.t0, min(c.churned_at) AS churned_at
           FROM signups s LEFT JOIN churns c ON c.user_id = s.user_id AND c.churned_at > s.t0 GROUP BY ALL),
durations AS (SELECT grp, CAST(floor(({ep(end)} - {ep("t0")})
                                    / 86400e6) AS INTEGER) AS day, churned_at IS NOT NULL AS churned FROM firsts)
SELECT grp AS {dialect.ident("group")}, day, count(*) FILTER (WHERE churned) AS events, count(*) FILTER (WHERE NOT churned) AS censored
FROM durations GROUP BY ALL ORDER BY 1, 2"""


@metric_boundary("survival")
def run_survival(
    con: duckdb.DuckDBPyConnection, q: SurvivalQuery, *, table: str = EVENTS
) -> SurvivalResult:
    """Kaplan-Meier: group, day, at_risk, events, censored, survival, ci_low, ci_high, inactive_days."""
    plan = _validate_survival(con, q)
    run = runner_for(con, table)
    p = Params()
    sql = survival_sql(plan, p, table=run.table_name, dialect=run.dialect)
    used = p.used_in(sql)
    counts = run.table(sql, used)
    frame = kaplan_meier(counts, plan.max_days)
    frame["inactive_days"] = plan.days
    result = SurvivalResult(q, frame, sql, used)
    result.warnings.extend(plan.warnings)
    return result


def kaplan_meier(counts: pd.DataFrame, max_days: int | None = None) -> pd.DataFrame:
    """Survival per group from (group, day, events, censored) counts; one row per day with an event."""
    rows = []
    for grp, g in counts.groupby("group", sort=True):
        at_risk = int(g.events.sum() + g.censored.sum())
        surv, green = 1.0, 0.0
        rows.append(
            {
                "group": grp,
                "day": 0,
                "at_risk": at_risk,
                "events": 0,
                "survival": 1.0,
                "ci_low": 1.0,
                "ci_high": 1.0,
            }
        )
        for r in g.sort_values("day").itertuples(index=False):
            d, c = int(r.events), int(r.censored)
            if d and at_risk:
                surv *= 1 - d / at_risk
                if at_risk > d:
                    green += d / (at_risk * (at_risk - d))
                lo, hi = _loglog(surv, green)
                if max_days is None or r.day <= max_days:
                    rows.append(
                        {
                            "group": grp,
                            "day": int(r.day),
                            "at_risk": at_risk,
                            "events": d,
                            "survival": surv,
                            "ci_low": lo,
                            "ci_high": hi,
                        }
                    )
            at_risk -= d + c
    return pd.DataFrame(
        rows, columns=["group", "day", "at_risk", "events", "survival", "ci_low", "ci_high"]
    )


def _loglog(s: float, green: float) -> tuple[float, float]:
    if s <= 0 or s >= 1 or green <= 0:
        return (s, s) if s <= 0 else (s, 1.0)
    se = math.sqrt(green) / abs(math.log(s))
    return (s ** math.exp(Z95 * se), s ** math.exp(-Z95 * se))
