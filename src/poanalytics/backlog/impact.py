"""After shipping: ``b.impact(item_id)`` (``before_after(con, config, item, as_of=...)``).

A shipped item's linked metrics measured before and after it reached users, with intervals, so
"expand only after the idea has proved its value" is a measured statement. The rules
(docs/backlog.md, "After shipping"):

**Which items.** Only an item with status ``shipped`` and a ``shipped_at`` instant; any other is
refused (``backlog.not_shipped``: mark it shipped with its date in the backlog first). An item
shipped at or after ``as_of`` has nothing after it to measure (``backlog.no_after_data``), and so
has one whose after-window holds no event and no ticket at all.

**Windows.** ``weeks`` (default [planning] period_weeks) before ``shipped_at``:
``[shipped_at - weeks, shipped_at)``, against the same length after it: ``[shipped_at,
shipped_at + weeks)``, cut at ``as_of`` (default: the newest event's time). A cut after-window
is flagged ``short_after`` (its length is in ``after_from`` .. ``after_to``); rates are compared
as they are, counts per week over each window's own length.

**Metrics** (one row per link; the item's ``segment`` narrows every one of them to its users):

* ``adoption`` of each linked event (``link`` = the event): the share of the window's active
  users (any event in the window) who did the event in it. ``change`` = after - before, with
  Newcombe's hybrid score interval (method 10: from the two Wilson intervals) of the difference.
  A user's segment is L2's: the first non-empty value of each property on their events up to
  ``as_of``.
* ``tickets`` of each linked theme (``link`` = the theme): support tickets of the theme created in
  the window, per week (``before``/``after``; interview notes are not counted). ``change`` = the
  rate ratio after / before, with the exact conditional interval: given x_after + x_before
  tickets, x_after is Binomial(n, pi) with pi = rate_after x t_after / (rate_after x t_after +
  rate_before x t_before); pi's Clopper-Pearson interval maps to the ratio
  pi / (1 - pi) x t_before / t_after. No ticket before: ``change`` and ``ci_high`` are NULL /
  infinite, flag ``no_before_items``. With a segment, only tickets joined to a user of it count
  (voice.people), and the unjoined are flagged.
* ``conversion`` at each linked step (``link`` = the step): from the step before it in [funnel]
  steps, users entering the funnel (its first step, which carries the segment) in the window,
  counted only once their conversion window has closed by ``as_of`` (users still in it are in
  progress, not failures; F12, F15): conversion = reached the step / reached the step before.
  ``change`` = after - before with Newcombe's interval. A user is in the window of their entry,
  even when their conversion window runs past ``shipped_at``.

``significant`` is true when the 95% interval of ``change`` excludes 0 (1 for the ticket ratio)
and neither side is empty. ``n_before``/``n_after`` count what each rate or count stands on
(active users, tickets, users who reached the step before). A side without data is NULL, never
0, with flag ``no_data_before`` / ``no_data_after``. Other flags: ``short_after``,
``small_sample`` (fewer than 30 on a side for a rate), ``incomplete`` (more than 10% of the
after-window's entrants still in their conversion window), ``unjoined``, ``partial_window`` (the
ticket export covers only part of a side's window: that side's rate is per week of the part it
covers; see ``objectives.theme_volume``).

Columns: metric, link, before, after, change, ci_low, ci_high, n_before, n_after, before_from,
before_to, after_from, after_to, significant, flag, then change_kind ("difference" | "ratio"), unit,
detail, query and params (the SQL of both windows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from ..db import fetch_df, fetch_one
from ..errors import PoaWarning, did_you_mean, warn
from ..metrics.catalog import event_names
from ..metrics.funnel import wilson
from ..metrics.funnel_analysis import SMALL_SAMPLE
from ..metrics.result import MetricResult
from ..metrics.validate import metric_boundary, parse_instant
from ..sql import Params
from .errors import BacklogError
from .model import Item, ProductConfig, Segment
from .objectives import (
    WEEK,
    Measure,
    after_data,
    resolve_as_of,
    segment_users_sql,
    step_conversion,
    theme_volume,
)

COLUMNS = [
    "metric",
    "link",
    "before",
    "after",
    "change",
    "ci_low",
    "ci_high",
    "n_before",
    "n_after",
    "before_from",
    "before_to",
    "after_from",
    "after_to",
    "significant",
    "flag",
    "change_kind",
    "unit",
    "detail",
    "query",
    "params",
]


def newcombe(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float, float]:
    """p1 - p2 and its 95% interval by Newcombe's hybrid score method (method 10), built from the
    two Wilson intervals; NaN when a side has no one."""
    if n1 <= 0 or n2 <= 0:
        return (math.nan, math.nan, math.nan)
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (d, low, high)


def rate_ratio(
    x_after: int, t_after: float, x_before: int, t_before: float
) -> tuple[float, float, float]:
    """(x_after / t_after) / (x_before / t_before) and its exact 95% interval, conditional on
    x_after + x_before (Clopper-Pearson on the binomial share of the after-window). The ratio and
    upper bound are inf when nothing was counted before; all NaN when nothing on either side."""
    from scipy.stats import beta

    n = x_after + x_before
    if n == 0:
        return (math.nan, math.nan, math.nan)
    low_pi = 0.0 if x_after == 0 else float(beta.ppf(0.025, x_after, n - x_after + 1))
    high_pi = 1.0 if x_after == n else float(beta.ppf(0.975, x_after + 1, n - x_after))
    scale = t_before / t_after

    def odds(pi: float) -> float:
        return math.inf if pi >= 1 else pi / (1 - pi) * scale

    ratio = math.inf if x_before == 0 else (x_after / t_after) / (x_before / t_before)
    return (ratio, odds(low_pi), odds(high_pi))


def adoption(
    con: duckdb.DuckDBPyConnection,
    event: str,
    segment: Segment,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    as_of: pd.Timestamp,
) -> Measure:
    """Share of the users active in [lo, hi) (any event) who did ``event`` in it."""
    p = Params()
    until = p.add(as_of) + "::TIMESTAMPTZ"
    members = f"AND user_id IN ({segment_users_sql(segment, p, until)})" if segment else ""
    sql = f"""SELECT count(*) AS active, count(*) FILTER (WHERE did) AS doers FROM (
    SELECT user_id, bool_or(event = {p.add(event)}) AS did FROM events
    WHERE ts >= {p.add(lo)}::TIMESTAMPTZ AND ts < {p.add(hi)}::TIMESTAMPTZ AND ts <= {until}
    {members} GROUP BY user_id)"""
    used = p.used_in(sql)
    row = fetch_df(con, sql, used).iloc[0]
    n, x = int(row.active), int(row.doers)
    m = Measure(None, n=n, sql=sql, params=used, window=(lo, hi))
    if n == 0:
        m.flags.append("no_data")
        m.detail = "no active user"
        return m
    m.value, m.x = x / n, x
    m.low, m.high = wilson(x, n)
    m.detail = f"{x:,} of {n:,} active users did {event}"
    return m


def _check_event(con: duckdb.DuckDBPyConnection, event: str) -> None:
    known = event_names(con)
    if event not in known:
        raise BacklogError(
            f"no event is called {event!r}.{did_you_mean(event, known)}",
            code="backlog.unknown_event",
            hint="fix the item's events column; the warehouse's names: "
            "wb.sql('SELECT event, events FROM event_catalog ORDER BY 1')",
        )


def after_window(
    item: Item, weeks: int, as_of: pd.Timestamp
) -> tuple[tuple[pd.Timestamp, pd.Timestamp], tuple[pd.Timestamp, pd.Timestamp], bool]:
    """The before and after windows of a shipped item, and whether the after one was cut."""
    shipped = pd.Timestamp(item.shipped_at)
    shipped = shipped.tz_localize("UTC") if shipped.tzinfo is None else shipped.tz_convert("UTC")
    span = weeks * WEEK
    end = shipped + span
    return (shipped - span, shipped), (shipped, min(end, as_of)), end > as_of


@dataclass(kw_only=True)
class ImpactQuery:
    """A shipped item's before/after (``b.impact(item_id)``): ``weeks`` each side (None:
    [planning] period_weeks), the after-window cut at ``as_of`` (None: the newest event)."""

    config: ProductConfig
    item: Item
    as_of: Any = None
    weeks: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.item, Item):
            raise BacklogError(
                f"impact is measured for a backlog Item, got {type(self.item).__name__}",
                code="backlog.item_type",
                hint="pass an item of b.items (or its id to b.impact)",
            )
        weeks = self.weeks
        if weeks is not None and (
            isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= 104
        ):
            raise BacklogError(
                f"weeks must be a whole number of weeks from 1 to 104, got {weeks!r}",
                code="backlog.impact_weeks",
                hint="e.g. weeks=4, or leave it out for [planning] period_weeks",
            )
        item = self.item
        if item.status != "shipped" or item.shipped_at is None:
            what = (
                f"status {item.status!r}"
                if item.status != "shipped"
                else "status shipped but no shipped_at date"
            )
            raise BacklogError(
                f"item {item.item_id} is not shipped ({what}): there is no before and after to "
                "compare",
                code="backlog.not_shipped",
                hint="when it has reached users, set its status to shipped and shipped_at to the "
                "date it did (e.g. 2026-11-02) in the backlog, then ask again",
            )
        parse_instant(self.as_of, "as_of", end=True)


@dataclass
class ImpactResult(MetricResult):
    """``table``: one row per linked metric (COLUMNS); ``sql``: every query; ``params`` per row."""

    as_of: pd.Timestamp | None = None

    def figure(self):
        """Before and after of each linked metric, with the change's interval."""
        from ..charts.backlog import impact_figure

        return impact_figure(self.table, self.query.item.item_id)


@metric_boundary("backlog")
def run_impact(con: duckdb.DuckDBPyConnection, query: ImpactQuery) -> ImpactResult:
    """Before/after of ``query.item``'s linked events, themes and steps (module docstring)."""
    config, item = query.config, query.item
    as_of = resolve_as_of(con, query.as_of)
    weeks = query.weeks or config.planning.period_weeks
    shipped = pd.Timestamp(item.shipped_at)
    shipped = shipped.tz_localize("UTC") if shipped.tzinfo is None else shipped.tz_convert("UTC")
    if as_of is None or as_of <= shipped:
        raise BacklogError(
            f"item {item.item_id} shipped at {shipped:%Y-%m-%d %H:%M} UTC, and the data ends "
            f"{'nowhere (no events)' if as_of is None else f'at {as_of:%Y-%m-%d %H:%M} UTC'}: "
            "nothing after it to measure",
            code="backlog.no_after_data",
            hint="load events from after the ship date (or give a later as_of), then ask again",
        )
    before, after, cut = after_window(item, weeks, as_of)
    row = fetch_one(
        con,
        "SELECT (SELECT count(*) FROM events WHERE ts >= $lo AND ts < $hi) + (SELECT count(*) "
        "FROM voice_items WHERE refresh_id = (SELECT max(refresh_id) FROM voice_items) "
        "AND source = 'tickets' AND created_at >= $lo AND created_at < $hi)",
        {"lo": after[0], "hi": after[1]},
    )
    if not row or not row[0]:
        raise BacklogError(
            f"no event and no ticket falls after item {item.item_id} shipped "
            f"({after[0]:%Y-%m-%d %H:%M} .. {after[1]:%Y-%m-%d %H:%M} UTC): nothing to compare with",
            code="backlog.no_after_data",
            hint="load the events and tickets since the ship date, then ask again",
        )
    rows: list[dict[str, Any]] = []
    for event in item.events:
        _check_event(con, event)
        b = adoption(con, event, item.segment, *before, as_of)
        a = adoption(con, event, item.segment, *after, as_of)
        rows.append(_rate_row("adoption", event, b, a, before, after, cut))
    for theme in item.themes:
        b = theme_volume(con, theme, item.segment, *before, as_of)
        a = theme_volume(con, theme, item.segment, *after, as_of)
        rows.append(_count_row(theme, b, a, before, after, cut))
    for step in item.steps:
        b = step_conversion(con, config, step, None, item.segment, *before, as_of)
        a = step_conversion(con, config, step, None, item.segment, *after, as_of)
        rows.append(_rate_row("conversion", step, b, a, before, after, cut))
    table = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("before", "after", "change", "ci_low", "ci_high"):
        table[col] = table[col].astype(float)
    for col in ("n_before", "n_after"):
        table[col] = table[col].astype("Int64")
    table["significant"] = table["significant"].astype(bool)
    sql = ";\n".join(f"-- {r['metric']} {r['link']}\n{r['query']}" for r in rows)
    params = {f"{r['metric']}:{r['link']}": r["params"] for r in rows}
    result = ImpactResult(query, table, sql, params, as_of)
    found: list[PoaWarning] = after_data(con, as_of)
    if not rows:
        found.append(
            PoaWarning(
                f"item {item.item_id} links no event, theme or funnel step: nothing to measure",
                code="backlog.impact_no_links",
                hint="link the item to the events, themes or steps it should move, then ask again",
            )
        )
    for w in found:
        warn(w)
    result.warnings.extend(found)
    return result


def _flags(
    b: Measure, a: Measure, cut: bool, rate: bool, extra: list[str] | None = None
) -> list[str]:
    flags = []
    if b.value is None:
        flags.append("no_data_before")
    if a.value is None:
        flags.append("no_data_after")
    if cut:
        flags.append("short_after")
    if rate and min(b.n, a.n) < SMALL_SAMPLE:
        flags.append("small_sample")
    if "incomplete" in a.flags:
        flags.append("incomplete")
    if "unjoined" in a.flags or "unjoined" in b.flags:
        flags.append("unjoined")
    if "partial_window" in a.flags or "partial_window" in b.flags:
        flags.append("partial_window")
    return flags + (extra or [])


def _base(
    metric: str,
    link: str,
    b: Measure,
    a: Measure,
    before: tuple[pd.Timestamp, pd.Timestamp],
    after: tuple[pd.Timestamp, pd.Timestamp],
) -> dict[str, Any]:
    return {
        "metric": metric,
        "link": link,
        "before": b.value,
        "after": a.value,
        "n_before": b.n,
        "n_after": a.n,
        "before_from": before[0],
        "before_to": before[1],
        "after_from": after[0],
        "after_to": after[1],
        "detail": f"before: {b.detail}; after: {a.detail}",
        "query": f"-- before\n{b.sql};\n-- after\n{a.sql}",
        "params": {"before": b.params, "after": a.params},
    }


def _rate_row(
    metric: str,
    link: str,
    b: Measure,
    a: Measure,
    before: tuple[pd.Timestamp, pd.Timestamp],
    after: tuple[pd.Timestamp, pd.Timestamp],
    cut: bool,
) -> dict[str, Any]:
    row = _base(metric, link, b, a, before, after)
    if a.value is None or b.value is None:
        d = low = high = math.nan
    else:
        d, low, high = newcombe(a.x, a.n, b.x, b.n)
    row.update(
        change=d,
        ci_low=low,
        ci_high=high,
        significant=bool(low > 0 or high < 0),  # NaN compares false: not significant
        flag=";".join(_flags(b, a, cut, rate=True)) or None,
        change_kind="difference",
        unit="share",
    )
    return row


def _weeks(window: tuple[pd.Timestamp, pd.Timestamp]) -> float:
    return (window[1] - window[0]) / WEEK


def _count_row(
    theme: str,
    b: Measure,
    a: Measure,
    before: tuple[pd.Timestamp, pd.Timestamp],
    after: tuple[pd.Timestamp, pd.Timestamp],
    cut: bool,
) -> dict[str, Any]:
    # each side over the part of its window the ticket export covers (objectives.ticket_coverage)
    before, after = b.window or before, a.window or after
    row = _base("tickets", theme, b, a, before, after)
    extra = []
    if a.value is None or b.value is None:
        ratio = low = high = math.nan
    else:
        # the weeks each side's tickets stand on: the part of its window the export covers
        t_b = _weeks(before)
        t_a = _weeks(after)
        ratio, low, high = rate_ratio(a.n, t_a, b.n, t_b)
        if b.n == 0:
            extra.append("no_before_items")
            ratio = math.nan
    row.update(
        change=ratio,
        ci_low=low,
        ci_high=high,
        # the module's rule: not significant when a side is empty (0 before: no ratio to judge)
        significant=bool((low > 1 or high < 1) and not extra),
        flag=";".join(_flags(b, a, cut, rate=False, extra=extra)) or None,
        change_kind="ratio",
        unit="items per week",
    )
    return row


def before_after(
    con: duckdb.DuckDBPyConnection,
    config: ProductConfig,
    item: Item,
    *,
    as_of: Any,
    weeks: int | None = None,
) -> pd.DataFrame:
    """The before/after table of a shipped item (module docstring)."""
    return run_impact(con, ImpactQuery(config=config, item=item, as_of=as_of, weeks=weeks)).table
