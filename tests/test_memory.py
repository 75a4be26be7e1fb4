"""[duckdb] memory_limit and temp_directory in conf/poanalytics.toml reach every connection, and a
metric under a small memory limit gives the same answer as without one (DuckDB spills instead)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics import db
from poanalytics.config import settings

EVENTS = 400_000


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("memory")
    source = folder / "events.parquet"
    with poa.Workbench(":memory:") as wb:
        wb.con.execute(
            f"""COPY (SELECT 'u' || (i % 40000) AS user_id,
                ['signed_up', 'profile_completed', 'activated', 'invited'][1 + (hash(i) % 4)::INT] AS event,
                TIMESTAMPTZ '2026-01-01' + to_seconds((i * 37) % (86400 * 60)) AS ts
              FROM range({EVENTS}) t(i)) TO {db.quote_literal(str(source))}"""
        )
    path = folder / "w.duckdb"
    with poa.Workbench(path) as wb:
        assert wb.load_events(source).rows_loaded == EVENTS
    return path


def answers(wb: poa.Workbench) -> list[pd.DataFrame]:
    funnel = wb.funnel(["signed_up", "profile_completed", "activated"], window="7d")
    retention = wb.retention("signed_up", period="week", intervals=4)
    lifecycle = wb.lifecycle(period="week")
    paths = wb.paths(start_event="signed_up", steps=5)
    churn = wb.churn(inactive_days=14)
    return [funnel.table, retention.table, lifecycle.table, paths.table, churn.table]


def test_conf_sets_memory_limit_and_spill_folder(tmp_path):
    root = tmp_path / "project"
    (root / "conf").mkdir(parents=True)
    (root / "conf" / "poanalytics.toml").write_text(
        '[duckdb]\nmemory_limit = "300MB"\ntemp_directory = "data/spill"\n', encoding="utf-8"
    )
    config = settings(root)
    assert config.memory_limit == "300MB" and config.temp_directory == root / "data" / "spill"
    with poa.Workbench(":memory:", config=config) as wb:
        limit, spill = db.fetch_one(
            wb.con, "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        )
    assert limit.startswith("286.1") and spill == str(root / "data" / "spill")


def test_an_in_memory_warehouse_spills_to_the_system_temp_folder_not_the_working_directory():
    with poa.Workbench(
        ":memory:", config=dataclasses.replace(settings(), temp_directory=None)
    ) as wb:
        spill = db.fetch_value(wb.con, "SELECT current_setting('temp_directory')")
    assert spill != ".tmp" and "poanalytics-spill" in spill


def test_metrics_under_a_small_memory_limit_give_the_same_answer(warehouse, tmp_path):
    with poa.Workbench(warehouse) as wb:
        expected = answers(wb)
    small = dataclasses.replace(settings(), memory_limit="64MB", temp_directory=tmp_path / "spill")
    with poa.Workbench(warehouse, config=small) as wb:
        assert db.fetch_value(wb.con, "SELECT current_setting('memory_limit')").startswith("61.0")
        got = answers(wb)
    for want, have in zip(expected, got, strict=True):
        pd.testing.assert_frame_equal(want, have)


def test_a_load_runs_under_load_memory_limit_and_queries_do_not(warehouse, tmp_path):
    source = tmp_path / "again.parquet"
    with poa.Workbench(warehouse, read_only=True) as wb:
        default = db.fetch_value(wb.con, "SELECT current_setting('memory_limit')")
        wb.con.execute(
            f"COPY (SELECT user_id, event, ts FROM events) TO {db.quote_literal(str(source))}"
        )
    # far too little for a load: it stops with db.out_of_memory, so the bound is in force
    tiny = dataclasses.replace(settings(), load_memory_limit="4MB", temp_directory=tmp_path / "s")
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(warehouse.read_bytes())
    with poa.Workbench(copy, config=tiny) as wb:
        with pytest.raises(poa.PoaError) as info:
            wb.load_events(source)
        assert info.value.code == "db.out_of_memory"
        # queries afterwards run under DuckDB's default again
        assert db.fetch_value(wb.con, "SELECT current_setting('memory_limit')") == default
        assert wb.paths(start_event="signed_up", steps=3).users > 0
    # a small bound that lets DuckDB spill: a re-load of every event, all duplicates, exact counts
    small = dataclasses.replace(settings(), load_memory_limit="64MB", temp_directory=tmp_path / "s")
    with poa.Workbench(copy, config=small) as wb:
        report = wb.load_events(source)
        assert (report.rows_read, report.rows_duplicate, report.rows_loaded) == (EVENTS, EVENTS, 0)
    # memory_limit, when set, holds for loads too (load_memory_limit is not applied)
    both = dataclasses.replace(small, memory_limit="2GB", load_memory_limit="4MB")
    with poa.Workbench(copy, config=both) as wb:
        assert wb.load_events(source).rows_duplicate == EVENTS


def test_a_load_memory_limit_duckdb_refuses_is_a_config_error(warehouse, tmp_path):
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(warehouse.read_bytes())
    lots = dataclasses.replace(settings(), load_memory_limit="lots")
    with poa.Workbench(copy, config=lots) as wb, pytest.raises(poa.PoaError) as info:
        wb.load_events(pd.DataFrame({"user_id": ["u"], "event": ["e"], "ts": ["2026-01-01"]}))
    assert info.value.code == "config.load_memory_limit"


def test_a_gzipped_json_lines_file_loads_under_the_default_load_bound(tmp_path):
    """JSON Lines are read as text lines of up to 200 MB; DuckDB's default read buffer for that is
    16 lines' worth, taken at once for a compressed file (2.9 GiB), which a bounded load refused.
    Under the default bound, and a smaller one, the file loads whole."""
    import gzip

    source = tmp_path / "events.jsonl.gz"
    lines = [
        f'{{"user_id": "u{i % 50}", "event": "e{i % 3}", "ts": "2026-01-01T00:{i % 60:02d}:{i % 59:02d}Z"}}'
        for i in range(2_000)
    ]
    source.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    assert settings().load_memory_limit == "1GB"  # the default bounds loads
    for bound in ("1GB", "512MB"):
        config = dataclasses.replace(settings(), load_memory_limit=bound, temp_directory=tmp_path)
        with poa.Workbench(tmp_path / f"w{bound}.duckdb", config=config) as wb:
            report = wb.load_events(source)
            assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (
                2_000,
                2_000,
                0,
            )
