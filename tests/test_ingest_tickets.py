"""Ticket formats: Zendesk, Intercom, Jira, GitHub issues and plain CSV (real SeaMonkey Bugzilla data)."""

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


def tags(value) -> list[str] | None:
    """A VARCHAR[] cell as a Python list (None for NULL)."""
    return (
        None
        if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value))
        else list(value)
    )


def ticket(wb, ticket_id: str) -> pd.Series:
    rows = wb.sql("SELECT * FROM tickets WHERE ticket_id = ?", [ticket_id])
    assert len(rows) == 1, f"ticket {ticket_id}: {len(rows)} rows"
    return rows.iloc[0]


ZENDESK_CSV = """Id,Requester,Requester email,Requester external id,Subject,Status,Priority,Via,Tags,Created at,Updated at,Satisfaction Score,Group,Description
101,Ann Smith,ann@example.com,u-1,Cannot export CSV,open,high,Web form,export billing  urgent,2024-03-04 10:00:00 +0100,2024-03-05 09:30:00 +0100,Good,Support,"Export fails with ""timeout"", twice.
Second line."
102,Bob Jones,bob@example.com,,Refund please,solved,-,Email,,2024-03-06 08:00:00 +0100,2024-03-06 12:00:00 +0100,Bad,Billing,
103,Cy Young,cy@example.com,u-3,Login loop,pending,normal,Chat,login,not a date,2024-03-07 12:00:00 +0100,Unoffered,Support,
104,Di Prince,di@example.com,u-4,Slow dashboard,new,N/A,Web Widget,performance,2024-03-08 08:00:00 +0100,2024-03-08 08:00:00 +0100,Offered,Support,
"""


def test_zendesk_csv_export(wb_file, tmp_path):
    path = write(tmp_path / "zendesk_tickets.csv", ZENDESK_CSV)
    report = wb_file.load_tickets(path)
    assert report.formats == ["zendesk"]
    assert (
        report.rows_read,
        report.rows_loaded,
        report.rows_quarantined,
        report.rows_duplicate,
    ) == (4, 3, 1, 0)
    assert counts_add_up(report)

    t = ticket(wb_file, "101")
    assert (t.requester, t.user_id, t.status, t.priority, t.channel) == (
        "ann@example.com",
        "u-1",
        "open",
        "high",
        "Web form",
    )
    assert t.created_at == pd.Timestamp("2024-03-04 09:00", tz="UTC")
    assert t.updated_at == pd.Timestamp("2024-03-05 08:30", tz="UTC")
    assert tags(t.tags) == ["export", "billing", "urgent"]  # blank separated, extra blanks ignored
    assert t.satisfaction == 1.0
    assert t.body == 'Export fails with "timeout", twice.\nSecond line.'
    assert json.loads(t.properties) == {
        "Requester": "Ann Smith",
        "Group": "Support",
        "satisfaction_raw": "Good",
    }
    assert t.source_key == "zendesk:101"
    bob = ticket(wb_file, "102")
    assert (bob.satisfaction, bob.priority, tags(bob.tags), bob.user_id) == (0.0, None, None, None)
    di = ticket(wb_file, "104")
    assert (
        pd.isna(di.satisfaction) and di.priority is None
    )  # 'Offered' is no rating, 'N/A' no priority
    assert json.loads(di.properties)["satisfaction_raw"] == "Offered"

    q = wb_file.quarantine(report.load_id)
    assert (q.file[0], q.row[0], q.column_name[0]) == (
        str(path),
        4,
        "Created at",
    )  # row 2 spans two lines
    assert 'cannot read "not a date" as a time' in q.reason[0] and "Login loop" in q.raw[0]

    before = wb_file.sql("SELECT * EXCLUDE (load_id) FROM tickets ORDER BY ticket_id")
    again = wb_file.load_tickets(path)
    assert (again.rows_loaded, again.rows_duplicate, again.rows_quarantined) == (0, 3, 1)
    assert len(wb_file.quarantine()) == 1
    pd.testing.assert_frame_equal(
        before, wb_file.sql("SELECT * EXCLUDE (load_id) FROM tickets ORDER BY ticket_id")
    )


def test_a_newer_export_replaces_a_ticket_and_an_older_one_does_not(wb, tmp_path):
    wb.load_tickets(write(tmp_path / "march.csv", ZENDESK_CSV))
    newer = (
        ZENDESK_CSV.splitlines()[0]
        + "\n"
        + (
            "101,Ann Smith,ann@example.com,u-1,Cannot export CSV,solved,high,Web form,export billing,"
            "2024-03-04 10:00:00 +0100,2024-03-09 16:00:00 +0100,Good,Support,Fixed by support\n"
            # an older copy of 102 (updated before the stored one): ignored
            "102,Bob Jones,bob@example.com,,Refund please,open,-,Email,,2024-03-06 08:00:00 +0100,"
            "2024-03-06 09:00:00 +0100,,Billing,\n"
        )
    )
    report = wb.load_tickets(write(tmp_path / "april.csv", newer))
    assert (report.rows_read, report.rows_loaded, report.rows_duplicate) == (2, 1, 1)
    t = ticket(wb, "101")
    assert (t.status, t.body, tags(t.tags), t.load_id) == (
        "solved",
        "Fixed by support",
        ["export", "billing"],
        report.load_id,
    )
    assert t.updated_at == pd.Timestamp("2024-03-09 15:00", tz="UTC")
    assert ticket(wb, "102").status == "solved"
    assert wb.sql("SELECT count(*) AS n FROM tickets").n[0] == 3


ZENDESK_JSON = {
    "tickets": [
        {
            "id": 35436,
            "subject": "Help, my printer is on fire!",
            "description": "The fire is very colorful.",
            "status": "open",
            "priority": "urgent",
            "via": {"channel": "email", "source": {"from": {}}},
            "tags": ["enterprise", "printer"],
            "requester_id": 20978392,
            "external_id": "ahg35h3jh",
            "created_at": "2024-07-20T22:55:29Z",
            "updated_at": "2024-07-21T08:00:00Z",
            "satisfaction_rating": {"score": "good", "comment": "Quick!"},
            "group_id": 98738,
        },
        {
            "id": 35437,
            "subject": "Invoice missing",
            "description": None,
            "status": "pending",
            "priority": None,
            "via": {"channel": "web"},
            "tags": [],
            "requester_id": 20978393,
            "external_id": None,
            "created_at": "2024-07-22T10:00:00+02:00",
            "updated_at": "2024-07-22T10:30:00+02:00",
            "satisfaction_rating": {"score": "offered"},
        },
    ]
}


def test_zendesk_json_export_and_idempotent_reload(wb_file, tmp_path):
    path = tmp_path / "tickets.json"
    path.write_text(json.dumps(ZENDESK_JSON))
    report = wb_file.load_tickets(path)
    assert report.formats == ["zendesk"] and (report.rows_read, report.rows_loaded) == (2, 2)
    t = ticket(wb_file, "35436")
    assert (t.channel, t.requester, t.user_id, t.priority, t.satisfaction) == (
        "email",
        "20978392",
        "ahg35h3jh",
        "urgent",
        1.0,
    )
    assert tags(t.tags) == ["enterprise", "printer"]
    assert t.created_at == pd.Timestamp("2024-07-20 22:55:29", tz="UTC")
    props = json.loads(t.properties)
    assert (
        props["group_id"] == 98738
        and props["via"]["channel"] == "email"
        and props["satisfaction_raw"] == "good"
    )
    second = ticket(wb_file, "35437")
    assert second.created_at == pd.Timestamp("2024-07-22 08:00", tz="UTC") and pd.isna(
        second.satisfaction
    )
    assert tags(second.tags) == [] or tags(second.tags) is None
    before = wb_file.sql("SELECT * FROM tickets ORDER BY ticket_id")
    again = wb_file.load_tickets(path)
    assert counts_add_up(again) and again.rows_duplicate == again.rows_read == 2
    pd.testing.assert_frame_equal(before, wb_file.sql("SELECT * FROM tickets ORDER BY ticket_id"))


INTERCOM_CSV = """Conversation ID,Conversation started at,Last updated,State,Priority,Channel,Title,First message,Tags,User email,User id,Conversation rating,Teammate assigned
215468,2024-05-01 14:03:00,2024-05-02 09:00:00,closed,not priority,Chat,Billing question,"Hi, why was I charged twice?","billing, refund",eve@example.com,user_88,5,Sam
215469,2024-05-03 08:15:00,2024-05-03 08:45:00,open,priority,Email,,The app crashes on login,bug,fin@example.com,user_89,3,
215470,2024-05-04 10:00:00,2024-05-04 10:05:00,snoozed,not priority,Chat,,Feature request: dark mode,,gus@example.com,user_90,1,Sam
215471,2024-05-05 10:00:00,2024-05-05 10:05:00,closed,not priority,Chat,,Thanks!,,hal@example.com,user_91,7,Sam
215472,2024-05-06 10:00:00,2024-05-06 10:05:00,closed,not priority,Chat,,No rating here,,ida@example.com,user_92,,Sam
"""


def test_intercom_conversations_csv(wb, tmp_path):
    path = write(tmp_path / "intercom_conversations.csv", INTERCOM_CSV)
    report = wb.load_tickets(path, timezone="Europe/Amsterdam")
    assert report.formats == ["intercom"]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (
        5,
        4,
        1,
    ) and counts_add_up(report)
    sat = dict(wb.sql("SELECT ticket_id, satisfaction FROM tickets").values)
    assert (
        sat["215468"] == 1.0
        and sat["215469"] == 0.5
        and sat["215470"] == 0.0
        and pd.isna(sat["215472"])
    )
    t = ticket(wb, "215468")
    assert (t.user_id, t.requester, t.status, t.channel, t.subject, t.body) == (
        "user_88",
        "eve@example.com",
        "closed",
        "Chat",
        "Billing question",
        "Hi, why was I charged twice?",
    )
    assert tags(t.tags) == ["billing", "refund"]
    assert t.created_at == pd.Timestamp("2024-05-01 12:03", tz="UTC")  # CEST
    assert json.loads(t.properties) == {"Teammate assigned": "Sam", "satisfaction_raw": "5"}
    q = wb.quarantine(report.load_id)
    assert (q.row[0], q.column_name[0]) == (5, "Conversation rating")
    assert "rating 7 is outside 1..5" in q.reason[0]


JIRA_CSV = """Summary,Issue key,Issue id,Issue Type,Status,Priority,Assignee,Reporter,Created,Updated,Labels,Labels,Component/s,Component/s,Description
Export button does nothing,APP-12,10012,Bug,In Progress,High,dana,erin@example.com,12/Jan/24 3:45 PM,15/Jan/24 9:05 AM,export,ui,Web,Reports,"Steps:
1. open a report
2. click Export"
Add SSO,APP-13,10013,Story,To Do,None,,frank@example.com,03/Feb/24 10:00 AM,03/Feb/24 10:00 AM,,,,,
"""


def test_jira_csv_export(wb, tmp_path):
    path = write(tmp_path / "jira.csv", JIRA_CSV)
    report = wb.load_tickets(path)
    assert report.formats == ["jira"] and report.rows_loaded == 2 and counts_add_up(report)
    t = ticket(wb, "APP-12")
    assert (t.subject, t.status, t.priority, t.requester) == (
        "Export button does nothing",
        "In Progress",
        "High",
        "erin@example.com",
    )
    assert t.created_at == pd.Timestamp("2024-01-12 15:45", tz="UTC")
    assert t.updated_at == pd.Timestamp("2024-01-15 09:05", tz="UTC")
    assert tags(t.tags) == ["export", "ui"]  # the repeated Labels columns
    assert t.body == "Steps:\n1. open a report\n2. click Export"
    assert json.loads(t.properties) == {
        "issue_id": "10012",
        "issue_type": "Bug",
        "assignee": "dana",
        "components": ["Web", "Reports"],
    }
    story = ticket(wb, "APP-13")
    assert (
        story.priority is None and tags(story.tags) is None
    )  # Jira's 'None' priority is no priority
    assert json.loads(story.properties) == {"issue_id": "10013", "issue_type": "Story"}


GITHUB_JSON = [
    {
        "url": "https://api.github.com/repos/octo/app/issues/7",
        "repository_url": "https://api.github.com/repos/octo/app",
        "html_url": "https://github.com/octo/app/issues/7",
        "id": 1001,
        "node_id": "I_kw",
        "number": 7,
        "title": "Crash when the CSV has an empty header",
        "user": {"login": "mona", "id": 1},
        "labels": [{"id": 1, "name": "bug"}, {"id": 2, "name": "import"}],
        "state": "open",
        "locked": False,
        "assignees": [{"login": "hubot"}],
        "milestone": {"title": "v1.2"},
        "comments": 3,
        "created_at": "2024-04-01T12:00:00Z",
        "updated_at": "2024-04-02T08:30:00Z",
        "closed_at": None,
        "author_association": "NONE",
        "body": "Steps:\n\n1. load `a.csv`",
    },
    {
        "url": "https://api.github.com/repos/octo/app/issues/8",
        "repository_url": "https://api.github.com/repos/octo/app",
        "html_url": "https://github.com/octo/app/pull/8",
        "id": 1002,
        "number": 8,
        "title": "Fix empty headers",
        "user": {"login": "hubot"},
        "labels": [],
        "state": "closed",
        "comments": 0,
        "created_at": "2024-04-02T09:00:00Z",
        "updated_at": "2024-04-03T10:00:00Z",
        "closed_at": "2024-04-03T10:00:00Z",
        "body": None,
        "pull_request": {
            "url": "https://api.github.com/repos/octo/app/pulls/8",
            "html_url": "https://github.com/octo/app/pull/8",
            "merged_at": "2024-04-03T10:00:00Z",
        },
    },
]


def test_github_issues_json(wb, tmp_path):
    path = tmp_path / "issues.json"
    path.write_text(json.dumps(GITHUB_JSON))
    report = wb.load_tickets(path)
    assert report.formats == ["github"] and report.rows_loaded == 2 and counts_add_up(report)
    issue = ticket(wb, "octo/app#7")
    assert (issue.subject, issue.status, issue.requester) == (
        "Crash when the CSV has an empty header",
        "open",
        "mona",
    )
    assert tags(issue.tags) == ["bug", "import"]
    assert issue.created_at == pd.Timestamp("2024-04-01 12:00", tz="UTC")
    props = json.loads(issue.properties)
    assert props["number"] == 7 and props["repository"] == "octo/app" and props["comments"] == 3
    assert (
        props["html_url"] == "https://github.com/octo/app/issues/7"
        and props["pull_request"] is False
    )
    assert (
        props["assignees"] == ["hubot"]
        and props["milestone"] == "v1.2"
        and "closed_at" not in props
    )  # null values are left out
    assert not ({"url", "repository_url", "node_id", "user", "labels"} & set(props))
    pr = ticket(wb, "octo/app#8")
    assert tags(pr.tags) == ["pull-request"] and pr.status == "closed"
    assert json.loads(pr.properties)["merged_at"] == "2024-04-03T10:00:00Z"


def test_plain_csv_wins_for_plain_files_and_placeholders_are_null(wb, tmp_path):
    path = write(
        tmp_path / "support.csv",
        "ticket_id,created_at,status,priority,subject,tags\n"
        'T-1,2024-01-02T10:00:00Z,N/A,--,Hello,"a;b"\nT-2,2024-01-03T10:00:00Z,open,P2,Bye,\n',
    )
    report = wb.load_tickets(path)
    assert report.formats == ["csv"]
    t1, t2 = ticket(wb, "T-1"), ticket(wb, "T-2")
    assert (t1.status, t1.priority, tags(t1.tags)) == (None, None, ["a", "b"])
    assert (t2.status, t2.priority) == ("open", "P2")
    # a file with other names: a small columns= mapping, checked against the header
    odd = write(tmp_path / "odd.csv", "Bug,Opened,What\nB-9,2024-02-01 10:00,Broken\n")
    with pytest.raises(poa.ConfigError) as err:
        wb.load_tickets(odd, columns={"ticket_id": "bug", "created_at": "Opened"})
    assert err.value.code == "ingest.unknown_column" and "Did you mean 'Bug'" in str(err.value)
    wb.load_tickets(odd, columns={"ticket_id": "Bug", "created_at": "Opened", "subject": "What"})
    assert ticket(wb, "B-9").subject == "Broken"


def test_seamonkey_bugzilla_real_data(wb_file, shared_data):
    """SeaMonkey Bugzilla (GitBugs, CC BY 4.0): 1,076 tickets; '--' priority; multi-line descriptions."""
    path = shared_data / "tickets" / "seamonkey_bugs.csv"
    report = wb_file.load_tickets(path)  # the generic csv format, no mapping needed
    assert report.formats == ["csv"] and counts_add_up(report)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (1076, 1076, 0)
    status = dict(wb_file.sql("SELECT status, count(*) AS n FROM tickets GROUP BY 1").values)
    assert (status["RESOLVED"], status["UNCONFIRMED"], status["NEW"]) == (501, 342, 206)
    assert sum(status.values()) == 1076
    prio = wb_file.sql(
        "SELECT count(*) FILTER (WHERE priority IS NULL) AS unset, "
        "count(*) FILTER (WHERE priority = '--') AS dashes FROM tickets"
    )
    assert (prio.unset[0], prio.dashes[0]) == (961, 0)
    bug = ticket(wb_file, "1606979")
    assert bug.status == "UNCONFIRMED" and bug.created_at == pd.Timestamp(
        "2020-01-04 02:32:49", tz="UTC"
    )
    assert bug.body.startswith(
        "User Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_2) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko)"
    )
    assert "\n\nSteps to reproduce:\n\nI was editing old webpages" in bug.body
    assert json.loads(ticket(wb_file, "1606681").properties) == {"Resolution": "FIXED"}
    span = wb_file.sql("SELECT min(created_at) AS lo, max(created_at) AS hi FROM tickets")
    assert span.lo[0].strftime("%Y-%m") == "2020-01" and span.hi[0].strftime("%Y-%m") == "2025-02"
    again = wb_file.load_tickets(path)
    assert (again.rows_loaded, again.rows_duplicate) == (0, 1076)
