"""Period comparison: the same funnel or retention query over two date ranges, side by side.

``FunnelResult.compare`` and ``RetentionResult.compare`` run the query again over the other range
("previous": the same length of time just before, or a whole-month range's previous months; or an
explicit ``(date_from, date_to)``) and return a ``Comparison``: one row per measure and range with
counts, the rate over units whose window has closed (F15), its 95% Wilson interval, and on the
current range's row the difference, the two-proportion p-value and whether it is clear (F14: p <
0.05, no small sample, neither range incomplete). A comparison of several measures (every step,
every breakdown value) tests them all at once, so ``clear`` uses Holm's adjusted p-value
(``p_adjusted``): one chance difference among many is not called out.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from .funnel_analysis import (
    CLEAR_P,
    INCOMPLETE_SHARE,
    closed_counts_sql,
    compare_proportions,
    run_view,
)
from .result import MetricResult
from .spec import MetricError
from .validate import parse_range

if TYPE_CHECKING:
    from .funnel import FunnelResult
    from .retention import RetentionResult

US = pd.Timedelta(microseconds=1)
COLUMNS = [
    "measure",
    "breakdown",
    "period",
    "date_from",
    "date_to",
    "entrants",
    "users",
    "converted",
    "rate",
    "ci_low",
    "ci_high",
    "in_progress",
    "incomplete",
    "difference",
    "p_value",
    "p_adjusted",
    "small_sample",
    "clear",
]


@dataclass(kw_only=True)
class ComparisonQuery:
    """What was compared: the metric's query, and the current and other ranges (UTC instants)."""

    metric: str
    query: Any
    current: tuple[pd.Timestamp, pd.Timestamp]
    other: tuple[pd.Timestamp, pd.Timestamp]
    other_label: str


class Comparison(MetricResult):
    """``table``: per measure (and breakdown value), a row for the other range and one for the
    current range; the current row carries ``difference`` (current - other), ``p_value``,
    ``small_sample`` and ``clear``. ``sql`` holds both queries; ``summary()`` says it in words."""

    def figure(self):
        """Bars of both ranges' rates with 95% Wilson intervals, the verdict above each pair."""
        from ..charts.compare import comparison_figure

        return comparison_figure(self.table, _title(self.query))

    def summary(self) -> str:
        """One line per measure: both rates, the difference and whether it is clear, and why not."""
        return summarize(self.table)


def _title(q: ComparisonQuery) -> str:
    cur, other = q.current, q.other
    return (
        f"{q.metric.capitalize()}: {_span(*cur)} vs {_span(*other)} ({q.other_label}); "
        "users whose window has closed, 95% Wilson intervals"
    )


def _span(lo: pd.Timestamp, hi: pd.Timestamp) -> str:
    return f"{lo:%Y-%m-%d}..{hi:%Y-%m-%d}"


def other_range(
    current: tuple[pd.Timestamp | None, pd.Timestamp | None], compare: Any, area: str
) -> tuple[tuple[pd.Timestamp, pd.Timestamp], tuple[pd.Timestamp, pd.Timestamp], str]:
    """The current range and the one to compare it with, as UTC instants, and its label.

    "previous": whole calendar months give the same number of months before; any other range
    the same length of time just before it. A pair ``(date_from, date_to)`` is taken as given.

    Error codes: ``compare.needs_range`` (the query has no date_from or date_to: give both),
    ``compare.range`` (``compare`` is neither "previous" nor a readable pair: use one),
    ``compare.overlap`` (the two ranges overlap: pick one that ends before the query's starts)."""
    lo, hi = current
    if lo is None or hi is None:
        raise MetricError(
            "a comparison needs the query's own date range (date_from and date_to)",
            code="compare.needs_range",
            hint="run it with date_from= and date_to=, e.g. date_from='2026-09-01', "
            "date_to='2026-09-30', then .compare('previous')",
        )
    if isinstance(compare, str):
        if compare != "previous":
            raise MetricError(
                f"unknown comparison {compare!r}",
                code="compare.range",
                hint="use compare='previous' or a (date_from, date_to) pair",
            )
        months = _whole_months(lo, hi)
        start = lo - pd.DateOffset(months=months) if months else lo - (hi - lo) - US
        return (lo, hi), (start, lo - US), "previous"
    if not isinstance(compare, (tuple, list)) or len(compare) != 2:
        raise MetricError(
            f"cannot read compare={compare!r} as a date range",
            code="compare.range",
            hint="use compare='previous' or a (date_from, date_to) pair",
        )
    olo, ohi = parse_range(compare[0], compare[1], area)
    if olo is None or ohi is None:
        raise MetricError(
            "the range to compare with needs both ends",
            code="compare.range",
            hint="e.g. compare=('2026-08-01', '2026-08-31')",
        )
    if olo <= hi and lo <= ohi:
        raise MetricError(
            f"the ranges overlap ({_span(olo, ohi)} and {_span(lo, hi)}), so users in both "
            "would be counted twice",
            code="compare.overlap",
            hint="compare with a range that ends before date_from or starts after date_to",
        )
    return (lo, hi), (olo, ohi), "compared"


def _whole_months(lo: pd.Timestamp, hi: pd.Timestamp) -> int:
    end = hi + US
    if lo != lo.normalize() or lo.day != 1 or end != end.normalize() or end.day != 1:
        return 0
    return (end.year - lo.year) * 12 + end.month - lo.month


def compare_funnel(result: FunnelResult, compare: Any = "previous") -> Comparison:
    """Conversion from step 1 to every later step over two ranges of entry (F12, F14, F15)."""
    from .funnel import run_funnel, wilson

    plan = result.plan
    current, other, label = other_range((plan.date_from, plan.date_to), compare, "funnel")
    query = dataclasses.replace(result.query, date_from=other[0], date_to=other[1])
    baseline = run_funnel(result.con, query, table=result.events)
    steps = list(range(2, len(plan.steps) + 1))
    n = len(plan.steps)
    names = {  # F8: an unordered funnel's bars are "at least k of N steps", not step names
        k: f"completed at least {k} of {n} steps"
        if plan.order == "unordered"
        else f"conversion to {plan.steps[k - 1].name}"
        for k in steps
    }
    frames, sqls, params_all = [], [], {}
    for res, span, period in ((baseline, other, label), (result, current, "current")):
        params = res.new_params()
        sql = closed_counts_sql(res, params, steps, "breakdown")
        used = params.used_in(sql)
        raw = run_view(res, sql, used)
        if raw.empty:  # nobody entered in this range: zeros, not a missing row (F13)
            raw = pd.DataFrame([{c: 0 for c in raw.columns}]).assign(grp=None)
        sqls.append(f"-- {period}: {_span(*span)}\n{res.sql};\n{sql}")
        params_all[period] = {**res.params, **used}
        for k in steps:
            frames.append(
                pd.DataFrame(
                    {
                        "measure": names[k],
                        "breakdown": raw.grp if plan.breakdown else None,
                        "period": period,
                        "date_from": span[0],
                        "date_to": span[1],
                        "entrants": raw.entrants,
                        "users": raw.users,
                        "converted": raw[f"converted_{k}"],
                        "in_progress": raw.in_progress,
                        "order": k,
                    }
                )
            )
    table = _finish(pd.concat(frames, ignore_index=True), [label, "current"], wilson)
    cq = ComparisonQuery(
        metric="funnel", query=result.query, current=current, other=other, other_label=label
    )
    return Comparison(cq, table, ";\n".join(sqls), params_all)


def compare_retention(
    con: duckdb.DuckDBPyConnection, result: RetentionResult, compare: Any = "previous"
) -> Comparison:
    """Retention at every interval over the cohorts of two ranges (R3, R4, F14, F15).

    A cohort counts at interval k only when that cell is observable and complete; the others are
    in progress. Recurring cohorts can hold a user more than once (once per cohort)."""
    from .funnel import wilson
    from .retention import run_retention

    q = result.query
    current, other, label = other_range(
        parse_range(q.date_from, q.date_to, "retention"), compare, "retention"
    )
    baseline = run_retention(con, dataclasses.replace(q, date_from=other[0], date_to=other[1]))
    frames = []
    for res, span, period in ((baseline, other, label), (result, current, "current")):
        t = res.table
        if t.empty:
            t = pd.DataFrame(
                {"interval": range(1, q.intervals + 1), "cohort_size": 0, "users": 0, "rate": 0.0}
            ).assign(incomplete=False)
        t = t[t.interval >= 1]
        final = t.rate.notna() & ~t.incomplete.astype(bool)
        agg = (
            t.assign(
                closed=t.cohort_size.where(final, 0),
                kept=t.users.where(final, 0).fillna(0),
                open=t.cohort_size.where(~final, 0),
            )
            .groupby("interval")[["cohort_size", "closed", "kept", "open"]]
            .sum()
            .reindex(range(1, q.intervals + 1), fill_value=0)
        )
        frames.append(
            pd.DataFrame(
                {
                    "measure": [f"{q.period} {k} retention" for k in agg.index],
                    "breakdown": None,
                    "period": period,
                    "date_from": span[0],
                    "date_to": span[1],
                    "entrants": agg.cohort_size.to_numpy(),
                    "users": agg.closed.to_numpy(),
                    "converted": agg.kept.to_numpy(),
                    "in_progress": agg.open.to_numpy(),
                    "order": list(agg.index),
                }
            )
        )
    table = _finish(pd.concat(frames, ignore_index=True), [label, "current"], wilson)
    sql = (
        f"-- {label}: {_span(*other)}\n{baseline.sql};\n-- current: {_span(*current)}\n{result.sql}"
    )
    cq = ComparisonQuery(
        metric="retention", query=q, current=current, other=other, other_label=label
    )
    return Comparison(cq, table, sql, {label: baseline.params, "current": result.params})


def _finish(frame: pd.DataFrame, periods: list[str], wilson) -> pd.DataFrame:
    """Rates, intervals, the incomplete flag, and the test on each current row (F14, F15)."""
    for col in ("entrants", "users", "converted", "in_progress"):
        frame[col] = frame[col].fillna(0).astype(int)
    frame["rate"] = [
        c / u if u else math.nan for c, u in zip(frame.converted, frame.users, strict=True)
    ]
    ci = [wilson(c, u) for c, u in zip(frame.converted, frame.users, strict=True)]
    frame["ci_low"] = [c[0] for c in ci]
    frame["ci_high"] = [c[1] for c in ci]
    frame["incomplete"] = [
        bool(e and ip / e > INCOMPLETE_SHARE)
        for e, ip in zip(frame.entrants, frame.in_progress, strict=True)
    ]
    frame["period"] = pd.Categorical(frame.period, categories=periods, ordered=True)
    keys = ["order", "breakdown"]
    frame["breakdown"] = frame.breakdown.astype(object)
    frame = frame.sort_values([*keys, "period"], na_position="first", kind="stable")
    frame["difference"] = math.nan
    frame["p_value"] = math.nan
    frame["small_sample"] = None
    frame["clear"] = None
    frame = frame.reset_index(drop=True)
    for _, group in frame.groupby(keys, dropna=False, sort=False):
        rows = {str(frame.at[i, "period"]): i for i in group.index}
        if set(rows) != set(periods):
            cur = rows.get("current")
            if cur is not None:  # a breakdown value only one range has: nothing to compare with
                frame.loc[cur, ["small_sample", "clear"]] = [True, False]
            continue
        b, c = rows[periods[0]], rows["current"]
        test = compare_proportions(
            frame.at[c, "converted"],
            frame.at[c, "users"],
            frame.at[b, "converted"],
            frame.at[b, "users"],
            incomplete=bool(frame.at[c, "incomplete"] or frame.at[b, "incomplete"]),
        )
        for key, value in test.items():
            frame.at[c, key] = value
    frame["p_adjusted"] = holm(frame.p_value)
    tested = frame.p_adjusted.notna()
    frame.loc[tested, "clear"] = [
        bool(p < CLEAR_P and not small)
        for p, small in zip(frame.p_adjusted[tested], frame.small_sample[tested], strict=True)
    ]
    frame["period"] = frame.period.astype(str)
    return frame[COLUMNS]


def holm(p_values: pd.Series) -> pd.Series:
    """Holm's step-down adjustment over the tests of one comparison (NaN stays NaN): with several
    steps and breakdown values compared at once, a chance difference is not called out."""
    tested = p_values.dropna().sort_values(kind="stable")
    m, running, out = len(tested), 0.0, {}
    for j, (i, p) in enumerate(tested.items()):
        running = max(running, min(1.0, (m - j) * float(p)))
        out[i] = running
    return pd.Series(out, index=p_values.index, dtype=float)


def summarize(table: pd.DataFrame) -> str:
    """The comparison in words, one line per measure (and breakdown value)."""
    lines = []
    for _, group in table.groupby(["measure", "breakdown"], dropna=False, sort=False):
        if len(group) != 2:
            continue
        other, cur = group.iloc[0], group.iloc[1]
        name = cur.measure + (
            f" [{cur.breakdown or '(none)'}]" if cur.breakdown is not None else ""
        )
        line = (
            f"{name}: {_rate(cur)} in {_span(cur.date_from, cur.date_to)} vs {_rate(other)} in "
            f"{_span(other.date_from, other.date_to)} ({other.period}): "
        )
        diff = cur.difference
        line += f"{100 * diff:+.1f} points, " if diff == diff else "no difference to show, "
        if cur.clear:
            line += f"a clear change (p = {_p(cur.p_value)}{_adjusted(cur)})"
        else:
            why = []
            if cur.incomplete or other.incomplete:
                why.append(
                    "incomplete: "
                    + ", ".join(
                        f"{r.in_progress:,} of {r.entrants:,} still in their window in {r.period}"
                        for r in (other, cur)
                        if r.incomplete
                    )
                )
            if cur.small_sample:
                why.append("small sample")
            if cur.p_adjusted == cur.p_adjusted and cur.p_adjusted >= CLEAR_P:
                why.append(f"p = {_p(cur.p_value)}{_adjusted(cur)}")
            line += "not a clear change (" + "; ".join(why or ["no test"]) + ")"
        lines.append(line)
    return "\n".join(lines)


def _rate(r: Any) -> str:
    if not r.entrants:
        return "no entrants"
    if not r.users:
        return f"no rate yet (0 of {r.entrants:,} with their window closed)"
    return (
        f"{100 * r.rate:.1f}% ({r.converted:,} of {r.users:,}; 95% CI "
        f"{100 * r.ci_low:.1f}-{100 * r.ci_high:.1f}%)"
    )


def _adjusted(r: Any) -> str:
    return f", {_p(r.p_adjusted)} adjusted for all the tests" if r.p_adjusted != r.p_value else ""


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
