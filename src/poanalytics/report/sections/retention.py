"""Retention, lifecycle and churn over the report's history window, by segment.

Lifecycle and churn are split by ``[churn] segment`` (the ``segment`` parameter sets it): one
lifecycle facet per largest value (``[segments] top``), the rest summed as "other".

Cohorts, lifecycle periods and churn periods run over the ``[report] history_weeks`` weeks ending
with the report week (retention observed at the week's end: later returns are not counted); retention by segment follows the cohorts of each of the segment's largest
values (the property on the start event) and sums the cells that can be observed and are complete.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ... import format as fmt
from ...charts.lifecycle import lifecycle_figure
from ...charts.style import top_values
from ...metrics import Step
from ..context import esc
from . import Section, register


def build(ctx: Any) -> None:
    cfg = ctx.config
    rc = cfg.retention
    span = {"date_from": ctx.history.start, "date_to": ctx.week.end}
    start = rc.start_event or None
    retention = ctx.metrics.retention(
        start,
        rc.return_event or None,
        period="week",
        intervals=rc.intervals,
        cohort=rc.cohort,
        as_of=ctx.week.end,  # a past week's report ignores what came after it
        **span,
    )
    ctx.markdown(
        f"### Retention of weekly cohorts, {ctx.history.label} to {ctx.week.label}\n\n"
        f"Cohort: {esc(start or 'any event')} ({rc.cohort.replace('_', '-')}); coming back: "
        f"{esc(rc.return_event or 'any event')}. Blank cells cannot be observed yet."
    )
    ctx.figure(retention.figure(), key="retention", title="Retention")
    if rc.segment:
        _by_segment(ctx, start, rc, span)

    _lifecycle(ctx, cfg.churn.segment or None, span)

    churn = ctx.metrics.churn(
        inactive_days=cfg.churn.inactive_days,
        period="week",
        segment=cfg.churn.segment or None,
        **span,
    )
    by = f" by {esc(cfg.churn.segment)}" if cfg.churn.segment else ""
    ctx.markdown(
        f"### Churn{by}\n\nA user is churned after {cfg.churn.inactive_days} days without any "
        "event; churn rate = users who became churned in the week / users active at its start. "
        "The first weeks of the data cannot show churn yet (empty, not 0%)."
    )
    ctx.figure(churn.figure(), key="churn", title="Churn")


def _lifecycle(ctx: Any, segment: str | None, span: dict[str, Any]) -> None:
    """Lifecycle by week, split by churn's segment (the same users in the same groups)."""
    lifecycle = ctx.metrics.lifecycle(period="week", segment=segment, **span)
    by = f" by {esc(segment)}" if segment else ""
    text = (
        f"### Lifecycle{by}: new, returning, resurrecting and dormant users by week, "
        f"{ctx.history.label} to {ctx.week.label}"
    )
    if segment:
        text += (
            f"\n\nA user's {esc(segment)} is the first one on their events (as for churn below); "
            f'users with none are "no {esc(segment)}". The groups add up to all users.'
        )
    ctx.markdown(text)
    fig = lifecycle_figure(lifecycle.table, "week", segment, top=ctx.config.segments.top)
    ctx.figure(fig, key="lifecycle", title=f"Lifecycle by {segment}" if segment else "Lifecycle")


def _by_segment(ctx: Any, start: str | None, rc: Any, span: dict[str, Any]) -> None:
    """Retention at each interval for the segment's largest values (closed, complete cells)."""
    lo, hi = span["date_from"], span["date_to"]

    def build(q: Any) -> str:
        of_start = f" AND event = {q.value(start)}" if start is not None else ""
        return (
            f"SELECT coalesce({q.property(rc.segment)}, '') AS value, "
            f"count(DISTINCT user_id) AS users FROM {q.events} "
            f"WHERE ts BETWEEN {q.instant(lo)} AND {q.instant(hi)}{of_start} GROUP BY 1"
        )

    values = ctx.metrics.events_query(build)
    if values.empty:
        return
    kept, rest = top_values(values.set_index("value").users, ctx.config.segments.top)
    rows = []
    for value in kept:
        r = ctx.metrics.retention(
            Step(start, where={rc.segment: value}),
            rc.return_event or None,
            period="week",
            intervals=rc.intervals,
            cohort=rc.cohort,
            as_of=ctx.week.end,
            **span,
        )
        rows.append(_row(value, r.table, rc.intervals))
    table = pd.DataFrame(rows)
    ctx.markdown(
        f"#### Retention by {esc(rc.segment)}\n\nShare of each value's cohorts back in week k "
        "(of how many users), over the cohorts whose week k can be observed and is complete."
        + (f" {len(rest)} smaller values are not listed." if rest else "")
    )
    ctx.table(table)


def _row(value: str, t: pd.DataFrame, intervals: int) -> dict[str, str]:
    row = {"value": value or "(none)"}
    if t.empty:
        row["cohort users"] = "0"
        return row
    row["cohort users"] = fmt.count(t[t.interval == 0].cohort_size.sum())
    final = t[(t.interval >= 1) & t.rate.notna() & ~t.incomplete.astype(bool)]
    for k in range(1, intervals + 1):
        cells = final[final.interval == k]
        size = cells.cohort_size.sum()
        row[f"week {k}"] = (
            f"{fmt.percent(cells.users.sum() / size)} of {fmt.count(size)}" if size else ""
        )
    return row


register(Section(name="retention", title="Retention, lifecycle and churn", order=30, build=build))
