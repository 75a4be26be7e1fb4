"""Zendesk tickets: the CSV view export and the JSON export ({"tickets": [...]})."""

from __future__ import annotations

from ..formats import Format, keys_of, register
from ..readers import Stage
from .tickets_common import TicketMapping, json_path, offset_text, space_tags, word_satisfaction

# -- Zendesk --------------------------------------------------------------------------------------


def _detect(stage: Stage) -> bool:
    keys = keys_of(stage)
    if stage.is_json:
        return {"id", "via"} <= keys and bool(
            {"requester_id", "satisfaction_rating", "submitter_id"} & keys
        )
    return {"id", "subject", "via"} <= keys and bool(
        {"requester", "requester email", "satisfaction score"} & keys
    )


def _mapping(con, target, stage, columns, params):  # noqa: ARG001 - signature shared by all formats
    m = TicketMapping("zendesk", target, stage, columns, params)
    if stage.is_json:
        m.field("ticket_id", "id")
        m.field("subject", "subject")
        m.field("body", "description")
        m.field("status", "status")
        m.field("priority", "priority")
        m.field("tags", "tags")
        m.field("created_at", "created_at")
        m.field("updated_at", "updated_at")
        m.field("requester", "requester_id")
        m.field("user_id", "external_id")
        if "via" in stage.names:
            m.expr("channel", json_path(params, "$.via.channel"), "VARCHAR", "via")
        if "satisfaction_rating" in stage.names:
            score = json_path(params, "$.satisfaction_rating.score")
            m.expr("satisfaction", word_satisfaction(score), "VARCHAR", "satisfaction_rating")
            m.extra("satisfaction_raw", score)
            m.use("satisfaction_rating")
        return m.build()
    m.field("ticket_id", "Id", "Ticket ID", "Ticket id")
    m.field("subject", "Subject")
    m.field("body", "Description")
    m.field("status", "Status")
    m.field("priority", "Priority")
    m.field("channel", "Via", "Channel")
    m.field("tags", "Tags", conv=space_tags, type_="VARCHAR[]")
    m.field("created_at", "Created at", conv=offset_text)
    m.field("updated_at", "Updated at", conv=offset_text)
    m.field("requester", "Requester email", "Requester")
    m.field("user_id", "Requester external id", "External id")
    m.field(
        "satisfaction",
        "Satisfaction Score",
        "Satisfaction",
        conv=word_satisfaction,
        raw_key="satisfaction_raw",
    )
    return m.build()


register(
    Format(
        "zendesk",
        "tickets",
        frozenset({"csv", "json"}),
        _detect,
        _mapping,
        description='Zendesk ticket export: the CSV view export or the JSON export ({"tickets": [...]})',
    )
)
