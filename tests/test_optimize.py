"""`poanalytics optimize` (ingest/optimize.py): the events rewritten in user order keep every row,
every answer (ties at one instant included), and the answers of loads made afterwards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.cli import main
from poanalytics.metrics.spec import Exclusion, Step

T0 = pd.Timestamp("2026-03-02", tz="UTC")


def _events(users: int, seed: int, days: int = 40) -> pd.DataFrame:
    """Random events in no user order, on whole minutes (so many ties at one instant), with a
    plan property that splits one event name into two funnel steps."""
    rng = np.random.default_rng(seed)
    size = users * 12
    return pd.DataFrame(
        {
            "user_id": [f"u{i:04d}" for i in rng.integers(0, users, size)],
            "event": rng.choice(["visit", "visit", "cart", "pay", "other"], size),
            "ts": T0 + pd.to_timedelta(rng.integers(0, days * 1440, size), unit="min"),
            "properties": [f'{{"plan": "{p}"}}' for p in rng.choice(["free", "pro"], size)],
        }
    )


def _ties() -> pd.DataFrame:
    """One instant, two users, two orders: u-pro-first loads the pro visit before the free one,
    u-free-first the other way round; the funnel [visit, visit where plan = pro] converts only
    when the pro visit comes second, so the load order at one instant decides it (F6 leaves it
    to the load order); optimize must keep each user's."""
    at = T0 + pd.Timedelta(days=3)
    rows = [
        ("u-pro-first", "pro"),
        ("u-free-first", "free"),
        ("u-pro-first", "free"),
        ("u-free-first", "pro"),
    ]
    return pd.DataFrame(
        {
            "user_id": [u for u, _ in rows],
            "event": "visit",
            "ts": at,
            "properties": [f'{{"plan": "{p}"}}' for _, p in rows],
        }
    )


def _answers(wb: poa.Workbench) -> dict[str, pd.DataFrame]:
    pro = Step("visit", where={"plan": "pro"})
    funnels = {
        "funnel": wb.funnel(["visit", "cart", "pay"], window="2d"),
        "funnel_tie": wb.funnel([Step("visit"), pro], window="1d"),
        "funnel_any": wb.funnel([None, "cart", "pay"], window="1d"),
        "funnel_excl": wb.funnel(
            ["visit", "cart", "pay"], window="3d", exclusions=[Exclusion("other", 0, 1)]
        ),
        "funnel_breakdown": wb.funnel(
            ["visit", "pay"], window="2d", breakdown="plan", attribution="last_touch"
        ),
    }
    out = {name: f.table for name, f in funnels.items()}
    for name, f in funnels.items():
        out[f"{name}_users"] = pd.DataFrame({"user": sorted(map(str, f.users(step=2)))})
    out["paths"] = wb.paths("visit", steps=4).table
    out["retention"] = wb.retention(period="week", intervals=4).table
    out["lifecycle"] = wb.lifecycle(period="week").table
    return out


def _same(got: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    assert got.keys() == expected.keys()
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name], obj=name)


def _out_of_user_order(wb: poa.Workbench) -> int:
    return int(
        wb.sql(
            """SELECT count(*) AS n FROM (SELECT user_id, ts,
                   lag(user_id) OVER w AS pu, lag(ts) OVER w AS pt FROM events WINDOW w AS (ORDER BY rowid))
               WHERE pu > user_id OR (pu = user_id AND pt > ts)"""
        ).n.iloc[0]
    )


def _rows(wb: poa.Workbench) -> pd.DataFrame:
    frame = wb.sql("SELECT * EXCLUDE (properties), properties::VARCHAR AS p FROM events")
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_optimize_keeps_every_row_and_answer_and_puts_users_together(tmp_path):
    with poa.Workbench(tmp_path / "w.duckdb") as wb:
        wb.load_events(_events(300, seed=1))
        wb.load_events(_ties())
        wb.load_events(_events(300, seed=2))  # a second load: users spread over both
        rows, answers = _rows(wb), _answers(wb)
        assert _out_of_user_order(wb) > 0
        tie = wb.funnel([Step("visit"), Step("visit", where={"plan": "pro"})], window="1d")
        converted = set(tie.users(step=2))
        assert "u-pro-first" not in converted and "u-free-first" in converted  # load order decides

        report = wb.optimize()

        assert report.events == len(rows) and "events rewritten in user order" in str(report)
        assert _out_of_user_order(wb) == 0
        pd.testing.assert_frame_equal(_rows(wb), rows)
        _same(_answers(wb), answers)
        assert wb.optimize().events == len(rows)  # again: nothing changes
        _same(_answers(wb), answers)


def test_loads_after_optimize_answer_as_without_it(tmp_path):
    # the same three loads into two warehouses, one optimized after the first load: later rows
    # (ties with earlier ones at one instant included) come after, as the load order puts them
    later = pd.concat([_ties(), _events(200, seed=4)])
    answers = {}
    for name, optimize in (("plain", False), ("optimized", True)):
        with poa.Workbench(tmp_path / f"{name}.duckdb") as wb:
            wb.load_events(pd.concat([_ties().iloc[::-1], _events(200, seed=3)]))
            if optimize:
                wb.optimize()
            wb.load_events(later)
            answers[name] = _answers(wb)
    _same(answers["optimized"], answers["plain"])


def test_optimize_an_empty_warehouse_and_a_missing_one(tmp_path):
    with poa.Workbench(tmp_path / "w.duckdb", create=True) as wb:
        assert wb.optimize().events == 0
    with pytest.raises(poa.PoaError) as info:
        poa.Workbench(tmp_path / "typo.duckdb").optimize()
    assert info.value.code == "db.not_found" and not (tmp_path / "typo.duckdb").exists()


def test_the_command(tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    with poa.Workbench(db) as wb:
        wb.load_events(_events(50, seed=5))
        before = _rows(wb)
    assert main(["--db", str(db), "optimize"]) == 0
    assert "events rewritten in user order: 600 events" in capsys.readouterr().out
    with poa.Workbench(db, read_only=True) as wb:
        assert _out_of_user_order(wb) == 0
        pd.testing.assert_frame_equal(_rows(wb), before)


def test_optimize_needs_a_writable_warehouse(tmp_path):
    db = tmp_path / "w.duckdb"
    with poa.Workbench(db) as wb:
        wb.load_events(_events(20, seed=6))
        rows = _rows(wb)
    with poa.Workbench(db, read_only=True) as wb:
        with pytest.raises(poa.PoaError) as info:
            wb.optimize()
        assert info.value.code.startswith("db.") and info.value.hint
        pd.testing.assert_frame_equal(_rows(wb), rows)


def test_the_file_does_not_grow(tmp_path):
    # a rewrite leaves the old rows' blocks free in the file; the second copy moves the rows into
    # them and DuckDB cuts the free end off (several row groups, so blocks matter)
    db = tmp_path / "w.duckdb"
    with poa.Workbench(db) as wb:
        wb.load_events(_events(25_000, seed=7, days=90))  # 300,000 events
    before = db.stat().st_size
    with poa.Workbench(db) as wb:
        report = wb.optimize()
        assert report.compacted and _out_of_user_order(wb) == 0
    assert db.stat().st_size <= before * 1.15, (before, db.stat().st_size)


def test_no_second_copy_where_it_would_not_fit(tmp_path):
    # a file with no free blocks: a second copy could only go to its end, so none is made
    from poanalytics.ingest.optimize import compact_events, free_bytes

    db = tmp_path / "w.duckdb"
    with poa.Workbench(db) as wb:
        wb.load_events(_events(25_000, seed=8))
        rows = _rows(wb)
        with wb.connection(write=True) as con:
            assert free_bytes(con) < 1 << 20
            assert compact_events(con) is None
        pd.testing.assert_frame_equal(_rows(wb), rows)


def test_no_second_copy_while_the_file_stays_attached(tmp_path):
    # held by wb.con, the file is never attached again, so the freed blocks cannot be reused yet:
    # the rows are sorted all the same, and the free space is reported, not grown further
    db = tmp_path / "w.duckdb"
    with poa.Workbench(db) as wb:
        wb.load_events(_events(25_000, seed=9, days=90))
        rows = _rows(wb)
        wb.con  # noqa: B018 (holds the file)
        report = wb.optimize()
        assert not report.compacted and report.free_bytes > 0
        assert _out_of_user_order(wb) == 0
        pd.testing.assert_frame_equal(_rows(wb), rows)
