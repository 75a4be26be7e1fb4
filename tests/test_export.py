"""`poanalytics export events` (ingest/export.py): the events as a Parquet data set that a reader
other than DuckDB (pyarrow here, Spark in a lake) reads as it is, every row and every value kept,
partitioned by the UTC day whatever the session's zone, never half written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import poanalytics as poa
from poanalytics.cli import main
from poanalytics.ingest import export

COLUMNS = [
    "user_id",
    "event",
    "ts",
    "session_id",
    "properties",
    "source",
    "source_key",
    "load_id",
    "seq",
]
HIVE_DAY = ds.partitioning(pa.schema([("day", pa.date32())]), flavor="hive")


def _segment(path):
    """Segment calls: source ids (messageId), session ids, non-ASCII names and values."""
    calls = [
        ("m1", "2026-03-02T23:30:00.123456Z", "Zoë", "Bestellung abgeschlossen", {"w": "€ 5"}),
        ("m2", "2026-03-03T00:30:00Z", "Zoë", "注文", {"emoji": "🚀", "n": 2}),
        ("m3", "2026-03-03T00:30:00Z", "Łukasz", "注文", {}),
    ]
    path.write_text(
        "".join(
            json.dumps(
                {
                    "type": "track",
                    "messageId": mid,
                    "timestamp": ts,
                    "userId": user,
                    "event": event,
                    "properties": props,
                    "context": {"sessionId": "sess-ü"},
                },
                ensure_ascii=False,
            )
            + "\n"
            for mid, ts, user, event, props in calls
        ),
        encoding="utf-8",
    )
    return path


def _frame():
    """Plain rows: ties at one instant (only the load order tells them apart), NULL session ids
    and properties, an event at 23:30 UTC and one at 00:30 UTC the next day."""
    at = pd.Timestamp("2026-03-02 23:30", tz="UTC")
    return pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u2", "u3"],
            "event": ["visit", "cart", "visit", "visit", "pay", "visit"],
            "ts": [at, at, at, at + pd.Timedelta(hours=1), at - pd.Timedelta(days=3), at],
            "session_id": ["s1", None, "s1", None, "s2", None],
            "properties": ['{"plan": "pro"}', None, '{"plan": "free"}', None, '{"q": 1}', "{}"],
        }
    )


def _warehouse(path):
    with poa.Workbench(path) as wb:
        wb.load_events(_frame())
        wb.load_events(_segment(path.parent / "segment.jsonl"), format="segment")
        wb.load_events(_frame().assign(user_id=lambda f: f.user_id + "-again"))  # a third load
    return path


def _expected(wb):
    """The warehouse's events as the export should hold them, in load order."""
    return wb.sql(
        """SELECT user_id, event, ts, session_id, CAST(properties AS VARCHAR) AS properties,
                  source, source_key, load_id, rowid AS seq, CAST(timezone('UTC', ts) AS DATE) AS day
           FROM events ORDER BY rowid"""
    )


def _read(path, partitioned=True):
    """The export as pyarrow reads it (Hive partitioning, as Spark does), in seq order."""
    dataset = ds.dataset(path, format="parquet", partitioning=HIVE_DAY if partitioned else None)
    frame = dataset.to_table().to_pandas()
    return frame.sort_values("seq").reset_index(drop=True)


def _same_rows(got, expected):
    assert list(got.columns) == list(expected.columns)
    assert got.ts.dt.tz is not None and str(got.ts.dt.tz) == "UTC"
    types = {"ts": "datetime64[us, UTC]", "day": "datetime64[s]"}
    types = {k: v for k, v in types.items() if k in expected}
    pd.testing.assert_frame_equal(got.astype(types), expected.astype(types), check_dtype=False)


def _files(path):
    return sorted(
        os.path.relpath(os.path.join(root, name), path)
        for root, _, names in os.walk(path)
        for name in names
    )


def _hidden_siblings(path):
    return [p.name for p in path.parent.iterdir() if p.name.startswith(".")]


def test_every_row_comes_back_in_utc_day_folders(tmp_path):
    db = _warehouse(tmp_path / "w.duckdb")
    out = tmp_path / "l'ac [ü]*" / "events"  # a quote, glob characters, non-ASCII: all literal
    with poa.Workbench(db, read_only=True) as wb:
        expected = _expected(wb)
        report = wb.export_events(out)

    assert len(expected) == 15 and expected.session_id.isna().any()
    assert expected.seq.tolist() == list(range(15))
    got = _read(out)
    _same_rows(got, expected)
    # the ties at one instant keep their load order in seq, as DuckDB's rowid orders them
    tie = got[(got.user_id == "u1")].sort_values(["ts", "seq"])
    assert tie.event.tolist() == ["visit", "cart", "visit"]
    assert tie.properties.fillna("NULL").tolist() == ['{"plan": "pro"}', "NULL", '{"plan": "free"}']
    # properties are the warehouse's JSON text, byte for byte (non-ASCII included)
    assert '{"w":"€ 5","$context":{"sessionId":"sess-ü"}}' in set(got.properties)
    assert json.loads(got.properties[got.source_key == "m2"].iloc[0])["emoji"] == "🚀"
    assert {"Zoë", "Łukasz"} <= set(got.user_id) and "注文" in set(got.event)
    assert got.source_key.notna().sum() == 3 and set(got.load_id) == {1, 2, 3}

    assert ds.dataset(out, format="parquet", partitioning="hive").count_rows() == 15  # no schema
    days = sorted(p.name for p in out.iterdir())
    assert days == ["day=2026-02-27", "day=2026-03-02", "day=2026-03-03"]
    assert all(f.endswith(".parquet") for f in _files(out))
    assert report.rows == 15 and report.partitions == 3 and report.files == len(_files(out))
    assert report.bytes == sum((out / f).stat().st_size for f in _files(out))
    assert report.path == str(out.resolve()) and report.partition_by == "day"
    assert "events exported: 15 events" in str(report) and "3 day folders" in str(report)
    assert _hidden_siblings(out) == []


def test_the_files_hold_types_any_parquet_reader_knows(tmp_path):
    db = _warehouse(tmp_path / "w.duckdb")
    with poa.Workbench(db) as wb:
        wb.export_events(tmp_path / "out")
    file = next((tmp_path / "out").glob("day=*/*.parquet"))
    schema = pq.read_schema(file)
    assert schema.names == COLUMNS  # day is in the folder names only, as Hive (and Spark) have it
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert schema.field("seq").type == pa.int64() and schema.field("load_id").type == pa.int64()
    for name in ("user_id", "event", "session_id", "properties", "source", "source_key"):
        assert schema.field(name).type == pa.string(), name
    parquet = pq.ParquetFile(file).schema
    ts = parquet.column(COLUMNS.index("ts")).logical_type
    assert ts.type == "TIMESTAMP" and json.loads(ts.to_json()) == {
        "Type": "Timestamp",
        "isAdjustedToUTC": True,
        "timeUnit": "microseconds",
        "is_from_converted_type": False,
        "force_set_converted_type": False,
    }
    assert parquet.column(COLUMNS.index("properties")).logical_type.type == "STRING"  # not JSON


def _near_midnight(path):
    """Events near midnight UTC; in New York (UTC-5) all three fall on 2026-03-02."""
    stamps = ["2026-03-02 23:30", "2026-03-03 00:30", "2026-03-03 03:30"]
    with poa.Workbench(path) as wb:
        wb.load_events(
            pd.DataFrame(
                {
                    "user_id": ["u1", "u2", "u3"],
                    "event": "visit",
                    "ts": pd.to_datetime(stamps, utc=True),
                }
            )
        )
    return path


def test_days_are_utc_days_whatever_the_session_zone(tmp_path):
    db = _near_midnight(tmp_path / "w.duckdb")
    # the library function on a plain DuckDB connection whose session zone is New York
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'America/New_York'")
        local = con.execute("SELECT DISTINCT CAST(ts AS DATE) FROM events").fetchall()
        assert local == [(pd.Timestamp("2026-03-02").date(),)]  # the session zone's day is one
        report = export.export_events(con, tmp_path / "plain")
    finally:
        con.close()
    assert report.partitions == 2
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == [
        "day=2026-03-02",
        "day=2026-03-03",
    ]
    got = _read(tmp_path / "plain")
    assert got.groupby("day").size().to_dict() == {
        pd.Timestamp("2026-03-02").date(): 1,
        pd.Timestamp("2026-03-03").date(): 2,
    }
    # and through a Workbench whose connection was set to New York by the caller
    with poa.Workbench(db, read_only=True) as wb, wb.connection() as con:
        con.execute("SET TimeZone = 'America/New_York'")
        wb.export_events(tmp_path / "wb")
    assert sorted(p.name for p in (tmp_path / "wb").iterdir()) == [
        "day=2026-03-02",
        "day=2026-03-03",
    ]


def test_one_file_when_not_partitioned(tmp_path):
    db = _warehouse(tmp_path / "w.duckdb")
    with poa.Workbench(db) as wb:
        expected = _expected(wb).drop(columns="day")
        report = wb.export_events(tmp_path / "one", partition_by=None)
    assert _files(tmp_path / "one") == ["data_0.parquet"]
    assert report.rows == 15 and report.files == 1 and report.partitions == 0
    got = _read(tmp_path / "one", partitioned=False)
    assert list(got.columns) == COLUMNS
    _same_rows(got, expected)
    assert "1 Parquet file," in str(report) and "folder" not in str(report)


def test_a_folder_that_holds_anything_is_refused(tmp_path):
    db = _warehouse(tmp_path / "w.duckdb")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with poa.Workbench(db) as wb:
        with pytest.raises(poa.PoaError) as info:
            wb.export_events(out)
        assert info.value.code == "export.exists" and "--overwrite" in info.value.hint
        assert _files(out) == ["notes.txt"] and _hidden_siblings(out) == []
        # an empty folder is fine, and a file never is
        (tmp_path / "empty").mkdir()
        assert wb.export_events(tmp_path / "empty").rows == 15
        for overwrite in (False, True):
            with pytest.raises(poa.PoaError) as info:
                wb.export_events(db, overwrite=overwrite)
            assert info.value.code == "export.not_a_folder" and info.value.hint


def test_overwrite_replaces_an_earlier_export_and_nothing_else(tmp_path):
    db = _warehouse(tmp_path / "w.duckdb")
    out = tmp_path / "out"
    with poa.Workbench(db) as wb:
        wb.export_events(out, partition_by=None)
        (out / "_SUCCESS").write_text("")  # what Spark leaves beside its files
        wb.load_events(_frame().assign(user_id=lambda f: f.user_id + "-more"))
        expected = _expected(wb)
        report = wb.export_events(out, overwrite=True)
        assert report.rows == len(expected) > 15
        assert "data_0.parquet" not in _files(out) and "_SUCCESS" not in _files(out)
        _same_rows(_read(out), expected)
        assert _hidden_siblings(out) == []

        # a folder holding anything but an export is not deleted, even with overwrite
        (tmp_path / "project").mkdir()
        (tmp_path / "project" / "keep.parquet").write_text("")
        (tmp_path / "project" / "warehouse.duckdb").write_text("precious")
        with pytest.raises(poa.PoaError) as info:
            wb.export_events(tmp_path / "project", overwrite=True)
        assert info.value.code == "export.not_an_export" and "warehouse.duckdb" in str(info.value)
    assert _files(tmp_path / "project") == ["keep.parquet", "warehouse.duckdb"]


def test_a_failed_check_puts_nothing_in_place(tmp_path, monkeypatch):
    db = _warehouse(tmp_path / "w.duckdb")
    out = tmp_path / "out"
    with poa.Workbench(db) as wb:
        first = wb.export_events(out)
        before = {f: (out / f).read_bytes() for f in _files(out)}

        real = export._read_back

        def one_row_short(con, files, *, partitioned):
            written = real(con, files, partitioned=partitioned)
            day = min(written)
            return {**written, day: written[day] - 1}

        monkeypatch.setattr(export, "_read_back", one_row_short)
        with pytest.raises(poa.PoaError) as info:
            wb.export_events(out, overwrite=True)
        assert info.value.code == "export.lost_rows"
        assert f"hold {first.rows - 1:,} of the {first.rows:,} events" in str(info.value)
        # the earlier export is as it was, and the half-checked one is gone
        assert {f: (out / f).read_bytes() for f in _files(out)} == before
        assert _hidden_siblings(out) == []
        with pytest.raises(poa.PoaError) as info:
            wb.export_events(tmp_path / "new")
        assert info.value.code == "export.lost_rows" and not (tmp_path / "new").exists()

        # rows in the wrong day folder, with the total right, are refused too
        def moved(con, files, *, partitioned):
            written = real(con, files, partitioned=partitioned)
            a, b = sorted(written)[:2]
            return {**written, a: written[a] - 1, b: written[b] + 1}

        monkeypatch.setattr(export, "_read_back", moved)
        with pytest.raises(poa.PoaError) as info:
            wb.export_events(tmp_path / "new")
        assert info.value.code == "export.lost_rows" and "UTC days" in str(info.value)
        assert not (tmp_path / "new").exists() and _hidden_siblings(out) == []


def test_a_write_duckdb_refuses_is_a_coded_error(tmp_path):
    db = _warehouse(tmp_path / "w.duckdb")
    with poa.Workbench(db) as wb, pytest.raises(poa.PoaError) as info:
        wb.export_events(tmp_path / "a" / ("x" * 300))  # a name longer than the system allows
    assert info.value.code == "export.write" and info.value.hint


def test_unknown_format_and_partitioning_are_refused(tmp_path):
    db = _warehouse(tmp_path / "w.duckdb")
    with poa.Workbench(db) as wb:
        for options, code in (
            ({"format": "csv"}, "export.format"),
            ({"format": "Parquet"}, "export.format"),
            ({"partition_by": "week"}, "export.partition_by"),
            ({"partition_by": "ts"}, "export.partition_by"),
        ):
            with pytest.raises(poa.PoaError) as info:
                wb.export_events(tmp_path / "out", **options)
            assert info.value.code == code and info.value.hint, options
    assert not (tmp_path / "out").exists()
    with pytest.raises(poa.PoaError) as info:
        wb.export_events(tmp_path / "out", format="Parquet")
    assert "Did you mean 'parquet'" in str(info.value)


def test_an_empty_warehouse_writes_the_columns_and_no_rows(tmp_path):
    db = tmp_path / "w.duckdb"
    with poa.Workbench(db, create=True) as wb:
        report = wb.export_events(tmp_path / "days")
        flat = wb.export_events(tmp_path / "flat", partition_by=None)
    # one file with every column (day too) and no rows: readers find the schema, not an error
    assert (report.rows, report.files, report.partitions) == (0, 1, 0)
    assert _files(tmp_path / "days") == ["data_0.parquet"]
    days = ds.dataset(tmp_path / "days", format="parquet", partitioning=HIVE_DAY)
    assert days.schema.names == [*COLUMNS, "day"] and days.schema.field("day").type == pa.date32()
    assert days.to_table().num_rows == 0
    assert (flat.rows, flat.files) == (0, 1) and _files(tmp_path / "flat") == ["data_0.parquet"]
    assert pq.read_schema(tmp_path / "flat" / "data_0.parquet").names == COLUMNS


def test_a_missing_warehouse_is_not_found_and_nothing_is_made(tmp_path):
    with pytest.raises(poa.PoaError) as info:
        poa.Workbench(tmp_path / "typo.duckdb").export_events(tmp_path / "out")
    assert info.value.code == "db.not_found"
    assert not (tmp_path / "typo.duckdb").exists() and not (tmp_path / "out").exists()


def test_the_command(tmp_path, capsys):
    db = str(_warehouse(tmp_path / "w.duckdb"))
    out = tmp_path / "lake" / "events"
    assert main(["--db", db, "export", "events", str(out)]) == 0
    assert "events exported: 15 events" in capsys.readouterr().out
    assert len(_read(out)) == 15

    assert main(["--db", db, "export", "events", str(out)]) == 2
    err = capsys.readouterr().err
    assert "[export.exists]" in err and "What to do:" in err

    # --db after the command, no partitions, replacing the earlier export
    argv = ["export", "events", str(out), "--partition-by", "none", "--overwrite", "--db", db]
    assert main(argv) == 0
    assert "1 Parquet file" in capsys.readouterr().out and _files(out) == ["data_0.parquet"]

    for option, code in (
        ("--format=csv", "export.format"),
        ("--partition-by=week", "export.partition_by"),
    ):
        assert main(["--db", db, "export", "events", str(tmp_path / "x"), option]) == 2
        assert f"[{code}" in capsys.readouterr().err
    assert main(["--db", str(tmp_path / "typo.duckdb"), "export", "events", str(out)]) == 2
    assert "[db.not_found]" in capsys.readouterr().err


def test_the_command_in_its_own_process(tmp_path):
    db = str(_warehouse(tmp_path / "w.duckdb"))
    out = str(tmp_path / "out")
    run = [sys.executable, "-m", "poanalytics", "--db", db, "export", "events", out]
    done = subprocess.run(run, capture_output=True, text=True, check=True)
    assert "events exported: 15 events" in done.stdout
    again = subprocess.run(run, capture_output=True, text=True, check=False)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert "[export.exists]" in again.stderr
