"""Funnel figures: conversion bars, trend lines and time-to-convert histograms."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

if TYPE_CHECKING:
    from ..metrics.funnel import FunnelResult


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def funnel_figure(result: FunnelResult) -> go.Figure:
    table = result.table
    fig = go.Figure()
    series = (
        [(None, table)]
        if "breakdown" not in table
        else [
            (value if value != "" else "(none)", group)
            for value, group in table.groupby("breakdown", sort=True)
        ]
    )
    for label, group in series:
        fig.add_trace(
            go.Bar(
                name=str(label) if label is not None else "users",
                x=list(group["name"]),
                y=list(group["users"]),
                text=[
                    f"{u:,} ({_pct(c)})"
                    for u, c in zip(group["users"], group["conversion_from_start"], strict=True)
                ],
                textposition="outside",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": list(
                        (group["ci_high"] - group["conversion_from_start"]) * group["users"].iloc[0]
                    ),
                    "arrayminus": list(
                        (group["conversion_from_start"] - group["ci_low"]) * group["users"].iloc[0]
                    ),
                },
                customdata=list(
                    zip(
                        group["dropped"],
                        group["in_progress"],
                        group["conversion_from_previous"],
                        strict=True,
                    )
                ),
                hovertemplate="%{x}<br>%{y:,} users<br>dropped here: %{customdata[0]:,}"
                "<br>still in their window: %{customdata[1]:,}"
                "<br>from previous step: %{customdata[2]:.1%}<extra></extra>",
            )
        )
    plan = result.plan
    window = f"{plan.window // 86400}d" if plan.window % 86400 == 0 else f"{plan.window}s"
    fig.update_layout(
        title=f"Funnel ({plan.order}, {window} window): users per step, 95% Wilson intervals",
        yaxis_title="users",
        barmode="group",
        showlegend=len(series) > 1,
    )
    return fig


def trend_figure(frame, title: str = "Conversion by week of entry") -> go.Figure:
    """The rate per period over users whose window has closed, with 95% Wilson intervals (F15).

    Incomplete periods (over 10% of their entrants still in their window) are a separate trace of
    hollow markers, never joined to the line, with their in-progress count on the chart."""
    complete = frame[~frame["incomplete"]] if "incomplete" in frame else frame
    incomplete = frame[frame["incomplete"]] if "incomplete" in frame else frame.iloc[0:0]

    def hover(part):
        return list(
            zip(
                part["converted"],
                part["users"],
                part.get("in_progress", [0] * len(part)),
                part.get("converted_in_progress", [0] * len(part)),
                strict=True,
            )
        )

    template = (
        "%{x}<br>%{y:.1%}: %{customdata[0]:,} of %{customdata[1]:,} with their window closed"
        "<br>still in their window: %{customdata[2]:,} (%{customdata[3]:,} converted so far)"
        "<extra></extra>"
    )
    fig = go.Figure(
        go.Scatter(
            name="window closed",
            x=list(complete["period_start"]),
            y=list(complete["rate"]),
            mode="lines+markers",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": list(complete["ci_high"] - complete["rate"]),
                "arrayminus": list(complete["rate"] - complete["ci_low"]),
            },
            customdata=hover(complete),
            hovertemplate=template,
        )
    )
    if len(incomplete):
        fig.add_trace(
            go.Scatter(
                name="incomplete: over 10% still in their window",
                x=list(incomplete["period_start"]),
                y=list(incomplete["rate"]),
                mode="markers",
                marker={"symbol": "circle-open", "size": 10},
                customdata=hover(incomplete),
                hovertemplate=template,
            )
        )
        for r in incomplete.itertuples(index=False):
            fig.add_annotation(
                x=r.period_start,
                y=1.0,
                yref="paper",
                text=f"incomplete: {r.in_progress:,} of {r.entrants:,} in progress",
                showarrow=False,
                textangle=-90,
                font={"size": 10},
            )
    fig.update_layout(
        title=f"{title}: users whose window has closed, 95% Wilson intervals",
        yaxis_tickformat=".0%",
        yaxis_title="conversion",
        showlegend=len(incomplete) > 0,
    )
    return fig


def times_figure(frame, title: str = "Time to convert") -> go.Figure:
    fig = go.Figure(go.Histogram(x=list(frame["seconds"] / 3600), nbinsx=30))
    fig.update_layout(title=title, xaxis_title="hours", yaxis_title="users")
    return fig
