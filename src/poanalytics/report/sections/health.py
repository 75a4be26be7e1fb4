"""Data health: freshness per source, the week's volume against the usual, failed loads and
quarantined rows since the week began (report/health.py computes them)."""

from __future__ import annotations

from typing import Any

from ... import format as fmt
from ..context import esc
from ..health import data_health
from . import Section, register


def build(ctx: Any) -> None:
    health = data_health(ctx.wb, ctx.week, config=ctx.config)
    if health.flags:
        ctx.markdown("**Check before trusting this report:**\n\n" + "\n".join(
            f"- {esc(f)}" for f in health.flags
        ))  # fmt: skip
    else:
        ctx.markdown(
            f"No problem found: every source is fresh, {ctx.week.label}'s volume is as usual, and "
            f"no load failed or quarantined rows since {ctx.week.monday}."
        )
    ctx.markdown("### Freshness per source")
    ctx.table(health.summary_table())
    ctx.markdown(
        f"### Volume against the usual\n\nThe usual: the median of up to "
        f"{ctx.config.health.volume_weeks} weeks before {ctx.week.label}; a drop below "
        f"{fmt.percent(1 - ctx.config.health.volume_drop)} of it is flagged."
    )
    ctx.table(health.volume_table())
    ctx.figure(health.figure())
    ctx.markdown(f"### Failed loads and quarantined rows since {ctx.week.monday}")
    if len(health.failed_loads):
        ctx.table(health.failed_loads)
    else:
        ctx.markdown("No load failed.")
    if len(health.quarantine):
        ctx.table(health.quarantine)
    else:
        ctx.markdown("No row was quarantined.")


register(Section(name="health", title="Data health", order=40, build=build))
