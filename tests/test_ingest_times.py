"""How the loader reads times, ids, delimiters and fixed values on real-looking files.

Guesses the data does not settle are refused with the ``timestamp_format`` to pass; values that
cannot be read are quarantined (never a crash); local times at a daylight-saving change follow one
stated rule and are counted.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.cli import main
from tests.conftest import counts_add_up


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# An online-retail export as pandas writes it: InvoiceDate as YYYYMMDD integers, CustomerID a float
# column (integer ids with gaps), an empty id where the customer is unknown.
RETAIL = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,20101201,2.55,17850.0,United Kingdom
536366,22633,HAND WARMER UNION JACK,6,20101201,1.85,17850.0,United Kingdom
536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,20101202,1.69,13047.0,United Kingdom
536368,22960,JAM MAKING SET WITH JARS,6,20101205,4.25,13047.0,United Kingdom
536369,21756,BATH BUILDING BLOCK WORD,3,20101206,5.95,,United Kingdom
536370,22728,ALARM CLOCK BAKELIKE PINK,24,20110109,3.75,12583.0,France
536371,22727,ALARM CLOCK BAKELIKE RED,24,20111209,3.75,nan,France
"""
RETAIL_COLUMNS = {"user_id": "CustomerID", "event": "StockCode", "ts": "InvoiceDate"}


def events(wb: poa.Workbench, load_id: int | None = None) -> pd.DataFrame:
    where = f"WHERE load_id = {int(load_id)}" if load_id else ""
    return wb.sql(f"SELECT * FROM events {where} ORDER BY ts, user_id, event")


# -- numbers that are dates, and guesses that are not believed ---------------------------------------


def test_yyyymmdd_numbers_are_calendar_dates_and_float_ids_are_integers(wb, tmp_path):
    path = write(tmp_path / "online_retail.csv", RETAIL)
    report = wb.load_events(path, columns=RETAIL_COLUMNS)
    assert counts_add_up(report)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (7, 5, 2)
    ev = events(wb)
    # not seconds since 1970 (which put every purchase on 1970-08-21)
    assert ev.ts.min() == pd.Timestamp("2010-12-01", tz="UTC")
    assert ev.ts.max() == pd.Timestamp("2011-01-09", tz="UTC")
    assert sorted(set(ev.user_id)) == ["12583", "13047", "17850"]  # not "17850.0"
    q = wb.quarantine(report.load_id).set_index("row")
    # the empty id and the id pandas wrote as "nan" are missing, not a user called "nan"
    assert list(q.index) == [6, 8]
    assert set(q.reason) == {"user_id is empty"} and set(q.column_name) == {"CustomerID"}


def test_yyyymmdd_integers_in_a_dataframe_and_a_stated_format_on_numbers(wb):
    frame = pd.DataFrame(
        {
            "CustomerID": [17850.0, 13047.0, float("nan")],
            "StockCode": ["85123A", "22633", "84879"],
            "InvoiceDate": [20101201, 20101202, 20110315],
        }
    )
    report = wb.load_events(frame, columns=RETAIL_COLUMNS)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1) and counts_add_up(report)
    ev = events(wb, report.load_id)
    assert list(ev.ts) == [
        pd.Timestamp("2010-12-01", tz="UTC"),
        pd.Timestamp("2010-12-02", tz="UTC"),
    ]
    assert list(ev.user_id) == ["17850", "13047"]
    # a stated strptime format applies to a numeric column too (it was ignored: epoch seconds)
    frame2 = frame.assign(InvoiceDate=[20120101, 20120102, 20120103], CustomerID=[1.0, 2.0, 3.0])
    report2 = wb.load_events(frame2, columns=RETAIL_COLUMNS, timestamp_format="%Y%m%d")
    assert report2.rows_loaded == 3
    assert events(wb, report2.load_id).ts.min() == pd.Timestamp("2012-01-01", tz="UTC")


def test_compact_date_times_on_the_shared_receipt_log(wb, tmp_path, shared_data):
    """The real WABO log with its times rewritten as YYYYMMDDHHMMSS numbers (as some ERP exports
    write them) loads over its real range, 2010-10 to 2012-01, not in 1970."""
    src = shared_data / "events" / "receipt_wabo.csv"
    compact = tmp_path / "receipt_compact.csv"
    duckdb.execute(
        "COPY (SELECT * REPLACE (strftime(timezone('UTC', \"time:timestamp\"::TIMESTAMPTZ), "
        "'%Y%m%d%H%M%S') AS \"time:timestamp\") FROM read_csv(?, all_varchar = true)) TO '"
        + str(compact).replace("'", "''")
        + "' (HEADER, DELIMITER ',')",
        [str(src)],
    )
    report = wb.load_events(compact)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (8577, 8577, 0)
    span = wb.sql("SELECT min(ts) AS lo, max(ts) AS hi, count(DISTINCT user_id) AS n FROM events")
    assert span.lo[0].year == 2010 and span.lo[0].month == 10
    assert span.hi[0].year == 2012 and span.hi[0].month == 1
    assert span.n[0] == 1434


def test_a_guessed_epoch_that_puts_every_row_before_1980_is_refused(wb, tmp_path):
    # "time" here is seconds since the session started: read as epoch seconds, every event would
    # fall on 1970-01-01, within one day
    path = write(
        tmp_path / "replay.csv",
        "user_id,event,time\nu1,open,0\nu1,click,12\nu1,close,3540\nu2,open,7\n",
    )
    with pytest.raises(poa.InputError) as err:
        wb.load_events(path)
    assert err.value.code == "ingest.time_implausible"
    assert "timestamp_format=" in err.value.hint and "before 1980" in str(err.value)
    assert wb.sql("SELECT count(*) AS n FROM events").n[0] == 0
    # eight-digit epoch seconds (1970-1973) are refused too, and settled by naming the unit
    path2 = write(tmp_path / "old.csv", "user_id,event,ts\nu1,a,86400000\nu2,b,86400060\n")
    with pytest.raises(poa.InputError, match="before 1980"):
        wb.load_events(path2)
    report = wb.load_events(path2, timestamp_format="epoch_s")
    assert report.rows_loaded == 2
    assert events(wb).ts[0] == pd.Timestamp("1972-09-27", tz="UTC")


def test_a_placeholder_epoch_zero_is_quarantined_among_real_epochs(wb, tmp_path):
    path = write(
        tmp_path / "mixpanel_like.csv",
        "distinct_id,event,time\nu1,open,1709546400\nu2,open,0\nu3,open,1709546400000\n",
    )
    report = wb.load_events(path)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1) and counts_add_up(report)
    q = wb.quarantine(report.load_id)
    assert list(q.row) == [3] and 'cannot read "0"' in q.reason[0]
    assert set(events(wb).ts) == {pd.Timestamp("2024-03-04 10:00:00", tz="UTC")}


def test_stated_epoch_units(wb, tmp_path):
    path = write(tmp_path / "ms.csv", "user_id,event,ts\nu1,a,1709546400000\nu1,b,1709546401500\n")
    report = wb.load_events(path, timestamp_format="epoch_ms")
    assert report.rows_loaded == 2
    assert events(wb).ts[1] == pd.Timestamp("2024-03-04 10:00:01.5", tz="UTC")


def test_a_single_day_of_iso_times_still_loads(wb, tmp_path):
    """Refusals are for guesses: a day of ISO 8601 times (with offsets, or naive) is what it says."""
    path = write(
        tmp_path / "one_day.csv",
        "user_id,event,ts\nu1,a,2024-03-04T10:00:00+01:00\nu2,b,2024-03-04T10:00:05+01:00\n"
        "u3,c,2024-03-04 18:00:00\n",
    )
    report = wb.load_events(path)
    assert report.rows_loaded == 3 and report.rows_quarantined == 0


# -- values that cannot be times: quarantined, not a crash -------------------------------------------


def test_nan_inf_and_huge_numeric_times_are_quarantined(wb, tmp_path):
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4", "u5"],
            "event": ["a"] * 5,
            "ts": [1709546400.0, float("inf"), float("-inf"), 1e300, float("nan")],
        }
    )
    report = wb.load_events(frame)
    assert (report.rows_loaded, report.rows_quarantined) == (1, 4) and counts_add_up(report)
    q = wb.quarantine(report.load_id).set_index("row")
    assert set(q.column_name) == {"ts"}
    assert "cannot read" in q.loc[2, "reason"] and "cannot read" in q.loc[4, "reason"]
    assert q.loc[5, "reason"] == "ts is empty"  # pandas NaN arrives as NULL
    # a Parquet file keeps NaN as a value
    pq = tmp_path / "t.parquet"
    duckdb.execute(
        "COPY (SELECT * FROM (VALUES ('p1', 'a', 1709546400.0), ('p2', 'a', 'NaN'::DOUBLE), "
        "('p3', 'a', 1e300)) t(user_id, event, ts)) TO '" + str(pq) + "' (FORMAT parquet)"
    )
    report = wb.load_events(pq)
    assert (report.rows_loaded, report.rows_quarantined) == (1, 2) and counts_add_up(report)
    # and a CSV number too big for any epoch unit
    path = write(
        tmp_path / "big.csv", "user_id,event,ts\nc1,a,1709546400\nc2,a,1" + "0" * 300 + "\n"
    )
    report = wb.load_events(path)
    assert (report.rows_loaded, report.rows_quarantined) == (1, 1) and counts_add_up(report)


def test_an_invalid_timestamp_format_is_a_config_error(wb, tmp_path, capsys):
    path = write(tmp_path / "e.csv", "user_id,event,ts\nu1,a,04/03/2024\n")
    with pytest.raises(poa.ConfigError) as err:
        wb.load_events(path, timestamp_format="%d/%m/%Q")
    assert err.value.code == "ingest.timestamp_format" and "%Y" in err.value.hint
    with pytest.raises(poa.ConfigError, match="no %-directive"):
        wb.load_events(path, timestamp_format="DD/MM/YYYY")
    code = main(["--db", str(tmp_path / "w.duckdb"), "ingest", "events", str(path),
                 "--timestamp-format", "%d/%m/%Q"])  # fmt: skip
    assert code == 2
    out = capsys.readouterr()
    assert "ingest.timestamp_format" in out.err + out.out and "Traceback" not in out.err


def test_an_offset_no_place_uses_is_quarantined(wb, tmp_path):
    path = write(
        tmp_path / "offsets.csv",
        "user_id,event,ts\nu1,a,2024-03-04T10:00:00+01:00\nu2,a,2024-03-04T10:00:00+25:00\n"
        "u3,a,2024-03-04T10:00:00-1500\nu4,a,2024-03-04T10:00:00+14:00\n",
    )
    report = wb.load_events(path)  # a clean-looking file: the one-pass reader must catch it too
    assert (report.rows_loaded, report.rows_quarantined) == (2, 2) and counts_add_up(report)
    q = wb.quarantine(report.load_id).set_index("row")
    assert list(q.index) == [3, 4]
    assert all(r.startswith("invalid UTC offset") for r in q.reason)
    # the same with a stated time zone (naive times are local there)
    report = wb.load_tickets(
        write(tmp_path / "t.csv", "ticket_id,created_at\nT1,2024-03-04 10:00:00+25:00\n"),
        timezone="Europe/Amsterdam",
    )
    assert report.rows_quarantined == 1
    assert wb.quarantine(report.load_id).reason[0].startswith("invalid UTC offset")


# -- daylight-saving changes ---------------------------------------------------------------------------


def test_local_times_in_a_dst_fold_or_gap_follow_the_rule_and_are_counted(wb, tmp_path):
    path = write(
        tmp_path / "amsterdam.csv",
        "user_id,event,ts\n"
        "u1,a,2024-10-27 02:30:00\n"  # twice that night (CEST, then CET): the earlier instant
        "u2,a,2024-03-31 02:30:00\n"  # never that night (02:00 -> 03:00): moved forward to 03:30
        "u3,a,2024-06-01 12:00:00\n"
        "u4,a,2024-10-27 02:30:00+01:00\n",  # an offset settles it: not counted
    )
    report = wb.load_events(path, timezone="Europe/Amsterdam")
    assert (report.dst_ambiguous, report.dst_nonexistent) == (1, 1)
    assert report.as_dict()["dst_ambiguous"] == 1 and report.as_dict()["dst_nonexistent"] == 1
    assert "1 ambiguous" in str(report) and "1 nonexistent" in str(report)
    ts = dict(zip(events(wb).user_id, events(wb).ts, strict=True))
    assert ts["u1"] == pd.Timestamp("2024-10-27 00:30:00", tz="UTC")
    assert ts["u2"] == pd.Timestamp("2024-03-31 01:30:00", tz="UTC")
    assert ts["u3"] == pd.Timestamp("2024-06-01 10:00:00", tz="UTC")
    assert ts["u4"] == pd.Timestamp("2024-10-27 01:30:00", tz="UTC")


def test_dst_counts_on_day_first_dates_and_ticket_times(wb, tmp_path):
    # New York, day-first dates (the staged read): 3 Nov 2024 01:30 happens twice
    path = write(
        tmp_path / "ny.csv",
        "ticket_id,created_at,updated_at\nT1,03/11/2024 01:30,10/03/2024 02:15\nT2,25/12/2024 09:00,26/12/2024 10:00\n",
    )
    report = wb.load_tickets(path, timezone="America/New_York")
    assert report.rows_loaded == 2
    assert (report.dst_ambiguous, report.dst_nonexistent) == (1, 1)
    t1 = wb.sql("SELECT created_at, updated_at FROM tickets WHERE ticket_id = 'T1'")
    assert t1.created_at[0] == pd.Timestamp("2024-11-03 05:30:00", tz="UTC")  # EDT, the earlier
    assert t1.updated_at[0] == pd.Timestamp("2024-03-10 07:15:00", tz="UTC")  # 03:15 EDT


# -- duplicate JSON keys ------------------------------------------------------------------------------


def test_a_json_key_named_twice_keeps_its_last_value(wb, tmp_path):
    path = write(
        tmp_path / "dup.jsonl",
        '{"user_id": "u-old", "event": "upgrade", "ts": "2024-03-04T10:00:00Z", "user_id": "u1", '
        '"properties": {"plan": "free", "seats": 1, "plan": "pro"}}\n'
        '{"user_id": "u2", "event": "upgrade", "ts": "2024-03-04T11:00:00Z", "properties": {"plan": "team"}}\n',
    )
    report = wb.load_events(path)
    assert report.rows_loaded == 2 and counts_add_up(report)
    assert any("name a key twice" in n for n in report.notes)
    ev = events(wb)
    assert list(ev.user_id) == ["u1", "u2"]
    assert json.loads(ev.properties[0]) == {"seats": 1, "plan": "pro"}
    # only the properties object repeats a key
    path = write(
        tmp_path / "dup2.jsonl",
        '{"user_id": "u3", "event": "a", "ts": "2024-03-05T00:00:00Z", '
        '"properties": {"plan": "free", "plan": "team"}}\n',
    )
    report = wb.load_events(path)
    assert json.loads(events(wb, report.load_id).properties[0]) == {"plan": "team"}


# -- ids ----------------------------------------------------------------------------------------------


def test_integral_float_ids_and_missing_ids_in_every_id_field(wb, tmp_path):
    path = write(
        tmp_path / "sessions.csv",
        "user_id,event,ts,session_id,event_id\n"
        "17850.0,a,2024-03-04T10:00:00Z,3.0,101.0\n"
        "17850,b,2024-03-04T10:01:00Z,3,102\n"
        "NaN,c,2024-03-04T10:02:00Z,4.50,103.0\n"
        "None,c,2024-03-04T10:03:00Z,4,104.0\n"
        "v1.0,d,2024-03-04T10:04:00Z,nan,105.00\n",
    )
    report = wb.load_events(path)
    assert (report.rows_loaded, report.rows_quarantined) == (3, 2) and counts_add_up(report)
    ev = events(wb)
    assert list(ev.user_id) == ["17850", "17850", "v1.0"]  # text ids are left alone
    assert list(ev.session_id[:2]) == ["3", "3"] and pd.isna(ev.session_id[2])
    assert list(ev.source_key) == ["101", "102", "105"]
    tickets = pd.DataFrame({"ticket_id": [1.0, 2.0, None], "created_at": ["2024-01-01"] * 3})
    report = wb.load_tickets(tickets)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
    assert sorted(wb.sql("SELECT ticket_id FROM tickets").ticket_id) == ["1", "2"]


# -- delimiters ---------------------------------------------------------------------------------------


def test_delimiter_option_whitespace_aligned_text_and_sniffing(wb, tmp_path):
    tilde = write(tmp_path / "tilde.csv", "user_id~event~ts\nu1~a~2024-03-04T10:00:00Z\n")
    report = wb.load_events(tilde, delimiter="~")
    assert report.rows_loaded == 1
    aligned = (
        "CustomerID   StockCode   InvoiceDate\n"
        "17850.0      85123A      20101201\n"
        "13047.0      22633       20101202\n"
        "\n"
        "12583.0      84879       20101203   extra\n"
    )
    path = write(tmp_path / "aligned.txt", aligned)
    report = wb.load_events(path, columns=RETAIL_COLUMNS, delimiter="whitespace")
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (3, 2, 1)
    q = wb.quarantine(report.load_id)
    assert list(q.row) == [5] and "4 fields" in q.reason[0]
    assert list(events(wb, report.load_id).user_id) == ["17850", "13047"]
    # CLI: --delimiter
    db = str(tmp_path / "w.duckdb")
    code = main(["--db", db, "ingest", "events", str(tilde), "--delimiter", "~", "--quiet"])
    assert code == 0
    with duckdb.connect(db) as con:
        assert con.sql("SELECT user_id, event FROM events").fetchall() == [("u1", "a")]
    # without the option: the header has no usual delimiter, the lines split alike on blanks
    report = wb.load_tickets(
        write(tmp_path / "t.txt", "ticket_id  created_at  status\nT1  2024-03-04  open\n")
    )
    assert report.rows_loaded == 1
    # a colon-separated file is sniffed
    report = wb.load_tickets(
        write(tmp_path / "c.txt", "ticket_id:status:priority\nT2:open:high\nT3:closed:low\n"),
        columns={"created_at": poa.Const("2024-01-01")},
    )
    assert report.rows_loaded == 2


def test_no_delimiter_found_says_so(wb, tmp_path):
    path = write(
        tmp_path / "prose.txt",
        "customer_id invoice date\nsome text here that is not a table at all\nshort line\n",
    )
    with pytest.raises(poa.InputError) as err:
        wb.load_events(path)
    assert err.value.code == "ingest.no_delimiter" and "delimiter=" in err.value.hint
    # a delimiter that does not split the header: not 'customer_id missing' beside a column
    # holding customer_id
    path = write(tmp_path / "comma.csv", "customer_id,event,ts\nc1,a,2024-03-04T10:00:00Z\n")
    with pytest.raises(poa.ConfigError) as err:
        wb.load_events(path, delimiter=";")
    assert err.value.code == "ingest.no_delimiter" and "read as one column" in str(err.value)
    with pytest.raises(poa.ConfigError, match="not one character"):
        wb.load_events(path, delimiter=";;")


def test_missing_field_message_suggests_only_unused_columns(wb, tmp_path):
    # customer_id is mapped (to session_id): it is not offered as the missing user_id
    path = write(tmp_path / "t.csv", "customer_id,event,ts\nc1,a,2024-03-04T10:00:00Z\n")
    with pytest.raises(poa.ConfigError) as err:
        wb.load_events(path, columns={"session_id": "customer_id"})
    assert err.value.code == "ingest.missing_field"
    assert "user_id: no similar column" in str(err.value)


# -- fixed values ---------------------------------------------------------------------------------------


def test_a_fixed_event_name_for_a_file_without_an_event_column(wb, tmp_path, capsys):
    path = write(
        tmp_path / "orders.csv",
        "CustomerID,InvoiceDate,Amount\n17850.0,20101201,15.30\n13047.0,20101202,22.00\n",
    )
    report = wb.load_events(
        path, columns={"user_id": "CustomerID", "ts": "InvoiceDate", "event": poa.Const("purchase")}
    )
    assert report.rows_loaded == 2
    ev = events(wb)
    assert set(ev.event) == {"purchase"}
    assert json.loads(ev.properties[0]) == {"Amount": "15.30"}  # the Const is no property
    assert (
        wb.sql("SELECT options FROM load_log WHERE load_id = ?", [report.load_id])
        .options[0]
        .count("Const('purchase')")
    )
    # CLI: --const
    db = str(tmp_path / "w.duckdb")
    code = main(["--db", db, "ingest", "events", str(path), "--map", "user_id=CustomerID",
                 "--map", "ts=InvoiceDate", "--const", "event=refund", "--quiet"])  # fmt: skip
    assert code == 0
    with duckdb.connect(db) as con:
        assert con.sql("SELECT DISTINCT event FROM events").fetchall() == [("refund",)]
    # any field: a ticket status, a properties dict
    report = wb.load_tickets(
        write(tmp_path / "t.csv", "id,created\nT1,2024-03-04\n"),
        columns={"status": poa.Const("open"), "properties": poa.Const({"import": "legacy"})},
    )
    row = wb.sql("SELECT status, properties FROM tickets")
    assert row.status[0] == "open" and json.loads(row.properties[0])["import"] == "legacy"
    with pytest.raises(poa.ConfigError):
        poa.Const(None)
    notes_dir = tmp_path / "notes"
    notes_dir.mkdir()
    write(notes_dir / "a.md", "# Interview\n\nSome text.\n")
    with pytest.raises(poa.ConfigError) as err:
        wb.load_notes(notes_dir, columns={"segment": poa.Const("smb")})
    assert err.value.code == "ingest.const_unsupported"


def test_two_digit_years_that_all_read_as_the_1970s_are_refused(wb, tmp_path):
    # '75' is read as 1975 by the %y rule: every date before 1980 is a guess not believed
    path = write(
        tmp_path / "old_years.csv",
        "user_id,event,ts\nu1,a,25/12/75 10:00\nu2,a,03/01/76 11:00\n",
    )
    with pytest.raises(poa.InputError) as err:
        wb.load_events(path)
    assert err.value.code == "ingest.time_implausible" and "timestamp_format=" in err.value.hint
    report = wb.load_events(path, timestamp_format="%d/%m/%y %H:%M")  # stated: believed
    assert report.rows_loaded == 2


def test_an_impossible_day_month_date_is_quarantined_not_a_mixed_order(wb, tmp_path):
    # 31/31/2024 is no date in either order: it neither settles nor mixes the column's order
    path = write(
        tmp_path / "dmy.csv",
        "user_id,event,ts\nu1,a,25/12/2024 10:00\nu2,a,03/01/2025 11:00\nu3,a,31/31/2024 09:00\n",
    )
    report = wb.load_events(path)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1) and counts_add_up(report)
    assert wb.quarantine(report.load_id).row[0] == 4
    assert events(wb).ts[1] == pd.Timestamp(
        "2025-01-03 11:00", tz="UTC"
    )  # day first, settled by 25
