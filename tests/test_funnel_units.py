"""Funnels counted by session or account (F17) and closed journeys (F18), as journeys and on a real
process log (the WABO receipt phase) against an independent pandas computation, on DuckDB and on
Spark."""

from __future__ import annotations

import pandas as pd
import pytest

import poanalytics as poa
from tests.journeys import T0, at, counts, load

H = 3600
D = 86400


@pytest.fixture
def wb(engine_wb):
    """Every journey here runs on DuckDB and on Spark, with the same expected numbers."""
    return engine_wb


def load_sessions(wb: poa.Workbench, rows: list[tuple]) -> None:
    """rows: (user, session or None, seconds after T0, event, properties or None)."""
    frame = pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "session_id": [r[1] for r in rows],
            "event": [r[3] for r in rows],
            "ts": [T0 + pd.Timedelta(seconds=r[2]) for r in rows],
            "properties": [r[4] if len(r) > 4 else None for r in rows],
        }
    )
    report = wb.load_events(frame)
    assert report.rows_quarantined == 0


def test_f17_funnel_by_session_one_window_and_result_per_session(wb):
    load_sessions(
        wb,
        [
            ("u1", "s1", 0, "a"),
            ("u1", "s1", 10, "b"),
            ("u1", "s2", 100, "a"),  # u1's second session: step 1 only
            ("u2", "s1", 0, "a"),  # the same session id under another user is another session
            ("u2", "s1", 5, "b"),
            ("u2", "s1", 9, "c"),
            ("u4", "s1", 0, "a"),  # a then b across two sessions: a user converts, no session does
            ("u4", "s2", 60, "b"),
            ("u3", None, 0, "a"),  # no session: left out, and said so
            ("u3", None, 1, "b"),
            ("zz", "s9", 9 * H, "z"),
        ],
    )
    by_user = wb.funnel(["a", "b", "c"], window="1h")
    assert counts(by_user) == [4, 4, 1] and by_user.warnings == []
    with pytest.warns(poa.PoaWarning, match="no session_id") as caught:
        f = wb.funnel(["a", "b", "c"], window="1h", unit="session")
    assert caught[0].filename == __file__  # the caller's line, not poanalytics' insides
    assert counts(f) == [4, 2, 1]
    assert f.users(2) == ["u1/s1", "u2/s1"]
    assert f.dropped(2) == ["u1/s2", "u4/s1"]
    assert len(f.warnings) == 1 and "2 funnel events have no session_id" in f.warnings[0].message
    assert f.warnings[0].code == "funnel.unit_missing"
    with pytest.raises(poa.MetricError) as info:
        f.correlation()
    assert info.value.code == "funnel.unit_analysis"


def test_f17_funnel_by_account_property_counts_accounts(wb):
    load(
        wb,
        {
            "alice": [(0, "a", {"company_id": "acme"})],
            "bob": [(600, "b", {"company_id": "acme"})],  # a colleague finishes what alice began
            "carol": [(0, "a", {"company_id": "globex"}), (2 * H, "b", {"company_id": "globex"})],
            "dave": [(0, "a", {"company_id": "initech"}), (10, "a", {"company_id": "initech"})],
            "erin": [(0, "a"), (1, "b")],  # no account: left out
            "zz": [(9 * H, "z", {"company_id": "zz"})],
        },
    )
    f = wb.funnel(["a", "b"], window="1h", unit={"property": "company_id"})
    assert counts(f) == [3, 1]  # acme converts; globex's b is outside its window; initech stops
    assert f.users(2) == ["acme"]
    assert f.table.median_seconds_from_previous[1] == 600
    assert "2 funnel events have no property 'company_id'" in f.warnings[0].message
    # strict and unordered funnels count the same units
    assert counts(
        wb.funnel(["a", "b"], window="1h", unit={"property": "company_id"}, order="unordered")
    ) == [3, 1]
    assert counts(
        wb.funnel(["a", "b"], window="1h", order="strict", unit={"property": "company_id"})
    ) == [3, 1]


@pytest.mark.parametrize(
    ("unit", "code"),
    [
        ("sessions", "funnel.unit"),
        ({"prop": "company_id"}, "funnel.unit"),
        ({"property": "compnay_id"}, "funnel.unknown_property"),
    ],
)
def test_f17_unknown_units_are_refused_with_a_code(wb, unit, code):
    load(wb, {"u": [(0, "a", {"company_id": "acme"}), (1, "b")]})
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(["a", "b"], unit=unit)
    assert info.value.code == code and "What to do" in str(info.value)


def test_f17_retention_by_account(wb):
    load(
        wb,
        {
            "alice": [(0, "signup", {"company_id": "acme"})],
            "bob": [(7 * D, "login", {"company_id": "acme"})],  # acme comes back in week 1
            "carol": [(0, "signup", {"company_id": "globex"})],
            "dan": [(1, "signup"), (7 * D + 1, "login")],  # no account: left out
            "zz": [(21 * D, "z", {"company_id": "zz"})],
        },
    )
    by_user = wb.retention("signup", None, period="week", intervals=2)
    assert list(by_user.table.users[:2]) == [3, 1]  # only dan returned
    with pytest.warns(poa.PoaWarning, match="company_id") as caught:
        r = wb.retention(
            "signup", None, period="week", intervals=2, unit={"property": "company_id"}
        )
    assert caught[0].filename == __file__
    assert list(r.table.users[:3]) == [2, 1, 0]
    assert r.table.rate[1] == 0.5
    assert "2 events have no property 'company_id'" in r.warnings[0].message
    assert r.warnings[0].code == "retention.unit_missing"
    s = wb.retention("signup", None, period="week", intervals=2, unit="session")
    assert s.table.empty and "have no session_id" in s.warnings[0].message


def test_f18_terminal_events_end_a_journey_and_as_of_sets_the_observation_end(wb):
    load(
        wb,
        {
            "declined": [(0, "submit"), (D, "declined")],
            "declined_then_more": [(0, "submit"), (D, "declined"), (D + H, "note")],
            "open": [(0, "submit")],
            "converted": [(0, "submit"), (D + 12 * H, "accept")],
            "cancelled": [(0, "submit"), (2 * D, "cancelled")],
        },
    )
    plain = wb.funnel(["submit", "accept"], window="30d")
    row = plain.table.iloc[1]
    assert (row.users, row.dropped, row.in_progress) == (1, 0, 4)  # every window is still open
    closed = wb.funnel(
        ["submit", "accept"], window="30d", terminal_events=["declined", "cancelled"]
    )
    row = closed.table.iloc[1]
    assert (row.users, row.dropped, row.in_progress) == (1, 2, 2)
    assert closed.dropped(2) == ["cancelled", "declined"]
    # a finished log observed to its end + the window: nobody is left in progress
    done = wb.funnel(["submit", "accept"], window="30d", as_of=at(2 * D + 30 * D))
    row = done.table.iloc[1]
    assert (row.users, row.dropped, row.in_progress) == (1, 4, 0)
    # an earlier observation end sees only the events up to it
    early = wb.funnel(["submit", "accept"], window="30d", as_of=at(D), terminal_events=["declined"])
    row = early.table.iloc[1]
    assert (row.users, row.dropped, row.in_progress) == (0, 2, 3)
    for order in ("strict", "unordered"):
        g = wb.funnel(
            ["submit", "accept"],
            window="30d",
            order=order,
            terminal_events=["declined", "cancelled"],
        )
        assert tuple(g.table.iloc[1][["users", "dropped", "in_progress"]]) == (1, 2, 2), order
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(["submit", "accept"], terminal_events="declined")
    assert info.value.code == "funnel.terminal_events"
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(["submit", "accept"], terminal_events=["declnied"])
    assert info.value.code == "funnel.unknown_event"
    # an empty name is refused, and the hint does not offer None (any event), which is refused too
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(["submit", "accept"], terminal_events=[""])
    assert info.value.code == "funnel.event_type"
    assert "None" not in (info.value.hint or "")


# does a permit case reach the "document X" branch? Most cases close at T10 without it
STEPS = [
    "Confirmation of receipt",
    "T06 Determine necessity of stop advice",
    "T11 Create document X request unlicensed",
    "T15 Print document X request unlicensed",
]
ENDS = ["T10 Determine necessity to stop indication", "T20 Print report Y to stop indication"]
WINDOW = pd.Timedelta(days=30)


def pandas_funnel(events: pd.DataFrame, as_of=None, terminal=()) -> tuple[list, list]:
    """Users and in-progress counts per step, by hand: one step-1 event per case in this log, so
    each case makes one attempt; step k is the first step-k event at or after step k-1's (F6)."""
    if as_of is not None:
        events = events[events.ts <= as_of]
    end = as_of if as_of is not None else events.ts.max()
    starts = events[events.event == STEPS[0]]
    assert starts.user_id.is_unique  # the assumption this computation rests on
    cases = starts[["user_id", "ts"]].rename(columns={"ts": "t1"}).sort_values("t1")
    prev = "t1"
    for k, name in enumerate(STEPS[1:], start=2):
        hits = events[events.event == name][["user_id", "ts"]].rename(columns={"ts": f"t{k}"})
        reached = cases[cases[prev].notna()].sort_values(prev)
        matched = pd.merge_asof(
            reached,
            hits.sort_values(f"t{k}"),
            left_on=prev,
            right_on=f"t{k}",
            by="user_id",
            direction="forward",
        )
        cases = pd.concat([matched, cases[cases[prev].isna()]], ignore_index=True)
        cases.loc[cases[f"t{k}"] - cases.t1 > WINDOW, f"t{k}"] = pd.NaT
        prev = f"t{k}"
    cases["depth"] = cases[[f"t{k}" for k in range(1, len(STEPS) + 1)]].notna().sum(axis=1)
    last = events.sort_values("ts").groupby("user_id").ts.max()
    last_end = events[events.event.isin(terminal)].groupby("user_id").ts.max()
    ended = (last_end.reindex(last.index) == last).reindex(cases.user_id).fillna(False).to_numpy()
    cases["in_progress"] = (cases.t1 + WINDOW > end) & ~ended & (cases.depth < len(STEPS))
    users = [int((cases.depth >= k).sum()) for k in range(1, len(STEPS) + 1)]
    waiting = [0] + [
        int(((cases.depth == k - 1) & cases.in_progress).sum()) for k in range(2, len(STEPS) + 1)
    ]
    return users, waiting


def test_f18_on_the_receipt_process_log_against_pandas(wb, shared_data):
    path = shared_data / "events" / "receipt_wabo.csv"
    wb.load_events(
        path,
        columns={"user_id": "case:concept:name", "event": "concept:name", "ts": "time:timestamp"},
    )
    events = wb.sql("SELECT user_id, event, ts FROM events")
    end = events.ts.max()

    plain = wb.funnel(STEPS, window="30d")
    assert (list(plain.table.users), list(plain.table.in_progress)) == pandas_funnel(events)
    assert plain.table.in_progress.sum() > 0  # the log's last month looks unfinished

    closed = wb.funnel(STEPS, window="30d", terminal_events=ENDS)
    want = pandas_funnel(events, terminal=ENDS)
    assert (list(closed.table.users), list(closed.table.in_progress)) == want
    assert 0 < closed.table.in_progress.sum() < plain.table.in_progress.sum()

    finished = wb.funnel(STEPS, window="30d", as_of=end + WINDOW)
    assert list(finished.table.in_progress) == [0, 0, 0, 0]
    assert list(finished.table.users) == list(plain.table.users)
    assert list(finished.table.dropped[1:]) == [
        a - b for a, b in zip(plain.table.users[:-1], plain.table.users[1:], strict=True)
    ]
    mid = end - pd.Timedelta(days=200)
    half = wb.funnel(STEPS, window="30d", as_of=mid, terminal_events=ENDS)
    assert (list(half.table.users), list(half.table.in_progress)) == pandas_funnel(
        events, as_of=mid, terminal=ENDS
    )
