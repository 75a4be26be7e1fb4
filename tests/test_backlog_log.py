"""The decision log (backlog/log.py) on a real warehouse file: snapshots written in one transaction,
overrides recorded and withdrawn, the log's moves and new evidence in words, kept across reopening.

The ordering, scores and ledger here are small tables written by hand in the contract's columns,
so these tests hold the log to its rules whatever the scoring modules compute."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.backlog import log
from poanalytics.backlog.errors import BacklogError
from poanalytics.backlog.model import ProductConfig

CONFIG = ProductConfig(path="conf/product.toml", sha256="abc")


def order_table(ranks: dict[str, int], reasons: dict[str, str] | None = None) -> pd.DataFrame:
    rows = [
        {
            "rank": r,
            "item_id": i,
            "title": f"title of {i}",
            "score": 100.0 / r,
            "score_low": 50.0 / r,
            "score_high": 150.0 / r,
            "p_top_n": 0.9 / r,
            "reason": (reasons or {}).get(i, f"reason for {i}"),
            "fits": r <= 2,
            "evidence_rank": r,
            "override_rank": None,
            "override_reason": None,
            "effort_weeks": 1.0,
            "cumulative_weeks": float(r),
        }
        for i, r in ranks.items()
    ]
    return pd.DataFrame(rows).sort_values("rank").reset_index(drop=True)


def scores_table(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": ids,
            "rice": [10.0 * (k + 1) for k in range(len(ids))],
            "ice": 5.0,
            "wsjf": 2.0,
            "confidence": 0.8,
            "reach": 1000.0,
            "moscow_suggested": "should",
        }
    )


def ledger(tickets: dict[str, int], dropoff: float = 0.4) -> pd.DataFrame:
    rows = []
    for item, n in tickets.items():
        rows.append(
            dict(
                item_id=item,
                kind="tickets",
                link="theme:pricing",
                value=float(n),
                low=None,
                high=None,
                unit="items",
                n=n,
                source="tickets",
                supports=n > 0,
                detail=f"{n} tickets about pricing",
                query="SELECT count(*) FROM voice_assignments WHERE theme = $p0",
                params={"p0": "pricing"},
                as_of=datetime(2026, 11, 16, tzinfo=UTC),
            )
        )
        rows.append(
            dict(
                item_id=item,
                kind="dropoff",
                link="step:profile_completed",
                value=dropoff,
                low=dropoff - 0.02,
                high=dropoff + 0.02,
                unit="share",
                n=500,
                source="events",
                supports=True,
                detail=f"{dropoff:.0%} stop at profile_completed",
                query="SELECT 1",
                params={},
                as_of=datetime(2026, 11, 16, tzinfo=UTC),
            )
        )
    return pd.DataFrame(rows)


def items_table(ids: list[str], status: dict[str, str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": ids,
            "title": [f"title of {i}" for i in ids],
            "status": [(status or {}).get(i, "open") for i in ids],
        }
    )


def publish(con, ranks, tickets, *, note, as_of, dropoff=0.4, status=None, overrides=None):
    ids = sorted(set(ranks) | set(status or {}))
    return log.publish(
        con,
        order=order_table(ranks),
        scores=scores_table(ids),
        ledger=ledger(tickets, dropoff),
        items=items_table(ids, status),
        config=CONFIG,
        as_of=as_of,
        note=note,
        framework="rice",
        capacity=12.0,
        backlog_file="data/demo/backlog.csv",
        override_ids=overrides or {},
    )


WEEK1 = datetime(2026, 11, 9, tzinfo=UTC)
WEEK2 = datetime(2026, 11, 16, tzinfo=UTC)


def test_publish_writes_one_snapshot_with_items_and_evidence(wb_file):
    with wb_file.connection(write=True) as con:
        sid = publish(con, {"A": 1, "B": 2, "C": 3}, {"A": 12, "B": 3}, note="first", as_of=WEEK1)
        stored = log.snapshot_items(con, sid)
        snap = log.snapshots(con)
        ev = con.sql(
            "SELECT item_id, kind, link, value, unit, supports, query, params "
            "FROM backlog_snapshot_evidence ORDER BY item_id, kind"
        ).df()
    assert list(stored.item_id) == ["A", "B", "C"]
    assert list(stored["rank"]) == [1, 2, 3]
    assert list(stored.rice) == [10.0, 20.0, 30.0]
    assert stored.reason.iloc[0] == "reason for A"
    assert snap.note.tolist() == ["first"] and snap["items"].tolist() == [3]
    assert snap.config_sha256.tolist() == ["abc"] and snap.capacity.tolist() == [12.0]
    assert len(ev) == 4  # tickets + dropoff for A and B; C has none
    assert ev.params.iloc[-1] == '{"p0": "pricing"}'
    assert ev["query"].str.startswith("SELECT").all()


def test_a_failed_publish_leaves_no_half_snapshot(wb_file):
    bad = ledger({"A": 1})
    bad["value"] = ["not a number", "x"]  # coerced to NULL: fine
    bad["n"] = ["1", "2"]
    bad.loc[0, "kind"] = None  # kind is NOT NULL: the evidence insert fails after the items
    with wb_file.connection(write=True) as con:
        with pytest.raises(Exception, match="NOT NULL"):
            log.publish(
                con,
                order=order_table({"A": 1}),
                scores=scores_table(["A"]),
                ledger=bad,
                items=items_table(["A"]),
                config=CONFIG,
                as_of=WEEK1,
                note=None,
                framework="rice",
                capacity=None,
                backlog_file=None,
                override_ids={},
            )
        counts = [
            con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("backlog_snapshots", "backlog_snapshot_items", "backlog_snapshot_evidence")
        ]
    assert counts == [0, 0, 0]


def test_decision_log_moves_overrides_and_new_evidence_survive_reopening(tmp_path):
    path = tmp_path / "w.duckdb"
    with poa.Workbench(path) as wb, wb.connection(write=True) as con:
        publish(con, {"A": 1, "B": 2, "C": 3, "D": 4}, {"A": 12, "C": 5}, note="w1", as_of=WEEK1)
        oid = log.add_override(con, "C", 1, "  contract with ACME depends on it  ")
        publish(
            con,
            {"C": 1, "A": 2, "B": 3, "E": 4},
            {"A": 31, "C": 5},
            note="w2",
            as_of=WEEK2,
            dropoff=0.55,
            status={"D": "shipped"},
            overrides={"C": oid},
        )
    with poa.Workbench(path, read_only=True) as wb:  # closed and opened again
        result = wb.decision_log()
    t = result.table
    assert list(t.columns) == log.LOG_COLUMNS
    first = t[t.snapshot_id == 1]
    assert first.moved.tolist() == ["new"] * 4
    assert first.new_evidence.isna().all()
    second = t[t.snapshot_id == 2].set_index("item_id")
    assert second.loc["C", "moved"] == "+2" and second.loc["C", "previous_rank"] == 3
    assert second.loc["A", "moved"] == "-1"
    assert second.loc["B", "moved"] == "-1"
    assert second.loc["E", "moved"] == "new"
    assert second.loc["D", "moved"] == "shipped" and pd.isna(second.loc["D", "rank"])
    assert second.loc["C", "override_reason"] == "contract with ACME depends on it"
    assert pd.isna(second.loc["A", "override_reason"])
    assert second.loc["A", "note"] == "w2"
    assert second.loc["A", "new_evidence"] == (
        "drop-off at profile_completed 40.0% -> 55.0%; tickets about pricing 12 -> 31"
    )
    assert second.loc["C", "new_evidence"] == "drop-off at profile_completed 40.0% -> 55.0%"
    assert second.loc["B", "new_evidence"] == ""  # no evidence then, none now
    assert second.loc["E", "new_evidence"] is None or pd.isna(second.loc["E", "new_evidence"])
    assert result.overrides.reason.tolist() == ["contract with ACME depends on it"]
    assert "backlog_snapshot_items" in result.sql


def test_an_item_deleted_from_the_export_is_gone_and_new_evidence_is_named(wb_file):
    with wb_file.connection(write=True) as con:
        publish(con, {"A": 1, "B": 2}, {"A": 3}, note=None, as_of=WEEK1)
        publish(con, {"A": 1}, {"A": 3, "B": 0}, note=None, as_of=WEEK2)
        table, _, _ = log.decision_log(con)
        one, _, _ = log.decision_log(con, item_id="B")
    row = table[(table.snapshot_id == 2) & (table.item_id == "B")].iloc[0]
    assert row.moved == "gone" and row.previous_rank == 2 and pd.isna(row["rank"])
    assert one.item_id.unique().tolist() == ["B"] and len(one) == 2
    assert table[(table.snapshot_id == 2) & (table.item_id == "A")].moved.iloc[0] == "0"


def test_describe_changes_says_new_and_no_longer_measured():
    before = pd.DataFrame(
        {"kind": ["reach"], "link": ["event:export_clicked"], "value": [1240.0], "unit": [None]}
    )
    after = pd.DataFrame(
        {
            "kind": ["churn_lift", "dropoff_lift"],
            "link": ["theme:pricing", "theme:onboarding_crash,step:profile_completed"],
            "value": [2.14, 3.0],
            "unit": ["ratio", "ratio"],
        }
    )
    quotes = pd.DataFrame(
        {
            "kind": ["quote"] * 2,
            "link": ["ticket 1"] * 2,
            "value": [0.9, 0.8],
            "unit": ["score"] * 2,
        }
    )
    text = log.describe_changes(before, pd.concat([after, quotes]))
    assert text == (
        "new: churn risk of people raising pricing 2.1x; "
        "new: drop-off risk at profile_completed of people raising onboarding_crash 3.0x; "
        "no longer measured: users a week at export_clicked (was 1,240)"
    )


def test_overrides_need_a_reason_and_a_new_one_replaces_the_old(wb_file):
    with wb_file.connection(write=True) as con:
        for bad in ("", "   ", None, 3):
            with pytest.raises(BacklogError) as err:
                log.add_override(con, "A", 1, bad)
            assert err.value.code == "backlog.override_reason"
        first = log.add_override(con, "A", 2, "sales promised it")
        second = log.add_override(con, "A", 1, "sales promised it for January")
        active = log.overrides(con)
        every = log.overrides(con, active_only=False)
        assert active.override_id.tolist() == [second]
        assert every.set_index("override_id").loc[first, "active"] == False  # noqa: E712
        assert every.set_index("override_id").loc[first, "withdrawn_at"] is not pd.NaT
        assert log.withdraw_override(con, "A") == second
        assert log.overrides(con).empty
        with pytest.raises(BacklogError) as err:
            log.withdraw_override(con, "A")
        assert err.value.code == "backlog.no_override"
