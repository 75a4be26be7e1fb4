"""Rates over time (F15): funnel trends and breakdown call-outs count only entrants whose window has
closed; entrants still in their window are reported beside the rate, and a period with many of
them (> 10% of its entrants) is marked incomplete and never called out."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.metrics.funnel_analysis import INCOMPLETE_SHARE
from tests.journeys import at, load

H = 3600
D = 86400
W = 7 * D


def test_f15_early_converters_alone_never_make_a_rate(wb):
    journeys = {}
    for i in range(40):  # week 1: 40 entrants, every window closed, 30 convert
        journeys[f"w1_{i}"] = [(i * 60, "a")] + ([(i * 60 + 600, "b")] if i < 30 else [])
    for i in range(
        100
    ):  # week 2: 100 entrants, all still in their 1-day window; 40 converted early
        journeys[f"w2_{i}"] = [(W + i * 60, "a")] + ([(W + i * 60 + 600, "b")] if i < 40 else [])
    journeys["end"] = [(W + 12 * H, "z")]  # the data ends half a day into week 2
    load(wb, journeys)
    t = wb.funnel(["a", "b"], window="1d").trend("week")
    assert list(t.entrants) == [40, 100]
    assert list(t.users) == [40, 0]  # the rate's denominator: windows closed
    assert list(t.converted) == [30, 0]
    assert list(t.in_progress) == [0, 100]
    assert list(t.converted_in_progress) == [0, 40]  # beside the rate, never in it
    assert t.rate[0] == 0.75 and math.isnan(t.rate[1])  # was 40/40 = 100%
    assert list(t.incomplete) == [False, True]
    assert list(t.clear_change) == [False, False]  # was called out as a clear rise
    assert math.isnan(t.p_value_vs_previous[1])


def test_f15_a_period_is_incomplete_above_ten_percent_in_progress(wb):
    assert INCOMPLETE_SHARE == 0.10
    journeys = {}
    for i in range(90):  # day 1: 90 entrants whose 1-hour window closed, 45 convert
        journeys[f"closed{i}"] = [(D + i * 60, "a")] + ([(D + i * 60 + 600, "b")] if i < 45 else [])
    for i in range(10):  # ... and 10 entering at 23:35-23:44, still open at the end; 4 converted
        t0 = 2 * D - 25 * 60 + i * 60
        journeys[f"open{i}"] = [(t0, "a")] + ([(t0 + 60, "b")] if i < 4 else [])
    for i in range(3):  # day 2: 3 entrants, all open
        journeys[f"day2_{i}"] = [(2 * D + i * 60, "a")] + (
            [(2 * D + i * 60 + 30, "b")] if i < 1 else []
        )
    journeys["end"] = [(2 * D + 30 * 60, "z")]
    load(wb, journeys)
    t = wb.funnel(["a", "b"], window="1h").trend("day").set_index("period_start")
    day1, day2 = (
        t.loc[pd.Timestamp("2024-03-05", tz="UTC")],
        t.loc[pd.Timestamp("2024-03-06", tz="UTC")],
    )
    assert (day1.entrants, day1.users, day1.converted) == (100, 90, 45)
    assert (day1.in_progress, day1.converted_in_progress) == (10, 4)
    assert day1.rate == 0.5 and day1.in_progress_share == pytest.approx(0.10)
    assert not day1.incomplete  # exactly 10% is not "many"
    assert (day2.entrants, day2.users, day2.in_progress, day2.converted_in_progress) == (3, 0, 3, 1)
    assert day2.incomplete and not day2.clear_change


def test_f15_trend_by_attempt_counts_the_attempt_that_gave_the_result(wb):
    load(
        wb,
        {
            "retry": [(0, "a"), (W, "a"), (W + 60, "b")],  # fails in week 1, converts in week 2
            "once": [(10, "a"), (70, "b")],
            "fail": [(W + 100, "a")],
            "end": [(30 * D, "z")],
        },
    )
    f = wb.funnel(["a", "b"], window="1h")
    entry = f.trend("week", by="entry")
    assert list(entry.users) == [2, 1] and list(entry.converted) == [2, 0]
    attempt = f.trend("week", by="attempt")
    assert list(attempt.users) == [1, 2] and list(attempt.converted) == [1, 1]
    with pytest.raises(poa.MetricError) as bad:
        f.trend("week", by="entrance")
    assert bad.value.code == "funnel.trend_by" and "entry" in bad.value.hint
    # unordered funnels keep the start of the attempt behind each result (F16), so they trend by it
    unordered = wb.funnel(["a", "b"], window="1h", order="unordered").trend("week", by="attempt")
    assert list(unordered.users) == [1, 2] and list(unordered.converted) == [1, 1]


def test_f15_trend_figure_marks_incomplete_periods(wb):
    journeys = {f"u{i}": [(i * 60, "a"), (i * 60 + 10, "b")] for i in range(5)}
    journeys |= {f"v{i}": [(W + i * 60, "a")] for i in range(5)}
    journeys["end"] = [(W + H, "z")]
    load(wb, journeys)
    fig = wb.funnel(["a", "b"], window="1d").trend_figure("week")
    text = fig.layout.title.text
    assert "window has closed" in text
    marked = [tr for tr in fig.data if tr.name and "incomplete" in tr.name]
    assert len(marked) == 1 and len(marked[0].x) == 1


def test_f15_breakdown_callouts_leave_in_progress_users_out(wb):
    journeys = {}
    for i in range(60):  # web and ios both convert 30 of 60 closed entrants
        journeys[f"web{i}"] = [(i * 60, "a", {"platform": "web"})] + (
            [(i * 60 + 10, "b")] if i < 30 else []
        )
        journeys[f"ios{i}"] = [(i * 60, "a", {"platform": "ios"})] + (
            [(i * 60 + 10, "b")] if i < 30 else []
        )
    for i in range(60):  # and 60 more ios users entered just before the end: still in their window
        journeys[f"ios_new{i}"] = [(5 * D + i, "a", {"platform": "ios"})]
    journeys["end"] = [(5 * D + 2 * H, "z")]
    load(wb, journeys)
    calls = wb.funnel(["a", "b"], window="1d", breakdown="platform").callouts()
    calls = calls.set_index("breakdown")
    ios = calls.loc["ios"]
    assert (ios.users, ios.converted, ios.in_progress) == (60, 30, 60)  # was 120 users, 25%
    assert ios.rate == 0.5 and ios.incomplete and not ios.clear
    web = calls.loc["web"]
    assert (web.users, web.converted, web.in_progress) == (60, 30, 0)
    assert web.rest_rate == 0.5 and not web.clear  # was "clearly better" than 25%


def test_f15_process_log_month_is_not_called_out_on_early_converters(wb, shared_data):
    """The receipt-phase log (WABO): January 2012 used to show 47/47 = 100% and a clear change."""
    wb.load_events(
        shared_data / "events" / "receipt_wabo.csv",
        columns={"user_id": "case:concept:name", "event": "concept:name", "ts": "time:timestamp"},
    )
    steps = ["Confirmation of receipt", "T10 Determine necessity to stop indication"]
    t = wb.funnel(steps, window="30d").trend("month").set_index("period_start")
    jan = t.loc[pd.Timestamp("2012-01-01", tz="UTC")]
    assert (jan.entrants, jan.users, jan.in_progress, jan.converted_in_progress) == (56, 0, 56, 47)
    assert jan.incomplete and not jan.clear_change and math.isnan(jan.rate)
    # the same numbers by hand: each case has one receipt; converted when T10 follows within
    # 30 days; counted when those 30 days ended before the log's last event
    by_hand = wb.sql(
        """
        WITH r AS (SELECT user_id, ts AS t1 FROM events WHERE event = $a),
        c AS (SELECT r.user_id, r.t1,
                     bool_or(e.ts IS NOT NULL) AS conv
              FROM r LEFT JOIN events e ON e.user_id = r.user_id AND e.event = $b
                   AND e.ts >= r.t1 AND e.ts <= r.t1 + INTERVAL 30 DAY GROUP BY ALL)
        SELECT date_trunc('month', t1) AS period_start, count(*) AS entrants,
               count(*) FILTER (WHERE t1 + INTERVAL 30 DAY <= (SELECT max(ts) FROM events)) AS users,
               count(*) FILTER (WHERE conv AND t1 + INTERVAL 30 DAY <= (SELECT max(ts) FROM events))
                   AS converted
        FROM c GROUP BY 1 ORDER BY 1""",
        {"a": steps[0], "b": steps[1]},
    ).set_index("period_start")
    assert t.entrants.tolist() == by_hand.entrants.tolist()
    assert t.users.tolist() == by_hand.users.tolist()
    assert t.converted.tolist() == by_hand.converted.tolist()
    dec = t.loc[pd.Timestamp("2011-12-01", tz="UTC")]
    # December: 2 of 49 cases still in their window (entered after Dec 24), 4% -> complete
    assert (dec.entrants, dec.users, dec.converted, dec.in_progress) == (49, 47, 36, 2)
    assert not dec.incomplete
    assert not t[t.incomplete].clear_change.any()
    assert (t.users + t.in_progress == t.entrants).all()


def test_f13_nobody_entered_gives_empty_trend_and_callouts_with_their_columns(wb):
    load(wb, {"u": [(0, "a", {"platform": "web"}), (1, "b")]})
    f = wb.funnel(["a", "b"], window="1h", breakdown="platform", date_from=at(3 * D))
    assert f.trend().empty and "incomplete" in f.trend().columns
    calls = f.callouts()
    assert calls.empty and {"users", "in_progress", "clear"} <= set(calls.columns)
    assert f.trend_figure() is not None
