"""GitHub issues: the REST API list (``GET /repos/{owner}/{repo}/issues``) saved as JSON.

The ticket id is ``owner/repo#number`` (from ``html_url`` or ``repository_url``; the bare number
when neither is there), so issues of several repositories do not collide. Pull requests are in the
same list (they carry a ``pull_request`` object): they are kept and tagged ``pull-request``.
API link fields (``*_url`` other than ``html_url``, ``node_id``) are left out of the properties;
nested users and milestones are reduced to their login and title.
"""

from __future__ import annotations

from ..formats import Format, keys_of, register
from ..readers import Stage
from .tickets_common import TicketMapping, json_path

USED = {
    "number",
    "title",
    "body",
    "state",
    "labels",
    "user",
    "created_at",
    "updated_at",
    "node_id",
    "assignee",
    "assignees",
    "milestone",
    "closed_by",
    "pull_request",
    "reactions",
}


def _detect(stage: Stage) -> bool:
    keys = keys_of(stage)
    return (
        stage.is_json
        and {"number", "title", "state"} <= keys
        and bool({"html_url", "labels", "user"} & keys)
    )


def _mapping(con, target, stage, columns, params):  # noqa: ARG001 - signature shared by all formats
    m = TicketMapping("github", target, stage, columns, params)
    names = set(stage.names)
    number = json_path(params, "$.number")
    repo = (
        f"coalesce(nullif(regexp_extract({json_path(params, '$.html_url')}, "
        r"'github\.com/([^/]+/[^/]+)/(issues|pull)/', 1), ''), "
        f"nullif(regexp_extract({json_path(params, '$.repository_url')}, 'repos/([^/]+/[^/]+)/?$', 1), ''))"
    )
    m.expr(
        "ticket_id",
        f"(CASE WHEN {repo} IS NULL THEN {number} ELSE {repo} || '#' || {number} END)",
        "VARCHAR",
        "number",
    )
    m.field("subject", "title")
    m.field("body", "body")
    m.field("status", "state")
    m.field("created_at", "created_at")
    m.field("updated_at", "updated_at")
    if "user" in names:
        m.expr("requester", json_path(params, "$.user.login"), "VARCHAR", "user")
    labels = (
        f"coalesce(CAST(json_extract_string(_json, {params.add('$.labels[*].name')}) AS VARCHAR[]), "
        "CAST([] AS VARCHAR[]))"
    )
    is_pr = (
        f"(json_type(_json, {params.add('$.pull_request')}) IS NOT NULL "
        f"AND json_type(_json, {params.add('$.pull_request')}) <> 'NULL')"
    )
    tags = f"list_concat({labels}, CASE WHEN {is_pr} THEN ['pull-request'] ELSE CAST([] AS VARCHAR[]) END)"
    m.expr("tags", f"(CASE WHEN len({tags}) = 0 THEN NULL ELSE {tags} END)", "VARCHAR[]", "labels")
    m.extra("number", f"CAST({number} AS BIGINT)")
    m.extra("repository", repo)
    m.extra("pull_request", is_pr)
    if "assignees" in names:
        m.extra(
            "assignees",
            f"CAST(json_extract_string(_json, {params.add('$.assignees[*].login')}) AS VARCHAR[])",
        )
    for key, path in (
        ("milestone", "$.milestone.title"),
        ("closed_by", "$.closed_by.login"),
        ("merged_at", "$.pull_request.merged_at"),
        ("reactions", "$.reactions.total_count"),
    ):
        if path.split(".")[1] in names:
            m.extra(key, json_path(params, path, text=False))
    m.use(*(USED & names))
    skip = [n for n in stage.names if n.endswith("url") and n != "html_url"]
    return m.build(skip=skip)


register(
    Format(
        "github",
        "tickets",
        frozenset({"json"}),
        _detect,
        _mapping,
        description="GitHub issues REST API list saved as JSON (pull requests tagged 'pull-request')",
    )
)
