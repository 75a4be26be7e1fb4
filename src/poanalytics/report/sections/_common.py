"""What several sections share: the report's funnel and the week whose funnel windows have closed."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ...metrics.validate import parse_window
from ..weeks import Week


def window_seconds(ctx: Any) -> int:
    return parse_window(ctx.config.funnel.window)


def closed_week(ctx: Any) -> Week:
    """The latest week of entry whose every funnel window has closed by the report week's end: the
    week before for a window up to 7 days, two weeks before up to 14 days, and so on. Its
    conversion is final; the report week's own entrants are mostly still in their window."""
    window = pd.Timedelta(seconds=window_seconds(ctx))
    week = ctx.week
    while week.end + window > ctx.week.end:
        week = week.shift(-1)
    return week


def funnel(
    ctx: Any, first: Week, last: Week, breakdown: str | None = None, *, on: Any = None
) -> Any:
    """The configured funnel over users entering from ``first`` to ``last`` (whole weeks), judged at
    the report week's end (``as_of``): the same numbers whenever the report is run again.
    ``on``: what computes it (default: the report's engine, ``ctx.metrics``; the voice section
    joins it to tickets and notes in the warehouse, so it passes ``ctx.wb``)."""
    return (on or ctx.metrics).funnel(
        ctx.config.funnel.steps,
        window=ctx.config.funnel.window,
        breakdown=breakdown or None,
        date_from=first.start,
        date_to=last.end,
        as_of=ctx.week.end,
    )


def funnel_name(ctx: Any) -> str:
    steps = ctx.config.funnel.steps
    return f"{steps[0]} → {steps[-1]}"
