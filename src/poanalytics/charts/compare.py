"""Period comparison bars: two ranges' rates per measure, Wilson intervals, the verdict on top."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ..format import signed_points
from .style import apply


def _label(row) -> str:
    if row.breakdown is None or (
        isinstance(row.breakdown, float) and row.breakdown != row.breakdown
    ):
        return str(row.measure)
    return f"{row.measure} [{row.breakdown or '(none)'}]"


def _verdict(row) -> str:
    if row.incomplete:
        return "incomplete"
    if row.difference != row.difference:
        return "no rate"
    text = signed_points(row.difference)
    if row.clear:
        return text + ", clear"
    return text + (", small sample" if row.small_sample else ", not clear")


def comparison_figure(table: pd.DataFrame, title: str = "Period comparison") -> go.Figure:
    """Grouped bars (the other range, then the current one) from a comparison table."""
    fig = go.Figure()
    for period, rows in table.groupby("period", sort=False):
        labels = [_label(r) for r in rows.itertuples(index=False)]
        current = period == "current"
        fig.add_trace(
            go.Bar(
                name=f"{period}: {rows.date_from.iloc[0]:%Y-%m-%d}..{rows.date_to.iloc[0]:%Y-%m-%d}",
                x=labels,
                y=list(rows.rate),
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": list(rows.ci_high - rows.rate),
                    "arrayminus": list(rows.rate - rows.ci_low),
                },
                customdata=list(
                    zip(rows.converted, rows.users, rows.in_progress, rows.entrants, strict=True)
                ),
                hovertemplate="%{x}<br>%{y:.1%}: %{customdata[0]:,} of %{customdata[1]:,} with "
                "their window closed<br>still in their window: %{customdata[2]:,} of "
                "%{customdata[3]:,}<extra></extra>",
            )
        )
        if current:  # the verdict above each pair, clear changes in bold
            for label, r in zip(labels, rows.itertuples(index=False), strict=True):
                verdict = _verdict(r)
                fig.add_annotation(
                    x=label,
                    y=1.0,
                    yref="paper",
                    yanchor="bottom",
                    showarrow=False,
                    text=f"<b>{verdict}</b>" if r.clear else verdict,
                )
    return apply(
        fig,
        title,
        barmode="group",
        yaxis_tickformat=".0%",
        yaxis_title="rate",
        xaxis_title="measure",
        margin={"t": 110},
    )
