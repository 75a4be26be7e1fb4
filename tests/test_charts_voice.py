"""Voice charts read without help (issue 10): each chart on a hand-made table, checked for what a
reader must see: the method named wherever sentiment shows, spikes and small samples marked, the
join rate stated, axis titles, and many themes limited to the top ones plus "other"."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from poanalytics.charts import voice
from poanalytics.charts.style import OTHER

METHOD = "VADER compound (vaderSentiment 3.3)"


def _readable(fig) -> None:
    assert fig.layout.title.text and "$" not in fig.layout.title.text
    assert fig.layout.font.size >= 12


def _themes(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "theme": [f"theme_{i:02d}" for i in range(n)],
            "items": [100 - 3 * i for i in range(n)],
            "unique_problems": [80 - 3 * i for i in range(n)],
            "users": [60 - 2 * i for i in range(n)],
            "share": [0.1] * n,
            "sentiment": [-0.5 + 0.1 * i if i != 2 else float("nan") for i in range(n)],
            "trend": [0.25] * n,
        }
    )


def test_themes_figure_shows_items_unique_problems_and_sentiment_with_its_method():
    fig = voice.themes_figure(_themes(4), method=METHOD)
    _readable(fig)
    assert METHOD in fig.layout.title.text
    names = [t.name for t in fig.data]
    assert names[0] == "items" and names[1].startswith("unique problems")
    assert any(METHOD in n for n in names)  # the sentiment marks name the method in the legend
    items, unique, mood = fig.data[0], fig.data[1], fig.data[2]
    assert list(items.x) == [100, 97, 94, 91] and list(unique.x) == [80, 77, 74, 71]
    assert list(items.y) == ["theme_00", "theme_01", "theme_02", "theme_03"]
    assert list(fig.layout.yaxis.categoryarray)[-1] == "theme_00"  # largest on top
    assert list(mood.text) == ["-0.50", "-0.40", "—", "-0.20"]  # no score is "—", never 0
    assert fig.layout.xaxis.title.text == "items" and fig.layout.yaxis.title.text == "theme"
    assert any(METHOD in a.text for a in fig.layout.annotations)
    assert "+25.0%" not in items.customdata[0] and "25.0%" in items.customdata[0]  # the trend


def test_themes_figure_groups_many_themes_into_other():
    table = _themes(20)
    fig = voice.themes_figure(table, method=METHOD, top=8)
    labels = list(fig.data[0].y)
    assert len(labels) == 8 and labels[-1] == f"{OTHER} (13 themes)"
    assert labels[:7] == [f"theme_{i:02d}" for i in range(7)]
    assert fig.data[0].x[-1] == table["items"].iloc[7:].sum()
    assert fig.data[1].x[-1] == table["unique_problems"].iloc[7:].sum()
    assert fig.data[2].text[-1] == "—"  # no mean sentiment made up for "other"


def test_themes_figure_without_sentiment_and_empty():
    fig = voice.themes_figure(_themes(3).drop(columns=["sentiment", "unique_problems"]))
    assert len(fig.data) == 1 and "sentiment" not in fig.layout.title.text
    empty = voice.themes_figure(_themes(0), method=METHOD)
    _readable(empty)
    assert "no theme" in empty.layout.title.text


def test_long_labels_are_cut_but_whole_in_the_hover():
    table = _themes(2)
    table.loc[0, "theme"] = "a very long discovered label " * 4
    fig = voice.themes_figure(table, method=METHOD)
    label = fig.data[0].y[0]
    assert len(label) <= voice.LABEL_CHARS and label.endswith("…")
    assert "a very long discovered label a very long" in fig.data[0].customdata[0]


def test_discovery_figure_labels_groups_with_their_terms_and_counts_the_unassigned():
    table = pd.DataFrame(
        {
            "label": ["crash / profile / step", "price / expensive / plan"],
            "terms": [["crash", "profile", "step"], ["price", "expensive", "plan"]],
            "items": [40, 25],
            "examples": [
                ["App crashes on the profile step"],
                [{"source": "tickets", "item_id": "7", "text": "Too expensive\nfor a team"}],
            ],
        }
    )
    fig = voice.discovery_figure(table, unassigned=7)
    _readable(fig)
    bar = fig.data[0]
    assert list(bar.x) == [40, 25]
    assert bar.text[0] == "40 · crash, profile, step"
    assert "App crashes on the profile step" in bar.customdata[0][1]
    assert bar.customdata[1][1] == "· Too expensive for a team"  # the text of a discovery example
    assert fig.layout.xaxis.title.text == "items" and fig.layout.yaxis.title.text
    assert any("7 items in no proposed theme" in a.text for a in fig.layout.annotations)
    assert "no" in voice.discovery_figure(table.iloc[0:0]).layout.title.text


def _trends() -> pd.DataFrame:
    weeks = pd.date_range("2026-09-07", periods=6, freq="7D")
    rows = []
    for k, theme in enumerate(["onboarding_crash", "pricing", "export", "sso"]):
        for i, week in enumerate(weeks):
            spike = theme == "onboarding_crash" and i == 4
            rows.append(
                {
                    "theme": theme,
                    "period_start": week,
                    "items": (40 if spike else 5) + k,
                    "spike": spike,
                    "expected": 5.0 + k,
                }
            )
    return pd.DataFrame(rows)


def test_trends_figure_marks_spikes_on_the_themes_line():
    table = _trends()
    fig = voice.theme_trends_figure(table)
    _readable(fig)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["onboarding_crash", "sso", "export", "pricing"]
    stars = [t for t in fig.data if t.marker.symbol == "star"]
    assert len(stars) == 1 and list(stars[0].y) == [40]
    assert pd.Timestamp(stars[0].x[0]) == pd.Timestamp("2026-10-05")
    assert stars[0].legendgroup == "onboarding_crash" and "spike in onboarding_crash" in (
        stars[0].hovertemplate
    )
    assert "usual" in stars[0].hovertemplate and stars[0].customdata[0] == "5.0"
    assert fig.layout.xaxis.title.text == "week starting"
    assert fig.layout.xaxis.dtick == 7 * 86_400_000  # a tick per week, on its Monday
    assert pd.Timestamp(fig.layout.xaxis.tick0) == pd.Timestamp("2026-09-07")
    assert fig.layout.yaxis.title.text.startswith("items")
    assert any("1 marked" in a.text for a in fig.layout.annotations)


def test_trends_figure_keeps_the_top_themes_and_sums_the_rest():
    table = _trends()
    sso = table[table.theme == "sso"]
    many = pd.concat(
        [table] + [sso.assign(theme=f"small_{i}", items=1, spike=False) for i in range(10)]
    )
    fig = voice.theme_trends_figure(many, top=4)
    lines = [t.name for t in fig.data if t.mode == "lines+markers"]
    assert len(lines) == 4 and lines[-1] == f"{OTHER} (11 themes)"
    other = fig.data[[t.name for t in fig.data].index(lines[-1])]
    assert list(other.y) == [10 + 6] * 6  # the ten small themes (1 a week) and "pricing" (6)
    colours = [t.line.color for t in fig.data if t.mode == "lines+markers"]
    assert len(set(colours)) == len(colours)


def test_trends_figure_reads_a_week_column_and_says_when_empty():
    table = _trends().rename(columns={"period_start": "week", "items": "volume"})
    fig = voice.theme_trends_figure(table)
    assert sum(t.marker.symbol == "star" for t in fig.data) == 1
    assert "no item" in voice.theme_trends_figure(table.iloc[0:0]).layout.title.text


def _lift() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "theme": ["pricing", "onboarding_crash", "export", "tiny"],
            "users_with": [120, 80, 60, 4],
            "users_without": [900, 940, 960, 1016],
            "rate_with": [0.45, 0.20, 0.18, 0.5],
            "rate_without": [0.15, 0.18, 0.18, 0.2],
            "lift": [3.0, 1.11, 1.0, 2.5],
            "ci_low": [2.3, 0.7, 0.6, 0.0],
            "ci_high": [3.9, 1.7, 1.6, 9.0],
            "p_value": [1e-9, 0.6, 0.99, 0.2],
            "small_sample": [False, False, False, True],
            "significant": [True, False, False, False],
        }
    )


def test_lift_figure_flags_small_samples_and_states_the_join_rate():
    fig = voice.lift_figure(_lift(), outcome_label="churned", join_rate=0.62)
    _readable(fig)
    assert "churned" in fig.layout.title.text and "62.0%" in fig.layout.title.text
    by_name = {t.name: t for t in fig.data}
    sig = by_name["significant (p < 0.05)"]
    assert list(sig.y) == ["pricing"] and sig.marker.symbol == "circle"
    small = next(t for t in fig.data if t.name.startswith("small sample"))
    assert list(small.y) == ["tiny"] and small.marker.symbol == "circle-open"
    assert list(small.text) == ["small sample"]
    assert "tiny" not in by_name["not significant"].y  # never drawn as a judged theme
    assert fig.layout.xaxis.type == "log" and "churned" in fig.layout.xaxis.title.text
    assert fig.layout.yaxis.title.text == "theme"
    # a zero lower bound cannot sit on a log axis: the whisker stops at the axis, not at -inf
    assert all(math.isfinite(v) for v in small.error_x.arrayminus)
    assert any("join rate" in a.text and "62.0%" in a.text for a in fig.layout.annotations)
    assert any(s.x0 == 1 for s in fig.layout.shapes)  # the "as often" line


def test_lift_figure_join_rate_per_source_and_many_themes():
    table = pd.concat(
        [_lift()] + [_lift().assign(theme=lambda d, i=i: d.theme + f"_{i}") for i in range(5)]
    )
    fig = voice.lift_figure(
        table,
        outcome_label="dropped at profile_completed",
        join_rate={"tickets": 0.8, "notes": 0.5},
        top=6,
    )
    drawn = [y for t in fig.data for y in t.y]
    assert len(drawn) == 6
    assert any("18 themes with fewer users" in a.text for a in fig.layout.annotations)
    assert "tickets 80.0%, notes 50.0%" in fig.layout.title.text
    assert "dropped at profile_completed" in fig.layout.xaxis.title.text
    empty = voice.lift_figure(_lift().iloc[0:0], join_rate=0.0)
    assert "0%" in empty.layout.title.text


def test_sentiment_figure_names_the_method_and_leaves_unscored_themes_apart():
    table = pd.DataFrame(
        {
            "theme": ["pricing", "praise", "foreign"],
            "sentiment": [-0.6, 0.7, float("nan")],
            "scored": [30, 12, 0],
            "items": [32, 12, 9],
        }
    )
    fig = voice.sentiment_figure(table, method=METHOD)
    _readable(fig)
    assert METHOD in fig.layout.title.text and METHOD in fig.layout.xaxis.title.text
    bar = fig.data[0]
    assert list(bar.y) == ["pricing", "praise", "foreign"]  # most negative first, no score last
    assert bar.text[0] == "-0.60 (n=30)" and bar.text[2] == "no score (n=0)"
    assert bar.marker.color[0] == voice.COLOURS["negative"]
    assert bar.marker.color[1] == voice.COLOURS["positive"]
    assert fig.layout.xaxis.range == (-1.25, 1.25)
    assert any("not English" in a.text for a in fig.layout.annotations)


def test_sentiment_figure_from_items_averages_per_theme_without_counting_nan_as_zero():
    items = pd.DataFrame(
        {"theme": ["a", "a", "a", "b"], "sentiment": [-0.5, -0.3, float("nan"), 0.2]}
    )
    fig = voice.sentiment_figure(items, method=METHOD)
    bar = fig.data[0]
    assert bar.x[0] == pytest.approx(-0.4)  # the NaN is not a 0 (that would give -0.267)
    assert bar.text[0] == "-0.40 (n=2)"
    assert bar.customdata[0][1] == "3"  # of 3 items


def test_lift_figure_leaves_themes_without_a_ratio_off_the_log_axis_and_counts_them():
    table = _lift()
    table.loc[2, ["lift", "ci_low", "ci_high"]] = float("nan")  # nobody churned among the others
    table["p_adjusted"] = [1e-8, 1.0, 1.0, 0.8]
    fig = voice.lift_figure(table, outcome_label="churned", join_rate="joined to users: 3 of 4")
    drawn = [y for t in fig.data for y in t.y]
    assert "export" not in drawn and len(drawn) == 3
    assert any("1 themes have no ratio" in a.text for a in fig.layout.annotations)
    assert fig.data[0].name == "significant (Holm-adjusted p < 0.05)"
    assert "Holm-adjusted p" in fig.data[0].hovertemplate
    assert "joined to users: 3 of 4" in fig.layout.title.text  # a worded join kept as it is


def test_trends_figure_draws_the_period_holding_the_datas_end_hollow():
    table = _trends().rename(columns={"expected": "baseline"})
    table["incomplete"] = table["period_start"] == table["period_start"].max()
    table["spike"] = table["spike"].astype(object).where(table["period_start"] > "2026-09-20", None)
    fig = voice.theme_trends_figure(table)
    line = next(t for t in fig.data if t.name == "onboarding_crash")
    assert list(line.marker.symbol) == ["circle"] * 5 + ["circle-open"]
    assert any("may still grow" in a.text for a in fig.layout.annotations)
    star = next(t for t in fig.data if t.marker.symbol == "star")
    assert star.customdata[0] == "5.0"  # the baseline, as the hover's usual volume


def test_lift_figure_names_the_themes_with_a_lift_of_zero():
    table = _lift()
    table.loc[1, ["lift", "rate_with", "ci_low"]] = 0.0  # nobody who raised it churned
    fig = voice.lift_figure(table, outcome_label="churned", join_rate=0.5)
    assert "onboarding_crash" not in [y for t in fig.data for y in t.y]
    note = next(a.text for a in fig.layout.annotations if "lift 0" in a.text)
    assert "onboarding_crash" in note and "none who raised it churned" in note
    assert not any("have no ratio" in a.text for a in fig.layout.annotations)
