"""User paths, journeys written as data: exact edges and sequences for every rule in docs/metrics.md,
on DuckDB and on Spark. The SQL script DuckDB runs (its temp table) is DuckDB's: that test takes
``duck_wb``."""

from __future__ import annotations

from collections import defaultdict

import pytest

import poanalytics as poa
from poanalytics import Step
from tests.journeys import at, load

D = 86400


@pytest.fixture
def wb(engine_wb):
    """Every journey here runs on DuckDB and on Spark, with the same expected numbers."""
    return engine_wb


def edges(result) -> list[tuple]:
    return [
        (int(r.step), r.source, r.target, int(r.users))
        for r in result.edges.itertuples(index=False)
    ]


def sequences(result) -> list[tuple]:
    return [(r.path, int(r.users)) for r in result.sequences.itertuples(index=False)]


def flows(fig) -> tuple[dict[int, int], dict[int, int]]:
    """Users into and out of every Sankey node."""
    link = fig.data[0].link
    into: dict[int, int] = defaultdict(int)
    out: dict[int, int] = defaultdict(int)
    for s, t, v in zip(link.source, link.target, link.value, strict=True):
        out[s] += v
        into[t] += v
    return into, out


SIGNUPS = {
    "u1": [(0, "signup"), (10, "view"), (20, "buy")],
    "u2": [(0, "signup"), (10, "view")],
    "u3": [(0, "signup"), (10, "help")],
    "u4": [(0, "signup")],
    "u5": [(0, "view")],  # never signs up: no path
    "u6": [(0, "view"), (10, "signup"), (20, "view")],  # the view before signup is not shown
}


def test_paths_from_an_event_count_users_per_edge_and_end_where_the_user_stops(wb):
    load(wb, SIGNUPS)
    p = wb.paths(start_event="signup")
    assert p.users == 5
    assert edges(p) == [
        (1, "signup", "view", 3),
        (1, "signup", "(end)", 1),
        (1, "signup", "help", 1),
        (2, "view", "(end)", 2),
        (2, "help", "(end)", 1),
        (2, "view", "buy", 1),
        (3, "buy", "(end)", 1),
    ]
    assert sequences(p) == [
        ("signup → view → (end)", 2),
        ("signup → (end)", 1),
        ("signup → help → (end)", 1),
        ("signup → view → buy → (end)", 1),
    ]
    assert list(p.sequences.share) == [0.4, 0.2, 0.2, 0.2]
    assert list(p.sequences.events) == [2, 1, 2, 3]
    assert p.edges is p.table and list(p.table.paths) == list(p.table.users)


def test_sankey_flows_add_up_at_every_node(wb):
    load(wb, SIGNUPS)
    p = wb.paths(start_event="signup")
    fig = p.figure()
    sankey = fig.data[0]
    assert sankey.type == "sankey"
    into, out = flows(fig)
    labels = list(sankey.node.label)
    starts = [i for i in range(len(labels)) if i not in into]
    assert [labels[i] for i in starts] == ["signup"]
    assert out[starts[0]] == p.users == 5
    for node in into:
        if node in out:  # everyone who arrives at an inner node leaves it (or ends: "(end)")
            assert into[node] == out[node], labels[node]
    assert sum(into[i] for i, lbl in enumerate(labels) if lbl == "(end)") == 5
    assert "5 users" in fig.layout.title.text


def test_consecutive_repeats_collapse_by_default(wb):
    load(
        wb,
        {
            "u1": [(0, "signup"), (1, "view"), (2, "view"), (3, "view"), (4, "buy")],
            "u2": [(0, "signup"), (1, "signup"), (2, "buy")],
            "u3": [(0, "signup"), (1, "view"), (2, "help"), (3, "view")],  # not consecutive: kept
        },
    )
    assert sequences(wb.paths("signup")) == [
        ("signup → buy → (end)", 1),
        ("signup → view → buy → (end)", 1),
        ("signup → view → help → view → (end)", 1),
    ]
    assert sequences(wb.paths("signup", collapse_repeats=False)) == [
        ("signup → signup → buy → (end)", 1),
        ("signup → view → help → view → (end)", 1),
        ("signup → view → view → view → buy", 1),  # the step limit: no "(end)"
    ]


def test_long_runs_of_repeats_past_the_rows_read_first_are_followed_to_the_end(wb):
    # each user's path first reads row_limit rows from the event; a run of repeats longer than that
    # sends the user back through all their rows, so the path is the same as without the shortcut
    from poanalytics.metrics.paths_sql import PathPlan, row_limit

    limit = row_limit(PathPlan("from", 3, None, True, True))
    views = [(1 + i, "view") for i in range(limit + 5)]
    later = limit + 10
    load(
        wb,
        {
            "long": [(0, "signup"), *views, (later, "buy"), (later + 1, "help")],
            "short": [(0, "signup"), (1, "view"), (2, "buy")],
            "before": [(0, "view"), *[(1 + i, "view") for i in range(limit + 5)], (later, "buy")],
        },
    )
    assert sequences(wb.paths("signup", steps=3)) == [("signup → view → buy", 2)]
    assert sequences(wb.paths(end_event="buy", steps=3)) == [
        ("signup → view → buy", 2),
        ("(start) → view → buy", 1),
    ]


def test_ties_put_the_event_first_in_paths_from_it_last_in_paths_to_it_else_load_order(wb):
    load(
        wb,
        {
            "tie": [(0, "view"), (0, "signup"), (0, "help")],  # one instant, recorded in this order
            "twice": [(5, "signup"), (5, "signup"), (6, "help")],  # two identical events: one node
        },
    )
    assert sequences(wb.paths("signup")) == [
        ("signup → help → (end)", 1),
        ("signup → view → help → (end)", 1),
    ]
    assert sequences(wb.paths(end_event="signup", steps=5)) == [
        ("(start) → signup", 1),
        ("(start) → view → help → signup", 1),
    ]
    assert sequences(wb.paths()) == [  # from each user's first event: load order
        ("signup → help → (end)", 1),
        ("view → signup → help → (end)", 1),
    ]
    assert sequences(wb.paths("signup", collapse_repeats=False)) == [
        ("signup → signup → help → (end)", 1),
        ("signup → view → help → (end)", 1),
    ]


def test_first_occurrence_or_every_occurrence(wb):
    load(
        wb,
        {
            "u1": [
                (0, "search"),
                (1, "result"),
                (2, "search"),
                (3, "result"),
                (4, "search"),
                (5, "exit"),
            ],
            "u2": [(0, "search"), (1, "exit")],
        },
    )
    first = wb.paths("search", steps=3)
    assert edges(first) == [
        (1, "search", "exit", 1),
        (1, "search", "result", 1),
        (2, "exit", "(end)", 1),
        (2, "result", "search", 1),
    ]
    every = wb.paths("search", steps=3, occurrence="every")
    rows = [(r.step, r.source, r.target, r.users, r.paths) for r in every.table.itertuples()]
    assert rows == [
        (1, "search", "exit", 2, 2),
        (1, "search", "result", 1, 2),  # u1 twice: one user, two paths
        (2, "exit", "(end)", 2, 2),
        (2, "result", "search", 1, 2),
    ]
    seqs = [(r.path, r.users, r.paths, r.share) for r in every.sequences.itertuples()]
    assert seqs == [("search → exit → (end)", 2, 2, 1.0), ("search → result → search", 1, 2, 0.5)]


def test_paths_to_an_event_start_where_the_user_started(wb):
    load(
        wb,
        {
            "u1": [(0, "land"), (10, "pricing"), (20, "buy")],
            "u2": [(0, "pricing"), (10, "buy"), (20, "pricing"), (30, "buy")],  # first buy counts
            "u3": [(0, "buy")],
            "u4": [(0, "land")],  # never buys
        },
    )
    p = wb.paths(end_event="buy", steps=3)
    assert p.users == 3
    assert edges(p) == [
        (1, "(start)", "pricing", 1),
        (1, "land", "pricing", 1),
        (2, "pricing", "buy", 2),
        (2, "(start)", "buy", 1),
    ]
    assert sequences(p) == [
        ("(start) → buy", 1),
        ("(start) → pricing → buy", 1),
        ("land → pricing → buy", 1),
    ]
    into, out = flows(p.figure())
    labels = list(p.figure().data[0].node.label)
    buy = labels.index("buy")
    assert into[buy] == 3 and buy not in out
    every = wb.paths(end_event="buy", steps=3, occurrence="every")
    assert ("buy → pricing → buy", 1) in sequences(every)


def test_step_limit_cuts_paths_without_an_end_marker(wb):
    load(
        wb,
        {
            "long": [(i, e) for i, e in enumerate("abcdefg")],
            "exact": [(0, "a"), (1, "b"), (2, "c")],
            "short": [(0, "a"), (1, "b")],
        },
    )
    assert edges(wb.paths("a", steps=3)) == [
        (1, "a", "b", 3),
        (2, "b", "c", 2),
        (2, "b", "(end)", 1),
    ]
    assert edges(wb.paths("a", steps=2)) == [(1, "a", "b", 3)]


def test_window_is_measured_from_the_event_and_its_edge_is_included(wb):
    load(
        wb,
        {
            "edge": [(0, "signup"), (60, "view"), (61, "buy")],
            "over": [(0, "signup"), (61, "view")],
            "before": [(0, "x"), (100, "buy")],
        },
    )
    assert edges(wb.paths("signup", window="1m")) == [
        (1, "signup", "(end)", 1),
        (1, "signup", "view", 1),
        (2, "view", "(end)", 1),
    ]
    assert sequences(wb.paths(end_event="buy", window="40s")) == [
        ("(start) → buy", 1),
        ("(start) → view → buy", 1),
    ]


def test_date_range_applies_to_the_event_and_the_path_may_run_past_it(wb):
    load(
        wb,
        {
            "before": [(-2 * D, "signup"), (-2 * D + 10, "view")],  # signs up before the range: out
            "inside": [(0, "signup"), (2 * D, "view")],  # the path goes on after date_to
            "again": [(-D, "signup"), (10, "signup"), (20, "help")],  # the signup in range counts
        },
    )
    p = wb.paths("signup", date_from=at(0), date_to=at(D))
    assert p.users == 2
    assert sequences(p) == [("signup → help → (end)", 1), ("signup → view → (end)", 1)]
    load(
        wb,
        {
            "b1": [(-D, "land"), (10, "buy")],  # earlier events may be before date_from
            "b2": [(2 * D, "buy")],  # buys after the range: out
            "b3": [(-D, "buy"), (10, "buy")],  # the repeat before the range is collapsed into it
        },
    )
    to = wb.paths(end_event="buy", steps=3, date_from="2024-03-04", date_to=at(D))
    assert sequences(to) == [("(start) → buy", 1), ("(start) → land → buy", 1)]
    # a bare date as date_to is the whole day (as in funnels); unreadable or swapped dates are refused
    day = at(0).strftime("%Y-%m-%d")
    assert wb.paths(end_event="buy", steps=3, date_from=day, date_to=day).users == 2
    with pytest.raises(poa.MetricError) as bad:
        wb.paths("signup", date_to="soon")
    assert bad.value.code == "metric.date"
    with pytest.raises(poa.MetricError) as swapped:
        wb.paths("signup", date_from=at(D), date_to=at(0))
    assert swapped.value.code == "paths.date_range"


def test_excluded_events_are_removed_before_repeats_collapse(wb):
    load(wb, {"u1": [(0, "a"), (1, "page_view"), (2, "a"), (3, "b")]})
    assert sequences(wb.paths("a", exclude_events="page_view")) == [("a → b → (end)", 1)]
    assert sequences(wb.paths("a", exclude_events=["page_view"], collapse_repeats=False)) == [
        ("a → a → b → (end)", 1)
    ]
    assert sequences(wb.paths("a")) == [("a → page_view → a → b → (end)", 1)]


def test_without_an_event_paths_start_at_each_users_first_event_in_range(wb):
    load(
        wb, {"u1": [(0, "x"), (1, "y")], "u2": [(0, "y")], "u3": [(-D, "old"), (5, "y"), (6, "x")]}
    )
    assert edges(wb.paths()) == [
        (1, "old", "y", 1),
        (1, "x", "y", 1),
        (1, "y", "(end)", 1),
        (2, "y", "(end)", 1),
        (2, "y", "x", 1),
        (3, "x", "(end)", 1),
    ]
    assert sequences(wb.paths(date_from=at(0)))[0] == ("x → y → (end)", 1)
    assert wb.paths(date_from=at(0)).users == 3


def test_a_step_with_property_filters_anchors_only_matching_events(wb):
    load(
        wb,
        {
            "u1": [(0, "view", {"page": "pricing"}), (1, "view", {"page": "home"}), (2, "buy")],
            "u2": [(0, "view", {"page": "home"}), (1, "buy")],
        },
    )
    p = wb.paths(Step("view", where={"page": "pricing"}))
    assert sequences(p) == [("view (page=pricing) → buy → (end)", 1)]  # repeats collapse by event
    assert p.title.startswith("Paths from view (page=pricing)")


def test_min_users_and_max_edges_hide_small_edges_and_the_flows_they_cut_off(wb):
    journeys = {}
    for i in range(2):
        journeys[f"v{i}"] = [(0, "signup"), (1, "view"), (2, "x")]
        journeys[f"h{i}"] = [(0, "signup"), (1, "help"), (2, "x")]
    journeys["y"] = [(0, "signup"), (1, "y")]
    load(wb, journeys)
    assert edges(wb.paths("signup", min_users=2)) == [
        (1, "signup", "help", 2),
        (1, "signup", "view", 2),
        (2, "help", "x", 2),
        (2, "view", "x", 2),
        (3, "x", "(end)", 4),
    ]
    # the two biggest edges are x -> (end) and signup -> help; x is no longer reached, so it goes
    assert edges(wb.paths("signup", max_edges=2)) == [(1, "signup", "help", 2)]


def test_empty_result_has_zero_rows_and_no_error(wb):
    load(wb, {"u": [(0, "signup"), (1, "view")]})
    p = wb.paths("signup", date_from=at(D), date_to=at(2 * D))
    assert p.users == 0 and len(p.table) == 0 and len(p.sequences) == 0
    assert list(p.table.columns) == ["step", "source", "target", "users", "paths"]
    assert "no paths" in p.figure().layout.title.text
    empty = poa.Workbench(":memory:")
    assert empty.paths("anything").users == 0  # an empty warehouse has no names to check
    empty.close()


def test_result_carries_its_sql_with_values_bound(duck_wb):
    wb = duck_wb
    load(wb, {"u": [(0, "signup"), (1, "view")]})
    p = wb.paths("signup", date_from=at(0))
    # the whole script: the path rows (one top-K pass per user), then the edges and the sequences
    assert "CREATE TEMP TABLE" in p.sql and "min_by(" in p.sql and "lead(label)" in p.sql
    assert "'signup'" not in p.sql and "signup" in p.params.values()
    assert at(0) in p.params.values()
    # the temp table is dropped again
    assert (
        wb.sql("SELECT count(*) AS n FROM duckdb_tables() WHERE table_name LIKE '__poa_paths_%'").n[
            0
        ]
        == 0
    )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"start_event": "signed_up", "end_event": "activated"}, "paths.start_and_end"),
        ({"start_event": "signed_up", "steps": 1}, "paths.steps"),
        ({"start_event": "signed_up", "steps": 21}, "paths.steps"),
        ({"start_event": "signed_up", "steps": "5"}, "paths.steps"),
        ({"start_event": "signed_up", "occurrence": "firts"}, "paths.occurrence"),
        ({"occurrence": "every"}, "paths.occurrence_needs_event"),
        ({"start_event": "signedup", "strict": True}, "paths.unknown_event"),
        ({"start_event": 5}, "paths.event_type"),
        (
            {"start_event": "signed_up", "exclude_events": ["activatd"], "strict": True},
            "paths.unknown_event",
        ),
        ({"start_event": "signed_up", "exclude_events": ["signed_up"]}, "paths.exclude_anchor"),
        ({"start_event": "signed_up", "exclude_events": [3]}, "paths.exclude_type"),
        ({"start_event": Step("signed_up", where={"plann": "pro"})}, "paths.unknown_property"),
        ({"start_event": "signed_up", "window": "0s"}, "paths.window"),
        ({"start_event": "signed_up", "window": "soon"}, "paths.window_format"),
        ({"start_event": "signed_up", "top": 0}, "paths.top"),
        ({"start_event": "signed_up", "max_edges": 0}, "paths.max_edges"),
        ({"start_event": "signed_up", "min_users": 0}, "paths.min_users"),
    ],
)
def test_validation_codes(wb, kwargs, code):
    load(wb, {"u": [(0, "signed_up", {"plan": "pro"}), (1, "activated")]})
    with pytest.raises(poa.MetricError) as info:
        wb.paths(**kwargs)
    assert info.value.code == code
    assert "What to do" in str(info.value)


def test_unknown_events_say_did_you_mean(wb):
    load(wb, {"u": [(0, "signed_up"), (1, "activated")]})
    with pytest.raises(poa.MetricError, match="Did you mean 'signed_up'"):
        wb.paths(start_event="signedup", strict=True)
    with pytest.raises(poa.MetricError, match="Did you mean 'activated'"):
        wb.paths(end_event="Activated", strict=True)
    with pytest.raises(poa.MetricError, match="Did you mean 'first'"):
        wb.paths("signed_up", occurrence="firts")
