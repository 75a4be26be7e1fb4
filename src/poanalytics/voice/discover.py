"""Theme discovery: group the items a taxonomy does not cover into proposed themes (pure: a
DataFrame in, a :class:`Discovery` out; no connection, no download, deterministic for a seed).

Method: TF-IDF (scikit-learn ``TfidfVectorizer``: English stop words, sublinear tf, words that
start with a letter, a term must occur in at least ``min_df`` items and in at most half of them,
so ticket templates such as "steps to reproduce" drop out) and non-negative matrix factorisation
(``NMF``, coordinate descent, ``init="nndsvda"``, ``random_state=seed``).

Why NMF and not KMeans or LDA:
- KMeans on TF-IDF forces every item into a cluster (no natural "unassigned"), its centroids
  are dense, so labels from them are noisy, and k-means++ restarts make it seed-sensitive and
  slower at 100k items. NMF gives each item a weight per theme: an item that is mostly one
  theme is assigned, a mixed or weak one is explicitly unassigned (``no_dominant_theme``).
- LDA (sklearn's variational Bayes) wants raw counts and long documents; on short tickets and
  survey answers its topics are dominated by frequent words, it is several times slower and
  its result depends on the seed through random initialisation. NMF on TF-IDF is the standard
  choice for short texts and gives readable, sparse term lists (the theme's label and the
  keywords a product owner accepts into ``conf/themes.toml``).
- ``init="nndsvda"`` is an SVD-based start (deterministic for a seed through the randomised
  SVD) with zeros filled by the mean, so coordinate descent can move every entry; sklearn
  recommends it for dense-ish factors, and it converges in fewer iterations than random init.

Number of themes (``n_themes=None``): k is tried from sqrt(items)/4 to sqrt(items)/2, bounded
to 3 .. ``MAX_THEMES`` (:func:`k_range`: 50 items 3..4, 1,000 items 8..15, 100k 10..15); for
each, NMF is fitted on a deterministic sample of at most ``SELECT_SAMPLE`` usable items and
scored (1 + C) / 2 x A, where C is the mean topic coherence (NPMI of each theme's top terms,
counted over the sample's items, -1 .. 1) and A the share of the sample's items with a dominant
theme (the assignment rule below, without the matched-term check); the best k is kept (ties: the
smaller). Coherence alone prefers a few tight themes and leaves many items unexplained (on the
demo's 191 items it picks 4 themes, all about price, and 18 of the 24 items on the onboarding
crash stay unassigned; the score picks 7 and the crash theme is there); coverage alone prefers
splitting.
Over 3..15, coherence on ticket data also prefers a few broad template themes (a bug form's
words always occur together), hence the range from the size. The final NMF is fitted on at
most ``FIT_SAMPLE`` items and every item is then projected on its themes (``NMF.transform``),
so 100k items cost about the same as 20k.

Assignment: theme rows are scaled to unit length, so an item's weight on a theme is how much of
its (unit-length) TF-IDF vector the theme explains. An item joins its strongest theme when that
weight is at least ``MIN_WEIGHT``, is at least ``MIN_SHARE`` of the item's total weight and the
item contains at least one of the theme's terms (``matched_terms``: every assignment can be
explained). Otherwise it is unassigned with a reason:
  ``empty``              no words at all (blank, digits, punctuation)
  ``no_common_terms``    words, but none shared with enough other items (rare words, stop words
                         only, a script written without spaces such as Chinese or Japanese)
  ``too_few_items``      fewer than ``MIN_ITEMS`` items with common terms: nothing to group
  ``no_dominant_theme``  no theme is strong and dominant enough
Every input row ends in exactly one of ``assignments`` or ``unassigned``.

Items are sorted by (source, item_id) first, so the result does not depend on the input's order.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..metrics.result import MetricResult
from .errors import VoiceError

MAX_THEMES = 15  # upper bound when n_themes is chosen from the data
MIN_THEMES = 3  # lower bound of that search
LIMIT_THEMES = 50  # the most a caller may ask for
SELECT_SAMPLE = 2000  # items used to choose the number of themes
FIT_SAMPLE = 20000  # items the final NMF is fitted on (all items are then projected)
MAX_FEATURES = 20000  # vocabulary cap
MIN_ITEMS = 6  # fewer items with common terms: no themes
MIN_WEIGHT = 0.05  # an item's weight on its theme (0 .. ~1) must reach this ...
MIN_SHARE = 0.35  # ... and be this share of the item's total theme weight
N_TERMS = 10  # characteristic terms per theme (the keyword rule picks from them)
LABEL_TERMS = 3  # terms in a theme's label
N_EXAMPLES = 3
EXAMPLE_CHARS = 160
TOKEN_PATTERN = r"(?u)\b[^\W\d_]\w+\b"  # a word starts with a letter; 2 characters at least
METHOD = "TF-IDF + NMF (scikit-learn)"

REASONS = ("empty", "no_common_terms", "too_few_items", "no_dominant_theme")
_WORD = re.compile(TOKEN_PATTERN)


@dataclass
class Discovery:
    """What :func:`discover` found.

    ``themes``: theme (the label, e.g. ``"bookmarks / folder / manager"``), terms (list, best
    first), items, share (of all input items), weight (mean weight of its items), examples
    (list of {source, item_id, text}: the items the theme explains best, text cut to 160
    characters), keywords, min_matches, rule_items, rule_precision, rule_recall (the keyword
    rule proposed for the taxonomy: an item holding at least ``min_matches`` of the keywords, a
    subset of the terms, is in the theme; on these items the rule takes ``rule_items`` items,
    that share of them the theme's, and that share of the theme's items: :func:`_keyword_rule`).
    ``assignments``: source, item_id, theme, weight, matched_terms (the theme's
    terms found in the item). ``unassigned``: source, item_id, reason (see the module doc).
    """

    themes: pd.DataFrame
    assignments: pd.DataFrame
    unassigned: pd.DataFrame
    n_themes: int
    seed: int
    rule: str  # how the number of themes was chosen
    scores: dict[int, float] = field(default_factory=dict)  # k -> its score (when k was chosen)
    method: str = METHOD

    @property
    def items(self) -> int:
        return len(self.assignments) + len(self.unassigned)


def _empty_themes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "theme": pd.Series(dtype=object),
            "terms": pd.Series(dtype=object),
            "items": pd.Series(dtype="int64"),
            "share": pd.Series(dtype="float64"),
            "weight": pd.Series(dtype="float64"),
            "examples": pd.Series(dtype=object),
            "keywords": pd.Series(dtype=object),
            "min_matches": pd.Series(dtype="int64"),
            "rule_items": pd.Series(dtype="int64"),
            "rule_precision": pd.Series(dtype="float64"),
            "rule_recall": pd.Series(dtype="float64"),
        }
    )


def _check(items: pd.DataFrame, n_themes: int | None, seed: int) -> None:
    if not isinstance(items, pd.DataFrame):
        raise VoiceError(
            f"discover() takes a DataFrame of items, not {type(items).__name__}",
            code="voice.discover_input",
            hint="pass a DataFrame with columns source, item_id, text (voice.items.read_items)",
        )
    missing = [c for c in ("source", "item_id", "text") if c not in items.columns]
    if missing:
        raise VoiceError(
            f"the items lack the column(s) {', '.join(missing)}",
            code="voice.discover_input",
            hint="pass a DataFrame with columns source, item_id, text (voice.items.read_items)",
        )
    dup = items.duplicated(["source", "item_id"])
    if dup.any():
        first = items.loc[dup].iloc[0]
        raise VoiceError(
            f"{int(dup.sum())} item(s) appear twice, e.g. {first['source']} {first['item_id']!r}",
            code="voice.discover_duplicate_items",
            hint="pass each (source, item_id) once: every item must end in one theme or none",
        )
    if n_themes is not None and (
        isinstance(n_themes, bool)
        or not isinstance(n_themes, (int, np.integer))
        or not 2 <= int(n_themes) <= LIMIT_THEMES
    ):
        raise VoiceError(
            f"n_themes={n_themes!r} is not a whole number from 2 to {LIMIT_THEMES}",
            code="voice.discover_n_themes",
            hint="leave n_themes=None to choose it from the data, or give e.g. n_themes=8",
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise VoiceError(
            f"seed={seed!r} is not a whole number >= 0",
            code="voice.discover_seed",
            hint="give e.g. seed=0; the same seed and items give the same themes",
        )


def _coherence(binary: Any, top: np.ndarray) -> float:
    """Mean NPMI over the pairs of each theme's top terms, counted over the rows of ``binary``
    (items x terms, 0/1). NPMI is -1 (never together) .. 1 (always together); a pair never
    seen together scores -1."""
    n = binary.shape[0]
    scores = []
    for terms in top:
        sub = binary[:, terms]
        df = np.asarray(sub.sum(axis=0)).ravel().astype(float)
        co = (sub.T @ sub).toarray().astype(float)
        vals = []
        for a in range(len(terms)):
            for b in range(a + 1, len(terms)):
                if co[a, b] == 0 or df[a] == 0 or df[b] == 0:
                    vals.append(-1.0)
                    continue
                p_ab = co[a, b] / n
                if p_ab >= 1.0:
                    vals.append(1.0)
                    continue
                pmi = math.log(p_ab / ((df[a] / n) * (df[b] / n)))
                vals.append(pmi / -math.log(p_ab))
        if vals:
            scores.append(float(np.mean(vals)))
    return float(np.mean(scores)) if scores else -1.0


def _nmf(k: int, seed: int, max_iter: int) -> Any:
    from sklearn.decomposition import NMF

    return NMF(
        n_components=k,
        init="nndsvda",
        solver="cd",
        beta_loss="frobenius",
        random_state=seed,
        max_iter=max_iter,
        tol=1e-4,
    )


def _fit(matrix: Any, k: int, seed: int, max_iter: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) of an NMF of ``matrix``: H (k x terms) with rows scaled to unit length, W (items x
    k) scaled to match (W H unchanged)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    model = _nmf(k, seed, max_iter)
    # the tolerance is a budget here; and scikit-learn's reconstruction error (never used here)
    # takes the square root of a tiny negative rounding error when the fit is exact
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        w = model.fit_transform(matrix)
    h = model.components_.astype(np.float64)
    norms = np.linalg.norm(h, axis=1)
    norms[norms == 0] = 1.0
    return h / norms[:, None], np.asarray(w, dtype=np.float64) * norms


def _dominant(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per item: its strongest theme, that weight, and whether it is strong and dominant enough
    (``MIN_WEIGHT``, ``MIN_SHARE``)."""
    best = np.argmax(w, axis=1)
    top = w[np.arange(len(w)), best]
    total = w.sum(axis=1)
    share = np.divide(top, total, out=np.zeros_like(top), where=total > 0)
    return best, top, (top >= MIN_WEIGHT) & (share >= MIN_SHARE)


def _project(matrix: Any, h: np.ndarray, seed: int, max_iter: int = 300) -> np.ndarray:
    """W for fixed themes ``h``: each item's weight per theme (non-negative least squares)."""
    import warnings

    from sklearn.decomposition import non_negative_factorization
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        w, _, _ = non_negative_factorization(
            matrix,
            H=h.astype(matrix.dtype),
            n_components=h.shape[0],
            init="custom",
            update_H=False,
            solver="cd",
            beta_loss="frobenius",
            max_iter=max_iter,
            tol=1e-4,
            random_state=seed,
        )
    return np.asarray(w, dtype=np.float64)


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False))


def k_range(items: int) -> tuple[int, int]:
    """The numbers of themes tried for ``items`` usable items: sqrt(items)/4 .. sqrt(items)/2,
    bounded to MIN_THEMES .. MAX_THEMES (50 items: 3..4; 1,000: 8..15; 100k: 10..15)."""
    root = math.sqrt(max(items, 1))
    lo = max(MIN_THEMES, min(10, round(root / 4)))
    hi = max(lo, min(MAX_THEMES, round(root / 2)))
    return lo, min(hi, max(lo, items - 1))


def _choose_k(matrix: Any, seed: int) -> tuple[int, dict[int, float]]:
    """The number of themes: the k of :func:`k_range` with the best score on a sample, score =
    (1 + mean NPMI) / 2 x the share of the sample's items with a dominant theme (ties: the
    smaller k); returns k and the scores."""
    n = matrix.shape[0]
    rows = _sample(n, SELECT_SAMPLE, seed)
    sub = matrix[rows]
    binary = (sub > 0).astype(np.int32).tocsc()
    lo, hi = k_range(n)
    hi = min(hi, sub.shape[1])
    scores: dict[int, float] = {}
    for k in range(min(lo, hi), hi + 1):
        h, w = _fit(sub, k, seed, max_iter=100)
        top = np.argsort(-h, axis=1, kind="stable")[:, :N_TERMS]
        coverage = float(_dominant(w)[2].mean())
        scores[k] = round((1 + _coherence(binary, top)) / 2 * coverage, 6)
    best = max(scores.values())
    return min(k for k, v in scores.items() if v == best), scores


def _label(terms: list[str], taken: set[str]) -> str:
    label = " / ".join(terms[:LABEL_TERMS])
    extra = LABEL_TERMS
    while label in taken and extra < len(terms):
        extra += 1
        label = " / ".join(terms[:extra])
    base, n = label, 2
    while label in taken:
        label = f"{base} ({n})"
        n += 1
    taken.add(label)
    return label


def _vectorize(texts: np.ndarray) -> tuple[Any, np.ndarray] | None:
    """TF-IDF of ``texts`` (items x terms, rows unit length) and the terms; None when no word is
    shared by enough items."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    m = len(texts)
    min_df = 2 if m < 2000 else max(3, m // 20000)  # 3 from 2k items, 5 at 100k
    vectorizer = TfidfVectorizer(
        stop_words="english",
        sublinear_tf=True,
        lowercase=True,
        token_pattern=TOKEN_PATTERN,
        min_df=min_df,
        max_df=0.5 if m * 0.5 >= min_df else 1.0,
        max_features=MAX_FEATURES,
        dtype=np.float32,
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # empty vocabulary: no word is shared by min_df items
        return None
    return matrix.tocsr(), vectorizer.get_feature_names_out()


def discover(items: pd.DataFrame, *, n_themes: int | None = None, seed: int = 0) -> Discovery:
    """Propose themes for ``items`` (columns source, item_id, text; other columns are ignored).

    ``n_themes=None`` chooses the number from the data (module doc); ``seed`` fixes the result.
    Every item ends in ``.assignments`` (one theme) or ``.unassigned`` (with a reason).
    """
    _check(items, n_themes, seed)
    frame = (
        pd.DataFrame(
            {
                "source": items["source"].astype(str).to_numpy(dtype=object),
                "item_id": items["item_id"].astype(str).to_numpy(dtype=object),
                "text": items["text"].fillna("").astype(str).to_numpy(dtype=object),
            }
        )
        .sort_values(["source", "item_id"], kind="stable")
        .reset_index(drop=True)
    )
    n = len(frame)
    sources = frame["source"].to_numpy(dtype=object)
    ids = frame["item_id"].to_numpy(dtype=object)
    texts = frame["text"].to_numpy(dtype=object)
    reason = np.full(n, "", dtype=object)
    has_words = np.fromiter((_WORD.search(t) is not None for t in texts), dtype=bool, count=n)
    reason[~has_words] = "empty"

    themes = _empty_themes()
    assignments = pd.DataFrame(
        {
            "source": pd.Series(dtype=object),
            "item_id": pd.Series(dtype=object),
            "theme": pd.Series(dtype=object),
            "weight": pd.Series(dtype="float64"),
            "matched_terms": pd.Series(dtype=object),
        }
    )
    chosen_k, rule = 0, "no themes: too few items with common terms"
    scores: dict[int, float] = {}
    usable = np.flatnonzero(has_words)
    vectors = _vectorize(texts[usable]) if len(usable) >= 2 else None
    if vectors is None:
        reason[usable] = "no_common_terms"
    else:
        matrix, vocab = vectors
        common = np.diff(matrix.indptr) > 0
        reason[usable[~common]] = "no_common_terms"
        rows = usable[common]  # positions in frame of the items with common terms
        matrix = matrix[common]
        if len(rows) < MIN_ITEMS:
            reason[rows] = "too_few_items"
        else:
            if n_themes is None:
                chosen_k, scores = _choose_k(matrix, seed)
                rule = (
                    f"best (1 + NPMI coherence of the top {N_TERMS} terms) / 2 x share of "
                    f"items with a dominant theme, for k in {min(scores)}..{max(scores)}"
                )
            else:
                chosen_k, rule = int(n_themes), f"given ({int(n_themes)})"
            most = min(matrix.shape[1], len(rows) - 1)  # a theme needs a term and an item
            if chosen_k > most:
                rule += f"; at most {most} here ({len(rows)} items, {matrix.shape[1]} terms)"
                chosen_k = most
            h, _ = _fit(matrix[_sample(len(rows), FIT_SAMPLE, seed)], chosen_k, seed)
            w = _project(matrix, h, seed)
            themes, assignments = _assign(matrix, vocab, h, w, rows, sources, ids, texts, reason, n)

    left = reason != ""
    unassigned = pd.DataFrame(
        {"source": sources[left], "item_id": ids[left], "reason": reason[left]}
    )
    return Discovery(
        themes=themes,
        assignments=assignments,
        unassigned=unassigned,
        n_themes=int(len(themes)),
        seed=int(seed),
        rule=rule,
        scores=scores,
    )


def _assign(
    matrix: Any,
    vocab: np.ndarray,
    h: np.ndarray,
    w: np.ndarray,
    rows: np.ndarray,
    sources: np.ndarray,
    ids: np.ndarray,
    texts: np.ndarray,
    reason: np.ndarray,
    n: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each item of ``rows`` to its dominant theme, or ``reason`` no_dominant_theme (in place)."""
    k = h.shape[0]
    order = np.argsort(-h, axis=1, kind="stable")[:, :N_TERMS]  # theme x rank -> term
    valid = np.take_along_axis(h, order, axis=1) > 0
    terms = [
        [str(vocab[j]) for j, v in zip(order[t], valid[t], strict=True) if v] for t in range(k)
    ]
    taken: set[str] = set()
    labels = np.array([_label(terms[t], taken) for t in range(k)], dtype=object)

    best, top, strong = _dominant(w)
    # the item's terms among its best theme's terms (sparse: item x (theme, rank))
    present = matrix[:, order.ravel()].tocoo()
    theme_of_col = np.repeat(np.arange(k), order.shape[1])
    keep = (theme_of_col[present.col] == best[present.row]) & valid.ravel()[present.col]
    hit_row, hit_col = present.row[keep], present.col[keep]
    matched_any = np.zeros(len(rows), dtype=bool)
    matched_any[hit_row] = True
    ok = strong & matched_any
    reason[rows[~ok]] = "no_dominant_theme"

    hits = pd.DataFrame({"row": hit_row, "col": hit_col})
    hits = hits[ok[hits["row"].to_numpy()]].sort_values(["row", "col"], kind="stable")
    hits["term"] = vocab[order.ravel()[hits["col"].to_numpy()]].astype(object)
    matched = hits.groupby("row", sort=True)["term"].agg(list)
    members = np.flatnonzero(ok)
    holds = present.tocsc()  # item x (theme, rank): for the keyword rule proposed per theme
    assignments = pd.DataFrame(
        {
            "source": sources[rows[members]],
            "item_id": ids[rows[members]],
            "theme": labels[best[members]],
            "weight": top[members].astype(np.float64),
            "matched_terms": matched.reindex(members).to_numpy(dtype=object),
        }
    )
    records = []
    for t in range(k):
        mine = members[best[members] == t]
        if not len(mine):
            continue  # a theme no item is dominated by is not proposed
        first = mine[np.lexsort((mine, -top[mine]))][:N_EXAMPLES]
        cols = np.flatnonzero(valid[t]) + t * order.shape[1]
        rule = _keyword_rule(holds[:, cols], ok & (best == t), terms[t])
        records.append(
            {
                "theme": labels[t],
                "terms": terms[t],
                "items": int(len(mine)),
                "share": len(mine) / n,
                "weight": float(top[mine].mean()),
                "examples": [
                    {
                        "source": sources[rows[e]],
                        "item_id": ids[rows[e]],
                        "text": _short(texts[rows[e]]),
                    }
                    for e in first
                ],
                **rule,
            }
        )
    themes = _empty_themes()
    if records:
        themes = (
            pd.DataFrame(records)
            .sort_values(["items", "theme"], ascending=[False, True], kind="stable")
            .reset_index(drop=True)
        )
    return themes, assignments


def _keyword_rule(present: Any, mine: np.ndarray, terms: list[str]) -> dict[str, Any]:
    """The keyword rule proposed for the taxonomy that best reproduces the theme on these items.

    ``present``: items x the theme's terms (non-zero: the item holds the term); ``mine``: the
    theme's items. Candidates: the terms whose items are at least 0, 30, 50 or 70% the theme's
    own (the term's precision; the best term is always kept), each with ``min_matches`` 1 .. 3;
    the candidate with the highest F1 wins (ties: the earlier, i.e. more keywords and fewer
    matches). Returns keywords, min_matches, rule_items (items the rule takes), rule_precision
    (share of those that are the theme's) and rule_recall (share of the theme's items taken)."""
    hold = (present > 0).astype(np.int32).tocsc()
    with_term = np.asarray(hold.sum(axis=0)).ravel()
    own_term = np.asarray(hold[mine].sum(axis=0)).ravel()
    precision = np.divide(own_term, with_term, out=np.zeros(len(terms)), where=with_term > 0)
    own = int(mine.sum())
    best: dict[str, Any] = {}
    for cut in (0.0, 0.3, 0.5, 0.7):
        keep = precision >= cut
        keep[int(np.argmax(precision))] = True
        count = hold @ keep.astype(np.int32)
        for m in (1, 2, 3):
            if m > keep.sum():
                break
            taken = count >= m
            tp = int((taken & mine).sum())
            f1 = 2 * tp / (int(taken.sum()) + own) if own else 0.0
            if not best or f1 > best["_f1"] + 1e-12:
                best = {
                    "_f1": f1,
                    "keywords": [t for t, k in zip(terms, keep, strict=True) if k],
                    "min_matches": m,
                    "rule_items": int(taken.sum()),
                    "rule_precision": tp / int(taken.sum()) if taken.any() else 0.0,
                    "rule_recall": tp / own if own else 0.0,
                }
    best.pop("_f1")
    return best


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= EXAMPLE_CHARS:
        return text
    cut = text[: EXAMPLE_CHARS - 1]
    space = cut.rfind(" ")
    if space > EXAMPLE_CHARS // 2:
        cut = cut[:space]
    return cut + "…"


# -- on the warehouse: wb.discover_themes ------------------------------------------------------


@dataclass(kw_only=True)
class DiscoverQuery:
    """What ``wb.discover_themes`` reads: the stored items of ``source`` (and date range) of the
    current voice refresh; with ``uncovered`` only those no taxonomy theme took."""

    source: str = "all"
    n_themes: int | None = None
    seed: int = 0
    uncovered: bool = True
    date_from: Any = None
    date_to: Any = None
    lo: pd.Timestamp | None = field(default=None, init=False, repr=False)
    hi: pd.Timestamp | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        from .people import check_range, check_source

        check_source(self.source)
        self.lo, self.hi = check_range(self.date_from, self.date_to)
        _check(pd.DataFrame({"source": [], "item_id": [], "text": []}), self.n_themes, self.seed)
        if not isinstance(self.uncovered, bool):
            raise VoiceError(
                f"uncovered must be True or False, got {self.uncovered!r}",
                code="voice.discover_uncovered",
                hint="uncovered=True reads the items no taxonomy theme took, False all items",
            )


def discover_sql(q: DiscoverQuery, p: Any) -> str:
    """The items to discover themes in: the current refresh's voice_items (text as analysed),
    with ``uncovered`` those in no theme of origin taxonomy."""
    from .people import current

    where = [f"i.refresh_id = {current('voice_items')}"]
    if q.source != "all":
        where.append(f"i.source = {p.add(q.source)}")
    if q.lo is not None:
        where.append(f"i.created_at >= {p.add(q.lo)}::TIMESTAMPTZ")
    if q.hi is not None:
        where.append(f"i.created_at <= {p.add(q.hi)}::TIMESTAMPTZ")
    if q.uncovered:
        where.append(
            "NOT EXISTS (SELECT 1 FROM voice_assignments a WHERE a.refresh_id = i.refresh_id "
            f"AND a.origin = {p.add('taxonomy')} AND a.source = i.source AND a.item_id = i.item_id)"
        )
    return (
        "SELECT i.source, i.item_id, i.text, i.created_at FROM voice_items i WHERE "
        + " AND ".join(where)
        + " ORDER BY i.source, i.item_id"
    )


TABLE_COLUMNS = [
    "label",
    "items",
    "share",
    "terms",
    "keywords",
    "min_matches",
    "rule_items",
    "rule_precision",
    "rule_recall",
    "examples",
    "example_ids",
]


@dataclass
class DiscoveryResult(MetricResult):
    """Proposed themes (``table``: label, items, share, terms, the keyword rule proposed for the
    taxonomy, examples "item_id: text" and example_ids), ``assignments`` (source, item_id,
    theme = label, weight, matched_terms), ``unassigned`` (source, item_id, reason),
    ``discovery`` (the :class:`Discovery`), ``items`` (how many were read). Accept themes into
    conf/themes.toml with ``wb.accept_themes(result)``."""

    assignments: pd.DataFrame = field(default_factory=pd.DataFrame)
    unassigned: pd.DataFrame = field(default_factory=pd.DataFrame)
    discovery: Discovery | None = None
    items: int = 0

    def figure(self):
        from ..charts.voice import discovery_figure

        q = self.query
        what = "items no taxonomy theme took" if q.uncovered else "all items"
        return discovery_figure(
            self.table,
            title=f"Proposed themes ({what}, {q.source}, seed {q.seed})",
            unassigned=len(self.unassigned),
        )


def run_discovery(con: Any, q: DiscoverQuery) -> DiscoveryResult:
    """Discover themes in the stored items ``q`` selects (the caller refreshes first)."""
    from ..db import fetch_df
    from ..sql import Params

    p = Params()
    sql = discover_sql(q, p)
    params = p.used_in(sql)
    items = fetch_df(con, sql, params)
    found = discover(items, n_themes=q.n_themes, seed=q.seed)
    table = found.themes.rename(columns={"theme": "label"})
    table["example_ids"] = table["examples"].map(lambda ex: [e["item_id"] for e in ex])
    table["examples"] = table["examples"].map(
        lambda ex: [f"{e['item_id']}: {e['text']}" for e in ex]
    )
    return DiscoveryResult(
        query=q,
        table=table[TABLE_COLUMNS],
        sql=sql,
        params=params,
        assignments=found.assignments,
        unassigned=found.unassigned,
        discovery=found,
        items=len(items),
    )
