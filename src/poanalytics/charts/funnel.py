"""Funnel figures: conversion bars, trend lines and time-to-convert histograms."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ..format import count, duration, percent
from .style import LABEL_FONT, OTHER, TOP, apply, colours, top_values

VIEWS = ("users", "percent")


def funnel_figure(
    table: pd.DataFrame,
    title: str = "Funnel: users per step, 95% Wilson intervals",
    view: str | None = None,
    top: int = TOP,
    exclusive: bool = True,
) -> go.Figure:
    """Bars per step from a funnel table: users (``view="users"``) or conversion from the first
    step (``view="percent"``, the default with a breakdown, where series differ in size).

    With a breakdown, the ``top`` values with the most users at step 1 are drawn and the rest are
    summed into "other" (no interval: it mixes values). ``exclusive=False`` says a user can sit in
    several values (attribution all_events), and the "other" label says so."""
    has_breakdown = "breakdown" in table
    view = view or ("percent" if has_breakdown else "users")
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
    series = _series(table, top, exclusive) if has_breakdown else [("users", table, False)]
    palette = colours([label for label, _, _ in series])
    fig = go.Figure()
    for label, group, grouped in series:
        fig.add_trace(_bar(label, group, grouped, view, palette[label], has_breakdown))
    many = len(series) > 2
    fig.update_traces(
        textposition="inside",
        insidetextanchor="start",  # at the bar's base: the interval's caps sit at its top
        textangle=-90 if many else 0,
        textfont={"size": LABEL_FONT},
        cliponaxis=False,
    )
    percent_view = view == "percent"
    return apply(
        fig,
        title if not percent_view else title.replace("users per step", "conversion from step 1"),
        xaxis_title="funnel step",
        yaxis_title="converted from step 1" if percent_view else "users",
        yaxis_tickformat=".0%" if percent_view else ",d",
        yaxis_range=[0, 1.05] if percent_view else None,
        barmode="group",
        showlegend=has_breakdown,
        legend_title_text="breakdown" if has_breakdown else None,
        uniformtext={"minsize": LABEL_FONT, "mode": "hide"},  # hide a label rather than shrink it
    )


def _series(table: pd.DataFrame, top: int, exclusive: bool) -> list[tuple[str, pd.DataFrame, bool]]:
    named = table.assign(breakdown=table["breakdown"].replace("", "(none)").astype(str))
    first = named[named["step"] == named["step"].min()].set_index("breakdown")["users"]
    kept, rest = top_values(first, top)
    out = [(value, named[named["breakdown"] == value], False) for value in kept]
    if rest:
        out.append((OTHER, _pool(named, rest, exclusive), True))
    return out


def _pool(table: pd.DataFrame, values: list[str], exclusive: bool) -> pd.DataFrame:
    """The grouped values summed per step; rates from the sums, no interval and no time."""
    part = table[table["breakdown"].isin(values)]
    summed = part.groupby(["step", "name"], as_index=False, sort=True)[
        ["users", "dropped", "in_progress"]
    ].sum()
    start = summed["users"].iloc[0]
    summed["conversion_from_start"] = summed["users"] / start if start else float("nan")
    summed["conversion_from_previous"] = summed["users"] / summed["users"].shift(1).fillna(start)
    note = "" if exclusive else "; a user can count in several"
    summed["values"] = f"{len(values)} values: " + ", ".join(values) + note
    return summed


def _bar(
    label: str, group: pd.DataFrame, grouped: bool, view: str, colour: str, named: bool
) -> go.Bar:
    rate = group["conversion_from_start"]
    start = group["users"].iloc[0]
    scale = 1 if view == "percent" else start
    error = None
    if not grouped and "ci_low" in group:
        error = {
            "type": "data",
            "symmetric": False,
            "array": list((group["ci_high"] - rate) * scale),
            "arrayminus": list((rate - group["ci_low"]) * scale),
            "thickness": 1.5,
            "width": 4,
            "color": "#333333",
        }
    if view == "percent":
        y, text = list(rate), [percent(r) for r in rate]
    else:
        y = list(group["users"])
        text = [f"{count(u)} · {percent(r)}" for u, r in zip(group["users"], rate, strict=True)]
    what = f"{label}: " if named else ""
    if grouped:
        what = f"{label} ({group['values'].iloc[0]}): "
    return go.Bar(
        name=label,
        x=list(group["name"]),
        y=y,
        text=text,
        marker_color=colour,
        error_y=error,
        customdata=list(
            zip(
                [count(u) for u in group["users"]],
                [percent(r) for r in rate],
                [count(d) for d in group["dropped"]],
                [count(i) for i in group["in_progress"]],
                [percent(r) for r in group["conversion_from_previous"]],
                strict=True,
            )
        ),
        hovertemplate=what + "%{x}<br>%{customdata[0]} users, "
        "%{customdata[1]} of step 1<br>dropped here: %{customdata[2]}"
        "<br>still in their window: %{customdata[3]}"
        "<br>from previous step: %{customdata[4]}<extra></extra>",
    )


def trend_figure(frame: pd.DataFrame, title: str = "Conversion by week of entry") -> go.Figure:
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
                font={"size": LABEL_FONT},
            )
    return apply(
        fig,
        f"{title}: users whose window has closed, 95% Wilson intervals",
        xaxis_title="start of the period",
        yaxis_tickformat=".0%",
        yaxis_title="conversion",
        showlegend=len(incomplete) > 0,
        legend={"orientation": "h", "y": -0.3},  # below: the plot keeps its width in narrow cells
    )


def times_figure(frame: pd.DataFrame, title: str = "Time to convert") -> go.Figure:
    """Histogram in hours; the median in words above it ("median 3 h 12 min")."""
    seconds = frame["seconds"]
    fig = go.Figure(
        go.Histogram(
            x=list(seconds / 3600),
            nbinsx=30,
            hovertemplate="%{x} hours<br>%{y:,} users<extra></extra>",
        )
    )
    if len(seconds):
        users = f"{count(len(seconds))} user{'s' if len(seconds) != 1 else ''}"
        title = f"{title} (median {duration(seconds.median())}, {users})"
    return apply(fig, title, xaxis_title="hours", yaxis_title="users", bargap=0.05)
