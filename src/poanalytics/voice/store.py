"""The voice refresh: compute items, sentiment, near-duplicates and themes, and store them.

``refresh(con, taxonomy=...)`` reads every ticket and interview highlight (voice.items), scores
sentiment (voice.sentiment), groups near-duplicates (voice.duplicates), assigns themes from the
taxonomy (voice.assign) or, with no taxonomy, from discovered themes (voice.discover, origin
"discovered"), and writes voice_refresh, voice_items, voice_themes and voice_assignments in ONE
transaction: a refresh that fails leaves the previous one as it was. Every item ends in at least one
theme or with ``unassigned_reason`` set; the refresh checks that in SQL before it commits.

A refresh is stale (``is_stale``) when the tickets, notes or highlights changed (their row count
and a hash of the columns read), when ``[voice] max_chars`` changed, or when the taxonomy's version
changed (edited, created or removed). The Workbench refreshes before every voice call when stale.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from ..db import fetch_all, fetch_df, fetch_one, fetch_value
from ..errors import PoaWarning
from ..sql import Params
from .assign import assign_sql, drop_words, make_words, unassigned_sql
from .errors import VoiceError
from .items import items_sql, max_chars
from .taxonomy import Taxonomy

TAXONOMY = "taxonomy"
DISCOVERED = "discovered"
# what the fingerprint reads: the columns items are made of, per table
_FINGERPRINT = {
    "tickets": "hash(source_key, ticket_id, user_id, requester, created_at, subject, body, "
    "properties)",
    "notes": "hash(source_key, note_id, user_id, date, properties)",
    "note_highlights": "hash(source_key, note_id, position, quote)",
}


@dataclass
class RefreshInfo:
    """What a refresh wrote (or, ``refreshed=False``, the stored refresh that was still fresh)."""

    refresh_id: int
    refreshed: bool
    items: int
    assigned: int
    unassigned: int
    taxonomy_version: str
    taxonomy_file: str | None
    origin: str  # taxonomy | discovered
    seconds: float | None
    themes: int = 0
    warnings: list[PoaWarning] = field(default_factory=list, repr=False)


def discovered_version(seed: int) -> str:
    return f"{DISCOVERED}:{int(seed)}"


def taxonomy_version(taxonomy: Taxonomy | None, seed: int = 0) -> str:
    return taxonomy.version if taxonomy is not None else discovered_version(seed)


def fingerprint(con: duckdb.DuckDBPyConnection, limit: int) -> str:
    """sha256 of the rows items are read from (count and an order-free hash per table) and the
    analysis limit."""
    parts = []
    for table, expr in _FINGERPRINT.items():
        row = fetch_one(con, f"SELECT count(*), coalesce(bit_xor({expr}), 0) FROM {table}")
        assert row is not None
        parts.append(f"{table}:{row[0]}:{row[1]}")
    parts.append(f"max_chars:{int(limit)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def latest(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The newest voice_refresh row as a dict, or None before the first refresh."""
    cur = con.execute("SELECT * FROM voice_refresh ORDER BY refresh_id DESC LIMIT 1")
    row = cur.fetchone()
    if row is None:
        return None
    return {d[0]: v for d, v in zip(cur.description, row, strict=True)}


def is_stale(
    con: duckdb.DuckDBPyConnection,
    taxonomy: Taxonomy | None,
    *,
    seed: int | None = 0,
    limit: int | None = None,
) -> bool:
    """True when there is no refresh yet, or the stored one is of other tickets/notes, another
    analysis limit or another taxonomy version. ``seed=None``: with no taxonomy, any stored
    discovery counts as current (the Workbench's implicit refresh keeps the seed last asked for)."""
    row = latest(con)
    if row is None:
        return True
    if taxonomy is None and seed is None:
        if not str(row["taxonomy_version"]).startswith(DISCOVERED + ":"):
            return True
    elif row["taxonomy_version"] != taxonomy_version(taxonomy, seed or 0):
        return True
    return row["fingerprint"] != fingerprint(con, max_chars() if limit is None else limit)


def info_of(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> RefreshInfo:
    themes = fetch_value(
        con, "SELECT count(*) FROM voice_themes WHERE refresh_id = ?", [row["refresh_id"]]
    )
    origin = DISCOVERED if str(row["taxonomy_version"]).startswith(DISCOVERED) else TAXONOMY
    return RefreshInfo(
        refresh_id=int(row["refresh_id"]),
        refreshed=False,
        items=int(row["items"]),
        assigned=int(row["assigned"]),
        unassigned=int(row["unassigned"]),
        taxonomy_version=str(row["taxonomy_version"]),
        taxonomy_file=row["taxonomy_file"],
        origin=origin,
        seconds=row["seconds"],
        themes=int(themes),
    )


def refresh(
    con: duckdb.DuckDBPyConnection,
    *,
    taxonomy: Taxonomy | None,
    seed: int = 0,
    limit: int | None = None,
) -> RefreshInfo:
    """Compute and store a refresh in one transaction (see the module docstring); returns what it
    wrote. ``taxonomy=None`` assigns discovered themes (deterministic for ``seed``). Themes with no
    item are kept (0 items) and listed in ``info.warnings`` (``voice.theme_no_matches``)."""
    limit = max_chars() if limit is None else int(limit)
    started = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        info = _refresh(con, taxonomy, seed, limit, started)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return info


def _refresh(
    con: duckdb.DuckDBPyConnection,
    taxonomy: Taxonomy | None,
    seed: int,
    limit: int,
    started: float,
) -> RefreshInfo:
    rid = int(fetch_value(con, "SELECT nextval('voice_refresh_seq')"))
    version = taxonomy_version(taxonomy, seed)
    origin = TAXONOMY if taxonomy is not None else DISCOVERED
    print_ = fingerprint(con, limit)
    p = Params()
    select = items_sql(p, limit=limit)
    rid_p = p.add(rid)
    sql = f"""INSERT INTO voice_items (source, item_id, parent_id, position, user_id, email,
                  created_at, text, text_chars, truncated, refresh_id)
              SELECT source, item_id, parent_id, position, user_id, email, created_at, text,
                     text_chars, truncated, {rid_p} FROM ({select})"""
    con.execute(sql, p.used_in(sql))
    _sentiment(con, rid)
    _duplicates(con, rid, seed)
    mine = f"(SELECT source, item_id, text FROM voice_items WHERE refresh_id = {int(rid)})"
    if taxonomy is not None:
        _taxonomy_themes(con, taxonomy, rid, mine)
    else:
        _discovered_themes(con, rid, seed)
    # every item left without a theme says why
    p = Params()
    reasons = unassigned_sql(
        mine, f"(SELECT source, item_id FROM voice_assignments WHERE refresh_id = {int(rid)})", p
    )
    sql = f"""UPDATE voice_items AS v SET unassigned_reason = coalesce(v.unassigned_reason, r.reason)
              FROM ({reasons}) AS r
              WHERE v.refresh_id = {int(rid)} AND v.source = r.source AND v.item_id = r.item_id"""
    con.execute(sql, p.used_in(sql))
    _check_accounting(con, rid)
    counts = fetch_one(
        con,
        "SELECT count(*), count(*) FILTER (WHERE unassigned_reason IS NULL), "
        "count(*) FILTER (WHERE unassigned_reason IS NOT NULL) FROM voice_items WHERE refresh_id = ?",
        [rid],
    )
    assert counts is not None
    seconds = time.perf_counter() - started
    con.execute(
        "INSERT INTO voice_refresh (refresh_id, refreshed_at, taxonomy_version, taxonomy_file, "
        "fingerprint, items, assigned, unassigned, seconds, options) "
        "VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            rid,
            version,
            str(taxonomy.path) if taxonomy is not None else None,
            print_,
            counts[0],
            counts[1],
            counts[2],
            seconds,
            json.dumps({"seed": int(seed), "max_chars": limit, "origin": origin}),
        ],
    )
    for table in ("voice_items", "voice_themes", "voice_assignments"):
        con.execute(f"DELETE FROM {table} WHERE refresh_id <> ?", [rid])
    empty = [
        r[0]
        for r in fetch_all(
            con,
            "SELECT theme FROM voice_themes AS t WHERE refresh_id = ? AND NOT EXISTS ("
            "SELECT 1 FROM voice_assignments AS a WHERE a.refresh_id = t.refresh_id "
            "AND a.theme = t.theme) ORDER BY theme",
            [rid],
        )
    ]
    info = RefreshInfo(
        refresh_id=rid,
        refreshed=True,
        items=int(counts[0]),
        assigned=int(counts[1]),
        unassigned=int(counts[2]),
        taxonomy_version=version,
        taxonomy_file=str(taxonomy.path) if taxonomy is not None else None,
        origin=origin,
        seconds=seconds,
        themes=int(
            fetch_value(con, "SELECT count(*) FROM voice_themes WHERE refresh_id = ?", [rid])
        ),
    )
    info.warnings = [no_matches_warning(name) for name in empty]
    return info


def no_matches_warning(theme: str) -> PoaWarning:
    return PoaWarning(
        f"theme {theme!r} matches no ticket or highlight: it is shown with 0 items",
        code="voice.theme_no_matches",
        hint="check its phrases, keywords and patterns against a few items "
        '(wb.sql("SELECT text FROM voice_items LIMIT 20")), or remove it from the taxonomy',
    )


def _texts(con: duckdb.DuckDBPyConnection, rid: int) -> pd.DataFrame:
    return fetch_df(
        con,
        "SELECT source, item_id, text, created_at FROM voice_items WHERE refresh_id = ? "
        "ORDER BY source, item_id",
        [rid],
    )


def _update_from(
    con: duckdb.DuckDBPyConnection, rid: int, frame: pd.DataFrame, sets: dict[str, str]
) -> None:
    """UPDATE voice_items of refresh ``rid`` from ``frame`` (source, item_id + the set columns)."""
    if frame.empty:
        return
    name = "_voice_update"
    con.register(name, frame)
    try:
        assignments = ", ".join(f"{col} = u.{expr}" for col, expr in sets.items())
        con.execute(
            f"UPDATE voice_items AS v SET {assignments} FROM {name} AS u "
            "WHERE v.refresh_id = ? AND v.source = u.source AND v.item_id = u.item_id",
            [rid],
        )
    finally:
        con.unregister(name)


def _sentiment(con: duckdb.DuckDBPyConnection, rid: int) -> None:
    from .sentiment import score  # here, not at the top: the VADER lexicon loads on first use

    items = _texts(con, rid)
    if items.empty:
        return
    scores = pd.to_numeric(score(items["text"]), errors="coerce")
    frame = pd.DataFrame(
        {"source": items["source"], "item_id": items["item_id"], "sentiment": scores.to_numpy()}
    )
    _update_from(con, rid, frame, {"sentiment": "sentiment"})


def _duplicates(con: duckdb.DuckDBPyConnection, rid: int, seed: int) -> None:
    from .duplicates import near_duplicates

    items = _texts(con, rid)
    if items.empty:
        return
    groups = near_duplicates(items, seed=seed)
    if groups.empty:
        return
    frame = groups[["source", "item_id", "group_id", "similarity"]]
    _update_from(con, rid, frame, {"dup_group": "group_id", "dup_similarity": "similarity"})


def _taxonomy_themes(
    con: duckdb.DuckDBPyConnection, taxonomy: Taxonomy, rid: int, items: str
) -> None:
    version = taxonomy.version
    for theme in taxonomy.themes:
        con.execute(
            "INSERT INTO voice_themes (theme, origin, description, definition, links, "
            "taxonomy_version, refresh_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                theme.name,
                TAXONOMY,
                theme.description or None,
                json.dumps(theme.definition(), ensure_ascii=False),
                json.dumps(theme.links, ensure_ascii=False),
                version,
                rid,
            ],
        )
    make_words(con, items)
    try:
        p = Params()
        select = assign_sql(taxonomy, p)
        sql = f"""INSERT INTO voice_assignments (source, item_id, theme, matched_terms, origin,
                      taxonomy_version, refresh_id)
                  SELECT source, item_id, theme, matched_terms, {p.add(TAXONOMY)},
                         {p.add(version)}, {p.add(rid)} FROM ({select})"""
        con.execute(sql, p.used_in(sql))
    finally:
        drop_words(con)


def _discovered_themes(con: duckdb.DuckDBPyConnection, rid: int, seed: int) -> None:
    """Themes discovered in the items (voice.discover: TF-IDF + NMF, deterministic for ``seed``),
    stored with origin "discovered"; an item discovery leaves out keeps its reason (empty,
    no_common_terms, too_few_items, no_dominant_theme)."""
    from .discover import discover

    version = discovered_version(seed)
    found = discover(_texts(con, rid), seed=seed)
    themes = found.themes
    for _, row in themes.iterrows():  # one row per discovered theme (tens), not per item
        terms = [str(t) for t in row.get("terms", [])]
        con.execute(
            "INSERT INTO voice_themes (theme, origin, description, definition, links, "
            "taxonomy_version, refresh_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                str(row["theme"]),
                DISCOVERED,
                None,
                json.dumps({"terms": terms}, ensure_ascii=False),
                json.dumps({}),
                version,
                rid,
            ],
        )
    assigned = found.assignments
    if not assigned.empty:
        frame = assigned[["source", "item_id", "theme", "matched_terms"]].copy()
        frame["matched_terms"] = frame["matched_terms"].map(lambda m: [str(x) for x in m])
        con.register("_voice_found", frame)
        try:
            con.execute(
                "INSERT INTO voice_assignments (source, item_id, theme, matched_terms, origin, "
                "taxonomy_version, refresh_id) SELECT source, item_id, theme, "
                "CAST(matched_terms AS VARCHAR[]), ?, ?, ? FROM _voice_found",
                [DISCOVERED, version, rid],
            )
        finally:
            con.unregister("_voice_found")
    unassigned = found.unassigned
    if not unassigned.empty:
        _update_from(
            con,
            rid,
            unassigned[["source", "item_id", "reason"]],
            {"unassigned_reason": "reason"},
        )


def _check_accounting(con: duckdb.DuckDBPyConnection, rid: int) -> None:
    """Every item is in a theme XOR has a reason, and every assignment is of a stored item."""
    row = fetch_one(
        con,
        """SELECT
             count(*) FILTER (WHERE a.n IS NULL AND v.unassigned_reason IS NULL),
             count(*) FILTER (WHERE a.n IS NOT NULL AND v.unassigned_reason IS NOT NULL),
             (SELECT count(*) FROM voice_assignments AS x WHERE x.refresh_id = $rid AND NOT EXISTS (
                 SELECT 1 FROM voice_items AS y WHERE y.refresh_id = $rid
                 AND y.source = x.source AND y.item_id = x.item_id))
           FROM voice_items AS v
           LEFT JOIN (SELECT source, item_id, count(*) AS n FROM voice_assignments
                      WHERE refresh_id = $rid GROUP BY ALL) AS a
             ON a.source = v.source AND a.item_id = v.item_id
           WHERE v.refresh_id = $rid""",
        {"rid": rid},
    )
    assert row is not None
    if any(row):
        raise VoiceError(
            f"the refresh does not account for every item: {row[0]} in no theme and without a "
            f"reason, {row[1]} both in a theme and unassigned, {row[2]} assignments of unknown "
            "items; nothing was written",
            code="voice.refresh_accounting",
            hint="report this as a bug in poanalytics (with the taxonomy); the previous refresh "
            "is kept",
        )
