"""The items of voice of the customer and their cleaned text.

An item is a ticket (``item_id`` = ticket_id, text = subject + blank line + body) or an interview
highlight (``item_id`` = note_id || '#' || position, text = the quote). A ticket id (note id) that
two sources share, e.g. the same export loaded once as CSV and once as a DataFrame, is told apart
by its source: ``item_id`` = ticket_id || '@' || source (note_id || '@' || source || '#' || position),
so every row loaded is one item and no two items share an id. Its analysed text is the
original with HTML removed (comments, script and style blocks, tags; entities such as ``&amp;``,
``&#233;`` and ``&#x1F600;`` decoded), whitespace of any script collapsed to one space and cut to
``[voice] max_chars`` of conf/poanalytics.toml (default 20000). A body that is only markup ends
empty. ``text_chars`` keeps the length of the original text and ``truncated`` says whether the
cleaned text was cut: nothing is dropped here (a body over ``[limits] max_text_chars`` never
reaches the warehouse: the loader quarantines it with its reason).

The cleaning is one SQL expression (``clean_sql``) run by DuckDB over all items at once;
``clean_text`` applies the same expression to a pandas Series.
"""

from __future__ import annotations

import html.entities
from typing import Any

import duckdb
import pandas as pd

from ..config import settings
from ..db import connect, fetch_df
from ..metrics.validate import parse_instant
from ..sql import Params
from .errors import VoiceError

SOURCES = ("tickets", "notes")
SOURCE_CHOICES = ("all", *SOURCES)
COLUMNS = [
    "source",
    "item_id",
    "parent_id",
    "position",
    "user_id",
    "email",
    "created_at",
    "text",
    "text_chars",
    "truncated",
]
# <!-- comments -->, <script>/<style> blocks with their content, then any tag: '<' + a letter (or
# '/' + letter, or '!'), so "a < b" and "<3" in plain text are kept
_COMMENT = r"(?s)<!--.*?(-->|$)"
_BLOCK = r"(?is)<(script|style)\b[^>]*>.*?</(script|style)\s*>"
_TAG = r"(?s)</?[A-Za-z][A-Za-z0-9:-]*(\s[^<>]*)?/?>|<![^<>]*>"
_ENTITY = r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
_SPACE = r"[\s\p{Z}\x{200B}\x{FEFF}]+"
# named entities with their trailing ';' (HTML5's full table, e.g. 'amp;' -> '&')
_NAMED = {k[:-1]: v for k, v in html.entities.html5.items() if k.endswith(";")}


def max_chars() -> int:
    """``[voice] max_chars`` of the project's conf/poanalytics.toml (default 20000)."""
    return settings().voice_max_chars


def clean_sql(expr: str, limit: int | None, params: Params) -> str:
    """SQL for the cleaned text of ``expr`` (HTML removed, whitespace collapsed, trimmed), cut to
    ``limit`` characters. Entities are decoded after the tags are removed, so an escaped
    ``&lt;b&gt;`` stays as the text ``<b>``."""
    comment, block, tag = params.add(_COMMENT), params.add(_BLOCK), params.add(_TAG)
    ent, space = params.add(_ENTITY), params.add(_SPACE)
    names, chars = params.add(list(_NAMED)), params.add(list(_NAMED.values()))
    untagged = (
        f"regexp_replace(regexp_replace(regexp_replace(coalesce({expr}, ''), {comment}, ' ', 'g'), "
        f"{block}, ' ', 'g'), {tag}, ' ', 'g')"
    )
    # entities: only texts holding one pay for the split into entity and plain pieces
    # a numeric entity outside Unicode's characters (0, surrogates, past U+10FFFF) stays as written
    code = (
        "CASE WHEN lower(p[3]) = 'x' THEN TRY_CAST('0x' || p[4:-2] AS BIGINT) "
        "ELSE TRY_CAST(p[3:-2] AS BIGINT) END"
    )
    piece = (
        "CASE WHEN p[1] <> '&' OR p NOT LIKE '%;' THEN p "
        f"WHEN p[2] = '#' THEN list_transform([{code}], lambda c: CASE WHEN c BETWEEN 1 AND 1114111 "
        "AND NOT c BETWEEN 55296 AND 57343 THEN chr(c::INTEGER) ELSE p END)[1] "
        f"ELSE coalesce(map_extract_value(MAP({names}, {chars}), p[2:-2]), p) END"
    )
    split = f"regexp_extract_all(u, {params.add(_ENTITY + '|[^&]+|&')})"
    decoded = (
        f"CASE WHEN regexp_matches(u, {ent}) "
        f"THEN array_to_string(list_transform({split}, lambda p: {piece}), '') ELSE u END"
    )
    cleaned = f"trim(regexp_replace(({decoded}), {space}, ' ', 'g'))"
    # a one-element list binds the untagged text to ``u`` once per row (a "let" in SQL)
    whole = f"list_transform([{untagged}], lambda u: {cleaned})[1]"
    return whole if limit is None else f"left({whole}, {int(limit)})"


def clean_text(texts: pd.Series, limit: int | None = None) -> pd.Series:
    """``texts`` cleaned like the items' text (``clean_sql``), cut to ``limit`` (default
    ``[voice] max_chars``); None and NaN become "". One DuckDB query over the whole Series."""
    limit = max_chars() if limit is None else int(limit)
    frame = pd.DataFrame(
        {"_i": range(len(texts)), "_t": texts.astype(object).where(texts.notna(), None)}
    )
    con = connect(":memory:")
    try:
        con.register("_texts", frame)
        p = Params()
        sql = f"SELECT {clean_sql('CAST(_t AS VARCHAR)', limit, p)} AS t FROM _texts ORDER BY _i"
        out = con.execute(sql, p.used_in(sql)).fetchall()
    finally:
        con.close()
    return pd.Series([r[0] for r in out], index=texts.index, name=texts.name, dtype=object)


def check_source(source: Any) -> str:
    """``source``: "all", "tickets" or "notes" (``voice.source`` otherwise, with a did-you-mean)."""
    if not isinstance(source, str) or source not in SOURCE_CHOICES:
        from ..errors import did_you_mean

        near = did_you_mean(source, SOURCE_CHOICES) if isinstance(source, str) else ""
        raise VoiceError(
            f"unknown source {source!r}.{near}",
            code="voice.source",
            hint='pass source="all" (tickets and interview highlights), "tickets" or "notes"',
        )
    return source


def check_range(date_from: Any, date_to: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The date range as UTC instants (a bare ``date_to`` is the whole day); ``voice.date_range``
    when swapped, ``metric.date`` when a bound cannot be read."""
    lo = parse_instant(date_from, "date_from")
    hi = parse_instant(date_to, "date_to", end=True)
    if lo is not None and hi is not None and lo > hi:
        raise VoiceError(
            f"date_from ({lo}) is after date_to ({hi})",
            code="voice.date_range",
            hint="swap them, or leave one out for an open range",
        )
    return lo, hi


# an e-mail address as loaded: something@domain.tld, nothing else in the value
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def items_sql(
    params: Params,
    *,
    source: str = "all",
    date_from: pd.Timestamp | None = None,
    date_to: pd.Timestamp | None = None,
    limit: int = 20_000,
) -> str:
    """SELECT of the items (``COLUMNS``) from tickets and note_highlights, text cleaned and cut.
    A date range keeps items created in it (items with no date are then left out)."""
    email_rx = params.add(_EMAIL)
    ticket_text = "concat_ws(chr(10) || chr(10), t.subject, t.body)"
    note_text = "h.quote"
    parts = []
    if source in ("all", "tickets"):
        parts.append(
            f"""SELECT 'tickets' AS source,
                   CASE WHEN count(*) OVER (PARTITION BY t.ticket_id) > 1
                        THEN t.ticket_id || '@' || t.source ELSE t.ticket_id END AS item_id,
                   t.ticket_id AS parent_id,
                   CAST(NULL AS INTEGER) AS position, t.user_id,
                   CASE WHEN regexp_matches(trim(t.requester), {email_rx}) THEN trim(t.requester)
                        ELSE nullif(trim(coalesce(t.properties->>'requester_email',
                                                  t.properties->>'Requester email',
                                                  t.properties->>'email')), '') END AS email,
                   t.created_at, {ticket_text} AS raw_text
            FROM tickets AS t"""
        )
    if source in ("all", "notes"):
        parts.append(
            f"""SELECT 'notes' AS source,
                   CASE WHEN h.note_id IN (SELECT note_id FROM notes GROUP BY ALL HAVING count(*) > 1)
                        THEN h.note_id || '@' || n.source ELSE h.note_id END
                       || '#' || h.position AS item_id,
                   h.note_id AS parent_id, h.position, n.user_id,
                   nullif(trim(coalesce(n.properties->>'email', n.properties->>'participant_email')),
                          '') AS email,
                   n.date AS created_at, {note_text} AS raw_text
            FROM note_highlights AS h LEFT JOIN notes AS n ON n.source_key = h.source_key"""
        )
    where = []
    if date_from is not None:
        where.append(f"created_at >= {params.add(date_from.to_pydatetime())}")
    if date_to is not None:
        where.append(f"created_at <= {params.add(date_to.to_pydatetime())}")
    whole = clean_sql("raw_text", None, params)
    return f"""SELECT source, item_id, parent_id, position, user_id,
               CASE WHEN regexp_matches(email, {email_rx}) THEN email END AS email, created_at,
               left(whole, {int(limit)}) AS text, text_chars, length(whole) > {int(limit)} AS truncated
        FROM (SELECT *, {whole} AS whole, length(coalesce(raw_text, '')) AS text_chars
              FROM ({" UNION ALL ".join(parts)})
              {("WHERE " + " AND ".join(where)) if where else ""})"""


def read_items(
    con: duckdb.DuckDBPyConnection,
    source: str = "all",
    date_from: Any = None,
    date_to: Any = None,
    *,
    limit: int | None = None,
) -> pd.DataFrame:
    """The items (``COLUMNS``) read from the warehouse's tickets and interview highlights, text
    cleaned (``clean_text``) and cut to ``limit`` (default ``[voice] max_chars``)."""
    check_source(source)
    lo, hi = check_range(date_from, date_to)
    p = Params()
    sql = items_sql(
        p,
        source=source,
        date_from=lo,
        date_to=hi,
        limit=max_chars() if limit is None else int(limit),
    )
    sql += " ORDER BY source, created_at, item_id"
    return fetch_df(con, sql, p.used_in(sql))
