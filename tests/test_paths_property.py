"""The fast path of ``wb.paths`` (one path per user: ``first_path_sql``, with its fallback for long
runs of repeats) gives the same path rows as the definition, ``path_sql`` over every row, on random
event histories (hypothesis): ties at one instant, long runs of repeats, both directions, windows,
date ranges, exclusions, anchors with property filters, with and without collapsing repeats.

Spark builds the definition for its dialect (no temp tables, no lists): on fewer such histories
its node rows equal DuckDB's ``path_sql`` over every row, and its edges, sequences and users equal
the DuckDB Workbench's."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import poanalytics as poa
from poanalytics.db import fetch_df
from poanalytics.metrics import Step
from poanalytics.metrics.paths import PathsQuery, compute_paths, events_stream, plan_paths
from poanalytics.metrics.paths_sql import path_sql, row_limit
from poanalytics.sql import Params
from tests.journeys import T0

EVENTS = ["a", "b", "c", "x"]
NODE_COLUMNS = ["user_id", "i", "label", "marker"]

event_st = st.tuples(
    st.sampled_from(["u1", "u2", "u3", "u4"]),
    st.sampled_from(EVENTS),
    st.integers(min_value=0, max_value=20),  # seconds: many ties on purpose
    st.sampled_from([None, "web", "ios"]),
)
# runs of one event longer than the rows read first, so users take the fallback
run_st = st.tuples(
    st.sampled_from(["u1", "u2", "u3", "u4"]),
    st.sampled_from(EVENTS),
    st.integers(min_value=0, max_value=20),
    st.integers(min_value=1, max_value=30),
)
anchor_st = st.one_of(
    st.none(),
    st.sampled_from(EVENTS),
    st.sampled_from(["a", "b"]).map(lambda e: Step(e, {"platform": "web"})),
)


@st.composite
def paths_case(draw):
    events = draw(st.lists(event_st, min_size=0, max_size=30))
    for user, name, start, length in draw(st.lists(run_st, max_size=2)):
        events += [(user, name, start + j, None) for j in range(length)]
    # every event name and the property exist, so validation never refuses the query
    events += [("zz", e, 40, "web") for e in EVENTS]
    anchor = draw(anchor_st)
    kwargs: dict = {
        "steps": draw(st.integers(min_value=2, max_value=5)),
        "collapse_repeats": draw(st.booleans()),
        "window": draw(st.sampled_from([None, "3s", "10s"])),
    }
    if anchor is not None:
        kwargs["start_event" if draw(st.booleans()) else "end_event"] = anchor
    bounds = draw(st.sampled_from([None, (2, None), (None, 15), (3, 12)]))
    if bounds is not None:
        lo, hi = bounds
        kwargs["date_from"] = T0 + pd.Timedelta(seconds=lo) if lo is not None else None
        kwargs["date_to"] = T0 + pd.Timedelta(seconds=hi) if hi is not None else None
    excluded = draw(st.sampled_from([(), ("x",)]))
    name = anchor.event if isinstance(anchor, Step) else anchor
    if name not in excluded:
        kwargs["exclude_events"] = excluded
    return events, kwargs


def events_frame(events: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [e[0] for e in events],
            "event": [e[1] for e in events],
            "ts": [T0 + pd.Timedelta(seconds=e[2]) for e in events],
            "properties": [{"platform": e[3]} if e[3] else None for e in events],
        }
    )


def nodes(frame: pd.DataFrame) -> list[tuple]:
    rows = frame[NODE_COLUMNS].astype({"i": "int64", "marker": "bool"})
    return sorted(rows.itertuples(index=False, name=None))


def _both(con, q: PathsQuery):
    """compute_paths' result for ``q`` (its node rows in ``.extra``), and the window definition's
    node rows over every event (``path_sql``)."""
    plan, anchor = plan_paths(con, q)
    params = Params()
    fast = compute_paths(
        con,
        plan,
        events_stream(q, plan, anchor, params, table="events"),
        params,
        top=10,
        max_edges=50,
        min_users=1,
        extra_sql="SELECT user_id, i, label, marker FROM {nodes}",
    )
    ref_params = Params()
    sql = path_sql(plan, events_stream(q, plan, anchor, ref_params, table="events"), ref_params)
    return fast, fetch_df(con, sql, ref_params.used_in(sql))


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(paths_case())
def test_first_path_rows_equal_path_sql_over_every_row(case):
    events, kwargs = case
    wb = poa.Workbench(":memory:")
    try:
        wb.load_events(events_frame(events))
        con = wb.con
        q = PathsQuery(**kwargs)
        plan, _ = plan_paths(con, q)
        assert plan.first_only
        fast, reference = _both(con, q)
        assert fast.extra is not None
        assert nodes(fast.extra) == nodes(reference)
        # and the public result is built from the same rows
        assert wb.paths(**kwargs).users == reference.user_id.nunique()
    finally:
        wb.close()


def _reference(con, q: PathsQuery) -> pd.DataFrame:
    """The window definition's node rows over every event (``path_sql`` on DuckDB)."""
    plan, anchor = plan_paths(con, q)
    params = Params()
    sql = path_sql(plan, events_stream(q, plan, anchor, params, table="events"), params)
    return fetch_df(con, sql, params.used_in(sql))


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(case=paths_case())
def test_spark_path_rows_and_tables_equal_duckdbs(spark, case):
    """The same histories on Spark (the events with their load order as ``seq``, ties at one
    instant included): node rows equal to the reference, tables equal to the Workbench's."""
    from poanalytics.spark import SparkWorkbench
    from tests.engines import spark_frame

    events, kwargs = case
    wb = poa.Workbench(":memory:")
    on = None
    try:
        wb.load_events(events_frame(events))
        q = PathsQuery(**kwargs)
        reference = _reference(wb.con, q)
        expected = wb.paths(**kwargs)
        on = SparkWorkbench(spark, spark_frame(spark, wb))
        plan, anchor = plan_paths(wb.con, q)  # the same validation; Spark's catalog is not read
        params = Params()
        stream = events_stream(q, plan, anchor, params, table=on.view, dialect=on.runner.dialect)
        got = compute_paths(
            on.runner,
            plan,
            stream,
            params,
            top=q.top,
            max_edges=q.max_edges,
            min_users=q.min_users,
            extra_sql="SELECT user_id, i, label, marker FROM {nodes}",
        )
        assert got.extra is not None and on.view in got.sql
        assert nodes(got.extra) == nodes(reference)
        assert got.users == expected.users == reference.user_id.nunique()
        for a, b in ((expected.edges, got.edges), (expected.sequences, got.sequences)):
            pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    finally:
        if on is not None:
            on.close()
        wb.close()


def test_users_with_long_runs_take_the_fallback_and_ties_at_the_edge_are_kept(wb):
    # u1: a run of repeats longer than the rows read first (the fallback); u2: 16 rows tied at one
    # instant after the event, so the rows read first end inside the tie (all of it is read)
    rows = [("u1", "a", 0)] + [("u1", "b", 1 + j) for j in range(20)] + [("u1", "c", 30)]
    rows += [("u2", "a", 0)] + [("u2", e, 1) for e in ["b", "c", "b", "c"] * 4] + [("u2", "x", 2)]
    wb.load_events(
        pd.DataFrame(
            {
                "user_id": [r[0] for r in rows],
                "event": [r[1] for r in rows],
                "ts": [T0 + pd.Timedelta(seconds=r[2]) for r in rows],
            }
        )
    )
    q = PathsQuery(start_event="a", steps=3)
    assert row_limit(plan_paths(wb.con, q)[0]) == 12
    fast, reference = _both(wb.con, q)
    assert "DELETE FROM" in fast.sql  # the fallback ran (u1)
    assert fast.extra is not None
    assert nodes(fast.extra) == nodes(reference)
    assert list(zip(fast.sequences.path, fast.sequences.users, strict=True)) == [("a → b → c", 2)]
