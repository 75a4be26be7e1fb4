"""Voice of the customer charts: themes, discovered themes, weekly trends with spikes, lift against
an outcome, and sentiment per theme (docs/voice.md).

Every function takes a DataFrame (a result's ``.table``) and plain arguments, never a result object,
so the voice package calls them from its results' ``figure()`` and the report calls them directly.
Every chart that shows sentiment names its method (``method=``, the voice package's
``sentiment.METHOD``) in its title. Many themes: the largest ``top`` are drawn and the rest are
summed into "other" (volumes) or left to the table (lift, sentiment), and the chart says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from ..format import MISSING, count, p_value, percent
from .style import LABEL_FONT, OTHER, OTHER_COLOUR, TOP, apply, colours, footnote, top_values

THEMES_TOP = 15  # themes drawn as bars before the rest go to "other" (bars need no own colour)
LABEL_CHARS = 40  # a longer theme or discovered label is cut with "…" on the axis (hover: whole)
ROW_PX = 34  # height per bar row: every label readable
COLOURS = {
    "items": "#4e79a7",
    "unique": "#a0cbe8",
    "negative": "#e15759",
    "neutral": "#bab0ac",
    "positive": "#59a14f",
    "spike": "#e15759",
    "significant": "#e15759",
    "not_significant": "#4e79a7",
}
LIFT_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
NEUTRAL = 0.05  # |VADER compound| below this reads as neutral (VADER's own convention)


def _col(table: pd.DataFrame, *names: str) -> str | None:
    """The first of ``names`` the table has (results name their week column differently)."""
    return next((n for n in names if n in table), None)


def _short(text: Any, limit: int = LABEL_CHARS) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _sentiment(value: Any) -> str:
    """A compound score as text: "-0.42", "+0.10", "—" for no score (nothing English to score)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return MISSING
    return f"{float(value):+.2f}"


def _tone(value: Any) -> str:
    if value is None or pd.isna(value):
        return COLOURS["neutral"]
    if value <= -NEUTRAL:
        return COLOURS["negative"]
    return COLOURS["positive"] if value >= NEUTRAL else COLOURS["neutral"]


def _rows(n: int) -> int:
    return max(360, 180 + ROW_PX * n)


def _empty(title: str, why: str) -> go.Figure:
    return apply(go.Figure(), f"{title}: {why}")


def _top_themes(
    table: pd.DataFrame, weight: str, top: int, other: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept rows, largest first; the rest): the ``top`` themes by ``weight``, ties by name. With
    ``other`` (the rest is drawn summed) the last of the ``top`` slots goes to it."""
    top = max(2, int(top))
    order = table.assign(_w=table[weight].fillna(0)).sort_values(
        ["_w", "theme"], ascending=[False, True], kind="stable"
    )
    order = order.drop(columns="_w").reset_index(drop=True)
    if len(order) <= top:
        return order, order.iloc[0:0]
    cut = top - 1 if other else top
    return order.iloc[:cut], order.iloc[cut:]


def _number(table: pd.DataFrame, column: str | None) -> list[Any]:
    if column is None:
        return [None] * len(table)
    return [None if pd.isna(v) else v for v in table[column]]


def themes_figure(
    table: pd.DataFrame,
    method: str = "VADER",
    title: str = "Themes",
    top: int = THEMES_TOP,
) -> go.Figure:
    """Horizontal bars per theme, largest first: items (tickets and highlights) and unique problems
    (near-duplicates counted once), each theme's mean sentiment written beside it and its trend
    against the previous period in the hover. Columns: theme, items, and when present
    unique_problems, users, share, sentiment, trend. More than ``top`` themes: the rest are
    summed into "other" (an item in several themes counts in each, said in the hover)."""
    full = f"{title}: items and unique problems per theme"
    if table.empty:
        return _empty(full, "no theme has any item")
    kept, rest = _top_themes(table, "items", top)
    names = [str(t) for t in kept["theme"]]
    labels = [_short(t) for t in names]
    items = [int(v) for v in kept["items"]]
    unique = _number(kept, _col(kept, "unique_problems"))
    sentiment = _number(kept, _col(kept, "sentiment"))
    users = _number(kept, _col(kept, "users"))
    share = _number(kept, _col(kept, "share"))
    trend = _number(kept, _col(kept, "trend"))
    if len(rest):
        labels.append(f"{OTHER} ({len(rest)} themes)")
        names.append(f"{OTHER}: " + ", ".join(str(t) for t in rest["theme"]))
        items.append(int(rest["items"].sum()))
        unique.append(int(rest["unique_problems"].sum()) if "unique_problems" in rest else None)
        for column in (sentiment, users, share, trend):
            column.append(None)  # a mean, a distinct count or a change of other themes: not summed
    detail = [
        f"{_short(n, 200)}<br>users: {count(u)}, share of items: {percent(s)}"
        f"<br>mean sentiment ({method}): {_sentiment(m)}"
        f"<br>vs previous period: {MISSING if t is None else percent(t)}"
        for n, u, s, m, t in zip(names, users, share, sentiment, trend, strict=True)
    ]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            name="items",
            y=labels,
            x=items,
            orientation="h",
            marker_color=COLOURS["items"],
            text=[count(v) for v in items],
            customdata=detail,
            hovertemplate="%{customdata}<br>items: %{x:,}<extra></extra>",
        )
    )
    if "unique_problems" in table:
        fig.add_trace(
            go.Bar(
                name="unique problems (near-duplicates once)",
                y=labels,
                x=unique,
                orientation="h",
                marker_color=COLOURS["unique"],
                text=[count(v) for v in unique],
                customdata=detail,
                hovertemplate="%{customdata}<br>unique problems: %{x:,}<extra></extra>",
            )
        )
    fig.update_traces(textposition="outside", textfont={"size": LABEL_FONT}, cliponaxis=False)
    if "sentiment" in table:  # the mean score beside each theme, coloured by its tone
        fig.add_trace(
            go.Scatter(
                name=f"mean sentiment: {method}",
                y=labels,
                x=[1.0] * len(labels),
                xaxis="x2",
                mode="markers+text",
                marker={"color": [_tone(m) for m in sentiment], "size": 12, "symbol": "square"},
                text=[_sentiment(m) for m in sentiment],
                textposition="middle right",
                textfont={"size": LABEL_FONT},
                customdata=detail,
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    notes = []
    if "sentiment" in table:
        notes += [
            f"sentiment: the mean score by {method},",
            f"-1 (negative) to +1 (positive); {MISSING}: no English text to score (not counted as 0)",
        ]
    if len(rest):
        notes.append(f'"{OTHER}": {len(rest)} smaller themes summed; an item can count in several')
    bottom = footnote(fig, notes, gap=110)
    sub = f"<br><sup>sentiment: {method}</sup>" if "sentiment" in table else ""
    return apply(
        fig,
        full + sub,
        barmode="group",
        xaxis={"title": {"text": "items"}, "domain": [0, 0.84], "tickformat": ",d"},
        xaxis2={"domain": [0.86, 1], "visible": False, "range": [0.9, 2.2]},
        yaxis={
            "title": {"text": "theme"},
            "categoryorder": "array",
            "categoryarray": labels[::-1],
        },
        height=max(400, 240 + (50 if "unique_problems" in table else ROW_PX) * len(labels)),
        legend={"orientation": "h", "y": -0.1, "yanchor": "top", "x": 0},
        margin={"b": bottom + 40, "t": 90},
    )


def _terms(value: Any, limit: int = 6) -> str:
    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return ""
    if isinstance(value, str):
        return value
    return ", ".join(str(t) for t in list(value)[:limit])


def _examples(value: Any, limit: int = 3) -> str:
    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return ""
    values = [value] if isinstance(value, str | dict) else list(value)
    texts = [v.get("text", "") if isinstance(v, dict) else v for v in values[:limit]]
    return "<br>".join("· " + _short(" ".join(str(t).split()), 90) for t in texts)


def discovery_figure(
    table: pd.DataFrame,
    title: str = "Proposed themes",
    unassigned: int | None = None,
    top: int = THEMES_TOP,
) -> go.Figure:
    """Bars of items per proposed (discovered) theme, each labelled with its characteristic terms,
    examples in the hover. Columns: label (or theme), items, terms (list), examples (list of texts,
    or of {source, item_id, text}). ``unassigned``:
    items no proposed theme took, said under the chart (every item is accounted for)."""
    full = f"{title}: groups of similar items, labelled by their terms"
    if table.empty:
        return _empty(full, "nothing to group")
    named = table.rename(columns={"label": "theme"})
    kept, rest = _top_themes(named, "items", top)
    labels = [_short(t) for t in kept["theme"]]
    items = [int(v) for v in kept["items"]]
    terms = [_terms(v) for v in kept.get("terms", [None] * len(kept))]
    examples = [_examples(v) for v in kept.get("examples", [None] * len(kept))]
    if len(rest):
        labels.append(f"{OTHER} ({len(rest)} themes)")
        items.append(int(rest["items"].sum()))
        terms.append(", ".join(str(t) for t in rest["theme"]))
        examples.append("")
    fig = go.Figure(
        go.Bar(
            name="items",
            y=labels,
            x=items,
            orientation="h",
            marker_color=[
                OTHER_COLOUR if lbl.startswith(OTHER) else COLOURS["items"] for lbl in labels
            ],
            text=[
                f"{count(n)} · {t}" if t else count(n) for n, t in zip(items, terms, strict=True)
            ],
            textposition="auto",
            insidetextanchor="start",
            textfont={"size": LABEL_FONT},
            customdata=list(zip(terms, examples, strict=True)),
            hovertemplate="%{y}: %{x:,} items<br>terms: %{customdata[0]}"
            "<br>%{customdata[1]}<extra></extra>",
        )
    )
    notes = ["bar text: items, then the group's characteristic terms (hover: examples)"]
    if unassigned is not None:
        notes.append(f"{count(unassigned)} items in no proposed theme (listed as unassigned)")
    bottom = footnote(fig, notes)
    return apply(
        fig,
        full,
        xaxis_title="items",
        xaxis_tickformat=",d",
        yaxis={
            "title": {"text": "proposed theme"},
            "categoryorder": "array",
            "categoryarray": labels[::-1],
        },
        height=_rows(len(labels)),
        showlegend=False,
        margin={"b": bottom},
    )


def theme_trends_figure(
    table: pd.DataFrame,
    title: str = "Theme volume by week",
    top: int = TOP,
    period: str = "week",
) -> go.Figure:
    """One line per theme (the ``top`` largest, the rest summed as "other"), spikes marked with a
    red star and named in the hover. Columns: theme, a period column (period_start, week or
    period), a volume column (items or volume) and ``spike`` (bool; NULL: not judged), optionally
    ``baseline`` (the theme's usual volume the spike was judged against) and ``incomplete`` (the
    period holds the data's end: drawn as a hollow marker, its count may still grow)."""
    full = f"{title}: spikes against each theme's own history"
    when = _col(table, "period_start", "week", "period")
    volume = _col(table, "items", "volume", "count")
    if table.empty or when is None or volume is None:
        return _empty(full, "no item in the range")
    totals = table.groupby("theme")[volume].sum()
    kept, rest = top_values(totals, top)
    kept = sorted(kept, key=lambda t: (-totals[t], t))
    palette = colours(kept + ([OTHER] if rest else []))
    fig = go.Figure()
    spikes = 0
    expected = _col(table, "expected", "baseline", "usual")
    open_ = _col(table, "incomplete")
    for theme in kept:
        part = table[table["theme"].astype(str) == theme].sort_values(when)
        hollow = part[open_].fillna(False).astype(bool) if open_ else [False] * len(part)
        fig.add_trace(
            go.Scatter(
                name=_short(theme, 30),
                x=list(part[when]),
                y=[int(v) for v in part[volume]],
                mode="lines+markers",
                marker={"symbol": ["circle-open" if h else "circle" for h in hollow], "size": 8},
                line_color=palette[theme],
                legendgroup=theme,
                hovertemplate=f"{_short(theme, 80)}: " + "%{y:,} items, " + period + " of %{x}"
                "<extra></extra>",
            )
        )
        if "spike" in part:
            hit = part[part["spike"].fillna(False).astype(bool)]
            spikes += len(hit)
            if len(hit):
                usual = _number(hit, expected)
                fig.add_trace(
                    go.Scatter(
                        name=f"spike: {_short(theme, 30)}",
                        x=list(hit[when]),
                        y=[int(v) for v in hit[volume]],
                        mode="markers",  # the star says it (footnote); words would pile up in a busy week
                        marker={
                            "symbol": "star",
                            "size": 16,
                            "color": COLOURS["spike"],
                            "line": {"width": 1, "color": "#333333"},
                        },
                        legendgroup=theme,
                        showlegend=False,
                        customdata=[MISSING if u is None else f"{u:,.1f}" for u in usual],
                        hovertemplate=f"spike in {_short(theme, 80)}: "
                        + "%{y:,} items, "
                        + period
                        + " of %{x}<br>usual: %{customdata}<extra></extra>",
                    )
                )
    if rest:
        part = (
            table[table["theme"].astype(str).isin(rest)]
            .groupby(when, as_index=False)[volume]
            .sum()
            .sort_values(when)
        )
        fig.add_trace(
            go.Scatter(
                name=f"{OTHER} ({len(rest)} themes)",
                x=list(part[when]),
                y=[int(v) for v in part[volume]],
                mode="lines+markers",
                line={"color": OTHER_COLOUR, "dash": "dot"},
                hovertemplate=f"{OTHER} ({len(rest)} themes): "
                + "%{y:,} items, "
                + period
                + " of %{x}<extra></extra>",
            )
        )
    notes = [f"★ spike: a {period} well above the theme's own usual volume ({spikes} marked)"]
    if open_ and table[open_].fillna(False).astype(bool).any():
        notes.append(f"hollow: the {period} holds the data's end, its count may still grow")
    if rest:
        notes.append(f'"{OTHER}": {len(rest)} smaller themes summed; an item can count in several')
    bottom = footnote(fig, notes, gap=130)
    fig.update_traces(cliponaxis=False)  # a spike's star and word at the top stay whole
    if period == "week":  # ticks on the weeks' Mondays, not on plotly's own (Sunday) dates
        fig.update_xaxes(
            tick0=pd.Timestamp(table[when].min()).strftime("%Y-%m-%d"),
            dtick=7 * 86_400_000,
            tickformat="%b %d",
        )
    return apply(
        fig,
        full,
        xaxis_title=f"{period} starting",
        yaxis_title="items (tickets and highlights)",
        yaxis_tickformat=",d",
        yaxis_rangemode="tozero",
        legend={"orientation": "h", "y": -0.32, "yanchor": "top", "x": 0},
        height=540,
        margin={"b": bottom, "t": 90},
    )


def _join_text(join_rate: float | Mapping[str, float] | str | None) -> str:
    """ "items linked to a user (join rate): 62.0%", or per source; a text is taken as it is
    (the voice package words it with its counts)."""
    if join_rate is None:
        return "join rate: not known"
    if isinstance(join_rate, str):
        return join_rate
    if isinstance(join_rate, Mapping):
        parts = [f"{source} {percent(rate)}" for source, rate in join_rate.items()]
        return "items linked to a user (join rate): " + (", ".join(parts) or MISSING)
    return f"items linked to a user (join rate): {percent(join_rate)}"


def lift_figure(
    table: pd.DataFrame,
    outcome_label: str = "churned",
    join_rate: float | Mapping[str, float] | str | None = None,
    title: str | None = None,
    top: int = THEMES_TOP,
) -> go.Figure:
    """A dot per theme at its lift (how many times more often users who raised the theme had the
    outcome than users who did not), with its 95% interval, on a log scale around 1 ("as often").
    Significant themes are red and solid; small samples are hollow, greyed and labelled "small
    sample" (same rules as the funnel's call-outs); the join rate is stated under the chart.
    Columns: theme, users_with, users_without, rate_with, rate_without, lift, ci_low, ci_high,
    p_value, small_sample, significant (optionally p_adjusted: then "significant" is read as
    judged on it). ``join_rate``: a rate, rates per source, or the join in words. More than
    ``top`` themes: those with the most users; a theme without a ratio (nobody on a side, or no
    outcome among the others) cannot sit on the axis and is counted under the chart."""
    full = title or f"Themes and {outcome_label}: lift with 95% intervals"
    if table.empty:
        return _empty(
            full, f"no theme raised by a user linked to the events ({_join_text(join_rate)})"
        )
    ratio = pd.to_numeric(table["lift"], errors="coerce")
    no_ratio = table[ratio.isna()]
    zero = table[ratio == 0]
    table = table[ratio > 0]
    # no "other" row: a lift of mixed themes means nothing; the rest stay in the table
    kept, rest = _top_themes(table, "users_with", top, other=False)
    kept = kept.sort_values(["lift", "theme"], ascending=[False, True], na_position="last")
    kept = kept.reset_index(drop=True)
    labels = [_short(t) for t in kept["theme"]]
    small = kept.get("small_sample", pd.Series(False, index=kept.index)).fillna(False).astype(bool)
    significant = kept.get("significant", pd.Series(False, index=kept.index)).fillna(False)
    significant = significant.astype(bool) & ~small
    fig = go.Figure()
    adjusted = "p_adjusted" in kept
    groups = (
        (
            "significant (Holm-adjusted p < 0.05)" if adjusted else "significant (p < 0.05)",
            significant,
            COLOURS["significant"],
            "circle",
        ),
        ("not significant", ~significant & ~small, COLOURS["not_significant"], "circle"),
        ("small sample: not judged", small, OTHER_COLOUR, "circle-open"),
    )
    positive = [v for v in pd.concat([kept["lift"], kept["ci_low"], kept["ci_high"]]) if v > 0]
    for name, mask, colour, symbol in groups:
        part = kept[mask.to_numpy()]
        if part.empty:
            continue
        lift = part["lift"].astype(float)
        high = part["ci_high"].astype(float)
        low = part["ci_low"].clip(lower=min(positive, default=0.01) / 2).astype(float)
        words = [
            "small sample" if s else f"{v:.2g}x"
            for v, s in zip(lift, small[part.index], strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                name=name,
                x=list(lift),
                y=[_short(t) for t in part["theme"]],
                mode="markers+text",
                marker={
                    "color": colour,
                    "size": 12,
                    "symbol": symbol,
                    "line": {"width": 2, "color": colour},
                },
                text=words,
                textposition="top center",
                textfont={
                    "size": LABEL_FONT,
                    "color": colour if symbol != "circle-open" else "#616161",
                },
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": list((high - lift).clip(lower=0)),
                    "arrayminus": list((lift - low).clip(lower=0)),
                    "thickness": 1.5,
                    "color": colour,
                },
                customdata=list(
                    zip(
                        [count(u) for u in part["users_with"]],
                        [percent(r) for r in part["rate_with"]],
                        [count(u) for u in part["users_without"]],
                        [percent(r) for r in part["rate_without"]],
                        [
                            f"{a:.2g}..{b:.2g}"
                            for a, b in zip(part["ci_low"], part["ci_high"], strict=True)
                        ],
                        [
                            p_value(p)
                            for p in part.get(
                                "p_adjusted" if adjusted else "p_value", [None] * len(part)
                            )
                        ],
                        strict=True,
                    )
                ),
                hovertemplate="%{y}: lift %{x:.2f} (95% CI %{customdata[4]}, "
                + ("Holm-adjusted p" if adjusted else "p")
                + " %{customdata[5]})"
                f"<br>raised it: %{{customdata[0]}} users, %{{customdata[1]}} {outcome_label}"
                f"<br>did not: %{{customdata[2]}} users, %{{customdata[3]}} {outcome_label}"
                "<extra></extra>",
            )
        )
    fig.add_vline(x=1, line_width=1, line_color="#888888")
    notes = [
        f"lift = share {outcome_label} among users who raised the theme / among users who did not",
        _join_text(join_rate) + "; only linked users count",
    ]
    if small.any():
        notes.append("hollow grey = small sample (too few users or outcomes to judge)")
    if len(rest):
        notes.append(f"{len(rest)} themes with fewer users are in the table, not drawn")
    if len(zero):
        names = ", ".join(_short(t, 30) for t in zero["theme"].head(4))
        more = f" and {len(zero) - 4} more" if len(zero) > 4 else ""
        notes += [
            f"lift 0, not drawn (none who raised it {outcome_label}; a log axis has no 0):",
            f"    {names}{more}",
        ]
    if len(no_ratio):
        notes.append(
            f"{len(no_ratio)} themes have no ratio (nobody on a side, or no one {outcome_label} "
            "among the others): in the table, not drawn"
        )
    bottom = footnote(fig, notes, gap=70)
    lo = min(positive, default=0.5)
    hi = max(positive, default=2.0)
    span = [min(lo, 0.5), max(hi, 2.0)]
    ticks = [t for t in LIFT_TICKS if span[0] / 1.5 <= t <= span[1] * 1.5]
    return apply(
        fig,
        full + f"<br><sup>{_join_text(join_rate)}</sup>",
        xaxis={
            "type": "log",
            "title": {"text": f"lift: times as often {outcome_label} (log scale; 1 = as often)"},
            "range": [math.log10(span[0]) - 0.15, math.log10(span[1]) + 0.15],
            "tickvals": ticks,
            "ticktext": [f"{t:g}x" for t in ticks],
            "zeroline": False,
        },
        yaxis={
            "title": {"text": "theme"},
            "categoryorder": "array",
            "categoryarray": labels[::-1],
            "range": [-0.7, len(labels) - 0.3],
        },
        height=max(420, 260 + 60 * len(labels)),
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"b": bottom, "t": 120},
    )


def sentiment_figure(
    table: pd.DataFrame,
    method: str = "VADER",
    title: str = "Sentiment by theme",
    top: int = THEMES_TOP,
) -> go.Figure:
    """Mean sentiment per theme as bars around 0 (negative red, positive green), with how many
    items were scored; items with no score (not English, nothing to score) are counted apart, never
    as 0. ``table``: one row per theme (theme, sentiment, and ``scored`` / ``items``), or one row
    per item (theme, sentiment), which is averaged here. More than ``top`` themes: those with the
    most scored items."""
    full = f"{title}: {method}"
    if table.empty or "sentiment" not in table:
        return _empty(full, "no item to score")
    if table["theme"].duplicated().any():  # one row per item: mean and counts per theme
        grouped = table.groupby("theme")["sentiment"]
        per = pd.DataFrame(
            {"sentiment": grouped.mean(), "scored": grouped.count(), "items": grouped.size()}
        ).reset_index()
    else:
        per = table.copy()
        scored = _col(per, "scored", "sentiment_items", "scored_items")
        per["scored"] = (
            per[scored] if scored else per.get("items", pd.Series(pd.NA, index=per.index))
        )
    weight = "scored" if per["scored"].notna().any() else "sentiment"
    kept, rest = _top_themes(per, weight, top, other=False)  # a mean of mixed themes: not drawn
    kept = kept.sort_values(["sentiment", "theme"], na_position="last")
    labels = [_short(t) for t in kept["theme"]]
    values = [None if pd.isna(v) else float(v) for v in kept["sentiment"]]
    scored_n = [count(v) for v in kept["scored"]]
    items_n = [count(v) for v in kept.get("items", kept["scored"])]
    fig = go.Figure(
        go.Bar(
            name=f"mean {method}",
            y=labels,
            x=[0.0 if v is None else v for v in values],
            orientation="h",
            marker_color=[_tone(v) for v in values],
            text=[
                f"{_sentiment(v)} (n={n})" if v is not None else f"no score (n={n})"
                for v, n in zip(values, scored_n, strict=True)
            ],
            textposition="outside",
            textfont={"size": LABEL_FONT},
            cliponaxis=False,
            customdata=list(zip(scored_n, items_n, strict=True)),
            hovertemplate="%{y}: mean %{x:+.2f}<br>%{customdata[0]} of %{customdata[1]} items "
            "scored<extra></extra>",
        )
    )
    fig.add_vline(x=0, line_width=1, line_color="#888888")
    notes = [
        f"score: {method}, -1 (most negative) to +1 (most positive); under {NEUTRAL} either way: neutral",
        "n = items scored; text that is not English (or empty) has no score: left out, not 0",
    ]
    if len(rest):
        notes.append(f"{len(rest)} themes with fewer scored items are not drawn")
    bottom = footnote(fig, notes)
    return apply(
        fig,
        full,
        xaxis={"title": {"text": f"mean sentiment ({method}), -1 to +1"}, "range": [-1.25, 1.25]},
        yaxis={
            "title": {"text": "theme"},
            "categoryorder": "array",
            "categoryarray": labels[::-1],
        },
        height=_rows(len(labels)),
        showlegend=False,
        margin={"b": bottom},
    )
