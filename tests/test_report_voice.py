"""The weekly report's voice of the customer section, built for real on a DuckDB file with known
tickets and interview highlights: the week's themes, their spike, the lift, quotes (redacted) and
the join rate; a warehouse with no text; a warehouse with no taxonomy; a broken taxonomy."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.report import sections as registry
from poanalytics.voice.sentiment import METHOD
from tests.test_report_sections import W10, W11, journeys

WEEK = pd.Timedelta(days=7)
THEMES = """# themes of the test
[themes.onboarding_crash]
description = "The app crashes on the profile step"
keywords = ["crash", "crashes", "crashed"]

[themes.pricing]
description = "Too expensive"
keywords = ["price", "expensive"]
"""
CRASH = "The app crashes on the profile step"
# crash tickets per week W06..W11 (the report week W11 spikes against the 5 weeks before: a
# spike is judged with 4 weeks of history or more), pricing tickets per week
CRASHES = {W10 - k * WEEK: 2 for k in range(4, -1, -1)} | {W11: 20}
PRICING = 5


def voice_tickets() -> pd.DataFrame:
    rows = []
    for monday, n in CRASHES.items():
        for i in range(n):
            rows.append(
                (
                    f"c{monday:%m%d}{i:02d}",
                    f"u{(monday.day_of_year * 7 + i) % 400:03d}",  # other users each week
                    monday + pd.Timedelta(hours=5 * i + 1),
                    CRASH,
                    "It crashes every time I open my profile. Terrible. Call Zebulon Quirk "
                    "at zed@example.org",
                )
            )
        for i in range(PRICING):
            rows.append(
                (
                    f"p{monday:%m%d}{i:02d}",
                    f"u{100 + i:03d}",
                    monday + pd.Timedelta(hours=7 * i + 2),
                    "Too expensive",
                    f"The price is too high for a team of {i + 3}.",
                )
            )
    return pd.DataFrame(rows, columns=["ticket_id", "user_id", "created_at", "subject", "body"])


NOTE = """---
id: INT-1
participant: Pat
user_id: u003
date: 2024-03-12
title: Onboarding interview
---

> The app crashed right after I picked a photo, so I gave up. #onboarding
"""


@pytest.fixture(scope="module")
def voice_warehouse(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("voice_report")
    path = folder / "warehouse.duckdb"
    (folder / "notes").mkdir()
    (folder / "notes" / "2024-03-12-int-1.md").write_text(NOTE)
    with poa.Workbench(path) as wb:
        wb.load_events(journeys())
        wb.load_tickets(voice_tickets())
        wb.load_notes(folder / "notes")
    return path


def _project(root: Path, monkeypatch, themes: str | None = THEMES) -> Path:
    (root / "conf").mkdir(exist_ok=True)
    (root / "conf" / "poanalytics.toml").write_text('[redact]\nnames = ["Zebulon Quirk"]\n')
    (root / "conf" / "report.toml").write_text(
        '[report]\nhistory_weeks = 4\n[funnel]\nsteps = ["signed_up", "activated"]\n'
        'window = "1d"\nbreakdown = ""\ndrop_step = 2\n[segments]\nproperties = []\n'
        "[churn]\ninactive_days = 7\n"  # the data spans 5 weeks: churn can show
    )
    if themes is not None:
        (root / "conf" / "themes.toml").write_text(themes)
    monkeypatch.setenv("POANALYTICS_ROOT", str(root))
    return root


def _show(warehouse: Path, copy_to: Path):
    """The voice section of 2024-W11's report, on a copy of the warehouse (a refresh writes)."""
    copy = copy_to / "warehouse.duckdb"
    copy.write_bytes(warehouse.read_bytes())
    wb = poa.Workbench(copy)
    report = poa.report.weekly(wb, week="2024-W11")
    report.show("voice")
    wb.close()
    return report


def _texts(report, kind: str = "markdown") -> list:
    return [o for k, o in report.outputs if k == kind]


def test_the_section_sits_after_retention_and_before_health():
    names = [s.name for s in registry.sections()]
    assert names[:6] == ["headline", "funnels", "retention", "voice", "backlog", "health"]
    assert registry.get("voice").title == "Voice of the customer"


def test_the_weeks_themes_spike_lift_and_quotes(voice_warehouse, tmp_path, monkeypatch):
    _project(tmp_path, monkeypatch)
    report = _show(voice_warehouse, tmp_path)
    texts = _texts(report)
    assert texts[0] == "## Voice of the customer"
    intro = texts[1]
    assert "25 tickets and 1 interview highlights in 2024-W11" in intro
    assert "themes.toml" in intro and "version" in intro
    themes = _texts(report, "table")[0].set_index("theme")
    # known counts: 20 crash tickets and the interview's highlight, 5 pricing tickets this week
    assert themes.loc["onboarding_crash", "items"] == "21"
    assert themes.loc["pricing", "items"] == "5"
    # the 20 crash tickets say the same thing: near-duplicates, far fewer unique problems
    assert int(themes.loc["onboarding_crash", "unique problems"]) < 21
    assert f"sentiment, {METHOD}" in themes.columns
    assert themes.loc["onboarding_crash", f"sentiment, {METHOD}"].startswith("-")
    # 21 items against the 2 crash tickets of W10: +950%
    assert themes.loc["onboarding_crash", "2024-W10"] == "2"
    assert themes.loc["onboarding_crash", "change"] == "+950.0%"
    assert themes.loc["pricing", "change"] == "0%"
    spikes = next(t for t in texts if t.startswith("Spiking in 2024-W11"))
    assert "onboarding_crash" in spikes and "pricing" not in spikes
    # who is behind it: 20 tickets by u097 .. u116 and the interview of u003
    assert "**onboarding_crash**: 21 items from 21 people against a usual 2" in spikes
    churn = next(t for t in texts if t.startswith("### Themes and churn"))
    assert "no event for 7 days" in churn
    assert "joined to users: 61 of 61 items (100%)" in churn  # the join rate, stated
    lift = next(t for t in _texts(report, "table") if "churned" in t.columns)
    assert set(lift.theme) == {"onboarding_crash", "pricing"}
    assert set(lift.judged) <= {"small sample", "clear", "not clear"}
    assert any(t.startswith("### Themes and dropping off at activated") for t in texts)
    keys = [c["key"] for c in report.key_charts]
    assert {"voice_themes", "voice_trends", "voice_churn"} <= set(keys)
    quotes = texts[texts.index(next(t for t in texts if t.startswith("### What people said"))) + 1]
    assert "**onboarding_crash**" in quotes and "**pricing**" in quotes
    assert "— ticket " in quotes or "— tickets " in quotes  # where each quote comes from
    everything = repr(report.outputs)
    assert "Zebulon" not in everything and "zed@example.org" not in everything


def test_no_tickets_and_no_notes_is_said_in_one_line(tmp_path, monkeypatch):
    _project(tmp_path, monkeypatch)
    path = tmp_path / "events_only.duckdb"
    with poa.Workbench(path) as wb:
        wb.load_events(journeys())
        report = poa.report.weekly(wb, week="2024-W11")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no refresh at all: no warning about empty themes
            report.show("voice")
    assert _texts(report)[0] == "## Voice of the customer"
    assert len(report.outputs) == 2
    kind, text = report.outputs[1]
    assert kind == "markdown" and text.startswith("No tickets and interview highlights")
    assert "\n" not in text


def test_without_a_taxonomy_the_themes_are_discovered_and_said_so(
    voice_warehouse, tmp_path, monkeypatch
):
    _project(tmp_path, monkeypatch, themes=None)
    report = _show(voice_warehouse, tmp_path)
    texts = _texts(report)
    assert "discovered" in texts[1] and "accept_themes" in texts[1]
    assert _texts(report, "table")  # the discovered themes still make a table
    assert any(t.startswith("### Themes and churn") for t in texts)


def test_a_broken_taxonomy_is_a_coded_line_in_the_section_not_a_failed_report(
    voice_warehouse, tmp_path, monkeypatch
):
    _project(tmp_path, monkeypatch, themes='[themes.pricing]\nkeywords = ["price"\n')
    report = _show(voice_warehouse, tmp_path)
    texts = _texts(report)
    assert len(texts) == 2 and "[voice.taxonomy_syntax] conf/themes.toml" in texts[1]
    assert "What to do:" in texts[1]


def test_a_quote_holding_markdown_shows_as_text_on_the_page():
    from poanalytics.report.export import markdown_html
    from poanalytics.report.sections.voice import literal

    quote = "Click [here](http://evil.example) *now*\n# 1. <b>x</b> `code`"
    page = markdown_html(f"> {literal(quote)}")
    assert "<a " not in page and "<em>" not in page and "<h1" not in page
    assert "<code>" not in page and "<b>" not in page
    assert "Click [here](http://evil.example) *now* # 1. &lt;b&gt;x&lt;/b&gt; `code`" in page


def test_a_past_weeks_churn_lift_ignores_what_came_after(voice_warehouse, tmp_path, monkeypatch):
    """2024-W11's report run again after a later week was loaded: the same churn lift, because
    churn is judged as it stood at the week's end (as_of), not at the data's new end."""
    _project(tmp_path, monkeypatch)
    (tmp_path / "before").mkdir()
    before = _show(voice_warehouse, tmp_path / "before")
    later = tmp_path / "later"
    later.mkdir()
    grown = later / "source.duckdb"
    grown.write_bytes(voice_warehouse.read_bytes())
    with poa.Workbench(grown) as wb:
        users = list(wb.sql("SELECT DISTINCT user_id FROM events ORDER BY 1 LIMIT 40").user_id)
        wb.load_events(
            pd.DataFrame(
                {
                    "user_id": users,
                    "event": "signed_up",
                    "timestamp": W11 + 2 * WEEK + pd.Timedelta(hours=3),
                }
            )
        )
        # without as_of the numbers move: the data's end is two weeks later
        now = wb.theme_lift(outcome="churn", inactive_days=7)
        then = wb.theme_lift(outcome="churn", inactive_days=7, as_of=W11 + WEEK - pd.Timedelta(1))
    assert (now.population, now.outcomes) != (then.population, then.outcomes)
    after = _show(grown, later)

    def churn_part(report):
        text = next(t for t in _texts(report) if t.startswith("### Themes and churn"))
        table = next(t for t in _texts(report, "table") if "churned" in t.columns)
        return text, table

    (text_before, table_before), (text_after, table_after) = churn_part(before), churn_part(after)
    assert text_after == text_before
    pd.testing.assert_frame_equal(table_after, table_before)
