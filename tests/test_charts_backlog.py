"""Backlog charts (issue 11), each drawn from a small hand-made table and checked for what a reader
must see: the points are the table's, intervals are drawn, overrides are marked, an empty table
says it is empty, one item draws sensibly, and data text is escaped."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from poanalytics.charts import backlog as charts


def _readable(fig) -> None:
    assert fig.layout.title.text and "$" not in fig.layout.title.text
    assert fig.layout.font.size >= 12
    # only the trace types the report's reduced plotly.js holds
    assert {t.type for t in fig.data} <= {"scatter", "bar"}
    json.loads(fig.to_json())  # serialisable as the report stores it


def _notes(fig) -> str:
    return " ".join(a.text for a in fig.layout.annotations if a.text)


SCORES = pd.DataFrame(
    {
        "item_id": ["BL-1", "BL-2", "BL-3", "BL-4", "BL-5"],
        "title": ["Fix crash", "Skip profile", "SSO <b>SAML</b>", "Pricing", "Dashboards"],
        "reach": [1300.0, 2600.0, 0.0, 400.0, 50.0],
        "impact": [2.0, 1.0, 0.5, 3.0, 0.25],
        "confidence": [0.8, 0.5, 0.2, 0.8, 0.5],
        "effort_weeks": [1.5, 1.0, 8.0, 2.5, 4.0],
        "rice": [1386.7, 1300.0, 0.0, 384.0, 1.5625],
        "rice_low": [900.0, 700.0, 0.0, 200.0, 0.5],
        "rice_high": [2000.0, 1900.0, 0.0, 600.0, 3.0],
        "value": [2080.0, 1300.0, 0.0, 960.0, 6.25],
        "quadrant": ["quick win", "quick win", "time sink", "big bet", "time sink"],
        "p_top_n": [0.97, 0.91, 0.0, 0.55, 0.02],
        "business_value": [8, 5, 3, 13, 2],
        "time_criticality": [13, 3, 1, 8, 1],
        "risk_reduction": [5, 1, 2, 3, 1],
        "job_size": [3, 2, 13, 5, 8],
        "wsjf": [26 / 3, 4.5, 6 / 13, 4.8, 0.5],
        "wsjf_low": [6.0, 3.0, 0.3, 3.0, 0.3],
        "wsjf_high": [11.0, 6.0, 0.6, 6.5, 0.7],
        "reason": ["1,240 users a week stop at profile_completed", "", "", "", ""],
    }
)


# -- value / effort ---------------------------------------------------------------------------


def test_value_effort_bubbles_place_each_item_at_its_effort_and_value_sized_by_reach():
    fig = charts.value_effort_figure(SCORES)
    _readable(fig)
    points = {}
    for trace in fig.data:
        for item, x, y, size in zip(trace.text, trace.x, trace.y, trace.marker.size, strict=True):
            points[item] = (x, y, size, trace.name, trace.marker.color)
    assert set(points) == set(SCORES.item_id)
    for _, r in SCORES.iterrows():
        x, y, size, quadrant, _ = points[r.item_id]
        assert (x, y, size, quadrant) == (r.effort_weeks, r.value, r.reach, r.quadrant)
    # colour by quadrant: quick wins green, money pits red, both items of a quadrant alike
    assert points["BL-1"][4] == points["BL-2"][4] == charts.QUADRANT_COLOURS["quick win"]
    assert points["BL-3"][4] == charts.QUADRANT_COLOURS["time sink"]
    # the median split lines: median effort 2.5, median value 960
    lines = {(s.type, s.x0, s.y0) for s in fig.layout.shapes}
    assert any(x0 == 2.5 for kind, x0, _ in lines) and any(y0 == 960.0 for *_, y0 in lines)
    # the hover carries the reason, and the title's markup is text
    hover = " ".join(h for t in fig.data for h in t.customdata)
    assert "1,240 users a week stop at profile_completed" in hover
    assert "&lt;b&gt;SAML&lt;/b&gt;" in hover and "<b>SAML</b>" not in hover


def test_value_effort_names_items_it_cannot_place():
    table = SCORES.copy()
    table.loc[2, "effort_weeks"] = None  # not estimated: no place on the effort axis
    fig = charts.value_effort_figure(table)
    drawn = {i for t in fig.data for i in t.text}
    assert "BL-3" not in drawn and len(drawn) == 4
    assert "not drawn, no effort or no value (reach x impact x confidence): BL-3" in _notes(fig)


def test_value_effort_with_one_item_and_with_none():
    one = charts.value_effort_figure(SCORES.head(1))
    assert [list(t.x) for t in one.data] == [[1.5]]
    assert {s.x0 for s in one.layout.shapes if s.xref == "x"} == {1.5}  # the effort split
    assert one.data[0].marker.sizeref > 0
    empty = charts.value_effort_figure(SCORES.head(0))
    assert "no item to place" in empty.layout.title.text and not empty.data
    zero = charts.value_effort_figure(SCORES.assign(reach=0.0))  # no reach at all: still drawn
    assert zero.data and zero.data[0].marker.sizeref == 1.0


# -- score breakdown --------------------------------------------------------------------------


def test_rice_breakdown_draws_each_factor_the_score_and_its_interval():
    fig = charts.score_breakdown_figure(SCORES, "rice", top_n=3)
    _readable(fig)
    by_name = {t.name: t for t in fig.data}
    labels = list(by_name["reach (users per quarter)"].y)
    # best score first: BL-1 1386.7, BL-2 1300, BL-4 384, BL-5 1.6, BL-3 0
    assert [lbl.split()[0] for lbl in labels] == ["BL-1", "BL-2", "BL-4", "BL-5", "BL-3"]
    assert list(by_name["reach (users per quarter)"].x) == [1300.0, 2600.0, 400.0, 50.0, 0.0]
    assert list(by_name["impact (0.25 to 3)"].x) == [2.0, 1.0, 3.0, 0.25, 0.5]
    assert list(by_name["confidence"].text) == ["80%", "50%", "80%", "50%", "20%"]
    assert list(by_name["effort (person-weeks)"].x) == [1.5, 1.0, 2.5, 4.0, 8.0]
    score = by_name["RICE with its interval"]
    assert list(score.x) == [1386.7, 1300.0, 384.0, 1.5625, 0.0]
    # the interval: from rice_low to rice_high around each score
    assert list(score.error_x.array) == pytest.approx([613.3, 600.0, 216.0, 1.4375, 0.0])
    assert list(score.error_x.arrayminus) == pytest.approx([486.7, 600.0, 184.0, 1.0625, 0.0])
    assert score.text[0] == "1,387 · p(top 3) 97%"
    assert "p(top 3)" in _notes(fig)
    assert fig.layout.yaxis.categoryarray[-1] == labels[0]  # best on top
    assert "&lt;b&gt;" in " ".join(labels)  # the SSO title's markup is text


def test_wsjf_breakdown_stacks_the_cost_of_delay_parts():
    fig = charts.score_breakdown_figure(SCORES, "wsjf")
    by_name = {t.name: t for t in fig.data}
    order = [lbl.split()[0] for lbl in by_name["business value"].y]
    assert order == ["BL-1", "BL-4", "BL-2", "BL-5", "BL-3"]
    rows = SCORES.set_index("item_id").loc[order]
    assert list(by_name["business value"].x) == list(rows.business_value)
    assert list(by_name["time criticality"].x) == list(rows.time_criticality)
    assert list(by_name["risk reduction / opportunity enablement"].x) == list(rows.risk_reduction)
    assert fig.layout.barmode == "stack"
    assert list(by_name["job size"].x) == list(rows.job_size)
    score = by_name["WSJF with its interval"]
    assert list(score.x) == pytest.approx(list(rows.wsjf))
    assert "WSJF = cost of delay / job size" in _notes(fig)
    # p_top_n counts RICE's top N (b.scores()): said so beside a WSJF score
    assert score.text[0] == "8.67 · p(top N) by RICE 97%"


def test_breakdown_without_intervals_unscored_items_one_item_and_none():
    table = SCORES.drop(columns=["rice_low", "rice_high"])
    table.loc[4, "rice"] = None
    fig = charts.score_breakdown_figure(table, "rice")
    score = next(t for t in fig.data if t.name == "RICE")
    assert score.error_x.array is None and len(score.x) == 4
    assert "no RICE score, not drawn: BL-5" in _notes(fig)
    shipped = charts.score_breakdown_figure(table.assign(status=["open"] * 4 + ["shipped"]), "rice")
    assert "no RICE score, not drawn: BL-5 (shipped)" in _notes(shipped)
    one = charts.score_breakdown_figure(SCORES.head(1), "rice")
    assert all(len(t.y) == 1 for t in one.data)
    assert "no item scored" in charts.score_breakdown_figure(SCORES.head(0)).layout.title.text
    with pytest.raises(ValueError, match="framework"):
        charts.score_breakdown_figure(SCORES, "kano")


# -- rank changes -----------------------------------------------------------------------------


def _log() -> pd.DataFrame:
    first = pd.Timestamp("2026-11-09 08:00", tz="UTC")
    second = pd.Timestamp("2026-11-16 08:00", tz="UTC")
    rows = [
        (1, first, "BL-1", "Fix crash", 1, 1, None),
        (1, first, "BL-2", "Skip profile", 2, 2, None),
        (1, first, "BL-3", "SSO", 3, 3, None),
        (2, second, "BL-2", "Skip profile", 1, 1, None),
        (2, second, "BL-3", "SSO", 2, 4, "The <i>CEO</i> promised it to Acme"),
        (2, second, "BL-4", "Pricing", 3, 2, None),
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "snapshot_id",
            "published_at",
            "item_id",
            "title",
            "rank",
            "evidence_rank",
            "override_reason",
        ],
    )


def test_rank_changes_draw_each_item_across_snapshots_and_mark_overrides():
    fig = charts.rank_changes_figure(_log())
    _readable(fig)
    lines = {t.name.split()[0]: t for t in fig.data if t.mode == "lines+markers"}
    assert list(lines["BL-1"].x) == ["2026-11-09 #1", "2026-11-16 #2"]
    assert list(lines["BL-1"].y) == [1, None]  # shipped: a gap, not a made-up rank
    assert list(lines["BL-2"].y) == [2, 1]
    assert list(lines["BL-3"].y) == [3, 2]
    assert list(lines["BL-4"].y) == [None, 3]  # new in the second snapshot
    marks = next(t for t in fig.data if t.name == "overridden by the product owner")
    assert list(zip(marks.x, marks.y, strict=True)) == [("2026-11-16 #2", 2)]
    assert marks.marker.symbol == "diamond"
    assert "override: The &lt;i&gt;CEO&lt;/i&gt; promised it to Acme" in marks.customdata[0]
    assert "(the evidence ranks it 4)" in marks.customdata[0]
    assert list(fig.layout.yaxis.range) == [3.5, 0.5]  # rank 1 on top
    assert "override" in _notes(fig)


def test_rank_changes_override_id_alone_marks_and_many_items_go_grey():
    log = _log().drop(columns="override_reason").assign(override_id=[None] * 4 + [7, None])
    marks = next(t for t in charts.rank_changes_figure(log).data if t.name.startswith("overridden"))
    assert list(marks.y) == [2]
    many = pd.DataFrame(
        {"snapshot_id": 1, "published_at": pd.Timestamp("2026-11-09", tz="UTC")}
        | {"item_id": [f"BL-{i}" for i in range(12)], "rank": list(range(1, 13))}
    )
    fig = charts.rank_changes_figure(many, top=5)
    shown = [t for t in fig.data if t.showlegend is not False]
    assert len(shown) == 5 and "grey: 7 items" in _notes(fig)
    assert not any(t.name.startswith("overridden") for t in fig.data)


def test_rank_changes_with_one_snapshot_of_one_item_and_with_none():
    one = charts.rank_changes_figure(_log().head(1))
    assert list(one.data[0].y) == [1] and len(one.data) == 1
    empty = charts.rank_changes_figure(_log().head(0))
    assert "nothing published yet" in empty.layout.title.text and not empty.data


# -- impact map -------------------------------------------------------------------------------


def _map() -> pd.DataFrame:
    rows = [
        (
            "finish_onboarding",
            "android_newcomers",
            "finish the profile step",
            "BL-1",
            "Fix",
            "shipped",
        ),
        (
            "finish_onboarding",
            "android_newcomers",
            "finish the profile step",
            "BL-2",
            "Gate",
            "open",
        ),
        ("finish_onboarding", None, None, "BL-3", "Skip profile", "in_progress"),
        ("keep_starter", "starter_teams", "stay past the first month", None, None, None),
        (None, None, None, "BL-9", "SSO", "open"),
    ]
    return pd.DataFrame(
        rows, columns=["objective", "actor", "impact", "item_id", "title", "status"]
    )


def test_impact_map_is_a_tree_from_the_vision_to_the_items_coloured_by_status():
    fig = charts.impact_map_figure(_map(), vision="Small teams report in one sitting")
    _readable(fig)
    by_name = {t.name: t for t in fig.data if t.name}
    objectives = by_name["objective"]
    assert list(objectives.text) == ["finish_onboarding", "keep_starter"]
    assert list(objectives.x) == [1, 1]
    impacts = list(by_name["impact (actor: behaviour)"].text)
    assert impacts[0].startswith("android_newcomers: finish the") and "linked directly" in impacts
    assert any(t.startswith("starter_teams") for t in impacts)  # an impact with no item yet
    assert list(by_name["item: shipped"].text) == ["BL-1 Fix"]
    assert list(by_name["item: open"].text) == ["BL-2 Gate", "BL-9 SSO"]
    assert list(by_name["item: in_progress"].text) == ["BL-3 Skip profile"]
    assert by_name["item: shipped"].marker.color == charts.STATUS_COLOURS["shipped"]
    assert list(by_name[charts.NO_OBJECTIVE].text) == [charts.NO_OBJECTIVE]
    # edges: every node has one line to its parent; items sit at level 3, right of their impact
    edges = fig.data[0]
    assert (
        edges.mode == "lines" and list(edges.x).count(None) == 10
    )  # 3 objective nodes, 3 impacts, 4 items
    # a parent sits between its children: BL-1 at row 0, BL-2 at row 1 -> their impact at 0.5
    item_y = dict(zip(by_name["item: open"].text, by_name["item: open"].y, strict=True))
    shipped_y = by_name["item: shipped"].y[0]
    android = by_name["impact (actor: behaviour)"].y[0]
    assert android == (shipped_y + item_y["BL-2 Gate"]) / 2
    assert "vision: Small teams report in one sitting" in fig.layout.title.text


def test_impact_map_with_one_item_and_with_nothing():
    one = charts.impact_map_figure(_map().head(1))
    items = next(t for t in one.data if t.name == "item: shipped")
    assert list(items.x) == [3]
    empty = charts.impact_map_figure(_map().head(0))
    assert "no objective and no item" in empty.layout.title.text


# -- objectives -------------------------------------------------------------------------------


def _objectives() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "objective": ["finish_onboarding", "keep_starter", "fewer_crash_tickets", "not_yet"],
            "metric": ["conversion", "churn_rate", "theme_volume", "retention"],
            "baseline": [0.80, 0.55, 10.0, 0.3],
            "current": [0.84, 0.60, 4.0, None],
            "target": [0.88, 0.35, 1.0, 0.4],
            "ci_low": [0.82, 0.57, 2.0, None],
            "ci_high": [0.86, 0.63, 6.0, None],
            "direction": ["up", "down", "down", "up"],
        }
    )


def test_objectives_bullets_are_direction_aware_with_intervals_and_targets():
    fig = charts.objectives_figure(_objectives())
    _readable(fig)
    now = next(t for t in fig.data if t.name.startswith("now"))
    # conversion 0.80 -> 0.84 of the way to 0.88: 50%; churn 0.55 -> 0.60 against a target of
    # 0.35: 25% the wrong way (-0.25, red); tickets 10 -> 4 on the way to 1: 66.7%
    assert list(now.x) == pytest.approx([0.5, -0.25, 2 / 3])
    assert list(now.marker.color) == [charts.BETTER, charts.WORSE, charts.BETTER]
    # intervals in the same units: conversion 0.82..0.86 -> 25%..75%; churn 0.57..0.63 (lower is
    # better) -> -40%..-10%; tickets 2..6 -> 88.9%..44.4%
    assert list(now.error_x.array) == pytest.approx([0.25, 0.15, 8 / 9 - 2 / 3])
    assert list(now.error_x.arrayminus) == pytest.approx([0.25, 0.15, 2 / 3 - 4 / 9])
    target = next(t for t in fig.data if t.name == "target")
    assert list(target.x) == [1.0] * 4
    words = next(t for t in fig.data if getattr(t, "mode", "") == "text").text
    assert words[0] == "84.0% now · target 88.0% · baseline 80.0%"
    assert words[2] == "4.0 a week now · target 1.0 a week · baseline 10.0 a week"
    assert words[3].startswith("not measured")
    labels = list(target.y)
    assert "lower is better" in labels[1] and "higher is better" in labels[0]


def test_objectives_target_equal_to_baseline_one_objective_and_none():
    table = _objectives().head(2).copy()
    table.loc[1, "target"] = 0.55
    fig = charts.objectives_figure(table)
    assert len(next(t for t in fig.data if t.name == "target").y) == 1
    assert "keep_starter (target equals baseline)" in _notes(fig)
    one = charts.objectives_figure(_objectives().head(1))
    assert list(next(t for t in one.data if t.name.startswith("now")).x) == pytest.approx([0.5])
    empty = charts.objectives_figure(_objectives().head(0))
    assert "no objective" in empty.layout.title.text


def test_objective_values_read_as_their_metric():
    assert charts.objective_value(0.8421, "conversion") == "84.2%"
    assert charts.objective_value(26, "time_to_convert") == "1 d 2 h"  # hours
    assert charts.objective_value(3600 * 26, "time_to_convert", "seconds") == "1 d 2 h"
    assert charts.objective_value(None, "churn_rate") == "—"


# -- the results' figures ---------------------------------------------------------------------


def _order() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": [1, 2, 3, 4],
            "item_id": ["BL-1", "BL-9", "BL-2", "BL-5"],
            "title": ["Fix crash", "SSO", "Skip profile", "Dashboards"],
            "score": [1386.7, 0.0, 1300.0, None],
            "score_low": [900.0, 0.0, 700.0, None],
            "score_high": [2000.0, 0.0, 1900.0, None],
            "p_top_n": [0.97, 0.0, 0.91, None],
            "reason": ["#1: 1,240 users a week stop at profile_completed", "", "", "no effort"],
            "fits": [True, True, False, None],
            "evidence_rank": [1, 4, 2, 3],
            "override_rank": [None, 2, None, None],
            "override_reason": [None, "Contract <b>ACME</b> needs SSO", None, None],
        }
    )


def test_order_figure_draws_rank_order_intervals_capacity_and_overrides():
    fig = charts.order_figure(_order(), top_n=3)
    _readable(fig)
    bar = fig.data[0]
    assert [y.split()[0] for y in bar.y] == ["#1", "#2", "#3", "#4"]
    assert list(bar.x) == [1386.7, 0.0, 1300.0, 0.0]
    assert list(bar.error_x.array) == pytest.approx([613.3, 0.0, 600.0, 0.0])
    assert list(bar.error_x.arrayminus) == pytest.approx([486.7, 0.0, 600.0, 0.0])
    # beyond the capacity: grey; the override is ringed and its reason (escaped) in the hover
    assert list(bar.marker.color)[2] == charts.FITS_COLOURS[False]
    assert list(bar.marker.line.width) == [0, 3, 0, 0]
    assert "Contract &lt;b&gt;ACME&lt;/b&gt; needs SSO" in bar.customdata[1]
    assert "(the evidence ranks it 4)" in bar.customdata[1]
    assert bar.text[0] == "p(top 3) 97%"
    notes = _notes(fig)
    assert "ringed" in notes and "beyond this cycle's capacity" in notes
    assert "no score (bar at 0): BL-5" in notes
    assert list(fig.layout.yaxis.categoryarray)[-1].startswith("#1")
    assert "no open item" in charts.order_figure(_order().head(0)).layout.title.text


def test_order_figure_draws_a_tradeoff_and_the_overrides_tables():
    trade = pd.DataFrame(
        {
            "item_id": ["BL-9", "BL-2"],
            "title": ["SSO", "Skip profile"],
            "change": ["moved", "slips"],
            "rank_before": [4, 3],
            "rank_after": [1, 4],
            "fits_before": [False, True],
            "fits_after": [True, False],
            "objectives_losing": ["", "finish_onboarding"],
        }
    )
    fig = charts.order_figure(trade)
    assert [list(t.x) for t in fig.data] == [[4, 1], [3, 4]]
    assert fig.data[0].line.color == charts.BETTER and fig.data[1].line.color == charts.WORSE
    assert "finish_onboarding" in fig.data[1].hovertemplate
    overrides = pd.DataFrame(
        {"item_id": ["BL-9"], "rank": [2], "reason": ["ACME"], "active": [True]}
    )
    fig = charts.order_figure(overrides)
    assert list(fig.data[0].x) == [2] and list(fig.data[0].text) == ["ACME"]


def _ledger() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": ["BL-1"] * 6,
            "kind": ["reach", "dropoff", "dropoff_change", "churn_lift", "dropoff_lift", "quote"],
            "link": ["step:profile_completed"] * 3
            + ["theme:crash", "theme:crash,step:profile_completed", "ticket 10006"],
            "value": [310.0, 0.18, 0.08, 2.4, 1.9, 0.7],
            "low": [280.0, 0.16, 0.05, 1.6, 1.3, None],
            "high": [340.0, 0.20, 0.11, 3.5, 2.6, None],
            "n": [1700, 1700, 1700, 90, 80, None],
            "supports": [True, False, True, True, True, True],
            "detail": [
                "310 users a week stop at profile_completed",
                "",
                "",
                "",
                "",
                "It <crashes>",
            ],
            "as_of": [pd.Timestamp("2026-11-16", tz="UTC")] * 6,
        }
    )


def test_evidence_figure_one_panel_per_kind_with_intervals_quotes_counted():
    fig = charts.evidence_figure(_ledger())
    _readable(fig)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"reach", "dropoff", "dropoff_change", "churn_lift", "dropoff_lift"}
    assert list(by_name["dropoff_lift"].text) == ["1.9x"]
    assert list(by_name["reach"].x) == [310.0]
    assert list(by_name["reach"].error_x.array) == pytest.approx([30.0])
    assert list(by_name["dropoff"].text) == ["18.0%"]
    assert list(by_name["dropoff_change"].text) == ["+8.0 pts"]
    assert list(by_name["churn_lift"].text) == ["2.4x"]
    assert list(by_name["dropoff"].marker.color) == [charts.OTHER_COLOUR]  # does not support
    assert list(by_name["reach"].marker.color) == [charts.BETTER]
    assert "1 quotes are in the table" in _notes(fig)
    assert "no measurable link" in charts.evidence_figure(_ledger().head(0)).layout.title.text


def test_impact_figure_before_after_with_significance_the_right_way():
    table = pd.DataFrame(
        {
            "metric": ["conversion", "tickets", "adoption"],
            "link": ["profile_completed", "onboarding_crash", "profile_saved"],
            "before": [0.62, 24.0, 0.30],
            "after": [0.81, 2.5, 0.31],
            "change": [0.19, 0.104, 0.01],
            "ci_low": [0.15, 0.06, -0.02],
            "ci_high": [0.23, 0.17, 0.04],
            "significant": [True, True, False],
            "change_kind": ["difference", "ratio", "difference"],
            "flag": ["", "", "short_after"],
        }
    )
    fig = charts.impact_figure(table, "BL-101")
    _readable(fig)
    assert "BL-101" in fig.layout.title.text
    traces = {t.y[0]: t for t in fig.data}
    assert list(traces["profile_completed"].x) == [0.62, 0.81]
    # conversion up and tickets down are both the way the item meant: green; not significant: grey
    assert traces["profile_completed"].line.color == charts.BETTER
    assert traces["onboarding_crash"].line.color == charts.BETTER
    assert traces["profile_saved"].line.color == charts.OTHER_COLOUR
    # a significant adoption change is not judged good or bad (an error event should fall)
    adoption = table.assign(significant=[True, True, True])
    judged = {t.y[0]: t for t in charts.impact_figure(adoption, "BL-101").data}
    assert judged["profile_saved"].line.color == charts.SIGNIFICANT
    worse = table.assign(change=[-0.19, 1.8, 0.01], ci_low=[-0.23, 1.2, -0.02])
    judged = {t.y[0]: t for t in charts.impact_figure(worse, "BL-101").data}
    assert judged["profile_completed"].line.color == charts.WORSE  # conversion fell
    assert judged["onboarding_crash"].line.color == charts.WORSE  # more tickets
    assert traces["profile_completed"].text[1] == "+19.0 pts (95% CI +15.0 to +23.0) (significant)"
    assert traces["onboarding_crash"].text[1].startswith("x0.1 (95% CI x0.06 to x0.17)")
    assert "profile_saved: short_after" in _notes(fig)


def test_checks_figure_marks_each_failed_check_of_items_not_ready():
    table = pd.DataFrame(
        {
            "item_id": ["BL-5", "BL-5", "BL-9", "BL-1"],
            "check": ["no_effort", "no_evidence_link", "larger_than_capacity", "ok"],
            "detail": ["effort missing", "no link", "16 > 12 person-weeks", ""],
            "ready": [False, False, False, True],
        }
    )
    fig = charts.checks_figure(table)
    _readable(fig)
    assert list(zip(fig.data[0].y, fig.data[0].x, strict=True)) == [
        ("BL-5", "no_effort"),
        ("BL-5", "no_evidence_link"),
        ("BL-9", "larger_than_capacity"),
    ]
    assert "(2 items)" in fig.layout.title.text
    assert "every item is ready" in charts.checks_figure(table.tail(1)).layout.title.text


def test_breakdown_of_an_order_follows_its_ranks_not_the_scores():
    """b.order().figure(): an override put BL-3 first; the breakdown keeps that order."""
    table = SCORES.assign(rank=[2, 3, 1, 4, 5])
    fig = charts.score_breakdown_figure(table, "rice")
    labels = list(next(t for t in fig.data if t.name.startswith("reach")).y)
    assert [lbl.split()[:2] for lbl in labels] == [
        ["#1", "BL-3"],
        ["#2", "BL-1"],
        ["#3", "BL-2"],
        ["#4", "BL-4"],
        ["#5", "BL-5"],
    ]
