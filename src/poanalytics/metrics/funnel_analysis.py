"""Views of a computed funnel: conversion trend by period, time to convert, two-proportion tests."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from ..db import fetch_df
from ..errors import did_you_mean
from .spec import MetricError

if TYPE_CHECKING:
    from .funnel import FunnelResult

PERIODS = ("day", "week", "month")
SMALL_SAMPLE = 30


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


def trend(result: FunnelResult, period: str = "week", step: int | None = None) -> pd.DataFrame:
    """Conversion from step 1 to ``step`` (default: the last) by the period users entered in.

    Users whose window is still open are counted apart (in_progress) and left out of the rate.
    A change from the previous period is called out only when a two-proportion test says it is clear.
    """
    from .funnel import wilson

    if period not in PERIODS:
        raise MetricError(
            f"unknown period {period!r}.{did_you_mean(period, PERIODS)}",
            code="funnel.period",
            hint="use 'day', 'week' or 'month'",
        )
    n = len(result.plan.steps)
    step = step or n
    if not 2 <= step <= n:
        raise MetricError(
            f"step {step} is outside 2..{n}", code="funnel.step", hint=f"pick a step from 2 to {n}"
        )
    frame = fetch_df(
        result.con,
        f"""
        SELECT date_trunc('{period}', entered) AS period_start,
               count(*) FILTER (WHERE depth >= $step OR NOT in_progress) AS users,
               count(*) FILTER (WHERE depth >= $step) AS converted,
               count(*) FILTER (WHERE depth < $step AND in_progress) AS in_progress
        FROM {result.per_user_table} GROUP BY ALL ORDER BY 1""",
        {"step": step},
    )
    frame["rate"] = [
        c / u if u else math.nan for c, u in zip(frame.converted, frame.users, strict=True)
    ]
    ci = [wilson(c, u) for c, u in zip(frame.converted, frame.users, strict=True)]
    frame["ci_low"] = [c[0] for c in ci]
    frame["ci_high"] = [c[1] for c in ci]
    p_values, clear = [math.nan], [False]
    for prev, cur in zip(frame.iloc[:-1].itertuples(), frame.iloc[1:].itertuples(), strict=True):
        p = two_proportion_p(cur.converted, cur.users, prev.converted, prev.users)
        p_values.append(p)
        clear.append(bool(p < 0.05 and min(cur.users, prev.users) >= SMALL_SAMPLE))
    frame["p_value_vs_previous"] = p_values[: len(frame)]
    frame["clear_change"] = clear[: len(frame)]
    frame["small_sample"] = frame.users < SMALL_SAMPLE
    return frame


def conversion_times(result: FunnelResult, step: int, from_step: int | None = None) -> pd.DataFrame:
    """Seconds from ``from_step`` (default: the previous step) to ``step`` for every user who reached it."""
    n = len(result.plan.steps)
    from_step = from_step or step - 1
    if not 1 <= from_step < step <= n:
        raise MetricError(
            f"steps {from_step}->{step} are not within 1..{n} in order",
            code="funnel.step",
            hint=f"pick 1 <= from_step < step <= {n}",
        )
    if result.plan.order == "unordered":
        raise MetricError(
            "unordered funnels have no step order, so no time between steps",
            code="funnel.unordered_times",
            hint="use an ordered funnel for conversion times",
        )
    return fetch_df(
        result.con,
        f"""
        SELECT user_id, breakdown, (epoch_us(t{step}) - epoch_us(t{from_step})) / 1e6 AS seconds
        FROM {result.per_user_table} WHERE depth >= {int(step)} ORDER BY seconds, user_id""",
    )


def breakdown_callouts(result: FunnelResult, step: int | None = None) -> pd.DataFrame:
    """Each breakdown value's conversion to ``step`` against all other values (F14).

    ``clear`` is set only when a two-proportion z-test gives p < 0.05 and neither side is a small
    sample (fewer than 30 users, or fewer than 5 expected conversions or drop-offs).
    """
    table = result.table
    if "breakdown" not in table:
        raise MetricError(
            "call-outs compare breakdown values; this funnel has no breakdown",
            code="funnel.no_breakdown",
            hint="run the funnel with breakdown='<property>'",
        )
    n = len(result.plan.steps)
    step = step or n
    starts = table[table.step == 1].set_index("breakdown").users
    ends = table[table.step == step].set_index("breakdown").users
    total_n, total_x = float(starts.sum()), float(ends.sum())
    rows = []
    for value in starts.index:
        n1, x1 = float(starts[value]), float(ends.get(value, 0))
        n2, x2 = total_n - n1, total_x - x1
        p = two_proportion_p(x1, n1, x2, n2)
        pooled = (x1 + x2) / (n1 + n2) if n1 + n2 else 0.0
        small = (
            min(n1, n2) < SMALL_SAMPLE
            or min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled)) < 5
        )
        rate, rest = (x1 / n1 if n1 else math.nan), (x2 / n2 if n2 else math.nan)
        rows.append(
            {
                "breakdown": value,
                "users": int(n1),
                "converted": int(x1),
                "rate": rate,
                "rest_rate": rest,
                "difference": rate - rest,
                "p_value": p,
                "small_sample": bool(small),
                "clear": bool(p < 0.05 and not small),
            }
        )
    return pd.DataFrame(rows).sort_values("p_value", na_position="last").reset_index(drop=True)
