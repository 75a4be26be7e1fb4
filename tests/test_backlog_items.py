"""Backlog items from a CSV export (poanalytics columns, Jira, Linear): nothing lost, quarantine with
row numbers, effort in person-weeks, and the refinement checks (check_items)."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poanalytics.backlog.config import parse_product, read_product
from poanalytics.backlog.errors import BacklogError
from poanalytics.backlog.items import (
    check_items,
    parse_date,
    parse_effort,
    read_items,
    warehouse_names,
    zoneless,
)
from poanalytics.backlog.model import BacklogSource, Planning, ProductConfig

ROOT = Path(__file__).resolve().parents[1]

PRODUCT = """\
[planning]
capacity = 6
effort_unit = "points"
points_per_week = 2
effort_spread = 0.5

[funnel]
steps = ["signed_up", "onboarding_started", "profile_completed", "activated"]

[objectives.finish]
metric = "conversion"
step = "profile_completed"
baseline = 0.8
target = 0.9
"""


def product(extra: str = "", **source) -> ProductConfig:
    config = parse_product(PRODUCT + extra, "product.toml")
    if source:
        config = dataclasses.replace(config, source=BacklogSource(**source))
    return config


def write(tmp_path: Path, text: str, name: str = "backlog.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def adds_up(read) -> bool:
    a = read.accounting
    return a["rows_read"] == a["loaded"] + a["quarantined"] + a["duplicates"] == a["rows_counted"]


# -- nothing lost -------------------------------------------------------------------------------------

MALFORMED = (
    "id,title,effort,status,shipped_at,segment,moscow,impact,themes,business_value\n"
    "A-1,Good one,3,open,,platform=android,must,2,pricing;onboarding_crash,8\n"  # row 2
    "A-2,Extra cell,3,open,,,,,,,oops\n"  # row 3: 11 cells
    ",No id,3,open,,,,,,\n"  # row 4
    "A-4,,3,open,,,,,,\n"  # row 5: no title
    "A-5,Bad effort,lots,open,,,,,,\n"  # row 6
    "A-6,Bad date,3,shipped,yesterday,,,,,\n"  # row 7
    "A-7,Bad status,3,finished-ish,,,,,,\n"  # row 8
    "A-8,Bad segment,3,open,,android,,,,\n"  # row 9
    "A-9,Bad moscow,3,open,,,maybe,,,\n"  # row 10
    "A-10,Bad impact,3,open,,,,5,,\n"  # row 11
    "\n"  # row 12: blank, no item
    'A-11,"Multi\nline, with comma",2w,Done,2026-11-02,,,,,\n'  # row 13 (two lines, one row)
    "A-12,Bad WSJF,3,open,,,,,,-1\n"  # row 14
    "A-13,Two bad cells,xx,open,,,,9,,\n"  # row 15
)


def test_malformed_rows_are_quarantined_with_their_row_number_and_nothing_lost(tmp_path):
    write(tmp_path, MALFORMED)
    read = read_items(product(), "backlog.csv", root=tmp_path)
    assert adds_up(read)
    assert read.accounting == {
        "rows_read": 13,  # rows 2..15 but the blank row 12
        "rows_counted": 13,
        "loaded": 2,
        "quarantined": 11,  # rows; row 15 has two bad cells, so two quarantine entries
        "duplicates": 0,
    }
    q = read.quarantine
    got = {(int(r.row), r.column, r.code) for r in q.itertuples()}
    assert got == {
        (3, None, "backlog.bad_row"),
        (4, "id", "backlog.missing_id"),
        (5, "title", "backlog.missing_title"),
        (6, "effort", "backlog.bad_effort"),
        (7, "shipped_at", "backlog.bad_date"),
        (8, "status", "backlog.bad_status"),
        (9, "segment", "backlog.bad_segment"),
        (10, "moscow", "backlog.bad_moscow"),
        (11, "impact", "backlog.bad_impact"),
        (14, "business_value", "backlog.bad_number"),
        (15, "effort", "backlog.bad_effort"),
        (15, "impact", "backlog.bad_impact"),
    }
    assert set(q.file) == {"backlog.csv"}
    assert q.loc[q.row == 6, "value"].item() == "lots"
    assert "Intercom" in q.loc[q.row == 11, "reason"].item()
    assert [i.item_id for i in read.items] == ["A-1", "A-11"]
    multi = read.item("A-11")
    assert multi is not None and multi.source == "backlog.csv row 13"
    assert multi.status == "shipped" and multi.shipped_at == datetime(2026, 11, 2, tzinfo=UTC)
    assert multi.effort_weeks == 2.0 and multi.title == "Multi line, with comma"
    good = read.item("A-1")
    assert good is not None and good.segment == {"platform": ["android"]}
    assert good.themes == ("pricing", "onboarding_crash") and good.impact == 2.0
    assert good.business_value == 8.0 and good.moscow == "must" and good.effort_weeks == 1.5


def test_duplicates_identical_counted_conflicting_both_quarantined(tmp_path):
    write(
        tmp_path,
        "id,title,effort\nB-1,Same,3\nB-2,Other,2\nB-1,Same,3\nB-3,First,1\nB-3,Changed,1\n",
    )
    read = read_items(product(), "backlog.csv", root=tmp_path)
    assert adds_up(read)
    assert read.accounting["duplicates"] == 1 and read.accounting["quarantined"] == 2
    assert [i.item_id for i in read.items] == ["B-1", "B-2"]
    q = read.quarantine
    assert list(q.row) == [5, 6] and set(q.code) == {"backlog.duplicate_id"}
    assert "row 5" in q.reason.iloc[0] and "row 6" in q.reason.iloc[0]


def test_an_unclosed_quote_is_refused_not_swallowed(tmp_path):
    write(tmp_path, 'id,title,effort\nC-1,"Never closed,3\nC-2,Second,2\nC-3,Third,1\n')
    with pytest.raises(BacklogError) as exc:
        read_items(product(), "backlog.csv", root=tmp_path)
    assert exc.value.code == "backlog.count_mismatch"
    assert "quote" in (exc.value.hint or "")


def test_config_items_and_csv_rows_are_accounted_together(tmp_path):
    extra = (
        '\n[[items]]\nid = "C-1"\ntitle = "From the file"\neffort = "1w"\nsteps = ["activated"]\n'
    )
    config = product(extra)
    write(tmp_path, "id,title,effort\nC-1,From the CSV,2\nC-2,Second,2\n")
    read = read_items(config, "backlog.csv", root=tmp_path)
    assert adds_up(read) and read.accounting["rows_read"] == 3
    assert [i.item_id for i in read.items] == ["C-2"]
    assert set(read.quarantine.file) == {"product.toml", "backlog.csv"}
    only_config = read_items(config, root=tmp_path)
    assert only_config.source is None and [i.item_id for i in only_config.items] == ["C-1"]


def test_file_level_errors(tmp_path):
    with pytest.raises(BacklogError) as exc:
        read_items(product(), "missing.csv", root=tmp_path)
    assert exc.value.code == "backlog.csv_missing"
    write(tmp_path, "id,title,efort\nA,a,1\n")
    with pytest.raises(BacklogError) as exc:
        read_items(product(), "backlog.csv", root=tmp_path)
    assert exc.value.code == "backlog.csv_columns" and "Did you mean 'effort'?" in exc.value.message
    write(tmp_path, "key,name\nA,a\n")
    with pytest.raises(BacklogError) as exc:
        read_items(product(), "backlog.csv", root=tmp_path)
    assert exc.value.code == "backlog.csv_columns" and "id and title" in exc.value.message
    (tmp_path / "latin.csv").write_bytes(b"id,title\nA,ok\nB,caf\xe9\n")
    with pytest.raises(BacklogError) as exc:
        read_items(product(), "latin.csv", root=tmp_path)
    assert exc.value.code == "backlog.csv_encoding" and "line 3" in exc.value.message
    read = read_items(product(encoding="cp1252"), "latin.csv", root=tmp_path)
    assert adds_up(read) and read.items[1].title == "café"


def test_columns_mapping_and_unmapped_columns_kept(tmp_path):
    write(tmp_path, "Key,Name,Size,Owner\nK-1,Thing,M,ada\n")
    config = product()
    config = dataclasses.replace(
        config,
        planning=dataclasses.replace(config.planning, effort_unit="tshirt"),
        source=BacklogSource(columns={"id": "Key", "title": "Name", "effort": "size"}),
    )
    read = read_items(config, "backlog.csv", root=tmp_path)
    item = read.items[0]
    assert (item.item_id, item.title, item.effort_weeks) == ("K-1", "Thing", 2.0)
    assert item.extra == {"Owner": "ada"}
    bad = dataclasses.replace(config, source=BacklogSource(columns={"id": "Kee", "title": "Name"}))
    with pytest.raises(BacklogError) as exc:
        read_items(bad, "backlog.csv", root=tmp_path)
    assert "Did you mean 'Key'?" in exc.value.message


# -- effort -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "unit", "expected"),
    [
        ("3 pw", "points", (1.5, 4.5)),  # 3 person-weeks, spread 0.5
        ("2w", "points", (1.0, 3.0)),
        ("4", "points", (1.0, 3.0)),  # 4 points / 2 per week = 2 weeks
        ("4", "weeks", (2.0, 6.0)),
        ("5 pts", "weeks", (1.25, 3.75)),
        ("5d", "points", (0.5, 1.5)),  # 5 person-days = 1 week
        ("M", "points", (1.0, 4.0)),  # t-shirt: its neighbours S and L
        ("xs", "points", (0.25, 1.0)),  # smallest: mirrored (0.5 * 0.5 / 1)
        ("XL", "points", (4.0, 16.0)),
        ("0", "points", (0.0, 0.0)),
    ],
)
def test_effort_units_and_ranges(cell, unit, expected):
    planning = Planning(effort_unit=unit, points_per_week=2, effort_spread=0.5)
    raw, weeks, low, high = parse_effort(cell, planning)
    assert raw == cell and (low, high) == pytest.approx(expected)
    assert low <= weeks <= high  # type: ignore[operator]


@pytest.mark.parametrize("cell", ["-2", "3 parsecs", "huge", "XXL"])
def test_unreadable_effort_is_refused(cell):
    with pytest.raises(ValueError):
        parse_effort(cell, Planning(effort_unit="points", points_per_week=2))


@pytest.mark.parametrize("cell", ["1,500", "2,000 pts"])
def test_a_comma_before_three_digits_is_ambiguous_and_refused(cell):
    with pytest.raises(ValueError, match="ambiguous"):  # it read 1,500 as 1.5 before
        parse_effort(cell, Planning(effort_unit="points", points_per_week=2))
    assert parse_effort("1,5", Planning())[1] == 1.5  # a decimal comma stays one


@pytest.mark.parametrize(("cell", "unit"), [("4", "points"), ("5 sp", "weeks"), ("3 pts", "weeks")])
def test_an_effort_in_points_without_points_per_week_is_refused_never_read_as_a_week(cell, unit):
    with pytest.raises(ValueError, match="points_per_week is not set"):  # read as 1/week before
        parse_effort(cell, Planning(effort_unit=unit))
    assert parse_effort("3 pw", Planning(effort_unit=unit))[1] == 3.0  # weeks need no rate


# -- Jira and Linear ------------------------------------------------------------------------------

JIRA = (
    "Summary,Issue key,Issue id,Issue Type,Status,Priority,Resolution,Assignee,Created,Resolved,"
    "Labels,Labels,Description,Custom field (Story Points),Original Estimate,Sprint\n"
    "Fix Android crash,POA-1,10001,Bug,Done,Highest,Done,Ada,01/Oct/26 9:00 AM,"
    '02/Nov/26 3:45 PM,step:profile_completed,theme:onboarding_crash,"Crash on save, Android",3,,S1\n'
    "Starter pricing,POA-2,10002,Story,In Progress,High,,Bo,03/Oct/26 10:00 AM,,"
    "segment:plan=starter,pricing-review,Review prices,,144000,S1\n"
    "Old idea,POA-3,10003,Story,Won't Do,Low,Won't Do,,04/Oct/26 11:00 AM,05/Oct/26 11:00 AM,"
    ",,,2,,\n"
    "Broken,POA-4,10004,Story,Limbo,Low,,,04/Oct/26 11:00 AM,,,,,1,,\n"
)


def test_jira_export_with_its_own_headers(tmp_path):
    write(tmp_path, JIRA, "jira.csv")
    read = read_items(product(format="jira"), "jira.csv", root=tmp_path)
    assert adds_up(read) and read.accounting["loaded"] == 3
    one, two, three = read.items
    assert (one.item_id, one.title, one.status) == ("POA-1", "Fix Android crash", "shipped")
    assert one.shipped_at == datetime(2026, 11, 2, 15, 45, tzinfo=UTC)
    assert one.steps == ("profile_completed",) and one.themes == ("onboarding_crash",)
    assert one.effort_weeks == 1.5  # 3 story points / 2 per week
    assert one.extra["Sprint"] == "S1" and one.description == "Crash on save, Android"
    assert two.status == "in_progress" and two.segment == {"plan": ["starter"]}
    assert two.effort_weeks == 1.0  # Original Estimate 144000 s = 40 h = one person-week
    assert two.extra["labels"] == ["pricing-review"]
    assert three.status == "dropped" and three.shipped_at is None
    q = read.quarantine
    assert (
        list(q.row) == [5] and q.code.item() == "backlog.bad_status" and q.value.item() == "Limbo"
    )


def test_jira_story_points_without_points_per_week_quarantine_the_item(tmp_path):
    write(tmp_path, JIRA, "jira.csv")
    config = product(format="jira")
    config = dataclasses.replace(
        config, planning=dataclasses.replace(config.planning, points_per_week=None)
    )
    read = read_items(config, "jira.csv", root=tmp_path)
    assert adds_up(read)
    # POA-1 (3 points) and POA-3 (2 points) are refused with the reason; POA-2 is in seconds
    assert [i.item_id for i in read.items] == ["POA-2"]
    q = read.quarantine.set_index("row")
    assert q.loc[2, "code"] == "backlog.bad_effort" and "points_per_week" in q.loc[2, "reason"]


LINEAR = (
    "ID,Team,Title,Description,Status,Estimate,Priority,Project,Creator,Assignee,Labels,"
    "Cycle Number,Created,Updated,Started,Completed,Canceled\n"
    "ENG-12,Eng,Invite prompt,Ask for a teammate,Done,3,High,Growth,Ada,Bo,"
    '"theme:invites, event:teammate_invited, Feature",4,2026-10-01T09:00:00.000Z,'
    "2026-11-03T10:00:00.000Z,2026-10-20T10:00:00.000Z,2026-11-03T10:00:00.000Z,\n"
    "ENG-13,Eng,'=SSO,SAML,Backlog,,No priority,,Ada,,,,2026-10-02T09:00:00.000Z,"
    "2026-10-02T09:00:00.000Z,,,\n"
    "ENG-14,Eng,Dropped,,Canceled,1,Low,,Ada,,moscow:wont,,2026-10-02T09:00:00.000Z,"
    "2026-10-02T09:00:00.000Z,,,2026-10-05T09:00:00.000Z\n"
)


def test_linear_export_with_its_own_headers(tmp_path):
    write(tmp_path, LINEAR, "linear.csv")
    read = read_items(product(format="linear"), "linear.csv", root=tmp_path)
    assert adds_up(read) and read.accounting["loaded"] == 3 and read.quarantine.empty
    a, b, c = read.items
    assert (a.item_id, a.status, a.effort_weeks) == ("ENG-12", "shipped", 1.5)
    assert a.shipped_at == datetime(2026, 11, 3, 10, tzinfo=UTC)
    assert a.themes == ("invites",) and a.events == ("teammate_invited",)
    assert a.extra["labels"] == ["Feature"]
    assert (b.status, b.effort_weeks, b.effort_raw) == ("open", None, None)
    assert b.title == "=SSO"  # Linear's ' before formula-like text is taken off
    assert (c.status, c.moscow) == ("dropped", "wont")
    checks = check_items(read.items, product())
    assert set(checks.loc[checks.item_id == "ENG-13", "code"]) == {
        "backlog.no_effort",
        "backlog.no_evidence_link",
    }


# -- refinement checks ----------------------------------------------------------------------------


def test_check_items_flags_not_ready_items_and_keeps_unknown_links(tmp_path):
    write(
        tmp_path,
        "id,title,effort,steps,events,themes,objectives,segment\n"
        "D-1,Ready,4,profile_completed,app_error,pricing,finish,plan=starter\n"
        "D-2,No effort,,profile_completed,,,,\n"
        "D-3,Zero effort,0,,app_error,,,\n"
        "D-4,Too large,20,,app_error,,,\n"
        "D-5,No link,2,,,,,\n"
        "D-6,Unknown links,2,profile_complete,app_eror,pricng,finsh,plann=starter\n",
    )
    read = read_items(product(), "backlog.csv", root=tmp_path)
    assert read.accounting["loaded"] == 6  # an unknown link does not quarantine: nothing lost
    checks = check_items(
        read.items,
        product(),
        events=["signed_up", "onboarding_started", "profile_completed", "activated", "app_error"],
        themes=["pricing", "onboarding_crash"],
        properties=["plan", "platform"],
    )
    ready = checks.groupby("item_id").ready.first().to_dict()
    assert ready == {
        "D-1": True,
        "D-2": False,
        "D-3": False,
        "D-4": False,
        "D-5": False,
        "D-6": False,
    }
    codes = checks.groupby("item_id").code.apply(set).to_dict()
    assert codes["D-1"] == {""}
    assert codes["D-2"] == {"backlog.no_effort"}
    assert codes["D-3"] == {"backlog.zero_effort"}
    assert codes["D-4"] == {"backlog.too_large"}  # 10 person-weeks > capacity 6
    assert codes["D-5"] == {"backlog.no_evidence_link"}
    assert codes["D-6"] == {
        "backlog.unknown_step",
        "backlog.unknown_event",
        "backlog.unknown_theme",
        "backlog.unknown_objective",
        "backlog.unknown_property",
    }
    detail = " ".join(checks.loc[checks.item_id == "D-6", "detail"])
    for hint in ("'profile_completed'", "'app_error'", "'pricing'", "'finish'", "'plan'"):
        assert f"Did you mean {hint}?" in detail


# -- the demo -------------------------------------------------------------------------------------


def test_demo_items_read_clean_and_link_only_to_known_names(demo10k_files, demo10k_wb):
    config = read_product(ROOT / "conf" / "product.toml")
    assert config is not None
    read = read_items(config, demo10k_files.backlog, root=ROOT)
    assert adds_up(read) and read.quarantine.empty and read.accounting["loaded"] == 14
    shipped = [(i.item_id, i.shipped_at) for i in read.items if i.status == "shipped"]
    assert shipped == [("BL-101", datetime(2026, 11, 2, tzinfo=UTC))]
    with demo10k_wb.connection() as con:
        names = warehouse_names(con)
    checks = check_items(read.items, config, **names)
    assert not checks.code.str.startswith("backlog.unknown").any(), checks
    flagged = checks[checks.code != ""]
    assert list(flagged.item_id) == ["BL-111"] and list(flagged.code) == [
        "backlog.no_evidence_link"
    ]
    # every item the impacts name exists in the backlog
    ids = {i.item_id for i in read.items}
    assert {i for imp in config.impacts for i in imp.items} <= ids
    # the stories' items carry the product owner's impact and their links
    by_id = {i.item_id: i for i in read.items}
    assert by_id["BL-104"].segment == {"plan": ["starter"]} and "pricing" in by_id["BL-104"].themes
    assert by_id["BL-107"].events == ("teammate_invited",)
    assert all(i.impact is not None for i in read.items)


def test_an_impact_naming_no_item_of_the_backlog_is_flagged(tmp_path):
    config = product('\n[[impacts]]\nobjective = "finish"\nitems = ["E-1", "E-2x"]\n')
    write(tmp_path, "id,title,effort,steps\nE-1,One,2,activated\nE-2,Two,2,activated\n")
    read = read_items(config, "backlog.csv", root=tmp_path)
    checks = check_items(read.items, config)
    row = checks[checks.code == "backlog.unknown_item"]
    assert list(row.item_id) == ["E-2x"] and not row.ready.item()
    assert "Did you mean 'E-2'?" in row.detail.item() and "'finish'" in row.detail.item()
    assert set(checks.loc[checks.item_id.isin(["E-1", "E-2"]), "code"]) == {""}


def test_bom_mixed_line_ends_and_a_stray_quote(tmp_path):
    # rows appended on another system end with CRLF, others LF; a BOM from a spreadsheet
    text = 'id,title,effort\r\nF-1,One,3\r\nF-2,"Two\r\nlines",2\nF-3,"Fast" dashboards,1\nF-4,Four,1\r\n'
    (tmp_path / "backlog.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    read = read_items(product(), "backlog.csv", root=tmp_path)
    assert adds_up(read) and [i.item_id for i in read.items] == ["F-1", "F-2", "F-4"]
    assert read.item("F-2").title == "Two lines"  # type: ignore[union-attr]
    # Python's lenient reader would make it 'Fast dashboards'; DuckDB rejects the row: quarantined
    q = read.quarantine
    assert list(q.row) == [4] and q.code.item() == "backlog.bad_row"
    assert "quote in the middle of a cell" in q.reason.item()


_cells = st.text(alphabet=st.sampled_from(list('ab ,;"\n\r=|-1M')), max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.lists(_cells, min_size=1, max_size=5), max_size=8))
def test_any_well_formed_csv_is_read_with_nothing_lost(tmp_path_factory, rows):
    buf = io.StringIO()
    writer = csv.writer(buf)  # RFC 4180: CRLF, cells holding CR or LF quoted
    writer.writerow(["id", "title", "effort"])
    writer.writerows(rows)
    folder = tmp_path_factory.mktemp("prop")
    (folder / "b.csv").write_text(buf.getvalue(), encoding="utf-8", newline="")
    read = read_items(product(), "b.csv", root=folder)
    assert adds_up(read)
    assert read.accounting["rows_read"] == sum(1 for r in rows if r)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-03",
        "2026-11-03T10:00:00Z",
        "2026-11-03T11:00:00.000+01:00",
        "03/Nov/26 10:00 AM",  # Jira's default
        "03/Nov/26 10:00",
        "Tue Nov 03 2026 10:00:00 GMT+0000 (Coordinated Universal Time)",  # Linear's toString
        "Tue Nov 03 2026 11:00:00 GMT+0100 (Central European Standard Time)",
    ],
)
def test_export_dates_are_read_as_utc(text):
    got = parse_date(text)
    assert got is not None and got.tzinfo is not None
    assert got.date().isoformat() == "2026-11-03"
    if len(text) > 10:
        assert (got.hour, got.minute) == (10, 0)


@pytest.mark.parametrize(
    "text, is_zoneless",
    [
        ("02/Nov/26 3:45 PM", True),  # Jira: the exporting user's zone, not written
        ("2026-11-02T15:45:00", True),
        ("2026-11-02 15:45", True),
        ("2026-11-02T15:45:00Z", False),
        ("2026-11-02T16:45:00+01:00", False),
        ("Mon Nov 02 2026 15:45:00 GMT+0000 (Coordinated Universal Time)", False),
        ("2026-11-02", False),  # a day, not an instant
        ("02/Nov/26", False),
        (datetime(2026, 11, 2, 15, 45), True),  # TOML's local date-time
        (datetime(2026, 11, 2, 15, 45, tzinfo=UTC), False),
        (date(2026, 11, 2), False),
    ],
)
def test_a_date_time_without_a_zone_is_told_apart(text, is_zoneless):
    assert zoneless(text) is is_zoneless


def test_a_date_without_a_zone_is_in_the_backlog_timezone():
    # 15:45 in Berlin (CET, +01:00 in November) is 14:45 UTC; a written offset wins; a bare
    # date is that day's midnight in the zone
    assert parse_date("02/Nov/26 3:45 PM") == datetime(2026, 11, 2, 15, 45, tzinfo=UTC)
    assert parse_date("02/Nov/26 3:45 PM", "Europe/Berlin") == datetime(
        2026, 11, 2, 14, 45, tzinfo=UTC
    )
    assert parse_date("2026-11-02T15:45:00Z", "Europe/Berlin") == datetime(
        2026, 11, 2, 15, 45, tzinfo=UTC
    )
    assert parse_date("2026-11-02", "Europe/Berlin") == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)
    assert parse_date("2026-07-02 12:00", "America/New_York") == datetime(
        2026, 7, 2, 16, 0, tzinfo=UTC
    )


def test_a_ship_date_without_a_zone_is_flagged_until_the_zone_is_set(tmp_path):
    write(tmp_path, JIRA, "jira.csv")
    config = product(format="jira")
    read = read_items(config, "jira.csv", root=tmp_path)
    checks = check_items(read.items, config)
    flagged = checks[checks.code == "backlog.ship_date_no_zone"]
    assert list(flagged.item_id) == ["POA-1"]  # the only shipped item; POA-3's date is no release
    assert (
        "'02/Nov/26 3:45 PM'" in flagged.detail.item()
        and "[backlog] timezone" in flagged.detail.item()
    )
    assert bool(flagged.ready.item())  # a flag, not a reason to hold the item back
    zoned = dataclasses.replace(
        config, source=dataclasses.replace(config.source, timezone="Europe/Berlin")
    )
    read = read_items(zoned, "jira.csv", root=tmp_path)
    assert read.items[0].shipped_at == datetime(2026, 11, 2, 14, 45, tzinfo=UTC)
    assert "backlog.ship_date_no_zone" not in set(check_items(read.items, zoned).code)


def test_the_backlog_timezone_must_be_a_zone():
    with pytest.raises(BacklogError) as info:
        parse_product(PRODUCT + '[backlog]\ntimezone = "Europe/Berln"\n', "product.toml")
    assert info.value.code == "backlog.config_invalid" and "Europe/Berlin" in str(info.value)
    ok = parse_product(PRODUCT + '[backlog]\ntimezone = "Europe/Berlin"\n', "product.toml")
    assert ok.source.timezone == "Europe/Berlin"


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "31/Foo/26"])
def test_unreadable_dates_are_refused(text):
    with pytest.raises(ValueError):
        parse_date(text)
