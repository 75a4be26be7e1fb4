"""Retention heatmap: cohorts by interval, percentages, unobservable cells left blank."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ..format import count, percent
from .style import LABEL_FONT, apply, footnote

ROW_PX = 28  # height per cohort row: every label and cell text stays readable


def retention_figure(
    table: pd.DataFrame, period: str = "week", title: str = "Retention"
) -> go.Figure:
    """A heatmap of the share of each cohort active N periods after its own; the figure grows with
    the number of cohorts so every row is labelled, and the colour bar reads in percent."""
    if table.empty:
        return apply(go.Figure(), f"{title}: no cohorts in the range")
    grid = table.pivot(index="cohort_start", columns="interval", values="rate")
    sizes = table.groupby("cohort_start").cohort_size.first()
    labels = [f"{c:%Y-%m-%d} ({count(sizes[c])})" for c in grid.index]
    open_cells = (
        table.pivot(index="cohort_start", columns="interval", values="incomplete")
        .reindex(index=grid.index, columns=grid.columns)
        .fillna(False)
        .astype(bool)
        .to_numpy()
    )
    text = [
        [
            ("" if v != v else percent(v, 0) + ("*" if inc else ""))
            for v, inc in zip(r, o, strict=True)
        ]
        for r, o in zip(grid.to_numpy(), open_cells, strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=[str(c) for c in grid.columns],
            y=labels,
            text=text,
            texttemplate="%{text}",
            textfont={"size": LABEL_FONT},
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"tickformat": ".0%", "title": {"text": "active"}},
            hoverongaps=False,
            hovertemplate="cohort %{y}<br>%{x} " + period + "s later: %{z:.1%}<extra></extra>",
        )
    )
    rows = len(labels)
    apply(
        fig,
        title,
        xaxis_title=f"{period.capitalize()}s after the cohort {period}",
        yaxis_title="cohort (users)",
        yaxis={"autorange": "reversed", "dtick": 1, "type": "category"},
        xaxis={"type": "category", "side": "bottom"},
        height=max(360, 200 + ROW_PX * rows),
        margin={"b": 110},
    )
    if open_cells.any():
        note = "* not over yet: the data ends inside that period, so the share can still grow"
        footnote(fig, [note], gap=70)
    return fig
