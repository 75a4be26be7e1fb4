"""Readable views of result tables: a compact, formatted summary, the full table one click away.

``table`` stays numeric (code and tests read it); these views are text for people: percents,
human durations, p-values as "< 0.001", thousands separators. Every cell from the data is escaped.
"""

from __future__ import annotations

import html

import pandas as pd

from .. import format as fmt

# noisy for a reader, still in the full table
HIDDEN = {"ci_low", "ci_high", "log_odds_ci_low", "log_odds_ci_high", "inactive_days"}
PERCENT_WORDS = ("rate", "conversion", "share", "survival")


def _column(name: str, values: pd.Series) -> list[str]:
    """One column as text, its format chosen from its name and type."""
    if name in ("p_value", "p_adjusted"):
        return [fmt.p_value(v) for v in values]
    if name == "difference":
        return [fmt.signed_points(v) for v in values]
    if "seconds" in name:
        return [fmt.duration(v) for v in values]
    if name.endswith("odds_ratio"):
        return [fmt.MISSING if pd.isna(v) else f"{v:.3g}" for v in values]
    if any(word in name for word in PERCENT_WORDS) and pd.api.types.is_float_dtype(values):
        return [fmt.percent(v) for v in values]
    if pd.api.types.is_datetime64_any_dtype(values):
        return [fmt.MISSING if pd.isna(v) else f"{v:%Y-%m-%d}" for v in values]
    if pd.api.types.is_bool_dtype(values):  # NULL (not judged, e.g. a spike): missing
        return [fmt.MISSING if v is pd.NA else "yes" if v else "" for v in values]
    if pd.api.types.is_numeric_dtype(values):
        return [fmt.count(v) for v in values]
    return [fmt.MISSING if v is None or v is pd.NA else str(v) for v in values]


def formatted(table: pd.DataFrame, hide: set[str] = HIDDEN) -> pd.DataFrame:
    """The table as text, without the columns in ``hide``."""
    keep = [c for c in table.columns if c not in hide]
    return pd.DataFrame({c: _column(str(c), table[c]) for c in keep}, index=table.index)


def funnel_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per step: users, conversion from step 1, drop-off (closed windows), median time.

    With a breakdown, one row per value instead (most users first): entered, converted,
    conversion and the median time from step 1 to the last step."""
    if table.empty:
        return pd.DataFrame()
    if "breakdown" in table:
        last = table[table["step"] == table["step"].max()].set_index("breakdown")
        first = table[table["step"] == table["step"].min()].set_index("breakdown")
        order = first["users"].sort_values(ascending=False, kind="stable").index
        return pd.DataFrame(
            {
                "breakdown": [v if v != "" else "(none)" for v in order],
                "entered": [fmt.count(first.at[v, "users"]) for v in order],
                f"reached {last['name'].iloc[0]}": [fmt.count(last.at[v, "users"]) for v in order],
                "conversion": [fmt.percent(last.at[v, "conversion_from_start"]) for v in order],
                "median time": [
                    fmt.duration(last.at[v, "median_seconds_from_start"]) for v in order
                ],
            }
        )
    previous = table["users"].shift(1)
    dropped = [
        "" if pd.isna(p) else f"{fmt.count(d)} ({fmt.percent(d / p if p else None)})"
        for d, p in zip(table["dropped"], previous, strict=True)
    ]
    out = pd.DataFrame(
        {
            "step": [f"{s}. {n}" for s, n in zip(table["step"], table["name"], strict=True)],
            "users": [fmt.count(u) for u in table["users"]],
            "conversion": [fmt.percent(c) for c in table["conversion_from_start"]],
            "from previous": [fmt.percent(c) for c in table["conversion_from_previous"]],
            "dropped here": dropped,
            "median time from previous": [
                "" if pd.isna(s) else fmt.duration(s) for s in table["median_seconds_from_previous"]
            ],
        }
    )
    if table["in_progress"].any():
        out["still in their window"] = [fmt.count(i) for i in table["in_progress"]]
    return out


def retention_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Cohorts by interval in percent; blank where the period cannot be observed yet."""
    if table.empty:
        return pd.DataFrame()
    grid = table.pivot(index="cohort_start", columns="interval", values="rate")
    sizes = table.groupby("cohort_start").cohort_size.first()
    out = pd.DataFrame(
        {str(c): ["" if pd.isna(v) else fmt.percent(v, 0) for v in grid[c]] for c in grid.columns}
    )
    out.insert(0, "users", [fmt.count(sizes[c]) for c in grid.index])
    out.insert(0, "cohort", [f"{c:%Y-%m-%d}" for c in grid.index])
    return out


def correlation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """In words: "users who did app_error: 4.2x less likely to convert", with counts, the odds
    ratio and the p-value."""
    if table.empty:
        return pd.DataFrame()
    if "event" in table:
        who = [f"users who did {e}" for e in table["event"]]
    else:
        who = [
            f"users with {p} = {v if v != '' else '(none)'}"
            for p, v in zip(table["property"], table["value"], strict=True)
        ]
    return pd.DataFrame(
        {
            "who": who,
            "compared with the rest": [
                fmt.likelihood(r, c, d)
                for r, c, d in zip(
                    table["odds_ratio"], table["success_count"], table["failure_count"], strict=True
                )
            ],
            "converted": [fmt.count(c) for c in table["success_count"]],
            "dropped off": [fmt.count(c) for c in table["failure_count"]],
            "odds ratio": [f"{r:.3g}" for r in table["odds_ratio"]],
            "p": [fmt.p_value(p) for p in table["p_value"]],
            "significant": ["yes" if s else "no" for s in table["significant"]],
        }
    )


def to_html(summary: pd.DataFrame, table: pd.DataFrame, title: str = "") -> str:
    """The summary, then the full numeric table folded in a ``<details>`` element that scrolls
    sideways instead of being cut off; every value escaped."""
    head = f"<p><b>{html.escape(title)}</b></p>" if title else ""
    rows, cols = table.shape
    body = (
        summary.to_html(index=False, escape=True, border=0)
        if len(summary.columns)
        else "<p>no rows</p>"
    )
    full = table.to_html(index=False, escape=True, border=0, na_rep="")
    return (
        f'<div class="poa-result">{head}{body}'
        f"<details><summary>Full table ({rows:,} rows × {cols} columns)</summary>"
        f'<div style="overflow-x:auto">{full}</div></details></div>'
    )
