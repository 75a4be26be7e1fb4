"""Near-duplicate items: the same problem reported again (a re-opened ticket, a copy sent through
another channel, the same bug re-filed), grouped so a theme shows both its volume and its unique
problems.

How (:data:`METHOD`):

1. The text is lower-cased; bug-report template lines and headings (:data:`TEMPLATE_LINES`,
   :data:`TEMPLATE_HEADINGS`: "User Agent: ...", "Build ID: ...", "Steps to reproduce:",
   "Actual results:", ...) are removed first, since every report filed through the same form
   shares them and they would make unrelated reports look alike.
2. Its words (``\\w+``) form word shingles of :data:`SHINGLE` words (a text of fewer words is one
   shingle). An item with no word never groups.
3. datasketch MinHash (:data:`NUM_PERM` permutations, seeded) and MinHashLSH at the threshold find
   candidate pairs in sub-quadratic time; items with the very same shingles are joined at once.
4. Every candidate pair is checked by its exact Jaccard similarity of shingles; pairs at or above
   the threshold are links, and groups are the connected components of the links (so a group may
   hold two items linked only through a third).
5. A group's ``group_id`` is its earliest item's ``item_id`` (by ``created_at``, then ``item_id``);
   ``similarity`` is each item's exact Jaccard similarity to that first item (1.0 for the first).

The default threshold was set by reading the pairs found in SeaMonkey's Bugzilla tickets
(docs/voice.md states the precision measured there).
"""

from __future__ import annotations

import re
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from ..db import fetch_df
from ..errors import ConfigError
from ..metrics.result import MetricResult
from ..metrics.validate import metric_boundary
from ..redaction import known_names, redact
from ..sql import Params
from .errors import VoiceError
from .people import check_source, current

THRESHOLD = 0.6
SHINGLE = 3
NUM_PERM = 128
METHOD = f"MinHash LSH (word {SHINGLE}-shingles, {NUM_PERM} permutations), exact Jaccard check"
COLUMNS = ["group_id", "source", "item_id", "similarity"]
BOILERPLATE = 0.01  # a shingle in more than this share of the items is boilerplate ...
BOILERPLATE_MIN = 10  # ... and in more than this many items
BIG_BUCKET = 64  # an LSH bucket larger than this is checked as a chain, not all its pairs
LSH_WEIGHTS = (0.2, 0.8)  # MinHashLSH's weights of false positives and false negatives
ESTIMATE_SLACK = 0.2  # a candidate whose MinHash estimate is this far below is not checked
MIX = np.uint64(0x9E3779B97F4A7C15)  # combines word hashes into a shingle hash (odd, 64-bit)

# what bug-report forms add to every report: a user-agent string (product/version tokens and their
# parenthesised comments) or a build id after its label; the text may have its line breaks
# collapsed (voice.items.clean_text), so nothing here relies on them
TEMPLATE_LINES = re.compile(
    r"(?:user[ -]?agent|useragent)\s*:\s*(?:[^\s()/]+/[^\s()]*\s*|\([^()]{0,300}\)\s*)+"
    r"|(?:build ?id|build identifier|buildnaam)\s*:\s*\S+"
)
# headings of the same forms, followed by a colon anywhere, or alone on a line: removed, the text
# after them kept
HEADING_WORDS = (
    r"steps to reproduce|steps how to reproduce|actual results?|expected results?|"
    r"reproducible|additional (?:information|details)"
)
TEMPLATE_HEADINGS = re.compile(
    rf"(?:{HEADING_WORDS})\s*:|^[ \t>#*]*(?:{HEADING_WORDS}|str|description|summary)[ \t]*:?[ \t]*$",
    re.MULTILINE,
)
WORDS = re.compile(r"\w+")


def strip_template(text: str) -> str:
    """``text``, lower-cased, without bug-report template lines and headings (step 1 of the
    module docstring). The patterns match lower-case text (faster than ignoring case)."""
    return TEMPLATE_HEADINGS.sub(" ", TEMPLATE_LINES.sub(" ", text.lower()))


def words(text: str | None) -> list[str]:
    """The lower-cased words of ``text`` after :func:`strip_template`."""
    if not isinstance(text, str):
        return []
    return WORDS.findall(strip_template(text))


def shingles(text: str | None, k: int = SHINGLE) -> frozenset[str]:
    """The word ``k``-shingles of ``text`` after :func:`strip_template` (empty: no words), as
    text, for reading and tests; :func:`near_duplicates` works on their 32-bit hashes."""
    w = words(text)
    if len(w) < k:
        return frozenset([" ".join(w)]) if w else frozenset()
    return frozenset(" ".join(w[i : i + k]) for i in range(len(w) - k + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def near_duplicates(
    items: pd.DataFrame, *, threshold: float = THRESHOLD, seed: int = 0
) -> pd.DataFrame:
    """Groups of near-duplicate items (module docstring). ``items`` has source, item_id, text,
    created_at; the result has one row per item in a group of two or more: group_id, source,
    item_id, similarity, ordered by group (earliest first), then by time within it. Deterministic
    for a seed."""
    _check(items, threshold)
    n = len(items)
    if n == 0:
        return _empty()
    created = pd.to_datetime(items["created_at"], utc=True, errors="coerce")
    order = pd.DataFrame(
        {"t": created.to_numpy(), "id": items["item_id"].astype(str).to_numpy(), "pos": range(n)}
    ).sort_values(["t", "id", "pos"], na_position="last", kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order["pos"].to_numpy()] = np.arange(n)

    sets = Shingles.of(items["text"].tolist())
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    # the very same shingles: one representative goes to the LSH, the others join it at once
    first_of: dict[bytes, int] = {}
    reps: list[int] = []
    copy_a: list[int] = []
    copy_b: list[int] = []
    for i in np.flatnonzero(sets.sizes).tolist():
        j = first_of.setdefault(sets.get(i).tobytes(), i)
        if j == i:
            reps.append(i)
        else:
            copy_a.append(j)
            copy_b.append(i)
    left.append(np.asarray(copy_a, dtype=np.int64))
    right.append(np.asarray(copy_b, dtype=np.int64))
    rep = np.asarray(reps, dtype=np.int64)
    if len(rep) > 1:
        sig = signatures(sets, rep, seed)
        a, b = candidates(sig, threshold)
        # a cheap vectorised look at the MinHash estimate first, then the exact check
        estimate = (sig[a] == sig[b]).mean(axis=1)
        keep = estimate >= threshold - ESTIMATE_SLACK
        a, b = rep[a[keep]], rep[b[keep]]
        real = np.fromiter(
            (sets.jaccard(i, j) for i, j in zip(a.tolist(), b.tolist(), strict=True)),
            dtype=np.float64,
            count=len(a),
        )
        link = real >= threshold
        left.append(a[link])
        right.append(b[link])
    lo, hi = np.concatenate(left), np.concatenate(right)
    if not len(lo):
        return _empty()
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(lo), dtype=np.int8), (lo, hi)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    sizes = np.bincount(label)
    grouped = np.flatnonzero(sizes[label] > 1)
    frame = pd.DataFrame({"pos": grouped, "label": label[grouped], "rank": rank[grouped]})
    frame = frame.sort_values(["label", "rank"], kind="stable")
    first = frame.groupby("label", sort=False)["pos"].transform("first").to_numpy()
    pos = frame["pos"].to_numpy()
    ids = items["item_id"].astype(str).to_numpy()
    out = pd.DataFrame(
        {
            "group_id": ids[first],
            "source": items["source"].astype(str).to_numpy()[pos],
            "item_id": ids[pos],
            "similarity": [
                1.0 if p == f else round(sets.jaccard(p, f), 4)
                for p, f in zip(pos.tolist(), first.tolist(), strict=True)
            ],
            "_rank": rank[first],
            "_own": frame["rank"].to_numpy(),
        }
    )
    out = out.sort_values(["_rank", "_own"], kind="stable").drop(columns=["_rank", "_own"])
    return out.reset_index(drop=True).astype(_DTYPES)


class Shingles:
    """Each item's shingles as sorted distinct 32-bit hashes, in one array (``values``) cut by
    ``offsets``: the work is numpy over all items at once, not Python sets per item."""

    def __init__(self, values: np.ndarray, offsets: np.ndarray) -> None:
        self.values = values
        self.offsets = offsets
        self.sizes = np.diff(offsets)

    def get(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def jaccard(self, i: int, j: int) -> float:
        a, b = self.get(i), self.get(j)
        inter = len(np.intersect1d(a, b, assume_unique=True))
        union = len(a) + len(b) - inter
        return inter / union if union else 0.0

    @classmethod
    def of(cls, texts: Sequence[str | None], k: int = SHINGLE) -> Shingles:
        """Hash every text's word shingles (:func:`shingles`: the words' CRC-32 combined), and
        drop the corpus's boilerplate (:func:`drop_boilerplate`)."""
        n = len(texts)
        cache: dict[str, int] = {}
        word_hashes: array[int] = array("I")
        lens = np.zeros(n, dtype=np.int64)
        for i, text in enumerate(texts):
            w = words(text)
            lens[i] = len(w)
            for x in set(w).difference(cache):
                cache[x] = zlib.crc32(x.encode())
            word_hashes.extend(map(cache.__getitem__, w))
        h = np.frombuffer(word_hashes, dtype=np.uint32).astype(np.uint64)
        del word_hashes
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        item = np.repeat(np.arange(n, dtype=np.uint32), lens)
        # a k-shingle starts at p when the word k - 1 later belongs to the same item
        full = (
            np.flatnonzero(item[: len(item) - k + 1] == item[k - 1 :])
            if len(h) >= k
            else np.zeros(0, dtype=np.int64)
        )
        top = np.uint64(32)
        keys = item[full].astype(np.uint64) << top
        del item
        hashed = h[full]
        for m in range(1, k):
            hashed *= MIX
            hashed += h[full + m]
        keys |= fmix64(hashed) >> top
        del hashed, full
        short = np.flatnonzero((lens > 0) & (lens < k))  # fewer words than k: one shingle
        short_hash = np.zeros(len(short), dtype=np.uint64)
        for m in range(k):
            at_m = np.minimum(starts[short] + m, max(len(h) - 1, 0))
            word = np.where(lens[short] > m, h[at_m] if len(h) else 0, 0).astype(np.uint64)
            short_hash = short_hash * MIX + word
        del h
        keys = _distinct(  # sorted by item, then hash
            np.concatenate([keys, (short.astype(np.uint64) << top) | (fmix64(short_hash) >> top)])
        )
        it = (keys >> top).astype(np.int64)
        values = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        it, values = drop_boilerplate(it, values, n)
        offsets = np.concatenate([[0], np.cumsum(np.bincount(it, minlength=n))]).astype(np.int64)
        return cls(values, offsets)


def drop_boilerplate(item: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove the shingles that more than :data:`BOILERPLATE` of the ``n`` items (and more than
    :data:`BOILERPLATE_MIN` of them) hold: a form's fixed text, a signature, a web-compat report's
    header. An item left with none keeps its own (it is nothing but boilerplate, and groups only
    with exact copies of it). ``item`` and ``values``: one row per (item, distinct shingle)."""
    limit = max(BOILERPLATE_MIN, int(BOILERPLATE * n))
    if n <= limit or not len(values):
        return item, values
    ordered = np.sort(values)
    cut = np.flatnonzero(np.diff(ordered)) + 1
    starts = np.concatenate([[0], cut])
    counts = np.diff(np.concatenate([starts, [len(ordered)]]))
    common = ordered[starts[counts > limit]]
    if not len(common):
        return item, values
    drop = np.isin(values, common)
    left = np.bincount(item[~drop], minlength=n)
    keep = ~drop | (left[item] == 0)
    return item[keep], values[keep]


def fmix64(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer: every input bit reaches the top 32 bits kept as the
    shingle's hash (without it the last word of a shingle only reached the low bits)."""
    hv = hv ^ (hv >> np.uint64(33))
    hv = hv * np.uint64(0xFF51AFD7ED558CCD)
    hv = hv ^ (hv >> np.uint64(33))
    hv = hv * np.uint64(0xC4CEB9FE1A85EC53)
    return hv ^ (hv >> np.uint64(33))


def fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch's MinHash (scheme affine32) pre-mixes."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    return hv ^ (hv >> np.uint32(16))


def signatures(sets: Shingles, rows: np.ndarray, seed: int) -> np.ndarray:
    """MinHash signatures (len(rows) x NUM_PERM) of the items ``rows`` (each with shingles):
    datasketch's MinHash (scheme affine32, its seeded permutations) computed for all items at
    once, the same values as ``MinHash(num_perm=NUM_PERM, seed=seed, hashfunc=identity)
    .update_batch(shingle hashes)`` (tests/test_voice_duplicates.py checks it)."""
    from datasketch import MinHash

    a_perm, b_perm = MinHash(num_perm=NUM_PERM, seed=seed, scheme="affine32").permutations
    sizes = sets.sizes[rows]
    begin = np.cumsum(sizes) - sizes
    take = np.repeat(sets.offsets[rows], sizes) + (
        np.arange(int(sizes.sum()), dtype=np.int64) - np.repeat(begin, sizes)
    )
    hv = fmix32(sets.values[take])
    sig = np.empty((len(rows), NUM_PERM), dtype=np.uint32)
    for p in range(NUM_PERM):
        sig[:, p] = np.minimum.reduceat(hv * a_perm[p] + b_perm[p], begin)
    return sig


def candidates(sig: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (a < b) that share a band of their signatures: MinHashLSH's banding, with the
    bands and rows datasketch's MinHashLSH chooses for this threshold (weighted towards recall,
    :data:`LSH_WEIGHTS`: the exact check removes the extra candidates), done in numpy."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, weights=LSH_WEIGHTS)
    top = np.uint64(32)
    pairs: list[np.ndarray] = []
    for band in range(lsh.b):
        key = np.zeros(len(sig), dtype=np.uint64)
        for c in range(band * lsh.r, (band + 1) * lsh.r):
            key = key * MIX + sig[:, c].astype(np.uint64)
        order = np.argsort(key, kind="stable")
        cut = np.flatnonzero(np.diff(key[order])) + 1
        starts = np.concatenate([[0], cut])
        ends = np.concatenate([cut, [len(key)]])
        many = (ends - starts) > 1
        two = many & ((ends - starts) == 2)
        lo, hi = order[starts[two]].astype(np.uint64), order[starts[two] + 1].astype(np.uint64)
        pairs.append((np.minimum(lo, hi) << top) | np.maximum(lo, hi))
        for s, e in zip(starts[many & ~two].tolist(), ends[many & ~two].tolist(), strict=True):
            members = np.sort(order[s:e]).astype(np.uint64)
            if len(members) <= BIG_BUCKET:
                i, j = np.triu_indices(len(members), k=1)
                pairs.append((members[i] << top) | members[j])
            else:  # a chain and a star: connected, without all the pairs
                pairs.append((members[:-1] << top) | members[1:])
                pairs.append((members[0] << top) | members[1:])
    both = _distinct(np.concatenate(pairs)) if pairs else np.zeros(0, dtype=np.uint64)
    return (both >> top).astype(np.int64), (both & np.uint64(0xFFFFFFFF)).astype(np.int64)


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique's hash path is several times slower on 10M integers)."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _DTYPES.items()})


_DTYPES = {"group_id": object, "source": object, "item_id": object, "similarity": "float64"}


def _check(items: pd.DataFrame, threshold: float) -> None:
    missing = [c for c in ("source", "item_id", "text", "created_at") if c not in items.columns]
    if missing:
        raise ConfigError(
            f"near_duplicates needs the columns source, item_id, text, created_at; missing: "
            f"{', '.join(missing)}",
            code="voice.items_columns",
            hint="pass the items as voice.items.read_items returns them",
        )
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 < float(threshold) <= 1
    ):
        raise ConfigError(
            f"threshold must be a Jaccard similarity in (0, 1]; got {threshold!r}",
            code="voice.bad_threshold",
            hint=f"the default is {THRESHOLD}; higher finds fewer, closer copies",
        )


# -- wb.duplicates: the groups the last refresh stored -------------------------------------------

PREVIEW_CHARS = 120


@dataclass(kw_only=True)
class DuplicatesQuery:
    source: str = "tickets"

    def __post_init__(self) -> None:
        check_source(self.source)


class DuplicatesResult(MetricResult):
    def figure(self):
        raise VoiceError(
            "near-duplicate groups are a table, not a chart",
            code="voice.no_figure",
            hint="show .table (group_id, item_id, similarity, preview)",
        )


def duplicates_sql(q: DuplicatesQuery, p: Params) -> str:
    source = f" AND source = {p.add(q.source)}" if q.source != "all" else ""
    return f"""WITH g AS (SELECT *, count(*) OVER (PARTITION BY dup_group) AS group_items,
        min(created_at) OVER (PARTITION BY dup_group) AS group_start
    FROM voice_items WHERE refresh_id = {current("voice_items")} AND dup_group IS NOT NULL)
SELECT dup_group AS group_id, item_id, dup_similarity AS similarity, source, created_at,
       group_items, left(text, {PREVIEW_CHARS}) AS preview
FROM g WHERE true{source}
ORDER BY group_start NULLS LAST, group_id, created_at NULLS LAST, item_id"""


@metric_boundary("voice")
def run_duplicates(con: duckdb.DuckDBPyConnection, q: DuplicatesQuery) -> DuplicatesResult:
    """The near-duplicate groups of the last refresh, previews redacted."""
    p = Params()
    sql = duplicates_sql(q, p)
    used = p.used_in(sql)
    table = fetch_df(con, sql, used)
    if len(table):
        names = known_names(con)
        table["preview"] = [
            redact(t, names=names) if isinstance(t, str) else t for t in table.preview
        ]
    return DuplicatesResult(q, table, sql, used)
