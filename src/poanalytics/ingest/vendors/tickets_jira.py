"""Jira issues (the CSV export of an issue search, "all fields" or "current fields").

Jira repeats a header once per value (``Labels``, ``Labels``, ``Component/s``, ...); the reader
names the copies ``Labels_1``, ``Labels_2`` and so on, and they are put back together here: all
``Labels*`` columns become the tags, every other repeated column becomes one list property.
Dates come as ``12/Jan/24 3:45 PM`` (read by the month-name formats of the timestamp parser).
"""

from __future__ import annotations

import re

from ..formats import Format, keys_of, register
from ..readers import Stage
from .tickets_common import TicketMapping, five_point_satisfaction

# well-known columns kept under a short property name
RENAME = {
    "issue id": "issue_id",
    "issue type": "issue_type",
    "component/s": "components",
    "components": "components",
    "resolution": "resolution",
    "resolved": "resolved",
    "assignee": "assignee",
    "project key": "project_key",
    "project name": "project",
    "fix version/s": "fix_versions",
    "affects version/s": "affects_versions",
}


def _detect(stage: Stage) -> bool:
    keys = keys_of(stage)
    return {"issue key", "summary"} <= keys and bool({"issue id", "issue type", "reporter"} & keys)


def _groups(stage: Stage) -> dict[str, list[str]]:
    """Columns by their header before the reader's _1, _2 suffixes (only real repeats)."""
    names = set(stage.names)
    groups: dict[str, list[str]] = {}
    for name in stage.names:
        m = re.fullmatch(r"(.+)_(\d+)", name)
        base = m.group(1) if m and m.group(1) in names else name
        groups.setdefault(base, []).append(name)
    return groups


def _non_empty_list(exprs: list[str]) -> str:
    items = ", ".join(f"nullif(trim({e}), '')" for e in exprs)
    return (
        f"(CASE WHEN len(list_filter([{items}], lambda v: v IS NOT NULL)) = 0 THEN NULL "
        f"ELSE list_filter([{items}], lambda v: v IS NOT NULL) END)"
    )


def _mapping(con, target, stage, columns, params):  # noqa: ARG001 - signature shared by all formats
    m = TicketMapping("jira", target, stage, columns, params)
    m.field("ticket_id", "Issue key", "Key")
    m.field("subject", "Summary")
    m.field("body", "Description")
    m.field("status", "Status")
    m.field("priority", "Priority")
    m.field("created_at", "Created")
    m.field("updated_at", "Updated")
    m.field("requester", "Reporter", "Creator")
    m.field(
        "satisfaction",
        "Satisfaction rating",
        "Satisfaction",
        conv=five_point_satisfaction,
        raw_key="satisfaction_raw",
    )
    groups = _groups(stage)
    labels = [n for n in groups.get("Labels", []) if n not in m.used]
    if "tags" not in m.fields and labels:
        exprs = [c.expr for n in labels if (c := stage.column(n)) is not None]
        m.expr("tags", _non_empty_list(exprs), "VARCHAR[]", "Labels")
        m.use(*labels)
    for base, names in groups.items():
        free = [n for n in names if n not in m.used]
        if not free:
            continue
        key = RENAME.get(base.lower(), base)
        if len(names) > 1:
            exprs = [c.expr for n in free if (c := stage.column(n)) is not None]
            m.extra(key, _non_empty_list(exprs))
        else:
            col = stage.column(free[0])
            assert col is not None
            m.extra(key, col.expr)
        m.use(*free)
    return m.build()


register(
    Format(
        "jira",
        "tickets",
        frozenset({"csv"}),
        _detect,
        _mapping,
        description="Jira issue search CSV export (repeated Labels columns become the tags)",
    )
)
