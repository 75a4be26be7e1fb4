"""Churn (L2) against a reference written from the contract's words, on random event logs.

For each period the reference counts, from the raw events and nothing the SQL computes: users
active at its start (an event in (t0 - N, t0]), and users who became churned in it (a churn
moment, N after an event with no next event within N, that falls in [t0, t1) and by the data's
last event), with the period unobservable until N after the first event. Times fall on and next
to local and UTC midnights, in zones with daylight-saving changes, so every boundary is met.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import poanalytics as poa

BASE = pd.Timestamp("2024-02-20", tz="UTC")  # the span crosses New York's DST start (Mar 10)
NUDGE = [0, 0, 0, 1, -1, 1800, -1800]  # seconds next to whole hours: the boundaries themselves


def random_log(rng: np.random.Generator) -> pd.DataFrame:
    n = int(rng.integers(30, 250))
    hours = rng.integers(0, 45 * 24, size=n)
    ts = [BASE + pd.Timedelta(hours=int(h), seconds=int(rng.choice(NUDGE))) for h in hours]
    return pd.DataFrame(
        {
            "user_id": [f"u{int(u)}" for u in rng.integers(0, 20, size=n)],
            "event": [str(e) for e in rng.choice(["a", "b"], size=n)],
            "ts": ts,
        }
    )


def reference(events: pd.DataFrame, table: pd.DataFrame, tz: str, days: int, event) -> pd.DataFrame:
    """active_at_start and churned per period_start of ``table``, from ``events`` alone."""
    n = pd.Timedelta(days=days)
    first, last = events.ts.min(), events.ts.max()
    mine = events if event is None else events[events.event == event]
    mine = mine.sort_values(["user_id", "ts"])
    nxt = mine.groupby("user_id").ts.shift(-1)
    gone = mine[(nxt.isna() | (nxt - mine.ts > n)) & (mine.ts + n <= last)]
    moments = gone.assign(moment=gone.ts + n)
    starts = [pd.Timestamp(p).tz_localize(tz) for p in table.period_start]
    step = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(weeks=1)}
    rows = []
    for t0 in starts:
        t1 = (t0.tz_localize(None) + step[table.attrs["period"]]).tz_localize(tz)
        active = mine[(mine.ts <= t0) & (mine.ts > t0 - n)].user_id.nunique()
        observable = t0 - first >= n and t0 <= last
        churned = moments[(moments.moment >= t0) & (moments.moment < t1)].user_id.nunique()
        rows.append((active, churned if observable else None))
    return pd.DataFrame(rows, columns=["active_at_start", "churned"])


@pytest.mark.parametrize("seed", range(8))
def test_churn_matches_the_reference_on_random_logs(seed):
    rng = np.random.default_rng(seed)
    events = random_log(rng)
    with poa.Workbench(":memory:") as wb:
        wb.load_events(events)
        checked = 0
        for period in ("day", "week"):
            for tz in ("UTC", "America/New_York", "Asia/Kolkata"):
                for days in (1, 3, 7):
                    event = "a" if rng.random() < 0.5 else None
                    table = wb.churn(
                        inactive_days=days, period=period, timezone=tz, event=event
                    ).table
                    table.attrs["period"] = period
                    want = reference(events, table, tz, days, event)
                    got = table[["active_at_start", "churned"]].reset_index(drop=True)
                    assert [int(x) for x in got.active_at_start] == list(want.active_at_start), (
                        period,
                        tz,
                        days,
                        event,
                    )
                    assert [None if pd.isna(x) else int(x) for x in got.churned] == [
                        None if pd.isna(x) else int(x) for x in want.churned
                    ], (period, tz, days, event)
                    checked += int(want.active_at_start.sum())
        assert checked > 0  # the logs give users to count
