"""Path Sankeys: one column per step, one node per (step, event), link widths are users."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

MARKER_COLOUR = "#bdbdbd"


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
    per_column = ends.groupby("pos").cumcount()
    column_sizes = ends.groupby("pos").label.transform("size")
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
                "y": [
                    0.01 + 0.98 * (k + 0.5) / n
                    for k, n in zip(per_column, column_sizes, strict=True)
                ],
                "color": [MARKER_COLOUR if _marker(lbl) else colours[lbl] for lbl in ends.label],
                "pad": 12,
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
    fig.update_layout(title=title)
    return fig


def _marker(label: object) -> bool:
    text = str(label)
    return text.startswith("(") and text.endswith(")")
