"""Mixpanel raw event export: one ``{"event": ..., "properties": {...}}`` object per line.

user_id = properties ``$user_id``, else ``distinct_id``; ts = properties ``time`` (epoch seconds or
milliseconds); source_key = ``$insert_id``; session_id = ``$session_id`` if present; properties = the
rest of the properties (time, distinct_id and $insert_id removed).
"""

from __future__ import annotations

from ..formats import Format, keys_of, register
from ..mapping import Expr
from ..readers import Stage
from .events_common import Fields, build

SOURCE = "mixpanel"
MOVED = '{"time": null, "distinct_id": null, "$insert_id": null}'


def _detect(stage: Stage) -> bool:
    return stage.is_json and keys_of(stage) == {"event", "properties"}


def _mapping(con, target, stage, columns, params):  # noqa: ARG001 - signature shared by all formats
    f = Fields(stage, params)
    props = f.json("properties") or "NULL"
    fields = {
        "user_id": Expr(
            f.first("properties.$user_id", "properties.distinct_id") or "NULL",
            "VARCHAR",
            "distinct_id",
        ),
        "event": Expr(f.text("event") or "NULL", "VARCHAR", "event"),
        "ts": Expr(f.text("properties.time") or "NULL", "VARCHAR", "properties.time"),
        "session_id": Expr(f.text("properties.$session_id") or "NULL", "VARCHAR", "$session_id"),
        "properties": Expr(
            f"json_merge_patch({props}, {params.add(MOVED)}::JSON)", "JSON", "properties"
        ),
        "source_key": Expr(f.text("properties.$insert_id") or "NULL", "VARCHAR", "$insert_id"),
    }
    return build(SOURCE, target, stage, columns, fields, params)


register(
    Format(
        SOURCE,
        "events",
        frozenset({"json"}),
        _detect,
        _mapping,
        description="Mixpanel raw export (event + properties per line)",
    )
)
