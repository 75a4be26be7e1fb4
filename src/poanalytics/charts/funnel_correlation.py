"""Funnel correlation figure: log odds ratios as horizontal bars, coloured by direction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

if TYPE_CHECKING:
    from ..metrics.funnel_correlation import CorrelationResult

COLOURS = {"success": "#2ca02c", "failure": "#d62728"}


def _labels(table) -> list[str]:
    if "event" in table:
        return [str(e) for e in table["event"]]
    return [
        f"{p} = {v if v != '' else '(none)'}"
        for p, v in zip(table["property"], table["value"], strict=True)
    ]


def correlation_figure(result: CorrelationResult) -> go.Figure:
    """Strongest at the top; faded bars are not significant (p >= 0.05 or a small sample)."""
    table = result.table
    title = f"What goes with reaching step {result.step} ({result.step_name})"
    if table.empty:
        return go.Figure().update_layout(
            title=f"{title}: nothing to compare ({result.success_total:,} converted, "
            f"{result.failure_total:,} dropped off)"
        )
    labels = _labels(table)
    fig = go.Figure()
    for direction, colour in COLOURS.items():
        rows = table.index[table["direction"] == direction]
        if len(rows) == 0:
            continue
        part = table.loc[rows]
        fig.add_trace(
            go.Bar(
                name=f"{direction}-correlated",
                orientation="h",
                x=list(part["log_odds_ratio"]),
                y=[labels[i] for i in rows],
                marker={
                    "color": colour,
                    "opacity": [1.0 if s else 0.4 for s in part["significant"]],
                },
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": list(part["log_odds_ci_high"] - part["log_odds_ratio"]),
                    "arrayminus": list(part["log_odds_ratio"] - part["log_odds_ci_low"]),
                },
                customdata=list(
                    zip(
                        part["success_count"],
                        part["failure_count"],
                        part["odds_ratio"],
                        part["p_value"],
                        strict=True,
                    )
                ),
                hovertemplate="%{y}<br>converted: %{customdata[0]:,}, dropped: %{customdata[1]:,}"
                "<br>odds ratio %{customdata[2]:.2f}, p = %{customdata[3]:.3g}<extra></extra>",
            )
        )
    skew = " (skewed: one side is over 10x the other)" if result.skewed else ""
    fig.update_layout(
        title=f"{title}: log odds ratio, 95% interval; faded = not significant{skew}",
        xaxis_title=f"log odds ratio ({result.success_total:,} converted vs "
        f"{result.failure_total:,} dropped off)",
        yaxis={"categoryorder": "array", "categoryarray": labels[::-1]},
        barmode="overlay",
    )
    return fig
