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
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from datasketch import LeanMinHash, MinHash, MinHashLSH
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..errors import ConfigError

THRESHOLD = 0.6
SHINGLE = 3
NUM_PERM = 128
METHOD = f"MinHash LSH (word {SHINGLE}-shingles, {NUM_PERM} permutations), exact Jaccard check"
COLUMNS = ["group_id", "source", "item_id", "similarity"]
BOILERPLATE = 0.01  # a shingle in more than this share of the items is boilerplate ...
BOILERPLATE_MIN = 10  # ... and in more than this many items
BIG_BUCKET = 64  # an LSH bucket larger than this is checked as a chain, not all its pairs

# whole lines that bug-report forms add to every report
TEMPLATE_LINES = re.compile(
    r"^[ \t>]*(?:user[ -]?agent|build ?id|build identifier|buildnaam)[ \t]*:.*$",
    re.IGNORECASE | re.MULTILINE,
)
# headings of the same forms: removed, the text after them kept
TEMPLATE_HEADINGS = re.compile(
    r"^[ \t>#*]*(?:steps to reproduce|steps how to reproduce|str|actual results?|"
    r"expected results?|reproducible|additional (?:information|details)|description|summary)"
    r"[ \t]*:?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
WORDS = re.compile(r"\w+")


def strip_template(text: str) -> str:
    """``text`` without bug-report template lines and headings (step 1 of the module docstring)."""
    return TEMPLATE_HEADINGS.sub(" ", TEMPLATE_LINES.sub(" ", text))


def shingles(text: str | None, k: int = SHINGLE) -> frozenset[str]:
    """The word ``k``-shingles of ``text`` after :func:`strip_template` (empty: no words)."""
    if not isinstance(text, str):
        return frozenset()
    words = WORDS.findall(strip_template(text).lower())
    if len(words) < k:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + k]) for i in range(len(words) - k + 1))


def drop_boilerplate(sets: list[frozenset[str]]) -> list[frozenset[str]]:
    """Remove the shingles that more than :data:`BOILERPLATE` of the items (and at least
    :data:`BOILERPLATE_MIN` of them) hold: a form's fixed text, a signature, a web-compat report's
    header. An item left with none keeps its own shingles (it is nothing but boilerplate, and is
    grouped only with exact copies of it)."""
    limit = max(BOILERPLATE_MIN, int(BOILERPLATE * len(sets)))
    if len(sets) <= limit:
        return sets
    counts: Counter[str] = Counter()
    for s in sets:
        counts.update(s)
    common = {k for k, v in counts.items() if v > limit}
    if not common:
        return sets
    return [(s - common) or s for s in sets]


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
    item_id, similarity, ordered by group, then by time within it. Deterministic for a seed."""
    _check(items, threshold)
    n = len(items)
    if n == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _DTYPES.items()})
    created = pd.to_datetime(items["created_at"], utc=True, errors="coerce")
    order = pd.DataFrame(
        {"t": created.to_numpy(), "id": items["item_id"].astype(str).to_numpy(), "pos": range(n)}
    ).sort_values(["t", "id", "pos"], na_position="last", kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order["pos"].to_numpy()] = np.arange(n)
    sets = drop_boilerplate([shingles(t) for t in items["text"].tolist()])

    left: list[int] = []
    right: list[int] = []
    # the very same shingles: one representative goes to the LSH, the others join it at once
    first_of: dict[frozenset[str], int] = {}
    reps: list[int] = []
    for i, s in enumerate(sets):
        if not s:
            continue
        j = first_of.setdefault(s, i)
        if j == i:
            reps.append(i)
        else:
            left.append(j)
            right.append(i)
    for a, b in _candidates([sets[i] for i in reps], threshold, seed):
        i, j = reps[a], reps[b]
        if jaccard(sets[i], sets[j]) >= threshold:
            left.append(i)
            right.append(j)
    if not left:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _DTYPES.items()})
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
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
                1.0 if p == f else round(jaccard(sets[p], sets[f]), 4)
                for p, f in zip(pos, first, strict=True)
            ],
            "_rank": rank[first],
            "_own": frame["rank"].to_numpy(),
        }
    )
    out = out.sort_values(["_rank", "_own"], kind="stable").drop(columns=["_rank", "_own"])
    return out.reset_index(drop=True).astype(_DTYPES)


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
    if not isinstance(threshold, int | float) or not 0 < float(threshold) <= 1:
        raise ConfigError(
            f"threshold must be a Jaccard similarity in (0, 1]; got {threshold!r}",
            code="voice.bad_threshold",
            hint=f"the default is {THRESHOLD}; higher finds fewer, closer copies",
        )


def _candidates(
    sets: Sequence[frozenset[str]], threshold: float, seed: int
) -> list[tuple[int, int]]:
    """Index pairs that share an LSH bucket (each pair once, smaller index first)."""
    if len(sets) < 2:
        return []
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    proto = MinHash(num_perm=NUM_PERM, seed=seed)
    with lsh.insertion_session() as session:
        for i, s in enumerate(sets):
            m = proto.copy()
            m.update_batch([x.encode("utf-8") for x in s])
            session.insert(i, LeanMinHash(m), check_duplication=False)
    pairs: set[tuple[int, int]] = set()
    for table in lsh.hashtables:
        for key in table.keys():  # noqa: SIM118 - a datasketch storage, not a dict
            members = sorted(table.get(key))
            if len(members) < 2:
                continue
            if len(members) <= BIG_BUCKET:
                pairs.update((a, b) for k, a in enumerate(members) for b in members[k + 1 :])
            else:
                pairs.update(zip(members, members[1:], strict=False))
                pairs.update((members[0], b) for b in members[1:])
    return sorted(pairs)
