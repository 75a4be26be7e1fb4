"""Clean CSV files go into an empty events table in one pass; anything else takes the staged read.

The one-pass read has no row numbers, so the loader uses it only when no row needs one. These
journeys check that the two paths give the same warehouse, and that every way a file can be
unclean (a value that fails a check, a time that is not ISO 8601, source ids, a warehouse that
already has events) ends in the staged read with nothing lost.
"""

from __future__ import annotations

import pandas as pd

import poanalytics as poa
from tests.conftest import counts_add_up

HEADER = "user_id,event,timestamp,session_id,properties,plan\n"
CLEAN = (
    HEADER + 'u1,signup,2024-03-04T10:00:00+01:00,s1,"{""platform"": ""web""}",pro\n'
    " u2 ,signup,2024-03-04 09:30:00,s2,,free\n"  # blanks around an id, a naive UTC time
    'u2,login,2024-03-04T09:45:00Z,"\ts2 ",,\n'  # a tab and a blank around the session
    'u3,"multi\nline",2024-03-04T11:00:00.250Z,,"{""a"": [1, 2]}",free\n'
)


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def events(wb: poa.Workbench) -> list[tuple]:
    frame = wb.sql(
        "SELECT user_id, event, epoch_us(ts) AS t, session_id, properties::VARCHAR AS p "
        "FROM events ORDER BY rowid"
    )
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]


def test_a_clean_file_is_read_in_one_pass_with_the_same_result(tmp_path):
    path = write(tmp_path, "clean.csv", CLEAN)
    one = poa.Workbench(":memory:")
    report = one.load_events(path)
    assert report.files_in_place == 1
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (4, 4, 0)
    # the same rows through the staged read: a warehouse that already holds an unrelated event
    staged = poa.Workbench(":memory:")
    staged.load_events(
        pd.DataFrame({"user_id": ["zz"], "event": ["x"], "ts": ["2020-01-01T00:00:00Z"]})
    )
    again = staged.load_events(path)
    assert again.files_in_place == 0 and again.rows_loaded == 4
    staged.sql("DELETE FROM events WHERE user_id = 'zz'")
    assert events(one) == events(staged)
    rows = one.sql("SELECT user_id, session_id, ts FROM events ORDER BY rowid")
    assert list(rows.user_id) == ["u1", "u2", "u2", "u3"]  # trimmed, in file order
    assert list(rows.session_id)[:3] == ["s1", "s2", "s2"]
    assert rows.ts[1] == pd.Timestamp("2024-03-04 09:30", tz="UTC")


def test_a_bad_value_sends_the_file_to_the_staged_read_with_its_row_number(wb, tmp_path):
    path = write(tmp_path, "late.csv", CLEAN + "u4,login,not a time,,,\n")
    report = wb.load_events(path)
    assert report.files_in_place == 0
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (5, 4, 1)
    q = wb.quarantine(report.load_id)
    assert list(q.row) == [6]  # the header is row 1, and the quoted line break stays in row 5
    assert 'cannot read "not a time"' in q.reason[0] and "u4" in q.raw[0]
    log = wb.sql("SELECT status, rows_loaded FROM load_log ORDER BY load_id")
    assert list(log.status) == ["ok"] and list(log.rows_loaded) == [4]  # one load, logged once


def test_times_that_are_not_iso_are_read_by_the_staged_path(wb, tmp_path):
    text = HEADER + "u1,a,1709546400,,,\nu1,b,04/03/2024 10:00,,,\nu2,c,14/03/2024 10:00,,,\n"
    report = wb.load_events(write(tmp_path, "epoch.csv", text))
    assert report.files_in_place == 0 and report.rows_loaded == 3
    ts = list(wb.sql("SELECT ts FROM events ORDER BY rowid").ts)
    assert ts[0] == pd.Timestamp("2024-03-04 10:00", tz="UTC")  # epoch seconds
    assert ts[1] == pd.Timestamp("2024-03-04 10:00", tz="UTC")  # day first, settled by the 14th


def test_malformed_lines_stay_in_one_pass_and_are_quarantined(wb, tmp_path):
    text = (
        CLEAN
        + "u5,login,2024-03-05T09:00:00Z,,,pro,one too many\nu6,login,2024-03-05T10:00:00Z,,,\n"
    )
    report = wb.load_events(write(tmp_path, "ragged.csv", text))
    assert report.files_in_place == 1
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (6, 5, 1)
    assert counts_add_up(report)
    q = wb.quarantine(report.load_id)
    assert list(q.row) == [6] and "more fields than the header" in q.reason[0]
    assert "one too many" in q.raw[0]


def test_a_line_longer_than_any_event_row_is_quarantined_as_too_long(wb, tmp_path):
    huge = "x" * 2_500_000
    text = HEADER + f"u1,a,2024-03-04T10:00:00Z,,,{huge}\nu2,b,2024-03-04T10:00:00Z,,,\n"
    report = wb.load_events(write(tmp_path, "huge.csv", text))
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (2, 1, 1)
    q = wb.quarantine(report.load_id)
    assert list(q.row) == [2] and "longer than the line size limit" in q.reason[0]
    assert list(wb.sql("SELECT user_id FROM events").user_id) == ["u2"]


def test_source_ids_and_later_loads_take_the_staged_read(wb, tmp_path):
    keyed = "messageId,userId,event,timestamp\nm1,u1,a,2024-03-04T10:00:00Z\nm1,u1,a,2024-03-04T10:00:00Z\n"
    report = wb.load_events(
        write(tmp_path, "keyed.csv", keyed), columns={"source_key": "messageId"}
    )
    assert report.files_in_place == 0
    assert (report.rows_loaded, report.rows_duplicate) == (1, 1)  # the second copy of m1
    later = wb.load_events(write(tmp_path, "clean.csv", CLEAN))
    assert later.files_in_place == 0 and later.rows_loaded == 4  # the table is not empty now
    reload = wb.load_events(tmp_path / "clean.csv")
    assert reload.rows_duplicate == 4 and reload.rows_loaded == 0
