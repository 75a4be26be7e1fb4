"""Funnel journeys, one or more per rule of the metric contract (F1-F14), on DuckDB and on Spark.

The strategies and the SQL they build are DuckDB's: those tests take ``duck_wb``. The result's
views (trends, conversion-time histograms, call-outs) run on both engines."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics import Exclusion, Step
from tests.journeys import at, counts, load

H = 3600
D = 86400


@pytest.fixture
def wb(engine_wb):
    """Every journey here runs on DuckDB and on Spark, with the same expected numbers."""
    return engine_wb


def test_f1_users_counted_once_at_their_furthest_step(wb):
    load(
        wb,
        {
            "u1": [
                (0, "a"),
                (10, "b"),
                (20, "c"),
                (30, "a"),
                (40, "b"),
            ],  # two attempts, furthest 3
            "u2": [(0, "a"), (10, "b")],
            "u3": [(0, "a")],
            "closer": [
                (2 * H, "z")
            ],  # the data runs past every window, so nobody is still in progress
        },
    )
    f = wb.funnel(["a", "b", "c"], window="1h")
    assert counts(f) == [3, 2, 1]
    assert list(f.table.dropped) == [0, 1, 1]
    assert f.users(3) == ["u1"] and f.users(2) == ["u1", "u2"]
    assert list(f.table.conversion_from_previous) == [1.0, pytest.approx(2 / 3), 0.5]


def test_f2_property_filters_and_any_event_steps(wb):
    load(
        wb,
        {
            "u1": [(0, "view", {"page": "pricing"}), (10, "buy")],
            "u2": [(0, "view", {"page": "home"}), (10, "buy")],
            "u3": [(0, "view"), (10, "buy")],  # missing property never matches
            "u4": [(0, "view", {"page": "pricing"}), (5, "scroll"), (10, "buy")],
        },
    )
    f = wb.funnel([Step("view", where={"page": "pricing"}), "buy"], window="1h")
    assert counts(f) == [2, 2]
    any_then_buy = wb.funnel(["view", None, "buy"], window="1h")
    assert counts(any_then_buy) == [4, 4, 1]  # only u4 has another event between view and buy
    same_twice = wb.funnel(["view", "view"], window="1h")
    assert counts(same_twice) == [4, 0]


def test_f3_one_event_fills_one_step(wb):
    load(
        wb,
        {
            "u1": [(0, "signup")],
            "u2": [(0, "signup"), (5, "signup")],
            "u3": [(0, "x"), (1, "y")],
            "u4": [(0, "x"), (1, "y"), (2, "z")],
        },
    )
    assert counts(wb.funnel(["signup", "signup"], window="1h")) == [2, 1]
    assert counts(wb.funnel([None, None, None], window="1h")) == [4, 3, 1]


def test_f4_every_step_one_event_starts_an_attempt_and_the_best_counts(wb):
    # the first attempt stalls; a later step-1 event starts one that completes
    load(wb, {"u1": [(0, "a"), (2 * H, "a"), (2 * H + 60, "b")]})
    f = wb.funnel(["a", "b"], window="1h")
    assert counts(f) == [1, 1]
    # F11: times come from the first attempt that reached the furthest step
    assert f.table.mean_seconds_from_previous[1] == 60


def test_f5_window_edge_is_included_and_counted_in_exact_seconds(wb):
    load(wb, {"edge": [(0, "a"), (300, "b")], "over": [(0, "a"), (301, "b")]})
    f = wb.funnel(["a", "b"], window="5m")
    assert f.users(2) == ["edge"]


def test_f5_dst_changes_do_not_stretch_windows(wb):
    # Europe switched to summer time on 2024-03-31; a 1-day window is 86,400 s whatever the clock says
    from pandas import Timestamp

    start = Timestamp("2024-03-30 12:00:00", tz="UTC")
    load(wb, {"in": [(0, "a"), (D, "b")], "out": [(0, "a"), (D + 1, "b")]}, start=start)
    assert wb.funnel(["a", "b"], window="1d").users(2) == ["in"]


def test_f6_ties_convert_in_step_order_and_identical_events_are_two(wb):
    load(
        wb,
        {
            "same_instant": [(0, "b"), (0, "a")],  # recorded b first, still a -> b at one instant
            "one_event": [(0, "signup")],  # cannot be both steps
            "two_identical": [(0, "signup"), (0, "signup")],
        },
    )
    assert wb.funnel(["a", "b"], window="1h").users(2) == ["same_instant"]
    assert wb.funnel(["signup", "signup"], window="1h").users(2) == ["two_identical"]


def test_f7_strict_order_breaks_on_other_events_and_restarts(wb):
    load(
        wb,
        {
            "clean": [(0, "a"), (1, "b"), (2, "c")],
            "repeat_ok": [(0, "a"), (1, "a"), (2, "b"), (3, "b"), (4, "c")],
            "broken": [(0, "a"), (1, "x"), (2, "b"), (3, "c")],
            "retry": [
                (0, "a"),
                (1, "x"),
                (2, "a"),
                (3, "b"),
                (4, "c"),
            ],  # a, x, a, b, c reaches step 3
            "closer": [(2 * H, "z")],
        },
    )
    strict = wb.funnel(["a", "b", "c"], window="1h", order="strict")
    assert strict.users(3) == ["clean", "repeat_ok", "retry"]
    assert strict.dropped(2) == ["broken"]
    assert counts(wb.funnel(["a", "b", "c"], window="1h")) == [4, 4, 4]  # ordered mode allows the x


def test_f8_unordered_counts_distinct_steps_within_a_window(wb):
    load(
        wb,
        {
            "any_order": [(0, "c"), (1, "a"), (2, "b")],
            "two_of_three": [(0, "b"), (1, "a")],
            "too_slow": [(0, "a"), (2 * H, "b")],
        },
    )
    f = wb.funnel(["a", "b", "c"], window="1h", order="unordered")
    assert counts(f) == [3, 2, 1]
    assert list(f.table.name) == [f"completed at least {k} of 3 steps" for k in (1, 2, 3)]


def test_f9_exclusions_remove_users_unless_a_clean_attempt_is_as_deep(wb):
    load(
        wb,
        {
            "excluded": [(0, "a"), (1, "x"), (2, "b")],
            "clean_later": [(0, "a"), (1, "x"), (2, "b"), (100, "a"), (101, "b")],
            "x_before": [(0, "x"), (1, "a"), (2, "b")],
            "x_same_instant": [
                (0, "a"),
                (5, "x"),
                (5, "b"),
            ],  # at the same instant as a step: ignored
            "not_reached": [(0, "a"), (1, "x")],  # tainted while heading for step 2: removed
        },
    )
    f = wb.funnel(["a", "b"], window="1h", exclusions=[Exclusion("x", from_step=0, to_step=1)])
    assert f.users(1) == ["clean_later", "x_before", "x_same_instant"]
    assert counts(f) == [3, 3]


def test_f9_unordered_exclusion_clears_progress_and_user_stays(wb):
    load(wb, {"u": [(0, "a"), (1, "x"), (2, "b")]})
    f = wb.funnel(["a", "b"], window="1h", order="unordered", exclusions=[Exclusion("x", 0, 1)])
    assert counts(f) == [1, 0]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"steps": ["a"]}, "funnel.too_few_steps"),
        ({"steps": ["a", "b"], "window": "0d"}, "funnel.window"),
        ({"steps": ["a", "b"], "window": "3 fortnights"}, "funnel.window_format"),
        ({"steps": ["a", "b"], "exclusions": [Exclusion("x", 1, 1)]}, "funnel.exclusion_range"),
        ({"steps": ["a", "b"], "exclusions": [Exclusion("x", 0, 2)]}, "funnel.exclusion_range"),
        ({"steps": ["a", "b"], "exclusions": [Exclusion("a", 0, 1)]}, "funnel.exclusion_is_step"),
        ({"steps": ["a", "bb"], "strict": True}, "funnel.unknown_event"),
        ({"steps": ["a", Step("b", where={"plann": "pro"})]}, "funnel.unknown_property"),
        ({"steps": ["a", "b"], "order": "sorted"}, "funnel.order"),
    ],
)
def test_f9_and_api_validation_codes(wb, kwargs, code):
    load(wb, {"u": [(0, "a", {"plan": "pro"}), (1, "b"), (2, "x")]})
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(**kwargs)
    assert info.value.code == code
    assert "What to do" in str(info.value)


def test_unknown_event_says_did_you_mean(wb):
    load(wb, {"u": [(0, "signed_up"), (1, "activated")]})
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(["signedup", "activated"], strict=True)
    assert "Did you mean 'signed_up'" in str(info.value)


def test_f10_breakdown_attributions(wb):
    load(
        wb,
        {
            "u1": [(0, "a", {"src": "ads"}), (10, "a", {"src": "seo"}), (20, "b", {"src": "seo"})],
            "u2": [(0, "a"), (10, "b", {"src": "ads"})],
        },
    )
    first = wb.funnel(["a", "b"], window="1h", breakdown="src")
    by = {(r.breakdown, r.step): r.users for r in first.table.itertuples()}
    assert by == {
        ("", 1): 1,
        ("", 2): 1,
        ("ads", 1): 1,
        ("ads", 2): 1,
    }  # u1 -> ads, u2 -> "" (none)
    last = wb.funnel(["a", "b"], window="1h", breakdown="src", attribution="last_touch")
    by = {(r.breakdown, r.step): r.users for r in last.table.itertuples()}
    assert by == {("ads", 1): 1, ("ads", 2): 1, ("seo", 1): 1, ("seo", 2): 1}
    every = wb.funnel(["a", "b"], window="1h", breakdown="src", attribution="all_events")
    by = {(r.breakdown, r.step): r.users for r in every.table.itertuples()}
    # u1 runs once with its ads events (a only) and once with its seo events (a, b); u2's a has no src
    assert by == {
        ("", 1): 1,
        ("", 2): 0,
        ("ads", 1): 1,
        ("ads", 2): 0,
        ("seo", 1): 1,
        ("seo", 2): 1,
    }
    step2 = wb.funnel(
        ["a", "b"], window="1h", breakdown="src", attribution="step", breakdown_step=2
    )
    by = {(r.breakdown, r.step): r.users for r in step2.table.itertuples()}
    assert by == {("ads", 1): 1, ("ads", 2): 1, ("seo", 1): 1, ("seo", 2): 1}
    assert step2.users(2, breakdown_value="ads") == ["u2"]


LAST_TOUCH_TIE = {"u": [(0, "a", {"src": "web"}), (0, "a", {"src": "ios"})]}


def test_f10_last_touch_reads_the_row_the_attempt_used(wb):
    # [a, a]: two a's at one instant fill steps 1 and 2; the last step's value is the second row's,
    # though the first row (step 1's) has the same time and event
    load(wb, LAST_TOUCH_TIE)
    f = wb.funnel(["a", "a"], breakdown="src", attribution="last_touch")
    assert set(f.table.breakdown) == {"ios"}


def test_f10_last_touch_reads_the_row_the_attempt_used_in_every_strategy(duck_wb):
    load(duck_wb, LAST_TOUCH_TIE)
    for strategy in ("ranks", "lists", "asof", "window"):
        f = poa.metrics.run_funnel(
            duck_wb.con,
            poa.metrics.FunnelQuery(steps=["a", "a"], breakdown="src", attribution="last_touch"),
            strategy=strategy,
        )
        assert set(f.table.breakdown) == {"ios"}, strategy


def test_f11_conversion_times_mean_median(wb):
    load(
        wb,
        {"u1": [(0, "a"), (60, "b")], "u2": [(0, "a"), (120, "b")], "u3": [(0, "a"), (600, "b")]},
    )
    f = wb.funnel(["a", "b"], window="1h")
    assert f.table.mean_seconds_from_previous[1] == 260
    assert f.table.median_seconds_from_previous[1] == 120


def test_f11_conversion_times_histogram_data(wb):
    load(
        wb,
        {"u1": [(0, "a"), (60, "b")], "u2": [(0, "a"), (120, "b")], "u3": [(0, "a"), (600, "b")]},
    )
    f = wb.funnel(["a", "b"], window="1h")
    times = f.conversion_times(2)
    assert list(times.seconds) == [60, 120, 600]
    from poanalytics.charts.funnel import times_figure

    assert list(times_figure(times).data[0].x) == [60 / 3600, 120 / 3600, 600 / 3600]
    fig = f.times_figure(2)
    assert list(fig.data[0].x) == [60 / 3600, 120 / 3600, 600 / 3600]
    assert fig.layout.title.text == "Time from a to b (median 2 min, 3 users)"


def test_f12_date_range_and_in_progress(wb):
    load(
        wb,
        {
            "before": [(-2 * D, "a"), (-2 * D + 10, "b")],  # enters before the range: out
            "late_step": [(0, "a"), (2 * D, "b")],  # step 2 after date_to, inside the window
            "dropped": [(0, "a"), (6 * D, "x")],  # window closed: a drop-off
            "open": [(6 * D, "a")],  # window still open at the data's end
        },
    )
    f = wb.funnel(["a", "b"], window="3d", date_from=at(0), date_to=at(D))
    assert f.users(1) == ["dropped", "late_step"]
    g = wb.funnel(["a", "b"], window="3d", date_from=at(0), date_to=at(7 * D))
    row = g.table.set_index("step").loc[2]
    assert (row.users, row.dropped, row.in_progress) == (1, 1, 1)
    assert g.dropped(2) == ["dropped"]


def test_f12_date_range_as_text_dates_and_times(wb):
    day = at(0).strftime("%Y-%m-%d")  # the journeys' first day, midnight UTC
    load(
        wb,
        {
            "morning": [(6 * H, "a"), (6 * H + 10, "b")],
            "evening": [(23 * H, "a")],
            "next_day": [(D + H, "a")],
        },
    )
    # a bare date as date_to is the whole day; a time without a zone is UTC
    assert wb.funnel(["a", "b"], date_from=day, date_to=day).users(1) == ["evening", "morning"]
    f = wb.funnel(["a", "b"], date_from=f"{day} 12:00", date_to=f"{day}T23:30:00+00:00")
    assert f.users(1) == ["evening"]
    f = wb.funnel(["a", "b"], date_from=f"{day} 08:00+02:00", date_to=at(D + 2 * H))  # 06:00 UTC
    assert f.users(1) == ["evening", "morning", "next_day"]
    with pytest.raises(poa.MetricError) as bad:
        wb.funnel(["a", "b"], date_from="last tuesday")
    assert bad.value.code == "metric.date" and "date_from" in str(bad.value)
    with pytest.raises(poa.MetricError) as swapped:
        wb.funnel(["a", "b"], date_from=at(D), date_to=at(0))
    assert swapped.value.code == "funnel.date_range"


def test_f13_empty_result_is_zero_for_every_step(wb):
    load(wb, {"u": [(0, "a"), (1, "b")]})
    f = wb.funnel(["a", "b", "b"], window="1h", date_from=at(D), date_to=at(2 * D))  # nobody enters
    assert counts(f) == [0, 0, 0]
    assert list(f.table.step) == [1, 2, 3]
    assert f.users(1) == [] and f.figure() is not None


def two_weeks() -> dict:
    journeys = {}
    # week 1: 40 users, 30 convert; week 2: 40 users, 10 convert -> a clear drop
    for i in range(40):
        journeys[f"w1_{i}"] = [(i, "a")] + ([(i + 10, "b")] if i < 30 else [])
        journeys[f"w2_{i}"] = [(7 * D + i, "a")] + ([(7 * D + i + 10, "b")] if i < 10 else [])
    journeys["later"] = [(30 * D, "z")]  # closes every window
    return journeys


def test_f14_wilson_interval(wb):
    load(wb, two_weeks())
    f = wb.funnel(["a", "b"], window="1h")
    row = f.table.iloc[1]
    assert (row.users, row.ci_low, row.ci_high) == (
        40,
        pytest.approx(0.3930, abs=1e-4),
        pytest.approx(0.6070, abs=1e-4),
    )


def test_f14_trend_and_clear_changes(wb):
    load(wb, two_weeks())
    f = wb.funnel(["a", "b"], window="1h")
    trend = f.trend("week")
    assert list(trend.users) == [40, 40] and list(trend.converted) == [30, 10]
    assert list(trend.clear_change) == [False, True]
    assert trend.p_value_vs_previous[1] < 0.001
    assert not trend.small_sample.any()
    assert math.isnan(trend.p_value_vs_previous[0])
    line = f.trend_figure("week").data[0]
    assert list(line.y) == [0.75, 0.25]
    assert list(line.error_y.array) == pytest.approx(list(trend.ci_high - trend.rate))


def test_result_carries_its_sql_and_figure(wb):
    load(wb, {"u": [(0, "a"), (1, "b")]})
    f = wb.funnel(["a", "b"], window="1h")
    assert "WITH" in f.sql and "events" in f.sql
    assert any(v == "a" for v in f.params.values())
    fig = f.figure()
    assert list(fig.data[0].y) == [1, 1]


def test_f14_breakdown_values_called_out_only_when_clear(wb):
    journeys = {}
    for i in range(60):  # web converts 50/60, ios 20/60: clearly different; android has 6 users
        journeys[f"web{i}"] = [(i, "a", {"platform": "web"})] + ([(i + 1, "b")] if i < 50 else [])
        journeys[f"ios{i}"] = [(i, "a", {"platform": "ios"})] + ([(i + 1, "b")] if i < 20 else [])
    for i in range(6):
        journeys[f"and{i}"] = [(i, "a", {"platform": "android"})] + (
            [(i + 1, "b")] if i < 1 else []
        )
    journeys["closer"] = [(2 * D, "z")]
    load(wb, journeys)
    calls = (
        wb.funnel(["a", "b"], window="1h", breakdown="platform").callouts().set_index("breakdown")
    )
    assert bool(calls.loc["web", "clear"]) and bool(calls.loc["ios", "clear"])
    assert calls.loc["web", "difference"] > 0 > calls.loc["ios", "difference"]
    assert bool(calls.loc["android", "small_sample"]) and not bool(calls.loc["android", "clear"])
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(["a", "b"], window="1h").callouts()
    assert info.value.code == "funnel.no_breakdown"


LONG = [f"s{k:02d}" for k in range(30)]


def load_long(wb) -> None:
    late = pd.Timestamp("2150-06-01", tz="UTC")
    load(wb, {"u": [(k, e) for k, e in enumerate(LONG)], "v": [(0, "s00"), (7, "s01")]})
    load(wb, {"far": [(0, "s00"), (90, "s01")]}, start=late)


def test_long_funnels_and_far_future_times(wb):
    # the longest funnel there is (30 steps) and times to the year 2150
    load_long(wb)
    f = wb.funnel(LONG, window="1h")
    assert counts(f)[:3] == [3, 3, 1] and counts(f)[-1] == 1
    assert f.table.median_seconds_from_previous[1] == 7  # 1, 7 and 90 seconds
    assert f.users(2) == ["far", "u", "v"] and f.users(30) == ["u"]
    with pytest.raises(poa.MetricError) as many:
        wb.funnel([*LONG, "s30"])
    assert many.value.code == "funnel.too_many_steps"


def test_long_funnels_and_far_future_times_keep_their_order_and_times(duck_wb):
    # 30 steps fill the 5 bits the step has in the funnel's ordering key; times to the year 2150
    # stay below the bits that rank attempts
    wb, names = duck_wb, LONG
    load_long(wb)
    for strategy in ("ranks", "lists", "asof", "window"):
        f = poa.metrics.run_funnel(
            wb.con, poa.metrics.FunnelQuery(steps=names, window="1h"), strategy=strategy
        )
        assert counts(f)[:3] == [3, 3, 1] and counts(f)[-1] == 1, strategy
        assert f.table.median_seconds_from_previous[1] == 7, strategy  # 1, 7 and 90 seconds
    two = wb.funnel(names[:2], window="1h")  # its per-unit query, re-run with its values
    sql = f"SELECT t2 - t1 AS gap FROM {two.per_user_table} WHERE user_id = 'far'"
    times = wb.sql(sql, two.params)
    assert times.gap[0] == pd.Timedelta(seconds=90)
    with pytest.raises(poa.MetricError) as many:
        wb.funnel([*names, "s30"])
    assert many.value.code == "funnel.too_many_steps"


def test_ranks_at_its_step_limit_keeps_far_future_times(duck_wb):
    wb = duck_wb
    # "ranks" shifts positions by the step count: at RANKS_MAX_STEPS steps and times to 2150 the
    # values still fit (one more step and run_funnel gives the funnel to "lists")
    from poanalytics.metrics.funnel_lists import RANKS_MAX_STEPS

    names = [f"s{k:02d}" for k in range(RANKS_MAX_STEPS)]
    late = pd.Timestamp("2150-06-01", tz="UTC")
    load(wb, {"u": [(k, e) for k, e in enumerate(names)], "v": [(0, "s00"), (7, "s01")]})
    load(wb, {"far": [(0, "s00"), (90, "s01"), (95, "s00"), (99, "s01"), (100, "s02")]}, start=late)
    q = poa.metrics.FunnelQuery(steps=names, window="1h")
    ranks = poa.metrics.run_funnel(wb.con, q, strategy="ranks")
    lists = poa.metrics.run_funnel(wb.con, q, strategy="lists")
    assert counts(ranks)[:4] == [3, 3, 2, 1] and counts(ranks)[-1] == 1
    pd.testing.assert_frame_equal(ranks.table, lists.table)
    sql = f"SELECT t2 - t1 AS gap, t3 FROM {ranks.per_user_table} WHERE user_id = 'far'"
    times = wb.sql(sql, ranks.params)
    assert times.gap[0] == pd.Timedelta(seconds=90)  # the first attempt reaching step 3
    assert times.t3[0] == late + pd.Timedelta(seconds=100)


def load_around_1970(wb) -> None:
    load(
        wb,
        {"old": [(0, "a"), (30, "b"), (40, "c")], "old_slow": [(0, "a"), (61, "b")]},
        start=pd.Timestamp("1900-01-01", tz="UTC"),
    )
    load(
        wb,
        {"epoch": [(0, "a"), (55, "b"), (60, "c")], "epoch_x": [(0, "a"), (1, "b"), (61, "c")]},
        start=pd.Timestamp("1969-12-31 23:59:05", tz="UTC"),
    )
    load(wb, {"late": [(0, "a"), (20, "b")]}, start=pd.Timestamp("2199-12-31 23:00", tz="UTC"))


@pytest.mark.parametrize("order", ["ordered", "strict"])
def test_times_before_1970_and_far_ahead(wb, order):
    # every instant from 1900 to 2199, and a window edge at 1970-01-01 00:00:05 reached from 1969
    load_around_1970(wb)
    f = wb.funnel(["a", "b", "c"], window="60s", order=order)
    assert counts(f) == [5, 4, 2]
    assert f.users(3) == ["epoch", "old"]
    assert list(f.table.mean_seconds_from_previous[1:]) == [pytest.approx(106 / 4), 7.5]


STRATEGIES = [
    ("ranks", {}),
    ("lists", {}),
    ("lists", {"work_limit": -1}),  # every unit takes the lists' ASOF fallback
    ("asof", {}),
    ("window", {}),
]


@pytest.mark.parametrize(("strategy", "extra"), STRATEGIES)
@pytest.mark.parametrize("order", ["ordered", "strict"])
def test_times_before_1970_and_far_ahead_keep_their_order_windows_and_times(
    duck_wb, strategy, extra, order
):
    # the ordering key holds every instant: 1900, across the epoch (a window edge at 1970-01-01
    # 00:00:05, reached from 1969) and 2199
    wb = duck_wb
    load_around_1970(wb)
    f = poa.metrics.run_funnel(
        wb.con,
        poa.metrics.FunnelQuery(steps=["a", "b", "c"], window="60s", order=order),
        strategy=strategy,
        **extra,
    )
    assert counts(f) == [5, 4, 2]
    assert f.users(3) == ["epoch", "old"]
    times = wb.sql(
        f"SELECT user_id, epoch(t2) - epoch(t1) AS gap, t1 FROM {f.per_user_table} "
        "WHERE depth >= 2 ORDER BY user_id",
        f.params,
    )
    assert list(times.gap) == [55, 1, 20, 30]
    assert str(times.t1[0]) == "1969-12-31 23:59:05+00:00"


def test_unordered_times_before_1970(wb):
    load(
        wb,
        {"u": [(0, "b"), (10, "a")], "v": [(0, "a")]},
        start=pd.Timestamp("1900-06-01", tz="UTC"),
    )
    assert counts(wb.funnel(["a", "b"], window="60s", order="unordered")) == [2, 1]


def test_f9_unordered_progress_made_before_an_exclusion_does_not_count(wb):
    load(
        wb,
        {
            # signup, exclusion, two steps, exclusion, one step: only the last step counts
            "interrupted": [
                (0, "signup"),
                (10, "x"),
                (20, "view"),
                (30, "pay"),
                (40, "x"),
                (50, "view"),
            ],
            "done_then_x_later": [(0, "pay"), (5, "signup"), (9, "view"), (2 * H, "x")],
            "x_at_the_start": [(0, "x"), (0, "view"), (1, "signup")],  # not after the start: kept
            "only_cleared": [(0, "signup"), (5, "x")],  # stays in the funnel
            "closer": [(9 * H, "z")],
        },
    )
    f = wb.funnel(
        ["signup", "view", "pay"], window="1h", order="unordered", exclusions=[Exclusion("x", 0, 2)]
    )
    assert counts(f) == [4, 2, 1]
    assert f.users(3) == ["done_then_x_later"]
    assert f.users(2) == ["done_then_x_later", "x_at_the_start"]
    assert f.users(1) == ["done_then_x_later", "interrupted", "only_cleared", "x_at_the_start"]


def test_f16_unordered_conversion_times_run_from_the_first_completed_step(wb):
    load(
        wb,
        {
            "u1": [(0, "c"), (60, "a"), (600, "b")],
            "u2": [(0, "b"), (30, "b"), (100, "a")],  # a repeat completes nothing new
            # the first attempt stalls; the times come from the one that reached 3 steps
            "u3": [(0, "a"), (2 * H, "a"), (2 * H + 100, "c"), (2 * H + 200, "b")],
            "closer": [(9 * H, "z")],
        },
    )
    f = wb.funnel(["a", "b", "c"], window="1h", order="unordered")
    assert counts(f) == [3, 3, 2]
    t = f.table.set_index("step")
    assert t.mean_seconds_from_start[2] == pytest.approx(260 / 3)
    assert t.median_seconds_from_start[2] == 100
    assert (t.mean_seconds_from_start[3], t.median_seconds_from_start[3]) == (400, 400)
    assert (t.mean_seconds_from_previous[3], t.median_seconds_from_previous[3]) == (320, 320)
    # ordered funnels report both: from the previous step (F11) and from step 1
    g = wb.funnel(["c", "a", "b"], window="1h").table.set_index("step")
    assert (g.mean_seconds_from_previous[3], g.mean_seconds_from_start[3]) == (540, 600)


def test_f16_unordered_conversion_times_per_user_and_histogram(wb):
    load(
        wb,
        {
            "u1": [(0, "c"), (60, "a"), (600, "b")],
            "u2": [(0, "b"), (30, "b"), (100, "a")],
            "closer": [(9 * H, "z")],
        },
    )
    f = wb.funnel(["a", "b", "c"], window="1h", order="unordered")
    times = f.conversion_times(2, from_step=1)  # first to second completed step, any steps
    assert list(times.user_id) == ["u1", "u2"] and list(times.seconds) == [60, 100]
    assert list(f.conversion_times(3).seconds) == [540]  # second to third
    fig = f.times_figure(3, from_step=1)
    assert fig.layout.title.text.startswith("Time from the 1st to the 3rd completed step (median ")
