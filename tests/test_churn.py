"""Churn by inactivity and survival journeys (rule L2)."""

from __future__ import annotations

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.metrics import kaplan_meier
from tests.journeys import load


@pytest.fixture
def wb(engine_wb):
    """Every journey here runs on DuckDB and on Spark, with the same expected numbers."""
    return engine_wb


D = 86400
W = 7 * D


def test_l2_churned_after_n_days_and_not_before(wb):
    load(
        wb,
        {
            "early": [(-20 * D, "e")],  # the data's first event: churn shows from 10 days later
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
    assert int(t.churned.sum()) == 4  # early's churn (day -10) falls in a week that is unobservable
    assert set(t.inactive_days) == {10}


def test_l2_periods_before_n_days_of_data_are_empty_and_the_last_is_incomplete(wb):
    load(
        wb,
        {
            "a": [(0, "e")],  # the data's first event (Monday 2024-03-04); churns on day 10
            "b": [
                (0, "e"),
                (2 * D, "e"),
                (30 * D, "e"),
            ],  # churns on day 12; day 30 is the last event
            "c": [(D, "e"), (9 * D, "e")],  # churns on day 19
            "d": [(15 * D, "e"), (22 * D, "e"), (29 * D, "e")],  # never churns
        },
    )
    t = wb.churn(inactive_days=10, period="week").table.set_index("period_start")
    weeks = [pd.Timestamp(d) for d in ("2024-03-04", "2024-03-11", "2024-03-18", "2024-03-25")]
    # weeks beginning on day 0 and day 7 (< 10 days after the first event) cannot show churn:
    # empty, not 0% (the week of the 11th held a's and b's churn, but not all it could have)
    assert list(t.observable) == [False, False, True, True, True]
    assert pd.isna(t.loc[weeks[0], "churn_rate"]) and pd.isna(t.loc[weeks[0], "churned"])
    assert pd.isna(t.loc[weeks[1], "churn_rate"]) and pd.isna(t.loc[weeks[1], "churned"])
    assert (t.loc[weeks[2], "active_at_start"], t.loc[weeks[2], "churned"]) == (1, 1)  # c
    assert t.loc[weeks[3], "churn_rate"] == 0.0  # observable and nobody churned: a real 0%
    assert list(t.incomplete) == [False, False, False, False, True]  # day 30 is in the last week
    fig = wb.churn(inactive_days=10).figure()
    assert all(pd.isna(y) for y in list(fig.data[0].y)[:2])  # gaps in the line, not 0%
    assert "incomplete" in fig.to_json()


def test_l2_users_without_the_segment_property_are_a_named_group(wb):
    load(
        wb,
        {
            "s1": [(0, "e", {"plan": "starter"}), (D, "e", {"plan": "pro"})],
            "p1": [(0, "e", {"plan": "pro"})],
            "anon": [(0, "e")],
            "blank": [(0, "e", {"plan": ""})],
            "end": [(60 * D, "z")],
        },
    )
    c = wb.churn(inactive_days=7, segment="plan")
    assert set(c.table.segment) == {"no plan", "pro", "starter"}
    fig = c.figure()
    assert {tr.name for tr in fig.data} == {"no plan", "pro", "starter"}
    said = " ".join(a.text for a in fig.layout.annotations)
    assert '"no plan"' in said and "no plan property" in said
    assert "(none)" not in fig.to_json()


def test_l2_churn_rate_denominator_is_users_active_at_the_start(wb):
    load(
        wb,
        {
            "a": [
                (-2 * D, "e")
            ],  # active at the start of the week of 2024-03-04, churns day 8 -> next week
            "b": [(-5 * D, "e")],  # active at the start, churns on day 5 (inside the week)
            "c": [(1 * D, "e")],  # starts during the week: not in the denominator
            "first": [(-30 * D, "e")],  # the data starts 30 days before: the week is observable
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
    assert t.groupby("segment").churned.sum().to_dict() == {"no plan": 0, "pro": 1, "starter": 1}


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
        wb.survival(signup_event="signedup", strict=True)
    assert info.value.code == "survival.unknown_event"


def test_survival_date_range_picks_the_signup_cohort_and_follows_it_to_the_datas_end(wb):
    """date_from/date_to pick users whose FIRST signup falls in the range (a bare date_to is the whole
    day); their follow-up runs on past date_to to the data's end, like a funnel's window (F12)."""
    load(
        wb,
        {
            "early": [(0, "signed_up"), (1 * D, "use")],  # signed up before the range
            # first signup before the range: a second signup inside it does not make a new cohort
            "again": [(0, "signed_up"), (10 * D, "signed_up")],
            "in1": [(3 * D, "signed_up"), (5 * D, "use")],  # quiet from day 5: churns day 10
            "in2": [
                (4 * D + 3600 * 20, "signed_up"),
                (6 * D, "use"),
                (30 * D, "use"),
            ],  # churns day 11
            "late": [(12 * D, "signed_up"), (13 * D, "use")],  # after the range
        },
    )
    day = pd.Timestamp("2024-03-04")  # T0
    every = wb.survival(inactive_days=5).table
    assert every.at_risk.iloc[0] == 5
    s = wb.survival(
        inactive_days=5,
        date_from=(day + pd.Timedelta(days=3)).date().isoformat(),
        date_to=(day + pd.Timedelta(days=4)).date().isoformat(),  # the whole of day 4
    )
    t = s.table
    assert t.at_risk.iloc[0] == 2  # in1 and in2
    # in1 churns 7 days after signup (day 10), in2 on day 11, which is after date_to: still counted
    assert list(t.day) == [0, 6, 7] and t.survival.tolist() == pytest.approx([1.0, 0.5, 0.0])
    with pytest.raises(poa.MetricError) as info:
        wb.survival(date_from="2024-03-10", date_to="2024-03-01")
    assert info.value.code == "survival.date_range"
