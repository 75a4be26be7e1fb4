"""The canonical tables loaders write to, with their fields and the source names that map to them."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # id | text | timestamp | json | number | tags
    required: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    kind: str  # events | tickets | notes
    table: str
    fields: tuple[Field, ...]
    write: str  # append (events: de-duplicated by content/id) | upsert (by source_key)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def simplify(name: str) -> str:
    """Compare column names loosely: 'User ID', 'user_id' and 'userId' are one name."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


EVENTS = Target(
    kind="events",
    table="events",
    write="append",
    fields=(
        Field(
            "user_id",
            "id",
            True,
            (
                "user_id",
                "userid",
                "user",
                "distinct_id",
                "person_id",
                "customer_id",
                "case:concept:name",
                "case_id",
                "uid",
                "visitor_id",
            ),
        ),
        Field(
            "event",
            "id",
            True,
            ("event", "event_name", "event_type", "action", "activity", "concept:name", "name"),
        ),
        Field(
            "ts",
            "timestamp",
            True,
            (
                "ts",
                "timestamp",
                "time",
                "event_time",
                "datetime",
                "time:timestamp",
                "occurred_at",
                "created_at",
                "date",
            ),
        ),
        Field("session_id", "id", False, ("session_id", "$session_id", "session")),
        Field("properties", "json", False, ("properties", "props", "event_properties")),
        Field(
            "source_key", "id", False, ("message_id", "insert_id", "$insert_id", "event_id", "uuid")
        ),
    ),
)

TICKETS = Target(
    kind="tickets",
    table="tickets",
    write="upsert",
    fields=(
        Field(
            "ticket_id",
            "id",
            True,
            (
                "ticket_id",
                "id",
                "issue_id",
                "issue_key",
                "key",
                "number",
                "conversation_id",
                "ticket",
            ),
        ),
        Field(
            "user_id",
            "id",
            False,
            ("user_id", "customer_id", "external_id", "requester_external_id"),
        ),
        Field(
            "requester",
            "id",
            False,
            (
                "requester",
                "requester_email",
                "reporter",
                "email",
                "author",
                "customer",
                "user",
                "contact",
            ),
        ),
        Field(
            "created_at",
            "timestamp",
            True,
            ("created_at", "created", "date_created", "opened_at", "submitted_at", "date"),
        ),
        Field(
            "updated_at",
            "timestamp",
            False,
            (
                "updated_at",
                "updated",
                "last_updated",
                "modified",
                "resolved",
                "solved_at",
                "closed_at",
            ),
        ),
        Field("status", "id", False, ("status", "state")),
        Field("priority", "id", False, ("priority", "severity", "urgency")),
        Field("channel", "id", False, ("channel", "via", "source", "medium")),
        Field("subject", "text", False, ("subject", "summary", "title")),
        Field(
            "body", "text", False, ("body", "description", "text", "message", "content", "comment")
        ),
        Field("tags", "tags", False, ("tags", "labels", "label", "tag")),
        Field(
            "satisfaction",
            "number",
            False,
            ("satisfaction", "satisfaction_score", "csat", "rating"),
        ),
        Field("properties", "json", False, ("properties",)),
    ),
)

NOTES = Target(
    kind="notes",
    table="notes",
    write="upsert",
    fields=(
        Field("note_id", "id", True, ("note_id", "id", "interview_id", "response_id")),
        Field(
            "participant",
            "id",
            False,
            ("participant", "respondent", "interviewee", "person", "name"),
        ),
        Field("user_id", "id", False, ("user_id", "customer_id")),
        Field(
            "date", "timestamp", False, ("date", "interview_date", "created_at", "date_submitted")
        ),
        Field("segment", "id", False, ("segment", "persona", "plan", "cohort")),
        Field("title", "text", False, ("title", "subject")),
        Field("text", "text", True, ("text", "body", "notes", "content", "transcript")),
        Field("properties", "json", False, ("properties",)),
    ),
)

TARGETS = {t.kind: t for t in (EVENTS, TICKETS, NOTES)}
