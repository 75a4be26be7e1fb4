"""Lifecycle (L1) and stickiness journeys."""

from __future__ import annotations

import pandas as pd
import pytest

import poanalytics as poa
from tests.journeys import load


@pytest.fixture
def wb(engine_wb):
    """Every journey here runs on DuckDB and on Spark, with the same expected numbers."""
    return engine_wb


D = 86400
W = 7 * D


def test_l1_new_returning_resurrecting_dormant(wb_file):
    load(
        wb_file,
        {
            "a": [(0, "e"), (W, "e"), (3 * W, "e")],  # new, returning, (dormant), resurrecting
            "b": [(W, "e")],  # new in week 1, dormant in week 2
            "c": [(2 * W, "e"), (2 * W + D, "e")],  # new in week 2, dormant in week 3
        },
    )
    t = wb_file.lifecycle().table
    assert list(t.period_start) == [
        pd.Timestamp(d) for d in ("2024-03-04", "2024-03-11", "2024-03-18", "2024-03-25")
    ]
    assert list(t.new) == [1, 1, 1, 0]
    assert list(t.returning) == [0, 1, 0, 0]
    assert list(t.resurrecting) == [0, 0, 0, 1]
    assert list(t.dormant) == [0, 0, -2, -1]
    fig = wb_file.lifecycle().figure()
    assert [tr.name for tr in fig.data] == ["new", "returning", "resurrecting", "dormant"]


def test_l1_new_means_first_event_ever_even_before_the_range(wb):
    load(wb, {"old": [(0, "e"), (2 * W, "e")], "fresh": [(2 * W, "e")]})
    t = wb.lifecycle(date_from="2024-03-18").table
    assert (int(t.new[0]), int(t.resurrecting[0])) == (1, 1)


def test_stickiness_counts_local_days(wb):
    load(wb, {"u": [(0, "e"), (3600, "e"), (D, "e")], "v": [(0, "e")]})
    t = wb.stickiness().table
    assert list(zip(t.active_days, t.users, strict=True)) == [(1, 1), (2, 1)]


def test_validation_and_empty(wb):
    load(wb, {"u": [(0, "e")]})
    with pytest.raises(poa.MetricError) as info:
        wb.lifecycle(period="quarter")
    assert info.value.code == "lifecycle.period"
    with pytest.raises(poa.MetricError) as info:
        wb.lifecycle(event="f", strict=True)
    assert info.value.code == "lifecycle.unknown_event"


# --- lifecycle by segment (issue 9): the segment is churn's (L2), statuses are L1's per segment ---

WEEKS = [pd.Timestamp(d) for d in ("2024-03-04", "2024-03-11", "2024-03-18", "2024-03-25")]
STATES = ["new", "returning", "resurrecting", "dormant"]


def _plans(wb):
    """Weeks 0-3. starter: s1 (first plan wins over the later "pro"), s2; pro: p1 (no plan on
    its first event, pro later), p2 (an empty plan first, pro later); no plan: n1."""
    return load(
        wb,
        {
            # new W0, returning W1, dormant W2, resurrecting W3
            "s1": [(0, "e", {"plan": "starter"}), (W, "e", {"plan": "pro"}), (3 * W, "e")],
            "s2": [(W + D, "e", {"plan": "starter"})],  # new W1, dormant W2
            # new W0, dormant W1, resurrecting W2, dormant W3
            "p1": [(D, "e"), (2 * W, "e", {"plan": "pro"})],
            # new W1, returning W2, dormant W3
            "p2": [(W, "e", {"plan": ""}), (W + D, "e", {"plan": "pro"}), (2 * W + D, "e")],
            "n1": [
                (0, "e"),
                (W, "e"),
                (3 * W + D, "e"),
            ],  # new W0, returning W1, dormant W2, resurr. W3
        },
    )


def test_lifecycle_by_segment_by_hand(wb):
    _plans(wb)
    t = wb.lifecycle(segment="plan").table
    assert list(t.columns) == ["period_start", "segment", *STATES]
    assert sorted(set(t.segment)) == ["no plan", "pro", "starter"]
    expected = {
        "starter": {
            "new": [1, 1, 0, 0],
            "returning": [0, 1, 0, 0],
            "resurrecting": [0, 0, 0, 1],
            "dormant": [0, 0, -2, 0],
        },
        "pro": {
            "new": [1, 1, 0, 0],
            "returning": [0, 0, 1, 0],
            "resurrecting": [0, 0, 1, 0],
            "dormant": [0, -1, 0, -2],
        },
        "no plan": {
            "new": [1, 0, 0, 0],
            "returning": [0, 1, 0, 0],
            "resurrecting": [0, 0, 0, 1],
            "dormant": [0, 0, -1, 0],
        },
    }
    for seg, states in expected.items():
        rows = t[t.segment == seg].sort_values("period_start")
        assert list(rows.period_start) == WEEKS, seg  # every period, zeros included
        for state, values in states.items():
            assert [int(v) for v in rows[state]] == values, (seg, state)


def test_lifecycle_segments_sum_to_the_unsegmented_lifecycle(wb):
    _plans(wb)
    whole = wb.lifecycle().table.set_index("period_start")[STATES].astype(int)
    parts = wb.lifecycle(segment="plan").table.groupby("period_start")[STATES].sum().astype(int)
    pd.testing.assert_frame_equal(parts, whole, check_names=False)


def test_lifecycle_segments_sum_on_a_random_log(wb):
    import random

    rng = random.Random(9)
    plans = ["free", "starter", "pro", "", None]
    journeys = {}
    for i in range(150):
        events = []
        for _ in range(rng.randint(1, 8)):
            plan = rng.choice(plans)
            events.append((rng.randint(0, 60 * D), "e", None if plan is None else {"plan": plan}))
        journeys[f"u{i}"] = events
    load(wb, journeys)
    for period, kw in (("week", {}), ("day", {"date_from": "2024-03-20", "date_to": "2024-04-10"})):
        whole = wb.lifecycle(period=period, **kw).table.set_index("period_start")[STATES]
        parts = wb.lifecycle(period=period, segment="plan", **kw).table
        summed = parts.groupby("period_start")[STATES].sum()
        pd.testing.assert_frame_equal(summed.astype(int), whole.astype(int), check_names=False)
        assert len(parts) == len(whole) * parts.segment.nunique()


def test_lifecycle_segment_is_checked(wb):
    _plans(wb)
    with pytest.raises(poa.MetricError) as info:
        wb.lifecycle(segment="plna")
    assert info.value.code == "lifecycle.unknown_property"
    assert "plan" in str(info.value)  # did you mean
    for bad in ("", 3):
        with pytest.raises(poa.MetricError) as info:
            wb.lifecycle(segment=bad)
        assert info.value.code == "lifecycle.segment"
    with pytest.raises(poa.MetricError) as info:
        poa.metrics.run_stickiness(wb.con, poa.metrics.LifecycleQuery(segment="plan"))
    assert info.value.code == "stickiness.segment"  # no silent unsegmented answer


def test_lifecycle_by_segment_figure_has_a_facet_per_segment(wb):
    _plans(wb)
    fig = wb.lifecycle(segment="plan").figure()
    assert fig.layout.title.text.startswith("Lifecycle by week and plan")
    titles = [a.text for a in fig.layout.annotations]
    assert {"no plan", "pro", "starter"} <= set(titles)
    assert any('"no plan"' in a for a in titles)  # the group without the property is named
    assert {tr.name for tr in fig.data} == set(STATES)
    assert len(fig.data) == 3 * 4  # four states in each of three facets
    assert sum(bool(tr.showlegend) for tr in fig.data) == 4  # one legend entry per state
