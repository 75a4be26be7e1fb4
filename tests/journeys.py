"""Journeys written as data: {user: [(seconds after T0, event, {properties}), ...]} -> a warehouse."""

from __future__ import annotations

import pandas as pd

import poanalytics as poa

T0 = pd.Timestamp("2024-03-04 00:00:00", tz="UTC")  # a Monday


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def load(
    wb: poa.Workbench, journeys: dict[str, list[tuple]], start: pd.Timestamp = T0
) -> poa.Workbench:
    rows = []
    for user, events in journeys.items():
        for item in events:
            seconds, event = item[0], item[1]
            props = item[2] if len(item) > 2 else None
            rows.append(
                {
                    "user_id": user,
                    "event": event,
                    "ts": start + pd.Timedelta(seconds=seconds),
                    "properties": props,
                }
            )
    frame = pd.DataFrame(rows, columns=["user_id", "event", "ts", "properties"])
    report = wb.load_events(frame)
    assert report.rows_quarantined == 0, wb.quarantine()
    return wb


def counts(result) -> list[int]:
    return [int(u) for u in result.table["users"]]
