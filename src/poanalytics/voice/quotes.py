"""Representative short quotes per theme, each pointing to its source, redacted.

``wb.quotes(theme, n=5, source="all", max_chars=200)`` reads the theme's items from the last voice
refresh and:

1. cuts each item into candidate quotes: an interview highlight of at most ``max_chars`` is one
   quote as it stands; longer highlights and tickets are split into sentences (``.``, ``!``, ``?``
   then a space, or a line break), a ticket's subject being a sentence of its own;
2. keeps the candidates that hold one of the item's matched terms (phrases and keywords as whole
   words, the theme's patterns as regular expressions; any case), that are at most ``max_chars``
   long and have at least :data:`MIN_WORDS` words (an item whose terms cannot be found again in
   its text, e.g. a pattern Python's ``re`` cannot read, offers all its sentences);
3. ranks them by cosine similarity to the theme's centroid: the mean TF-IDF vector (scikit-learn,
   English stop words removed) of the theme's items;
4. picks from the top: one quote per item first, then more per item when the theme has fewer items
   than ``n``; a candidate that is a near-duplicate of a quote already picked (rapidfuzz
   ``token_sort_ratio`` >= :data:`NEAR_DUPLICATE`) is skipped;
5. in a theme of more than :data:`MAX_ITEMS` items, steps 1-4 use :data:`MAX_ITEMS` of them,
   evenly spread over time (a quote call stays within seconds);
6. redacts every quote (poanalytics.redaction.redact, with the warehouse's people as names, like
   the report) and scores its own sentiment (voice.sentiment, NaN when not English enough).

``ref`` points to the source: ``"ticket 10006"``, or a note's file (relative to the folder its
notes were loaded from) and line: ``"2026-09-07-int-001.md line 24"`` (``"... highlight 3"`` when
the line is not known; ``"note <id> highlight 3"`` for notes loaded from a DataFrame).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ..db import fetch_all, fetch_df
from ..metrics.result import MetricResult
from ..metrics.validate import metric_boundary
from ..redaction import known_names, redact
from ..sql import Params
from .errors import VoiceError
from .items import clean_sql
from .people import check_source, check_theme, current

COLUMNS = ["quote", "source", "item_id", "date", "sentiment", "ref", "score"]
MIN_WORDS = 3
MAX_ITEMS = 5000
NEAR_DUPLICATE = 85
MAX_N = 100
SENTENCE = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
WORD = re.compile(r"\w+")


@dataclass(kw_only=True)
class QuotesQuery:
    theme: str
    n: int = 5
    source: str = "all"
    max_chars: int = 200

    def __post_init__(self) -> None:
        if not isinstance(self.theme, str) or not self.theme.strip():
            raise VoiceError(
                f"theme must be a theme's name, got {self.theme!r}"[:300],
                code="voice.theme",
                hint="pick one from wb.themes().table.theme",
            )
        if isinstance(self.n, bool) or not isinstance(self.n, int) or not 1 <= self.n <= MAX_N:
            raise VoiceError(
                f"n must be a whole number of quotes from 1 to {MAX_N}, got {self.n!r}"[:300],
                code="voice.quotes_n",
                hint="e.g. n=5",
            )
        if (
            isinstance(self.max_chars, bool)
            or not isinstance(self.max_chars, int)
            or not 40 <= self.max_chars <= 5000
        ):
            raise VoiceError(
                f"max_chars must be a whole number from 40 to 5000, got {self.max_chars!r}"[:300],
                code="voice.quotes_max_chars",
                hint="the longest quote, in characters; the default is 200",
            )
        check_source(self.source)


class QuotesResult(MetricResult):
    def figure(self):
        raise VoiceError(
            "quotes are a table, not a chart",
            code="voice.no_figure",
            hint="show .table (quote, source, item_id, date, sentiment, ref)",
        )


def items_sql(q: QuotesQuery, p: Params) -> str:
    """The theme's items of the last refresh with their matched terms and, for notes, the file
    and line of the highlight."""
    source = f" AND v.source = {p.add(q.source)}" if q.source != "all" else ""
    subject = clean_sql("t.subject", None, p)
    return f"""WITH nf AS (SELECT note_id, arg_max(file, load_id) AS file FROM notes GROUP BY note_id),
hl AS (SELECT note_id, position, arg_max(line, load_id) AS line FROM note_highlights GROUP BY ALL)
SELECT v.source, v.item_id, v.parent_id, v.position, v.created_at, v.text, a.matched_terms,
       nf.file, hl.line, {subject} AS subject
FROM voice_assignments a
JOIN voice_items v ON v.source = a.source AND v.item_id = a.item_id
    AND v.refresh_id = {current("voice_items")}
LEFT JOIN tickets t ON v.source = 'tickets' AND t.ticket_id = v.parent_id
    AND (v.item_id = t.ticket_id OR v.item_id = t.ticket_id || '@' || t.source)
LEFT JOIN nf ON v.source = 'notes' AND nf.note_id = v.parent_id
LEFT JOIN hl ON v.source = 'notes' AND hl.note_id = v.parent_id AND hl.position = v.position
WHERE a.refresh_id = {current("voice_assignments")} AND a.theme = {p.add(q.theme)}{source}
ORDER BY v.created_at, v.source, v.item_id"""


def ref_of(row: Any) -> str:
    if row.source == "tickets":
        return f"ticket {row.item_id}"
    where = f"line {int(row.line)}" if pd.notna(row.line) else f"highlight {row.position}"
    if isinstance(row.file, str) and row.file:
        return f"{row.file} {where}"
    return f"note {row.parent_id} highlight {row.position}"


def _matcher(terms: Any, patterns: frozenset[str] | set[str]) -> re.Pattern[str] | None:
    """One regex for an item's matched terms: phrases and keywords as whole words, the theme's
    patterns as written (RE2 as Python reads it; one Python cannot read is left out). None: no
    term to look for."""
    parts = []
    for term in list(terms) if terms is not None else []:
        if not isinstance(term, str) or not term.strip():
            continue
        if term in patterns:
            try:
                re.compile(term)
            except re.error:
                continue
            parts.append(f"(?:{term})")
        else:
            parts.append(rf"(?<!\w){re.escape(term.strip())}(?!\w)")
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def candidates(
    items: pd.DataFrame, max_chars: int, patterns: frozenset[str] | set[str] = frozenset()
) -> pd.DataFrame:
    """One row per quotable sentence: item (row number in ``items``) and quote."""
    rows: list[tuple[int, str]] = []
    subjects = items["subject"] if "subject" in items else pd.Series([None] * len(items))
    for k, (source, text, terms, subject) in enumerate(
        zip(items.source, items.text, items.matched_terms, subjects, strict=True)
    ):
        if not isinstance(text, str):
            continue
        if source == "notes" and len(text.strip()) <= max_chars:
            parts = [text.strip()]
        elif isinstance(subject, str) and subject and text.startswith(subject):
            # a ticket's subject is its own sentence (the stored text joins it to the body)
            parts = [subject] + [s.strip() for s in SENTENCE.split(text[len(subject) :])]
        else:
            parts = [s.strip() for s in SENTENCE.split(text)]
        parts = [s for s in parts if len(s) <= max_chars and len(WORD.findall(s)) >= MIN_WORDS]
        matcher = _matcher(terms, patterns)
        if matcher is not None and matcher.search(text):
            parts = [s for s in parts if matcher.search(s)]
        rows += [(k, s) for s in parts]
    return pd.DataFrame(rows, columns=["item", "quote"])


def rank(items: pd.DataFrame, cands: pd.DataFrame) -> np.ndarray:
    """Cosine similarity of each candidate to the TF-IDF centroid of the theme's items."""
    texts = items.text.fillna("").tolist()
    from sklearn.feature_extraction.text import TfidfVectorizer  # heavy: on first use only

    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # nothing but stop words
        return np.zeros(len(cands))
    centroid = np.asarray(matrix.mean(axis=0)).ravel()
    norm = np.linalg.norm(centroid)
    if not norm:
        return np.zeros(len(cands))
    return np.asarray(vectorizer.transform(cands.quote.tolist()) @ (centroid / norm)).ravel()


def pick(cands: pd.DataFrame, n: int) -> list[int]:
    """Candidate rows picked: by score, one per item first, near-duplicates skipped."""
    from rapidfuzz import fuzz
    from rapidfuzz.utils import default_process

    order = cands.sort_values(["score", "item", "quote"], ascending=[False, True, True]).index
    chosen: list[int] = []
    texts: list[str] = []

    def near(quote: str) -> bool:
        return any(
            fuzz.token_sort_ratio(quote, t, processor=default_process) >= NEAR_DUPLICATE
            for t in texts
        )

    for one_per_item in (True, False):
        used = {int(cands.item[i]) for i in chosen}
        for i in order:
            if len(chosen) >= n:
                return chosen
            if i in chosen or (one_per_item and int(cands.item[i]) in used):
                continue
            if near(cands.quote[i]):
                continue
            chosen.append(i)
            texts.append(cands.quote[i])
            used.add(int(cands.item[i]))
    return chosen


@metric_boundary("voice")
def run_quotes(
    con: duckdb.DuckDBPyConnection, q: QuotesQuery, *, names: list[str] | None = None
) -> QuotesResult:
    """The theme's most representative short quotes (see the module's docstring). ``names``:
    the names to redact, default ``redaction.known_names(con)`` (a caller quoting several themes
    reads them once)."""
    check_theme(con, q.theme)
    definition = fetch_all(
        con,
        f"SELECT definition FROM voice_themes WHERE refresh_id = {current('voice_themes')} "
        "AND theme = ? LIMIT 1",
        [q.theme],
    )
    patterns: set[str] = set()
    if definition and isinstance(definition[0][0], str):
        patterns = {str(x) for x in json.loads(definition[0][0]).get("patterns", [])}
    p = Params()
    sql = items_sql(q, p)
    used = p.used_in(sql)
    items = fetch_df(con, sql, used)
    if len(items) > MAX_ITEMS:  # a large theme: an even spread over time (items are in time order)
        keep = np.unique(np.linspace(0, len(items) - 1, MAX_ITEMS).round().astype(int))
        items = items.iloc[keep].reset_index(drop=True)
    cands = candidates(items, q.max_chars, patterns)
    if cands.empty:
        return QuotesResult(q, _empty(), sql, used)
    cands["score"] = rank(items, cands)
    chosen = cands.loc[pick(cands, q.n)].sort_values(
        ["score", "item"], ascending=[False, True], kind="stable"
    )
    rows = items.iloc[chosen.item.to_numpy()].reset_index(drop=True)
    names = known_names(con) if names is None else names
    from . import sentiment  # VADER and scikit-learn's stop words: on first use only

    table = pd.DataFrame(
        {
            "quote": [redact(s, names=names) for s in chosen.quote],
            "source": rows.source,
            "item_id": rows.item_id,
            "date": rows.created_at,
            "sentiment": sentiment.score(chosen.quote.tolist()).to_numpy(),
            "ref": [ref_of(r) for r in rows.itertuples()],
            "score": chosen.score.round(4).to_numpy(),
        }
    )
    return QuotesResult(q, table, sql, used)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "quote": pd.Series(dtype=object),
            "source": pd.Series(dtype=object),
            "item_id": pd.Series(dtype=object),
            "date": pd.Series(dtype="datetime64[us, UTC]"),
            "sentiment": pd.Series(dtype="float64"),
            "ref": pd.Series(dtype=object),
            "score": pd.Series(dtype="float64"),
        }
    )
