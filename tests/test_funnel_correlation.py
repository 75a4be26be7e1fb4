"""Funnel correlation: journeys as data, with counts, odds ratios and Fisher p-values worked by hand.

Notation: a / c = converters / droppers who have the event (or value), S / F = all converters /
droppers; odds_ratio = (a + 1)(F - c + 1) / ((S - a + 1)(c + 1)). Every journey runs on DuckDB
and on Spark (``engine_wb``).
"""

from __future__ import annotations

import math
import random
import re
from fractions import Fraction
from math import comb

import pytest

import poanalytics as poa
from poanalytics.metrics.funnel_correlation import fisher_exact
from tests.journeys import load

H = 3600
D = 86400


@pytest.fixture
def wb(engine_wb):
    """The correlation journeys on both engines: any difference in a number fails."""
    return engine_wb


LADY_TEA_P = 0.4857142857142857  # [[3, 1], [1, 3]], two-sided: 34/70
COLUMNS = [
    "success_count",
    "failure_count",
    "success_total",
    "failure_total",
    "odds_ratio",
    "log_odds_ratio",
    "log_odds_ci_low",
    "log_odds_ci_high",
    "direction",
    "p_value",
    "small_sample",
    "significant",
]


def fisher_reference(a: int, b: int, c: int, d: int) -> Fraction:
    """The two-sided Fisher p-value in exact fractions, straight from the definition."""
    row, col, n = a + b, a + c, a + b + c + d

    def p(x: int) -> Fraction:
        return Fraction(comb(row, x) * comb(n - row, col - x), comb(n, col))

    return sum(
        (p(x) for x in range(max(0, col - (n - row)), min(row, col) + 1) if p(x) <= p(a)),
        Fraction(0),
    )


def small_history(wb):
    """4 converters and 4 droppers (signup -> buy in 1h), plus events on every edge of the span."""
    return load(
        wb,
        {
            "c1": [(0, "signup"), (100, "tour"), (300, "signup"), (600, "buy"), (700, "late")],
            "c2": [(-10, "early"), (0, "signup"), (100, "tour"), (600, "buy")],
            "c3": [(0, "signup"), (100, "tour"), (600, "tie_end"), (600, "buy")],
            "c4": [(0, "tie_start"), (0, "signup"), (100, "help"), (600, "buy")],
            "d1": [(0, "signup"), (100, "tour"), (H, "edge")],  # the window's edge is inside
            "d2": [(0, "signup"), (100, "help"), (H + 1, "over")],
            "d3": [(0, "signup"), (100, "help")],
            "d4": [(0, "signup"), (100, "help")],
            "open": [(10 * H - 100, "signup"), (10 * H - 50, "tour")],  # still in its window
            "closer": [(10 * H, "z")],
        },
    )


def test_events_counts_odds_ratios_and_fisher_p(wb):
    small_history(wb)
    r = wb.funnel(["signup", "buy"], window="1h").correlation()
    assert (r.success_total, r.failure_total, r.step, r.step_name) == (4, 4, 2, "buy")
    t = r.table.set_index("event")
    assert list(r.table.columns) == ["event", *COLUMNS]
    # strongest first: |log 4| = |log 0.25|, then by p-value and name; edge is weaker (0.4)
    assert list(r.table.event) == ["help", "tour", "edge"]
    assert (t.loc["tour", "success_count"], t.loc["tour", "failure_count"]) == (3, 1)
    assert (t.loc["help", "success_count"], t.loc["help", "failure_count"]) == (1, 3)
    assert (t.loc["edge", "success_count"], t.loc["edge", "failure_count"]) == (0, 1)
    assert t.loc["tour", "odds_ratio"] == pytest.approx(4 * 4 / (2 * 2))
    assert t.loc["help", "odds_ratio"] == pytest.approx(2 * 2 / (4 * 4))
    assert t.loc["edge", "odds_ratio"] == pytest.approx(1 * 4 / (5 * 2))
    assert list(r.table.direction) == ["failure", "success", "failure"]
    assert t.loc["tour", "p_value"] == pytest.approx(LADY_TEA_P, rel=1e-12)
    assert t.loc["help", "p_value"] == pytest.approx(LADY_TEA_P, rel=1e-12)
    assert t.loc["edge", "p_value"] == pytest.approx(1.0)  # [[0, 4], [1, 3]]: 1/2 + 1/2
    # Woolf interval on the smoothed cells 4, 2, 2, 4
    half = 1.959963984540054 * math.sqrt(1 / 4 + 1 / 2 + 1 / 2 + 1 / 4)
    assert t.loc["tour", "log_odds_ratio"] == pytest.approx(math.log(4))
    assert t.loc["tour", "log_odds_ci_low"] == pytest.approx(math.log(4) - half)
    assert t.loc["tour", "log_odds_ci_high"] == pytest.approx(math.log(4) + half)
    # 4 users a side is a small sample: flagged, never significant
    assert r.table.small_sample.all() and not r.table.significant.any()
    assert not r.skewed


def test_only_events_inside_the_span_count(wb):
    small_history(wb)
    r = wb.funnel(["signup", "buy"], window="1h").correlation()
    events = set(r.table.event)
    # after the conversion, before step 1, at the instant of step 1 or of the conversion, after the
    # dropper's window, a step event (the second signup), events of users outside the funnel
    assert events.isdisjoint(
        {"late", "early", "tie_end", "tie_start", "over", "signup", "buy", "z"}
    )
    assert events == {"tour", "help", "edge"}
    # the user still in their window is left out: tour is 3 vs 1, not 3 vs 2
    assert int(r.table.set_index("event").loc["tour", "failure_count"]) == 1


def test_target_step_and_droppers_at_any_earlier_step(wb):
    load(
        wb,
        {
            "u1": [(0, "a"), (10, "x"), (20, "b"), (30, "y"), (40, "c")],
            "u2": [(0, "a"), (5, "y")],  # dropped at step 2
            "u3": [(0, "a"), (10, "b"), (20, "z")],  # dropped at step 3
            "closer": [(2 * H, "q")],
        },
    )
    f = wb.funnel(["a", "b", "c"], window="1h")
    last = f.correlation(min_users=1).table.set_index("event")
    assert (last.success_total.iloc[0], last.failure_total.iloc[0]) == (1, 2)
    assert {e: (int(r.success_count), int(r.failure_count)) for e, r in last.iterrows()} == {
        "x": (1, 0),
        "y": (1, 1),
        "z": (0, 1),
    }
    assert last.loc["x", "odds_ratio"] == pytest.approx(2 * 3 / (1 * 1))
    assert last.loc["y", "odds_ratio"] == pytest.approx(2 * 2 / (1 * 2))
    assert last.loc["z", "odds_ratio"] == pytest.approx(1 * 2 / (2 * 2))
    # to step 2: u1 and u3 convert at b, so only events before b count (u1's y and u3's z do not)
    second = f.correlation(step=2).table.set_index("event")
    assert (second.success_total.iloc[0], second.failure_total.iloc[0]) == (2, 1)
    assert {e: (int(r.success_count), int(r.failure_count)) for e, r in second.iterrows()} == {
        "x": (1, 0),
        "y": (0, 1),
    }


def test_significance_and_small_sample_rules(wb):
    journeys = {}
    for i in range(40):  # 40 converters, 40 droppers, one second apart
        journeys[f"c{i}"] = [(i, "signup")]
        journeys[f"c{i}"] += [(i + 0.1, "tour")] if i < 30 else []
        journeys[f"c{i}"] += [(i + 0.2, "help")] if i < 6 else []
        journeys[f"c{i}"] += [(i + 0.3, "rare")] if i < 2 else []
        journeys[f"c{i}"] += [(i + 0.5, "buy")]
        journeys[f"d{i}"] = [(i, "signup")]
        journeys[f"d{i}"] += [(i + 0.1, "tour")] if i < 5 else []
        journeys[f"d{i}"] += [(i + 0.2, "help")] if i < 8 else []
    journeys["closer"] = [(D, "z")]
    load(wb, journeys)
    t = wb.funnel(["signup", "buy"], window="1h").correlation(top=None).table.set_index("event")
    assert list(t.index) == ["tour", "rare", "help"]  # |log 16.9| > |log 3.15| > |log 0.73|
    tour, rare, help_ = t.loc["tour"], t.loc["rare"], t.loc["help"]
    assert tour.odds_ratio == pytest.approx(31 * 36 / (11 * 6))
    assert tour.p_value == pytest.approx(1031447 / 51172404911495, rel=1e-9)  # [[30, 10], [5, 35]]
    assert (tour.small_sample, tour.significant, tour.direction) == (False, True, "success")
    # [[6, 34], [8, 32]]: expected cells >= 7, but p = 0.77
    assert help_.odds_ratio == pytest.approx(7 * 33 / (35 * 9))
    assert help_.p_value == pytest.approx(485553469 / 630973237, rel=1e-9)
    assert (help_.small_sample, help_.significant, help_.direction) == (False, False, "failure")
    # [[2, 38], [0, 40]]: 2 users expected 1 per side (< 5) -> small sample
    assert rare.odds_ratio == pytest.approx(3 * 41 / (39 * 1))
    assert rare.p_value == pytest.approx(39 / 79, rel=1e-9)
    assert (rare.small_sample, rare.significant) == (True, False)
    # PostHog's default floor min(25, 2% of 80 users) = 1.6 users keeps all three; 3 drops rare
    assert "rare" not in set(
        wb.funnel(["signup", "buy"], window="1h").correlation(min_users=3).table.event
    )


def test_property_values_of_the_step_one_event_behind_the_result(wb):
    load(
        wb,
        {
            # the first attempt (free) stalls; the pro attempt converts and is the one that counts
            "c1": [
                (0, "signup", {"plan": "free"}),
                (2 * H, "signup", {"plan": "pro"}),
                (2 * H + 60, "buy"),
            ],
            "c2": [(0, "signup", {"plan": "pro"}), (60, "buy", {"plan": "enterprise"})],
            "c3": [(0, "signup", {"plan": "pro", "src": "ads"}), (60, "buy")],
            "c4": [(0, "signup", {"plan": "free"}), (60, "buy")],
            "d1": [(0, "signup", {"plan": "pro"})],
            "d2": [(0, "signup", {"plan": "free"})],
            "d3": [(0, "signup", {"plan": "free", "src": "ads"})],
            "d4": [(0, "signup")],  # no plan: the value "" ("(none)")
            "closer": [(D, "z")],
        },
    )
    f = wb.funnel(["signup", "buy"], window="1h")
    r = f.correlation(kind="properties", properties=["plan"])
    assert list(r.table.columns) == ["property", "value", *COLUMNS]
    t = r.table.set_index("value")
    assert set(r.table.property) == {"plan"}
    assert {v: (int(x.success_count), int(x.failure_count)) for v, x in t.iterrows()} == {
        "pro": (3, 1),
        "free": (1, 2),
        "": (0, 1),
    }  # "enterprise" is on a buy event, not on step 1
    assert t.loc["pro", "odds_ratio"] == pytest.approx(4.0)
    assert t.loc["pro", "p_value"] == pytest.approx(LADY_TEA_P, rel=1e-12)
    assert t.loc["free", "odds_ratio"] == pytest.approx(2 * 3 / (4 * 3))
    assert t.loc["free", "p_value"] == pytest.approx(1.0)  # [[1, 3], [2, 2]]
    assert t.loc["", "odds_ratio"] == pytest.approx(1 * 4 / (5 * 2))
    # properties=None: every key found on those step-1 events
    every = f.correlation(kind="properties", properties=None).table
    assert set(every.property) == {"plan", "src"}
    src = every[every.property == "src"].set_index("value")
    assert (int(src.loc["ads", "success_count"]), int(src.loc["ads", "failure_count"])) == (1, 1)
    assert (int(src.loc["", "success_count"]), int(src.loc["", "failure_count"])) == (3, 3)
    one = f.correlation(kind="properties", properties="src").table
    assert one.value.tolist() == ["", "ads"]  # equally (un)correlated: by name
    assert one.odds_ratio.tolist() == [pytest.approx(1.0), pytest.approx(1.0)]
    assert one.direction.tolist() == ["failure", "failure"]  # as PostHog: "success" needs > 1


def test_all_events_breakdown_units_take_their_own_value(wb):
    load(
        wb,
        {
            "u1": [(0, "a", {"src": "ads"}), (10, "a", {"src": "seo"}), (20, "b", {"src": "seo"})],
            "closer": [(2 * H, "z")],
        },
    )
    f = wb.funnel(["a", "b"], window="1h", breakdown="src", attribution="all_events")
    t = f.correlation(kind="properties", properties=["src"]).table.set_index("value")
    assert {v: (int(x.success_count), int(x.failure_count)) for v, x in t.iterrows()} == {
        "seo": (1, 0),
        "ads": (0, 1),
    }
    only_seo = f.correlation(kind="properties", properties=["src"], breakdown_value="seo")
    assert (only_seo.success_total, only_seo.failure_total) == (1, 0)
    assert only_seo.table.empty


def test_exclude_events_min_users_and_top(wb):
    small_history(wb)
    f = wb.funnel(["signup", "buy"], window="1h")
    assert list(f.correlation(exclude_events=["help"]).table.event) == ["tour", "edge"]
    assert list(f.correlation(exclude_events="help").table.event) == ["tour", "edge"]
    assert list(f.correlation(min_users=2).table.event) == ["help", "tour"]  # edge: 1 user
    top = f.correlation(top=1).table  # the strongest of each direction
    assert list(zip(top.event, top.direction, strict=True)) == [
        ("help", "failure"),
        ("tour", "success"),
    ]


def test_no_droppers_gives_an_empty_table_with_the_columns(wb):
    load(
        wb,
        {"u1": [(0, "a"), (5, "x"), (10, "b")], "u2": [(0, "a"), (10, "b")], "closer": [(D, "z")]},
    )
    r = wb.funnel(["a", "b"], window="1h").correlation()
    assert (r.success_total, r.failure_total, len(r.table)) == (2, 0, 0)
    assert list(r.table.columns) == ["event", *COLUMNS]
    assert r.skewed  # one side is empty
    assert "nothing to compare (2 converted, 0 dropped off)" in r.figure().layout.title.text
    p = wb.funnel(["a", "b"], window="1h").correlation(kind="properties")
    assert list(p.table.columns) == ["property", "value", *COLUMNS] and p.table.empty


def test_skewed_totals_are_flagged(wb):
    journeys = {f"c{i}": [(i, "a"), (i + 1, "x"), (i + 2, "b")] for i in range(11)}
    journeys["d"] = [(0, "a"), (1, "x")]
    journeys["closer"] = [(D, "z")]
    load(wb, journeys)
    r = wb.funnel(["a", "b"], window="1h").correlation()
    assert (r.success_total, r.failure_total, r.skewed) == (11, 1, True)
    x = r.table.iloc[0]
    assert (x.event, x.success_count, x.failure_count) == ("x", 11, 1)
    assert x.odds_ratio == pytest.approx(12 * 1 / (1 * 2))
    assert x.p_value == pytest.approx(1.0)


def test_result_carries_sql_params_and_figure(wb):
    small_history(wb)
    f = wb.funnel(["signup", "buy"], window="1h")
    r = f.correlation()
    assert f.per_user_table in r.sql and "JOIN" in r.sql
    # the SQL re-runs the funnel's per-unit query (stateless results): its values come along, and
    # every value the text names is bound, none more (DuckDB refuses unused ones)
    assert set(v for v in r.params.values() if isinstance(v, str)) == {"buy", "signup"}
    assert set(r.params) == set(re.findall(r"\$(p\d+)", r.sql)) and set(f.params) <= set(r.params)
    assert 3_600_000_000 in r.params.values()  # the window, bound
    fig = r.figure()
    dots = {trace.name: trace for trace in fig.data}
    # in words, on an odds-ratio (log) axis: the log odds ratio stays in the table
    assert list(dots["more likely to convert"].x) == [pytest.approx(4)]
    assert list(dots["more likely to convert"].text) == ["4.0x more likely"]
    assert math.log(4) in [pytest.approx(v) for v in r.table.log_odds_ratio]
    assert list(dots["less likely"].y) == ["users who did help", "users who did edge"]
    assert dots["more likely to convert"].marker.color == "#2ca02c"
    assert list(fig.layout.yaxis.categoryarray) == [  # strongest on top
        "users who did edge",
        "users who did tour",
        "users who did help",
    ]


@pytest.mark.parametrize(
    ("kwargs", "code", "says"),
    [
        ({"kind": "event"}, "funnel.correlation_kind", "Did you mean 'events'"),
        ({"step": 1}, "funnel.step", "outside 2..2"),
        ({"step": 3}, "funnel.step", "outside 2..2"),
        ({"exclude_events": ["tuor"]}, "funnel.unknown_event", "Did you mean 'tour'"),
        (
            {"kind": "properties", "properties": ["plna"]},
            "funnel.unknown_property",
            "Did you mean 'plan'",
        ),
        ({"properties": ["plan"]}, "funnel.correlation_properties", "kind='properties'"),
        ({"top": 0}, "funnel.correlation_limit", "top must be"),
        ({"min_users": -1}, "funnel.correlation_limit", "min_users must be"),
        ({"breakdown_value": "pro"}, "funnel.no_breakdown", "breakdown"),
    ],
)
def test_validation_codes(wb, kwargs, code, says):
    load(wb, {"u": [(0, "signup", {"plan": "pro"}), (1, "tour"), (2, "buy")]})
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(["signup", "buy"], window="1h").correlation(**kwargs)
    assert info.value.code == code
    assert says in str(info.value) and "What to do" in str(info.value)


def test_unordered_funnels_are_refused(wb):
    load(wb, {"u": [(0, "a"), (1, "b")]})
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(["a", "b"], window="1h", order="unordered").correlation()
    assert info.value.code == "funnel.correlation_unordered"


def test_fisher_exact_matches_exact_fractions():
    assert fisher_exact(3, 1, 1, 3) == pytest.approx(LADY_TEA_P, rel=1e-12)
    assert fisher_exact(1, 9, 11, 3) == pytest.approx(41 / 14858, rel=1e-12)  # Wikipedia's example
    assert fisher_exact(0, 0, 0, 0) == 1.0
    assert fisher_exact(5, 0, 0, 5) == pytest.approx(2 / 252, rel=1e-12)  # the two extreme tables
    rng = random.Random(7)
    for _ in range(200):
        cells = [rng.randint(0, 25) for _ in range(4)]
        assert fisher_exact(*cells) == pytest.approx(
            float(fisher_reference(*cells)), rel=1e-9, abs=1e-300
        )
    # larger, lopsided tables: the tails are summed only until negligible, the far side bisected
    for _ in range(15):
        cells = [rng.randint(0, 400), rng.randint(0, 60), rng.randint(0, 400), rng.randint(0, 900)]
        assert fisher_exact(*cells) == pytest.approx(
            float(fisher_reference(*cells)), rel=1e-9, abs=1e-300
        )
