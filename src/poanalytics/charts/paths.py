"""Path Sankeys: one column per step, one node per (step, event), link widths are users."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from .style import apply

MARKER_COLOUR = "#bdbdbd"
PAD = 14  # px between nodes of a column
ROW_PX = 34
MIN_HEIGHT = 480


def paths_figure(edges: pd.DataFrame, title: str = "Paths", value: str = "users") -> go.Figure:
    """A Sankey from an edge table (step, source, target, users[, paths]).

    Nodes are (position, label): the source sits at ``step``, the target at ``step + 1``. Labels in
    parentheses ("(end)", "(start)", "(no further events)") are markers, drawn grey.
    """
    if edges.empty:
        return go.Figure().update_layout(title=f"{title}: no paths")
    ends = pd.concat(
        [
            pd.DataFrame({"pos": edges.step, "label": edges.source}),
            pd.DataFrame({"pos": edges.step + 1, "label": edges.target}),
        ]
    ).drop_duplicates()
    ends = ends.sort_values(["pos", "label"], kind="stable").reset_index(drop=True)
    index = {
        (int(p), str(lbl)): i for i, (p, lbl) in enumerate(zip(ends.pos, ends.label, strict=True))
    }
    last = max(int(ends.pos.max()), 2)
    first = int(ends.pos.min())
    ends["flow"] = _flows(edges, ends, value)
    ys, height = _stack(ends)
    palette = qualitative.Plotly
    colours: dict[str, str] = {}
    for lbl in ends.label:
        if lbl not in colours and not _marker(lbl):
            colours[lbl] = palette[len(colours) % len(palette)]
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": [str(lbl) for lbl in ends.label],
                "x": [0.01 + 0.98 * (int(p) - first) / max(last - first, 1) for p in ends.pos],
                "y": ys,
                "color": [MARKER_COLOUR if _marker(lbl) else colours[lbl] for lbl in ends.label],
                "pad": PAD,
                "thickness": 18,
                "hovertemplate": "%{label}<br>%{value:,} users<extra></extra>",
            },
            link={
                "source": [
                    index[(int(s), str(a))] for s, a in zip(edges.step, edges.source, strict=True)
                ],
                "target": [
                    index[(int(s) + 1, str(b))]
                    for s, b in zip(edges.step, edges.target, strict=True)
                ],
                "value": [int(v) for v in edges[value]],
                "hovertemplate": "%{source.label} → %{target.label}<br>%{value:,} "
                + value
                + "<extra></extra>",
            },
        )
    )
    return apply(fig, title, height=height, margin={"t": 90, "b": 40, "l": 20, "r": 20})


def _flows(edges: pd.DataFrame, ends: pd.DataFrame, value: str) -> list[int]:
    """Each node's size: the larger of what flows in and what flows out."""
    out = edges.groupby([edges.step, edges.source.astype(str)])[value].sum()
    into = edges.groupby([edges.step + 1, edges.target.astype(str)])[value].sum()
    return [
        int(max(out.get((int(p), str(lbl)), 0), into.get((int(p), str(lbl)), 0)))
        for p, lbl in zip(ends.pos, ends.label, strict=True)
    ]


def _stack(ends: pd.DataFrame) -> tuple[list[float], int]:
    """Node centres stacked by size in each column, inside [0, 1] with room for the padding, and
    a figure height that gives the busiest column ``ROW_PX`` per node: no node is clipped."""
    height = max(MIN_HEIGHT, 170 + ROW_PX * int(ends.groupby("pos").size().max()))
    plot = height - 130  # the drawing area between the margins
    ys = [0.0] * len(ends)
    for _, column in ends.groupby("pos"):
        gaps = PAD * (len(column) - 1) / plot  # padding between nodes, as a share of the area
        total = max(int(column.flow.sum()), 1)
        top = 0.0
        for i, flow in zip(column.index, column.flow, strict=True):
            share = (1 - gaps) * flow / total
            ys[i] = min(max(top + share / 2, 0.001), 0.999)
            top += share + PAD / plot
    return ys, height


def _marker(label: object) -> bool:
    text = str(label)
    return text.startswith("(") and text.endswith(")")
