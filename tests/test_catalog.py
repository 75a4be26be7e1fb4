"""The event and property catalog (schema migration 6, poanalytics.ingest.catalog): after every
change to events it equals a fresh full scan of them, and the name checks read it, not the events.

The scan below is written independently of the catalog's own SQL (json_each over every event, not
json_structure over groups), so an error in the incremental update cannot hide in both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics import schema
from poanalytics.ingest import catalog as ingest_catalog
from poanalytics.metrics import catalog

SCAN_EVENTS = "SELECT event, count(*), min(ts), max(ts) FROM events GROUP BY ALL ORDER BY ALL"
SCAN_PROPERTIES = """
SELECT e.event, j.key, j.type, count(*) FROM events e, json_each(e.properties) j
WHERE json_type(e.properties) = 'OBJECT' GROUP BY ALL ORDER BY ALL"""


def stored(con) -> tuple[list, list]:
    return (
        con.execute("SELECT * FROM event_catalog ORDER BY ALL").fetchall(),
        con.execute("SELECT * FROM property_catalog ORDER BY ALL").fetchall(),
    )


def scanned(con) -> tuple[list, list]:
    return con.execute(SCAN_EVENTS).fetchall(), con.execute(SCAN_PROPERTIES).fetchall()


def assert_exact(wb: poa.Workbench) -> tuple[list, list]:
    with wb.connection() as con:
        have, want = stored(con), scanned(con)
    assert have == want
    return have


# every JSON type, keys with dots, quotes, a dollar and no letters at all, nested values
MIXED = [
    {"plan": "pro", "seats": 3, "ratio": 0.5, "trial": True, "coupon": None},
    {"plan": "free", "seats": -1, "tags": ["a", "b"], "address": {"city": "Utrecht"}},
    {"a.b": 1, 'q"uote': "x", "$anonymous_id": "anon-1", "": 2, "big": 18446744073709551615},
    {"plan": 7},  # the same key with another type
    {},
    None,
]


def frame(n: int = 6, start: str = "2024-01-01", event: str = "signed_up") -> pd.DataFrame:
    rows = []
    for i in range(n):
        props = MIXED[i % len(MIXED)]
        rows.append(
            {
                "user_id": f"u{i % 4}",
                "event": event if i % 3 else "page_viewed",
                "ts": pd.Timestamp(start, tz="UTC") + pd.Timedelta(hours=i),
                "properties": None if props is None else json.dumps(props),
            }
        )
    return pd.DataFrame(rows)


def test_a_load_fills_the_catalog_with_exact_counts_and_types(wb_file):
    wb_file.load_events(frame(12))
    events, props = assert_exact(wb_file)
    assert [e[0] for e in events] == ["page_viewed", "signed_up"]
    assert sum(e[1] for e in events) == 12
    types = {(p[1], p[2]) for p in props}
    assert {
        ("plan", "VARCHAR"),
        ("plan", "UBIGINT"),
        ("seats", "BIGINT"),
        ("ratio", "DOUBLE"),
        ("trial", "BOOLEAN"),
        ("coupon", "NULL"),
        ("tags", "ARRAY"),
        ("address", "OBJECT"),
        ("a.b", "UBIGINT"),
        ('q"uote', "VARCHAR"),
        ("$anonymous_id", "VARCHAR"),
        ("", "UBIGINT"),
    } <= types


def test_loads_add_only_their_new_rows(wb_file, tmp_path):
    wb_file.load_events(frame(12))
    first = assert_exact(wb_file)
    again = wb_file.load_events(frame(12))  # every row a duplicate: nothing written
    assert again.rows_duplicate == 12 and again.rows_loaded == 0
    assert assert_exact(wb_file) == first
    # an overlapping export: the first 12 again (duplicates) and 6 new, with a new name
    more = pd.concat([frame(12), frame(6, start="2024-02-01", event="activated")])
    report = wb_file.load_events(more)
    assert (report.rows_loaded, report.rows_duplicate) == (6, 12)
    events, _ = assert_exact(wb_file)
    assert dict((e[0], e[1]) for e in events)["activated"] == 4
    assert sum(e[1] for e in events) == 18
    # a file of the same content loaded from disk (the CSV reader, another write path)
    path = tmp_path / "more.csv"
    frame(9, start="2024-03-01").drop(columns="properties").to_csv(path, index=False)
    wb_file.load_events(path)
    assert sum(e[1] for e in assert_exact(wb_file)[0]) == 27


def test_events_with_source_ids_and_identity_stitching(wb_file, tmp_path):
    """Segment's load reads source ids (the keyed write) and sets user_id after the load."""
    lines = [
        {
            "type": "track",
            "event": "Order Completed",
            "messageId": f"m{i}",
            "anonymousId": "anon-1",
            "userId": "user-1" if i == 2 else None,
            "timestamp": f"2024-01-0{i + 1}T10:00:00Z",
            "properties": {"total": 10 * i, "currency": "EUR"},
        }
        for i in range(3)
    ]
    path = tmp_path / "segment.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    first = wb_file.load_events(path)
    assert first.rows_loaded == 3
    assert_exact(wb_file)
    wb_file.load_events(path)  # the same ids again: duplicates
    events, _ = assert_exact(wb_file)
    assert sum(e[1] for e in events) == 3


def test_quarantined_rows_are_not_in_the_catalog(wb_file, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,event,timestamp,plan\n"
        "u1,signed_up,2024-01-01T10:00:00Z,pro\n"
        "u2,only_on_a_bad_row,yesterday,free\n"
        ",signed_up,2024-01-01T11:00:00Z,free\n"
        "u3,activated,2024-01-02T10:00:00Z,team\n"
    )
    report = wb_file.load_events(path)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 2)
    events, _ = assert_exact(wb_file)
    assert [e[0] for e in events] == ["activated", "signed_up"]


def test_a_failed_load_leaves_the_catalog_as_it_was(wb_file, tmp_path):
    wb_file.load_events(frame(6))
    before = assert_exact(wb_file)
    folder = tmp_path / "folder"
    folder.mkdir()
    frame(6, start="2024-05-01", event="new_name").to_csv(folder / "a.csv", index=False)
    (folder / "b.csv").write_text("who,when\nu1,2024-05-02\n")  # no event column: the load fails
    with pytest.raises(poa.PoaError):
        wb_file.load_events(folder)
    assert assert_exact(wb_file) == before
    last = wb_file.sql("SELECT status FROM load_log ORDER BY load_id DESC LIMIT 1")
    assert last.status[0] == "failed"


def test_a_failure_after_the_catalog_was_updated_rolls_it_back(wb_file, monkeypatch):
    """The update runs in the load's transaction: a load that fails after it (here: at once after
    it, as a failing load_log insert would) leaves neither events nor catalog behind."""
    wb_file.load_events(frame(6))
    before = assert_exact(wb_file)
    real = ingest_catalog.add_load
    updated = []

    def update_then_fail(con, table, load_id):
        real(con, table, load_id)
        updated.append(con.execute("SELECT count(*) FROM event_catalog").fetchone()[0])
        raise OSError("disk full")

    monkeypatch.setattr(ingest_catalog, "add_load", update_then_fail)
    with pytest.raises(Exception, match="disk full"):
        wb_file.load_events(frame(6, start="2024-06-01", event="never_kept"))
    assert updated == [3]  # the catalog had the new name inside the transaction
    assert assert_exact(wb_file) == before


def test_tickets_and_notes_leave_the_catalog_alone(wb_file):
    wb_file.load_events(frame(6))
    before = assert_exact(wb_file)
    tickets = pd.DataFrame(
        {
            "ticket_id": ["t1"],
            "created_at": ["2024-01-01T00:00:00Z"],
            "subject": ["help"],
            "body": ["it broke"],
        }
    )
    wb_file.load_tickets(tickets)
    assert assert_exact(wb_file) == before


def test_the_demo_load_keeps_the_catalog_exact(demo10k_wb):
    events, props = assert_exact(demo10k_wb)
    assert len(events) > 10 and len(props) > 10


def test_a_schema_5_warehouse_gets_its_catalog_when_migrated(tmp_path, monkeypatch):
    """A warehouse made by the previous release (migrations 1-5, events written without a catalog)
    is given an exact catalog by migration 6."""
    path = tmp_path / "old.duckdb"
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:5])
        m.setattr(schema, "LATEST", 5)
        with poa.Workbench(path, create=True) as old:
            assert old.schema_version == 5
            old.con.register("f", frame(30))
            load_id = old.con.execute("SELECT nextval('load_id_seq')").fetchone()[0]
            old.con.execute(  # as its loader wrote them: a load id from the sequence
                "INSERT INTO events SELECT user_id, event, ts, NULL, properties::JSON, 'csv', "
                "NULL, ? FROM f",
                [load_id],
            )
            tables = set(old.sql("SELECT table_name FROM duckdb_tables()").table_name)
            assert "event_catalog" not in tables
    with poa.Workbench(path) as wb:  # opening it migrates it
        assert wb.schema_version == schema.LATEST == 6
        events, props = assert_exact(wb)
        assert sum(e[1] for e in events) == 30 and props
        with wb.connection() as con:
            assert catalog.has_catalog(con)
        wb.load_events(frame(6, start="2025-01-01"))  # and later loads add to it
        assert sum(e[1] for e in assert_exact(wb)[0]) == 36


def test_unknown_names_still_carry_did_you_mean(wb_file):
    wb_file.load_events(frame(12))
    with pytest.raises(poa.MetricError) as info:
        wb_file.funnel(["page_viewed", "signed_upp"], strict=True)
    assert info.value.code == "funnel.unknown_event"
    assert "Did you mean 'signed_up'?" in str(info.value)
    assert "event_catalog" in info.value.hint
    with pytest.raises(poa.MetricError) as info:
        wb_file.funnel(["page_viewed", "signed_up"], breakdown="plann")
    assert info.value.code == "funnel.unknown_property"
    assert "Did you mean 'plan'?" in str(info.value)
    with pytest.warns(poa.PoaWarning, match="Did you mean 'signed_up'"):
        wb_file.funnel(["page_viewed", "Signed_up"])


def test_the_checks_answer_from_the_catalog_not_from_the_events(wb_file):
    """Rename a name in the catalog alone (counts unchanged, so the catalog is taken as in step):
    the checks then know the catalog's name and not the events' one, so they read the catalog."""
    wb_file.load_events(frame(12))
    with wb_file.connection(write=True) as con:
        con.execute("UPDATE property_catalog SET key = 'only_in_catalog' WHERE key = 'ratio'")
        con.execute("UPDATE event_catalog SET event = 'renamed' WHERE event = 'page_viewed'")
        assert catalog.has_catalog(con)
        catalog.check_properties(con, ["only_in_catalog"], "funnel")
        with pytest.raises(poa.MetricError, match="no event has a property 'ratio'"):
            catalog.check_properties(con, ["ratio"], "funnel")
        assert catalog.check_events(con, ["renamed"], "funnel") == []
        with pytest.raises(poa.MetricError, match="no event is called 'page_viewed'"):
            catalog.check_events(con, ["page_viewed"], "funnel")


def test_events_written_by_hand_are_read_from_the_events_until_rebuilt(wb_file):
    """A row inserted without a load leaves the catalog behind: its counts no longer add up, so the
    checks read the events (right, slower); ingest.catalog.rebuild makes the catalog exact again."""
    wb_file.load_events(frame(6))
    with wb_file.connection(write=True) as con:
        con.execute(
            "INSERT INTO events VALUES ('u9', 'by_hand', now(), NULL, '{\"hand\": 1}', 'test', "
            "NULL, 0)"
        )
        assert not catalog.has_catalog(con)
        assert "by_hand" in catalog.event_names(con)
        assert "hand" in catalog.property_keys(con)
        catalog.check_properties(con, ["hand"], "funnel")
        ingest_catalog.rebuild(con)
        assert catalog.has_catalog(con)
        assert stored(con) == scanned(con)


def test_the_next_load_repairs_a_catalog_left_behind(wb_file):
    wb_file.load_events(frame(6))
    with wb_file.connection(write=True) as con:
        con.execute(
            "INSERT INTO events VALUES ('u9', 'by_hand', now(), NULL, '{\"hand\": 1}', 'test', "
            "NULL, 0)"
        )
        assert not catalog.has_catalog(con)
    wb_file.load_events(frame(6, start="2025-01-01"))
    events, props = assert_exact(wb_file)
    assert "by_hand" in [e[0] for e in events] and "hand" in [p[1] for p in props]
    with wb_file.connection() as con:
        assert catalog.has_catalog(con)


def test_a_connection_without_a_catalog_reads_the_events(tmp_path: Path):
    """Metrics run on any connection with an events table (tests, a hand-made DuckDB file)."""
    import duckdb

    con = duckdb.connect(str(tmp_path / "plain.duckdb"))
    con.execute(
        "CREATE TABLE events AS SELECT 'u1' AS user_id, 'signed_up' AS event, "
        'now()::TIMESTAMPTZ AS ts, \'{"plan": "pro"}\'::JSON AS properties'
    )
    assert not catalog.has_catalog(con)
    assert catalog.event_names(con) == ["signed_up"]
    assert catalog.property_keys(con) == ["plan"]
    con.close()
