"""Loading never ends in a raw traceback: every failure is a coded error with what to do, logged in
load_log, and the warehouse is otherwise unchanged. Real files, real DuckDB, the real OS errors."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

import poanalytics as poa
from poanalytics import db
from poanalytics.config import settings
from poanalytics.errors import ConfigError, PoaError, WarehouseError
from tests.conftest import counts_add_up

ROW = {"user_id": "u1", "event": "signed_up", "ts": "2024-01-01T10:00:00Z"}
CSV = (
    "user_id,event,ts\nu1,signed_up,2024-01-01T10:00:00Z\nJosé,café_ordered,2024-01-02T10:00:00Z\n"
)


def deep_json(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def failed_loads(wb: poa.Workbench) -> list[str]:
    return list(
        wb.sql("SELECT message FROM load_log WHERE status = 'failed' ORDER BY load_id").message
    )


def unchanged(wb: poa.Workbench) -> tuple:
    return tuple(
        wb.sql(f"SELECT count(*) AS n FROM {t}").n[0]  # noqa: S608 - fixed table names
        for t in ("events", "tickets", "notes", "note_highlights", "quarantine")
    )


def refused(wb: poa.Workbench, code: str, load, *args, **kwargs) -> PoaError:
    """Run a load that must fail with ``code``; check load_log and that nothing else changed."""
    before = unchanged(wb)
    with pytest.raises(PoaError) as info:
        load(*args, **kwargs)
    assert info.value.code == code, str(info.value)
    assert info.value.hint
    assert failed_loads(wb)[-1].startswith(f"[{code}]")
    assert unchanged(wb) == before
    return info.value


# -- crashes that used to fail a load instead of quarantining the row ---------------------------------


def test_deeply_nested_json_on_the_first_line_is_a_row_not_a_recursion_error(wb, tmp_path):
    path = tmp_path / "events.jsonl"
    deep = {**ROW, "user_id": "deep"}
    line = json.dumps(deep)[:-1] + ', "p": ' + deep_json(20_000) + "}"
    path.write_text(line + "\n" + json.dumps(ROW) + "\n", encoding="utf-8")
    report = wb.load_events(path)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (2, 1, 1)
    assert counts_add_up(report)
    q = wb.quarantine()
    assert q.row.tolist() == [1] and "over the limit" in q.reason[0]
    # nested deeply but within the limits: loaded like any other line
    small = tmp_path / "small.jsonl"
    small.write_text(
        json.dumps({**ROW, "user_id": "u2"})[:-1] + ', "p": ' + deep_json(3000) + "}\n",
        encoding="utf-8",
    )
    assert wb.load_events(small).rows_loaded == 1


def test_deeply_nested_yaml_front_matter_quarantines_the_file(wb, tmp_path):
    folder = tmp_path / "interviews"
    folder.mkdir()
    (folder / "deep.md").write_text(
        "---\nparticipant: Ann\nx: " + "[" * 5000 + "]" * 5000 + "\n---\n> a quote\n",
        encoding="utf-8",
    )
    (folder / "fine.md").write_text("---\nparticipant: Bob\n---\n> it is slow\n", encoding="utf-8")
    report = wb.load_notes(folder)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (2, 1, 1)
    q = wb.quarantine()
    assert q.file[0].endswith("deep.md") and "nested too deeply" in q.reason[0]
    assert wb.sql("SELECT status FROM load_log").status.tolist() == ["ok"]


# -- damaged and unreadable files ---------------------------------------------------------------------


def test_truncated_and_fake_gzip_files_are_coded_errors(wb, tmp_path):
    lines = "".join(json.dumps({**ROW, "n": i}) + "\n" for i in range(20_000)).encode()
    packed = gzip.compress(lines)
    short = tmp_path / "short.jsonl.gz"  # cut within the first 64 KB of text
    short.write_bytes(packed[:200])
    refused(wb, "ingest.gzip", wb.load_events, short)
    long = tmp_path / "long.jsonl.gz"  # cut far beyond it: DuckDB's reader finds it
    long.write_bytes(packed[: len(packed) * 3 // 4])
    error = refused(wb, "ingest.gzip", wb.load_events, long)
    assert error.file == str(long)
    fake = tmp_path / "plain.jsonl.gz"
    fake.write_bytes(lines[:1000])
    assert "not gzip" in refused(wb, "ingest.gzip", wb.load_events, fake).message
    tickets = tmp_path / "tickets.csv.gz"
    tickets.write_bytes(b"id,subject\n1,hello\n")
    refused(wb, "ingest.gzip", wb.load_tickets, tickets)


def test_a_file_the_os_refuses_to_read_is_a_coded_error_even_for_root(wb):
    # /proc/sys/vm/drop_caches is write-only (mode 0200): reading it is refused with EACCES for
    # every user, root included, so this is a real "permission denied" from the real OS.
    locked = Path("/proc/sys/vm/drop_caches")
    if not locked.exists():
        pytest.skip("no /proc/sys/vm/drop_caches on this system")
    error = refused(wb, "ingest.unreadable", wb.load_events, locked, format="csv")
    assert error.file == str(locked) and "permission denied" in error.message


def test_a_pipe_is_not_mistaken_for_a_missing_file(wb, tmp_path):
    fifo = tmp_path / "events.csv"
    os.mkfifo(fifo)
    refused(wb, "ingest.not_a_file", wb.load_events, fifo)


# -- encodings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_csv_is_decoded(wb, tmp_path, codec):
    path = tmp_path / "events.csv"
    path.write_bytes(CSV.encode(codec))  # utf-16/utf-32: with a BOM; -le/-be: without
    report = wb.load_events(path)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 0)
    assert any("decoded from" in n for n in report.notes)
    rows = wb.sql("SELECT user_id, event FROM events ORDER BY ts")
    assert rows.values.tolist() == [["u1", "signed_up"], ["José", "café_ordered"]]


def test_utf16_json_lines_and_markdown_are_decoded(wb, tmp_path):
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps({**ROW, "user_id": "Zoë"}) + "\n").encode("utf-16")))
    assert wb.load_events(path).rows_loaded == 1
    assert wb.sql("SELECT user_id FROM events").user_id.tolist() == ["Zoë"]
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "ann.md").write_bytes("---\nparticipant: Anaïs\n---\n> trop lent\n".encode("utf-16"))
    assert wb.load_notes(notes).rows_loaded == 1
    note = wb.sql("SELECT note_id, participant FROM notes")
    assert note.values.tolist() == [["ann", "Anaïs"]]


def test_a_latin1_file_is_refused_by_name_and_loads_with_its_encoding(wb, tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(CSV.encode("cp1252"))
    error = refused(wb, "ingest.encoding", wb.load_events, path)
    assert "0xE9" in error.message and "encoding='cp1252'" in error.hint
    report = wb.load_events(path, encoding="cp1252")
    assert (report.rows_loaded, report.rows_quarantined) == (2, 0)
    assert "José" in wb.sql("SELECT user_id FROM events").user_id.tolist()
    refused(wb, "ingest.unknown_encoding", wb.load_events, path, encoding="klingon")
    workbook = tmp_path / "export.csv"  # an Excel workbook saved under a .csv name
    workbook.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4)
    assert "ZIP" in refused(wb, "ingest.encoding", wb.load_events, workbook).message


# -- errors before a load starts are logged too -------------------------------------------------------


def test_errors_before_the_load_starts_are_logged_and_change_nothing(wb, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV, encoding="utf-8")
    wb.load_events(path)
    refused(wb, "ingest.not_found", wb.load_events, tmp_path / "missing.csv")
    refused(wb, "ingest.timezone", wb.load_events, path, timezone="Mars/Olympus")
    refused(wb, "ingest.unknown_format", wb.load_events, path, format="segmnt")
    refused(wb, "ingest.unknown_option", wb.load_notes, path, colour="red")
    refused(wb, "ingest.no_markdown", wb.load_notes, path, format="markdown")
    log = wb.sql("SELECT kind, status FROM load_log ORDER BY load_id")
    assert log.status.tolist() == ["ok"] + ["failed"] * 5
    assert log.kind.tolist()[-2:] == ["notes", "notes"]


# -- the warehouse: read-only, memory, disk -----------------------------------------------------------


def test_a_read_only_warehouse_is_looked_at_and_refuses_loads_with_a_code(tmp_path):
    path = tmp_path / "w.duckdb"
    events = tmp_path / "events.csv"
    events.write_text(CSV, encoding="utf-8")
    with poa.Workbench(path) as wb:
        wb.load_events(events)
    with poa.Workbench(path, read_only=True) as ro:
        assert "events" in str(ro.status()) and ro.sql("SELECT count(*) AS n FROM events").n[0] == 2
        with pytest.raises(WarehouseError) as info:
            ro.load_events(events)
        assert info.value.code == "db.read_only"
    with pytest.raises(WarehouseError) as missing:
        poa.Workbench(tmp_path / "nothing.duckdb", read_only=True)
    assert missing.value.code == "db.not_found"


def test_out_of_memory_in_a_load_says_to_raise_memory_limit(tmp_path):
    source = tmp_path / "events.parquet"
    duckdb.sql(
        "COPY (SELECT 'u' || (i % 5000) AS user_id, 'e' || (i % 7) AS event, "
        "TIMESTAMPTZ '2026-01-01' + to_seconds(i) AS ts FROM range(300000) t(i)) "
        f"TO {db.quote_literal(str(source))}"
    )
    tight = dataclasses.replace(settings(), memory_limit="4MB")
    with poa.Workbench(":memory:", config=tight) as wb:
        error = refused(wb, "db.out_of_memory", wb.load_events, source)
        assert "memory_limit" in error.hint and "temp_directory" in error.hint


def test_a_memory_limit_duckdb_refuses_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        poa.Workbench(":memory:", config=dataclasses.replace(settings(), memory_limit="lots"))
    assert info.value.code == "config.memory_limit"


def test_disk_full_from_the_real_os_is_a_coded_error():
    # /dev/full answers every write with ENOSPC: DuckDB's own error for it, mapped
    con = duckdb.connect()
    with pytest.raises(duckdb.IOException) as raw:
        con.execute("COPY (SELECT range FROM range(100000)) TO '/dev/full' (FORMAT csv)")
    error = db.engine_error(raw.value, "/dev/full")
    assert error is not None and error.code == "db.disk_full" and "free space" in error.hint


def test_a_load_onto_a_full_disk_is_a_coded_error(tmp_path):
    disk = tmp_path / "small_disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        events = tmp_path / "events.csv"
        lines = [
            f"user{i},event{i % 50},2024-01-{1 + i % 28:02d}T00:00:00Z" for i in range(200_000)
        ]
        events.write_text("user_id,event,ts\n" + "\n".join(lines) + "\n", encoding="utf-8")
        with poa.Workbench(disk / "w.duckdb") as wb:
            with pytest.raises(WarehouseError) as info:
                wb.load_events(events)
            assert info.value.code == "db.disk_full"
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_duckdb_error_inside_a_damaged_file_is_a_coded_error_with_the_file(wb, tmp_path):
    good = tmp_path / "good.parquet"
    wb.con.execute(
        "COPY (SELECT 'u' || i AS user_id, 'e' || (i % 5) AS event, "
        "TIMESTAMPTZ '2026-01-01' + to_seconds(i) AS ts, repeat('x', 50) || i AS note "
        "FROM range(200000) t(i)) "
        f"TO {db.quote_literal(str(good))} (ROW_GROUP_SIZE 20000, COMPRESSION uncompressed)"
    )
    damaged = bytearray(good.read_bytes())
    middle = len(damaged) // 3
    damaged[middle : middle + 2000] = b"\xff" * 2000  # footer intact, a data page garbled
    path = tmp_path / "damaged.parquet"
    path.write_bytes(bytes(damaged))
    error = refused(wb, "ingest.read", wb.load_events, path)
    assert error.file == str(path) and "Invalid Input Error" in error.message


def test_status_opens_an_older_warehouse_writable_to_upgrade_it(older_warehouse, capsys):
    from poanalytics import cli

    path, version = older_warehouse
    with pytest.raises(WarehouseError) as info:
        poa.Workbench(path, read_only=True)  # read-only cannot upgrade it
    assert info.value.code == "db.read_only_schema"
    assert cli.main(["--db", str(path), "status"]) == 0
    assert f"(schema v{version})" in capsys.readouterr().out
