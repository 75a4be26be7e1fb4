"""Theme assignment: taxonomy x items -> (source, item_id, theme, matched_terms), in DuckDB.

The rules (docs/voice.md):

* Matching reads the item's cleaned text (voice.items) and ignores case.
* ``phrases`` and ``keywords`` are literal text (a ``.`` or ``(`` in them is no regex) matched
  as whole words: "crash" does not match "crashed", "sso" not "ssomething". Both the text and the
  term are read as words: lower case, and every run of characters that are not letters, digits or
  ``_`` (spaces, punctuation, apostrophes of any kind) counts as one space, so "can't" matches
  "can’t" and "CAN T", "e-mail" matches "e mail", and "profile step" matches "profile  step" or
  "profile-step". A term made only of punctuation ("++") can match nothing: use a pattern. Text in
  scripts written without spaces (Chinese, Japanese, Thai) has no word edges, so a term starting or
  ending with such a character matches inside a longer run of it.
* ``patterns`` are RE2 regular expressions (DuckDB's ``regexp_matches``), found anywhere in the
  text; write ``\\b`` yourself for word edges.
* ``exclude`` terms are literal whole words like keywords: an item holding one is not in the theme.
* ``min_matches``: an item is in the theme when at least that many DISTINCT terms of the theme
  match (default 1).
* ``sources``: only items of these sources can be in the theme.
* An item can be in several themes. ``matched_terms`` lists the theme's terms (as written in the
  taxonomy, in its order) that matched, so every assignment explains itself.
* An item in no theme gets ``unassigned_reason``: ``empty`` when its text holds no letter or digit
  (nothing to match, e.g. a body that was only HTML), else ``no_match``.

Everything is SQL over all items at once: each item's words are made once into a temp table (one
regular expression per item), each literal term is then a substring test of them; only
``patterns`` run a regular expression per item. Never a Python loop over items.
"""

from __future__ import annotations

import re
import unicodedata

import duckdb
import pandas as pd

from ..db import connect, fetch_df, quote_ident
from ..sql import Params
from .taxonomy import Taxonomy

ASSIGNMENT_COLUMNS = ["source", "item_id", "theme", "matched_terms"]
# what separates words: anything but a letter, digit or underscore of any script
NON_WORD = r"[^\p{L}\p{N}_]+"
_PY_NON_WORD = re.compile(r"[\W]+")  # the same in Python's re (Unicode \w: letters, digits, _)
# an item with none of these has no words to match ("empty")
HAS_WORDS = r"[\p{L}\p{N}]"


def _spaceless(ch: str) -> bool:
    """A letter of a script written without spaces between words (no word edges to look for)."""
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return False
    return name.startswith(("CJK ", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR"))


def probe(term: str) -> str:
    """What a literal term is looked for as in the words of an item (``words_sql``): lower case,
    each run of non-word characters one space, padded with a space at each end that is a word edge
    (not at an end in a script written without spaces)."""
    core = _PY_NON_WORD.sub(" ", term.lower()).strip()
    if not core:
        return ""
    head = "" if _spaceless(core[0]) else " "
    tail = "" if _spaceless(core[-1]) else " "
    return head + core + tail


def words_sql(text: str, params: Params) -> str:
    """An item's words for literal matching: lower case, every run of non-word characters one space,
    one space at each end; a literal term is in the item when its ``probe`` is a substring."""
    return f"' ' || trim(regexp_replace(lower({text}), {params.add(NON_WORD)}, ' ', 'g')) || ' '"


def _literal(term: str, params: Params) -> str:
    """A boolean SQL test of ``wt`` (the item's words) for the literal term."""
    return f"contains(wt, {params.add(probe(term))})"


WORDS = "_voice_words"  # temp table: the items with words, and their words (``words_sql``)


def make_words(con: duckdb.DuckDBPyConnection, items: str) -> None:
    """(Re)create the temp table ``WORDS`` (source, item_id, text, wt) from ``items`` (a table,
    view or parenthesised SELECT with source, item_id, text): each item's words made once, for
    every theme; items with no letter or digit are left out (they can be in no theme)."""
    p = Params()
    sql = (
        f"CREATE OR REPLACE TEMP TABLE {WORDS} AS SELECT source, item_id, text, "
        f"{words_sql('text', p)} AS wt FROM {items} WHERE regexp_matches(text, {p.add(HAS_WORDS)})"
    )
    con.execute(sql, p.used_in(sql))


def drop_words(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP TABLE IF EXISTS {WORDS}")


def assign_sql(taxonomy: Taxonomy, params: Params, words: str = WORDS) -> str:
    """SELECT source, item_id, theme, matched_terms over ``words`` (made by ``make_words``)."""
    parts = []
    for theme in taxonomy.themes:
        tests = []
        for term in (*theme.phrases, *theme.keywords):
            tests.append(f"CASE WHEN {_literal(term, params)} THEN {params.add(term)} END")
        for pattern in theme.patterns:
            rx = params.add("(?i)" + pattern)
            tests.append(f"CASE WHEN regexp_matches(text, {rx}) THEN {params.add(pattern)} END")
        excluded = " OR ".join(_literal(term, params) for term in theme.exclude) or "false"
        sources = ", ".join(params.add(s) for s in theme.sources)
        parts.append(
            f"""SELECT source, item_id, {params.add(theme.name)} AS theme, m AS matched_terms
            FROM (SELECT source, item_id,
                         list_filter([{", ".join(tests)}], lambda x: x IS NOT NULL) AS m
                  FROM {words} WHERE source IN ({sources}) AND NOT ({excluded}))
            WHERE len(m) >= {int(theme.min_matches)}"""
        )
    if not parts:
        return (
            "SELECT CAST(NULL AS VARCHAR) AS source, CAST(NULL AS VARCHAR) AS item_id, "
            "CAST(NULL AS VARCHAR) AS theme, CAST([] AS VARCHAR[]) AS matched_terms WHERE false"
        )
    return " UNION ALL ".join(parts)


def unassigned_sql(items: str, assignments: str, params: Params) -> str:
    """SELECT source, item_id, reason for the items of ``items`` in no theme of ``assignments``."""
    has_words = params.add(HAS_WORDS)
    return f"""SELECT i.source, i.item_id,
               CASE WHEN regexp_matches(i.text, {has_words}) THEN 'no_match' ELSE 'empty' END AS reason
        FROM {items} AS i ANTI JOIN {assignments} AS a
          ON a.source = i.source AND a.item_id = i.item_id"""


def assign(
    taxonomy: Taxonomy, items: pd.DataFrame, con: duckdb.DuckDBPyConnection | None = None
) -> pd.DataFrame:
    """Assignments (``ASSIGNMENT_COLUMNS``) of ``items`` (a DataFrame with source, item_id and
    cleaned text) to the taxonomy's themes; runs the same SQL as a refresh."""
    own = con is None
    con = connect(":memory:") if con is None else con
    name = "_voice_assign_items"
    try:
        con.register(name, items[["source", "item_id", "text"]])
        make_words(con, quote_ident(name))
        p = Params()
        sql = assign_sql(taxonomy, p) + " ORDER BY theme, source, item_id"
        return fetch_df(con, sql, p.used_in(sql))
    finally:
        drop_words(con)
        con.unregister(name)
        if own:
            con.close()
