"""Theme trends: items per theme and period, with spikes judged against the theme's own history.

Periods are calendar periods in UTC: ISO weeks (Monday 00:00) by default, or days or months, like
the rest of poanalytics. The periods run from the one holding the first item of ``source`` to the
one holding the data's end (the last item of any source), or to ``date_to``; a period without items
of a theme is a row with 0, never a missing row. ``date_from`` and ``date_to`` choose the rows shown;
the history a spike is judged against is always the theme's whole history before the period.

Per theme and period: ``items`` (items of the theme created in the period), ``unique_problems``
(near-duplicates counted once: distinct ``dup_group``, else the item), ``baseline`` (the mean of
the theme's items in the previous ``HISTORY`` = 8 periods, fewer at the start of the data),
``people`` (the people behind the period's items: the user id, else the e-mail, else the ticket
or the note itself, so the highlights of one interview are one person; a spike of many items from
few people is one conversation, not a trend),
``history_periods`` (how many), and:

  spike     judged only with at least ``MIN_HISTORY`` = 4 previous periods (else NULL, not False):
            true when ``p_value`` < ``ALPHA`` = 0.01;
  p_value   the one-sided exact conditional test of two Poisson counts (Przyborowski and
            Wilenski): with x items now and S in the h previous periods, under "same rate" x
            given x + S is Binomial(x + S, 1 / (h + 1)); p = P(X >= x). Unlike a test against the
            mean as if it were known, a theme with a quiet history needs several items to spike
            (after 8 empty weeks: 1 item p = 0.11, 2 items p = 0.012, 3 items p = 0.0014), and a
            noisy history raises the bar. Alpha 0.01 per theme and period keeps false alarms
            near one per theme in two years of quiet weeks;
  incomplete  the period holds the data's end (or starts after it): its count may still grow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from ..db import fetch_df
from ..metrics.result import MetricResult
from ..metrics.validate import check_choice, metric_boundary
from ..sql import Params
from .errors import VoiceError
from .items import check_range, check_source
from .people import check_theme, current, items_sql

PERIODS = ("week", "day", "month")
HISTORY = 8  # previous periods a spike is judged against
MIN_HISTORY = 4  # fewer previous periods than this: not judged
ALPHA = 0.01
COLUMNS = [
    "theme",
    "period_start",
    "items",
    "unique_problems",
    "baseline",
    "history_periods",
    "spike",
    "p_value",
    "incomplete",
    "people",
]


@dataclass(kw_only=True)
class TrendsQuery:
    period: str = "week"
    source: str = "all"
    date_from: Any = None
    date_to: Any = None
    theme: str | None = None

    def __post_init__(self) -> None:
        check_choice(self.period, PERIODS, "period", code="voice.period")
        check_source(self.source)
        check_range(self.date_from, self.date_to)
        if self.theme is not None and (not isinstance(self.theme, str) or not self.theme):
            raise VoiceError(
                f"theme must be a theme's name or None, got {self.theme!r}"[:300],
                code="voice.theme",
                hint="pick one from wb.themes().table.theme, or theme=None for all",
            )


class TrendsResult(MetricResult):
    def figure(self):
        from ..charts.voice import theme_trends_figure

        q = self.query
        return theme_trends_figure(self.table, title=f"Theme volume by {q.period}", period=q.period)


def binomial_tail(x: int, n: int, p: float) -> float:
    """P(X >= x) for X ~ Binomial(n, p), summed exactly in log space."""
    if x <= 0:
        return 1.0
    if x > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0

    def log_pmf(k: int) -> float:
        return (
            math.lgamma(n + 1)
            - math.lgamma(k + 1)
            - math.lgamma(n - k + 1)
            + k * math.log(p)
            + (n - k) * math.log1p(-p)
        )

    if x > n * p:  # the upper tail decreases from x on: sum it until the terms vanish
        total = 0.0
        for k in range(x, n + 1):
            term = math.exp(log_pmf(k))
            total += term
            if term < total * 1e-17:
                break
        return min(1.0, total)
    below = math.fsum(math.exp(log_pmf(k)) for k in range(0, x))
    return min(1.0, max(0.0, 1.0 - below))


def spike_p(x: int, history_items: int, history_periods: int) -> float:
    """One-sided exact conditional Poisson test of x against ``history_items`` in
    ``history_periods`` periods (see the module's docstring)."""
    return binomial_tail(int(x), int(x + history_items), 1.0 / (history_periods + 1))


def trends_sql(q: TrendsQuery, p: Params) -> str:
    lo, hi = check_range(q.date_from, q.date_to)
    unit = {"week": "week", "day": "day", "month": "month"}[q.period]
    step = p.add(f"1 {unit}")
    trunc = f"date_trunc('{unit}', created_at AT TIME ZONE 'UTC')"
    theme = f" AND theme = {p.add(q.theme)}" if q.theme else ""
    last = (
        f"greatest(e.data_end, {p.add(hi)}::TIMESTAMPTZ AT TIME ZONE 'UTC')"
        if hi is not None
        else "e.data_end"
    )
    shown = []
    if lo is not None:
        shown.append(
            f"period_start >= date_trunc('{unit}', {p.add(lo)}::TIMESTAMPTZ AT TIME ZONE 'UTC')"
        )
    if hi is not None:
        shown.append(f"period_start <= {p.add(hi)}::TIMESTAMPTZ AT TIME ZONE 'UTC'")
    where = f"WHERE {' AND '.join(shown)}" if shown else ""
    return f"""WITH vi AS ({items_sql(p, q.source, None, None)}),
ends AS (SELECT max(created_at) AT TIME ZONE 'UTC' AS data_end FROM voice_items
    WHERE refresh_id = {current("voice_items")}),
periods AS (SELECT unnest(range(b.first_p, date_trunc('{unit}', {last}) + INTERVAL (1) {unit},
        {step}::INTERVAL)) AS period_start
    FROM (SELECT min({trunc}) AS first_p FROM vi) b, ends e WHERE b.first_p IS NOT NULL),
themes AS (SELECT DISTINCT theme FROM voice_themes WHERE refresh_id = {current("voice_themes")}{theme}),
counts AS (SELECT a.theme, date_trunc('{unit}', v.created_at AT TIME ZONE 'UTC') AS period_start,
        count(DISTINCT (v.source, v.item_id)) AS items,
        count(DISTINCT coalesce(v.dup_group, v.item_id)) AS unique_problems,
        count(DISTINCT coalesce('user:' || v.uid, 'email:' || v.email,
                                v.source || ':' || v.parent_id)) AS people
    FROM voice_assignments a JOIN vi v ON v.source = a.source AND v.item_id = a.item_id
    WHERE a.refresh_id = {current("voice_assignments")} GROUP BY ALL),
grid AS (SELECT t.theme, x.period_start, coalesce(c.items, 0) AS items,
        coalesce(c.unique_problems, 0) AS unique_problems, coalesce(c.people, 0) AS people
    FROM themes t CROSS JOIN periods x LEFT JOIN counts c
        ON c.theme = t.theme AND c.period_start = x.period_start),
hist AS (SELECT *,
        sum(items) OVER w AS history_items, count(*) OVER w AS history_periods,
        period_start + INTERVAL (1) {unit} > (SELECT data_end FROM ends) AS incomplete
    FROM grid WINDOW w AS (PARTITION BY theme ORDER BY period_start
        ROWS BETWEEN {HISTORY} PRECEDING AND 1 PRECEDING))
SELECT theme, period_start, items, unique_problems, people,
       coalesce(history_items, 0) AS history_items,
       history_periods, incomplete
FROM hist {where} ORDER BY theme, period_start"""


def trends_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Baselines, p-values and spikes for the counted rows."""
    frame = counts.copy()
    h = frame.history_periods.astype("int64")
    frame["baseline"] = [
        s / n if n else math.nan for s, n in zip(frame.history_items, h, strict=True)
    ]
    judged = h >= MIN_HISTORY
    frame["p_value"] = [
        spike_p(x, s, n) if ok else math.nan
        for x, s, n, ok in zip(frame["items"], frame.history_items, h, judged, strict=True)
    ]
    frame["spike"] = pd.array(
        [bool(pv < ALPHA) if ok else None for pv, ok in zip(frame.p_value, judged, strict=True)],
        dtype="boolean",
    )
    frame = frame.astype(
        {
            "items": "int64",
            "unique_problems": "int64",
            "people": "int64",
            "history_periods": "int64",
        }
    )
    frame["incomplete"] = frame.incomplete.astype(bool)
    return frame[COLUMNS].reset_index(drop=True)


@metric_boundary("voice")
def run_trends(con: duckdb.DuckDBPyConnection, q: TrendsQuery) -> TrendsResult:
    """Items per theme and period with spikes (see the module's docstring)."""
    if q.theme:
        check_theme(con, q.theme)
    p = Params()
    sql = trends_sql(q, p)
    used = p.used_in(sql)
    table = trends_table(fetch_df(con, sql, used))
    return TrendsResult(q, table, sql, used)
