"""Funnel correlation: which events, and which step-1 property values, go with converting.

After PostHog's funnel correlation analysis. For a conversion target (a step, default the last) the
funnel's units split into *converters* (reached the step) and *droppers* (reached step 1 but not the
step, with their window closed); units still inside their window are left out, as in ``f.dropped``.
For every event (or property value) a 2x2 table counts the converters and droppers who have it:

                 has it     has not
    converters     a        S - a        S = success_total
    droppers       c        F - c        F = failure_total

odds_ratio = (a + 1)(F - c + 1) / ((S - a + 1)(c + 1)): 1 is added to every cell (PostHog's prior),
so a zero cell gives a finite ratio. The p-value is a two-sided Fisher exact test on the raw counts.

Events count in the time span of the attempt behind the unit's result: strictly after its step-1
event, and strictly before its conversion at the target step (converters) or up to the end of its
window, edge included (droppers, F5). Events named like a funnel step are left out.

All counting is SQL over the funnel's per-unit temp table joined with the events; Python only turns
the few aggregated rows into ratios and p-values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, cast

import pandas as pd

from ..sql import Params
from .catalog import Source, check_events, check_properties
from .funnel_analysis import SMALL_SAMPLE, dialect_of, run_view
from .predicates import prop_expr, step_predicate
from .result import MetricResult
from .spec import MetricError
from .validate import check_choice, event_names

if TYPE_CHECKING:
    from .funnel import FunnelResult

KINDS = ("events", "properties")
Z95 = 1.959963984540054
MIN_USERS_CAP, MIN_USERS_SHARE = 25, 0.02  # PostHog: keep rows seen by >= min(25, 2% of units)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact test of the 2x2 table [[a, b], [c, d]].

    With the margins fixed, the top-left cell x follows a hypergeometric law; the p-value is the
    total probability of every table no more likely than the observed one (as R's fisher.test and
    scipy, with the same 1e-7 relative tolerance for ties). The law is unimodal, so those tables
    are the two tails: from the observed x outward on its side, and on the other side from the first
    x (found by bisection) that is no more likely. Each tail is summed outward, each term from the
    last by the ratio of neighbours, until the terms no longer change the sum: the cost grows with
    the spread of the law (~ sqrt(n)), not with n, so 100k-user funnels stay fast.
    """
    row, col, n = a + b, a + c, a + b + c + d
    lo, hi = max(0, col - (n - row)), min(row, col)

    def log_choose(m: int, k: int) -> float:
        return math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1)

    def log_p(x: int) -> float:  # P(x) = C(row, x) C(n - row, col - x) / C(n, col)
        return log_choose(row, x) + log_choose(n - row, col - x) - log_choose(n, col)

    def up(x: int) -> float:  # P(x + 1) / P(x)
        return (row - x) * (col - x) / ((x + 1) * (n - row - col + x + 1))

    def tail(x: int, step: int) -> float:  # P(x) + P(x + step) + ... until negligible
        term, total = math.exp(log_p(x)), 0.0
        while term > 0:
            total += term
            if term < total * 1e-17 or not lo <= x + step <= hi:
                break
            term *= up(x) if step > 0 else 1 / up(x - 1)
            x += step
        return total

    mode = min(hi, max(lo, (row + 1) * (col + 1) // (n + 2)))
    observed = log_p(a) + 1e-7
    if log_p(mode) <= observed:  # the observed table is one of the most likely: all tables count
        return 1.0
    # The far side (across the mode from a): log_p rises towards the mode, so the tables there as
    # unlikely as a form one run from the boundary outward; its innermost table by bisection.
    outward = -1 if a > mode else 1
    far = _first_as_unlikely(log_p, observed, mode, lo if a > mode else hi)
    far_tail = tail(far, outward) if far is not None else 0.0
    return min(1.0, tail(a, -outward) + far_tail)


def _first_as_unlikely(
    log_p: Callable[[int], float], observed: float, mode: int, bound: int
) -> int | None:
    """The table nearest the mode, between the mode and ``bound``, no more likely than the observed
    one (``log_p`` rises from ``bound`` to ``mode``); None when even ``bound`` is more likely."""
    if log_p(bound) > observed:
        return None
    inside, outside = mode, bound  # log_p(inside) > observed >= log_p(outside)
    while abs(inside - outside) > 1:
        mid = (inside + outside) // 2
        inside, outside = (inside, mid) if log_p(mid) <= observed else (mid, outside)
    return outside


@dataclass(kw_only=True, frozen=True)
class CorrelationQuery:
    step: int | None = None  # the conversion target, 2..N (default: the last step)
    kind: str = "events"  # "events" or "properties" (of the step-1 event)
    properties: Sequence[str] | str | None = None  # kind="properties": None = every key found
    exclude_events: Sequence[str] | str = ()
    min_users: int | None = None  # None: PostHog's min(25, 2% of converters + droppers)
    top: int | None = 10  # per direction; None = all
    breakdown_value: str | None = None  # only the units of one breakdown value


@dataclass
class CorrelationResult(MetricResult):
    step: int = 0
    step_name: str = ""
    success_total: int = 0
    failure_total: int = 0
    skewed: bool = False  # PostHog's warning: one side over 10 times the other

    def summary_table(self) -> pd.DataFrame:
        """Each event or value in words ("4.2x less likely to convert"), counts, odds ratio, p."""
        from .summary import correlation_summary

        return correlation_summary(self.table)

    def figure(self):
        """Odds ratios in words ("4.2x less likely to convert") with 95% intervals."""
        from ..charts.funnel_correlation import correlation_figure

        title = f"What goes with reaching step {self.step} ({self.step_name})"
        return correlation_figure(
            self.table, title, self.success_total, self.failure_total, self.skewed
        )


def _names(value: Sequence[str] | str) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _fail(message: str, code: str, hint: str) -> MetricError:
    return MetricError(message, code=code, hint=hint)


def _validate(f: FunnelResult, q: CorrelationQuery) -> int:
    n = len(f.plan.steps)
    if f.plan.order == "unordered":
        raise _fail(
            "unordered funnels have no step order, so no span between two steps to correlate over",
            "funnel.correlation_unordered",
            "run the funnel with order='ordered' or 'strict'",
        )
    check_choice(q.kind, KINDS, "correlation kind", code="funnel.correlation_kind")
    step = n if q.step is None else q.step
    if isinstance(step, bool) or not isinstance(step, int) or not 2 <= step <= n:
        raise _fail(f"step {step!r} is outside 2..{n}", "funnel.step", f"pick a step from 2 to {n}")
    for name, value in (("min_users", q.min_users), ("top", q.top)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise _fail(
                f"{name} must be a whole number >= 1 or None, got {value!r}",
                "funnel.correlation_limit",
                f"e.g. {name}=10",
            )
    if q.properties is not None and q.kind != "properties":
        raise _fail(
            "properties are analysed with kind='properties'",
            "funnel.correlation_properties",
            "pass kind='properties', or leave properties out",
        )
    if q.breakdown_value is not None and not f.plan.breakdown:
        raise _fail(
            "breakdown_value needs a funnel with a breakdown",
            "funnel.no_breakdown",
            "run the funnel with breakdown='<property>'",
        )
    if q.breakdown_value is not None and not isinstance(q.breakdown_value, str):
        raise _fail(
            f"breakdown_value must be a breakdown value (text) or None, got {q.breakdown_value!r}",
            "funnel.breakdown_value",
            "pick one from result.table.breakdown",
        )
    excluded = event_names(q.exclude_events, "exclude_events", code="funnel.correlation_exclude")
    catalog = cast(Source, f.con)  # the DuckDB connection, or Spark's runner (its Catalog)
    check_events(catalog, excluded, "funnel")
    props = () if q.properties is None else q.properties
    check_properties(
        catalog,
        event_names(props, "properties", code="funnel.correlation_properties"),
        "funnel",
    )
    return step


def _units_sql(f: FunnelResult, step: int, q: CorrelationQuery, params: Params) -> str:
    """Converters (success = 1) and droppers with a closed window (success = 0), one row per unit."""
    only = (
        f" AND breakdown = {params.add(q.breakdown_value)}" if q.breakdown_value is not None else ""
    )
    return f"""units AS (SELECT unit, user_id, breakdown, t1, t{step} AS t_goal,
        CASE WHEN depth >= {step} THEN 1 ELSE 0 END AS success
    FROM {f.per_user_table} WHERE (depth >= {step} OR NOT in_progress){only})"""


def _events_sql(f: FunnelResult, q: CorrelationQuery, params: Params) -> str:
    skip = sorted({s.event for s in f.plan.steps if s.event is not None} | set(q.exclude_events))
    not_in = f"AND e.event NOT IN ({', '.join(params.add(x) for x in skip)})" if skip else ""
    w_us = params.add(f.plan.window * 1_000_000)
    d = dialect_of(f)
    return f"""hits AS (SELECT DISTINCT u.unit, u.success, e.event FROM units u
    JOIN {d.table(f.events)} e ON e.user_id = u.user_id
    WHERE e.ts > u.t1 AND CASE WHEN u.success = 1 THEN e.ts < u.t_goal
        ELSE {d.epoch_us("e.ts")} - {d.epoch_us("u.t1")} <= {w_us} END {not_in})
SELECT event, sum(success) AS success_count, sum(1 - success) AS failure_count
FROM hits GROUP BY event"""


def _first_events_sql(f: FunnelResult, params: Params) -> str:
    """Each unit's step-1 event of the attempt behind its result (at t1; the first loaded on ties)."""
    plan, d = f.plan, dialect_of(f)
    carries = plan.breakdown and (
        plan.attribution == "all_events"
        or (plan.attribution == "step" and plan.breakdown_step == 1)
    )
    value = (
        f" AND coalesce({prop_expr(plan.breakdown, params, d)}, '') = u.breakdown"
        if carries and plan.breakdown
        else ""
    )
    return f"""firsts AS (SELECT u.unit, u.success, e.properties,
        row_number() OVER (PARTITION BY u.unit ORDER BY e.rowid) AS rn
    FROM units u JOIN {d.table(f.events)} e ON e.user_id = u.user_id AND e.ts = u.t1
    WHERE {step_predicate(plan.steps[0], params, d)}{value}),
picked AS (SELECT unit, success, properties FROM firsts WHERE rn = 1)"""


def _properties_sql(f: FunnelResult, names: Sequence[str], params: Params) -> str:
    vals = " UNION ALL ".join(
        f"SELECT unit, success, {params.add(p)} AS property, "
        f"coalesce({prop_expr(p, params, dialect_of(f))}, '') AS value FROM picked"
        for p in names
    )
    return f"""vals AS ({vals})
SELECT property, value, sum(success) AS success_count, sum(1 - success) AS failure_count
FROM vals GROUP BY property, value"""


def run_correlation(f: FunnelResult, query: CorrelationQuery) -> CorrelationResult:
    """Events (or step-1 property values) that go with converting to ``query.step`` or dropping off."""
    step = _validate(f, query)
    props = None if query.properties is None else _names(query.properties)
    query = replace(query, properties=props, exclude_events=_names(query.exclude_events))
    params = f.new_params()  # the funnel's per-unit query is re-run inside each statement
    units = _units_sql(f, step, query, params)
    totals_sql = (
        f"WITH {units}\nSELECT coalesce(sum(success), 0), coalesce(sum(1 - success), 0) FROM units"
    )
    totals = run_view(f, totals_sql, params.used_in(totals_sql))
    success_total, failure_total = (int(v) for v in totals.iloc[0]) if len(totals) else (0, 0)
    keys: Sequence[str] = ["event"]
    if query.kind == "events":
        main = f"WITH {units},\n{_events_sql(f, query, params)}"
    else:
        keys = ["property", "value"]
        firsts = f"WITH {units},\n{_first_events_sql(f, params)}"
        names = list(query.properties or [])
        if query.properties is None:
            keys_of = dialect_of(f).json_keys("properties")
            found = f"{firsts}\nSELECT DISTINCT {keys_of} AS k FROM picked ORDER BY 1"
            names = [str(k) for k in run_view(f, found, params.used_in(found)).k]
        main = f"{firsts},\n{_properties_sql(f, names, params)}" if names else ""
    counts = (
        run_view(f, main, params.used_in(main))
        if main and success_total and failure_total
        else pd.DataFrame(columns=[*keys, "success_count", "failure_count"])
    )
    table = _table(counts, keys, success_total, failure_total, query)
    sql = f"-- units: the funnel's per-unit rows, its per-unit query re-run\n{totals_sql}"
    sql += f";\n{main}" if main else ""
    skewed = (
        not (success_total and failure_total)
        or max(success_total / failure_total, failure_total / success_total) > 10
    )
    return CorrelationResult(
        query,
        table,
        sql,
        params.used_in(sql),
        step=step,
        step_name=f.plan.steps[step - 1].name,
        success_total=success_total,
        failure_total=failure_total,
        skewed=bool(skewed),
    )


def _table(
    counts: pd.DataFrame, keys: Sequence[str], s: int, f: int, q: CorrelationQuery
) -> pd.DataFrame:
    """Odds ratios, intervals, tests and flags for the aggregated rows (one per event or value)."""
    frame = counts.astype({"success_count": "int64", "failure_count": "int64"})
    least = (
        q.min_users if q.min_users is not None else min(MIN_USERS_CAP, MIN_USERS_SHARE * (s + f))
    )
    frame = frame[frame.success_count + frame.failure_count >= least].copy()
    a, c = frame.success_count, frame.failure_count
    frame["success_total"], frame["failure_total"] = s, f
    frame["odds_ratio"] = (a + 1) * (f - c + 1) / ((s - a + 1) * (c + 1))
    frame["log_odds_ratio"] = [math.log(x) for x in frame.odds_ratio]
    half = Z95 * (1 / (a + 1) + 1 / (s - a + 1) + 1 / (c + 1) + 1 / (f - c + 1)) ** 0.5
    frame["log_odds_ci_low"] = frame.log_odds_ratio - half
    frame["log_odds_ci_high"] = frame.log_odds_ratio + half
    frame["direction"] = ["success" if x > 1 else "failure" for x in frame.odds_ratio]
    frame["strength"] = frame.log_odds_ratio.abs()
    frame = frame.sort_values(["strength", *keys], ascending=[False] + [True] * len(keys))
    if q.top is not None:
        frame = frame.groupby("direction", sort=False).head(q.top)
    frame["p_value"] = [
        fisher_exact(int(x), s - int(x), int(y), f - int(y))
        for x, y in zip(frame.success_count, frame.failure_count, strict=True)
    ]
    # small: fewer than 30 units on a side, or an expected cell count under 5 (Cochran's rule)
    seen = frame.success_count + frame.failure_count
    expected = [min(s, f) * min(k, s + f - k) / (s + f) if s + f else 0.0 for k in seen]
    frame["small_sample"] = [min(s, f) < SMALL_SAMPLE or e < 5 for e in expected]
    frame["significant"] = (frame.p_value < 0.05) & ~frame.small_sample.astype(bool)
    frame = frame.sort_values(
        ["strength", "p_value", *keys], ascending=[False, True, *[True] * len(keys)]
    )
    table = frame.drop(columns=["strength"]).reset_index(drop=True)  # columns as assigned
    return table.astype({"small_sample": bool, "significant": bool})
