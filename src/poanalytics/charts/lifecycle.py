"""Lifecycle bars (dormant below zero), one facet per segment when split, and stickiness bars."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import OTHER, TOP, apply, footnote, top_values

COLOURS = {
    "new": "#2ca02c",
    "returning": "#1f77b4",
    "resurrecting": "#9467bd",
    "dormant": "#d62728",
}


STATES = list(COLOURS)


def _bars(table: pd.DataFrame, period: str, label: str = "", legend: bool = True) -> list[go.Bar]:
    prefix = f"{label}, " if label else ""
    return [
        go.Bar(
            name=state,
            x=list(table.period_start),
            y=[int(v) for v in table[state]],
            marker_color=colour,
            legendgroup=state,
            showlegend=legend,
            hovertemplate=f"{prefix}{state}: "
            + "%{y:,} users<br>"
            + period
            + " of %{x}<extra></extra>",
        )
        for state, colour in COLOURS.items()
    ]


def lifecycle_figure(
    table: pd.DataFrame, period: str = "week", segment: str | None = None, top: int = TOP
) -> go.Figure:
    """Stacked bars per period, dormant users below zero. With a ``segment`` column: one facet per
    segment for the ``top`` segments with the most active users (user-periods), the rest summed
    into one "other" facet (a user is in one segment, so the sum is their lifecycle)."""
    if segment is None or "segment" not in table:
        return apply(
            go.Figure(_bars(table, period)),
            f"Lifecycle by {period}: dormant users below zero",
            barmode="relative",
            xaxis_title=f"{period} starting",
            yaxis_title="users",
            yaxis_tickformat=",d",
        )
    return _faceted(table, period, segment, top)


def _faceted(table: pd.DataFrame, period: str, segment: str, top: int) -> go.Figure:
    active = table.assign(segment=table.segment.astype(str))
    weights = (active.new + active.returning + active.resurrecting).groupby(active.segment).sum()
    kept, rest = top_values(weights, top)
    facets = [(s, active[active.segment == s]) for s in kept]
    if rest:
        grouped = active[active.segment.isin(rest)].groupby("period_start", as_index=False)
        facets.append((OTHER, grouped[STATES].sum()))
    facets = facets or [("", active.iloc[:0])]
    cols = 1 if len(facets) <= 3 else 2
    rows = math.ceil(len(facets) / cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        shared_xaxes=True,
        subplot_titles=[f for f, _ in facets],
        vertical_spacing=min(0.12, 0.3 / rows),
        horizontal_spacing=0.08,
    )
    for i, (name, t) in enumerate(facets):
        r, c = divmod(i, cols)
        for bar in _bars(t.sort_values("period_start"), period, name, legend=i == 0):
            fig.add_trace(bar, row=r + 1, col=c + 1)
        if c == 0:
            fig.update_yaxes(title_text="users", row=r + 1, col=1)
        if i + cols >= len(facets):  # the lowest facet of its column
            fig.update_xaxes(title_text=f"{period} starting", row=r + 1, col=c + 1)
    fig.update_yaxes(tickformat=",d")
    notes = []
    label = f"no {segment}"
    if label in kept or label in rest:
        notes.append(f'"{label}" = users with no {segment} property on any of their events')
    if rest:
        shown = ", ".join(rest[:5]) + (", ..." if len(rest) > 5 else "")
        notes.append(f"{OTHER} = {len(rest)} smaller values summed: {shown}")
    bottom = footnote(fig, notes, gap=70)
    return apply(
        fig,
        f"Lifecycle by {period} and {segment}: dormant users below zero",
        barmode="relative",
        height=180 + 240 * rows + bottom,
        **({"margin": {"b": bottom}} if bottom else {}),
    )


def stickiness_figure(table: pd.DataFrame, period: str = "week") -> go.Figure:
    fig = go.Figure(
        [
            go.Bar(name=f"{p:%Y-%m-%d}", x=list(g.active_days), y=list(g.users))
            for p, g in table.groupby("period_start")
        ]
    )
    return apply(
        fig,
        f"Stickiness: users by active days per {period}",
        xaxis_title=f"active days in the {period}",
        yaxis_title="users",
        yaxis_tickformat=",d",
        legend_title_text=f"{period} starting",
    )
