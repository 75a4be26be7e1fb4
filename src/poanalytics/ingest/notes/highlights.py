"""The ``highlights_csv`` notes format: one row per highlight, as Dovetail, Condens or EnjoyHQ export
them; the notes are the distinct note (source, interview) titles. Reshaped in DuckDB.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass

import duckdb

from ...db import quote_ident
from ...errors import ConfigError
from .. import readers
from ..mapping import Expr, check_user_columns
from ..sources import Input
from ..targets import NOTES
from .common import NotesStage, find_column, nonblank, notes_stage, text_base

# column names that mark a CSV as a highlights export (detection), and the wider set used to map it
HIGHLIGHT_MARKERS = ("highlight", "highlight text", "highlights", "quote", "excerpt")
HIGHLIGHT_COLUMNS = (*HIGHLIGHT_MARKERS, "text", "content", "snippet", "observation")
HL_ROLES: dict[str, tuple[str, ...]] = {
    "note_id": (
        "note id",
        "source id",
        "interview id",
        "document id",
        "session id",
        "recording id",
    ),
    "title": (
        "note",
        "note title",
        "note name",
        "source",
        "source title",
        "interview",
        "interview title",
        "document",
        "document title",
        "session",
        "session title",
        "transcript",
        "recording",
        "title",
    ),
    "participant": (
        "participant",
        "participant name",
        "interviewee",
        "respondent",
        "person",
        "customer",
        "speaker",
        "name",
    ),
    "user_id": ("user id", "customer id", "participant id", "user email", "email"),
    "date": (
        "date",
        "interview date",
        "session date",
        "note date",
        "created at",
        "created",
        "created date",
    ),
    "segment": ("segment", "persona", "cohort", "plan"),
}
TAG_COLUMNS = ("tags", "tag", "labels", "codes", "themes")


@dataclass
class _Roles:
    """The columns of a highlights export: the highlight text, the note's fields, the tags, and
    the columns taken (the others become properties)."""

    quote: str
    role: dict[str, str]  # canonical field -> column
    tags: str | None
    used: set[str]


def _roles(st: readers.Stage, inp: Input, columns: MappingABC[str, str] | None) -> _Roles:
    """Which column plays which part: the ones given in ``columns=``, the others found by name."""
    user = check_user_columns(NOTES, st, columns)
    if "properties" in user:
        raise ConfigError(
            "properties of a highlights export are its other columns; they cannot be mapped",
            code="ingest.unknown_field",
            file=inp.label,
            hint="drop properties from columns=",
        )
    used = set(user.values())
    role: dict[str, str] = {}
    quote = user.get("text") or find_column(st.names, HIGHLIGHT_COLUMNS, used)
    if quote is None:
        raise ConfigError(
            f"no highlight column among {', '.join(repr(n) for n in st.names[:20])}",
            code="ingest.missing_field",
            file=inp.label,
            hint="name it with columns={'text': '<highlight column>'}",
        )
    used.add(quote)
    for canonical, candidates in HL_ROLES.items():
        hit = user.get(canonical) or find_column(st.names, candidates, used)
        if hit:
            role[canonical] = hit
            used.add(hit)
    tags = find_column(st.names, TAG_COLUMNS, used)
    if tags:
        used.add(tags)
    return _Roles(quote, role, tags, used)


def _note_key(st: readers.Stage, inp: Input, r: _Roles, notes: list[str]) -> tuple[str, str | None]:
    """The expression that names a highlight's note (its note id or title column; without either,
    the file's name for all) and the column it comes from."""
    key_col = r.role.get("note_id") or r.role.get("title")
    if key_col is not None:
        return nonblank(quote_ident(key_col)), key_col
    key = st.params.add(inp.path.stem if inp.path else "highlights")
    notes.append(
        f"highlights_csv: {inp.label} has no note/source/interview column; all its highlights "
        "form one note named after the file"
    )
    return key, None


def _note_columns(
    st: readers.Stage, r: _Roles, key_col: str | None
) -> tuple[list[str], dict[str, Expr], list[tuple[str, str]]]:
    """The aggregates that make one note of its highlights: its fields (each the first value in
    the file), its text (the highlights, one paragraph each), the highlights as a list, and the
    other columns as properties (a list when the note's rows disagree). Returns the SELECT list,
    the fields and the properties."""
    q = quote_ident

    def first(col: str) -> str:
        return f"arg_min({nonblank(q(col))}, _row) FILTER (WHERE {nonblank(q(col))} IS NOT NULL)"

    out = ["min(_row) AS _row", f"any_value(_note) AS {q('note_id')}"]
    fields: dict[str, Expr] = {"note_id": Expr(q("note_id"), "VARCHAR", key_col or "note")}
    for canonical, col in r.role.items():
        if canonical != "note_id":
            out.append(f"{first(col)} AS {q(canonical)}")
            fields[canonical] = Expr(q(canonical), "VARCHAR", col)
    if "title" not in r.role and key_col is None:
        out.append(f"any_value(_note) AS {q('title')}")
        fields["title"] = Expr(q("title"), "VARCHAR", "note")
    out.append(f"string_agg(_quote, chr(10) || chr(10) ORDER BY _row) AS {q('text')}")
    fields["text"] = Expr(q("text"), "VARCHAR", r.quote)
    out.append(
        "list(struct_pack(position := CAST(_pos AS INTEGER), quote := _quote, tags := _tags, "
        "line := CAST(_row AS INTEGER)) ORDER BY _row) FILTER (WHERE _quote IS NOT NULL) AS _highlights"
    )
    extras = []
    others = [c for c in st.names if c not in r.used]
    for i, col in enumerate(others):
        alias = f"_prop{i}"
        v = nonblank(q(col))
        out.append(
            f"CASE WHEN count(DISTINCT {v}) > 1 THEN to_json(list({v} ORDER BY _row) FILTER (WHERE {v} "
            f"IS NOT NULL)) ELSE to_json(min({v})) END AS {q(alias)}"
        )
        extras.append((col, q(alias)))
    return out, fields, extras


def stage_highlights(
    con: duckdb.DuckDBPyConnection, inp: Input, columns: MappingABC[str, str] | None
) -> NotesStage:
    """A highlights export as notes: its rows grouped by note (``_note_key``), each group one row
    with the note's fields and highlights (``_note_columns``), in a temp table."""
    st = text_base(con, inp)
    r = _roles(st, inp, columns)
    p = st.params
    notes: list[str] = []
    q = quote_ident
    key_expr, key_col = _note_key(st, inp, r, notes)
    tag_expr = (
        f"list_filter(list_transform(regexp_split_to_array(coalesce({q(r.tags)}, ''), '[,;|]'), "
        "lambda v: trim(v)), lambda v: v <> '')"
        if r.tags
        else "CAST([] AS VARCHAR[])"
    )
    out, fields, extras = _note_columns(st, r, key_col)
    quote = nonblank(q(r.quote))
    rows = (
        f"SELECT *, {key_expr} AS _note, {quote} AS _quote, {tag_expr} AS _tags, "
        f"CASE WHEN {quote} IS NOT NULL THEN row_number() OVER (PARTITION BY {key_expr}, "
        f"{quote} IS NULL ORDER BY _row) END AS _pos FROM {st.relation}"
    )
    relation = f"(SELECT {', '.join(out)} FROM ({rows}) GROUP BY _note)"
    table = quote_ident(readers._new_name("notes"))
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {relation}", p.used_in(relation))
    st.temp.append("TABLE:" + table.strip('"'))
    return notes_stage(st, relation=table, fields=fields, extras=extras, mapping_notes=notes)
