"""Nothing lost, for real: every input line is loaded, quarantined, a duplicate or a conflict, and
the counts are checked against counts the tests make themselves (Python's csv module, line counts),
not against the loader's own arithmetic."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.errors import PoaError

HEADER = "user_id,event,timestamp\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def csv_rows(path: Path) -> int:
    """Data rows of a CSV file as Python's csv module reads them (independent of the loader);
    blank lines are no rows."""
    csv.field_size_limit(1 << 30)
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for rec in csv.reader(fh) if rec) - 1


def one_event(wb: poa.Workbench) -> None:
    wb.load_events(
        pd.DataFrame({"user_id": ["zz"], "event": ["x"], "ts": ["2020-01-01T00:00:00Z"]})
    )


# -- files that used to crash the load -------------------------------------------------------------


@pytest.mark.parametrize("text", [HEADER, HEADER + "u1,a,b,c,d\n"], ids=["header-only", "all-bad"])
def test_a_header_only_or_all_bad_file_loads_into_a_warehouse_with_events(wb, tmp_path, text):
    one_event(wb)
    path = write(tmp_path / "e.csv", text)
    report = wb.load_events(path)
    expected = csv_rows(path)
    assert report.rows_read == expected
    assert (report.rows_loaded, report.rows_quarantined, report.rows_duplicate) == (0, expected, 0)


@pytest.mark.parametrize("text", [HEADER, HEADER + "u1,a,b,c,d\n"], ids=["header-only", "all-bad"])
def test_a_header_only_or_all_bad_ticket_file_loads(wb, tmp_path, text):
    path = write(tmp_path / "t.csv", text)
    report = wb.load_tickets(path, columns={"ticket_id": "user_id", "created_at": "timestamp"})
    expected = csv_rows(path)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (
        expected,
        0,
        expected,
    )


# -- status ----------------------------------------------------------------------------------------


def test_status_counts_every_quarantined_row_not_only_the_groups_it_lists(wb, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    bad_rows = 0
    for i in range(30):  # more files (groups) than status lists
        rows = "".join(
            f",e{i},2024-01-01T00:00:00Z\n" for _ in range(i + 1)
        )  # no user: quarantined
        write(folder / f"f{i:02d}.csv", HEADER + "u1,a,2024-01-01T00:00:00Z\n" + rows)
        bad_rows += i + 1
    report = wb.load_events(folder)
    assert report.rows_quarantined == bad_rows
    status = wb.status()
    assert status.quarantined_rows == bad_rows
    assert f"{bad_rows:>12,} rows kept aside" in str(status)
    assert "more files" in str(status)  # says that not every group is listed


# -- duplicates are counted, conflicts are not duplicates -------------------------------------------

KEYED = "message_id,user_id,event,timestamp\n"


def expected_keyed(paths: list[Path]) -> tuple[int, int, int]:
    """(new events, duplicates, conflicts) of keyed CSV files loaded in turn, counted with Python:
    a duplicate has an id and content seen before, a conflict an id seen before with other content."""
    seen: dict[str, set[tuple[str, ...]]] = {}
    new = dup = conflict = 0
    for path in paths:
        with open(path, newline="", encoding="utf-8") as fh:
            for rec in csv.DictReader(fh):
                key, content = rec["message_id"], (rec["user_id"], rec["event"], rec["timestamp"])
                contents = seen.setdefault(key, set())
                if content in contents:
                    dup += 1
                    continue
                conflict += bool(contents)
                contents.add(content)
                new += 1
    return new, dup, conflict


def test_a_reused_event_id_with_other_content_is_a_conflict_kept_not_a_duplicate(wb, tmp_path):
    path = write(
        tmp_path / "ids.csv",
        KEYED + "m1,u1,signup,2024-01-01T00:00:00Z\n"
        "m1,u2,signup,2024-01-01T00:05:00Z\n"  # another user's event with the same id
        "m1,u1,signup,2024-01-01T00:00:00Z\n"  # a true duplicate of the first
        "m2,u3,signup,2024-01-01T00:00:00Z\n",
    )
    report = wb.load_events(path, columns={"source_key": "message_id"})
    new, dup, conflict = expected_keyed([path])
    assert (new, dup, conflict) == (3, 1, 1)
    assert report.rows_read == csv_rows(path)
    assert (report.rows_loaded, report.rows_duplicate, report.rows_conflict) == (new, dup, conflict)
    assert sorted(wb.sql("SELECT user_id FROM events").user_id) == ["u1", "u2", "u3"]
    log = wb.sql(
        "SELECT rows_duplicate, rows_conflict FROM load_log WHERE load_id = ?", [report.load_id]
    )
    assert (int(log.rows_duplicate[0]), int(log.rows_conflict[0])) == (1, 1)
    assert "conflict" in str(report)


def test_conflicts_across_loads_and_a_reload_changes_nothing(wb, tmp_path):
    first = write(
        tmp_path / "a.csv", KEYED + "m1,u1,a,2024-01-01T00:00:00Z\nm2,u1,b,2024-01-02T00:00:00Z\n"
    )
    later = write(
        tmp_path / "b.csv",
        KEYED + "m1,u9,a,2024-01-03T00:00:00Z\n"  # m1 again, another user: conflict
        "m2,u1,b,2024-01-02T00:00:00Z\n"  # m2 again, same content: duplicate
        "m3,u1,c,2024-01-04T00:00:00Z\n",
    )
    cols = {"source_key": "message_id"}
    ra = wb.load_events(first, columns=cols)
    rb = wb.load_events(later, columns=cols)
    new, dup, conflict = expected_keyed([first, later])
    assert (ra.rows_loaded + rb.rows_loaded, ra.rows_duplicate + rb.rows_duplicate) == (new, dup)
    assert (rb.rows_loaded, rb.rows_duplicate, rb.rows_conflict) == (2, 1, 1) and conflict == 1
    again = wb.load_events(later, columns=cols)
    assert (again.rows_loaded, again.rows_duplicate, again.rows_conflict) == (0, 3, 0)
    assert wb.sql("SELECT count(*) AS n FROM events").n[0] == 4
    status = wb.status()
    assert status.conflicts == 1 and "share a source event id" in str(status)


def test_segment_retries_stay_duplicates_after_stitching(wb, tmp_path):
    # an anonymous event is given its user after the load (identity stitching); loading the same
    # export again must find it a duplicate, not a conflict
    rows = [
        {
            "type": "identify",
            "messageId": "i1",
            "userId": "u1",
            "anonymousId": "a1",
            "timestamp": "2024-05-01T10:00:00Z",
        },
        {
            "type": "track",
            "messageId": "t1",
            "anonymousId": "a1",
            "event": "Viewed",
            "timestamp": "2024-05-01T09:00:00Z",
        },
    ]
    path = tmp_path / "seg.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    wb.load_events(path)
    assert set(wb.sql("SELECT user_id FROM events").user_id) == {"u1"}
    again = wb.load_events(path)
    assert (again.rows_loaded, again.rows_duplicate, again.rows_conflict) == (0, 2, 0)


def test_duplicates_are_counted_against_an_independent_count(wb, tmp_path):
    # rows without ids: identical rows in one file are separate events; a later overlapping file
    # brings duplicates only beyond the copies already there. Python counts what to expect.
    a = write(
        tmp_path / "a.csv",
        HEADER + "u1,a,2024-01-01T00:00:00Z\n" * 2 + "u2,b,2024-01-01T00:00:00Z\n",
    )
    b = write(
        tmp_path / "b.csv",
        HEADER + "u1,a,2024-01-01T00:00:00Z\n" * 3 + ",nouser,2024-01-01T00:00:00Z\n"
        "u3,c,2024-01-01T00:00:00Z\n",
    )
    wb.load_events(a)
    report = wb.load_events(b)
    with open(b, newline="") as fh:
        recs = list(csv.DictReader(fh))
    bad = sum(1 for r in recs if not r["user_id"])
    have = {("u1", "a"): 2, ("u2", "b"): 1}
    counts: dict[tuple[str, str], int] = {}
    for r in recs:
        if r["user_id"]:
            counts[(r["user_id"], r["event"])] = counts.get((r["user_id"], r["event"]), 0) + 1
    dup = sum(min(n, have.get(k, 0)) for k, n in counts.items())
    assert report.rows_read == len(recs)
    assert (report.rows_quarantined, report.rows_duplicate) == (bad, dup)
    assert report.rows_loaded == len(recs) - bad - dup


def test_a_warehouse_from_before_conflicts_gets_the_column(tmp_path):
    import duckdb

    from poanalytics import schema

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ DEFAULT now())"
    )
    con.execute(schema.MIGRATIONS[0][2])
    con.execute("INSERT INTO schema_version (version, name) VALUES (1, 'canonical tables')")
    con.execute(
        "INSERT INTO load_log VALUES (7, 'events', 'old.csv', 'csv', now(), now(), 2, 2, 0, 0, NULL, 'ok', NULL)"
    )
    con.close()
    with poa.Workbench(path) as wb:
        assert wb.schema_version == schema.LATEST
        assert (
            int(wb.sql("SELECT rows_conflict FROM load_log WHERE load_id = 7").rows_conflict[0])
            == 0
        )
        report = wb.load_events(
            write(
                tmp_path / "k.csv",
                KEYED + "m1,u1,a,2024-01-01T00:00:00Z\nm1,u2,a,2024-01-01T00:00:00Z\n",
            ),
            columns={"source_key": "message_id"},
        )
        assert report.rows_conflict == 1 and wb.status().conflicts == 1


# -- every line of a CSV file is accounted for -----------------------------------------------------


def physical_lines(path: Path) -> int:
    """Lines with content, counted by the test itself."""
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip(b"\r\n"))


def test_an_unclosed_quote_that_swallows_the_file_refuses_the_load(wb, tmp_path):
    path = tmp_path / "unclosed.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEADER)
        for i in range(100_001):
            fh.write(
                f'u{i},"open,2024-03-04T10:00:00Z\n' if i == 2 else f"u{i},e,2024-03-04T10:00:00Z\n"
            )
    assert physical_lines(path) == 100_002
    with pytest.raises(PoaError) as err:
        wb.load_events(path)
    assert err.value.code == "ingest.csv_lines_lost"
    assert "line 4" in str(err.value) and "100,002" in str(err.value)  # the span, with line numbers
    assert wb.sql("SELECT count(*) AS n FROM events").n[0] == 0
    log = wb.sql("SELECT status, message FROM load_log")
    assert list(log.status) == ["failed"] and "csv_lines_lost" in log.message[0]


def test_a_line_over_the_reader_limit_is_quarantined_with_its_line_number(wb, tmp_path):
    path = tmp_path / "long.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEADER.strip() + ",note\n")
        fh.write("u1,a,2024-03-04T10:00:00Z,\n")
        fh.write("u2,b,2024-03-04T10:00:00Z," + "x" * (33 * 2**20) + "\n")  # 33 MiB
        fh.write("u3,c,2024-03-04T10:00:00Z,\n")
        fh.write("u4,d,not a time,\n")
    rows = csv_rows(path)
    report = wb.load_events(path)
    assert report.rows_read == rows == 4
    assert (report.rows_loaded, report.rows_quarantined) == (2, 2)
    q = wb.quarantine(report.load_id).set_index("row")
    assert set(q.index) == {3, 5}  # the long line, and the bad time after it keeps its row
    assert "over the CSV reader's limit" in q.loc[3, "reason"] and q.loc[3, "raw"].startswith(
        "u2,b"
    )
    assert "not a time" in q.loc[5, "raw"]


def test_quoted_line_breaks_and_blank_lines_are_not_a_loss(wb, shared_data, tmp_path):
    path = write(
        tmp_path / "multi.csv",
        HEADER
        + 'u1,"two\nlines",2024-03-04T10:00:00Z\n\n"u2","a\n\nblank inside",2024-03-04T10:00:00Z\n'
        "u3,c,2024-03-04T10:00:00Z\n\n\n",
    )
    report = wb.load_events(path)
    assert report.rows_read == csv_rows(path) == 3
    assert report.rows_loaded == 3
    tickets = shared_data / "tickets" / "seamonkey_bugs.csv"
    t = wb.load_tickets(tickets)
    assert t.rows_read == csv_rows(tickets)


# -- a folder of files that share a layout is read in one scan --------------------------------------


def test_a_folder_is_read_in_one_scan_with_each_files_row_numbers(wb, tmp_path):
    folder = tmp_path / "daily"
    folder.mkdir()
    for day in range(50):
        rows = [f"u{day}_{i},view,2024-01-{day % 28 + 1:02d}T10:{i:02d}:00Z\n" for i in range(5)]
        if day == 36:  # the 37th file: its 4th data row (row 5) has no time
            rows[3] = f"u{day}_3,view,\n"
        write(folder / f"day{day:02d}.csv", HEADER + "".join(rows))
    files = sorted(folder.iterdir())
    report = wb.load_events(folder)
    assert report.files == 50 and report.rows_read == sum(csv_rows(f) for f in files) == 250
    assert (report.rows_loaded, report.rows_quarantined, report.rows_duplicate) == (249, 1, 0)
    q = wb.quarantine(report.load_id)
    assert list(q.file) == [str(files[36])] and list(q.row) == [5]
    assert "u36_3" in q.raw[0]
    assert any("50 files read in one scan" in n for n in report.notes)


def test_files_read_in_one_scan_dedupe_as_if_loaded_one_after_another(wb, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    click = "u1,click,2024-01-01T00:00:00Z\n"
    write(folder / "a.csv", HEADER + click * 2 + "u2,a,2024-01-01T00:00:00Z\n")
    write(folder / "b.csv", HEADER + click * 3 + "u2,a,2024-01-01T00:00:00Z\n")  # one click more
    write(folder / "c.csv", HEADER + click + "u1,bad,never\n" + "u3,c,2024-01-01T00:00:00Z\n")
    report = wb.load_events(folder)
    # loaded one by one: a gives 3; b gives its third click (2 clicks and u2 are duplicates);
    # c's click is a duplicate, its bad row quarantined (row 3 of c.csv), u3 new
    assert (
        report.rows_read,
        report.rows_loaded,
        report.rows_duplicate,
        report.rows_quarantined,
    ) == (
        10,
        5,
        4,
        1,
    )
    q = wb.quarantine(report.load_id)
    assert list(q.file) == [str(folder / "c.csv")] and list(q.row) == [3]
    assert wb.sql("SELECT count(*) AS n FROM events WHERE event = 'click'").n[0] == 3
    again = wb.load_events(folder)
    assert (again.rows_loaded, again.rows_duplicate) == (0, 9)
