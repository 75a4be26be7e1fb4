"""The warehouse: schema, migrations, bound parameters, quoting."""

from __future__ import annotations

import pytest

import poanalytics as poa
from poanalytics import db, schema


def test_new_warehouse_has_every_canonical_table(wb):
    tables = set(wb.sql("SELECT table_name FROM information_schema.tables").table_name)
    assert {
        "events",
        "tickets",
        "notes",
        "note_highlights",
        "load_log",
        "quarantine",
        "schema_version",
        "identities",
    } <= tables
    cols = dict(
        wb.sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'events'"
        ).values
    )
    assert cols["ts"] == "TIMESTAMP WITH TIME ZONE" and cols["properties"] == "JSON"
    assert wb.schema_version == schema.LATEST


def test_reopening_a_file_keeps_data_and_does_not_migrate_twice(tmp_path):
    path = tmp_path / "w.duckdb"
    with poa.Workbench(path) as wb:
        wb.con.execute("INSERT INTO events VALUES ('u', 'e', now(), NULL, NULL, 'test', NULL, 0)")
    with poa.Workbench(path) as wb:
        assert wb.sql("SELECT count(*) AS n FROM events").n[0] == 1
        assert schema.applied(wb.con) == [(m[0], m[1]) for m in schema.MIGRATIONS]


def test_an_older_warehouse_is_migrated(older_warehouse):
    path, version = older_warehouse
    with poa.Workbench(path) as wb:
        assert wb.schema_version == version
        assert "test_col" in set(wb.sql("DESCRIBE events").column_name)


def test_a_newer_warehouse_is_refused_with_advice(tmp_path):
    path = tmp_path / "new.duckdb"
    with poa.Workbench(path) as wb:
        wb.con.execute("INSERT INTO schema_version (version, name) VALUES (999, 'future')")
    with pytest.raises(poa.WarehouseError) as info:
        poa.Workbench(path)
    assert info.value.code == "db.schema_newer" and "upgrade" in str(info.value)


def test_sql_binds_parameters(wb):
    hostile = "x'); DROP TABLE events; --"
    assert wb.sql("SELECT ? AS v", [hostile]).v[0] == hostile
    assert wb.sql("SELECT $name AS v", {"name": hostile}).v[0] == hostile
    assert "events" in set(wb.sql("SELECT table_name FROM information_schema.tables").table_name)


def test_quote_ident_quotes_everything_safely():
    assert db.quote_ident('we"ird') == '"we""ird"'
    assert db.quote_ident("case:concept:name") == '"case:concept:name"'
    with pytest.raises(poa.WarehouseError):
        db.quote_ident("")


def test_default_path_is_the_projects_warehouse(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "poanalytics.toml").write_text('[paths]\nwarehouse = "data/w.duckdb"\n')
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # notebooks run from notebooks/: same warehouse
    monkeypatch.delenv("POANALYTICS_ROOT", raising=False)
    with poa.Workbench() as wb:
        assert wb.path == str(tmp_path / "data" / "w.duckdb")
