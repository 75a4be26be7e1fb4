"""What droppers did instead (f.dropoff_paths): journeys as data, exact next events and paths, on
DuckDB and on Spark (the funnel and its drop-off paths both run on the engine)."""

from __future__ import annotations

import pytest

import poanalytics as poa
from tests.journeys import load
from tests.test_paths import edges, flows, sequences

H = 3600
STEPS = ["signup", "profile", "activate"]


@pytest.fixture
def wb(engine_wb):
    """Every journey here runs on DuckDB and on Spark, with the same expected numbers."""
    return engine_wb


def next_events(result) -> list[tuple]:
    return [(r.next_event, int(r.users), r.share) for r in result.table.itertuples(index=False)]


JOURNEYS = {
    "conv": [(0, "signup"), (10, "profile"), (20, "activate")],
    "d_help": [(0, "signup"), (10, "profile"), (20, "help"), (30, "settings")],
    "d_help2": [(0, "signup"), (10, "profile"), (15, "help")],
    "d_none": [(0, "signup"), (10, "profile")],  # did nothing afterwards
    "d_late": [(0, "signup"), (10, "profile"), (4000, "logout")],  # after the 1h window closed
    "d2": [(0, "signup"), (5, "pricing")],  # dropped before profile
    "open": [(9000, "signup"), (9010, "profile")],  # window still open at the data's end
    "closer": [(10000, "z")],
}


def test_droppers_next_events_add_up_to_all_droppers(wb):
    load(wb, JOURNEYS)
    f = wb.funnel(STEPS, window="1h")
    assert f.dropped(3) == ["d_help", "d_help2", "d_late", "d_none"]
    d = f.dropoff_paths(3)
    assert d.droppers == 4
    assert next_events(d) == [("(no further events)", 2, 0.5), ("help", 2, 0.5)]
    assert d.table.share.sum() == 1.0
    assert edges(d) == [
        (1, "profile", "(no further events)", 2),
        (1, "profile", "help", 2),
        (2, "help", "(no further events)", 1),
        (2, "help", "settings", 1),
        (3, "settings", "(no further events)", 1),
    ]
    assert sequences(d) == [
        ("profile → (no further events)", 2),
        ("profile → help → (no further events)", 1),
        ("profile → help → settings → (no further events)", 1),
    ]
    step2 = f.dropoff_paths(2)
    assert next_events(step2) == [("pricing", 1, 1.0)]
    assert sequences(step2) == [("signup → pricing → (no further events)", 1)]


def test_horizon_replaces_the_funnel_window(wb):
    load(wb, JOURNEYS)
    f = wb.funnel(STEPS, window="1h")
    d = f.dropoff_paths(3, horizon="2h")  # measured from the profile event
    assert next_events(d) == [
        ("help", 2, 0.5),
        ("(no further events)", 1, 0.25),
        ("logout", 1, 0.25),
    ]
    short = f.dropoff_paths(
        3, horizon="6s"
    )  # only d_help2's help (5 s after profile) is close enough
    assert next_events(short) == [("(no further events)", 3, 0.75), ("help", 1, 0.25)]


def test_path_starts_at_the_step_event_of_the_attempt_that_reached_the_furthest_step(wb):
    load(
        wb,
        {
            # the first attempt stalls at signup; the second reaches profile, then y
            "multi": [(0, "signup"), (5, "x"), (5000, "signup"), (5010, "profile"), (5020, "y")],
            "closer": [(20000, "z")],
            "conv": [(0, "signup"), (10, "profile"), (20, "activate")],
        },
    )
    f = wb.funnel(STEPS, window="1h")
    assert f.dropped(3) == ["multi"]
    assert sequences(f.dropoff_paths(3)) == [("profile → y → (no further events)", 1)]


def test_ties_repeats_and_the_same_definition_as_wb_paths(wb):
    load(
        wb,
        {
            "tie": [(0, "signup"), (10, "help"), (10, "profile")],  # help at the profile's instant
            "rep": [(0, "signup"), (10, "profile"), (11, "profile"), (12, "help")],
            "closer": [(20000, "z")],
            "conv": [(0, "signup"), (10, "profile"), (20, "activate")],
        },
    )
    f = wb.funnel(STEPS, window="1h")
    assert f.dropped(3) == ["rep", "tie"]
    assert next_events(f.dropoff_paths(3)) == [("help", 2, 1.0)]
    assert next_events(f.dropoff_paths(3, collapse_repeats=False)) == [
        ("help", 1, 0.5),
        ("profile", 1, 0.5),
    ]
    # one definition of a path: the same sequences as paths from profile (markers named apart)
    from_profile = sequences(wb.paths("profile", steps=4, window="1h"))
    assert from_profile == [("profile → help → (end)", 2), ("profile → activate → (end)", 1)]
    assert sequences(f.dropoff_paths(3)) == [("profile → help → (no further events)", 2)]


def test_in_progress_users_and_breakdown_values(wb):
    load(
        wb,
        {
            "ios1": [(0, "signup", {"platform": "ios"}), (10, "profile"), (20, "help")],
            "ios2": [(0, "signup", {"platform": "ios"}), (10, "profile")],
            "web1": [(0, "signup", {"platform": "web"}), (10, "profile"), (20, "settings")],
            "open": [(9000, "signup", {"platform": "ios"}), (9010, "profile")],
            "closer": [(10000, "z")],
            "conv": [(0, "signup"), (10, "profile"), (20, "activate")],
        },
    )
    f = wb.funnel(STEPS, window="1h", breakdown="platform")
    ios = f.dropoff_paths(3, breakdown_value="ios")
    assert ios.droppers == len(f.dropped(3, breakdown_value="ios")) == 2  # "open" is in progress
    assert next_events(ios) == [("(no further events)", 1, 0.5), ("help", 1, 0.5)]
    assert next_events(f.dropoff_paths(3)) == [
        ("(no further events)", 1, pytest.approx(1 / 3)),
        ("help", 1, pytest.approx(1 / 3)),
        ("settings", 1, pytest.approx(1 / 3)),
    ]


def test_top_keeps_the_rest_as_other_events_so_shares_still_add_up(wb):
    journeys = {
        f"d{e}{i}": [(0, "signup"), (10, "profile"), (20, e)]
        for e in "abc"
        for i in range(3 - "abc".index(e))
    }
    journeys["none"] = [(0, "signup"), (10, "profile")]
    journeys["closer"] = [(20000, "z")]
    journeys["conv"] = [(0, "signup"), (10, "profile"), (20, "activate")]
    load(wb, journeys)  # a: 3 droppers, b: 2, c: 1, nothing: 1
    d = wb.funnel(STEPS, window="1h").dropoff_paths(3, top=1)
    assert [(e, u) for e, u, _ in next_events(d)] == [
        ("a", 3),
        ("(no further events)", 1),
        ("(other events)", 3),
    ]
    assert d.table.users.sum() == d.droppers == 7 and d.table.share.sum() == pytest.approx(1.0)


def test_figure_flows_add_up_and_start_from_the_last_step_reached(wb):
    load(wb, JOURNEYS)
    d = wb.funnel(STEPS, window="1h").dropoff_paths(3)
    fig = d.figure()
    into, out = flows(fig)
    labels = list(fig.data[0].node.label)
    start = labels.index("profile")
    assert start not in into and out[start] == d.droppers == 4
    for node in into:
        if node in out:
            assert into[node] == out[node], labels[node]
    assert "did not reach activate" in fig.layout.title.text
    assert "min_by(t1, t2)" in d.sql and "help" not in d.params.values()


def test_no_droppers_is_zero_rows_not_an_error(wb):
    load(wb, {"conv": [(0, "signup"), (10, "profile"), (20, "activate")], "closer": [(20000, "z")]})
    d = wb.funnel(STEPS, window="1h").dropoff_paths(3)
    assert d.droppers == 0 and len(d.table) == 0 and len(d.edges) == 0 and len(d.sequences) == 0
    assert list(d.table.columns) == ["next_event", "users", "share"]
    assert "no paths" in d.figure().layout.title.text


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"step": 1}, "funnel.step"),
        ({"step": 4}, "funnel.step"),
        ({"step": 3, "steps": 1}, "paths.steps"),
        ({"step": 3, "horizon": "0s"}, "funnel.horizon"),
        ({"step": 3, "horizon": "soon"}, "funnel.horizon_format"),
        ({"step": 3, "top": 0}, "paths.top"),
    ],
)
def test_validation_codes(wb, kwargs, code):
    load(wb, JOURNEYS)
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(STEPS, window="1h").dropoff_paths(**kwargs)
    assert info.value.code == code
    assert "What to do" in str(info.value)


def test_unordered_funnels_have_no_step_event_to_start_from(wb):
    load(wb, JOURNEYS)
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(STEPS, window="1h", order="unordered").dropoff_paths(3)
    assert info.value.code == "funnel.unordered_dropoff"
