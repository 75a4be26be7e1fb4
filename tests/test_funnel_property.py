"""The SQL funnel agrees with a small pure-Python funnel on random event histories (hypothesis)."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import poanalytics as poa
from poanalytics.metrics import Exclusion, FunnelQuery, Prop, Step, run_funnel
from tests import funnel_reference as ref

T0 = pd.Timestamp("2024-01-01", tz="UTC")
EVENTS = ["a", "b", "c", "x"]

event_st = st.tuples(
    st.sampled_from(["u1", "u2", "u3"]),
    st.sampled_from(EVENTS),
    st.integers(min_value=0, max_value=12),  # seconds: many ties on purpose
    st.sampled_from([None, "web", "ios"]),
)
step_st = st.one_of(
    st.sampled_from(["a", "b", "c"]).map(Step),
    st.just(Step(None)),
    st.sampled_from(["a", "b"]).map(lambda e: Step(e, {"platform": "web"})),
    # operators beyond equality (a missing platform matches only the negative ones)
    st.sampled_from(
        [
            Step("a", where={"platform": Prop.ne("web")}),
            Step("b", where=[("platform", "in", ["web", "ios"])]),
            Step("a", where={"platform": Prop.starts_with("i")}),
            Step(None, where=[("platform", "is_not_set")]),
            Step("b", where=[("platform", "not_in", ["ios"]), ("platform", "contains", "e")]),
        ]
    ),
)


@st.composite
def funnel_case(draw):
    events = draw(st.lists(event_st, min_size=0, max_size=14))
    # every event name and property exists, so validation never refuses the funnel
    events += [("zz", e, 100 + i, "web") for i, e in enumerate(EVENTS)]
    steps = draw(st.lists(step_st, min_size=2, max_size=4))
    window = draw(st.integers(min_value=1, max_value=8))
    order = draw(st.sampled_from(["ordered", "strict", "unordered"]))
    strategy = draw(st.sampled_from(["lists", "lists-asof", "asof", "window"]))
    exclusions = ()
    if order == "unordered":
        if draw(st.booleans()):
            exclusions = (Exclusion("x", 0, len(steps) - 1),)
    elif draw(st.booleans()):
        lo = draw(st.integers(min_value=0, max_value=len(steps) - 2))
        hi = draw(st.integers(min_value=lo + 1, max_value=len(steps) - 1))
        exclusions = (Exclusion("x", lo, hi),)
    return events, steps, window, order, exclusions, strategy


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=funnel_case())
def test_sql_funnel_matches_reference(case):
    events, steps, window, order, exclusions, strategy = case
    wb = poa.Workbench(":memory:")
    try:
        frame = pd.DataFrame(
            {
                "user_id": [e[0] for e in events],
                "event": [e[1] for e in events],
                "ts": [T0 + pd.Timedelta(seconds=e[2]) for e in events],
                "properties": [({"platform": e[3]} if e[3] else None) for e in events],
            }
        )
        wb.load_events(frame)
        rowids: dict[str, list] = {}
        for rid, u, ev, ts, props in wb.sql(
            "SELECT rowid, user_id, event, epoch(ts) - epoch(TIMESTAMPTZ '2024-01-01 00:00:00+00'), "
            "properties->>'$.platform' FROM events"
        ).itertuples(index=False):
            rowids.setdefault(u, []).append(
                (int(ts), ev, {"platform": props} if isinstance(props, str) else {}, int(rid))
            )
        if any(x.as_step().key() in {s.key() for s in steps} for x in exclusions):
            return  # rejected by validation, tested elsewhere
        result = run_funnel(
            wb.con,
            FunnelQuery(steps, window=f"{window}s", order=order, exclusions=exclusions),
            # "lists-asof": every unit over the work limit, so the lists' ASOF fallback runs
            strategy=strategy.split("-")[0],
            work_limit=-1 if strategy == "lists-asof" else 4096,
        )
        got = {
            r[0]: (r[1], list(r[2:]))
            for r in wb.sql(
                f"SELECT user_id, depth, {', '.join(f'epoch(t{k})::BIGINT - 1704067200' for k in range(1, len(steps) + 1))} "
                f"FROM {result.per_user_table}"
            ).itertuples(index=False)
        }
        for user, evs in rowids.items():
            if order == "unordered":
                depth, times = ref.unordered(evs, steps, window, exclusions)
            else:
                depth, times = ref.furthest(
                    evs, steps, window, strict=(order == "strict"), exclusions=exclusions
                )
            if depth == 0:
                assert user not in got, (user, got.get(user))
                continue
            assert got[user][0] == depth, (user, evs, got[user])
            assert [int(t) for t in got[user][1][:depth]] == times, (user, evs, got[user])
        counts = list(result.table.users)
        assert counts == sorted(counts, reverse=True)  # F1: never increases along the funnel
    finally:
        wb.close()
