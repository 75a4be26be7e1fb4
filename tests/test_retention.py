"""Retention journeys, per rule R1-R4 of the metric contract."""

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


def cells(result, cohort: str) -> list:
    t = result.table[result.table.cohort_start == pd.Timestamp(cohort)]
    return [None if pd.isna(u) else int(u) for u in t.users]


def test_r1_recurring_vs_first_time_cohorts(wb):
    load(
        wb,
        {
            "a": [(0, "signup"), (W, "signup"), (W + 1, "use")],
            "b": [(W, "signup"), (2 * W, "use")],
            "early": [(-2 * W, "signup"), (W, "signup"), (2 * W, "use")],
        },
    )
    rec = wb.retention("signup", "use", intervals=2, date_from="2024-03-04")
    assert cells(rec, "2024-03-04") == [1, 1, 0]  # a signs up, uses the product the next week
    assert cells(rec, "2024-03-11") == [
        3,
        2,
        None,
    ]  # a (same week is interval 0), b and early return in week 2
    first = wb.retention("signup", "use", intervals=2, cohort="first_time", date_from="2024-03-04")
    # early's first signup ever is before the range: in no cohort of the range
    assert cells(first, "2024-03-04") == [1, 1, 0]
    assert cells(first, "2024-03-11") == [1, 1, None]


def test_r2_periods_in_a_time_zone_across_dst_sunday_weeks_and_months(wb):
    # 2024-03-31 02:00 Amsterdam: clocks jump. 23:30 UTC on Sunday 31 March is Monday 01:30 local.
    start = pd.Timestamp("2024-03-24 12:00", tz="UTC")
    load(wb, {"u": [(0, "e"), (7 * D + 11.5 * 3600, "e")]}, start=start)
    utc = wb.retention(intervals=1)
    assert cells(utc, "2024-03-18") == [
        1,
        1,
    ]  # Sunday the 24th and Sunday the 31st, UTC weeks from Monday
    ams = wb.retention(intervals=1, timezone="Europe/Amsterdam")
    # in Amsterdam the second event is Monday 1 April 01:30: the week after, so no return in week 1
    assert cells(ams, "2024-03-18") == [1, 0] and list(
        ams.table.cohort_start.drop_duplicates()
    ) == [pd.Timestamp("2024-03-18"), pd.Timestamp("2024-04-01")]
    sunday = wb.retention(intervals=1, week_start="sunday")
    assert list(sunday.table.cohort_start.drop_duplicates()) == [
        pd.Timestamp("2024-03-24"),
        pd.Timestamp("2024-03-31"),
    ]
    months = wb.retention(period="month", intervals=1)
    assert cells(months, "2024-03-01") == [1, None]  # April is not in the data yet: empty, not 0
    days = wb.retention(period="day", intervals=7)
    assert cells(days, "2024-03-24")[:8] == [1, 0, 0, 0, 0, 0, 0, 1]


def test_r3_interval_zero_once_per_period_and_cumulative(wb):
    load(
        wb,
        {
            "a": [(0, "e"), (1, "e"), (W, "e"), (W + 5, "e"), (3 * W, "e")],
            "b": [(0, "e"), (2 * W, "e")],
            "closer": [(5 * W, "z")],
        },
    )
    r = wb.retention("e", "e", intervals=3, date_to="2024-03-04")
    assert cells(r, "2024-03-04") == [2, 1, 1, 1]  # several events in one week count once
    assert list(r.table.rate) == [1.0, 0.5, 0.5, 0.5]
    c = wb.retention("e", "e", intervals=3, cumulative=True, date_to="2024-03-04")
    assert cells(c, "2024-03-04") == [2, 2, 2, 1]  # returned in week k or later


def test_r4_last_period_incomplete_and_unobservable_cells_null(wb):
    load(wb, {"a": [(0, "e"), (W, "e")], "b": [(W + D, "e")]})
    r = wb.retention(intervals=2)
    t = r.table.set_index(["cohort_start", "interval"])
    last = pd.Timestamp("2024-03-11")
    assert bool(t.loc[(last, 0), "incomplete"]) and pd.isna(t.loc[(last, 1), "users"])
    assert pd.isna(t.loc[(last, 1), "rate"])  # empty, not 0
    assert int(t.loc[(last, 0), "users"]) == 2
    assert not bool(t.loc[(pd.Timestamp("2024-03-04"), 0), "incomplete"])
    fig = r.figure()
    assert fig.data[0].z[1][1] is None or pd.isna(fig.data[0].z[1][1])
    # cells whose period is not over are marked, and the mark is explained on the chart
    assert [list(row) for row in fig.data[0].text] == [["100%", "100%*", ""], ["100%*", "", ""]]
    assert "* not over yet" in fig.layout.annotations[0].text


def test_empty_and_validation(wb):
    load(wb, {"a": [(0, "e")]})
    empty = wb.retention(date_from="2030-01-01", date_to="2030-02-01")
    assert empty.table.empty and list(empty.table.columns) == [
        "cohort_start",
        "cohort_size",
        "interval",
        "users",
        "rate",
        "incomplete",
    ]
    for kwargs, code in [
        ({"period": "year"}, "retention.period"),
        ({"cohort": "first"}, "retention.cohort"),
        ({"intervals": 0}, "retention.intervals"),
        ({"timezone": "Mars/Base"}, "retention.timezone"),
        ({"start_event": "ee", "strict": True}, "retention.unknown_event"),
    ]:
        with pytest.raises(poa.MetricError) as info:
            wb.retention(**kwargs)
        assert info.value.code == code
    assert "WITH" in empty.sql and "events" in empty.sql
