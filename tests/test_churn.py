"""Churn by inactivity and survival journeys (rule L2)."""

from __future__ import annotations

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.metrics import kaplan_meier
from tests.journeys import load

D = 86400
W = 7 * D


def test_l2_churned_after_n_days_and_not_before(wb):
    load(
        wb,
        {
            "quiet": [(0, "e")],  # churns at day 10 (N = 10)
            "back": [(0, "e"), (9 * D, "e")],  # a 9-day gap is not churn; churns at day 19
            "late": [
                (0, "e"),
                (12 * D, "e"),
            ],  # churns at day 10, comes back, churns again at day 22
            "end": [(30 * D, "z")],  # the data runs to day 30
        },
    )
    t = wb.churn(inactive_days=10, period="week").table.set_index("period_start")
    # weeks start 2024-03-04; churn moments: quiet day 10 and late day 10 (week 2), back day 19 (week 3),
    # late day 22 (week 4); "end" has not churned by the data's end (day 40 > day 30)
    assert int(t.loc[pd.Timestamp("2024-03-11"), "churned"]) == 2
    assert int(t.loc[pd.Timestamp("2024-03-18"), "churned"]) == 1
    assert int(t.loc[pd.Timestamp("2024-03-25"), "churned"]) == 1
    assert int(t.churned.sum()) == 4
    assert set(t.inactive_days) == {10}


def test_l2_churn_rate_denominator_is_users_active_at_the_start(wb):
    load(
        wb,
        {
            "a": [
                (-2 * D, "e")
            ],  # active at the start of the week of 2024-03-04, churns day 8 -> next week
            "b": [(-5 * D, "e")],  # active at the start, churns on day 5 (inside the week)
            "c": [(1 * D, "e")],  # starts during the week: not in the denominator
            "end": [(30 * D, "z")],
        },
    )
    t = wb.churn(inactive_days=10).table.set_index("period_start")
    row = t.loc[pd.Timestamp("2024-03-04")]
    assert (int(row.active_at_start), int(row.churned)) == (2, 1)
    assert row.churn_rate == pytest.approx(0.5)
    fig = wb.churn(inactive_days=10).figure()
    assert "no event for 10 days" in fig.layout.title.text


def test_l2_churn_by_segment_uses_the_first_event(wb):
    load(
        wb,
        {
            "s1": [(0, "e", {"plan": "starter"}), (D, "e", {"plan": "pro"})],
            "p1": [(0, "e", {"plan": "pro"})],
            "end": [(60 * D, "z")],
        },
    )
    t = wb.churn(inactive_days=7, segment="plan").table
    assert t.groupby("segment").churned.sum().to_dict() == {"": 0, "pro": 1, "starter": 1}


def test_kaplan_meier_by_hand():
    # 5 users: churn on days 2, 2, 5; censored on days 3 and 6
    counts = pd.DataFrame(
        {
            "group": ["all"] * 4,
            "day": [2, 3, 5, 6],
            "events": [2, 0, 1, 0],
            "censored": [0, 1, 0, 1],
        }
    )
    t = kaplan_meier(counts)
    assert list(t.day) == [0, 2, 5]
    assert list(t.at_risk) == [5, 5, 2]
    assert t.survival.tolist() == pytest.approx([1.0, 0.6, 0.3])
    assert (t.ci_low <= t.survival).all() and (t.survival <= t.ci_high).all()


def test_survival_from_signup_with_censoring(wb_file):
    load(
        wb_file,
        {
            "a": [
                (0, "signed_up", {"plan": "starter"}),
                (2 * D, "use"),
            ],  # churns day 2 + 5 = day 7
            "b": [(0, "signed_up", {"plan": "pro"}), (20 * D, "use")],  # churns day 5 (gap > 5)
            "c": [
                (0, "signed_up", {"plan": "pro"}),
                (4 * D, "use"),
                (8 * D, "use"),
                (12 * D, "use"),
                (16 * D, "use"),
            ],  # censored at day 20
        },
    )
    s = wb_file.survival(inactive_days=5)
    t = s.table
    assert list(t.day) == [0, 5, 7]
    assert t.survival.tolist() == pytest.approx([1.0, 2 / 3, 1 / 3])
    by = wb_file.survival(inactive_days=5, by="plan").table
    assert by[by.group == "starter"].survival.iloc[-1] == 0.0
    assert s.figure().data[0].y[-1] == pytest.approx(1 / 3)


def test_validation(wb):
    load(wb, {"u": [(0, "e")]})
    with pytest.raises(poa.MetricError) as info:
        wb.churn(inactive_days=0)
    assert info.value.code == "churn.inactive_days"
    with pytest.raises(poa.MetricError) as info:
        wb.survival(signup_event="signedup")
    assert info.value.code == "survival.unknown_event"
