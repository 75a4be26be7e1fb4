"""voice core: cleaned item text, the taxonomy file, theme assignment (hand-computed expectations)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from poanalytics.voice.assign import assign
from poanalytics.voice.errors import VoiceError
from poanalytics.voice.items import clean_text
from poanalytics.voice.taxonomy import parse_taxonomy, read_taxonomy

# -- clean_text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "<p>The price is <b>too&nbsp;high</b> &amp; we&#39;ll cancel.</p>",
            "The price is too high & we'll cancel.",
        ),
        ("<div><br/></div>\n<p> </p>", ""),  # only markup: empty
        ("<!-- tracking --><style>p {color: red}</style><script>var a = 1 < 2;</script>Hi", "Hi"),
        ("caf&eacute; &#233; &#xE9; &#x1F600;", "café é é 😀"),
        ("&lt;b&gt; is escaped markup, kept as text", "<b> is escaped markup, kept as text"),
        ("a < b and c > d, I <3 it", "a < b and c > d, I <3 it"),  # not tags
        ("&#0; &#xD800; &nosuch; stay as written", "&#0; &#xD800; &nosuch; stay as written"),
        ("  many\n\n\tspaces\u00a0and\u3000ideographic  ", "many spaces and ideographic"),
        ("Приложение падает", "Приложение падает"),
        ("التطبيق يتعطل", "التطبيق يتعطل"),
        ("导出 CSV 失败", "导出 CSV 失败"),
    ],
)
def test_clean_text_removes_html_and_collapses_spaces(raw, expected):
    assert clean_text(pd.Series([raw]), limit=1000).tolist() == [expected]


def test_clean_text_cuts_to_the_limit_and_keeps_the_index():
    s = pd.Series(["<b>abcdefghij</b>", None, float("nan")], index=[7, 8, 9])
    out = clean_text(s, limit=4)
    assert out.tolist() == ["abcd", "", ""]
    assert out.index.tolist() == [7, 8, 9]


def test_voice_settings_come_from_conf(tmp_path):
    from poanalytics.config import settings
    from poanalytics.errors import ConfigError

    (tmp_path / "a" / "conf").mkdir(parents=True)
    (tmp_path / "a" / "conf" / "poanalytics.toml").write_text(
        '[voice]\nmax_chars = 100\ntaxonomy = "x/themes.toml"\n'
    )
    s = settings(tmp_path / "a")
    assert (s.voice_max_chars, s.taxonomy_path) == (100, tmp_path / "a" / "x" / "themes.toml")
    (tmp_path / "b" / "conf").mkdir(parents=True)
    (tmp_path / "b" / "conf" / "poanalytics.toml").write_text("")
    s = settings(tmp_path / "b")
    assert (s.voice_max_chars, s.taxonomy_path) == (20_000, tmp_path / "b" / "conf" / "themes.toml")
    (tmp_path / "c" / "conf").mkdir(parents=True)
    (tmp_path / "c" / "conf" / "poanalytics.toml").write_text("[voice]\nmax_chars = 0\n")
    with pytest.raises(ConfigError) as err:
        settings(tmp_path / "c")
    assert err.value.code == "config.voice_max_chars"


# -- the taxonomy file ----------------------------------------------------------------------------

GOOD = """# comment
[themes.crash]
description = "Crashes"
keywords = ["crash", "crashes"]
phrases = ["profile step"]
patterns = ['profile (step|screen)']
exclude = ["crash course"]
min_matches = 1
sources = ["tickets"]
[themes.crash.links]
funnel_steps = ["profile_completed"]
segments = { platform = "android" }

[themes.price]
phrases = ["too expensive"]
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_taxonomy_reads_every_key(tmp_path):
    tax = read_taxonomy(write(tmp_path / "themes.toml", GOOD))
    assert tax is not None
    crash = tax["crash"]
    assert crash.keywords == ("crash", "crashes")
    assert crash.phrases == ("profile step",)
    assert crash.patterns == ("profile (step|screen)",)
    assert crash.exclude == ("crash course",)
    assert crash.sources == ("tickets",)
    assert crash.links == {
        "funnel_steps": ["profile_completed"],
        "segments": {"platform": "android"},
    }
    price = tax["price"]
    assert (price.min_matches, price.sources, price.links) == (1, ("tickets", "notes"), {})


def test_no_taxonomy_file_is_none(tmp_path):
    assert read_taxonomy(tmp_path / "missing.toml") is None


def test_version_ignores_comments_and_order_but_not_terms(tmp_path):
    base = parse_taxonomy(GOOD).version
    a, b = GOOD.split("\n[themes.price]")
    reordered = "# other comment\n[themes.price]" + b + "\n" + a
    assert parse_taxonomy(reordered).version == base
    assert parse_taxonomy(GOOD.replace('"crashes"]', '"crashed"]')).version != base
    assert len(base) == 64


def test_syntax_error_names_the_file_and_line(tmp_path):
    text = '[themes.crash]\ndescription = "Crashes"\nkeywords = ["crash",\n  crashes]\n'
    path = write(tmp_path / "themes.toml", text)
    with pytest.raises(VoiceError) as err:
        read_taxonomy(path)
    assert err.value.code == "voice.taxonomy_syntax"
    assert str(path) in str(err.value)
    assert "line 4" in str(err.value)
    assert err.value.hint


@pytest.mark.parametrize(
    ("text", "theme", "key", "words"),
    [
        ('[themes.a]\nkeyword = ["x"]', "a", "keyword", "Did you mean 'keywords'"),
        ('[themes.a]\nkeywords = ["x"]\nexlude = ["y"]', "a", "exlude", "Did you mean 'exclude'"),
        ('[themes.a]\nkeywords = "x"', "a", "keywords", "list of text"),
        ('[themes.a]\nkeywords = ["x", 3]', "a", "keywords", "list of text"),
        ('[themes.a]\nkeywords = ["x"]\nmin_matches = "1"', "a", "min_matches", "whole number"),
        ('[themes.a]\nkeywords = ["x"]\nmin_matches = 0', "a", "min_matches", "whole number"),
        ('[themes.a]\nkeywords = ["x"]\nmin_matches = 2', "a", "min_matches", "never match"),
        ('[themes.a]\nkeywords = ["x"]\nsources = ["email"]', "a", "sources", "unknown source"),
        (
            '[themes.a]\ndescription = "nothing to match"',
            "a",
            "phrases/keywords/patterns",
            "no phrases",
        ),
        ("[themes.a]\npatterns = ['(?<=a)b']", "a", "patterns", "RE2"),  # lookbehind: Python only
        ("[themes.a]\npatterns = ['(unclosed']", "a", "patterns", "missing )"),
        ('[themes.a]\nkeywords = ["++"]', "a", "keywords", "no letter or digit"),
        (
            '[themes.a]\nkeywords = ["x"]\n[themes.a.links]\nevent = ["e"]',
            "a",
            "links.event",
            "Did you mean one of 'events'",
        ),
        (
            '[themes.a]\nkeywords = ["x"]\n[themes.a.links]\nsegments = ["android"]',
            "a",
            "links.segments",
            "map",
        ),
        ('[theme.a]\nkeywords = ["x"]', None, "theme", "Did you mean 'themes'"),
    ],
)
def test_invalid_taxonomy_names_the_theme_and_key(tmp_path, text, theme, key, words):
    path = write(tmp_path / "themes.toml", text)
    with pytest.raises(VoiceError) as err:
        read_taxonomy(path)
    message = str(err.value)
    assert err.value.code == "voice.taxonomy_invalid"
    assert str(path) in message
    if theme is not None:
        assert f"theme {theme!r}" in message
    assert f"key {key!r}" in message
    assert words in message


# -- assignment -----------------------------------------------------------------------------------

RULES = """
[themes.crash]
keywords = ["crash", "crashes"]
phrases = ["profile step", "can't save"]
exclude = ["crash course"]
[themes.beta]
phrases = ["(beta)", "a.b"]
[themes.pattern]
patterns = ['error \\d{3}']
[themes.two]
keywords = ["price", "expensive", "invoice"]
min_matches = 2
[themes.notes_only]
keywords = ["interview"]
sources = ["notes"]
[themes.cjk]
keywords = ["导出"]
"""


def items(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["source", "item_id", "text"])


def result(frame: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    return {(r.item_id, r.theme): list(r.matched_terms) for r in frame.itertuples()}


def test_assignment_follows_the_rules():
    tax = parse_taxonomy(RULES)
    got = assign(
        tax,
        items(
            ("tickets", "t1", "The app CRASHES on the Profile-Step"),  # case, punctuation
            ("tickets", "t2", "it crashed twice"),  # 'crash' is a whole word: no
            ("tickets", "t3", "I booked a crash course"),  # excluded
            ("tickets", "t4", "I can’t save it (beta)"),  # curly apostrophe; literal parentheses
            ("tickets", "t5", "axb is not a.b"),  # '.' is literal
            ("tickets", "t6", "axb only"),
            ("tickets", "t7", "Error 502 again"),  # RE2 pattern, case ignored
            ("tickets", "t8", "the price is too expensive"),  # two distinct terms
            ("tickets", "t9", "price price price"),  # one distinct term: not enough
            ("tickets", "t10", "interview me"),  # notes_only: not a ticket
            ("notes", "n1", "an interview quote"),
            ("notes", "n2", "数据导出失败"),  # a term inside text written without spaces
            ("notes", "n3", "...!!!"),  # no words
        ),
    )
    assert result(got) == {
        ("t1", "crash"): ["profile step", "crashes"],
        ("t4", "crash"): ["can't save"],
        ("t4", "beta"): ["(beta)"],
        ("t5", "beta"): ["a.b"],
        ("t7", "pattern"): ["error \\d{3}"],
        ("t8", "two"): ["price", "expensive"],
        ("n1", "notes_only"): ["interview"],
        ("n2", "cjk"): ["导出"],
    }


def test_no_theme_gives_no_assignment():
    tax = parse_taxonomy("")
    assert tax.themes == ()
    assert assign(tax, items(("tickets", "t1", "anything"))).empty


# -- conf/themes.toml against the demo's texts ----------------------------------------------------


def demo_items() -> tuple[pd.DataFrame, dict[str, str]]:
    """Every demo ticket template (subject + body, placeholders filled) and interview quote/line,
    with the theme it is written for."""
    from poanalytics.demo import notes, tickets

    fill = {
        "first": "Ana",
        "company": "Acme",
        "device": "Pixel 8",
        "version": "5.3.2",
        "plan": "Pro",
        "seats": 40,
        "country": "Spain",
        "days": 9,
    }
    general = [
        "export",
        "sso",
        "integrations",
        "performance",
        "invites",
        "billing_invoices",
        "login",
        "data_import",
        "scheduled_reports",
        "reports_timezone",
        "privacy",
        "empty_charts",
    ]
    rows, expected = [], {}
    kinds = {
        "android_bug": "onboarding_crash",
        "pricing": "pricing",
        "pricing_question": "sales_quote",
    }
    for kind, theme in kinds.items():
        for i, t in enumerate(tickets.TEMPLATES[kind]):
            item = f"{kind}-{i}"
            rows.append(
                ("tickets", item, t.subject.format(**fill) + "\n\n" + t.body.format(**fill))
            )
            expected[item] = theme
    for i, (t, theme) in enumerate(zip(tickets.GENERAL, general, strict=True)):
        rows.append(
            ("tickets", f"general-{i}", t.subject.format(**fill) + "\n\n" + t.body.format(**fill))
        )
        expected[f"general-{i}"] = theme
    quotes = {
        "android_bug": ["onboarding_crash", "onboarding_crash", None, None, "onboarding_crash"],
        "pricing": ["pricing"] * 6,
    }
    for kind, themes in quotes.items():
        for i, (q, theme) in enumerate(zip(notes.KINDS[kind].quotes, themes, strict=True)):
            if theme is not None:
                text = q.split(" #")[0]
                rows.append(("notes", f"{kind}-q{i}", text))
                expected[f"{kind}-q{i}"] = theme
    return pd.DataFrame(rows, columns=["source", "item_id", "text"]), expected


def test_the_demo_taxonomy_covers_the_demo_texts():
    from tests.conftest import ROOT

    tax = read_taxonomy(ROOT / "conf" / "themes.toml")
    assert tax is not None
    for name in ("onboarding_crash", "pricing"):
        assert name in tax.names
    assert tax["onboarding_crash"].links == {
        "funnel_steps": ["profile_completed"],
        "events": ["app_error"],
        "features": ["profile form", "Android app"],
        "segments": {"platform": "android"},
    }
    assert tax["pricing"].links["segments"] == {"plan": "starter"}
    assert tax["pricing"].links["events"] == ["subscription_cancelled"]
    frame, expected = demo_items()
    got = assign(tax, frame)
    themes_of = got.groupby("item_id")["theme"].apply(set).to_dict()
    missing = {i: t for i, t in expected.items() if t not in themes_of.get(i, set())}
    assert missing == {}
    # quote requests are not price complaints, and no complaint is a quote request
    quotes = [i for i, t in expected.items() if t == "sales_quote"]
    assert all("pricing" not in themes_of[i] for i in quotes)
    complaints = [i for i, t in expected.items() if t == "pricing"]
    assert all("sales_quote" not in themes_of[i] for i in complaints)
    # the crash theme holds only the Android bug's texts
    crash = {i for i, ts in themes_of.items() if "onboarding_crash" in ts}
    assert crash == {i for i, t in expected.items() if t == "onboarding_crash"}
