"""Funnel correlation figure in words: "users who did app_error were 4.2x less likely to convert".

Each row is a dot at its odds ratio with its 95% interval, on a log scale whose ticks read "3x more",
"as likely", "10x less"; the odds ratio and p-value stay in the table and the hover.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..format import count, likelihood, p_value
from .style import LABEL_FONT, apply

COLOURS = {"success": "#2ca02c", "failure": "#d62728"}
# odds ratios drawn as ticks, and how a product owner reads each
TICKS = {
    0.001: "1000x less",
    0.003: "300x less",
    0.01: "100x less",
    0.03: "30x less",
    0.1: "10x less",
    0.3: "3x less",
    1: "as likely",
    3: "3x more",
    10: "10x more",
    30: "30x more",
    100: "100x more",
    300: "300x more",
    1000: "1000x more",
}


def labels(table: pd.DataFrame) -> list[str]:
    """Who each row is about, in words."""
    if "event" in table:
        return [f"users who did {e}" for e in table["event"]]
    return [
        f"users with {p} = {v if v != '' else '(none)'}"
        for p, v in zip(table["property"], table["value"], strict=True)
    ]


def correlation_figure(
    table: pd.DataFrame,
    title: str = "What goes with converting",
    success_total: int = 0,
    failure_total: int = 0,
    skewed: bool = False,
) -> go.Figure:
    """Strongest at the top; faded dots are not significant (p >= 0.05 or a small sample)."""
    if table.empty:
        return apply(
            go.Figure(),
            f"{title}: nothing to compare ({success_total:,} converted, "
            f"{failure_total:,} dropped off)",
        )
    names = labels(table)
    low, high = np.exp(table["log_odds_ci_low"]), np.exp(table["log_odds_ci_high"])
    fig = go.Figure()
    for direction, colour in COLOURS.items():
        rows = table.index[table["direction"] == direction]
        if len(rows) == 0:
            continue
        part = table.loc[rows]
        words = [
            likelihood(r, c, d).removesuffix(" to convert")
            for r, c, d in zip(
                part["odds_ratio"], part["success_count"], part["failure_count"], strict=True
            )
        ]
        fig.add_trace(
            go.Scatter(
                name="more likely to convert" if direction == "success" else "less likely",
                mode="markers+text",
                x=list(part["odds_ratio"]),
                y=[names[i] for i in rows],
                text=words,
                textposition="top center",
                textfont={"size": LABEL_FONT},
                marker={
                    "color": colour,
                    "size": 12,
                    "opacity": [1.0 if s else 0.4 for s in part["significant"]],
                },
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": list(high[rows] - part["odds_ratio"]),
                    "arrayminus": list(part["odds_ratio"] - low[rows]),
                    "thickness": 1.5,
                    "color": colour,
                },
                customdata=list(
                    zip(
                        words,
                        [count(c) for c in part["success_count"]],
                        [count(c) for c in part["failure_count"]],
                        [f"{r:.3g}" for r in part["odds_ratio"]],
                        [p_value(p) for p in part["p_value"]],
                        strict=True,
                    )
                ),
                hovertemplate="%{y}: %{customdata[0]}<br>converted: "
                "%{customdata[1]}, dropped off: %{customdata[2]}<br>odds ratio %{customdata[3]}, "
                "p %{customdata[4]}<extra></extra>",
            )
        )
    skew = " (skewed: one side is over 10x the other)" if skewed else ""
    span = [min(float(low.min()), 1 / 3), max(float(high.max()), 3)]
    ticks = {k: v for k, v in TICKS.items() if span[0] / 3 <= k <= span[1] * 3}
    apply(
        fig,
        f"{title}<br><sup>how much more or less likely to convert, with 95% intervals; "
        f"faded = not significant{skew}</sup>",
        xaxis={
            "type": "log",
            "title": {
                "text": "times more / less likely to convert (odds ratio, log scale; "
                f"{success_total:,} converted vs {failure_total:,} dropped off)"
            },
            "tickvals": list(ticks),
            "ticktext": list(ticks.values()),
            "range": [math.log10(span[0]) - 0.2, math.log10(span[1]) + 0.2],
            "zeroline": False,
        },
        yaxis={
            "categoryorder": "array",
            "categoryarray": names[::-1],
            "title": {"text": ""},
            "range": [-0.7, len(names) - 0.3],  # room for the top row's words
        },
        height=max(360, 160 + 48 * len(names)),
        legend={"orientation": "h", "y": -0.25},
    )
    fig.add_vline(x=1, line_width=1, line_color="#888888")
    return fig
