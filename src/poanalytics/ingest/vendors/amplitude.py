"""Amplitude export API files (JSON Lines, one event per line, times in UTC).

event = ``event_type``; user_id = ``user_id``, else ``device_id``; ts = ``event_time`` (UTC);
session_id = ``session_id`` (epoch ms; -1 means none); source_key = ``$insert_id`` / ``insert_id``,
else ``uuid``. properties = ``event_properties`` plus ``$user_properties`` (the user properties at the
time) and the device and place columns (platform, os_name, country, ...).
"""

from __future__ import annotations

from ..formats import Format, keys_of, register
from ..mapping import Expr
from ..readers import Stage
from .events_common import Fields, build, json_object_of, merged

SOURCE = "amplitude"
CONTEXT = (
    "platform",
    "os_name",
    "os_version",
    "device_type",
    "device_family",
    "country",
    "region",
    "city",
    "language",
    "app_version",
    "library",
    "amplitude_id",
    "device_id",
)


def _detect(stage: Stage) -> bool:
    keys = keys_of(stage)
    return "event_type" in keys and bool(
        {"insert_id", "$insert_id", "amplitude_id", "device_id"} & keys
    )


def _mapping(con, target, stage, columns, params):  # noqa: ARG001 - signature shared by all formats
    f = Fields(stage, params)
    user = f.first("user_id", "device_id")
    when = f.first("event_time", "client_event_time", "server_upload_time")
    session = f.text("session_id")
    extra = json_object_of(
        [("$user_properties", f.json("user_properties"))] + [(c, f.json(c)) for c in CONTEXT],
        params,
    )
    fields = {
        "user_id": Expr(user, "VARCHAR", "user_id") if user else None,
        "event": Expr(f.text("event_type"), "VARCHAR", "event_type"),
        # event_time is UTC without an offset: say so, whatever zone the load was given
        "ts": Expr(
            f"CASE WHEN {when} IS NOT NULL THEN {when} || '+00:00' END", "VARCHAR", "event_time"
        )
        if when
        else None,
        "session_id": Expr(f"nullif({session}, '-1')", "VARCHAR", "session_id")
        if session
        else None,
        "properties": Expr(
            merged(f.json("event_properties"), extra, params), "JSON", "event_properties"
        ),
        "source_key": Expr(f.first("$insert_id", "insert_id", "uuid"), "VARCHAR", "insert_id")
        if f.first("$insert_id", "insert_id", "uuid")
        else None,
    }
    return build(SOURCE, target, stage, columns, fields, params)


register(
    Format(
        SOURCE,
        "events",
        frozenset({"json", "csv", "parquet"}),
        _detect,
        _mapping,
        description="Amplitude export API events (JSON Lines)",
    )
)
