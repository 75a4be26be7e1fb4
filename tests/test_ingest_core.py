"""The loader's promises, on generic CSV / JSON Lines / Parquet / DataFrame inputs.

Nothing lost (read = loaded + quarantined + duplicate), re-loads change nothing, one transaction
per load, and errors that name the file, row and column and say what to do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import poanalytics as poa
from tests.conftest import counts_add_up


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


NASTY_CSV = """user_id,event,timestamp,plan,note
u1,signup,2024-03-04T10:00:00+01:00,pro,"multi
line, with comma and ""quotes"" inside"
u1,login,2024-03-04T10:05:00+01:00,pro,
,login,2024-03-04T11:00:00Z,pro,no user
u2,login,yesterday,free,bad time
u2,login,2024-03-05 09:00:00,free,extra,field
u3,login,1709546400,free,epoch seconds
u3,login,1709546400000,free,epoch ms
u4,login,2024-03-04T10:00:00Z,free,"unterminated
"""


def test_nothing_lost_and_every_bad_row_explained(wb, tmp_path):
    path = write(tmp_path / "events.csv", NASTY_CSV)
    report = wb.load_events(path)
    assert report.formats == ["csv"]
    assert report.rows_read == 8
    assert (report.rows_loaded, report.rows_quarantined, report.rows_duplicate) == (4, 4, 0)
    assert counts_add_up(report)
    q = wb.quarantine(report.load_id).set_index("row")
    assert set(q.index) == {4, 5, 6, 9}
    assert q.loc[4, "column_name"] == "user_id" and q.loc[4, "reason"] == "user_id is empty"
    assert (
        q.loc[5, "column_name"] == "timestamp"
        and 'cannot read "yesterday" as a time' in q.loc[5, "reason"]
    )
    assert "more fields than the header" in q.loc[6, "reason"]
    assert "not closed" in q.loc[9, "reason"]
    assert (q["file"] == str(path)).all()
    assert q.loc[4, "raw"] and "no user" in q.loc[4, "raw"]  # raw text kept
    events = wb.sql("SELECT user_id, event, ts, properties FROM events ORDER BY ts, user_id")
    assert list(events.user_id) == ["u1", "u1", "u3", "u3"]
    assert events.ts[0] == pd.Timestamp("2024-03-04 09:00:00", tz="UTC")
    # epoch seconds and epoch milliseconds read as the same instant
    assert events.ts[2] == events.ts[3] == pd.Timestamp("2024-03-04 10:00:00", tz="UTC")
    first = json.loads(events.properties[0])
    assert first == {"plan": "pro", "note": 'multi\nline, with comma and "quotes" inside'}


def test_a_well_formed_csv_with_bad_values_keeps_their_row_numbers(wb, tmp_path):
    # rows are numbered by their place in the file (a quoted line break stays inside its row),
    # spreadsheet-style: the header is row 1
    path = write(
        tmp_path / "clean.csv",
        'user_id,event,timestamp\nu1,a,2024-03-04T09:00:00Z\n"u2\nsecond line",b,2024-03-04T09:00:00Z\n'
        "u3,c,not a time\n,d,2024-03-04T09:00:00Z\nu5,e,2024-03-04T09:00:00Z\n",
    )
    report = wb.load_events(path)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (5, 3, 2)
    q = wb.quarantine(report.load_id).set_index("row")
    assert dict(q.column_name) == {4: "timestamp", 5: "user_id"}
    assert '"u3"' in q.loc[4, "raw"]
    assert sorted(wb.sql("SELECT user_id FROM events").user_id) == ["u1", "u2\nsecond line", "u5"]


def test_loading_the_same_file_twice_changes_nothing(wb_file, tmp_path):
    path = write(tmp_path / "events.csv", NASTY_CSV)
    first = wb_file.load_events(path)
    before = wb_file.sql("SELECT * EXCLUDE (load_id) FROM events ORDER BY ALL")
    q_before = len(wb_file.quarantine())
    second = wb_file.load_events(path)
    assert counts_add_up(second)
    assert second.rows_loaded == 0
    assert second.rows_duplicate == first.rows_loaded
    assert second.rows_quarantined == first.rows_quarantined  # still bad, but not stored twice
    assert len(wb_file.quarantine()) == q_before
    after = wb_file.sql("SELECT * EXCLUDE (load_id) FROM events ORDER BY ALL")
    pd.testing.assert_frame_equal(before, after)


def test_identical_rows_in_one_file_are_two_events_and_overlaps_dedupe(wb, tmp_path):
    a = write(
        tmp_path / "a.csv",
        "user_id,event,timestamp\nu1,click,2024-01-01T00:00:00Z\n"
        "u1,click,2024-01-01T00:00:00Z\nu2,view,2024-01-02T00:00:00Z\n",
    )
    # an overlapping export: both copies of the click, the view again, and one new row
    b = write(
        tmp_path / "b.csv",
        "user_id,event,timestamp\nu2,view,2024-01-02T00:00:00Z\n"
        "u1,click,2024-01-01T00:00:00Z\nu1,click,2024-01-01T00:00:00Z\n"
        "u3,view,2024-01-03T00:00:00Z\n",
    )
    ra = wb.load_events(a)
    assert (ra.rows_loaded, ra.rows_duplicate) == (3, 0)
    rb = wb.load_events(b)
    assert (rb.rows_loaded, rb.rows_duplicate) == (1, 3)
    # a later export that has a genuine third identical click keeps it
    c = write(
        tmp_path / "c.csv", "user_id,event,timestamp\n" + "u1,click,2024-01-01T00:00:00Z\n" * 3
    )
    rc = wb.load_events(c)
    assert (rc.rows_loaded, rc.rows_duplicate) == (1, 2)
    assert wb.sql("SELECT count(*) AS n FROM events WHERE event = 'click'").n[0] == 3


def test_overlapping_files_in_one_load_dedupe(wb, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    write(
        folder / "part1.csv",
        "user_id,event,timestamp\nu1,a,2024-01-01T00:00:00Z\nu1,b,2024-01-01T00:01:00Z\n",
    )
    write(
        folder / "part2.csv",
        "user_id,event,timestamp\nu1,b,2024-01-01T00:01:00Z\nu1,c,2024-01-01T00:02:00Z\n",
    )
    report = wb.load_events(folder)
    assert report.files == 2
    assert (report.rows_read, report.rows_loaded, report.rows_duplicate) == (4, 3, 1)
    again = wb.load_events(str(folder / "*.csv"))
    assert (again.rows_loaded, again.rows_duplicate) == (0, 4)


def test_a_failed_load_leaves_the_warehouse_as_it_was(wb_file, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    write(folder / "1_good.csv", "user_id,event,timestamp\nu1,a,2024-01-01T00:00:00Z\n")
    # the second file's dates could be day/month or month/day: the whole load is refused
    write(
        folder / "2_ambiguous.csv",
        "user_id,event,timestamp\nu1,b,03/04/2024 10:00\nu1,c,05/06/2024 10:00\n",
    )
    with pytest.raises(poa.InputError) as info:
        wb_file.load_events(folder)
    err = info.value
    assert err.code == "ingest.date_order_ambiguous"
    assert err.file.endswith("2_ambiguous.csv") and err.column == "timestamp"
    assert "timestamp_format=" in str(err)
    assert wb_file.sql("SELECT count(*) AS n FROM events").n[0] == 0
    log = wb_file.loads()
    assert (
        list(log.status) == ["failed"]
        and "ambiguous" in log.message[0]
        or "could be" in log.message[0]
    )


def test_day_first_dates_detected_from_the_data_and_named_months(wb, tmp_path):
    path = write(
        tmp_path / "eu.csv",
        "user_id,event,timestamp\nu1,a,03/04/2024 10:00\nu1,b,25/04/2024 10:00\n",
    )
    wb.load_events(path, timezone="Europe/Amsterdam")
    ts = list(wb.sql("SELECT ts FROM events ORDER BY ts").ts)
    assert ts == [
        pd.Timestamp("2024-04-03 08:00", tz="UTC"),
        pd.Timestamp("2024-04-25 08:00", tz="UTC"),
    ]
    jira = write(tmp_path / "jira.csv", "user_id,event,timestamp\nu2,a,12/Jan/24 3:45 PM\n")
    wb.load_events(jira)
    assert wb.sql("SELECT ts FROM events WHERE user_id = 'u2'").ts[0] == pd.Timestamp(
        "2024-01-12 15:45", tz="UTC"
    )


def test_offsets_after_a_blank_and_trimmed_ids(wb, tmp_path):
    path = write(
        tmp_path / "e.csv",
        "user_id,event,timestamp\n u1 ,a,2024-03-04 10:00:00 +0100\n"
        "u1,b,2024-03-04 10:00:00 -02:30\n",
    )
    report = wb.load_events(path)
    assert report.rows_loaded == 2
    rows = wb.sql("SELECT user_id, ts FROM events ORDER BY ts")
    assert list(rows.user_id) == ["u1", "u1"]  # surrounding blanks removed
    assert list(rows.ts) == [
        pd.Timestamp("2024-03-04 09:00", tz="UTC"),
        pd.Timestamp("2024-03-04 12:30", tz="UTC"),
    ]


def test_explicit_timestamp_format_settles_ambiguity(wb, tmp_path):
    path = write(tmp_path / "us.csv", "user_id,event,timestamp\nu1,a,03/04/2024 10:00\n")
    wb.load_events(path, timestamp_format="%m/%d/%Y %H:%M", timezone="America/New_York")
    assert wb.sql("SELECT ts FROM events").ts[0] == pd.Timestamp("2024-03-04 15:00", tz="UTC")


def test_naive_times_use_the_stated_zone_across_a_dst_change(wb, tmp_path):
    path = write(
        tmp_path / "dst.csv",
        "user_id,event,timestamp\nu1,a,2024-03-30 12:00:00\nu1,b,2024-03-31 12:00:00\n"
        "u1,c,2024-03-31T12:00:00+00:00\n",
    )
    wb.load_events(path, timezone="Europe/Amsterdam")
    ts = list(wb.sql("SELECT ts FROM events ORDER BY event").ts)
    assert ts[0] == pd.Timestamp("2024-03-30 11:00", tz="UTC")  # CET, +01:00
    assert ts[1] == pd.Timestamp("2024-03-31 10:00", tz="UTC")  # CEST, +02:00
    assert ts[2] == pd.Timestamp(
        "2024-03-31 12:00", tz="UTC"
    )  # an explicit offset wins over the zone


def test_epoch_units_by_magnitude(wb):
    instant = pd.Timestamp("2024-05-01 12:00:00", tz="UTC")
    seconds = int(instant.timestamp())
    frame = pd.DataFrame(
        {
            "user_id": ["s", "ms", "us"],
            "event": ["e", "e", "e"],
            "ts": [str(seconds), str(seconds * 1000), str(seconds * 1_000_000)],
        }
    )
    report = wb.load_events(frame)
    assert report.rows_loaded == 3
    assert set(wb.sql("SELECT ts FROM events").ts) == {instant}


def test_bad_time_zone_and_unknown_columns_say_did_you_mean(wb, tmp_path):
    path = write(tmp_path / "e.csv", "user,event,timestamp\nu1,a,2024-01-01T00:00:00Z\n")
    with pytest.raises(poa.ConfigError) as tz:
        wb.load_events(path, columns={"user_id": "user"}, timezone="Europe/Amsterdm")
    assert tz.value.code == "ingest.timezone" and "Europe/Amsterdam" in str(tz.value)
    with pytest.raises(poa.ConfigError) as col:
        wb.load_events(path, columns={"user_id": "usr"})
    assert col.value.code == "ingest.unknown_column" and "Did you mean 'user'" in str(col.value)
    with pytest.raises(poa.ConfigError) as field:
        wb.load_events(path, columns={"userid": "user"})
    assert field.value.code == "ingest.unknown_field" and "user_id" in str(field.value)
    with pytest.raises(poa.ConfigError) as missing:
        wb.load_events(write(tmp_path / "m.csv", "who,what,when_\nu1,a,2024-01-01\n"))
    assert missing.value.code == "ingest.missing_field" and "--map" in str(missing.value)
    # nothing was loaded by any of the refused loads
    assert wb.sql("SELECT count(*) AS n FROM events").n[0] == 0


def test_huge_text_and_bad_properties_are_quarantined(wb):
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "x" * 600, "u3", "u4"],
            "event": ["ok", "long id", "bad props", "list props"],
            "ts": ["2024-01-01T00:00:00Z"] * 4,
            "properties": ['{"a": 1}', "{}", "{not json", "[1, 2]"],
        }
    )
    report = wb.load_events(frame)
    assert (report.rows_loaded, report.rows_quarantined) == (1, 3)
    q = wb.quarantine(report.load_id).set_index("row")
    assert q.loc[2, "column_name"] == "user_id" and "over the limit of 512" in q.loc[2, "reason"]
    assert q.loc[3, "column_name"] == "properties" and "not valid JSON" in q.loc[3, "reason"]
    assert "must be a JSON object" in q.loc[4, "reason"]
    assert (q["file"] == "DataFrame").all()


def test_dataframe_with_dict_properties_and_extra_columns(wb):
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "event": ["signup", "signup"],
            "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:00"]),
            "properties": [{"plan": "pro", "seats": 3}, None],
            "country": ["NL", None],
        }
    )
    report = wb.load_events(frame, timezone="Europe/Amsterdam")
    assert report.formats == ["dataframe"] and report.rows_loaded == 2
    rows = wb.sql("SELECT user_id, ts, properties FROM events ORDER BY user_id")
    assert json.loads(rows.properties[0]) == {"plan": "pro", "seats": 3, "country": "NL"}
    assert rows.properties[1] is None or pd.isna(rows.properties[1])
    assert rows.ts[0] == pd.Timestamp("2024-01-01 09:00", tz="UTC")


def test_json_lines_and_parquet(wb, tmp_path):
    lines = tmp_path / "events.jsonl"
    lines.write_text(
        json.dumps(
            {
                "user_id": "u1",
                "event": "a",
                "timestamp": "2024-01-01T00:00:00Z",
                "properties": {"k": 1},
            }
        )
        + "\n"
        + "\n"
        + "{broken json\n"
        + json.dumps(
            {
                "user_id": "u2",
                "event": "b",
                "timestamp": 1704067200,
                "browser": "firefox",
                "context": {"ip": "10.0.0.1", "tags": [1, 2]},
            }
        )
        + "\n"
    )
    report = wb.load_events(lines)
    assert report.formats == ["json"]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (3, 2, 1)
    q = wb.quarantine(report.load_id)
    assert q.row[0] == 3 and "not valid JSON" in q.reason[0] and q.raw[0] == "{broken json"
    props = dict(wb.sql("SELECT user_id, properties FROM events").values)
    assert json.loads(props["u1"]) == {"k": 1} and json.loads(props["u2"]) == {
        "browser": "firefox",
        "context": {"ip": "10.0.0.1", "tags": [1, 2]},
    }  # nested values stay nested

    parquet = tmp_path / "events.parquet"
    pd.DataFrame(
        {
            "uid": ["p1", None],
            "event_name": ["x", "y"],
            "time": pd.to_datetime(["2024-02-01T00:00:00Z", "2024-02-01T00:00:00Z"], utc=True),
        }
    ).to_parquet(parquet)
    report = wb.load_events(parquet, columns={"user_id": "uid"})
    assert report.formats == ["parquet"]
    assert (report.rows_loaded, report.rows_quarantined) == (1, 1)
    assert wb.quarantine(report.load_id).row[0] == 2


def test_receipt_process_log_real_data(wb_file, shared_data):
    """4TU receipt phase log (WABO, CoSeLoG): 8,577 events, 1,434 cases, +01:00/+02:00 offsets."""
    path = shared_data / "events" / "receipt_wabo.csv"
    report = wb_file.load_events(path)  # XES column names are recognised without a mapping
    assert counts_add_up(report)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (8577, 8577, 0)
    summary = wb_file.sql(
        "SELECT count(DISTINCT user_id) AS users, count(DISTINCT event) AS events, "
        "min(ts) AS first, max(ts) AS last FROM events"
    )
    assert summary.users[0] == 1434 and summary.events[0] == 27
    assert summary["first"][0].strftime("%Y-%m-%d") == "2010-10-02"
    assert summary["last"][0].strftime("%Y-%m-%d") == "2012-01-23"
    # an offset is honoured: 2011-10-11 13:45:40.276+02:00 is 11:45:40.276 UTC
    first = wb_file.sql(
        "SELECT ts, properties->>'$.\"case:channel\"' AS channel FROM events "
        "WHERE user_id = 'case-10011' AND event = 'Confirmation of receipt'"
    )
    assert first.ts[0] == pd.Timestamp("2011-10-11 11:45:40.276", tz="UTC")
    assert first.channel[0] == "Internet"
    # the same activity repeated within one case is kept every time
    repeats = wb_file.sql(
        "SELECT count(*) AS n FROM events WHERE user_id = 'case-10011' "
        "AND event = 'T02 Check confirmation of receipt'"
    )
    assert repeats.n[0] == 2
    again = wb_file.load_events(path)
    assert (again.rows_loaded, again.rows_duplicate) == (0, 8577)


def test_missing_file_and_empty_file(wb, tmp_path):
    with pytest.raises(poa.InputError) as nf:
        wb.load_events(tmp_path / "nope.csv")
    assert nf.value.code == "ingest.not_found"
    with pytest.raises(poa.InputError) as empty:
        wb.load_events(write(tmp_path / "empty.csv", ""))
    assert empty.value.code == "ingest.empty_file"
