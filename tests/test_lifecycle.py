"""Lifecycle (L1) and stickiness journeys."""

from __future__ import annotations

import pandas as pd
import pytest

import poanalytics as poa
from tests.journeys import load

D = 86400
W = 7 * D


def test_l1_new_returning_resurrecting_dormant(wb_file):
    load(
        wb_file,
        {
            "a": [(0, "e"), (W, "e"), (3 * W, "e")],  # new, returning, (dormant), resurrecting
            "b": [(W, "e")],  # new in week 1, dormant in week 2
            "c": [(2 * W, "e"), (2 * W + D, "e")],  # new in week 2, dormant in week 3
        },
    )
    t = wb_file.lifecycle().table
    assert list(t.period_start) == [
        pd.Timestamp(d) for d in ("2024-03-04", "2024-03-11", "2024-03-18", "2024-03-25")
    ]
    assert list(t.new) == [1, 1, 1, 0]
    assert list(t.returning) == [0, 1, 0, 0]
    assert list(t.resurrecting) == [0, 0, 0, 1]
    assert list(t.dormant) == [0, 0, -2, -1]
    fig = wb_file.lifecycle().figure()
    assert [tr.name for tr in fig.data] == ["new", "returning", "resurrecting", "dormant"]


def test_l1_new_means_first_event_ever_even_before_the_range(wb):
    load(wb, {"old": [(0, "e"), (2 * W, "e")], "fresh": [(2 * W, "e")]})
    t = wb.lifecycle(date_from="2024-03-18").table
    assert (int(t.new[0]), int(t.resurrecting[0])) == (1, 1)


def test_stickiness_counts_local_days(wb):
    load(wb, {"u": [(0, "e"), (3600, "e"), (D, "e")], "v": [(0, "e")]})
    t = wb.stickiness().table
    assert list(zip(t.active_days, t.users, strict=True)) == [(1, 1), (2, 1)]


def test_validation_and_empty(wb):
    load(wb, {"u": [(0, "e")]})
    with pytest.raises(poa.MetricError) as info:
        wb.lifecycle(period="quarter")
    assert info.value.code == "lifecycle.period"
    with pytest.raises(poa.MetricError) as info:
        wb.lifecycle(event="f", strict=True)
    assert info.value.code == "lifecycle.unknown_event"
