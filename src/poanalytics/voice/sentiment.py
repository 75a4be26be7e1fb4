"""Sentiment per item: VADER (vaderSentiment), an offline English lexicon; the lexicon ships inside
the wheel, nothing is downloaded.

The rule, in order (every chart that shows sentiment names it through :data:`METHOD`):

1. Only the first :data:`MAX_CHARS` characters are read (a 10 MB body costs what a long ticket costs).
2. **Nothing to score -> NaN.** No word (letters) at all: an empty text, digits, punctuation.
3. **Not English enough for an English lexicon -> NaN**, never 0:

   * *script*: fewer than :data:`MIN_LATIN` of the letters are Latin (Cyrillic, CJK, Arabic ...);
   * *words*: count the words that are English stop words (scikit-learn's list) or VADER lexicon
     words ("English words"), and the words in :data:`FOREIGN`, the commonest function words of
     German, French, Spanish, Italian, Dutch and Portuguese. Not English when the English words are
     not more than twice the foreign ones, or (texts of :data:`SHORT` words or more) are under
     :data:`MIN_ENGLISH` of all words; a shorter text needs at least one English word. Technical
     English (user agents, URLs, code) keeps enough "the", "to", "is" to pass; German, French or
     Spanish prose does not. URLs, paths, e-mail addresses and file names are left out of the
     count (:data:`NOT_PROSE`).

4. Otherwise the text is split into sentences (``.``, ``!``, ``?`` followed by a space, or a line
   break) and VADER scores each sentence (VADER is built for sentences, and its cost grows with the
   square of a text's length, so whole long texts would be slow). The item's score is the **mean
   compound score of the sentences that carry sentiment** (compound != 0): a long ticket with one
   angry sentence among ten neutral steps to reproduce reads as angry, not as nearly neutral.
   English text with no sentiment word at all scores 0.0 (a measured neutral).

Scores are -1 (most negative) .. 1 (most positive). Distinct sentences are scored once per call
(tickets share templates), so 100k tickets of ~700 characters take a few seconds, not minutes
(benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

METHOD = "VADER compound (mean over sentences with sentiment)"
MAX_CHARS = 5000
MIN_LATIN = 0.8
MIN_ENGLISH = 0.1
SHORT = 5

# The commonest function words of the languages an English lexicon is most often handed by mistake
# (German, French, Spanish, Italian, Dutch, Portuguese), minus English words of the same spelling.
FOREIGN = frozenset(
    """
    der die das und ist nicht ich ein eine sie wir ihr mit auf für ist sind war auch aber oder wenn
    nur noch sehr kann habe hat zu den dem des bei nach wie was mein meine mich mir dass
    le la les et est une des du pas je vous il elle nous ce cette qui que dans pour sur avec mais
    ou très mon ma mes au aux sont été
    el los las y es un una que del por para con pero muy mi mis lo se su al como esta este son
    il lo gli e è di che non per con una sono ho della nel molto mi questo questa
    het een en van ik je niet dat zijn voor op te met maar heel mijn wel ook
    o um uma não com para mas muito meu minha está são
    """.split()  # noqa: SIM905 - a word list reads better as text
) - frozenset(ENGLISH_STOP_WORDS)

WORD = re.compile(r"[^\W\d_]+")
# URLs, paths, e-mail addresses, file and host names: their words say nothing of the language
# ("www.golem.de" is not German)
NOT_PROSE = re.compile(r"(?<!\S)(?:\S*[/@\\]|\S+\.\w)\S*")
NOT_LATIN = re.compile("[^\x00-\u024f]")  # beyond Basic Latin, Latin-1, Latin Extended-A and -B
SENTENCE = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")

_analyzer: SentimentIntensityAnalyzer | None = None
_known: frozenset[str] | None = None
_lexicon: frozenset[str] = frozenset()


def analyzer() -> SentimentIntensityAnalyzer:
    """The VADER analyzer (built once: reading the lexicon takes ~0.1 s)."""
    global _analyzer, _known, _lexicon
    if _analyzer is None:
        _analyzer = SentimentIntensityAnalyzer()
        _lexicon = frozenset(_analyzer.lexicon)
        _known = frozenset(ENGLISH_STOP_WORDS) | frozenset(
            w for w in _analyzer.lexicon if WORD.fullmatch(w)
        )
    return _analyzer


def english_enough(text: str) -> bool:
    """Whether an English lexicon may score ``text`` (rule 2 and 3 of the module docstring)."""
    analyzer()
    assert _known is not None
    head = text[:MAX_CHARS].lower()
    words = WORD.findall(NOT_PROSE.sub(" ", head)) or WORD.findall(head)
    if not words:
        return False
    letters = "".join(words)
    if not letters.isascii() and len(NOT_LATIN.findall(letters)) > (1 - MIN_LATIN) * len(letters):
        return False
    known = sum(map(_known.__contains__, words))
    foreign = sum(map(FOREIGN.__contains__, words))
    if known <= 2 * foreign:
        return False
    if len(words) < SHORT:
        return known > 0
    return known >= MIN_ENGLISH * len(words)


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (its first :data:`MAX_CHARS` characters) that hold a word."""
    return [s for s in SENTENCE.split(text[:MAX_CHARS]) if s and WORD.search(s)]


def score(texts: Iterable[str | None] | pd.Series) -> pd.Series:
    """VADER score of each text, -1 .. 1; NaN where there is nothing to score or the text is not
    English enough (module docstring). Keeps the index of a Series."""
    series = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    vader = analyzer()
    cache: dict[str, float] = {}
    by_text: dict[str, float] = {}
    out: list[float] = []
    for raw in series.tolist():
        if not isinstance(raw, str) or not raw:
            out.append(math.nan)
            continue
        text = raw[:MAX_CHARS]
        hit = by_text.get(text)
        if hit is None:
            hit = _score_one(text, vader, cache)
            by_text[text] = hit
        out.append(hit)
    return pd.Series(out, index=series.index, dtype="float64", name="sentiment")


def _score_one(text: str, vader: SentimentIntensityAnalyzer, cache: dict[str, float]) -> float:
    if not english_enough(text):
        return math.nan
    values = []
    for s in sentences(text):
        v = cache.get(s)
        if v is None:
            v = float(vader.polarity_scores(s)["compound"]) if _may_carry(s) else 0.0
            cache[s] = v
        if v != 0.0:
            values.append(v)
    return sum(values) / len(values) if values else 0.0


def _may_carry(sentence: str) -> bool:
    """Whether VADER could score ``sentence`` other than 0: it holds a lexicon word or emoticon, or
    a non-ASCII character (emoji, which VADER translates to words). A sentence without any scores 0
    in VADER too; the check only skips VADER's slower pass over it."""
    if not sentence.isascii():
        return True
    lower = sentence.lower()
    return not _lexicon.isdisjoint(WORD.findall(lower)) or not _lexicon.isdisjoint(lower.split())
