"""The voice refresh and wb.themes on real DuckDB files: every item accounted for, one transaction,
staleness, bad input (HTML, other scripts, empty and huge bodies), trends (hand-computed)."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.config import settings
from poanalytics.errors import PoaWarning
from poanalytics.voice import store
from poanalytics.voice.errors import VoiceError
from poanalytics.voice.themes import ThemesQuery, run_themes, themes_sql

THEMES = """
[themes.crash]
keywords = ["crash", "crashes", "crashed"]
exclude = ["crash course"]
[themes.price]
phrases = ["too expensive", "too high"]
[themes.slow]
keywords = ["slow"]
sources = ["tickets"]
[themes.ghost]
keywords = ["nothing matches this"]
"""
HUGE = 10 * 1024 * 1024  # a 10 MB body: over [limits] max_text_chars (1,000,000): quarantined
LONG = 50_000  # under max_text_chars, over [voice] max_chars (20,000): cut and flagged

TICKETS = [
    # ticket_id, user_id, requester, created_at, subject, body
    (
        "T1",
        "u1",
        "ana@example.com",
        "2026-03-02 10:00",
        "App crashes on profile step",
        "It crashes every time.",
    ),
    (
        "T2",
        "u2",
        "Bo",
        "2026-03-03 10:00",
        "Too expensive",
        "<p>The price is <b>too&nbsp;high</b> &amp; we&#39;ll cancel.</p>",
    ),
    ("T3", "u3", "", "2026-03-04 10:00", "", "<div><br/></div>"),
    (
        "T4",
        "",
        "ivan@example.com",
        "2026-03-05 10:00",
        "Вопрос",
        "Приложение падает при сохранении профиля",
    ),
    ("T5", "u5", "", "2026-03-06 10:00", "数据导出", "导出CSV失败"),
    ("T6", "u6", "", "2026-03-07 10:00", "مشكلة", "التطبيق يتعطل عند حفظ الملف الشخصي"),
    ("T7", "u7", "", "2026-03-08 10:00", "Dashboards", "slow " * (LONG // 5)),
    ("T8", "u8", "", "2026-03-09 10:00", "Huge", "x" * HUGE),
    ("T9", "u9", "", "2026-03-10 10:00", "Crash course", "Do you offer a crash course?"),
]
NOTE = """---
id: INT-1
participant: Ana
user_id: u1
date: 2026-03-05
---
# Interview

> The app crashed on my profile. #bug

> Way too expensive for us. #pricing

> 🙂 #mood
"""


def write_tickets(path: Path, rows) -> Path:
    frame = pd.DataFrame(
        rows, columns=["ticket_id", "user_id", "requester", "created_at", "subject", "body"]
    )
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def voice_wb(tmp_path) -> poa.Workbench:
    """A warehouse file with the tickets and the note above, and a taxonomy of its own."""
    (tmp_path / "themes.toml").write_text(THEMES, encoding="utf-8")
    config = dataclasses.replace(settings(), themes_file=tmp_path / "themes.toml")
    wb = poa.Workbench(tmp_path / "warehouse.duckdb", config=config)
    wb.load_tickets(write_tickets(tmp_path / "tickets.csv", TICKETS))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "int-1.md").write_text(NOTE, encoding="utf-8")
    wb.load_notes(tmp_path / "notes")
    yield wb
    wb.close()


def reasons(wb) -> dict[str, str | None]:
    df = wb.sql("SELECT item_id, unassigned_reason FROM voice_items")
    return {
        r.item_id: (r.unassigned_reason if isinstance(r.unassigned_reason, str) else None)
        for r in df.itertuples()
    }


def test_the_huge_body_is_quarantined_by_the_loader_with_its_reason(voice_wb):
    q = voice_wb.quarantine()
    assert len(q) == 1
    assert "over the limit of 1000000" in q["reason"].iloc[0]
    assert voice_wb.sql("SELECT count(*) AS n FROM tickets").n[0] == 8


def test_every_item_is_in_a_theme_or_says_why(voice_wb):
    with pytest.warns(PoaWarning, match="ghost"):
        info = voice_wb.voice_refresh()
    # independent count: the rows the items come from
    sources = voice_wb.sql(
        "SELECT (SELECT count(*) FROM tickets) + (SELECT count(*) FROM note_highlights) AS n"
    ).n[0]
    assert sources == 8 + 3
    assert info.items == sources == info.assigned + info.unassigned
    assert (info.assigned, info.unassigned) == (5, 6)
    assert reasons(voice_wb) == {
        "T1": None,
        "T2": None,
        "T3": "empty",  # only markup
        "T4": "no_match",  # Cyrillic
        "T5": "no_match",  # Chinese
        "T6": "no_match",  # Arabic
        "T7": None,
        "T9": "no_match",  # excluded from crash: "crash course"
        "INT-1#1": None,
        "INT-1#2": None,
        "INT-1#3": "empty",  # an emoji: no words
    }
    got = voice_wb.sql("SELECT item_id, theme, matched_terms FROM voice_assignments ORDER BY ALL")
    assert [(r.item_id, r.theme, list(r.matched_terms)) for r in got.itertuples()] == [
        ("INT-1#1", "crash", ["crashed"]),
        ("INT-1#2", "price", ["too expensive"]),
        ("T1", "crash", ["crashes"]),
        ("T2", "price", ["too expensive", "too high"]),
        ("T7", "slow", ["slow"]),
    ]
    stored = voice_wb.sql("SELECT * FROM voice_refresh")
    assert (stored["items"][0], stored["assigned"][0], stored["unassigned"][0]) == (11, 5, 6)


def test_text_is_cleaned_cut_and_flagged(voice_wb):
    voice_wb.voice_refresh()
    df = voice_wb.sql("SELECT * FROM voice_items").set_index("item_id")
    assert df.loc["T2", "text"] == "Too expensive The price is too high & we'll cancel."
    assert df.loc["T3", "text"] == ""
    assert df.loc["T4", "text"] == "Вопрос Приложение падает при сохранении профиля"
    long_text = "Dashboards\n\n" + ("slow " * (LONG // 5)).strip()  # the loader trims the body
    assert df.loc["T7", "text_chars"] == len(long_text)
    assert bool(df.loc["T7", "truncated"]) is True
    assert len(df.loc["T7", "text"]) == 20_000
    assert not df.drop(index="T7")["truncated"].any()
    assert df.loc["T1", "email"] == "ana@example.com"
    assert pd.isna(df.loc["T2", "email"])  # "Bo" is no e-mail
    assert df.loc["INT-1#2", "parent_id"] == "INT-1"
    assert df.loc["INT-1#2", "position"] == 2
    assert df.loc["INT-1#2", "user_id"] == "u1"


def test_themes_table_counts_items_users_and_shares(voice_wb):
    with pytest.warns(PoaWarning, match="ghost") as caught:
        t = voice_wb.themes()
    assert [w.message.code for w in caught] == ["voice.theme_no_matches"]
    table = t.table.set_index("theme")
    assert table.loc[["crash", "price", "slow", "ghost"], "items"].tolist() == [2, 2, 1, 0]
    assert table.loc["crash", "users"] == 1  # T1 and the note are both u1
    assert table.loc["price", "users"] == 2
    assert table.loc["crash", "share"] == pytest.approx(2 / 11)
    assert table.loc["crash", "unique_problems"] == 2
    assert table["origin"].eq("taxonomy").all()
    assert t.items_in_range == 11
    assert t.unassigned == {"empty": 2, "no_match": 4}
    assert sorted(t.assignments.item_id) == ["INT-1#1", "INT-1#2", "T1", "T2", "T7"]
    tickets = voice_wb.themes(source="tickets").table.set_index("theme")
    assert tickets.loc[["crash", "price", "slow"], "items"].tolist() == [1, 1, 1]
    assert tickets.loc["crash", "share"] == pytest.approx(1 / 8)


def test_unique_problems_count_a_duplicate_group_once(voice_wb):
    voice_wb.voice_refresh()
    with voice_wb.connection(write=True) as con:
        con.execute(
            "UPDATE voice_items SET dup_group = 'T1', dup_similarity = 0.9 WHERE item_id IN ('T1', 'INT-1#1')"
        )
        t = run_themes(con, ThemesQuery())
    row = t.table.set_index("theme").loc["crash"]
    assert (row["items"], row["unique_problems"]) == (2, 1)


def test_a_failed_refresh_leaves_the_previous_one(voice_wb, monkeypatch, tmp_path):
    with pytest.warns(PoaWarning):
        first = voice_wb.voice_refresh()
    before = voice_wb.sql("SELECT * FROM voice_assignments ORDER BY ALL")
    items_before = voice_wb.sql("SELECT item_id, unassigned_reason FROM voice_items ORDER BY ALL")
    (tmp_path / "themes.toml").write_text(THEMES.replace('"slow"]', '"slow", "profile"]'))

    def broken(con, rid):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(store, "_check_accounting", broken)
    with pytest.raises(RuntimeError, match="disk gone"):
        voice_wb.voice_refresh()
    pd.testing.assert_frame_equal(
        voice_wb.sql("SELECT * FROM voice_assignments ORDER BY ALL"), before
    )
    pd.testing.assert_frame_equal(
        voice_wb.sql("SELECT item_id, unassigned_reason FROM voice_items ORDER BY ALL"),
        items_before,
    )
    assert voice_wb.sql("SELECT refresh_id FROM voice_refresh").refresh_id.tolist() == [
        first.refresh_id
    ]
    monkeypatch.undo()
    with pytest.warns(PoaWarning):
        again = voice_wb.voice_refresh()
    assert again.refreshed and again.refresh_id != first.refresh_id


def test_refresh_is_skipped_when_fresh_and_redone_when_data_or_taxonomy_change(voice_wb, tmp_path):
    with pytest.warns(PoaWarning):
        first = voice_wb.voice_refresh()
    second = voice_wb.voice_refresh()
    assert (second.refreshed, second.refresh_id) == (False, first.refresh_id)
    # a new ticket: the next voice call refreshes by itself
    voice_wb.load_tickets(
        write_tickets(
            tmp_path / "more.csv", [("T10", "u10", "", "2026-03-11 10:00", "Slow", "so slow")]
        )
    )
    with pytest.warns(PoaWarning):
        t = voice_wb.themes()
    assert t.table.set_index("theme").loc["slow", "items"] == 2
    # the taxonomy changes: a new version, the ghost theme now matches
    (tmp_path / "themes.toml").write_text(THEMES.replace("nothing matches this", "profile"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ghost warning any more
        t = voice_wb.themes()
    assert t.table.set_index("theme").loc["ghost", "items"] == 2  # T1 (profile step), INT-1#1
    assert voice_wb.sql("SELECT count(*) AS n FROM voice_refresh").n[0] == 3
    assert voice_wb.sql("SELECT count(DISTINCT refresh_id) AS n FROM voice_items").n[0] == 1


def test_a_taxonomy_syntax_error_stops_a_voice_call_with_file_and_line(voice_wb, tmp_path):
    path = tmp_path / "themes.toml"
    path.write_text("[themes.crash]\nkeywords = [crash]\n")
    with pytest.raises(VoiceError) as err:
        voice_wb.themes()
    assert err.value.code == "voice.taxonomy_syntax"
    assert str(path) in str(err.value) and "line 2" in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"source": "ticket"}, "voice.source"),
        ({"source": None}, "voice.source"),
        ({"date_from": "2026-03-10", "date_to": "2026-03-01"}, "voice.date_range"),
        ({"date_from": "03/10/2026"}, "metric.date"),
    ],
)
def test_themes_query_is_validated(kwargs, code):
    with pytest.raises(poa.PoaError) as err:
        ThemesQuery(**kwargs)
    assert err.value.code == code and err.value.hint


def test_did_you_mean_for_a_source():
    with pytest.raises(VoiceError, match="Did you mean 'tickets'"):
        ThemesQuery(source="ticket")


def test_the_sql_needs_no_connection():
    from poanalytics.sql import Params

    sql = themes_sql(ThemesQuery(source="notes", date_from="2026-03-01"), Params())
    assert "voice_assignments" in sql and "voice_items" in sql


# -- trend against the previous period -----------------------------------------------------------

TREND_TICKETS = [
    ("A0", "u0", "", "2026-02-20 09:00", "Crash", "crash"),  # data starts here
    ("A1", "u1", "", "2026-03-02 09:00", "Crash", "crash"),  # previous week (Mar 1-7)
    ("A2", "u2", "", "2026-03-05 09:00", "Crash", "crash"),
    ("A3", "u3", "", "2026-03-08 09:00", "Crash", "crash"),  # this week (Mar 8-14)
    ("A4", "u4", "", "2026-03-10 09:00", "Crash", "crash"),
    ("A5", "u5", "", "2026-03-14 23:00", "Crash", "crash"),
    ("A6", "u6", "", "2026-03-12 09:00", "Price", "too expensive"),  # none the week before
]


@pytest.fixture
def trend_wb(tmp_path) -> poa.Workbench:
    (tmp_path / "themes.toml").write_text(THEMES, encoding="utf-8")
    config = dataclasses.replace(settings(), themes_file=tmp_path / "themes.toml")
    wb = poa.Workbench(tmp_path / "warehouse.duckdb", config=config)
    wb.load_tickets(write_tickets(tmp_path / "tickets.csv", TREND_TICKETS))
    yield wb
    wb.close()


def test_trend_compares_with_the_previous_period_of_the_same_length(trend_wb):
    with pytest.warns(PoaWarning):
        t = trend_wb.themes(date_from="2026-03-08", date_to="2026-03-14")
    table = t.table.set_index("theme")
    assert table.loc["crash", "items"] == 3
    assert table.loc["crash", "items_previous"] == 2
    assert table.loc["crash", "trend"] == pytest.approx((3 - 2) / 2)
    # nothing the week before: no ratio (not +100%)
    assert table.loc["price", "items_previous"] == 0
    assert pd.isna(table.loc["price", "trend"])
    assert table.loc["crash", "share"] == pytest.approx(3 / 4)
    shown = t.summary_table().set_index("theme")
    assert (shown.loc["crash", "trend"], shown.loc["price", "trend"]) == ("+50.0%", "—")
    assert shown.loc["crash", "share"] == "75.0%"


def test_trend_is_null_when_data_does_not_cover_the_previous_period(trend_wb):
    with pytest.warns(PoaWarning):
        t = trend_wb.themes(date_from="2026-02-25", date_to="2026-03-14")  # previous from Feb 6
    table = t.table.set_index("theme")
    assert table.loc["crash", "items"] == 5
    assert pd.isna(table.loc["crash", "trend"]) and pd.isna(table.loc["crash", "items_previous"])
    with pytest.warns(PoaWarning):
        whole = trend_wb.themes()  # no range: the whole data, nothing before it
    assert whole.table["trend"].isna().all()


def test_sentiment_and_duplicates_come_from_the_refresh(voice_wb, tmp_path):
    from poanalytics.voice.sentiment import METHOD, score

    voice_wb.load_tickets(
        write_tickets(
            tmp_path / "again.csv",
            [
                (
                    "T1b",
                    "u1",
                    "",
                    "2026-03-02 11:00",
                    "App crashes on profile step",
                    "It crashes every time.",
                )
            ],
        )
    )
    with pytest.warns(PoaWarning):
        t = voice_wb.themes()
    items = voice_wb.sql("SELECT * FROM voice_items").set_index("item_id")
    # the stored score is voice.sentiment's for the stored text; none for other scripts or no words
    assert items.loc["T2", "sentiment"] == pytest.approx(
        score(pd.Series([items.loc["T2", "text"]]))[0]
    )
    assert items.loc[["T3", "T4", "T6", "INT-1#3"], "sentiment"].isna().all()
    # T1b repeats T1 word for word: one group under the earlier ticket
    assert items.loc["T1", "dup_group"] == items.loc["T1b", "dup_group"] == "T1"
    crash = t.table.set_index("theme").loc["crash"]
    assert (crash["items"], crash["unique_problems"]) == (3, 2)
    mean = items.loc[["T1", "T1b", "INT-1#1"], "sentiment"].mean()
    assert crash["sentiment"] == pytest.approx(mean)
    fig = t.figure()
    assert METHOD in fig.to_json()


# a notebook user must not see numpy's "invalid value in sqrt" from inside scikit-learn's NMF
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_with_no_taxonomy_the_refresh_assigns_discovered_themes(tmp_path):
    config = dataclasses.replace(settings(), themes_file=tmp_path / "no-themes.toml")
    rows = []
    for i in range(12):
        rows.append(
            (
                f"E{i}",
                f"u{i}",
                "",
                f"2026-03-{i + 1:02d} 10:00",
                "Export broken",
                f"The csv export stops halfway, export file truncated, report {i}",
            )
        )
        rows.append(
            (
                f"L{i}",
                f"v{i}",
                "",
                f"2026-03-{i + 1:02d} 11:00",
                "Login fails",
                f"Password reset link expired, cannot login to account, attempt {i}",
            )
        )
    rows.append(("X", "x", "", "2026-03-20 10:00", "", "<p></p>"))
    with poa.Workbench(tmp_path / "w.duckdb", config=config) as wb:
        wb.load_tickets(write_tickets(tmp_path / "t.csv", rows))
        assert wb.voice_taxonomy() is None
        t = wb.themes()
        info = wb.voice_refresh()
        assert info.refreshed is False and info.origin == "discovered"
        assert info.taxonomy_version == "discovered:0"
        n = wb.sql("SELECT count(*) AS n FROM tickets").n[0]
        assert info.items == n == 25 == info.assigned + info.unassigned
        assert t.table["origin"].eq("discovered").all() and len(t.table) >= 2
        stored = wb.sql("SELECT item_id, unassigned_reason FROM voice_items").set_index("item_id")
        assert stored.loc["X", "unassigned_reason"] == "empty"
        a = wb.sql("SELECT item_id, theme, matched_terms FROM voice_assignments")
        theme_of = dict(zip(a.item_id, a.theme, strict=True))
        # the two subjects end in two different themes, each explained by its terms
        assert len({theme_of[f"E{i}"] for i in range(12)}) == 1
        assert len({theme_of[f"L{i}"] for i in range(12)}) == 1
        assert theme_of["E0"] != theme_of["L0"]
        assert all(len(m) > 0 for m in a.matched_terms)
        # a taxonomy appears: the next call uses it instead
        (tmp_path / "no-themes.toml").write_text('[themes.export]\nkeywords = ["export"]\n')
        t2 = wb.themes()
        assert t2.table[["theme", "items", "origin"]].values.tolist() == [
            ["export", 12, "taxonomy"]
        ]


def test_a_ticket_id_two_sources_share_gives_two_items(tmp_path):
    config = dataclasses.replace(settings(), themes_file=tmp_path / "themes.toml")
    (tmp_path / "themes.toml").write_text(THEMES, encoding="utf-8")
    rows = [("1", "u1", "", "2026-03-01 10:00", "Crash", "it crashes")]
    with poa.Workbench(tmp_path / "w.duckdb", config=config) as wb:
        wb.load_tickets(write_tickets(tmp_path / "t.csv", rows))
        wb.load_tickets(pd.read_csv(tmp_path / "t.csv", dtype=str))
        assert wb.sql("SELECT count(*) AS n FROM tickets").n[0] == 2
        with pytest.warns(PoaWarning):
            t = wb.themes()
        assert sorted(t.assignments.item_id) == ["1@csv", "1@dataframe"]
        assert t.table.set_index("theme").loc["crash", "items"] == 2
        info = wb.voice_refresh()
        assert info.items == 2 == info.assigned


def test_read_only_reads_a_current_refresh_and_refuses_a_stale_one(tmp_path):
    config = dataclasses.replace(settings(), themes_file=tmp_path / "themes.toml")
    (tmp_path / "themes.toml").write_text(THEMES, encoding="utf-8")
    path = tmp_path / "w.duckdb"
    with poa.Workbench(path, config=config) as wb:
        wb.load_tickets(write_tickets(tmp_path / "t.csv", TICKETS[:2]))
    with poa.Workbench(path, config=config, read_only=True) as ro:
        with pytest.raises(VoiceError) as err:
            ro.themes()
        assert err.value.code == "voice.read_only" and err.value.hint
    with poa.Workbench(path, config=config) as wb, pytest.warns(PoaWarning):
        wb.voice_refresh()
    with poa.Workbench(path, config=config, read_only=True) as ro, pytest.warns(PoaWarning):
        assert ro.themes().table.set_index("theme").loc["price", "items"] == 1
