"""Notes loaders: Markdown interviews, research-tool highlight exports and survey answers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import poanalytics as poa
from tests.conftest import counts_add_up


def tags(value) -> list[str] | None:
    """A VARCHAR[] cell as a Python list (None for NULL)."""
    return (
        None
        if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value))
        else list(value)
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


ANA = """---
id: int-2024-03-ana
participant: Ana Souza
user_id: u-17
date: 2024-03-04 10:30
persona: Analyst
title: Onboarding interview, Ana
company: Acme
plan: [pro, annual]
---
# Onboarding interview, Ana

We talked about the first week with the product.

> The import wizard made me feel stupid, honestly.
> I gave up twice. #onboarding #import

Some notes of mine in between.

[pricing, billing] She pays for seats nobody uses.

> Exports are great.
>
> But I need them as Parquet. #export

```
> not a quote: inside a code block
[not, tags] either
```
- [ ] follow up with Ana (a task, not a highlight)
"""

BEN = """---
participant: Ben
date: 2024-03-05
segment: Admin
---
Ben runs the account.

> Permissions are confusing #permissions
"""

PLAIN = """# Call with Dana

No front matter at all.

[churn] Dana is moving to a competitor next quarter.
"""


def _interviews(folder: Path) -> Path:
    write(folder / "ana.md", ANA)
    write(folder / "ben-2024-03-05.md", BEN)
    write(folder / "sub" / "dana.md", PLAIN)
    write(folder / "README.txt", "not an interview")
    return folder


def test_markdown_folder_notes_and_highlights(wb, tmp_path):
    folder = _interviews(tmp_path / "interviews")
    report = wb.load_notes(folder)
    assert report.formats == ["markdown"]
    assert (report.files, report.rows_read, report.rows_loaded, report.rows_quarantined) == (
        3,
        3,
        3,
        0,
    )
    assert counts_add_up(report)
    assert any("not Markdown were skipped" in n for n in report.notes)

    notes = wb.sql("SELECT * FROM notes ORDER BY note_id").set_index("note_id")
    assert list(notes.index) == ["ben-2024-03-05", "dana", "int-2024-03-ana"]
    ana = notes.loc["int-2024-03-ana"]
    assert (ana.participant, ana.user_id, ana.segment, ana.title) == (
        "Ana Souza",
        "u-17",
        "Analyst",
        "Onboarding interview, Ana",
    )
    assert ana.date == pd.Timestamp("2024-03-04 10:30", tz="UTC")
    assert json.loads(ana.properties) == {"company": "Acme", "plan": ["pro", "annual"]}
    assert ana.text.startswith("# Onboarding interview, Ana\n\nWe talked")
    assert ana.source_key == "markdown:int-2024-03-ana"
    ben = notes.loc["ben-2024-03-05"]
    assert (ben.participant, ben.segment, ben.date) == (
        "Ben",
        "Admin",
        pd.Timestamp("2024-03-05", tz="UTC"),
    )
    dana = notes.loc["dana"]
    assert dana.title == "Call with Dana" and pd.isna(dana.participant) and pd.isna(dana.date)

    hl = wb.sql(
        "SELECT note_id, position, quote, tags, line FROM note_highlights ORDER BY note_id, position"
    )
    rows = [(r.note_id, r.position, r.quote, tags(r.tags), r.line) for r in hl.itertuples()]
    assert rows == [
        ("ben-2024-03-05", 1, "Permissions are confusing", ["permissions"], 8),
        ("dana", 1, "Dana is moving to a competitor next quarter.", ["churn"], 5),
        (
            "int-2024-03-ana",
            1,
            "The import wizard made me feel stupid, honestly. I gave up twice.",
            ["onboarding", "import"],
            15,
        ),
        ("int-2024-03-ana", 2, "She pays for seats nobody uses.", ["pricing", "billing"], 20),
        ("int-2024-03-ana", 3, "Exports are great.", None, 22),
        ("int-2024-03-ana", 4, "But I need them as Parquet.", ["export"], 24),
    ]
    assert ANA.splitlines()[15 - 1].startswith(
        "> The import wizard"
    )  # line numbers count the front matter


def test_markdown_reload_is_idempotent_and_an_edit_replaces_the_note(wb_file, tmp_path):
    folder = _interviews(tmp_path / "interviews")
    first = wb_file.load_notes(folder)
    before = wb_file.sql("SELECT * EXCLUDE (load_id) FROM notes ORDER BY note_id")
    hl_before = wb_file.sql(
        "SELECT * EXCLUDE (load_id) FROM note_highlights ORDER BY note_id, position"
    )
    again = wb_file.load_notes(str(folder / "**" / "*.md"))
    assert (again.rows_read, again.rows_loaded, again.rows_duplicate) == (
        first.rows_read,
        0,
        first.rows_read,
    )
    pd.testing.assert_frame_equal(
        before, wb_file.sql("SELECT * EXCLUDE (load_id) FROM notes ORDER BY note_id")
    )
    pd.testing.assert_frame_equal(
        hl_before,
        wb_file.sql("SELECT * EXCLUDE (load_id) FROM note_highlights ORDER BY note_id, position"),
    )

    write(folder / "ben-2024-03-05.md", BEN + "\n[sso] Wants SSO before rolling out.\n")
    edited = wb_file.load_notes(folder)
    assert (edited.rows_loaded, edited.rows_duplicate) == (1, 2)
    ben = wb_file.sql(
        "SELECT position, quote, tags, load_id FROM note_highlights "
        "WHERE note_id = 'ben-2024-03-05' ORDER BY position"
    )
    assert list(ben.quote) == ["Permissions are confusing", "Wants SSO before rolling out."]
    assert tags(ben.tags[1]) == ["sso"] and set(ben.load_id) == {edited.load_id}
    assert wb_file.sql("SELECT count(*) AS n FROM notes").n[0] == 3


def test_markdown_broken_front_matter_is_quarantined_not_fatal(wb, tmp_path):
    folder = tmp_path / "interviews"
    write(folder / "good.md", BEN)
    bad_yaml = write(
        folder / "bad.md", "---\nparticipant: Eve\ntitle: Pricing: too high\n---\n> quote\n"
    )
    unclosed = write(folder / "unclosed.md", "---\nparticipant: Fay\n\n> She never closed it\n")
    report = wb.load_notes(folder)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (3, 1, 2)
    assert counts_add_up(report)
    q = wb.quarantine(report.load_id).set_index("file")
    assert (
        q.loc[str(bad_yaml), "row"] == 3 and q.loc[str(bad_yaml), "column_name"] == "front matter"
    )
    assert (
        "not valid YAML" in q.loc[str(bad_yaml), "reason"]
        and "quotes" in q.loc[str(bad_yaml), "reason"]
    )
    assert "title: Pricing: too high" in q.loc[str(bad_yaml), "raw"]
    assert q.loc[str(unclosed), "row"] == 1 and "never closed" in q.loc[str(unclosed), "reason"]
    assert "add a line with ---" in q.loc[str(unclosed), "reason"]
    assert list(wb.sql("SELECT participant FROM notes").participant) == ["Ben"]
    # a bad date in the front matter is a row problem, reported with the field
    write(folder / "bad.md", "---\nparticipant: Eve\ndate: next tuesday\n---\ntext\n")
    again = wb.load_notes(folder / "bad.md")
    q2 = wb.quarantine(again.load_id)
    assert (again.rows_quarantined, q2.column_name[0]) == (1, "date")
    assert 'cannot read "next tuesday" as a time' in q2.reason[0]


def test_markdown_columns_maps_front_matter_keys(wb, tmp_path):
    write(tmp_path / "n.md", "---\ninterviewer: Kim\nteam: Growth\nwho: Lee\n---\nbody\n")
    wb.load_notes(tmp_path / "n.md", columns={"segment": "team", "participant": "who"})
    row = wb.sql("SELECT participant, segment, properties FROM notes")
    assert (row.participant[0], row.segment[0]) == ("Lee", "Growth")
    assert json.loads(row.properties[0]) == {"interviewer": "Kim"}
    with pytest.raises(poa.ConfigError) as err:
        wb.load_notes(tmp_path / "n.md", columns={"segment": "teams"})
    assert err.value.code == "ingest.unknown_column" and "Did you mean 'team'" in str(err.value)


DOVETAIL = """Highlight,Tags,Note,Participant,Created at,Highlight created by
"Setting up the import took me a whole afternoon, with ""help"" from support","Onboarding, Import",Interview: Ana (March),Ana Souza,2024-03-04T10:00:00Z,kim
Seats are too expensive for occasional users,Pricing,Interview: Ana (March),Ana Souza,2024-03-04T10:05:00Z,lee
"I would pay for scheduled exports",Export;Pricing,Interview: Ben,Ben,2024-03-05T09:00:00+01:00,kim
,Noise,Interview: Ben,Ben,2024-03-05T09:10:00+01:00,kim
An orphan highlight,Misc,,Cy,2024-03-06T09:00:00Z,kim
"""


def test_highlights_csv_export(wb, tmp_path):
    path = write(tmp_path / "dovetail_highlights.csv", DOVETAIL)
    report = wb.load_notes(path)
    assert report.formats == ["highlights_csv"]
    # 3 groups: two notes and the rows without a note title (quarantined: no note to attach to)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (3, 2, 1)
    assert counts_add_up(report)
    q = wb.quarantine(report.load_id)
    assert (q.file[0], q.row[0], q.column_name[0], q.reason[0]) == (
        str(path),
        6,
        "Note",
        "note_id is empty",
    )
    notes = wb.sql("SELECT * FROM notes ORDER BY note_id").set_index("note_id")
    ana = notes.loc["Interview: Ana (March)"]
    assert (ana.title, ana.participant) == ("Interview: Ana (March)", "Ana Souza")
    assert ana.date == pd.Timestamp("2024-03-04 10:00", tz="UTC")
    assert ana.text == (
        'Setting up the import took me a whole afternoon, with "help" from support\n\n'
        "Seats are too expensive for occasional users"
    )
    assert json.loads(ana.properties) == {"Highlight created by": ["kim", "lee"]}
    assert notes.loc["Interview: Ben"].date == pd.Timestamp("2024-03-05 08:00", tz="UTC")
    assert json.loads(notes.loc["Interview: Ben"].properties) == {"Highlight created by": "kim"}
    hl = wb.sql(
        "SELECT note_id, position, quote, tags, line FROM note_highlights ORDER BY note_id, position"
    )
    assert [(r.note_id, r.position, tags(r.tags), r.line) for r in hl.itertuples()] == [
        ("Interview: Ana (March)", 1, ["Onboarding", "Import"], 2),
        ("Interview: Ana (March)", 2, ["Pricing"], 3),
        ("Interview: Ben", 1, ["Export", "Pricing"], 4),
    ]
    assert hl.quote[2] == "I would pay for scheduled exports"
    again = wb.load_notes(path)
    assert (again.rows_loaded, again.rows_duplicate, again.rows_quarantined) == (0, 2, 1)
    assert wb.sql("SELECT count(*) AS n FROM note_highlights").n[0] == 3
    assert len(wb.quarantine()) == 1  # the same bad row is stored once


SURVEY = """Response ID,Submitted at,Status,How satisfied are you?,What is the hardest part of your week with the app?,Idea #1:What should we build next?,Idea #2:What should we build next?
r-1,2024-02-01 09:00:00,Complete,Very satisfied,"Reconciling the invoices every Friday takes forever, honestly",A bulk edit screen for all invoices,An API for the accountants we work with
r-2,2024-02-02 10:30:00,Partial,Unsatisfied,,,
r-3,2024-02-03 11:00:00,Complete,Satisfied,Finding the export button again each time I need it,"Scheduled exports by email, every Monday morning",
r-4,2024-02-04 12:00:00,Complete,Very satisfied,"Nothing really, the app is fine for what we need it to do",,
"""


def test_survey_respondents_become_notes_and_answers_highlights(wb, tmp_path):
    path = write(tmp_path / "feedback_2024.csv", SURVEY)
    with pytest.raises(poa.ConfigError) as err:
        wb.load_notes(path)  # no highlight column, no note_id/text: the format must be named
    assert err.value.code == "ingest.notes_format" and "'survey'" in str(err.value)
    report = wb.load_notes(path, format="survey", timezone="Europe/Amsterdam")
    assert report.formats == ["survey"]
    assert (report.rows_read, report.rows_loaded) == (4, 4) and counts_add_up(report)
    notes = wb.sql("SELECT * FROM notes ORDER BY note_id").set_index("note_id")
    assert list(notes.index) == [f"feedback_2024/r-{i}" for i in range(1, 5)]
    r1 = notes.loc["feedback_2024/r-1"]
    assert (r1.participant, r1.title) == ("r-1", "feedback_2024")
    assert r1.date == pd.Timestamp("2024-02-01 08:00", tz="UTC")
    assert r1.text == (
        "What is the hardest part of your week with the app?\n"
        "Reconciling the invoices every Friday takes forever, honestly\n\n"
        "What should we build next?\nA bulk edit screen for all invoices\n"
        "An API for the accountants we work with"
    )
    assert json.loads(r1.properties) == {
        "Status": "Complete",
        "How satisfied are you?": "Very satisfied",
    }
    assert notes.loc["feedback_2024/r-2"].text == "(no open-text answers)"
    hl = wb.sql(
        "SELECT note_id, position, quote, tags, line FROM note_highlights ORDER BY note_id, position"
    )
    assert len(hl) == 6
    first = hl.iloc[2]
    assert (first.note_id, first.position, tags(first.tags), first.line) == (
        "feedback_2024/r-1",
        3,
        ["What should we build next?"],
        2,
    )
    assert first.quote == "An API for the accountants we work with"
    # choosing the open-text columns by hand
    wb.load_notes(
        path,
        format="survey",
        survey="pulse",
        text_columns=["What is the hardest part of your week with the app?"],
    )
    assert (
        wb.sql("SELECT count(*) AS n FROM note_highlights WHERE note_id LIKE 'pulse/%'").n[0] == 3
    )
    with pytest.raises(poa.ConfigError) as bad:
        wb.load_notes(path, format="survey", text_columns=["What is the hardest part?"])
    assert bad.value.code == "ingest.unknown_column"
    with pytest.raises(poa.ConfigError) as opt:
        wb.load_notes(path, format="survey", text_column=["x"])
    assert opt.value.code == "ingest.unknown_option" and "text_columns" in str(opt.value)


def test_plain_csv_of_notes_uses_the_generic_format(wb, tmp_path):
    path = write(
        tmp_path / "notes.csv",
        "note_id,participant,date,text\nn1,Ana,2024-03-04,Short call about pricing\n",
    )
    report = wb.load_notes(path)
    assert report.formats == ["csv"] and report.rows_loaded == 1
    assert wb.sql("SELECT text FROM notes").text[0] == "Short call about pricing"
    with pytest.raises(poa.ConfigError) as err:
        wb.load_notes(path, format="markdwon")
    assert err.value.code == "ingest.unknown_format" and "markdown" in str(err.value)


def test_jupyter_ux_survey_real_data(wb_file, shared_data):
    """Project Jupyter's 2015 UX survey: 1,706 responses (779 complete, 927 partial), NBSP in headers."""
    path = shared_data / "feedback" / "jupyter_notebook_ux_survey_2015.csv"
    report = wb_file.load_notes(path, format="survey")
    assert counts_add_up(report)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (1706, 1706, 0)
    status = dict(
        wb_file.sql(
            "SELECT properties->>'$.Status' AS s, count(*) AS n FROM notes GROUP BY 1"
        ).values
    )
    assert status == {"Complete": 779, "Partial": 927}
    hl = wb_file.sql(
        "SELECT count(*) AS n, count(*) FILTER (WHERE trim(quote) = '' OR quote IS NULL) AS blank, "
        "count(DISTINCT tags[1]) AS questions FROM note_highlights"
    )
    assert hl.n[0] > 0 and hl.blank[0] == 0
    # the 19 open-text questions of the README plus the 'Other - Write In' answers, under 8 questions
    assert hl.questions[0] == 8
    tags = set(wb_file.sql("SELECT DISTINCT tags[1] AS t FROM note_highlights").t)
    assert (
        "What new features or changes would you like to see in Jupyter Notebook?" in tags
    )  # NBSP gone
    assert wb_file.sql("SELECT min(date) AS d FROM notes").d[0].strftime("%Y-%m-%d") == "2015-12-21"
    again = wb_file.load_notes(path, format="survey")
    assert (again.rows_loaded, again.rows_duplicate) == (0, 1706)


def test_notes_file_is_relative_to_the_loads_source(wb, tmp_path):
    """notes.file: the note's file relative to the folder loaded (a single file: its name; a glob:
    relative to the glob's fixed folder; a DataFrame: NULL), so a quote can point to its source."""
    folder = _interviews(tmp_path / "interviews")
    wb.load_notes(folder)
    files = dict(wb.sql("SELECT note_id, file FROM notes").values)
    assert files == {
        "int-2024-03-ana": "ana.md",
        "ben-2024-03-05": "ben-2024-03-05.md",
        "dana": "sub/dana.md",
    }
    write(tmp_path / "more" / "x" / "eve.md", "# Eve\n\n[churn] Eve is leaving.\n")
    wb.load_notes(str(tmp_path / "more" / "**" / "*.md"))
    assert wb.sql("SELECT file FROM notes WHERE note_id = 'eve'").file[0] == "x/eve.md"
    path = write(tmp_path / "exports" / "dovetail_highlights.csv", DOVETAIL)
    wb.load_notes(path)
    assert set(wb.sql("SELECT file FROM notes WHERE note_id LIKE 'Interview:%'").file) == {
        "dovetail_highlights.csv"
    }
    frame = pd.DataFrame({"note_id": ["df-1"], "text": ["typed in a notebook"]})
    wb.load_notes(frame)
    assert pd.isna(wb.sql("SELECT file FROM notes WHERE note_id = 'df-1'").file[0])
