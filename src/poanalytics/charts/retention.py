"""Retention heatmap: cohorts by interval, percentages, unobservable cells left blank."""

from __future__ import annotations

import plotly.graph_objects as go


def retention_figure(result) -> go.Figure:
    table = result.table
    if table.empty:
        return go.Figure().update_layout(title="Retention: no cohorts in the range")
    grid = table.pivot(index="cohort_start", columns="interval", values="rate")
    sizes = table.groupby("cohort_start").cohort_size.first()
    labels = [f"{c:%Y-%m-%d} ({int(sizes[c]):,})" for c in grid.index]
    open_cells = (
        table.pivot(index="cohort_start", columns="interval", values="incomplete")
        .reindex(index=grid.index, columns=grid.columns)
        .fillna(False)
        .astype(bool)
        .to_numpy()
    )
    text = [
        [
            ("" if v != v else f"{100 * v:.0f}%" + ("*" if inc else ""))
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
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hoverongaps=False,
        )
    )
    q = result.query
    fig.update_layout(
        title=f"Retention by {q.period} ({q.cohort.replace('_', '-')} cohorts"
        f"{', cumulative' if q.cumulative else ''}); blank = not observable yet",
        xaxis_title=f"{q.period}s after the cohort's",
        yaxis_title="cohort (size)",
        yaxis_autorange="reversed",
    )
    if open_cells.any():
        fig.add_annotation(
            text="* not over yet: the data ends inside that period, so the share can still grow",
            x=0,
            xref="paper",
            y=-0.12,
            yref="paper",
            xanchor="left",
            yanchor="top",
            showarrow=False,
        )
    return fig
