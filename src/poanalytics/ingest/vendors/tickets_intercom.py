"""Intercom conversations (the CSV export of the Conversations / Inbox report).

One row per conversation: ``Conversation ID``, ``Conversation started at`` (older exports:
``Created at``), ``Last updated``, ``State``, ``Priority``, ``Channel`` (or ``Source``),
``Title`` (or ``Subject``), the first message, ``Tags`` (comma separated), ``User email`` /
``User id`` and ``Conversation rating`` (1-5, normalised to 0..1 as (r - 1) / 4).
"""

from __future__ import annotations

from ..formats import Format, keys_of, register
from ..readers import Stage
from .tickets_common import TicketMapping, five_point_satisfaction, offset_text


def _detect(stage: Stage) -> bool:
    keys = keys_of(stage)
    return "conversation id" in keys and bool(
        {"conversation started at", "conversation rating", "state", "last updated", "created at"}
        & keys
    )


def _mapping(con, target, stage, columns, params):  # noqa: ARG001 - signature shared by all formats
    m = TicketMapping("intercom", target, stage, columns, params)
    m.field("ticket_id", "Conversation ID", "Conversation id", "id")
    m.field("created_at", "Conversation started at", "Started at", "Created at", conv=offset_text)
    m.field("updated_at", "Last updated", "Last updated at", "Updated at", conv=offset_text)
    m.field("status", "State", "Status")
    m.field("priority", "Priority")
    m.field("channel", "Channel", "Source", "Initiated via", "Source type")
    m.field("subject", "Title", "Subject", "Conversation title")
    m.field(
        "body",
        "First message",
        "Conversation first message",
        "First message body",
        "Body",
        "Message",
        "Initial message",
    )
    m.field("tags", "Tags", "Conversation tags")
    m.field("user_id", "User id", "User ID", "External id", "User external id")
    m.field("requester", "User email", "Email", "User name", "Name")
    m.field(
        "satisfaction",
        "Conversation rating",
        "Rating",
        conv=five_point_satisfaction,
        raw_key="satisfaction_raw",
    )
    return m.build()


register(
    Format(
        "intercom",
        "tickets",
        frozenset({"csv"}),
        _detect,
        _mapping,
        description="Intercom conversations CSV export (one row per conversation)",
    )
)
