"""Items joined to the events' users, and the join rate.

Each item (a ticket or an interview highlight, from ``voice_items``) is given the user of the events
it belongs to by the first of these rules that finds anyone:

1. ``user_id``: the item's user_id is a user of the events (``method = "user_id"``), or an anonymous
   id of the ``identities`` table whose user is (``"identity"``; the user it was first seen with,
   as identity stitching does);
2. ``email``: the item's e-mail, normalised (trimmed, lower case), equals the normalised ``email``
   property of some event (``"email"``);
3. ``hash``: the sha256 (hex) of that normalised e-mail equals an ``email_sha256`` or ``email_hash``
   property of some event (trimmed, lower case; ``"hash"``).

A rule that finds two or more users decides nothing: the item stays unjoined with the reason
``ambiguous_email`` (no later rule is tried: a guess between two people is never made). Other
unjoined items say ``no_identifier`` (neither user_id nor e-mail) or ``no_match``. All of it is one
SQL statement over the warehouse; nothing loops over items or events in Python.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from ..db import fetch_all, fetch_df
from ..errors import did_you_mean
from ..sql import Params
from .errors import VoiceError
from .items import check_range, check_source

METHODS = ("user_id", "identity", "email", "hash")
REASONS = ("no_identifier", "no_match", "ambiguous_email")
HASH_PROPERTIES = ("email_sha256", "email_hash")
JOIN_COLUMNS = [
    "source",
    "items",
    "joined",
    "by_user_id",
    "by_identity",
    "by_email",
    "by_hash",
    "ambiguous",
    "unjoined",
    "rate",
]


def current(table: str) -> str:
    """SQL: the refresh whose rows ``table`` holds now (the latest one)."""
    return f"(SELECT max(refresh_id) FROM {table})"


def check_theme(con: duckdb.DuckDBPyConnection, theme: str) -> None:
    """``voice.unknown_theme`` (with "did you mean") unless the current refresh has ``theme``."""
    known = [
        r[0]
        for r in fetch_all(
            con,
            f"SELECT DISTINCT theme FROM voice_themes WHERE refresh_id = {current('voice_themes')} "
            "ORDER BY 1",
        )
    ]
    if theme not in known:
        raise VoiceError(
            f"no theme {theme!r}.{did_you_mean(theme, known)}",
            code="voice.unknown_theme",
            hint="pick one from wb.themes().table.theme",
        )


def items_sql(params: Params, source: str, lo: Any, hi: Any) -> str:
    """CTE body: the items of the current refresh in ``source`` and the date range."""
    where = [f"refresh_id = {current('voice_items')}"]
    if source != "all":
        where.append(f"source = {params.add(source)}")
    if lo is not None:
        where.append(f"created_at >= {params.add(lo)}::TIMESTAMPTZ")
    if hi is not None:
        where.append(f"created_at <= {params.add(hi)}::TIMESTAMPTZ")
    return f"""SELECT source, item_id, parent_id, created_at, dup_group,
               nullif(trim(user_id), '') AS uid,
               nullif(lower(trim(email)), '') AS email
        FROM voice_items WHERE {" AND ".join(where)}"""


def people_ctes(params: Params, source: str = "all", lo: Any = None, hi: Any = None) -> str:
    """CTEs (to follow ``WITH``) ending in ``item_people``: source, item_id, created_at, user_id
    (NULL: unjoined), method (user_id | identity | email | hash) and reason (NULL when joined)."""
    mail = f"lower(trim(json_extract_string(properties, {params.add('$.email')})))"
    hashes = " UNION ALL ".join(
        f"SELECT user_id, lower(trim(json_extract_string(properties, {params.add('$.' + h)}))) AS key "
        "FROM events"
        for h in HASH_PROPERTIES
    )
    return f"""vi AS ({items_sql(params, source, lo, hi)}),
known AS (SELECT DISTINCT user_id FROM events),
stitched AS (SELECT i.anonymous_id, i.user_id FROM (
        SELECT anonymous_id, arg_min(user_id, first_seen) AS user_id FROM identities GROUP BY anonymous_id) i
    JOIN known k USING (user_id)),
mails AS (SELECT key, count(DISTINCT user_id) AS n, min(user_id) AS user_id FROM (
        SELECT user_id, {mail} AS key FROM events) WHERE key IS NOT NULL AND key <> '' GROUP BY key),
hashed AS (SELECT key, count(DISTINCT user_id) AS n, min(user_id) AS user_id FROM ({hashes})
    WHERE key IS NOT NULL AND key <> '' GROUP BY key),
matched AS (SELECT v.source, v.item_id, v.created_at, v.uid, v.email, k.user_id AS by_id,
        s.user_id AS by_identity, m.n AS mail_n, m.user_id AS by_mail, h.n AS hash_n, h.user_id AS by_hash
    FROM vi v LEFT JOIN known k ON k.user_id = v.uid
    LEFT JOIN stitched s ON s.anonymous_id = v.uid
    LEFT JOIN mails m ON m.key = v.email
    LEFT JOIN hashed h ON h.key = sha256(v.email)),
item_people AS (SELECT source, item_id, created_at,
        CASE WHEN by_id IS NOT NULL THEN by_id
             WHEN by_identity IS NOT NULL THEN by_identity
             WHEN mail_n = 1 THEN by_mail
             WHEN mail_n IS NULL AND hash_n = 1 THEN by_hash END AS user_id,
        CASE WHEN by_id IS NOT NULL THEN 'user_id'
             WHEN by_identity IS NOT NULL THEN 'identity'
             WHEN mail_n = 1 THEN 'email'
             WHEN mail_n IS NULL AND hash_n = 1 THEN 'hash' END AS method,
        CASE WHEN by_id IS NOT NULL OR by_identity IS NOT NULL OR mail_n = 1
                  OR (mail_n IS NULL AND hash_n = 1) THEN NULL
             WHEN mail_n > 1 OR (mail_n IS NULL AND hash_n > 1) THEN 'ambiguous_email'
             WHEN uid IS NULL AND email IS NULL THEN 'no_identifier'
             ELSE 'no_match' END AS reason
    FROM matched)"""


def item_people_sql(params: Params, source: str = "all", lo: Any = None, hi: Any = None) -> str:
    return f"WITH {people_ctes(params, source, lo, hi)}\nSELECT source, item_id, created_at, user_id, method, reason FROM item_people ORDER BY source DESC, item_id"


def item_people(
    con: duckdb.DuckDBPyConnection, source: str = "all", date_from: Any = None, date_to: Any = None
) -> pd.DataFrame:
    """One row per item: source, item_id, created_at, user_id (NULL: unjoined), method, reason."""
    source = check_source(source)
    lo, hi = check_range(date_from, date_to)
    p = Params()
    sql = item_people_sql(p, source, lo, hi)
    return fetch_df(con, sql, p.used_in(sql))


def join_rate_sql(params: Params, source: str = "all", lo: Any = None, hi: Any = None) -> str:
    """Per source (and "all" when ``source="all"``): items, joined, by_user_id, by_identity,
    by_email, by_hash, ambiguous, unjoined, rate (joined / items; NULL with no items)."""
    names = ["tickets", "notes", "all"] if source == "all" else [source]
    keys = " UNION ALL ".join(
        f"SELECT {params.add(n)} AS source, {i} AS pos" for i, n in enumerate(names)
    )
    return f"""WITH {people_ctes(params, source, lo, hi)},
keys AS ({keys}),
counted AS (SELECT coalesce(source, 'all') AS source, count(*) AS items,
        count(user_id) AS joined,
        count(*) FILTER (WHERE method = 'user_id') AS by_user_id,
        count(*) FILTER (WHERE method = 'identity') AS by_identity,
        count(*) FILTER (WHERE method = 'email') AS by_email,
        count(*) FILTER (WHERE method = 'hash') AS by_hash,
        count(*) FILTER (WHERE reason = 'ambiguous_email') AS ambiguous
    FROM item_people GROUP BY ROLLUP (source))
SELECT k.source, coalesce(c.items, 0) AS items, coalesce(c.joined, 0) AS joined,
       coalesce(c.by_user_id, 0) AS by_user_id, coalesce(c.by_identity, 0) AS by_identity,
       coalesce(c.by_email, 0) AS by_email, coalesce(c.by_hash, 0) AS by_hash,
       coalesce(c.ambiguous, 0) AS ambiguous, coalesce(c.items - c.joined, 0) AS unjoined,
       c.joined / nullif(c.items, 0) AS rate
FROM keys k LEFT JOIN counted c USING (source) ORDER BY k.pos"""


def join_rate(
    con: duckdb.DuckDBPyConnection, source: str = "all", date_from: Any = None, date_to: Any = None
) -> pd.DataFrame:
    """The join rate per source (see :func:`join_rate_sql`)."""
    source = check_source(source)
    lo, hi = check_range(date_from, date_to)
    p = Params()
    sql = join_rate_sql(p, source, lo, hi)
    table = fetch_df(con, sql, p.used_in(sql))
    ints = [c for c in JOIN_COLUMNS if c not in ("source", "rate")]
    return table.astype(dict.fromkeys(ints, "int64"))


def join_text(join: pd.DataFrame) -> str:
    """The join rate in words, for a chart or a summary: "joined to users: 312 of 400 items (78%):
    250 by user id, 40 by e-mail, 22 by hashed e-mail; 3 ambiguous e-mails left out"."""
    if join.empty:
        return "joined to users: no items"
    row = join.iloc[-1]  # "all" when there are several sources
    items, joined = int(row["items"]), int(row["joined"])
    if not items:
        return "joined to users: no items"
    parts = [
        f"{int(row[c])} by {label}"
        for c, label in (
            ("by_user_id", "user id"),
            ("by_identity", "stitched anonymous id"),
            ("by_email", "e-mail"),
            ("by_hash", "hashed e-mail"),
        )
        if int(row[c])
    ]
    text = f"joined to users: {joined:,} of {items:,} items ({joined / items:.0%})"
    text += f": {', '.join(parts)}" if parts else ""
    if int(row["ambiguous"]):
        text += f"; {int(row['ambiguous'])} with an e-mail of several users left out"
    return text
