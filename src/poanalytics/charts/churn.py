"""Churn-rate lines and survival curves; every title states the inactivity rule."""

from __future__ import annotations

import plotly.graph_objects as go


def churn_figure(result) -> go.Figure:
    table = result.table
    n = result.query.inactive_days
    groups = table.groupby("segment") if "segment" in table else [("all users", table)]
    fig = go.Figure(
        [
            go.Scatter(
                name=str(g) or "(none)",
                x=list(t.period_start),
                y=list(t.churn_rate),
                mode="lines+markers",
            )
            for g, t in groups
        ]
    )
    fig.update_layout(
        title=f"Churn rate by {result.query.period} (churned = no event for {n} days)",
        yaxis_tickformat=".0%",
        yaxis_title="churned / active at the start",
    )
    return fig


def survival_figure(result) -> go.Figure:
    table = result.table
    n = result.query.inactive_days
    fig = go.Figure(
        [
            go.Scatter(name=str(g), x=list(t.day), y=list(t.survival), line_shape="hv")
            for g, t in table.groupby("group")
        ]
    )
    fig.update_layout(
        title=f"Still active after signup (Kaplan-Meier; churned = no event for {n} days)",
        xaxis_title="days since signup",
        yaxis_tickformat=".0%",
        yaxis_range=[0, 1.02],
    )
    return fig
