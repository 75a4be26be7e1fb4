"""Headline numbers: the week against the week before, and whether each change is clear.

Weekly active users (exact McNemar test: many are the same people both weeks), new users (first
event ever in the week; exact Poisson test), tickets opened when the warehouse holds tickets (exact
Poisson test), and the funnel's conversion from its first to its last step for the latest week of
entry whose windows have all closed (metrics/compare.py: two-proportion z-test, Holm-adjusted over
the funnel's steps, small samples and incomplete weeks never called out).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ... import format as fmt
from ..context import esc
from ..stats import count_change, paired_change
from . import Section, register
from ._common import closed_week, funnel, funnel_name

# over the events of the report's engine (``ctx.metrics.events_query``): {lo} is the week before's
# start, {cur} the report week's, {hi} its end
ACTIVE_SQL = """
WITH a AS (
    SELECT user_id, bool_or(ts >= {cur}) AS this_week, bool_or(ts < {cur}) AS last_week
    FROM {events} WHERE ts BETWEEN {lo} AND {hi} GROUP BY user_id)
SELECT count(*) FILTER (WHERE this_week) AS current, count(*) FILTER (WHERE last_week) AS previous,
       count(*) FILTER (WHERE this_week AND NOT last_week) AS only_current,
       count(*) FILTER (WHERE last_week AND NOT this_week) AS only_previous
FROM a"""

NEW_SQL = """
WITH f AS (SELECT user_id, min(ts) AS first FROM {events} WHERE ts <= {hi} GROUP BY user_id)
SELECT count(*) FILTER (WHERE first >= {cur}) AS current,
       count(*) FILTER (WHERE first >= {lo} AND first < {cur}) AS previous
FROM f"""

TICKETS_SQL = """
SELECT count(*) FILTER (created_at >= $cur AND created_at <= $hi) AS current,
       count(*) FILTER (created_at >= $lo AND created_at < $cur) AS previous,
       count(*) AS total
FROM tickets"""

NEWEST_TICKETS_SQL = """
SELECT strftime(created_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') AS "opened (UTC)", subject,
       channel, status, priority
FROM tickets WHERE created_at >= $cur AND created_at <= $hi
ORDER BY created_at DESC, ticket_id LIMIT $n"""
NEWEST_TICKETS = 5  # tickets listed under the headline numbers


def counts(ctx: Any, sql: str) -> pd.Series:
    """The warehouse's counts of ``sql`` (tickets) for the report week and the week before."""
    week = ctx.week
    params = {"lo": week.shift(-1).start, "cur": week.start, "hi": week.end}
    return ctx.wb.sql(sql, params).iloc[0]


def event_counts(ctx: Any, sql: str) -> pd.Series:
    """The counts of ``sql`` (ACTIVE_SQL, NEW_SQL) over the events, on the report's engine."""
    week = ctx.week
    bounds = {"lo": week.shift(-1).start, "cur": week.start, "hi": week.end}
    return ctx.metrics.events_query(
        lambda q: sql.format(events=q.events, **{k: q.instant(v) for k, v in bounds.items()})
    ).iloc[0]


def build(ctx: Any) -> None:
    prev = ctx.week.shift(-1).label
    rows: list[dict[str, Any]] = []

    active = event_counts(ctx, ACTIVE_SQL)
    test = paired_change(
        int(active.current),
        int(active.previous),
        int(active.only_current),
        int(active.only_previous),
    )
    rows.append(_count_row(ctx, "Weekly active users", active, test, prev))

    new = event_counts(ctx, NEW_SQL)
    rows.append(
        _count_row(ctx, "New users", new, count_change(int(new.current), int(new.previous)), prev)
    )

    tickets = counts(ctx, TICKETS_SQL)
    if int(tickets.total):
        test = count_change(int(tickets.current), int(tickets.previous))
        rows.append(_count_row(ctx, "Tickets opened", tickets, test, prev))

    rows.append(_funnel_row(ctx))

    ctx.table(
        pd.DataFrame(
            {
                "": [r["name"] for r in rows],
                ctx.week.label: [r["text"] for r in rows],
                "week before": [r["before"] for r in rows],
                "change": [r["change_text"] for r in rows],
                "clear change?": [r["verdict"] for r in rows],
            }
        )
    )
    notes = [f"- **{esc(r['name'])}**: {esc(r['note'])}" for r in rows if r.get("note")]
    tests = sorted({r["test"] for r in rows if r.get("test")})
    ctx.markdown(
        "A change is *clear* when its test gives p < 0.05 and neither week is a small sample. "
        f"Tests: {'; '.join(tests)}.\n\n" + "\n".join(notes)
    )
    if int(tickets.total) and int(tickets.current):
        _newest_tickets(ctx)


def _newest_tickets(ctx: Any) -> None:
    """The week's newest tickets (redacted; a subject holding markup shows as text)."""
    week = ctx.week
    newest = ctx.wb.sql(
        NEWEST_TICKETS_SQL, {"cur": week.start, "hi": week.end, "n": NEWEST_TICKETS}
    ).dropna(axis="columns", how="all")
    ctx.markdown(f"**Newest tickets opened in {esc(week.label)}**")
    ctx.table(newest)


def _count_row(ctx: Any, name: str, c: pd.Series, test: dict, prev: str) -> dict[str, Any]:
    current, previous = int(c.current), int(c.previous)
    change = test["change"]
    change_text = (
        f"{'+' if change >= 0 else ''}{100 * change:.1f}% vs {prev}"
        if change == change
        else f"from 0 in {prev}"
    )
    verdict = _verdict(test["clear"], test["small_sample"], test["p_value"])
    ctx.add_headline(
        name,
        current,
        fmt.count(current),
        None if math.isnan(change) else change,
        change_text,
        test["clear"],
        p_value=test["p_value"],
        small_sample=test["small_sample"],
        test=test["test"],
    )
    return {
        "name": name,
        "text": fmt.count(current),
        "before": fmt.count(previous),
        "change_text": change_text,
        "verdict": verdict,
        "test": test["test"],
        "note": "small sample: fewer than 10 on a side, not called out"
        if test["small_sample"]
        else "",
    }


def _funnel_row(ctx: Any) -> dict[str, Any]:
    entry = closed_week(ctx)
    f = funnel(ctx, entry, entry)
    table = f.compare("previous").table
    last = table[table.measure == table.measure.iloc[-1]]
    other, cur = last.iloc[0], last.iloc[1]
    name = f"Conversion {funnel_name(ctx)} (entered {entry.label})"
    rate, before = cur.rate, other.rate
    diff = cur.difference
    change_text = (
        f"{fmt.signed_points(diff)} vs entrants of {entry.shift(-1).label}" if diff == diff else ""
    )
    small, incomplete = bool(cur.small_sample), bool(cur.incomplete or other.incomplete)
    clear = bool(cur.clear)
    text = fmt.percent(rate) if rate == rate else "no rate (no entrants with a closed window)"
    ctx.add_headline(
        name,
        None if rate != rate else float(rate),
        text,
        None if diff != diff else float(diff),
        change_text,
        clear,
        p_value=None if cur.p_adjusted != cur.p_adjusted else float(cur.p_adjusted),
        small_sample=small,
        test="two-proportion z-test (Holm-adjusted over the funnel's steps)",
    )
    notes = [
        f"users who entered in {entry.label}, the latest week whose {ctx.config.funnel.window} "
        f"windows have all closed by the end of {ctx.week.label}: "
        f"{int(cur.converted):,} of {int(cur.users):,} converted"
    ]
    if small:
        notes.append("small sample: fewer than 30 users or 5 expected conversions on a side")
    if incomplete:
        notes.append("incomplete: over 10% of a week's entrants are still in their window")
    return {
        "name": name,
        "text": text,
        "before": fmt.percent(before),
        "change_text": change_text or fmt.MISSING,
        "verdict": _verdict(clear, small, cur.p_adjusted, incomplete),
        "test": "two-proportion z-test (conversion, Holm-adjusted over the funnel's steps)",
        "note": "; ".join(notes),
    }


def _verdict(clear: bool, small: bool, p: float, incomplete: bool = False) -> str:
    if clear:
        return (
            f"yes (p {fmt.p_value(p) if fmt.p_value(p).startswith('<') else '= ' + fmt.p_value(p)})"
        )
    if incomplete:
        return "no (incomplete)"
    if small:
        return "no (small sample)"
    return f"no (p = {fmt.p_value(p)})" if p == p else "no"


register(Section(name="headline", title="Headline numbers", order=10, build=build))
