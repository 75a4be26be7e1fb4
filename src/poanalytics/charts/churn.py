"""Churn-rate lines and survival curves; every title states the inactivity rule."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

_STEP = {
    "day": pd.DateOffset(days=1),
    "week": pd.DateOffset(weeks=1),
    "month": pd.DateOffset(months=1),
}


def churn_figure(result) -> go.Figure:
    """One line per segment; periods too early to show churn are gaps (not 0%), the incomplete
    last period is shaded, and the group without the segment property is named on the chart."""
    table = result.table
    q = result.query
    n = q.inactive_days
    groups = table.groupby("segment") if "segment" in table else [("all users", table)]
    fig = go.Figure(
        [
            go.Scatter(
                name=str(g),
                x=list(t.period_start),
                y=[None if pd.isna(v) else float(v) for v in t.churn_rate],
                mode="lines+markers",
            )
            for g, t in groups
        ]
    )
    notes = []
    if "observable" in table and (~table.observable).any() and table.observable.any():
        first = table[table.observable].period_start.min()
        notes.append(
            f"empty before {first:%Y-%m-%d}: fewer than {n} days of data, so no churn can show yet"
        )
    if "incomplete" in table:
        for start in sorted(set(table[table.incomplete].period_start)):
            fig.add_vrect(
                x0=start,
                x1=start + _STEP[q.period],
                fillcolor="grey",
                opacity=0.15,
                line_width=0,
                annotation_text="incomplete",
                annotation_position="top left",
            )
    if q.segment:
        label = f"no {q.segment}"
        notes.append(f'"{label}" = users with no {q.segment} property on any of their events')
    if notes:
        fig.add_annotation(
            text="<br>".join(notes),
            x=0,
            xref="paper",
            y=-0.12,
            yref="paper",
            xanchor="left",
            yanchor="top",
            showarrow=False,
            align="left",
        )
        fig.update_layout(margin={"b": 80 + 20 * len(notes)})
    fig.update_layout(
        title=f"Churn rate by {q.period} (churned = no event for {n} days)",
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
