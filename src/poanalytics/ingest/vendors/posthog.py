"""PostHog events export (CSV or JSON Lines): uuid, event, distinct_id, timestamp, properties.

user_id = ``person_id`` when present, else ``distinct_id`` (PostHog counts persons); source_key =
``uuid``; session_id = the ``$session_id`` property; properties = ``properties`` (an object or its
JSON text).
"""

from __future__ import annotations

from ..formats import Format, keys_of, register
from ..mapping import Expr
from ..readers import Stage
from .events_common import Fields, build

SOURCE = "posthog"
SESSION_PATH = '$."$session_id"'


def _detect(stage: Stage) -> bool:
    return {"uuid", "event", "distinct_id", "timestamp"} <= keys_of(stage)


def _mapping(con, target, stage, columns, params):  # noqa: ARG001 - signature shared by all formats
    f = Fields(stage, params)
    props = f.json("properties")
    fields = {
        "user_id": Expr(f.first("person_id", "distinct_id") or "NULL", "VARCHAR", "distinct_id"),
        "event": Expr(f.text("event") or "NULL", "VARCHAR", "event"),
        "ts": Expr(f.text("timestamp") or "NULL", "VARCHAR", "timestamp"),
        "session_id": Expr(
            f"json_extract_string({props}, {params.add(SESSION_PATH)})",
            "VARCHAR",
            "properties.$session_id",
        )
        if props
        else None,
        "properties": Expr(props, "JSON", "properties") if props else None,
        "source_key": Expr(f.text("uuid") or "NULL", "VARCHAR", "uuid"),
    }
    return build(SOURCE, target, stage, columns, fields, params)


register(
    Format(
        SOURCE,
        "events",
        frozenset({"json", "csv", "parquet"}),
        _detect,
        _mapping,
        description="PostHog events export",
    )
)
