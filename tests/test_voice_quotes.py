"""wb.quotes: representative short quotes per theme (sentences holding the theme's matched terms,
ranked by similarity to the theme's TF-IDF centroid, near-duplicates removed, one per item where
possible), each pointing to its source and passed through redaction."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.errors import PoaError
from poanalytics.voice.errors import VoiceError

T0 = pd.Timestamp("2024-03-04 09:00", tz="UTC")

NOTE = """---
id: int-007
participant: Priya Raman
date: 2024-03-06
---
# Interview with Priya

She runs billing for a team of forty.

> The invoice charged us twice for the same seats and nobody could explain the invoice. #billing

> I love the reports. #reports
"""


def put(wb: poa.Workbench, items: list[dict], themes: list[str]) -> None:
    """Voice tables as a refresh leaves them: items with text and their themes' matched terms."""
    with wb.connection(write=True) as con:
        con.execute(
            "INSERT INTO voice_refresh (refresh_id, refreshed_at, taxonomy_version, fingerprint, "
            "items, assigned, unassigned) VALUES (1, now(), ?, ?, ?, ?, 0)",
            [*stamp(wb, con), len(items), len(items)],
        )
        for k, it in enumerate(items):
            source = it.get("source", "tickets")
            parent, _, position = it["item_id"].partition("#")
            con.execute(
                "INSERT INTO voice_items (source, item_id, parent_id, position, created_at, text, "
                "text_chars, truncated, sentiment, refresh_id) VALUES (?, ?, ?, ?, ?, ?, ?, false, "
                "NULL, 1)",
                [
                    source,
                    it["item_id"],
                    parent,
                    int(position) if position else None,
                    T0 + pd.Timedelta(days=k),
                    it["text"],
                    len(it["text"]),
                ],
            )
            for theme, terms in it["themes"].items():
                con.execute(
                    "INSERT INTO voice_assignments (source, item_id, theme, matched_terms, origin, "
                    "taxonomy_version, refresh_id) VALUES (?, ?, ?, ?, 'taxonomy', 'test', 1)",
                    [source, it["item_id"], theme, terms],
                )
        for t in themes:
            con.execute(
                "INSERT INTO voice_themes (theme, origin, taxonomy_version, refresh_id) "
                "VALUES (?, 'taxonomy', 'test', 1)",
                [t],
            )


def stamp(wb: poa.Workbench, con) -> list:
    """taxonomy_version and fingerprint of a refresh of this warehouse's tickets and notes with its
    taxonomy, so voice calls (which refresh first when stale) read hand-written rows as current."""
    from poanalytics.voice import store

    return [
        store.taxonomy_version(wb.voice_taxonomy()),
        store.fingerprint(con, wb.settings.voice_max_chars),
    ]


BILLING = {"billing": ["invoice", "charged"]}
TICKETS = [
    {
        "item_id": "T1",
        "text": "Invoice is wrong again. The invoice charged us twice for the same seats this month. "
        "Please call me back. Our office moved to Berlin last year.",
        "themes": BILLING,
    },
    {
        "item_id": "T2",
        "text": "The invoice charged us twice for the same seats this month!! Support is slow.",
        "themes": BILLING,
    },
    {
        "item_id": "T3",
        "text": "We were charged twice on the invoice for seats, write to ops@acme.example or "
        "ask Priya Raman. Thanks.",
        "themes": BILLING,
    },
    {
        "item_id": "T4",
        "text": "Our invoice lists a seat price that is different from the price page and " * 4
        + "nobody knows why",  # one sentence of 300 characters: too long to quote
        "themes": BILLING,
    },
    {
        "item_id": "T5",
        "text": "The export to Excel drops the last column.",
        "themes": {"export": ["export"]},
    },
]


@pytest.fixture
def quotes_wb(wb, tmp_path: Path):
    folder = tmp_path / "interviews"
    folder.mkdir()
    (folder / "2024-03-06-priya.md").write_text(NOTE, encoding="utf-8")
    wb.load_notes(folder)
    note_items = [
        {
            "source": "notes",
            "item_id": "int-007#1",
            "text": "The invoice charged us twice for the same seats and nobody could explain "
            "the invoice.",
            "themes": BILLING,
        },
        {
            "source": "notes",
            "item_id": "int-007#2",
            "text": "I love the reports.",
            "themes": {"reports": ["reports"]},
        },
    ]
    put(wb, TICKETS + note_items, ["billing", "export", "reports"])
    return wb


def test_quotes_are_short_matching_sentences_one_per_item(quotes_wb):
    r = quotes_wb.quotes("billing", n=3)
    t = r.table
    assert list(t.columns[:6]) == ["quote", "source", "item_id", "date", "sentiment", "ref"]
    assert len(t) == 3 and t.item_id.is_unique
    assert (t.quote.str.len() <= 200).all()
    # each quote holds a matched term; the sentences that do not ("Please call me back.") never
    assert all(("invoice" in q.lower() or "charged" in q.lower()) for q in t.quote)
    # ranked by similarity to the theme's centroid (the highest first)
    assert t.score.is_monotonic_decreasing
    assert t.quote[0] == "The invoice charged us twice for the same seats this month."


def test_near_duplicate_sentences_are_quoted_once_then_more_per_item(quotes_wb):
    """T1 and T2 share a sentence: it is quoted once (from T1, the first), T2 has no other
    quotable sentence, and T4's only sentence is too long; with n larger than the items that
    have quotes, T1 gives a second one."""
    t = quotes_wb.quotes("billing", n=6).table
    assert t.quote.str.startswith("The invoice charged us twice for the same seats this").sum() == 1
    assert sorted(t.item_id) == ["T1", "T1", "T3", "int-007#1"]
    assert "Invoice is wrong again." in set(t.quote)
    assert not t.quote.str.contains("call me back|Berlin|Support is slow|price page").any()


def test_refs_point_to_the_ticket_or_the_note_file_and_line(quotes_wb):
    t = quotes_wb.quotes("billing", n=3).table.set_index("item_id")
    assert t.ref["T3"] == "ticket T3"
    assert t.ref["int-007#1"] == "2024-03-06-priya.md line 10"
    assert NOTE.splitlines()[10 - 1].startswith("> The invoice charged us twice")
    assert t.source["int-007#1"] == "notes" and t.date["T1"] == T0


def test_quotes_are_redacted(quotes_wb):
    t = quotes_wb.quotes("billing", n=3).table.set_index("item_id")
    q = t.quote["T3"]
    assert "ops@acme.example" not in q and "[email]" in q
    assert "Priya" not in q and "Raman" not in q and "[name]" in q  # a note participant's name


def test_quote_sentiment_is_the_quotes_own(quotes_wb):
    t = quotes_wb.quotes("reports", n=5).table
    assert t.quote.tolist() == ["I love the reports."] and t.sentiment[0] > 0.5
    assert t.ref[0] == "2024-03-06-priya.md line 12"


def test_source_filter_and_max_chars(quotes_wb):
    t = quotes_wb.quotes("billing", source="notes").table
    assert t.item_id.tolist() == ["int-007#1"]
    short = quotes_wb.quotes("billing", max_chars=60).table
    assert (short.quote.str.len() <= 60).all() and "T3" not in set(short.item_id)


def test_a_large_theme_is_quoted_from_an_even_spread_of_its_items(quotes_wb, monkeypatch):
    from poanalytics.voice import quotes

    monkeypatch.setattr(quotes, "MAX_ITEMS", 2)  # of the 5 billing items: the first and the last
    t = quotes_wb.quotes("billing", n=5).table
    assert set(t.item_id) == {"T1", "int-007#1"}


def test_unknown_theme_says_did_you_mean(quotes_wb):
    with pytest.raises(VoiceError) as e:
        quotes_wb.quotes("biling")
    assert e.value.code == "voice.unknown_theme" and "'billing'" in e.value.message


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"n": 0}, "voice.quotes_n"),
        ({"n": 2.5}, "voice.quotes_n"),
        ({"max_chars": 10}, "voice.quotes_max_chars"),
        ({"source": "mail"}, "voice.source"),
    ],
)
def test_bad_arguments_are_coded(quotes_wb, kwargs, code):
    with pytest.raises(PoaError) as e:
        quotes_wb.quotes("billing", **kwargs)
    assert e.value.code == code


def test_a_theme_without_quotable_sentences_is_an_empty_table(quotes_wb):
    with quotes_wb.connection(write=True) as con:
        con.execute(
            "INSERT INTO voice_themes (theme, origin, taxonomy_version, refresh_id) "
            "VALUES ('empty', 'taxonomy', 'test', 1)"
        )
    t = quotes_wb.quotes("empty").table
    assert t.empty and list(t.columns[:6]) == [
        "quote",
        "source",
        "item_id",
        "date",
        "sentiment",
        "ref",
    ]


def test_quotes_through_the_refresh(tmp_path):
    """End to end: tickets and a Markdown note loaded, the taxonomy's refresh run by the first
    voice call; quotes hold the matched terms (a pattern theme's too) and point to the ticket or
    the note's file and line."""
    import dataclasses

    from poanalytics.config import settings
    from tests.test_voice_store import NOTE as STORE_NOTE
    from tests.test_voice_store import THEMES, TICKETS, write_tickets

    (tmp_path / "themes.toml").write_text(
        THEMES + "[themes.profile]\npatterns = ['profile (step|screen)']\n", encoding="utf-8"
    )
    config = dataclasses.replace(settings(), themes_file=tmp_path / "themes.toml")
    with poa.Workbench(tmp_path / "w.duckdb", config=config) as wb:
        wb.load_tickets(write_tickets(tmp_path / "tickets.csv", TICKETS))
        (tmp_path / "notes").mkdir()
        (tmp_path / "notes" / "int-1.md").write_text(STORE_NOTE, encoding="utf-8")
        wb.load_notes(tmp_path / "notes")
        price = wb.quotes("price").table
        assert set(price.ref) == {"ticket T2", "int-1.md line 11"}
        assert STORE_NOTE.splitlines()[11 - 1] == "> Way too expensive for us. #pricing"
        assert price.quote[price.ref == "int-1.md line 11"].tolist() == [
            "Way too expensive for us."
        ]
        assert (price.sentiment.notna()).all()
        # the subject is a quote of its own, not glued to the body's first sentence (the stored
        # text has its line breaks collapsed)
        crash = wb.quotes("crash").table
        assert crash.quote[crash.ref == "ticket T1"].iloc[0] in (
            "App crashes on profile step",
            "It crashes every time.",
        )
        profile = wb.quotes("profile").table
        assert profile.ref.tolist() == ["ticket T1"]
        assert profile.quote.tolist() == ["App crashes on profile step"]
        assert wb.quotes("slow").table.empty  # its one 'sentence' is 20,000 characters
