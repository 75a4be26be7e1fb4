"""Lifecycle bars (dormant below zero) and stickiness bars."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .style import apply

COLOURS = {
    "new": "#2ca02c",
    "returning": "#1f77b4",
    "resurrecting": "#9467bd",
    "dormant": "#d62728",
}


def lifecycle_figure(table: pd.DataFrame, period: str = "week") -> go.Figure:
    fig = go.Figure(
        [
            go.Bar(
                name=state,
                x=list(table.period_start),
                y=list(table[state]),
                marker_color=colour,
                hovertemplate=f"{state}: "
                + "%{y:,} users<br>"
                + period
                + " of %{x}<extra></extra>",
            )
            for state, colour in COLOURS.items()
        ]
    )
    return apply(
        fig,
        f"Lifecycle by {period}: dormant users below zero",
        barmode="relative",
        xaxis_title=f"{period} starting",
        yaxis_title="users",
        yaxis_tickformat=",d",
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
