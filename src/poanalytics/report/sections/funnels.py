"""The funnel: the report week's entrants, the trend by week of entry, where users drop, what the
droppers did instead, and call-outs by segment.

Every funnel is judged at the report week's end (``as_of``), so a week's report shows the same
numbers whenever it is run. The report week's entrants are mostly still in their window (F12: in
progress, never drop-offs); drop-offs, their paths and the call-outs use the weeks of entry whose
windows have all closed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ... import format as fmt
from ...charts.style import top_values
from ...metrics.summary import formatted
from ..context import esc
from . import Section, register
from ._common import closed_week, funnel, funnel_name


def build(ctx: Any) -> None:
    cfg = ctx.config.funnel
    week, entry = ctx.week, closed_week(ctx)
    current = funnel(ctx, week, week, cfg.breakdown)
    start = current.table[current.table.step == 1].users.sum()
    waiting = current.table[current.table.step > 1].in_progress.sum()
    ctx.markdown(
        f"### Users who entered in {week.label}\n\n"
        f"{fmt.count(start)} users did {esc(cfg.steps[0])} in {week.label}; "
        f"{fmt.count(waiting)} of them are still inside their {esc(cfg.window)} window at the "
        "week's end (counted as in progress, never as drop-offs)."
    )
    ctx.figure(current.figure(top=ctx.config.segments.top), key="funnel", title="Funnel")
    ctx.table(current.summary_table())

    history = funnel(ctx, ctx.history, entry)
    ctx.markdown(
        f"### Conversion by week of entry, {ctx.history.label} to {entry.label}\n\n"
        "Over users whose window has closed; a week with over 10% of its users still in their "
        "window is marked incomplete and never called out as a change."
    )
    ctx.figure(history.trend_figure("week"), key="funnel_trend", title="Conversion by week")

    _dropoff(ctx, entry)
    _callouts(ctx, entry)


def _dropoff(ctx: Any, entry: Any) -> None:
    cfg = ctx.config.funnel
    f = funnel(ctx, entry, entry)
    t = f.table
    ctx.markdown(
        f"### Where users drop ({funnel_name(ctx)}, entered {entry.label})\n\n"
        f"Users who entered in {entry.label}, the latest week whose windows have all closed."
    )
    previous = t.users.shift(1)
    ctx.table(
        pd.DataFrame(
            {
                "step": [f"{s}. {n}" for s, n in zip(t.step, t.name, strict=True)],
                "users": [fmt.count(u) for u in t.users],
                "dropped here": [
                    "" if pd.isna(p) else f"{fmt.count(d)} ({fmt.percent(d / p if p else None)})"
                    for d, p in zip(t.dropped, previous, strict=True)
                ],
            }
        )
    )
    step = min(cfg.drop_step, len(cfg.steps))  # steps given for one run may be fewer
    dropped = int(t.loc[t.step == step, "dropped"].sum())
    if not dropped:
        ctx.markdown(f"Nobody who entered in {entry.label} dropped before step {step}.")
        return
    paths = f.dropoff_paths(step)
    ctx.markdown(
        f"#### What the {fmt.count(paths.droppers)} who stopped before {esc(cfg.steps[step - 1])} "
        "did instead"
    )
    ctx.figure(paths.figure(), key="dropoff", title="After the drop-off")
    shown = paths.table.assign(
        users=[fmt.count(u) for u in paths.table.users],
        share=[fmt.percent(s) for s in paths.table.share],
    )
    ctx.table(shown)


def _callouts(ctx: Any, entry: Any) -> None:
    props = ctx.config.segments.properties
    if not props:
        return
    ctx.markdown(
        f"### Segments that convert clearly better or worse ({ctx.history.label} to {entry.label})"
        "\n\nEach value against all the others, over users whose window has closed: called out "
        "only when a two-proportion test gives p < 0.05, neither side is a small sample and "
        "neither is incomplete."
    )
    found = []
    for prop in props:
        f = funnel(ctx, ctx.history, entry, prop)
        calls = f.callouts()
        found.append(calls.assign(segment=prop))
    table = pd.concat(found, ignore_index=True)
    clear = table[table.clear.astype(bool)]
    if clear.empty:
        ctx.markdown("No segment value converts clearly differently from the rest.")
    else:
        lines = [
            f"- **{esc(r.segment)} = {esc(r.breakdown or '(none)')}**: {fmt.percent(r.rate)} "
            f"against {fmt.percent(r.rest_rate)} for the rest ({fmt.signed_points(r.difference)}, "
            f"p {_p(r.p_value)}, {fmt.count(r.users)} users)"
            for r in clear.itertuples()
        ]
        ctx.markdown("\n".join(lines))
    top = ctx.config.segments.top
    rows, hidden = [], 0
    for _, group in table.groupby("segment", sort=False):
        kept, rest = top_values(group.set_index("breakdown").users, top)
        rows.append(group[group.breakdown.astype(str).isin(kept)])
        hidden += len(rest)
    shown = pd.concat(rows, ignore_index=True)
    shown["clear"] = shown.clear.astype(bool)
    columns = ["segment", "breakdown", "users", "rate", "rest_rate", "difference", "p_value"]
    ctx.table(formatted(shown[[*columns, "clear"]]).rename(columns={"breakdown": "value"}))
    if hidden:
        ctx.markdown(
            f"{hidden} smaller values are not listed (at most {top} per segment; "
            "[segments] top in conf/report.toml)."
        )


def _p(p: float) -> str:
    text = fmt.p_value(p)
    return text if text.startswith("<") else f"= {text}"


register(Section(name="funnels", title="Funnel and drop-off", order=20, build=build))
