"""Views of a computed funnel: conversion trend by period, time to convert, two-proportion tests.

Rates over time and across breakdown values follow F15: a rate counts only entrants whose window has
closed (their result is final); entrants still in their window are reported beside it
(``in_progress``, of whom ``converted_in_progress`` already converted) and never make a rate. A
period or value with more than ``INCOMPLETE_SHARE`` (10%) of its entrants in progress is
``incomplete`` and never called out as a change.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import did_you_mean
from ..sql import Params
from .engine import Dialect, runner_for
from .spec import MetricError

if TYPE_CHECKING:
    from .funnel import FunnelResult

PERIODS = ("day", "week", "month")
TREND_BY = ("entry", "attempt")
SMALL_SAMPLE = 30  # fewer users than this on either side: a small sample, never called out
MIN_EXPECTED = 5  # fewer expected conversions or drop-offs than this: a small sample too
INCOMPLETE_SHARE = 0.10  # more than this share of a period's entrants in progress: incomplete
CLEAR_P = 0.05


def two_proportion_p(x1: float, n1: float, x2: float, n2: float) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (nan when undefined)."""
    if n1 <= 0 or n2 <= 0:
        return math.nan
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if x1 / n1 == x2 / n2 else 0.0
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


def is_small_sample(x1: float, n1: float, x2: float, n2: float) -> bool:
    """Fewer than 30 users on a side, or fewer than 5 expected conversions or drop-offs (F14)."""
    if min(n1, n2) < SMALL_SAMPLE:
        return True
    pooled = (x1 + x2) / (n1 + n2)
    return min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled)) < MIN_EXPECTED


def compare_proportions(
    x1: float, n1: float, x2: float, n2: float, incomplete: bool = False
) -> dict[str, Any]:
    """The one rule for every call-out (F14, F15): the difference x1/n1 - x2/n2, its p-value, and
    ``clear`` only when p < 0.05, neither side is a small sample and neither is incomplete."""
    small = n1 <= 0 or n2 <= 0 or is_small_sample(x1, n1, x2, n2)
    if incomplete or n1 <= 0 or n2 <= 0:  # no test: an empty or incomplete side
        return {
            "difference": (x1 / n1 if n1 else math.nan) - (x2 / n2 if n2 else math.nan),
            "p_value": math.nan,
            "small_sample": bool(small),
            "clear": False,
        }
    p = two_proportion_p(x1, n1, x2, n2)
    return {
        "difference": x1 / n1 - x2 / n2,
        "p_value": p,
        "small_sample": small,
        "clear": bool(p < CLEAR_P and not small),
    }


def run_view(result: FunnelResult, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """``sql`` (a statement over the result's per-unit rows) run on the engine that computed the
    result: DuckDB, or Spark through its runner."""
    return runner_for(result.con, result.events).table(sql, params)


def dialect_of(result: FunnelResult) -> Dialect:
    return runner_for(result.con, result.events).dialect


def observation_end(result: FunnelResult, params: Params) -> str:
    """SQL for the instant the funnel's windows are judged against: ``as_of`` when the query has
    one, else the data's last event (F12, F18)."""
    d = dialect_of(result)
    as_of = getattr(result.plan, "as_of", None)
    if as_of is not None:
        return d.instant(params.add(as_of))
    return f"(SELECT max(ts) FROM {d.table(result.events)})"


def closed_counts_sql(
    result: FunnelResult, params: Params, steps: list[int], group: str, start: str = "entered"
) -> str:
    """Per ``group``: entrants, users (window closed), in_progress, and per step k in ``steps``
    converted_k and converted_in_progress_k. An entrant is in progress when the window from
    ``start`` (its entry, or the attempt that gave its result) is still open at the observation
    end, or when it has not converted and another attempt's window is still open."""
    d = dialect_of(result)
    w_us = params.add(result.plan.window * 1_000_000)
    end = observation_end(result, params)
    last = max(steps)
    cols = []
    for k in steps:
        cols.append(f"count(*) FILTER (WHERE NOT open AND depth >= {int(k)}) AS converted_{k}")
        cols.append(
            f"count(*) FILTER (WHERE open AND depth >= {int(k)}) AS converted_in_progress_{k}"
        )
    return f"""
        WITH u AS (SELECT {group} AS grp, depth,
                          {d.epoch_us(start)} + {w_us} > {d.epoch_us(end)}
                          OR (in_progress AND depth < {int(last)}) AS open
                   FROM {result.per_user_table})
        SELECT grp, count(*) AS entrants, count(*) FILTER (WHERE NOT open) AS users,
               count(*) FILTER (WHERE open) AS in_progress, {", ".join(cols)}
        FROM u GROUP BY grp ORDER BY grp ASC NULLS LAST"""


def _check_step(result: FunnelResult, step: int | None) -> int:
    n = len(result.plan.steps)
    step = step or n
    if not 2 <= step <= n:
        raise MetricError(
            f"step {step} is outside 2..{n}", code="funnel.step", hint=f"pick a step from 2 to {n}"
        )
    return step


def trend(
    result: FunnelResult, period: str = "week", step: int | None = None, by: str = "entry"
) -> pd.DataFrame:
    """Conversion from step 1 to ``step`` (default: the last) per period (F15).

    ``by="entry"``: each unit in the period of its entry (its first step-1 event in the range).
    ``by="attempt"``: each unit in the period of the step-1 event of the attempt that gave its
    result (the first attempt that reached its furthest step), so a user who failed in one week
    and converted on a new attempt the next counts in the later week.
    Columns: period_start, entrants, users (window closed: the rate's denominator), converted,
    rate, ci_low, ci_high, in_progress, converted_in_progress, in_progress_share, incomplete,
    p_value_vs_previous, clear_change, small_sample.
    """
    from .funnel import wilson

    if period not in PERIODS:
        raise MetricError(
            f"unknown period {period!r}.{did_you_mean(period, PERIODS)}",
            code="funnel.period",
            hint="use 'day', 'week' or 'month'",
        )
    if by not in TREND_BY:
        raise MetricError(
            f"unknown trend basis by={by!r}.{did_you_mean(by, TREND_BY)}",
            code="funnel.trend_by",
            hint="use by='entry' (the unit's first entry) or by='attempt' (the attempt that gave "
            "its result)",
        )
    step = _check_step(result, step)
    start = "entered" if by == "entry" else "t1"
    params = result.new_params()  # the per-unit query's values, and these after them
    sql = closed_counts_sql(result, params, [step], f"date_trunc('{period}', {start})", start)
    raw = run_view(result, sql, params.used_in(sql))
    frame = pd.DataFrame(
        {
            "period_start": raw.grp,
            "entrants": raw.entrants.astype(int),
            "users": raw.users.astype(int),
            "converted": raw[f"converted_{step}"].astype(int),
        }
    )
    return _with_rates(frame, raw, step, wilson)


def _with_rates(frame: pd.DataFrame, raw: pd.DataFrame, step: int, wilson) -> pd.DataFrame:
    frame["rate"] = [
        c / u if u else math.nan for c, u in zip(frame.converted, frame.users, strict=True)
    ]
    ci = [wilson(c, u) for c, u in zip(frame.converted, frame.users, strict=True)]
    frame["ci_low"] = [c[0] for c in ci]
    frame["ci_high"] = [c[1] for c in ci]
    frame["in_progress"] = raw.in_progress.astype(int)
    frame["converted_in_progress"] = raw[f"converted_in_progress_{step}"].astype(int)
    frame["in_progress_share"] = frame.in_progress / frame.entrants
    frame["incomplete"] = frame.in_progress_share > INCOMPLETE_SHARE
    p_values, clear = [math.nan], [False]
    for prev, cur in zip(frame.iloc[:-1].itertuples(), frame.iloc[1:].itertuples(), strict=True):
        test = compare_proportions(
            cur.converted,
            cur.users,
            prev.converted,
            prev.users,
            incomplete=bool(cur.incomplete or prev.incomplete),
        )
        p_values.append(test["p_value"])
        clear.append(test["clear"])
    frame["p_value_vs_previous"] = p_values[: len(frame)]
    frame["clear_change"] = clear[: len(frame)]
    frame["small_sample"] = frame.users < SMALL_SAMPLE
    return frame


def conversion_times(result: FunnelResult, step: int, from_step: int | None = None) -> pd.DataFrame:
    """Seconds from ``from_step`` (default: the previous step) to ``step`` for every user who reached it.
    Unordered funnels: from the ``from_step``-th to the ``step``-th completed step (F16)."""
    n = len(result.plan.steps)
    from_step = from_step or step - 1
    if not 1 <= from_step < step <= n:
        raise MetricError(
            f"steps {from_step}->{step} are not within 1..{n} in order",
            code="funnel.step",
            hint=f"pick 1 <= from_step < step <= {n}",
        )
    d = dialect_of(result)
    seconds = f"({d.epoch_us(f't{step}')} - {d.epoch_us(f't{from_step}')}) / 1e6"
    sql = f"""
        SELECT user_id, breakdown, {seconds} AS seconds
        FROM {result.per_user_table} WHERE depth >= {int(step)} ORDER BY seconds, user_id"""
    return run_view(result, sql, result.new_params().used_in(sql))


CALLOUT_COLUMNS = [
    "breakdown",
    "entrants",
    "users",
    "converted",
    "rate",
    "rest_rate",
    "difference",
    "p_value",
    "small_sample",
    "in_progress",
    "incomplete",
    "clear",
]


def breakdown_callouts(result: FunnelResult, step: int | None = None) -> pd.DataFrame:
    """Each breakdown value's conversion to ``step`` against all other values (F14, F15).

    Rates count only users whose window has closed (``users``); those still in their window are
    ``in_progress`` and left out. ``clear`` is set only when a two-proportion z-test gives
    p < 0.05, neither side is a small sample (fewer than 30 users, or fewer than 5 expected
    conversions or drop-offs) and neither side is incomplete (over 10% of its entrants in progress).
    """
    if not result.plan.breakdown:
        raise MetricError(
            "call-outs compare breakdown values; this funnel has no breakdown",
            code="funnel.no_breakdown",
            hint="run the funnel with breakdown='<property>'",
        )
    step = _check_step(result, step)
    params = result.new_params()  # the per-unit query's values, and these after them
    sql = closed_counts_sql(result, params, [step], "breakdown")
    raw = run_view(result, sql, params.used_in(sql))
    conv = raw[f"converted_{step}"]
    total_n, total_x = float(raw.users.sum()), float(conv.sum())
    total_e, total_ip = float(raw.entrants.sum()), float(raw.in_progress.sum())
    rows = []
    for r, x1 in zip(raw.itertuples(index=False), conv, strict=True):
        n1 = float(r.users)
        n2, x2 = total_n - n1, total_x - float(x1)
        share = r.in_progress / r.entrants if r.entrants else 0.0
        rest_e = total_e - r.entrants
        rest_share = (total_ip - r.in_progress) / rest_e if rest_e else 0.0
        incomplete = share > INCOMPLETE_SHARE
        test = compare_proportions(
            x1, n1, x2, n2, incomplete=incomplete or rest_share > INCOMPLETE_SHARE
        )
        rows.append(
            {
                "breakdown": r.grp,
                "entrants": int(r.entrants),
                "users": int(n1),
                "converted": int(x1),
                "rate": x1 / n1 if n1 else math.nan,
                "rest_rate": x2 / n2 if n2 else math.nan,
                "difference": test["difference"],
                "p_value": test["p_value"],
                "small_sample": test["small_sample"],
                "in_progress": int(r.in_progress),
                "incomplete": bool(incomplete),
                "clear": test["clear"],
            }
        )
    frame = pd.DataFrame(rows, columns=CALLOUT_COLUMNS)
    return frame.sort_values("p_value", na_position="last").reset_index(drop=True)
