"""What every chart shares: readable fonts, a palette that does not repeat, the category limit and
a plotly config for offline export (no MathJax, no CDN: labels are plain text, never LaTeX)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

FONT = 13  # px, base text of every chart
LABEL_FONT = 12  # px, bar labels and heatmap cells: the smallest text drawn
TOP = 8  # breakdown values drawn by default; the rest are grouped as OTHER
OTHER = "other"
OTHER_COLOUR = "#9e9e9e"
# Tableau 10 without its grey: nine colours a reader tells apart, so TOP values never share one
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
)
# what a notebook or exported page shows with each figure: no plotly logo, PNG export for slides
CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "png"}}


def apply(fig: go.Figure, title: str, **layout) -> go.Figure:
    """The house layout: title, base font, white template and room for axis titles."""
    fig.update_layout(
        title={"text": title, "font": {"size": FONT + 3}},
        font={"size": FONT},
        template="plotly_white",
        hoverlabel={"font_size": FONT},
        **layout,
    )
    fig.update_xaxes(automargin=True, title_standoff=10)
    fig.update_yaxes(automargin=True, title_standoff=10)
    return fig


def footnote(fig: go.Figure, lines: list[str], gap: int = 60) -> int:
    """Plain-text notes under the plot, left-aligned, ``gap`` px below the plotting area; returns
    the bottom margin they need (0 for no notes), for the caller to pass to ``apply``."""
    if not lines:
        return 0
    fig.add_annotation(
        text="<br>".join(lines),
        x=0,
        xref="paper",
        y=0,
        yref="paper",
        yshift=-gap,
        xanchor="left",
        yanchor="top",
        showarrow=False,
        align="left",
    )
    return gap + 40 + 20 * len(lines)


def colours(labels: list[str]) -> dict[str, str]:
    """One colour per label, in order; OTHER is grey. More labels than PALETTE is a caller's bug
    (limit them with ``top_values`` first), so it raises instead of repeating a colour."""
    named = [lbl for lbl in labels if lbl != OTHER]
    if len(named) > len(PALETTE):
        raise ValueError(f"{len(named)} categories but only {len(PALETTE)} distinct colours")
    out = dict(zip(named, PALETTE, strict=False))
    out[OTHER] = OTHER_COLOUR
    return out


def top_values(weights: pd.Series, limit: int = TOP) -> tuple[list[str], list[str]]:
    """(kept, grouped): the ``limit`` values with the largest weight (users), ties by name; the
    rest go to OTHER. Kept values come out sorted by name, so charts keep a stable order."""
    limit = max(1, min(int(limit), len(PALETTE)))
    order = sorted(weights.items(), key=lambda kv: (-kv[1], str(kv[0])))
    if len(order) <= limit:
        return sorted(str(k) for k, _ in order), []
    kept = [str(k) for k, _ in order[: limit - 1]]  # one slot goes to OTHER
    return sorted(kept), sorted(str(k) for k, _ in order[limit - 1 :])
