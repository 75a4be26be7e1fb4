"""Lifecycle bars (dormant below zero) and stickiness bars."""

from __future__ import annotations

import plotly.graph_objects as go

COLOURS = {
    "new": "#2ca02c",
    "returning": "#1f77b4",
    "resurrecting": "#9467bd",
    "dormant": "#d62728",
}


def lifecycle_figure(result) -> go.Figure:
    table = result.table
    fig = go.Figure(
        [
            go.Bar(
                name=state, x=list(table.period_start), y=list(table[state]), marker_color=colour
            )
            for state, colour in COLOURS.items()
        ]
    )
    fig.update_layout(
        barmode="relative",
        title=f"Lifecycle by {result.query.period}: dormant users below zero",
        yaxis_title="users",
    )
    return fig


def stickiness_figure(result) -> go.Figure:
    table = result.table
    fig = go.Figure(
        [
            go.Bar(name=f"{p:%Y-%m-%d}", x=list(g.active_days), y=list(g.users))
            for p, g in table.groupby("period_start")
        ]
    )
    fig.update_layout(
        title=f"Stickiness: users by active days per {result.query.period}",
        xaxis_title="active days",
        yaxis_title="users",
    )
    return fig
