"""Google Analytics 4 BigQuery export (JSON Lines or Parquet), one row per event.

event = ``event_name``; ts = ``event_timestamp`` (microseconds since the epoch); user_id =
``user_id``, else ``user_pseudo_id``; session_id = the ``ga_session_id`` parameter. properties = the
``event_params`` flattened to ``{key: value}`` (the non-null one of string/int/float/double), plus
``platform``, ``device.category``, ``device.operating_system``, ``geo.country``, ``geo.city`` and
``traffic_source.source``. GA4 has no event id, so rows de-duplicate by content.
"""

from __future__ import annotations

from ..formats import Format, keys_of, register
from ..mapping import Expr
from ..readers import Stage
from .events_common import Fields, build, json_object_of, merged

SOURCE = "ga4"
PARAM_SHAPE = (
    '[{"key": "VARCHAR", "value": {"string_value": "VARCHAR", "int_value": "BIGINT", '
    '"float_value": "DOUBLE", "double_value": "DOUBLE"}}]'
)
CONTEXT = (
    "platform",
    "device.category",
    "device.operating_system",
    "geo.country",
    "geo.city",
    "traffic_source.source",
)


def _detect(stage: Stage) -> bool:
    return {"event_name", "event_timestamp", "event_params"} <= keys_of(stage)


def _mapping(con, target, stage, columns, params):  # noqa: ARG001 - signature shared by all formats
    f = Fields(stage, params)
    raw = f.json("event_params") or "NULL"
    plist = f"from_json({raw}, {params.add(PARAM_SHAPE)})"
    flat = (
        "to_json(map_from_entries(list_transform(" + plist + ", lambda p: struct_pack(k := p.key, "
        "v := coalesce(to_json(p.value.string_value), to_json(p.value.int_value), "
        "to_json(p.value.double_value), to_json(p.value.float_value))))))"
    )
    session = (
        f"list_extract(list_transform(list_filter({plist}, lambda p: p.key = 'ga_session_id'), "
        "lambda p: coalesce(CAST(p.value.int_value AS VARCHAR), p.value.string_value)), 1)"
    )
    extra = json_object_of([(c, f.json(c)) for c in CONTEXT], params)
    fields = {
        "user_id": Expr(
            f.first("user_id", "user_pseudo_id") or "NULL", "VARCHAR", "user_pseudo_id"
        ),
        "event": Expr(f.text("event_name") or "NULL", "VARCHAR", "event_name"),
        "ts": Expr(f.text("event_timestamp") or "NULL", "VARCHAR", "event_timestamp"),
        "session_id": Expr(session, "VARCHAR", "event_params.ga_session_id"),
        "properties": Expr(merged(flat, extra, params), "JSON", "event_params"),
    }
    return build(SOURCE, target, stage, columns, fields, params)


register(
    Format(
        SOURCE,
        "events",
        frozenset({"json", "parquet"}),
        _detect,
        _mapping,
        description="GA4 BigQuery export (event_params flattened)",
    )
)
