"""Theme discovery (voice/discover.py): planted themes come out, every item is accounted for,
the result is fixed by the seed, bad input gets a coded error, and on the real SeaMonkey bugs and
Jupyter survey answers the themes are the ones a reader of the data finds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.errors import InputError
from poanalytics.voice.discover import REASONS, discover, k_range

TOPICS = {
    "billing": [
        "price",
        "invoice",
        "billing",
        "discount",
        "expensive",
        "subscription",
        "refund",
        "charge",
    ],
    "crash": [
        "crash",
        "crashes",
        "freezes",
        "android",
        "profile",
        "screen",
        "onboarding",
        "device",
    ],
    "export": ["export", "csv", "rows", "download", "spreadsheet", "excel", "truncated", "columns"],
    "login": ["password", "reset", "login", "locked", "expired", "session", "token", "signin"],
}
FILLER = [
    "hi",
    "hello",
    "thanks",
    "please",
    "team",
    "help",
    "issue",
    "problem",
    "today",
    "week",
    "since",
    "still",
]


def planted(n: int, seed: int = 1, topics: dict[str, list[str]] = TOPICS) -> pd.DataFrame:
    """n tickets, each about one topic: 6 of its words and 6 filler words, in random order."""
    rng = np.random.default_rng(seed)
    names = sorted(topics)
    rows = []
    for i in range(n):
        topic = names[i % len(names)]
        words = list(rng.choice(topics[topic], 6)) + list(rng.choice(FILLER, 6))
        rng.shuffle(words)
        rows.append(("tickets", f"T{i:05d}", topic, " ".join(words).capitalize() + "."))
    return pd.DataFrame(rows, columns=["source", "item_id", "topic", "text"])


def accounted(items: pd.DataFrame, found) -> None:
    """Every input item is in exactly one of assignments / unassigned, counted independently."""
    keys_in = set(zip(items.source, items.item_id.astype(str), strict=True))
    keys_a = list(zip(found.assignments.source, found.assignments.item_id, strict=True))
    keys_u = list(zip(found.unassigned.source, found.unassigned.item_id, strict=True))
    assert len(keys_a) == len(set(keys_a)) and len(keys_u) == len(set(keys_u))
    assert not set(keys_a) & set(keys_u)
    assert set(keys_a) | set(keys_u) == keys_in
    assert len(keys_a) + len(keys_u) == len(items)
    assert set(found.unassigned.reason) <= set(REASONS)
    assert int(found.themes["items"].sum()) == len(found.assignments)


def test_planted_topics_come_out_as_themes():
    items = planted(400)
    found = discover(items, n_themes=4, seed=0)
    accounted(items, found)
    assert len(found.themes) == 4
    merged = found.assignments.merge(items[["item_id", "topic"]], on="item_id")
    assert len(merged) >= 0.9 * len(items)
    for theme, group in merged.groupby("theme"):
        topic = group.topic.mode()[0]
        assert (group.topic == topic).mean() >= 0.95, theme
        terms = found.themes.set_index("theme").at[theme, "terms"]
        assert set(terms[:3]) <= set(TOPICS[topic])  # the label is the topic's own words
        assert theme == " / ".join(terms[:3])
    assert merged.groupby("topic").theme.nunique().max() == 1  # one theme per topic
    # every assignment is explained by the theme's terms found in the item
    terms_of = found.themes.set_index("theme").terms
    for row in found.assignments.itertuples():
        text = items.set_index("item_id").at[row.item_id, "text"].lower()
        assert row.matched_terms and set(row.matched_terms) <= set(terms_of[row.theme])
        assert all(term in text for term in row.matched_terms)
    # examples: the theme's own items, short
    for theme in found.themes.itertuples():
        assert len(theme.examples) == 3
        mine = set(found.assignments.item_id[found.assignments.theme == theme.theme])
        assert {e["item_id"] for e in theme.examples} <= mine
        assert all(len(e["text"]) <= 160 for e in theme.examples)


def test_number_of_themes_chosen_from_the_data():
    items = planted(600)
    found = discover(items, seed=0)
    lo, hi = k_range(600)
    assert (lo, hi) == (6, 12)
    assert set(found.scores) == set(range(lo, hi + 1))
    assert found.n_themes == len(found.themes) and lo <= found.n_themes <= hi
    assert "coherence" in found.rule
    # with more themes than topics, a topic may split, but no theme mixes two topics
    merged = found.assignments.merge(items[["item_id", "topic"]], on="item_id")
    purity = merged.groupby("theme").topic.agg(lambda s: s.value_counts(normalize=True).iloc[0])
    assert purity.min() >= 0.9
    assert k_range(50) == (3, 4) and k_range(1076) == (8, 15) and k_range(100_000) == (10, 15)


def test_same_seed_same_result_whatever_the_order():
    items = planted(300, seed=5)
    one = discover(items, seed=3)
    two = discover(items, seed=3)
    shuffled = discover(items.sample(frac=1, random_state=7), seed=3)
    for other in (two, shuffled):
        pd.testing.assert_frame_equal(one.themes, other.themes)
        pd.testing.assert_frame_equal(one.assignments, other.assignments)
        pd.testing.assert_frame_equal(one.unassigned, other.unassigned)
        assert one.scores == other.scores


def test_bad_text_is_accounted_for_not_a_crash():
    items = planted(120)
    odd = pd.DataFrame(
        {
            "source": "notes",
            "item_id": [f"N{i}" for i in range(9)],
            "text": [
                "",
                None,
                "   ",
                "12345 -- !!! 3.14",
                "用户无法登录应用程序崩溃了请帮忙",  # Chinese: no spaces, one long 'word'
                "アプリがクラッシュしました",
                "Приложение падает при сохранении профиля",  # Cyrillic words
                "Приложение падает при сохранении профиля снова",
                "zzqx",  # a word no other item has
            ],
        }
    )
    items = pd.concat([items.drop(columns="topic"), odd], ignore_index=True)
    found = discover(items, n_themes=4)
    accounted(items, found)
    reasons = found.unassigned.set_index("item_id").reason
    assert list(reasons[["N0", "N1", "N2", "N3"]]) == ["empty"] * 4
    assert list(reasons[["N4", "N5", "N8"]]) == ["no_common_terms"] * 3


def test_too_few_items_and_empty_input():
    few = planted(4)
    found = discover(few)
    accounted(few, found)
    assert found.themes.empty and set(found.unassigned.reason) == {"too_few_items"}
    none = discover(pd.DataFrame({"source": [], "item_id": [], "text": []}))
    assert none.themes.empty and none.assignments.empty and none.unassigned.empty
    assert list(none.themes.columns)[:6] == [
        "theme",
        "terms",
        "items",
        "share",
        "weight",
        "examples",
    ]
    assert list(none.assignments.columns) == [
        "source",
        "item_id",
        "theme",
        "weight",
        "matched_terms",
    ]


@pytest.mark.parametrize(
    ("items", "kwargs", "code"),
    [
        (pd.DataFrame({"source": ["tickets"], "item_id": ["1"]}), {}, "voice.discover_input"),
        ("not a frame", {}, "voice.discover_input"),
        (
            pd.DataFrame({"source": ["tickets"] * 2, "item_id": ["1", "1"], "text": ["a", "b"]}),
            {},
            "voice.discover_duplicate_items",
        ),
        (planted(10), {"n_themes": 1}, "voice.discover_n_themes"),
        (planted(10), {"n_themes": 2.5}, "voice.discover_n_themes"),
        (planted(10), {"n_themes": 51}, "voice.discover_n_themes"),
        (planted(10), {"seed": -1}, "voice.discover_seed"),
    ],
)
def test_bad_arguments_are_coded_errors(items, kwargs, code):
    with pytest.raises(InputError) as err:
        discover(items, **kwargs)
    assert err.value.code == code and err.value.hint


# --- real data -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seamonkey(shared_data) -> pd.DataFrame:
    """The SeaMonkey bugs as voice items: item_id = bug id, text = summary, blank line, description
    (as the tickets loader maps them: Summary -> subject, Description -> body)."""
    bugs = pd.read_csv(shared_data / "tickets" / "seamonkey_bugs.csv")
    return pd.DataFrame(
        {
            "source": "tickets",
            "item_id": bugs["Issue id"].astype(str),
            "text": bugs["Summary"].fillna("") + "\n\n" + bugs["Description"].fillna(""),
            "summary": bugs["Summary"],
        }
    )


def test_seamonkey_bugs_real_data(seamonkey):
    """What reading the 1,076 bugs shows: 34 are ports of Firefox patches ("Port Bug 752376 ...
    to SeaMonkey"), 291 are web-compatibility reports about one site ("www.mediamarkt.nl - Design
    is broken"). Discovery keeps each family apart."""
    found = discover(seamonkey, seed=0)
    accounted(seamonkey, found)
    assert found.n_themes == 8 and len(found.assignments) > 0.85 * len(seamonkey)
    themes = seamonkey.merge(found.assignments, on=["source", "item_id"], how="left")
    ports = themes[themes.summary.str.match(r"(?i)port\b")]
    assert len(ports) == 34
    port_theme = ports.theme.mode()[0]
    assert (ports.theme == port_theme).all()  # every port lands in one theme ...
    terms = found.themes.set_index("theme").terms
    assert "port" in terms[port_theme][:3]  # ... labelled by it
    # a site report's summary is "<site> - <what is wrong>": 291 of them
    sites = themes[themes.summary.str.match(r"^[\w-]+(?:\.[\w-]+)+ - ")]
    assert len(sites) == 291
    assert (sites.theme == port_theme).sum() == 0
    site_themes = sites.theme.value_counts()
    # the site reports fill a few themes of their own (their templates: webcompat, Dutch reports)
    assert site_themes.head(4).sum() >= 0.95 * len(sites)
    for theme in site_themes.head(2).index:  # and the two biggest hold little else
        assert (themes.theme == theme).sum() <= 1.05 * site_themes[theme]
    again = discover(seamonkey.sample(frac=1, random_state=1), seed=0)
    pd.testing.assert_frame_equal(found.themes, again.themes)
    pd.testing.assert_frame_equal(found.assignments, again.assignments)


@pytest.fixture(scope="module")
def jupyter(shared_data, tmp_path_factory) -> pd.DataFrame:
    """The Jupyter UX survey's open answers as voice items, loaded by the survey notes loader:
    item_id = note_id '#' position, text = the answer (a highlight's quote)."""
    wb = poa.Workbench(tmp_path_factory.mktemp("jupyter") / "w.duckdb")
    wb.load_notes(shared_data / "feedback" / "jupyter_notebook_ux_survey_2015.csv", format="survey")
    items = wb.sql(
        "SELECT 'notes' AS source, note_id || '#' || position AS item_id, quote AS text "
        "FROM note_highlights"
    )
    wb.close()
    return items


def test_jupyter_survey_real_data(jupyter):
    """7,120 answers. Reading them: 120 mention prototyping ("rapid prototyping"), 172
    documentation, 163 data exploration or analysis; each group lands in one theme named by it."""
    found = discover(jupyter, seed=0)
    accounted(jupyter, found)
    assert len(jupyter) == 7120 and found.n_themes >= 8
    themes = jupyter.merge(found.assignments, on=["source", "item_id"], how="left")
    terms = found.themes.set_index("theme").terms
    for pattern, count, word in [
        (r"(?i)prototyp", 120, "prototyping"),
        (r"(?i)documentation", 172, "documentation"),
        (r"(?i)data (?:exploration|analysis)", 163, "exploration"),
    ]:
        group = themes[themes.text.str.contains(pattern)]
        assert len(group) == count
        theme = group.theme.mode()[0]
        assert (group.theme == theme).mean() >= 0.8, (pattern, group.theme.value_counts())
        assert word in terms[theme][:3], (word, theme)
    again = discover(jupyter, seed=0)
    pd.testing.assert_frame_equal(found.assignments, again.assignments)
    assert set(found.unassigned.reason) <= {"empty", "no_common_terms", "no_dominant_theme"}


def test_an_assignment_always_names_the_terms_that_matched():
    """Items whose only words are a theme's minor terms (each rides along in a few billing tickets)
    lean to that theme, but contain none of its listed terms: they stay unassigned instead of
    joining a theme they cannot be explained by."""
    items = planted(400).drop(columns="topic")
    tail = ["vat", "proforma", "remittance", "ledger", "accrual", "chargeback"]
    billing = items.index[items.text.str.contains("invoice|billing")][:60]
    for j, i in enumerate(billing):
        items.loc[i, "text"] += " " + tail[j % len(tail)]
    only_tail = pd.DataFrame(
        {
            "source": "tickets",
            "item_id": [f"X{i}" for i in range(6)],
            "text": [f"{word} {tail[(i + 1) % 6]}" for i, word in enumerate(tail)],
        }
    )
    items = pd.concat([items, only_tail], ignore_index=True)
    found = discover(items, n_themes=4)
    accounted(items, found)
    assert found.assignments.matched_terms.map(len).min() >= 1
    left = found.unassigned.set_index("item_id").reason
    assert list(left.reindex(only_tail.item_id)) == ["no_dominant_theme"] * 6


def test_keyword_rule_proposed_per_theme_is_what_it_says():
    """Each theme proposes keywords (a subset of its terms) and min_matches for the taxonomy, with
    the items that rule would take here: counted again with a plain whole-word regex."""
    items = planted(400, seed=9)
    # noise: a billing word in crash tickets, so the rule has something to get wrong
    items.loc[items.topic == "crash", "text"] += " price"
    found = discover(items, n_themes=4, seed=0)
    assigned = found.assignments.set_index("item_id").theme
    for theme in found.themes.itertuples():
        assert theme.keywords and set(theme.keywords) <= set(theme.terms)
        words = items.text.str.lower().str.findall(r"\b\w+\b").map(set)
        holds = words.map(lambda w, k=theme.keywords: len(w & set(k)))
        taken = items.item_id[holds >= theme.min_matches]
        assert len(taken) == theme.rule_items
        own = (assigned.reindex(taken) == theme.theme).sum()
        assert own == pytest.approx(theme.rule_precision * theme.rule_items)
        assert own == pytest.approx(theme.rule_recall * theme.items)
    billing = found.themes[found.themes.terms.map(lambda t: "price" in t)].iloc[0]
    assert billing.rule_precision >= 0.95  # 'price' alone would take every crash ticket too
