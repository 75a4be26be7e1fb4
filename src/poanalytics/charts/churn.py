"""Churn-rate lines and survival curves; every title states the inactivity rule."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .style import PALETTE, apply, colours, footnote

_STEP = {
    "day": pd.DateOffset(days=1),
    "week": pd.DateOffset(weeks=1),
    "month": pd.DateOffset(months=1),
}


def churn_figure(
    table: pd.DataFrame, period: str = "week", inactive_days: int = 28, segment: str | None = None
) -> go.Figure:
    """One line per segment; periods too early to show churn are gaps (not 0%), the incomplete
    last period is shaded, and the group without the segment property is named on the chart."""
    n = inactive_days
    groups = list(table.groupby("segment")) if "segment" in table else [("all users", table)]
    palette = colours([str(g) for g, _ in groups]) if len(groups) <= len(PALETTE) else {}
    fig = go.Figure(
        [
            go.Scatter(
                name=str(g),
                x=list(t.period_start),
                y=[None if pd.isna(v) else float(v) for v in t.churn_rate],
                mode="lines+markers",
                line_color=palette.get(str(g)),
                hovertemplate=f"{g}: " + "%{y:.1%} churned, " + period + " of %{x}<extra></extra>",
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
                x1=start + _STEP[period],
                fillcolor="grey",
                opacity=0.15,
                line_width=0,
                annotation_text="incomplete",
                annotation_position="top left",
            )
    if segment:
        label = f"no {segment}"
        notes.append(f'"{label}" = users with no {segment} property on any of their events')
    bottom = footnote(fig, notes)
    return apply(
        fig,
        f"Churn rate by {period} (churned = no event for {n} days)",
        xaxis_title=f"{period} starting",
        yaxis_tickformat=".0%",
        yaxis_title="churned / active at the start",
        legend_title_text=segment or None,
        **({"margin": {"b": bottom}} if bottom else {}),
    )


def survival_figure(table: pd.DataFrame, inactive_days: int = 28) -> go.Figure:
    """Kaplan-Meier steps per group, every line with markers (plotly drops them on long lines)."""
    groups = list(table.groupby("group"))
    palette = colours([str(g) for g, _ in groups]) if len(groups) <= len(PALETTE) else {}
    fig = go.Figure(
        [
            go.Scatter(
                name=str(g),
                x=list(t.day),
                y=list(t.survival),
                line_shape="hv",
                mode="lines+markers",
                marker={"size": 6},
                line_color=palette.get(str(g)),
                hovertemplate=f"{g}: " + "%{y:.1%} still active after %{x} days<extra></extra>",
            )
            for g, t in groups
        ]
    )
    return apply(
        fig,
        f"Still active after signup (Kaplan-Meier; churned = no event for {inactive_days} days)",
        xaxis_title="days since signup",
        yaxis_title="still active",
        yaxis_tickformat=".0%",
        yaxis_range=[0, 1.02],
    )
