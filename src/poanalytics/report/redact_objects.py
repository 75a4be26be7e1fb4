"""Redaction of whole objects: DataFrames, plotly figures, and the warehouse's people as names.

``redact_frame`` and ``redact_figure`` run ``redact`` (poanalytics/redaction.py) over every text a reader can
see and leave numbers alone; ``known_names(con)`` (defined in poanalytics/redaction.py) lists the people the warehouse holds so that a
report can hide them (docs/redaction.md says how the report uses it).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..redaction import RedactConfig, known_names, load_config, redact

__all__ = ["known_names", "redact_figure", "redact_frame"]

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


def _redactor(names: Iterable[str], secrets: Iterable[str], config: RedactConfig | None):
    cfg = load_config() if config is None else config
    name_list, secret_list = tuple(names), tuple(secrets)
    cache: dict[str, str] = {}

    def one(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value not in cache:
            cache[value] = redact(value, names=name_list, secrets=secret_list, config=cfg)
        return cache[value]

    return one


def redact_frame(
    frame: pd.DataFrame,
    *,
    names: Iterable[str] = (),
    secrets: Iterable[str] = (),
    config: RedactConfig | None = None,
) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells, column names and index labels are redacted.

    Numbers, dates and missing values are left as they are; each distinct text is redacted once.
    """
    import pandas as pd

    one = _redactor(names, secrets, config)
    out = frame.copy()
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
            out.isetitem(i, col.map(one, na_action="ignore"))
    out.columns = _redact_index(out.columns, one)
    out.index = _redact_index(out.index, one)
    return out


def _redact_index(index: pd.Index, one: Any) -> pd.Index:
    import pandas as pd

    if isinstance(index, pd.MultiIndex):
        levels = [_redact_index(level, one) for level in index.levels]
        return index.set_levels(levels, verify_integrity=False)
    if index.dtype == object or isinstance(index.dtype, pd.StringDtype):
        return index.map(one)
    return index


# figure keys that hold structure, not text a reader sees
_FIGURE_SKIP = {
    "template", "type", "mode", "uid", "xaxis", "yaxis", "legendgroup", "hoverinfo", "textposition",
    "orientation", "color", "colors", "bgcolor", "bordercolor", "family", "colorscale", "fill",
    "fillcolor", "symbol", "dash", "xref", "yref", "anchor", "overlaying", "matches", "side",
    "tickformat", "hoverformat", "categoryorder", "barmode", "layer", "shape", "tickmode",
    "valueformat", "xanchor", "yanchor", "align", "textinfo", "geo", "scaleanchor",
}  # fmt: skip


def _walk(node: Any, one: Any) -> Any:
    import numpy as np

    if isinstance(node, str):
        return one(node)
    if isinstance(node, dict) and "bdata" in node:  # numbers plotly packed as base64: unpack
        array = np.frombuffer(base64.b64decode(node["bdata"]), dtype=np.dtype(node["dtype"]))
        shape = [int(n) for n in str(node.get("shape", "")).split(",") if n.strip()]
        return array.reshape(shape) if shape else array
    if isinstance(node, dict):
        # "xaxis" names an axis in a trace ("x2") but holds one in the layout: skip only non-dicts
        skip = _FIGURE_SKIP
        return {
            k: (v if k in skip and not isinstance(v, dict) else _walk(v, one))
            for k, v in node.items()
        }
    if isinstance(node, list | tuple):
        return [_walk(v, one) for v in node]
    if isinstance(node, np.ndarray) and node.dtype == object:
        return np.array([_walk(v, one) for v in node.tolist()], dtype=object).reshape(node.shape)
    return node  # numbers, numeric arrays, dates, None


def redact_figure(
    figure: go.Figure,
    *,
    names: Iterable[str] = (),
    secrets: Iterable[str] = (),
    config: RedactConfig | None = None,
) -> go.Figure:
    """A copy of a plotly figure whose visible text is redacted: titles, axis titles, tick text,
    category labels, trace names, text/hovertext/customdata, annotations, Sankey labels, table
    cells. Numbers are untouched."""
    import plotly.graph_objects as go

    one = _redactor(names, secrets, config)
    data = figure.to_dict()
    layout = data.get("layout", {})
    template = layout.pop("template", None)
    new = go.Figure({"data": _walk(data.get("data", []), one), "layout": _walk(layout, one)})
    if template is not None:
        new.layout.template = template
    return new
