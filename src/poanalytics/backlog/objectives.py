"""Objectives measured: ``wb.objectives().table`` (``measure(con, config, as_of=...)``).

Each objective of conf/product.toml is bound to one metric of the warehouse; its current value is
computed here, never typed in. The rules (docs/backlog.md, "Objectives"):

**Windows.** ``as_of`` is an instant: by default the newest event's time (the data's date). The
evidence window is ``[as_of - period_weeks x 7 days, as_of)`` ([planning] period_weeks, default
4); the previous window is the same length just before it. ``current`` is the metric over the
evidence window, ``trend`` = current - previous (in the metric's own unit: points of a rate as a
fraction, hours, items per week), NULL when either window has no value.

**Metrics** (each reuses the metric engine or the voice tables, with their rules):

* ``conversion``: the [funnel] from its first step to ``step`` (window [funnel] window, default
  7d), users entering (their first-step event) in the window; conversion = users who reached
  ``step`` / users who reached ``from_step`` (default: the step before ``step``), counting only
  users whose conversion window has closed by ``as_of`` (F12, F15: users still in their window
  are in progress, reported in ``detail``, never failures, and early converters alone never make
  a rate). ``n`` = users who reached ``from_step`` with their window closed. 95% Wilson interval.
* ``time_to_convert``: the median time in **hours** (baseline and target in hours too, e.g. 24
  for a day) from ``from_step`` to ``step`` over the same
  users who reached ``step`` (window closed; F11: from the attempt that gave the user's result).
  95% distribution-free interval of the median: the order statistics x(l) .. x(n+1-l) with l the
  largest rank such that P(B <= l - 1) <= 2.5% for B ~ Binomial(n, 1/2) (coverage >= 95%); with
  fewer than 6 users no such interval exists and the bounds are NULL (flag ``small_sample``).
* ``retention``: the share of a sign-up cohort (first-time cohorts of ``step``, default the
  [funnel]'s first step; calendar weeks, Monday, UTC; R1-R4) with any event in week ``week``
  after the cohort's week. Week N of a cohort is observable only once it is over, so the cohorts
  are the ``period_weeks`` latest cohort weeks whose week N ended by ``as_of`` (``window_from`` ..
  ``window_to`` name the first and last cohort week); the previous window is the
  ``period_weeks`` cohort weeks before them. ``n`` = the cohorts' users. 95% Wilson interval.
* ``churn_rate``: L2 with N = ``inactive_days`` (default [planning] inactive_days, 28): of the
  users active at the window's start (an event in the N days up to it), the share who became
  churned during the window (their churn moment, last event + N days with no event in between,
  falls in the window). Events after ``as_of`` are not read. A window that begins less than N
  days after the data's first event cannot show churn: NULL, flag ``too_early``. 95% Wilson.
* ``theme_volume``: support tickets (not interview notes: how many interviews are held is the
  team's choice, not a signal of the problem) in ``theme`` created in the window, per week
  (current refresh of wb.voice_refresh()); 95% exact Poisson interval (Garwood) of the count,
  divided by the weeks. A window without a single ticket of any theme is no data (NULL, flag
  ``no_data``): the export probably does not cover it; a quiet theme in a window with tickets is 0.
  When the ticket export covers only part of the window (its first ticket is more than 7 days after
  the window's start, or its last more than 7 days before the window's end), the rate is over the weeks
  it covers, never over the whole window (which would read silently low), with flag
  ``partial_window``; ``window_from``/``window_to`` are the covered part and the detail says so.

**Segment.** An objective's ``segment`` ({property: [values]}) narrows it to those users:
funnel-based metrics (conversion, time to convert, retention) read it on the entering event
(the first step carries the filter ``property in values``); churn reads it as L2 does (the first
non-empty value of the property on the user's events up to ``as_of``); theme volume counts the
tickets joined to a user (voice.people) whose L2 segment matches, and says how many tickets
could not be joined.

**Columns.** objective, metric, baseline, current, target, trend, ci_low, ci_high (of
``current``), direction ("up" when the target is above the baseline, else "down", unless the
config states it), distance (still to go, positive until the target is reached: target - current
for "up", current - target for "down"), progress ((current - baseline) / (target - baseline):
0 at the baseline, 1 at the target), n, as_of, query and params (the SQL and parameters behind
``current``), then previous, unit, window_from, window_to (the current window; for retention
the cohort weeks), flag and detail.

An ``as_of`` after the newest event is measured as asked, with a ``PoaWarning``
(``backlog.as_of_after_data``): the days past the data hold nothing.

**No data, never 0.** A window with nothing to measure gives NULL ``current`` (and NULL
distance and progress), a flag and a ``PoaWarning`` (``backlog.objective_no_data``); a
measurement that cannot be made as configured (an unknown step, event, theme or property) gives a
row with NULLs, the error's code as ``flag`` and its message and hint as ``detail`` (and a
``PoaWarning`` ``backlog.objective_failed``), so one broken objective does not hide the others.

Flags (``;``-separated): ``no_data``, ``no_previous_data``, ``too_early``, ``incomplete`` (more
than 10% of the window's entrants still in their window, F15), ``small_sample`` (n < 30),
``unjoined`` (theme volume with a segment: tickets without a user left out), or an error code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from ..db import fetch_df, fetch_one
from ..errors import PoaError, PoaWarning, warn
from ..metrics.churn import churns_sql
from ..metrics.funnel import FunnelQuery, FunnelResult, run_funnel, wilson
from ..metrics.funnel_analysis import INCOMPLETE_SHARE, SMALL_SAMPLE, closed_counts_sql
from ..metrics.predicates import prop_expr
from ..metrics.result import MetricResult
from ..metrics.retention import RetentionQuery, run_retention
from ..metrics.spec import Prop, Step
from ..metrics.validate import metric_boundary, parse_instant
from ..sql import Params
from .errors import BacklogError
from .model import METRICS, Objective, ProductConfig, Segment

US = pd.Timedelta(microseconds=1)
WEEK = pd.Timedelta(days=7)
COLUMNS = [
    "objective",
    "metric",
    "baseline",
    "current",
    "target",
    "trend",
    "ci_low",
    "ci_high",
    "direction",
    "distance",
    "progress",
    "n",
    "as_of",
    "query",
    "params",
    "previous",
    "unit",
    "window_from",
    "window_to",
    "flag",
    "detail",
]
UNITS = {
    "conversion": "share",
    "time_to_convert": "hours",
    "retention": "share",
    "churn_rate": "share",
    "theme_volume": "items per week",
}


# -- shared pieces (impact.py uses them too) -----------------------------------------------------


def resolve_as_of(con: duckdb.DuckDBPyConnection, as_of: Any) -> pd.Timestamp | None:
    """``as_of`` as a UTC instant (a bare date is the end of that day, as a funnel's ``as_of``);
    None: the newest event's time, or None when the warehouse holds no events."""
    parsed = parse_instant(as_of, "as_of", end=True)
    if parsed is not None:
        return parsed
    row = fetch_one(con, "SELECT max(ts) FROM events")
    value = row[0] if row else None
    return None if value is None else pd.Timestamp(value).tz_convert("UTC")


def after_data(con: duckdb.DuckDBPyConnection, as_of: pd.Timestamp | None) -> list[PoaWarning]:
    """A warning when ``as_of`` lies after the newest event: the days between hold no data, so
    counts in them (tickets per week, active users) would read low and churn could not show."""
    row = fetch_one(con, "SELECT max(ts) FROM events")
    newest = row[0] if row else None
    if as_of is None or newest is None or as_of <= pd.Timestamp(newest):
        return []
    return [
        PoaWarning(
            f"as_of {as_of:%Y-%m-%d %H:%M} UTC is after the newest event "
            f"({pd.Timestamp(newest):%Y-%m-%d %H:%M} UTC): the windows reach past the data",
            code="backlog.as_of_after_data",
            hint="leave as_of out (the data's date), or load the data up to it first",
        )
    ]


def segment_step(event: str | None, segment: Segment) -> Step:
    """A funnel or retention step on ``event`` that only users of ``segment`` enter by."""
    where = {prop: Prop.is_in(list(values)) for prop, values in segment.items()}
    return Step(event, where=where)


def segment_users_sql(segment: Segment, params: Params, until: str) -> str:
    """SQL: user_id of the users in ``segment`` by L2's rule (the first non-empty value of each
    property on their events up to ``until``, an SQL instant)."""
    conds = []
    for prop, values in segment.items():
        expr = f"nullif({prop_expr(prop, params)}, '')"
        first = f"arg_min({expr}, ts) FILTER (WHERE {expr} IS NOT NULL)"
        conds.append(f"{first} IN ({', '.join(params.add(str(v)) for v in values)})")
    return (
        f"SELECT user_id FROM events WHERE ts <= {until} GROUP BY user_id "
        f"HAVING {' AND '.join(conds) or 'true'}"
    )


def garwood(count: int, z_level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson mean from one observed ``count``."""
    from scipy.stats import chi2

    alpha = 1 - z_level
    low = 0.0 if count == 0 else float(chi2.ppf(alpha / 2, 2 * count)) / 2
    high = float(chi2.ppf(1 - alpha / 2, 2 * count + 2)) / 2
    return low, high


def median_interval(values: Any) -> tuple[float, float, float]:
    """Median of ``values`` and its 95% distribution-free interval from order statistics:
    (x(l), x(n+1-l)) with l the largest rank such that P(B <= l - 1) <= 0.025, B ~ Bin(n, 1/2);
    the bounds are NaN when n < 6 (no such rank exists)."""
    import numpy as np
    from scipy.stats import binom

    xs = np.sort(np.asarray(values, dtype=float))
    n = len(xs)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    med = float(np.median(xs))
    rank = int(binom.ppf(0.025, n, 0.5))  # smallest k with P(B <= k) >= 0.025: P(B <= k-1) < it
    if rank < 1:
        return (med, math.nan, math.nan)
    return (med, float(xs[rank - 1]), float(xs[n - rank]))


@dataclass
class Measure:
    """One metric over one window: value and interval, the count behind it, why it may be NULL."""

    value: float | None
    low: float | None = None
    x: int = 0  # the count behind a rate (its numerator) or the items counted
    high: float | None = None
    n: int = 0
    sql: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None
    flags: list[str] = field(default_factory=list)
    detail: str = ""
    warnings: list[PoaWarning] = field(default_factory=list)


def _none(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def funnel_steps(config: ProductConfig, step: str | None, from_step: str | None) -> list[str]:
    """The [funnel] steps from the first to ``step``; ``from_step`` must come before it."""
    if not step:
        raise BacklogError(
            "a conversion objective needs the funnel step it converts into",
            code="backlog.objective_step",
            hint='add step = "<a step of [funnel] steps>" to the objective',
        )
    if config.funnel is None:
        if from_step:
            return [from_step, step]
        raise BacklogError(
            f"conversion into {step!r} needs the product's funnel ([funnel] steps)",
            code="backlog.no_funnel",
            hint='add [funnel] steps = ["signed_up", ...] to conf/product.toml, or give from_step',
        )
    steps = list(config.funnel.steps)
    if step not in steps:
        from ..errors import did_you_mean

        raise BacklogError(
            f"{step!r} is not a step of [funnel] steps.{did_you_mean(step, steps)}",
            code="backlog.objective_step",
            hint="use one of " + ", ".join(steps),
        )
    k = steps.index(step)
    if k == 0:
        raise BacklogError(
            f"{step!r} is the funnel's first step: nothing converts into it",
            code="backlog.objective_step",
            hint="pick a later step of [funnel] steps",
        )
    if from_step is not None and from_step not in steps[:k]:
        raise BacklogError(
            f"from_step {from_step!r} is not a [funnel] step before {step!r}",
            code="backlog.objective_step",
            hint="use one of " + ", ".join(steps[:k]),
        )
    return steps[: k + 1]


def funnel_window(config: ProductConfig) -> str:
    return config.funnel.window if config.funnel is not None else "7d"


def run_window_funnel(
    con: duckdb.DuckDBPyConnection,
    config: ProductConfig,
    steps: list[str],
    segment: Segment,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    as_of: pd.Timestamp,
) -> FunnelResult:
    """The funnel over ``steps`` for users entering in [lo, hi), observed at ``as_of``."""
    first = segment_step(steps[0], segment) if segment else steps[0]
    query = FunnelQuery(
        steps=[first, *steps[1:]],
        window=funnel_window(config),
        date_from=lo,
        date_to=hi - US,
        as_of=as_of,
        strict=True,
    )
    return run_funnel(con, query)


def step_conversion(
    con: duckdb.DuckDBPyConnection,
    config: ProductConfig,
    step: str,
    from_step: str | None,
    segment: Segment,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    as_of: pd.Timestamp,
) -> Measure:
    """Conversion into ``step`` from ``from_step`` (default the previous step), entrants in
    [lo, hi), windows closed by ``as_of`` (F12, F15); Wilson interval."""
    steps = funnel_steps(config, step, from_step)
    k = len(steps)
    j = steps.index(from_step) + 1 if from_step else k - 1
    res = run_window_funnel(con, config, steps, segment, lo, hi, as_of)
    try:
        p = res.new_params()  # the funnel's per-unit query is re-run inside this one
        sql = closed_counts_sql(res, p, [j, k], "NULL")
        used = p.used_in(sql)
        raw = fetch_df(con, sql, used)
    finally:
        res.close()
    entrants = int(raw.entrants.sum()) if len(raw) else 0
    n = int(raw[f"converted_{j}"].sum()) if len(raw) else 0
    x = int(raw[f"converted_{k}"].sum()) if len(raw) else 0
    waiting = int(raw[f"converted_in_progress_{j}"].sum()) if len(raw) else 0
    m = Measure(
        None,
        n=n,
        sql=res.sql + ";\n" + sql,
        params={**res.params, **used},
        window=(lo, hi),
        warnings=list(res.warnings),
    )
    m.detail = (
        f"{x:,} of {n:,} users who reached {steps[j - 1]} went on to {step} within "
        f"{funnel_window(config)} ({entrants:,} entered the funnel, {waiting:,} of those who "
        f"reached {steps[j - 1]} still in their window)"
    )
    if n == 0:
        m.flags.append("no_data")
        m.detail = (
            f"no user who entered in the window reached {steps[j - 1]} with their window closed "
            f"({entrants:,} entered, {waiting:,} still in their window)"
        )
        return m
    m.value, m.x = x / n, x
    m.low, m.high = wilson(x, n)
    if waiting and waiting / (n + waiting) > INCOMPLETE_SHARE:
        m.flags.append("incomplete")
    if n < SMALL_SAMPLE:
        m.flags.append("small_sample")
    return m


def _time_to_convert(
    con: duckdb.DuckDBPyConnection,
    config: ProductConfig,
    obj: Objective,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    as_of: pd.Timestamp,
) -> Measure:
    steps = funnel_steps(config, obj.step, obj.from_step)
    k = len(steps)
    j = steps.index(obj.from_step) + 1 if obj.from_step else k - 1
    res = run_window_funnel(con, config, steps, obj.segment, lo, hi, as_of)
    try:
        p = res.new_params()  # the funnel's per-unit query is re-run inside this one
        w_us = p.add(res.plan.window * 1_000_000)
        end = p.add(as_of) + "::TIMESTAMPTZ"
        sql = f"""SELECT (epoch_us(t{k}) - epoch_us(t{j})) / 3.6e9 AS hours
            FROM {res.per_user_table}
            WHERE depth >= {k} AND epoch_us(entered) + {w_us} <= epoch_us({end}) ORDER BY hours"""
        used = p.used_in(sql)
        hours = fetch_df(con, sql, used).hours.to_numpy()
    finally:
        res.close()
    m = Measure(
        None,
        n=len(hours),
        sql=res.sql + ";\n" + sql,
        params={**res.params, **used},
        window=(lo, hi),
        warnings=list(res.warnings),
    )
    if not len(hours):
        m.flags.append("no_data")
        m.detail = f"no user who entered in the window reached {obj.step} with the window closed"
        return m
    med, low, high = median_interval(hours)
    m.value, m.low, m.high = med, _none(low), _none(high)
    m.detail = (
        f"median {med:.2f} h from {steps[j - 1]} to {obj.step} over {len(hours):,} users "
        "whose window has closed"
    )
    if len(hours) < SMALL_SAMPLE:
        m.flags.append("small_sample")
    return m


def retention_cohorts(
    as_of: pd.Timestamp, week: int, weeks: int, back: int = 0
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last cohort week (Mondays, UTC) of ``weeks`` cohorts whose week ``week``
    has ended by ``as_of``; ``back`` windows earlier for the previous window."""
    monday = (as_of.tz_convert("UTC") - pd.Timedelta(days=as_of.weekday())).normalize()
    last = monday - (week + 1) * WEEK - back * weeks * WEEK
    return last - (weeks - 1) * WEEK, last


def _retention(
    con: duckdb.DuckDBPyConnection,
    config: ProductConfig,
    obj: Objective,
    as_of: pd.Timestamp,
    back: int,
) -> Measure:
    week = obj.week
    if not isinstance(week, int) or isinstance(week, bool) or week < 1:
        raise BacklogError(
            f"a retention objective needs week = N (a whole number from 1), got {week!r}",
            code="backlog.objective_week",
            hint="e.g. week = 4: retained in the 4th week after the sign-up week",
        )
    start = obj.step or (config.funnel.steps[0] if config.funnel else None)
    if not start:
        raise BacklogError(
            "a retention objective needs its start event: step, or [funnel] steps",
            code="backlog.objective_step",
            hint='add step = "signed_up" to the objective',
        )
    lo, hi = retention_cohorts(as_of, week, config.planning.period_weeks, back)
    event = segment_step(start, obj.segment) if obj.segment else start
    query = RetentionQuery(
        start_event=event,
        period="week",
        intervals=week,
        cohort="first_time",
        date_from=lo,
        date_to=hi,
        as_of=as_of,
        strict=True,
    )
    res = run_retention(con, query)
    t = res.table
    cell = t[(t.interval == week) & t.rate.notna() & ~t.incomplete.astype(bool)]
    n = int(cell.cohort_size.sum())
    x = int(cell.users.sum())
    m = Measure(
        None,
        n=n,
        sql=res.sql,
        params=dict(res.params),
        window=(lo, hi + WEEK),
        warnings=list(res.warnings),
    )
    cohorts = f"cohorts of the weeks {lo:%Y-%m-%d} to {hi:%Y-%m-%d} (Mondays)"
    if n == 0:
        m.flags.append("no_data")
        m.detail = f"nobody did {start} in the {cohorts}"
        return m
    m.value = x / n
    m.low, m.high = wilson(x, n)
    m.detail = f"{x:,} of {n:,} users of the {cohorts} came back in week {week}"
    if n < SMALL_SAMPLE:
        m.flags.append("small_sample")
    return m


def churn_rate(
    con: duckdb.DuckDBPyConnection,
    segment: Segment,
    inactive_days: int,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    as_of: pd.Timestamp,
) -> Measure:
    """L2 over [lo, hi): of the users active at ``lo``, the share whose churn moment falls in it."""
    p = Params()
    until = p.add(as_of) + "::TIMESTAMPTZ"
    plo, phi = p.add(lo) + "::TIMESTAMPTZ", p.add(hi) + "::TIMESTAMPTZ"
    n_us = p.add(inactive_days * 86_400_000_000)
    members = f"AND user_id IN ({segment_users_sql(segment, p, until)})" if segment else ""
    sql = f"""
WITH churns AS ({churns_sql(f"ts <= {until}", n_us, table="events")}),
active AS (SELECT DISTINCT user_id FROM events
           WHERE ts <= {plo} AND epoch_us(ts) > epoch_us({plo}) - {n_us} {members}),
gone AS (SELECT DISTINCT user_id FROM churns
         WHERE churned_at >= {plo} AND churned_at < {phi} AND churned_at <= {until})
SELECT (SELECT count(*) FROM active) AS active_at_start,
       (SELECT count(*) FROM active JOIN gone USING (user_id)) AS churned,
       (SELECT epoch_us({plo}) - epoch_us(min(ts)) >= {n_us} FROM events) AS observable"""
    used = p.used_in(sql)
    row = fetch_df(con, sql, used).iloc[0]
    n, x = int(row.active_at_start), int(row.churned)
    m = Measure(None, n=n, sql=sql, params=used, window=(lo, hi))
    if not (pd.notna(row.observable) and bool(row.observable)):
        m.flags.append("too_early")
        m.detail = (
            f"the window starts less than {inactive_days} days after the data's first event: "
            "nobody can have churned yet"
        )
        return m
    if n == 0:
        m.flags.append("no_data")
        m.detail = f"nobody was active in the {inactive_days} days before the window"
        return m
    m.value = x / n
    m.low, m.high = wilson(x, n)
    m.detail = (
        f"{x:,} of {n:,} users active at the window's start churned in it "
        f"(no event for {inactive_days} days)"
    )
    if n < SMALL_SAMPLE:
        m.flags.append("small_sample")
    return m


def theme_volume(
    con: duckdb.DuckDBPyConnection,
    theme: str,
    segment: Segment,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    as_of: pd.Timestamp,
) -> Measure:
    """Tickets of ``theme`` created in [lo, hi), per week; Garwood interval."""
    from ..voice.people import check_theme, current, people_ctes

    refreshed = fetch_one(con, "SELECT count(*) FROM voice_items")
    if not refreshed or not refreshed[0]:
        return Measure(
            None,
            window=(lo, hi),
            flags=["no_data"],
            detail="no ticket or note has been read yet: load tickets and run wb.voice_refresh()",
        )
    check_theme(con, theme)
    p = Params()
    plo, phi = p.add(lo) + "::TIMESTAMPTZ", p.add(hi) + "::TIMESTAMPTZ"
    until = p.add(as_of) + "::TIMESTAMPTZ"
    if segment:
        people = f"WITH {people_ctes(p, 'tickets', None, None)},"
        who = f"""SELECT item_id, user_id, user_id IN ({segment_users_sql(segment, p, until)})
                         AS member FROM item_people"""
    else:
        people = "WITH"
        who = "SELECT item_id, NULL AS user_id, true AS member FROM voice_items WHERE false"
    sql = f"""{people}
tickets AS (SELECT item_id FROM voice_items WHERE refresh_id = {current("voice_items")}
            AND source = 'tickets' AND created_at >= {plo} AND created_at < {phi}),
themed AS (SELECT DISTINCT item_id FROM voice_assignments
           WHERE refresh_id = {current("voice_assignments")} AND source = 'tickets'
             AND theme = {p.add(theme)} AND item_id IN (SELECT item_id FROM tickets)),
who AS ({who})
SELECT (SELECT count(*) FROM tickets) AS tickets,
       (SELECT count(*) FROM themed) AS items,
       (SELECT count(*) FROM themed JOIN who USING (item_id) WHERE member) AS members,
       (SELECT count(*) FROM themed JOIN who USING (item_id) WHERE who.user_id IS NULL) AS unjoined"""
    used = p.used_in(sql)
    row = fetch_df(con, sql, used).iloc[0]
    x = int(row.members) if segment else int(row["items"])
    m = Measure(None, n=x, sql=sql, params=used, window=(lo, hi))
    if int(row.tickets) == 0:
        m.flags.append("no_data")
        m.detail = "no ticket at all was created in the window: the export may not cover it"
        return m
    start, end = ticket_coverage(con, lo, hi, as_of)
    m.window = (start, end)
    weeks = (end - start) / WEEK
    low, high = garwood(x)
    m.value, m.low, m.high = x / weeks, low / weeks, high / weeks
    m.detail = (
        f"{x:,} tickets about {theme} in {_span_text(end - start)} ({int(row.tickets):,} tickets "
        "in all)"
    )
    if (start, end) != (lo, hi):
        m.flags.append("partial_window")
        m.detail += (
            f"; the ticket export covers only {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC "
            f"of the window {lo:%Y-%m-%d} .. {hi:%Y-%m-%d}: the rate is per week of that part"
        )
    if segment and int(row.unjoined):
        m.flags.append("unjoined")
        m.detail += f"; {int(row.unjoined):,} of the theme's tickets could not be joined to a user"
    return m


# a ticket export whose first ticket is more than this after a window's start began after it; one
# whose last is more than this before a window's end ended before it (shorter gaps: a quiet spell)
EXPORT_SLACK = pd.Timedelta(days=7)


def ticket_coverage(
    con: duckdb.DuckDBPyConnection, lo: pd.Timestamp, hi: pd.Timestamp, as_of: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The part of [lo, hi) the ticket export covers: from its first ticket (up to ``as_of``) when
    that is more than ``EXPORT_SLACK`` after ``lo``, up to its last one when that is more than
    ``EXPORT_SLACK`` before ``hi``; (lo, hi) when it covers all of it. Call only when the window
    holds at least one ticket."""
    from ..voice.people import current

    p = Params()
    sql = f"""SELECT min(created_at), max(created_at) FROM voice_items
WHERE refresh_id = {current("voice_items")} AND source = 'tickets'
  AND created_at <= {p.add(as_of)}::TIMESTAMPTZ"""
    row = fetch_one(con, sql, p.used_in(sql))
    if row is None or row[0] is None:
        return lo, hi
    first, last = pd.Timestamp(row[0]).tz_convert("UTC"), pd.Timestamp(row[1]).tz_convert("UTC")
    start = first if first - lo > EXPORT_SLACK else lo
    end = last if hi - last > EXPORT_SLACK else hi
    return start, max(end, start + pd.Timedelta(microseconds=1))


def _span_text(span: pd.Timedelta) -> str:
    """A window's length in words: "4 weeks", "13.9 days"."""
    if span % WEEK == pd.Timedelta(0):
        weeks = int(span / WEEK)
        return f"{weeks} week{'s' if weeks != 1 else ''}"
    return f"{span / pd.Timedelta(days=1):.1f} days"


# -- objectives ----------------------------------------------------------------------------------


def windows(as_of: pd.Timestamp, weeks: int) -> tuple[tuple[pd.Timestamp, pd.Timestamp], ...]:
    """The evidence window [as_of - weeks, as_of) and the previous one of the same length."""
    span = weeks * WEEK
    return (as_of - span, as_of), (as_of - 2 * span, as_of - span)


def direction(obj: Objective) -> str:
    if obj.direction in ("up", "down"):
        return obj.direction
    return "up" if obj.target >= obj.baseline else "down"


def measure_objective(
    con: duckdb.DuckDBPyConnection,
    config: ProductConfig,
    obj: Objective,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    as_of: pd.Timestamp,
    back: int = 0,
) -> Measure:
    """``obj``'s metric over [lo, hi) (``back`` = 1: the previous window, for retention's
    cohorts), observed at ``as_of``."""
    if obj.metric == "conversion":
        if not obj.step:
            funnel_steps(config, obj.step, obj.from_step)  # raises the coded error
        return step_conversion(
            con, config, str(obj.step), obj.from_step, obj.segment, lo, hi, as_of
        )
    if obj.metric == "time_to_convert":
        return _time_to_convert(con, config, obj, lo, hi, as_of)
    if obj.metric == "retention":
        return _retention(con, config, obj, as_of, back)
    if obj.metric == "churn_rate":
        days = obj.inactive_days or config.planning.inactive_days
        return churn_rate(con, obj.segment, days, lo, hi, as_of)
    if obj.metric == "theme_volume":
        if not obj.theme:
            raise BacklogError(
                f"objective {obj.name!r} measures a theme's volume but names no theme",
                code="backlog.objective_theme",
                hint='add theme = "<a theme of conf/themes.toml>" to the objective',
            )
        return theme_volume(con, obj.theme, obj.segment, lo, hi, as_of)
    raise BacklogError(
        f"objective {obj.name!r}: unknown metric {obj.metric!r}",
        code="backlog.objective_metric",
        hint="use one of " + ", ".join(METRICS),
    )


def _failed(exc: PoaError) -> Measure:
    text = exc.message + (f" What to do: {exc.hint}" if exc.hint else "")
    m = Measure(None, flags=[exc.code], detail=text)
    return m


@dataclass(kw_only=True)
class ObjectivesQuery:
    """What ``wb.objectives()`` measures: the product file's objectives at ``as_of``."""

    config: ProductConfig
    as_of: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.config, ProductConfig):
            raise BacklogError(
                f"objectives are measured from a ProductConfig, got {type(self.config).__name__}",
                code="backlog.config_type",
                hint="read conf/product.toml with poanalytics.backlog.config first",
            )
        parse_instant(self.as_of, "as_of", end=True)  # readable (metric.date otherwise)


@dataclass
class ObjectivesResult(MetricResult):
    """``table``: one row per objective (COLUMNS); ``sql`` every query, ``params`` per objective;
    ``as_of`` the instant measured at (None: no events)."""

    as_of: pd.Timestamp | None = None

    def figure(self):
        """Each objective's current value with its interval against baseline and target."""
        from ..charts.backlog import objectives_figure

        return objectives_figure(self.table)


@metric_boundary("backlog")
def run_objectives(con: duckdb.DuckDBPyConnection, query: ObjectivesQuery) -> ObjectivesResult:
    """Measure every objective of ``query.config`` (see the module's rules)."""
    config = query.config
    as_of = resolve_as_of(con, query.as_of)
    weeks = config.planning.period_weeks
    rows: list[dict[str, Any]] = []
    sqls: list[str] = []
    params: dict[str, Any] = {}
    found: list[PoaWarning] = after_data(con, as_of)
    for obj in config.objectives:
        row = _row(con, config, obj, as_of, weeks, found)
        rows.append(row)
        if row["query"]:
            sqls.append(f"-- objective {obj.name}\n{row['query']}")
        params[obj.name] = row["params"]
    table = pd.DataFrame(rows, columns=COLUMNS)
    for col in (
        "baseline",
        "current",
        "target",
        "trend",
        "ci_low",
        "ci_high",
        "distance",
        "progress",
        "previous",
    ):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    table["n"] = table["n"].astype("Int64")
    result = ObjectivesResult(query, table, ";\n".join(sqls), params, as_of)
    for w in found:
        warn(w)
    result.warnings.extend(found)
    return result


def _row(
    con: duckdb.DuckDBPyConnection,
    config: ProductConfig,
    obj: Objective,
    as_of: pd.Timestamp | None,
    weeks: int,
    found: list[PoaWarning],
) -> dict[str, Any]:
    flags: list[str] = []
    if as_of is None:
        cur, prev = Measure(None, flags=["no_data"], detail="the warehouse holds no events"), None
    else:
        (lo, hi), (plo, phi) = windows(as_of, weeks)
        cur = _guarded(lambda: measure_objective(con, config, obj, lo, hi, as_of))
        prev = (
            _guarded(lambda: measure_objective(con, config, obj, plo, phi, as_of, back=1))
            if cur.value is not None or "no_data" in cur.flags
            else None
        )
    found.extend(cur.warnings)
    flags += cur.flags
    previous = prev.value if prev is not None else None
    if cur.value is not None and previous is None:
        flags.append("no_previous_data")
    value = cur.value
    if value is None:
        what = f"objective {obj.name!r} ({obj.metric}) has no current value: {cur.detail}"
        hint = "see the row's flag and detail in wb.objectives().table"
        if "no_data" in flags or "too_early" in flags:
            found.append(PoaWarning(what, code="backlog.objective_no_data", hint=hint))
        else:
            found.append(PoaWarning(what, code="backlog.objective_failed", hint=hint))
    way = direction(obj)
    distance = progress = None
    if value is not None:
        distance = obj.target - value if way == "up" else value - obj.target
        if obj.target != obj.baseline:
            progress = (value - obj.baseline) / (obj.target - obj.baseline)
    window = cur.window
    return {
        "objective": obj.name,
        "metric": obj.metric,
        "baseline": obj.baseline,
        "current": value,
        "target": obj.target,
        "trend": value - previous if value is not None and previous is not None else None,
        "ci_low": cur.low if value is not None else None,
        "ci_high": cur.high if value is not None else None,
        "direction": way,
        "distance": distance,
        "progress": progress,
        "n": cur.n if value is not None or cur.sql else None,
        "as_of": as_of,
        "query": cur.sql,
        "params": cur.params,
        "previous": previous,
        "unit": UNITS.get(obj.metric, ""),
        "window_from": window[0] if window else None,
        "window_to": window[1] if window else None,
        "flag": ";".join(dict.fromkeys(flags)) or None,
        "detail": cur.detail,
    }


def _guarded(fn: Callable[[], Measure]) -> Measure:
    try:
        return fn()
    except PoaError as exc:
        return _failed(exc)


def measure(con: duckdb.DuckDBPyConnection, config: ProductConfig, *, as_of: Any) -> pd.DataFrame:
    """The objectives table (module docstring); ``as_of`` None: the newest event's time."""
    return run_objectives(con, ObjectivesQuery(config=config, as_of=as_of)).table
