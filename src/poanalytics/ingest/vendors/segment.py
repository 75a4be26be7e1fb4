"""Segment exports: track, page, screen, identify, group and alias calls (JSON Lines or arrays).

- event: ``event`` for track calls; page and screen calls are the events "page" and "screen" (their
  ``name`` is the property ``name``); identify, group and alias become "$identify", "$group", "$alias".
- user_id: ``userId``, else ``anonymousId``; ts: ``timestamp`` (else originalTimestamp, sentAt,
  receivedAt); session_id: ``context.sessionId``; source_key: ``messageId``.
- properties: ``properties`` (track/page/screen) or ``traits`` (identify/group), plus
  ``$anonymous_id``, ``name``, ``groupId``, ``previousId`` and the ``context`` as ``$context``.

Identity stitching: every load records the (anonymousId, userId) pairs it saw, from calls that carry
both and from alias calls (previousId -> userId), in ``identities``; then every Segment event whose
user_id is a known anonymous id is given the user it belongs to (the first user it was seen with),
in this load and in earlier ones. The anonymous id stays in properties as ``$anonymous_id``.
"""

from __future__ import annotations

import duckdb

from ..formats import Format, keys_of, register
from ..mapping import Expr
from ..readers import Stage
from .events_common import Fields, build, json_object_of, merged

SOURCE = "segment"


def _detect(stage: Stage) -> bool:
    keys = keys_of(stage)
    return {"messageid", "type"} <= keys and bool({"userid", "anonymousid"} & keys)


def _mapping(con, target, stage, columns, params):  # noqa: ARG001 - signature shared by all formats
    f = Fields(stage, params)
    kind = f.text("type") or "'track'"
    event = (
        f"CASE lower({kind}) WHEN 'track' THEN {f.text('event') or 'NULL'} WHEN 'page' THEN 'page' "
        "WHEN 'screen' THEN 'screen' WHEN 'identify' THEN '$identify' WHEN 'group' THEN '$group' "
        f"WHEN 'alias' THEN '$alias' ELSE {f.text('event') or 'NULL'} END"
    )
    user = f.first("userId", "anonymousId")
    ts = f.first("timestamp", "originalTimestamp", "sentAt", "receivedAt")
    body = (
        f"CASE WHEN lower({kind}) IN ('identify', 'group') THEN {f.json('traits') or 'NULL'} "
        f"ELSE {f.json('properties') or 'NULL'} END"
    )
    extra = json_object_of(
        [
            ("$anonymous_id", f.text("anonymousId")),
            ("name", f.text("name")),
            ("groupId", f.text("groupId")),
            ("previousId", f.text("previousId")),
            ("$context", f.json("context")),
        ],
        params,
    )
    fields = {
        "user_id": Expr(user, "VARCHAR", "userId") if user else None,
        "event": Expr(event, "VARCHAR", "event"),
        "ts": Expr(ts, "VARCHAR", "timestamp") if ts else None,
        "session_id": Expr(f.text("context.sessionId"), "VARCHAR", "context.sessionId")
        if f.has("context")
        else None,
        "properties": Expr(merged(body, extra, params), "JSON", "properties"),
        "source_key": Expr(f.text("messageId"), "VARCHAR", "messageId")
        if f.has("messageId")
        else None,
    }
    return build(SOURCE, target, stage, columns, fields, params)


def stitch(con: duckdb.DuckDBPyConnection, load_id: int) -> None:
    """Learn (anonymous id, user) pairs from this load and give anonymous events their user."""
    con.execute(
        """
        INSERT INTO identities (anonymous_id, user_id, source, first_seen, load_id)
        SELECT p.anonymous_id, p.user_id, 'segment', min(p.ts), $load FROM (
            SELECT properties->>'$."$anonymous_id"' AS anonymous_id, user_id, ts FROM events
            WHERE load_id = $load AND source = 'segment' AND event <> '$alias'
            UNION ALL
            SELECT properties->>'$.previousId', user_id, ts FROM events
            WHERE load_id = $load AND source = 'segment' AND event = '$alias'
        ) p
        WHERE p.anonymous_id IS NOT NULL AND p.anonymous_id <> p.user_id
          AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.source = 'segment'
                          AND i.anonymous_id = p.anonymous_id AND i.user_id = p.user_id)
        GROUP BY p.anonymous_id, p.user_id
        """,
        {"load": load_id},
    )
    con.execute(
        """
        UPDATE events SET user_id = m.user_id
        FROM (SELECT anonymous_id, arg_min(user_id, first_seen) AS user_id FROM identities
              WHERE source = 'segment' GROUP BY anonymous_id) m
        WHERE events.source = 'segment' AND events.user_id = m.anonymous_id
        """
    )


register(
    Format(
        SOURCE,
        "events",
        frozenset({"json", "csv", "parquet"}),
        _detect,
        _mapping,
        after_load=stitch,
        description="Segment track/page/screen/identify/group/alias calls; anonymous ids stitched",
    )
)
