"""Backlog charts: value/effort bubbles, the score breakdown per item, rank changes over time, the
impact map as a tree, objectives against their targets, and the figures of the backlog's results
(the order, an item's evidence, a shipped item's before/after, refinement checks; docs/backlog.md).

Every function takes a DataFrame (a result's ``.table``, or tables joined from them) and plain
arguments, never a result object, so the backlog package calls them from its results'
``figure()`` and the report calls them directly. Only scatter and bar traces are drawn (the
report page's reduced plotly.js holds them). Text from the data (titles, reasons, override
reasons) is HTML-escaped before plotly reads it, so a title holding ``<b>`` or a link shows as
written. An empty table gives a figure whose title says why it is empty; an item that cannot be
placed (no effort, no score) is named under the chart, never drawn at a made-up position.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..format import MISSING, count, duration, percent, signed_points
from .style import LABEL_FONT, OTHER_COLOUR, PALETTE, apply, footnote

LABEL_CHARS = 44  # an item's "id title" label is cut with "…" beyond this (hover: whole)
ROW_PX = 34  # height per item row
RANKED = 9  # rank-change lines drawn in colour (one colour each); the rest are thin and grey
# value/effort quadrants (scores.quadrant): colour by meaning, unknown labels from the palette
QUADRANT_COLOURS = {
    "quick win": "#59a14f",
    "big bet": "#4e79a7",
    "fill-in": "#edc948",
    "time sink": "#e15759",
}
STATUS_COLOURS = {
    "open": "#4e79a7",
    "in_progress": "#f28e2b",
    "shipped": "#59a14f",
    "dropped": "#9e9e9e",
}
OVERRIDE_COLOUR = "#b07aa1"
BETTER, WORSE, TRACK = "#59a14f", "#e15759", "#e8e8e8"
RATES = ("conversion", "retention", "churn_rate")  # objectives measured as a share of users
# what each WSJF cost-of-delay part is called on the chart, stacked in this order
COST_OF_DELAY = (
    ("business_value", "business value", "#4e79a7"),
    ("time_criticality", "time criticality", "#f28e2b"),
    ("risk_reduction", "risk reduction / opportunity enablement", "#76b7b2"),
)


# -- helpers ------------------------------------------------------------------------------------


def _text(value: Any, limit: int | None = None) -> str:
    """Data text for a label or hover: one line, cut at ``limit`` with "…", HTML-escaped."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return html.escape(text, quote=False)


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def _label(row: pd.Series, limit: int = LABEL_CHARS) -> str:
    """ "BL-103 Make the profile step skippable" (cut), or the id alone without a title."""
    title = row.get("title")
    title = "" if title is None or (not isinstance(title, str) and pd.isna(title)) else title
    return _text(f"{row['item_id']} {title}".strip(), limit)


def _empty(title: str, why: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=why, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 15}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return apply(fig, f"{title}: {why}", height=300)


def _score_text(value: Any) -> str:
    v = _num(value)
    if v is None:
        return MISSING
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _names(ids: Sequence[Any], limit: int = 6) -> str:
    shown = ", ".join(_text(i) for i in list(ids)[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


# -- value / effort -----------------------------------------------------------------------------


def quadrant_colours(labels: Sequence[str]) -> dict[str, str]:
    """A colour per quadrant label: the known ones by meaning, others from the palette in order."""
    spare = iter(c for c in PALETTE if c not in QUADRANT_COLOURS.values())
    out = {}
    for label in labels:
        out[label] = QUADRANT_COLOURS.get(str(label).lower()) or next(spare, OTHER_COLOUR)
    return out


def value_effort_figure(
    table: pd.DataFrame,
    *,
    title: str = "Value and effort",
    value_label: str = "value (reach x impact x confidence)",
    reach_label: str = "reach, users per quarter",
    effort_split: float | None = None,
    value_split: float | None = None,
) -> go.Figure:
    """A bubble per item: effort in person-weeks across, value up, the bubble's area its reach,
    its colour its quadrant; dotted lines at the splits that make the quadrants (default: the
    medians of the items drawn). Columns: item_id, effort_weeks, value, reach, quadrant; optional
    title and reason (in the hover). Items without an effort or a value are named under the
    chart, not drawn."""
    full = f"{title}: value against effort, bubble size = reach"
    if table.empty:
        return _empty(full, "no item to place")
    effort = pd.to_numeric(table["effort_weeks"], errors="coerce")
    value = pd.to_numeric(table["value"], errors="coerce")
    placed = table[effort.notna() & value.notna()].copy()
    missing = table[~(effort.notna() & value.notna())]
    if placed.empty:
        return _empty(full, f"no item has both an effort and a value ({_names(missing.item_id)})")
    placed["effort_weeks"] = pd.to_numeric(placed["effort_weeks"])
    placed["value"] = pd.to_numeric(placed["value"])
    reach = pd.to_numeric(placed.get("reach"), errors="coerce").fillna(0).clip(lower=0)
    placed["_reach"] = reach if "reach" in placed else 0.0
    x_split = float(placed["effort_weeks"].median()) if effort_split is None else effort_split
    y_split = float(placed["value"].median()) if value_split is None else value_split
    quadrants = (
        placed["quadrant"].fillna("").astype(str)
        if "quadrant" in placed
        else pd.Series("", index=placed.index)
    )
    placed["_quadrant"] = quadrants.replace("", "no quadrant")
    order = [q for q in QUADRANT_COLOURS if q in set(placed["_quadrant"].str.lower())]
    order = [next(v for v in placed["_quadrant"] if v.lower() == q) for q in order]
    order += sorted(set(placed["_quadrant"]) - set(order))
    palette = quadrant_colours(order)
    biggest = float(placed["_reach"].max())
    sizeref = 2.0 * biggest / (48.0**2) if biggest > 0 else 1.0
    fig = go.Figure()
    for quadrant in order:
        part = placed[placed["_quadrant"] == quadrant]
        hover = [
            f"<b>{_label(r, 80)}</b><br>effort: {count(round(r['effort_weeks'], 1))} person-weeks"
            f"<br>{value_label}: {_score_text(r['value'])}<br>{reach_label}: {count(r['_reach'])}"
            + (f"<br>{_text(r.get('reason'), 160)}" if _text(r.get("reason")) else "")
            for _, r in part.iterrows()
        ]
        fig.add_trace(
            go.Scatter(
                name=_text(quadrant),
                x=list(part["effort_weeks"]),
                y=list(part["value"]),
                mode="markers+text",
                text=[_text(i) for i in part["item_id"]],
                textposition="top center",
                textfont={"size": LABEL_FONT},
                marker={
                    "size": list(part["_reach"]),
                    "sizemode": "area",
                    "sizeref": sizeref,
                    "sizemin": 6,
                    "color": palette[quadrant],
                    "opacity": 0.75,
                    "line": {"width": 1, "color": "#333333"},
                },
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
                cliponaxis=False,
            )
        )
    fig.add_vline(x=x_split, line_width=1, line_dash="dot", line_color="#888888")
    fig.add_hline(y=y_split, line_width=1, line_dash="dot", line_color="#888888")
    split = "median" if effort_split is None and value_split is None else "split"
    notes = [
        f"dotted lines: the {split} effort ({count(round(x_split, 1))} person-weeks) and "
        f"{value_label} ({_score_text(y_split)}) of the items drawn",
        f"bubble area: {reach_label}; hover for each item's reason",
    ]
    if len(missing):
        notes.append(
            f"not drawn, no effort or no {value_label}: {_names(list(missing['item_id']))}"
        )
    bottom = footnote(fig, notes, gap=70)
    return apply(
        fig,
        full,
        xaxis={"title": {"text": "effort, person-weeks"}, "rangemode": "tozero"},
        yaxis={"title": {"text": value_label}, "rangemode": "tozero"},
        legend={"title": {"text": "quadrant"}, "itemsizing": "constant"},
        height=520 + bottom // 2,
        margin={"b": bottom, "t": 80},
    )


# -- score breakdown ----------------------------------------------------------------------------

# framework -> (factor column, panel title, format) drawn before the score panel
FACTORS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "rice": (
        ("reach", "reach (users per quarter)", "count"),
        ("impact", "impact (0.25 to 3)", "number"),
        ("confidence", "confidence", "percent"),
        ("effort_weeks", "effort (person-weeks)", "number"),
    ),
    "ice": (
        ("ice_impact", "impact (1 to 10)", "number"),
        ("ice_confidence", "confidence (1 to 10)", "number"),
        ("ease", "ease (1 to 10)", "number"),
    ),
    "wsjf": (("job_size", "job size", "number"),),
}
FORMULA = {
    "rice": "RICE = reach x impact x confidence / effort",
    "ice": "ICE = impact x confidence x ease",
    "wsjf": "WSJF = cost of delay / job size",
}


def _factor_text(value: Any, kind: str) -> str:
    v = _num(value)
    if v is None:
        return MISSING
    if kind == "percent":
        return percent(v, 0)
    if kind == "count":
        return count(round(v))
    return f"{v:.3g}"


def score_breakdown_figure(
    table: pd.DataFrame,
    framework: str = "rice",
    *,
    top_n: int | None = None,
    title: str | None = None,
    limit: int = 20,
    p_framework: str = "rice",
) -> go.Figure:
    """One row per item (best score on top), one panel per factor of the framework's formula and a
    last panel with the score, its Monte Carlo interval as an error bar and the probability of
    being in the top N beside it (``p_framework``: the framework whose top N ``p_top_n`` counts;
    b.scores() counts RICE's). RICE: reach, impact, confidence, effort; ICE: ice_impact,
    ice_confidence, ease (1 to 10 each); WSJF: the cost of delay stacked from its parts
    (business value, time criticality, risk reduction), then job size.

    Columns: item_id, the framework's score and its ``<score>_low`` / ``<score>_high`` (e.g. rice,
    rice_low, rice_high), the factor columns above, optional title and p_top_n. An item with no
    score is named under the chart. With a ``rank`` column (an order) the rows follow the ranks
    and are labelled "#rank"; else the best score is on top. More than ``limit`` items: the first
    ``limit``."""
    framework = framework.lower()
    if framework not in FORMULA:
        raise ValueError(f"framework {framework!r}: one of {', '.join(FORMULA)}")
    name = framework.upper()
    full = title or f"{name} score breakdown: each factor, the score and its interval"
    if table.empty:
        return _empty(full, "no item scored")
    scores = pd.to_numeric(table[framework], errors="coerce")
    unscored = table[scores.isna()]
    rows = table[scores.notna()].assign(_score=scores[scores.notna()])
    if rows.empty:
        return _empty(full, f"no item has a {name} score ({_names(list(unscored.item_id))})")
    ranked = "rank" in rows and rows["rank"].notna().any()
    rows = _in_order(rows, ranked)
    cut = rows.iloc[limit:]
    rows = rows.head(limit).reset_index(drop=True)
    labels = [
        f"#{int(r['_rank'])} {_label(r)}" if ranked and not pd.isna(r["_rank"]) else _label(r)
        for _, r in rows.iterrows()
    ]
    factors = [f for f in FACTORS[framework] if f[0] in rows]
    parts = [p for p in COST_OF_DELAY if p[0] in rows] if framework == "wsjf" else []
    titles = (["cost of delay"] if parts else []) + [f[1] for f in factors] + [f"{name} score"]
    widths = [1.0] * (len(titles) - 1) + [1.6]
    fig = make_subplots(
        rows=1,
        cols=len(titles),
        shared_yaxes=True,
        subplot_titles=titles,
        column_widths=widths,
        horizontal_spacing=0.03,
    )
    col = _add_cost_of_delay(fig, rows, labels, parts)
    col = _add_factors(fig, rows, labels, factors, col)
    top_words = _top_words(top_n, p_framework, framework)
    has_interval = _add_score(fig, rows, labels, framework, top_words, col)
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1], automargin=True)
    notes = _breakdown_notes(framework, has_interval, top_words, top_n, unscored, len(cut))
    bottom = footnote(fig, notes, gap=90 if parts else 60)
    fig.update_annotations(font_size=LABEL_FONT)
    return apply(
        fig,
        full,
        barmode="stack",
        height=max(380, 200 + ROW_PX * len(labels)) + bottom // 2,
        showlegend=bool(parts),
        legend={
            "orientation": "h",
            "y": -0.08,
            "yanchor": "top",
            "x": 0,
            "traceorder": "normal",
            "title": {"text": "cost of delay:"},
        },
        margin={"b": bottom, "t": 100},
    )


def _in_order(rows: pd.DataFrame, ranked: bool) -> pd.DataFrame:
    """An order's rows by rank (overrides included); otherwise the best score first."""
    if ranked:  # an order (b.order().figure()): its ranks, overrides included
        rows = rows.assign(_rank=pd.to_numeric(rows["rank"], errors="coerce"))
        rows = rows.sort_values(["_rank", "item_id"], na_position="last", kind="stable")
    else:
        rows = rows.sort_values(["_score", "item_id"], ascending=[False, True], kind="stable")
    return rows


def _add_cost_of_delay(
    fig: go.Figure, rows: pd.DataFrame, labels: list[str], parts: list[tuple[str, str, str]]
) -> int:
    """WSJF's cost of delay stacked from its parts in the first panel; returns the next panel."""
    col = 1
    for column, label, colour in parts:
        values = [_num(v) for v in rows[column]]
        fig.add_trace(
            go.Bar(
                name=label,
                y=labels,
                x=[0.0 if v is None else v for v in values],
                orientation="h",
                marker_color=colour,
                text=[MISSING if v is None else f"{v:g}" for v in values],
                textposition="inside",
                textfont={"size": LABEL_FONT},
                hovertemplate="%{y}: " + label + " %{text}<extra></extra>",
                legendgroup="cod",
            ),
            row=1,
            col=col,
        )
    if parts:
        col += 1
    return col


def _add_factors(
    fig: go.Figure,
    rows: pd.DataFrame,
    labels: list[str],
    factors: list[tuple[str, str, str]],
    col: int,
) -> int:
    """A panel per factor of the formula, from panel ``col``; returns the next panel."""
    for column, label, kind in factors:
        values = [_num(v) for v in rows[column]]
        fig.add_trace(
            go.Bar(
                name=label,
                y=labels,
                x=[0.0 if v is None else v for v in values],
                orientation="h",
                marker_color="#a0cbe8",
                text=[_factor_text(v, kind) for v in values],
                textposition="outside",
                textfont={"size": LABEL_FONT},
                cliponaxis=False,
                hovertemplate="%{y}: " + label + " %{text}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=col,
        )
        if kind == "percent":
            fig.update_xaxes(range=[0, 1.35], tickformat=".0%", row=1, col=col)
        else:  # room for the value written beside the longest bar
            widest = max([v for v in values if v is not None] or [1.0]) or 1.0
            fig.update_xaxes(range=[0, widest * 1.35], row=1, col=col)
        col += 1
    return col


def _top_words(top_n: int | None, p_framework: str, framework: str) -> str:
    top_words = f"p(top {top_n})" if top_n else "p(top N)"
    if p_framework != framework:  # p_top_n is the chance of the top N of another framework
        top_words += f" by {p_framework.upper()}"
    return top_words


def _add_score(
    fig: go.Figure,
    rows: pd.DataFrame,
    labels: list[str],
    framework: str,
    top_words: str,
    col: int,
) -> bool:
    """The last panel: the score, its Monte Carlo interval as an error bar and p(top N) beside
    it. Returns whether the table has the interval."""
    name = framework.upper()
    score = rows["_score"].astype(float)
    has_interval = f"{framework}_low" in rows and f"{framework}_high" in rows
    nothing = pd.Series([float("nan")] * len(rows), index=rows.index)
    low = pd.to_numeric(rows[f"{framework}_low"], errors="coerce") if has_interval else nothing
    high = pd.to_numeric(rows[f"{framework}_high"], errors="coerce") if has_interval else nothing
    p_top = rows["p_top_n"] if "p_top_n" in rows else pd.Series([None] * len(rows))
    words = [
        f"{_score_text(s)} · {top_words} {percent(p, 0)}" if _num(p) is not None else _score_text(s)
        for s, p in zip(score, p_top, strict=True)
    ]
    interval_text = [
        f"{_score_text(lo)} to {_score_text(hi)}"
        if _num(lo) is not None and _num(hi) is not None
        else MISSING
        for lo, hi in zip(low, high, strict=True)
    ]
    error = None
    if has_interval:
        error = {
            "type": "data",
            "symmetric": False,
            "array": list((high - score).clip(lower=0).fillna(0)),
            "arrayminus": list((score - low).clip(lower=0).fillna(0)),
            "thickness": 1.5,
            "color": "#333333",
        }
    fig.add_trace(
        go.Scatter(
            name=f"{name} with its interval" if has_interval else name,
            showlegend=False,
            y=labels,
            x=list(score),
            mode="markers+text",
            marker={"color": "#4e79a7", "size": 11},
            error_x=error,
            text=words,
            textposition="top right",
            textfont={"size": LABEL_FONT},
            cliponaxis=False,
            customdata=list(zip(interval_text, [percent(p, 1) for p in p_top], strict=True)),
            hovertemplate="%{y}: "
            + name
            + " %{x:,.3g}<br>interval: %{customdata[0]}<br>"
            + top_words
            + ": %{customdata[1]}<extra></extra>",
        ),
        row=1,
        col=col,
    )
    top = max([v for v in high.tolist() + score.tolist() if _num(v) is not None] or [1.0])
    fig.update_xaxes(range=[0, top * 1.45], row=1, col=col)
    return has_interval


def _breakdown_notes(
    framework: str,
    has_interval: bool,
    top_words: str,
    top_n: int | None,
    unscored: pd.DataFrame,
    cut: int,
) -> list[str]:
    """The footnotes: the formula, the error bars, the items not drawn."""
    name = framework.upper()
    notes = [FORMULA[framework]]
    if has_interval:
        notes.append(
            f"error bars: the score's interval from the Monte Carlo draws; {top_words}: the share "
            f"of draws in which the item is among the top {top_n or 'N'}"
        )
    if len(unscored):
        why = [
            f"{i} ({st})" if isinstance(st, str) and st not in ("", "open", "in_progress") else i
            for i, st in zip(
                unscored["item_id"], unscored.get("status", [None] * len(unscored)), strict=True
            )
        ]
        notes.append(f"no {name} score, not drawn: {_names(why)}")
    if cut:
        notes.append(f"{cut} items with lower scores are not drawn")
    return notes


# -- rank changes -------------------------------------------------------------------------------


def _snapshot_labels(log: pd.DataFrame) -> tuple[str, dict[Any, str]]:
    """(the column snapshots are told apart by, snapshot -> its axis label "2026-11-09 #3")."""
    key = "snapshot_id" if "snapshot_id" in log else "published_at"
    labels = {}
    for snap, part in log.groupby(key, sort=True):
        when = part["published_at"].iloc[0] if "published_at" in part else None
        day = f"{pd.Timestamp(when):%Y-%m-%d}" if when is not None and not pd.isna(when) else ""
        labels[snap] = f"{day} #{snap}" if key == "snapshot_id" and day else (day or f"#{snap}")
    return key, labels


def rank_changes_figure(
    log: pd.DataFrame,
    *,
    title: str = "Rank changes",
    top: int = RANKED,
) -> go.Figure:
    """A bump chart of the decision log: one line per item across the published snapshots, rank 1
    on top; a position the product owner set by an override is a ringed diamond with its reason in
    the hover (it is also the rank published). The ``top`` items with the best rank in the newest
    snapshot are drawn in colour, the rest thin and grey.

    Columns: snapshot_id and/or published_at, item_id, rank; optional title, evidence_rank (the
    framework's own rank), override_reason (or override_id: an override applied), note (the
    publish note)."""
    full = f"{title}: the published order, snapshot by snapshot"
    if log.empty:
        return _empty(full, "nothing published yet (b.publish)")
    log = log[pd.to_numeric(log["rank"], errors="coerce").notna()].copy()
    if log.empty:
        return _empty(full, "no ranked item in the published snapshots")
    key, labels = _snapshot_labels(log)
    axis = [labels[s] for s in sorted(labels)]
    log["_x"] = log[key].map(labels)
    log["_rank"] = pd.to_numeric(log["rank"]).astype(int)
    overridden = pd.Series(False, index=log.index)
    if "override_reason" in log:
        overridden |= log["override_reason"].fillna("").astype(str).str.strip() != ""
    if "override_id" in log:
        overridden |= log["override_id"].notna()
    log["_override"] = overridden
    newest = log[log[key] == max(labels)]
    best = log.groupby("item_id")["_rank"].min()
    latest = newest.set_index("item_id")["_rank"]
    ordering = sorted(best.index, key=lambda i: (latest.get(i, 10**6), best[i], str(i)))
    top = max(1, min(int(top), len(PALETTE)))
    coloured, grey = ordering[:top], ordering[top:]
    colours = dict(zip(coloured, PALETTE, strict=False))
    fig = go.Figure()
    for item in coloured + grey:
        part = log[log["item_id"] == item].set_index("_x").reindex(axis)
        ranks = [None if pd.isna(v) else int(v) for v in part["_rank"]]
        first = part.dropna(subset=["_rank"]).iloc[0]
        hover = [
            _rank_hover(item, r) if not pd.isna(r["_rank"]) else "" for _, r in part.iterrows()
        ]
        fig.add_trace(
            go.Scatter(
                name=_label(pd.Series({"item_id": item, "title": first.get("title")}), 30),
                x=axis,
                y=ranks,
                mode="lines+markers",
                line={
                    "color": colours.get(item, OTHER_COLOUR),
                    "width": 3 if item in colours else 1,
                },
                marker={"size": 9 if item in colours else 5},
                connectgaps=False,
                showlegend=item in colours,
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    marked = log[log["_override"]]
    if len(marked):
        fig.add_trace(
            go.Scatter(
                name="overridden by the product owner",
                x=list(marked["_x"]),
                y=list(marked["_rank"]),
                mode="markers",
                marker={
                    "symbol": "diamond",
                    "size": 16,
                    "color": "rgba(0,0,0,0)",
                    "line": {"width": 2.5, "color": OVERRIDE_COLOUR},
                },
                customdata=[_rank_hover(r["item_id"], r) for _, r in marked.iterrows()],
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    notes = ["rank 1 on top; a gap: the item was not in that snapshot (new, shipped or dropped)"]
    if len(marked):
        notes.append(
            "◇ ringed: a place set by the product owner's override (reason in the hover), not by "
            "the evidence"
        )
    if grey:
        notes.append(f"grey: {len(grey)} items further down the newest order")
    bottom = footnote(fig, notes, gap=70)
    worst = int(log["_rank"].max())
    return apply(
        fig,
        full,
        xaxis={"title": {"text": "published snapshot"}, "type": "category"},
        yaxis={
            "title": {"text": "rank"},
            "range": [worst + 0.5, 0.5],
            "dtick": 1 if worst <= 20 else 5,
        },
        legend={"title": {"text": "item"}},
        height=max(420, 200 + 26 * worst) + bottom // 2,
        margin={"b": bottom, "t": 80},
    )


def _rank_hover(item: Any, row: pd.Series) -> str:
    out = f"<b>{_text(item)}</b> {_text(row.get('title'), 60)}<br>rank {int(row['_rank'])}"
    evidence = _num(row.get("evidence_rank"))
    if evidence is not None and int(evidence) != int(row["_rank"]):
        out += f" (the evidence ranks it {int(evidence)})"
    reason = _text(row.get("override_reason"), 160)
    if reason:
        out += f"<br>override: {reason}"
    elif bool(row.get("_override")):
        out += "<br>override applied"
    note = _text(row.get("note"), 120)
    if note:
        out += f"<br>publish note: {note}"
    return out


# -- impact map ---------------------------------------------------------------------------------

NO_OBJECTIVE = "not linked to any objective"
DIRECT = "linked directly"


def _tree(table: pd.DataFrame) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Nodes (id, parent, level, label, kind, status, hover) and children per node, in the
    table's order: vision -> objective -> impact (actor: behaviour) -> item."""
    nodes: dict[str, dict[str, Any]] = {}
    children: dict[str, list[str]] = {"v": []}

    def add(node_id: str, parent: str, **attrs: Any) -> None:
        if node_id in nodes:
            return
        nodes[node_id] = {"id": node_id, "parent": parent, **attrs}
        children.setdefault(parent, []).append(node_id)
        children.setdefault(node_id, [])

    for _, r in table.iterrows():
        objective = _text(r.get("objective"))
        actor = _text(r.get("actor"))
        impact = _text(r.get("impact"))
        item = _text(r.get("item_id"))
        o_id = f"o:{objective}" if objective else "o:"
        add(
            o_id,
            "v",
            level=1,
            kind="objective" if objective else "none",
            label=objective or NO_OBJECTIVE,
            hover=(
                f"objective <b>{objective}</b>"
                + (f"<br>{_text(r.get('objective_description'), 120)}" if objective else "")
                if objective
                else "items that serve no objective of conf/product.toml"
            ),
        )
        parent = o_id
        if objective and (actor or impact):
            parent = f"i:{objective}|{actor}|{impact}"
            add(
                parent,
                o_id,
                level=2,
                kind="impact",
                label=_text(f"{actor}: {impact}" if actor and impact else actor or impact, 40),
                hover=f"actor: {actor or MISSING}<br>impact: {impact or MISSING}",
            )
        elif objective and item:
            parent = f"i:{objective}||"
            add(
                parent,
                o_id,
                level=2,
                kind="impact",
                label=DIRECT,
                hover="items that name the objective themselves (no impact lists them)",
            )
        if item:
            status = str(r.get("status") or "open") if not pd.isna(r.get("status")) else "open"
            add(
                f"t:{parent}|{item}",
                parent,
                level=3,
                kind="item",
                status=status,
                label=_label(pd.Series({"item_id": r.get("item_id"), "title": r.get("title")})),
                hover=f"<b>{item}</b> {_text(r.get('title'), 80)}<br>status: {_text(status)}",
            )
    return list(nodes.values()), children


def impact_map_figure(
    table: pd.DataFrame,
    *,
    vision: str = "",
    title: str = "Impact map",
) -> go.Figure:
    """The impact map as a tree, left to right: the vision, its objectives, the impacts (an actor's
    behaviour change) that serve each objective, and the backlog items meant to cause them,
    coloured by status. Items that name an objective themselves hang under "linked directly";
    items with no objective under "not linked to any objective" (grey).

    Columns (one row per objective x impact x item; the backlog package builds it): objective,
    actor, impact, item_id, title, status; optional objective_description. A row with no item is
    an objective or impact without items yet; a row with no objective is an unlinked item."""
    full = f"{title}: vision, objectives, impacts and the items meant to cause them"
    if table.empty:
        return _empty(full, "no objective and no item")
    nodes, children = _tree(table)
    # y: leaves in order, a parent at the middle of its children; x: the level
    y: dict[str, float] = {}
    leaves = 0

    def place(node_id: str) -> float:
        nonlocal leaves
        kids = children.get(node_id, [])
        if not kids:
            y[node_id] = float(leaves)
            leaves += 1
        else:
            spots = [place(k) for k in kids]
            y[node_id] = (min(spots) + max(spots)) / 2
        return y[node_id]

    place("v")
    vision_text = _text(vision, 110) or "no vision written (conf/product.toml: vision)"
    by_id = {n["id"]: n for n in nodes}
    xs, ys = [], []
    for node in nodes:
        parent = node["parent"]
        px = 0 if parent == "v" else by_id[parent]["level"]
        xs += [px, node["level"], None]
        ys += [y[parent], y[node["id"]], None]
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line={"color": "#bbbbbb", "width": 1.5},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            name="vision",
            x=[0],
            y=[y["v"]],
            mode="markers+text",
            marker={"size": 16, "color": "#333333", "symbol": "square"},
            text=["vision"],
            textposition="top center",
            textfont={"size": LABEL_FONT},
            hovertemplate=(_text(vision) or "vision") + "<extra></extra>",
            showlegend=False,
        )
    )
    levels = (
        ("objective", "objective", "#76b7b2", "diamond"),
        ("none", NO_OBJECTIVE, OTHER_COLOUR, "diamond-open"),
        ("impact", "impact (actor: behaviour)", "#b07aa1", "circle"),
    )
    for kind, name, colour, symbol in levels:
        part = [n for n in nodes if n["kind"] == kind]
        if part:
            fig.add_trace(
                go.Scatter(
                    name=name,
                    x=[n["level"] for n in part],
                    y=[y[n["id"]] for n in part],
                    mode="markers+text",
                    marker={"size": 13, "color": colour, "symbol": symbol},
                    text=[n["label"] for n in part],
                    # objectives below their mark, impacts above: neighbours' labels never meet
                    textposition="top center" if kind == "impact" else "bottom center",
                    textfont={"size": LABEL_FONT},
                    customdata=[n["hover"] for n in part],
                    hovertemplate="%{customdata}<extra></extra>",
                )
            )
    items = [n for n in nodes if n["kind"] == "item"]
    statuses = [s for s in STATUS_COLOURS if any(n["status"] == s for n in items)]
    statuses += sorted({n["status"] for n in items} - set(statuses))
    for status in statuses:
        part = [n for n in items if n["status"] == status]
        fig.add_trace(
            go.Scatter(
                name=f"item: {status}",
                x=[n["level"] for n in part],
                y=[y[n["id"]] for n in part],
                mode="markers+text",
                marker={"size": 12, "color": STATUS_COLOURS.get(status, OTHER_COLOUR)},
                text=[n["label"] for n in part],
                textposition="middle right",
                textfont={"size": LABEL_FONT},
                customdata=[n["hover"] for n in part],
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    notes = ["an item serving several impacts or objectives appears under each"]
    bottom = footnote(fig, notes, gap=40)
    return apply(
        fig,
        f"{full}<br><sup>vision: {vision_text}</sup>",
        xaxis={
            "range": [-0.2, 4.6],
            "tickvals": [0, 1, 2, 3],
            "ticktext": ["vision", "objectives", "impacts", "items"],
            "side": "top",
            "showgrid": False,
            "zeroline": False,
        },
        yaxis={"visible": False, "range": [leaves - 0.4, -0.8]},
        height=max(400, 160 + 30 * leaves) + bottom // 2,
        margin={"b": bottom, "t": 120},
    )


# -- objectives ---------------------------------------------------------------------------------


def objective_value(value: Any, metric: str, unit: Any = None) -> str:
    """An objective's number as a reader reads it: a share as a percent, a time to convert as a
    duration (in hours, as backlog.objectives measures it; ``unit`` "seconds" is read too), a
    theme's volume as items per week."""
    v = _num(value)
    if v is None:
        return MISSING
    if metric in RATES:
        return percent(v)
    if metric == "time_to_convert":
        return duration(v if unit == "seconds" else v * 3600)
    if metric == "theme_volume":
        return f"{v:,.1f} a week"
    return f"{v:,.3g}"


def _progress(value: Any, baseline: float, target: float) -> float | None:
    v = _num(value)
    if v is None or target == baseline:
        return None
    return (v - baseline) / (target - baseline)


def objectives_figure(table: pd.DataFrame, *, title: str = "Objectives") -> go.Figure:
    """A bullet chart per objective on one scale that is direction aware by construction: 0 is
    the baseline, 100% the target, whether the target is higher (conversion up) or lower (churn
    down). The bar is the current value (green on the way to the target, red behind the
    baseline), the error bar its 95% interval, the tick at 100% the target; the numbers
    themselves are written beside each bar.

    Columns: objective, metric, baseline, current, target, ci_low, ci_high; optional direction
    ("up" | "down": said in the label), n, unit, flag, detail. ``time_to_convert`` is in hours
    (unless ``unit`` says "seconds"). An objective
    not measured (no current value) or whose target equals its baseline is named, not drawn."""
    full = f"{title}: where each one stands, from its baseline (0) to its target (100%)"
    if table.empty:
        return _empty(full, "no objective in conf/product.toml")
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for _, r in table.iterrows():
        base, target = _num(r.get("baseline")), _num(r.get("target"))
        metric = str(r.get("metric") or "")
        unit = r.get("unit")
        if base is None or target is None or base == target:
            skipped.append(f"{_text(r['objective'])} (target equals baseline)")
            continue
        now = _progress(r.get("current"), base, target)
        lo = _progress(r.get("ci_low"), base, target)
        hi = _progress(r.get("ci_high"), base, target)
        if lo is not None and hi is not None and lo > hi:  # a target below the baseline
            lo, hi = hi, lo
        direction = str(r.get("direction") or ("up" if target > base else "down"))
        arrow = "higher is better" if direction == "up" else "lower is better"
        words = (
            f"{objective_value(r.get('current'), metric, unit)} now · target "
            f"{objective_value(target, metric, unit)} · baseline {objective_value(base, metric, unit)}"
        )
        if now is None:
            words = f"not measured · target {objective_value(target, metric, unit)}"
        rows.append(
            {
                "label": f"{_text(r['objective'], 30)}<br><sup>{_text(metric)}, {arrow}</sup>",
                "now": now,
                "lo": lo,
                "hi": hi,
                "words": words,
                "hover": f"<b>{_text(r['objective'])}</b>: {_text(metric)} ({arrow})<br>{words}"
                + (
                    f"<br>95% interval {objective_value(r.get('ci_low'), metric, unit)} to "
                    f"{objective_value(r.get('ci_high'), metric, unit)}"
                    if lo is not None
                    else ""
                )
                + (f"<br>n = {count(r.get('n'))}" if _num(r.get("n")) is not None else "")
                + (f"<br>flag: {_text(r.get('flag'))}" if _text(r.get("flag")) else "")
                + (f"<br>{_text(r.get('detail'), 160)}" if _text(r.get("detail")) else ""),
            }
        )
    if not rows:
        return _empty(full, "no objective can be placed: " + "; ".join(skipped))
    labels = [r["label"] for r in rows]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            name="the way from baseline to target",
            y=labels,
            x=[1.0] * len(rows),
            orientation="h",
            marker_color=TRACK,
            width=0.7,
            hoverinfo="skip",
        )
    )
    drawn = [r for r in rows if r["now"] is not None]
    values = [v for r in drawn for v in (r["now"], r["lo"], r["hi"]) if v is not None]
    left, right = min([0.0, *values]) - 0.1, max([1.0, *values]) + 0.05
    fig.add_trace(
        go.Bar(
            name="now (green: towards the target; red: behind the baseline)",
            y=[r["label"] for r in drawn],
            x=[r["now"] for r in drawn],
            orientation="h",
            marker_color=[BETTER if r["now"] >= 0 else WORSE for r in drawn],
            width=0.3,
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [
                    max(0.0, r["hi"] - r["now"]) if r["hi"] is not None else 0 for r in drawn
                ],
                "arrayminus": [
                    max(0.0, r["now"] - r["lo"]) if r["lo"] is not None else 0 for r in drawn
                ],
                "thickness": 1.5,
                "color": "#333333",
            },
            customdata=[r["hover"] for r in drawn],
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            name="target",
            y=labels,
            x=[1.0] * len(rows),
            mode="markers",
            marker={"symbol": "line-ns", "size": 26, "line": {"width": 3, "color": "#333333"}},
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            name="current, target and baseline",
            y=labels,
            x=[right] * len(rows),  # right of the target and of every bar
            mode="text",
            text=[r["words"] for r in rows],
            textposition="middle right",
            textfont={"size": LABEL_FONT},
            showlegend=False,
            customdata=[r["hover"] for r in rows],
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    fig.add_vline(x=0, line_width=1, line_color="#888888")
    notes = ["0 = the baseline, 100% = the target, whichever way the target lies"]
    if skipped:
        notes.append("not drawn: " + "; ".join(skipped))
    bottom = footnote(fig, notes, gap=120)
    return apply(
        fig,
        full,
        barmode="overlay",
        xaxis={
            "title": {"text": "progress from baseline to target"},
            "range": [left, right + 1.6],
            "tickformat": ".0%",
            "tickvals": [t / 4 for t in range(math.floor(left * 4), math.floor(right * 4) + 1)],
        },
        yaxis={"categoryorder": "array", "categoryarray": labels[::-1]},
        height=max(340, 200 + 70 * len(rows)) + bottom // 2,
        legend={"orientation": "h", "y": -0.18, "yanchor": "top", "x": 0},
        margin={"b": bottom, "t": 80, "r": 40},
    )


# -- the results' figures: order, evidence, before/after, refinement checks ----------------------

FITS_COLOURS = {True: "#4e79a7", False: "#bab0ac", None: "#4e79a7"}


def _bool(value: Any) -> bool | None:
    if value is None or (not isinstance(value, bool | str) and pd.isna(value)):
        return None
    return bool(value)


def order_figure(
    table: pd.DataFrame,
    *,
    top_n: int | None = None,
    title: str = "The backlog in evidence order",
    limit: int = 30,
    framework: str = "rice",
) -> go.Figure:
    """The ordered backlog as bars, rank 1 on top: each item's score with its interval, its
    probability of being in the top N written beside it, blue while it fits the capacity and grey
    beyond it; an item the product owner placed by an override is ringed and named with its
    reason in the hover. Columns (b.order().table, a published snapshot's items): rank, item_id,
    score, score_low, score_high; optional title, p_top_n, fits, reason, evidence_rank,
    override_rank, override_reason.

    Also draws the other tables a backlog result holds: a trade-off (rank_before, rank_after:
    where each affected item goes) and the overrides (rank, reason: the positions asked for)."""
    if "rank_before" in table and "rank_after" in table:
        return _tradeoff_figure(table, title="Trade-off of the move")
    if "score" not in table:
        return _positions_figure(table)
    full = f"{title}: score with its interval, blue while it fits the capacity"
    if table.empty:
        return _empty(full, "no open item to order")
    rows = table.copy()
    rows["_rank"] = pd.to_numeric(rows["rank"], errors="coerce")
    rows = rows.sort_values(["_rank", "item_id"], na_position="last", kind="stable")
    cut = rows.iloc[limit:]
    rows = rows.head(limit).reset_index(drop=True)
    labels = [
        f"#{int(r['_rank'])} {_label(r, 40)}" if not pd.isna(r["_rank"]) else _label(r, 40)
        for _, r in rows.iterrows()
    ]
    score = pd.to_numeric(rows["score"], errors="coerce")
    low = pd.to_numeric(rows.get("score_low", pd.Series(index=rows.index, dtype=float)))
    high = pd.to_numeric(rows.get("score_high", pd.Series(index=rows.index, dtype=float)))
    fits = [_bool(v) for v in rows.get("fits", pd.Series([None] * len(rows)))]
    overridden = [
        _text(r.get("override_reason")) != "" or _num(r.get("override_rank")) is not None
        for _, r in rows.iterrows()
    ]
    p_top = list(rows.get("p_top_n", pd.Series([None] * len(rows))))
    top_words = f"p(top {top_n})" if top_n else "p(top N)"
    if framework != "rice":  # b.scores() counts the chance of RICE's top N
        top_words += " by RICE"
    hover = [
        _order_hover(r, score[i], low[i], high[i], p_top[i], fits[i], overridden[i], top_words)
        for i, r in rows.iterrows()
    ]
    fig = go.Figure(
        go.Bar(
            name="score",
            y=labels,
            x=[0.0 if v is None else v for v in (_num(v) for v in score)],
            orientation="h",
            marker={
                "color": [FITS_COLOURS[f] for f in fits],
                "line": {
                    "width": [3 if o else 0 for o in overridden],
                    "color": OVERRIDE_COLOUR,
                },
            },
            error_x={
                "type": "data",
                "symmetric": False,
                "array": list((high - score).clip(lower=0).fillna(0)),
                "arrayminus": list((score - low).clip(lower=0).fillna(0)),
                "thickness": 1.5,
                "color": "#333333",
            },
            text=[f"{top_words} {percent(p, 0)}" if _num(p) is not None else "" for p in p_top],
            textposition="outside",
            textfont={"size": LABEL_FONT},
            cliponaxis=False,
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    notes = _order_notes(fits, overridden, list(rows[score.isna()]["item_id"]), len(cut))
    bottom = footnote(fig, notes, gap=60)
    top = max([v for v in (high.tolist() + score.tolist()) if _num(v) is not None] or [1.0])
    return apply(
        fig,
        full,
        xaxis={"title": {"text": "score"}, "range": [0, top * 1.3 or 1.0]},
        yaxis={"categoryorder": "array", "categoryarray": labels[::-1]},
        height=max(360, 180 + ROW_PX * len(labels)) + bottom // 2,
        showlegend=False,
        margin={"b": bottom, "t": 80},
    )


def _order_hover(
    r: Any,
    score: Any,
    low: Any,
    high: Any,
    p_top: Any,
    fits: bool | None,
    overridden: bool,
    top_words: str,
) -> str:
    """The hover text of an item of the order: score and interval, p(top N), whether it fits
    this cycle, the reason, and the override with its reason."""
    text = f"<b>{_label(r, 80)}</b><br>score {_score_text(score)}"
    if _num(low) is not None and _num(high) is not None:
        text += f" ({_score_text(low)} to {_score_text(high)})"
    if _num(p_top) is not None:
        text += f"<br>{top_words}: {percent(p_top, 0)}"
    if fits is not None:
        text += "<br>fits this cycle" if fits else "<br>beyond the capacity"
    if _text(r.get("reason")):
        text += f"<br>{_text(r.get('reason'), 200)}"
    if overridden:
        evidence = _num(r.get("evidence_rank"))
        text += "<br>override" + (
            f" (the evidence ranks it {int(evidence)})" if evidence is not None else ""
        )
        if _text(r.get("override_reason")):
            text += f": {_text(r.get('override_reason'), 160)}"
    return text


def _order_notes(
    fits: list[bool | None], overridden: list[bool], unscored: list[Any], cut: int
) -> list[str]:
    """The footnotes of the order: error bars, grey bars, rings, items without a score or not
    drawn."""
    notes = ["error bars: the score's interval from the Monte Carlo draws"]
    if any(f is False for f in fits):
        notes.append("grey: beyond this cycle's capacity (effort summed in rank order)")
    if any(overridden):
        notes.append("ringed: placed by the product owner's override (reason in the hover)")
    if len(unscored):
        notes.append(f"no score (bar at 0): {_names(unscored)}")
    if cut:
        notes.append(f"{cut} further items are in the table, not drawn")
    return notes


def _tradeoff_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """Each affected item from its rank before the move to its rank after, red when it falls out
    of the capacity, green when it comes in."""
    full = f"{title}: ranks before and after, and what slips out of capacity"
    if table.empty:
        return _empty(full, "nothing changes")
    rows = table.reset_index(drop=True)
    labels = [_label(r, 40) for _, r in rows.iterrows()]
    fig = go.Figure()
    for i, r in rows.iterrows():
        before, after = _bool(r.get("fits_before")), _bool(r.get("fits_after"))
        colour = (
            WORSE if before and after is False else BETTER if after and not before else "#4e79a7"
        )
        losing = _text(r.get("objectives_losing"))
        fig.add_trace(
            go.Scatter(
                x=[_num(r.get("rank_before")), _num(r.get("rank_after"))],
                y=[labels[i], labels[i]],
                mode="lines+markers",
                line={"color": colour, "width": 2},
                marker={"size": [8, 12], "symbol": ["circle-open", "circle"], "color": colour},
                showlegend=False,
                hovertemplate=f"{labels[i]}: rank %{{x}}"
                + (f"<br>objectives losing: {losing}" if losing else "")
                + "<extra></extra>",
            )
        )
    bottom = footnote(
        fig,
        [
            "open circle: rank before the move; filled: after",
            "red: slips out of the capacity; green: comes in",
        ],
        gap=60,
    )
    return apply(
        fig,
        full,
        xaxis={"title": {"text": "rank"}, "autorange": "reversed", "dtick": 1},
        yaxis={"categoryorder": "array", "categoryarray": labels[::-1]},
        height=max(320, 180 + ROW_PX * len(labels)) + bottom // 2,
        margin={"b": bottom},
    )


def _positions_figure(table: pd.DataFrame) -> go.Figure:
    """Overrides (or any item_id/rank table without scores): the rank asked for, reason in the
    hover."""
    full = "Overrides: the positions the product owner set, with their reasons"
    if table.empty or "rank" not in table:
        return _empty(full, "no override recorded")
    rows = table.reset_index(drop=True)
    active = [_bool(v) is not False for v in rows.get("active", pd.Series([True] * len(rows)))]
    fig = go.Figure(
        go.Scatter(
            x=[_num(v) for v in rows["rank"]],
            y=[_text(i) for i in rows["item_id"]],
            mode="markers+text",
            marker={
                "symbol": "diamond",
                "size": 14,
                "color": [OVERRIDE_COLOUR if a else OTHER_COLOUR for a in active],
            },
            text=[_text(r.get("reason"), 50) for _, r in rows.iterrows()],
            textposition="middle right",
            textfont={"size": LABEL_FONT},
            cliponaxis=False,
            customdata=[
                f"{_text(r['item_id'])} at rank {count(r['rank'])}"
                + ("" if a else " (withdrawn)")
                + f"<br>{_text(r.get('reason'), 200)}"
                for (_, r), a in zip(rows.iterrows(), active, strict=True)
            ],
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    return apply(
        fig,
        full,
        xaxis={"title": {"text": "rank asked for"}, "dtick": 1, "rangemode": "tozero"},
        yaxis={"title": {"text": "item"}},
        height=max(300, 160 + ROW_PX * len(rows)),
        showlegend=False,
    )


# evidence kinds drawn as dots with intervals (a quote has no number)
EVIDENCE_KINDS = (
    ("reach", "reach, users a week"),
    ("dropoff", "drop-off at the step"),
    ("dropoff_change", "drop-off change vs the previous window"),
    ("churn_lift", "churn lift (times as often)"),
    ("dropoff_lift", "drop-off lift of a theme at a step (times as often)"),
    ("tickets", "tickets in the window"),
    ("unique_problems", "unique problems"),
    ("interview_mentions", "interview mentions"),
)
SHARES = ("dropoff", "dropoff_change")
LIFTS = ("churn_lift", "dropoff_lift")


def evidence_figure(table: pd.DataFrame, *, title: str = "Evidence") -> go.Figure:
    """An item's evidence ledger: one panel per kind of evidence (reach, drop-off, its change,
    churn lift, drop-off lift, tickets, unique problems, interview mentions), one dot per link with
    its interval,
    green when the piece supports the item and grey when not; the detail sentence and the data's
    date in the hover. Quotes are counted under the chart (the table holds them). Columns: kind,
    link, value, low, high, supports, detail; optional item_id (several items: "item · link")."""
    full = f"{title}: each piece with its interval, green when it argues for the item"
    if table.empty:
        return _empty(full, "no measurable link (no step, event, segment or theme it affects)")
    quotes = table[table["kind"] == "quote"]
    rows = table[table["kind"] != "quote"].copy()
    rows["_value"] = pd.to_numeric(rows["value"], errors="coerce")
    kinds = [(k, t) for k, t in EVIDENCE_KINDS if k in set(rows["kind"])]
    kinds += [(k, str(k)) for k in sorted(set(rows["kind"]) - {k for k, _ in kinds})]
    if not kinds:
        return _empty(full, f"only quotes ({len(quotes)}), no number to draw")
    several = "item_id" in rows and rows["item_id"].nunique() > 1
    sizes = [max(1, int((rows["kind"] == k).sum())) for k, _ in kinds]
    fig = make_subplots(
        rows=len(kinds),
        cols=1,
        subplot_titles=[t for _, t in kinds],
        row_heights=sizes,
        vertical_spacing=min(0.2, 0.6 / len(kinds)),
    )
    for n, (kind, _) in enumerate(kinds, 1):
        part = rows[rows["kind"] == kind]
        labels = [
            (f"{_text(r['item_id'])} · " if several else "") + _text(r.get("link"), 36)
            for _, r in part.iterrows()
        ]
        value = part["_value"]
        low = pd.to_numeric(part.get("low"), errors="coerce")
        high = pd.to_numeric(part.get("high"), errors="coerce")
        supports = [_bool(v) for v in part.get("supports", pd.Series([None] * len(part)))]
        share = kind in SHARES
        fig.add_trace(
            go.Scatter(
                name=kind,
                x=list(value),
                y=labels,
                mode="markers+text",
                marker={
                    "size": 11,
                    "color": [BETTER if s else OTHER_COLOUR for s in supports],
                },
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": list((high - value).clip(lower=0).fillna(0)),
                    "arrayminus": list((value - low).clip(lower=0).fillna(0)),
                    "thickness": 1.5,
                    "color": "#555555",
                },
                text=[_evidence_text(v, kind) for v in value],
                textposition="top center",
                textfont={"size": LABEL_FONT},
                cliponaxis=False,
                customdata=[
                    f"{_text(r.get('detail'), 200) or _text(r.get('link'))}"
                    + (f"<br>n = {count(r.get('n'))}" if _num(r.get("n")) is not None else "")
                    + (
                        f"<br>data up to {pd.Timestamp(r.get('as_of')):%Y-%m-%d %H:%M}"
                        if r.get("as_of") is not None and not pd.isna(r.get("as_of"))
                        else ""
                    )
                    for _, r in part.iterrows()
                ],
                hovertemplate="%{customdata}<extra></extra>",
                showlegend=False,
            ),
            row=n,
            col=1,
        )
        values = pd.to_numeric(pd.concat([value, low, high]), errors="coerce")
        fig.update_xaxes(range=_padded(values), tickformat=".1%" if share else None, row=n, col=1)
        if kind in LIFTS:
            fig.add_vline(x=1, line_width=1, line_color="#888888", row=n, col=1)
    notes = ["green: argues for the item; grey: does not (hover: the sentence and its n)"]
    if len(quotes):
        notes.append(f"{len(quotes)} quotes are in the table (kind quote), not drawn")
    bottom = footnote(fig, notes, gap=50)
    fig.update_annotations(font_size=LABEL_FONT)
    return apply(
        fig,
        full,
        height=max(360, 160 + 110 * len(kinds) + 30 * sum(sizes)) + bottom // 2,
        margin={"b": bottom, "t": 90},
    )


def _padded(values: pd.Series) -> list[float] | None:
    """An axis range around ``values`` with room for the words written at the ends."""
    found = values.dropna()
    if found.empty:
        return None
    lo, hi = float(found.min()), float(found.max())
    span = (hi - lo) or abs(hi) or 1.0
    return [lo - 0.15 * span, hi + 0.3 * span]


def _evidence_text(value: Any, kind: str) -> str:
    v = _num(value)
    if v is None:
        return MISSING
    if kind == "dropoff":
        return percent(v)
    if kind == "dropoff_change":
        return signed_points(v)
    if kind in LIFTS:
        return f"{v:.2g}x"
    return count(round(v, 1))


INTENDED = {"tickets": "down", "conversion": "up"}  # the direction a shipped item means
SIGNIFICANT = "#4e79a7"
IMPACT_METRICS = (
    ("adoption", "adoption: share of active users who did the event"),
    ("conversion", "conversion at the step"),
    ("tickets", "tickets of the theme per week"),
)


def impact_figure(table: pd.DataFrame, item_id: str = "", *, title: str | None = None) -> go.Figure:
    """A shipped item's before/after: one panel per metric (adoption of its events, conversion at
    its steps, tickets of its themes per week), each link a line from its value before the ship
    date (open circle) to after it (filled); a significant change is green when it went the way
    an item means it (conversion up, tickets down), red when the other way, blue for adoption
    (an error event should fall, a feature's event rise: the chart does not guess), grey when not
    significant;
    the change with its 95% interval written beside it. Columns: metric, link, before, after,
    change, ci_low, ci_high, significant; optional change_kind ("difference" | "ratio"), flag,
    n_before, n_after, before_from, after_to."""
    full = title or (
        f"{_text(item_id) + ': ' if item_id else ''}before and after shipping, with the change's "
        "95% interval"
    )
    if table.empty:
        return _empty(full, "no linked metric to compare")
    kinds = [(m, t) for m, t in IMPACT_METRICS if m in set(table["metric"])]
    kinds += [(m, str(m)) for m in sorted(set(table["metric"]) - {m for m, _ in kinds})]
    fig = make_subplots(
        rows=len(kinds),
        cols=1,
        subplot_titles=[t for _, t in kinds],
        row_heights=[max(1, int((table["metric"] == m).sum())) for m, _ in kinds],
        vertical_spacing=min(0.15, 0.5 / len(kinds)),
    )
    for n, (metric, _) in enumerate(kinds, 1):
        part = table[table["metric"] == metric]
        rate = metric in ("adoption", "conversion")
        for _, r in part.iterrows():
            before, after = _num(r.get("before")), _num(r.get("after"))
            significant = bool(_bool(r.get("significant")))
            change = _num(r.get("change"))
            if not significant:
                colour = OTHER_COLOUR
            elif metric in INTENDED:  # fewer tickets, more conversion: the way an item means it
                good = change is not None and (
                    change < 1 if INTENDED[metric] == "down" else change > 0
                )
                colour = BETTER if good else WORSE
            else:  # adoption: an error event should fall, a feature's event rise; not judged here
                colour = SIGNIFICANT
            ratio = str(r.get("change_kind") or ("ratio" if metric == "tickets" else "")) == "ratio"
            said = _impact_change(change, r.get("ci_low"), r.get("ci_high"), ratio)
            flag = _text(r.get("flag"))
            label = _text(r.get("link"), 36)
            shown = [percent(v) if rate else _score_text(v) for v in (before, after)]
            fig.add_trace(
                go.Scatter(
                    x=[before, after],
                    y=[label, label],
                    mode="lines+markers+text",
                    line={"color": colour, "width": 2},
                    marker={
                        "size": 12,
                        "symbol": ["circle-open", "circle"],
                        "color": colour,
                        "line": {"width": 2, "color": colour},
                    },
                    text=["", said + (" (significant)" if significant else "")],
                    textposition="top center",
                    textfont={"size": LABEL_FONT},
                    cliponaxis=False,
                    showlegend=False,
                    hovertemplate=f"{label}: before {shown[0]}, after {shown[1]}<br>{said}"
                    + (f"<br>flag: {flag}" if flag else "")
                    + "<extra></extra>",
                ),
                row=n,
                col=1,
            )
        values = pd.to_numeric(pd.concat([part["before"], part["after"]]), errors="coerce")
        fig.update_xaxes(range=_padded(values), tickformat=".1%" if rate else None, row=n, col=1)
    notes = [
        "open circle: before the ship date; filled: after (the same length of time)",
        "green / red: a significant change the way an item means it (conversion up, tickets "
        "down) / the other way;",
        "blue: a significant change of adoption (which way is good depends on the event); grey: "
        "not significant (the interval holds no change)",
    ]
    flagged = table[table.get("flag", pd.Series([""] * len(table))).fillna("").astype(str) != ""]
    if len(flagged):
        notes.append(
            "flagged: "
            + "; ".join(
                f"{_text(r['link'])}: {_text(r['flag'])}" for _, r in flagged.head(4).iterrows()
            )
        )
    bottom = footnote(fig, notes, gap=50)
    fig.update_annotations(font_size=LABEL_FONT)
    return apply(
        fig,
        full,
        height=max(340, 160 + 60 * len(table) + 60 * len(kinds)) + bottom // 2,
        margin={"b": bottom, "t": 90},
    )


def _impact_change(change: float | None, low: Any, high: Any, ratio: bool) -> str:
    if change is None:
        return f"change {MISSING}"
    lo, hi = _num(low), _num(high)
    if ratio:
        text = f"x{change:.2g}"
        interval = f" (95% CI x{lo:.2g} to x{hi:.2g})" if lo is not None and hi is not None else ""
    else:
        text = f"{100 * change:+.1f} pts"
        interval = (
            f" (95% CI {100 * lo:+.1f} to {100 * hi:+.1f})"
            if lo is not None and hi is not None
            else ""
        )
    return text + interval


def checks_figure(table: pd.DataFrame, *, title: str = "Refinement checks") -> go.Figure:
    """Which items are not ready and why: one row per item with a problem, one mark per check that
    fails (no effort, no evidence link, larger than capacity, an unknown link), the detail in the
    hover. Columns: item_id, check, detail; optional ready (rows of ready items are left out)."""
    full = f"{title}: what keeps items from being ready"
    problems = table
    if "ready" in table:
        problems = table[~table["ready"].fillna(False).astype(bool)]
    if problems.empty:
        return _empty(full, "every item is ready")
    checks = sorted(problems["check"].astype(str).unique())
    items = sorted(problems["item_id"].astype(str).unique())
    fig = go.Figure(
        go.Scatter(
            x=[str(c) for c in problems["check"]],
            y=[_text(i) for i in problems["item_id"]],
            mode="markers",
            marker={"symbol": "x", "size": 14, "color": WORSE},
            customdata=[
                f"<b>{_text(r['item_id'])}</b>: {_text(r['check'])}<br>{_text(r.get('detail'), 200)}"
                for _, r in problems.iterrows()
            ],
            hovertemplate="%{customdata}<extra></extra>",
            showlegend=False,
        )
    )
    return apply(
        fig,
        f"{full} ({len(items)} items)",
        xaxis={"title": {"text": "check"}, "categoryorder": "array", "categoryarray": checks},
        yaxis={"title": {"text": "item"}, "categoryorder": "array", "categoryarray": items[::-1]},
        height=max(300, 160 + ROW_PX * len(items)),
    )
