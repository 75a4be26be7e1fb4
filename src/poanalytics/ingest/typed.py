"""Typing the staged rows: the SELECT that gives one parsed column per field of the target, and for
each row the first check it fails (``_reason``, ``_column``; NULL when the row is valid).

:func:`typed_select` walks the target's fields and hands each to the step for its kind:

- ``_unmapped``: a field the source has no column for (NULL; a required one fails every row);
- ``_text_field`` (kinds id and text): blanks trimmed, '' as NULL, numeric ids as integers;
- ``_time_field``: the time parsed in the load's timezone (``timestamps.plan``);
- ``_number_field``, ``_tags_field``: a number, a list of tags;
- ``_json_field``: the properties object, with the source's unmapped columns merged in;
- ``_required``: a required field that came out empty.

Each step appends its columns and its checks (condition, reason, column label) to a
:class:`_Typed`; ``_assemble`` turns the checks into the ``_reason`` and ``_column`` CASEs (the
first failing check wins). The parameters are added in the order the steps run, so the SQL text
does not depend on how the steps are arranged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from ..config import Settings
from ..sql import Params, quote_ident
from . import readers, timestamps
from .mapping import Expr, Mapping
from .targets import Field, Target

# Identifiers (not names such as event or status) whose integral floats are integers: 17850.0 is
# the id 17850 (a pandas column of integer ids with a gap becomes float, and its CSV says 17850.0).
NUMERIC_IDS = frozenset({"user_id", "session_id", "source_key", "ticket_id", "note_id"})
# Text that stands for a missing value when pandas turned it into a string.
MISSING_IDS = ("nan", "NaN", "NAN", "None")


def _text(expr: str) -> str:
    """Text with surrounding blanks removed and '' as NULL. trim() copies every value and most have
    nothing to trim, so only values whose first or last character sorts below '!' (blanks, control
    characters, or the empty string) are trimmed: two comparisons, far cheaper than starts_with and
    ends_with for each blank."""
    x = f"CAST({expr} AS VARCHAR)"
    return f"(CASE WHEN {x} < '!' OR ({x})[-1] < '!' THEN nullif(trim({x}, ' \r\n\t'), '') ELSE {x} END)"


def _id(expr: str, type_: str) -> str:
    """An identifier as text: integral floats as integers, NaN/None/empty as NULL (missing)."""
    t = type_.upper()
    if t in {"DOUBLE", "FLOAT", "REAL"} or t.startswith("DECIMAL"):
        x = f"({expr})"
        return (
            f"(CASE WHEN NOT isfinite({x}::DOUBLE) THEN NULL WHEN {x} = trunc({x}) AND abs({x}) < 9e15 "
            f"THEN CAST(CAST({x} AS BIGINT) AS VARCHAR) ELSE CAST({x} AS VARCHAR) END)"
        )
    x = _text(expr)
    missing = ", ".join(f"'{m}'" for m in MISSING_IDS)
    return (
        f"(CASE WHEN {x}[-1] = '0' AND regexp_full_match({x}, '-?[0-9]+\\.0+') "
        f"THEN split_part({x}, '.', 1) WHEN strlen({x}) <= 4 AND {x} IN ({missing}) THEN NULL "
        f"ELSE {x} END)"
    )


def _starts_with_brace(text: str) -> str:
    """Whether text starts with '{' after blanks; the common case is one comparison."""
    return (
        f"(CASE WHEN {text} >= '{{' AND {text} < '|' THEN true "
        f"ELSE starts_with(ltrim({text}, ' \r\n\t'), '{{') END)"
    )


@dataclass
class _Typed:
    """The typed SELECT as the steps build it, and what they need to know about the load."""

    con: duckdb.DuckDBPyConnection
    st: readers.Stage
    mapping: Mapping
    tz: str
    timestamp_format: str | None
    settings: Settings
    detect: bool
    inner: list[str] = field(default_factory=lambda: ["s._row AS _row"])  # the parsed columns
    checks: list[tuple[str, str, str]] = field(default_factory=list)  # (condition, reason, label)

    @property
    def p(self) -> Params:
        return self.st.params

    def check(self, condition: str, reason: str, f: Field) -> None:
        """A check on the field's value; the row's reason is the first check it fails."""
        self.checks.append((condition, reason, self.mapping.label(f.name)))


def _col(f: Field) -> str:
    return quote_ident(f.name)


def _raw_col(f: Field) -> str:
    """The field's value as read (before parsing), kept for the checks and the quarantine."""
    return quote_ident("_in_" + f.name)


def _unmapped(t: _Typed, f: Field) -> None:
    """A field with no source column is NULL; a required one fails every row."""
    t.inner.append(f"NULL AS {_col(f)}")
    if f.required:
        t.checks.append(("true", t.p.add(f"{f.name} is not mapped"), f.name))


def _text_field(t: _Typed, f: Field, expr: Expr) -> None:
    """An id or a text: trimmed, '' as NULL (ids: integral floats as integers), within the length
    limit of the configuration."""
    col = _col(f)
    if f.name in NUMERIC_IDS:
        t.inner.append(f"{_id(expr.sql, expr.type)} AS {col}")
    else:
        t.inner.append(f"{_text(expr.sql)} AS {col}")
    limit = t.settings.max_name if f.kind == "id" else t.settings.max_text
    t.check(
        f"strlen({col}) > {int(limit)} AND length({col}) > {int(limit)}",
        f"'value is ' || length({col}) || ' characters long, over the limit of {int(limit)}; "
        f"shorten it or raise limits in conf/poanalytics.toml'",
        f,
    )


def _time_field(t: _Typed, f: Field, expr: Expr) -> None:
    """A time parsed by ``timestamps.plan``; local times at a daylight-saving change are marked so
    that the load counts them (``pipeline._count_dst``)."""
    col, raw_col = _col(f), _raw_col(f)
    naive: list[str] = []
    parsed = timestamps.plan(
        t.con,
        relation=f"{t.st.relation} AS s",
        expr=expr.sql,
        type_=expr.type,
        tz=t.tz,
        fmt=t.timestamp_format,
        params=t.p,
        file=t.st.input.label,
        column=t.mapping.label(f.name),
        detect=t.detect,
        naive=naive,
    )
    # typed sources (Parquet timestamps, epoch integers) need no text round trip
    is_text = expr.type.upper() == "VARCHAR"
    t.inner.append(f"{_text(expr.sql) if is_text else expr.sql} AS {raw_col}")
    t.inner.append(f"{parsed} AS {col}")
    if naive:  # a local time at a daylight-saving change: counted (see pipeline.process)
        dst = timestamps.dst_kind(f"coalesce({', '.join(naive)})", t.tz, t.p)
        t.inner.append(f"{dst} AS {quote_ident('_dst_' + f.name)}")
    if is_text:
        t.check(
            f"{raw_col} IS NOT NULL AND {col} IS NULL "
            f"AND regexp_matches({raw_col}, '{timestamps.BAD_OFFSET}')",
            f"'invalid UTC offset in ' || to_json(left({raw_col}, 80)) || "
            "'; offsets run from -12:00 to +14:00'",
            f,
        )
    t.check(
        f"{raw_col} IS NOT NULL AND {col} IS NULL",
        f"'cannot read ' || to_json(left({raw_col}::VARCHAR, 80)) || ' as a time; use ISO 8601 "
        f"(2024-03-04T10:00:00+01:00), epoch seconds/ms, or pass timestamp_format='",
        f,
    )
    t.check(
        f"{col} IS NOT NULL AND NOT {timestamps.in_range(col)}",
        f"'time ' || {col}::VARCHAR || ' is outside {timestamps.MIN_TS[:4]}-"
        f"{timestamps.MAX_TS[:4]}; check the unit of epoch numbers'",
        f,
    )


def _number_field(t: _Typed, f: Field, expr: Expr) -> None:
    """A number (DOUBLE); text that is not one fails the row."""
    col, raw_col = _col(f), _raw_col(f)
    t.inner.append(f"{_text(expr.sql)} AS {raw_col}")
    t.inner.append(f"try_cast({_text(expr.sql)} AS DOUBLE) AS {col}")
    t.check(
        f"{raw_col} IS NOT NULL AND {col} IS NULL",
        f"'expected a number, found ' || to_json(left({raw_col}, 80))",
        f,
    )


def _tags_field(t: _Typed, f: Field, expr: Expr) -> None:
    """A list of tags: a list column as it is, or text holding a JSON array or a list split at
    commas and semicolons; blanks trimmed and empty tags dropped."""
    col = _col(f)
    if expr.type.endswith("[]"):
        t.inner.append(
            f"list_filter(list_transform({expr.sql}, lambda x: trim(x::VARCHAR)), lambda x: x <> '') AS {col}"
        )
        return
    x = _text(expr.sql)
    t.inner.append(
        f"CASE WHEN {x} IS NULL THEN NULL WHEN json_valid({x}) AND json_type({x}) = 'ARRAY' "
        f"THEN list_filter(list_transform(CAST(json_extract_string({x}, '$[*]') AS VARCHAR[]), "
        f"lambda x: trim(x)), lambda x: x <> '') "
        f"ELSE list_filter(list_transform(regexp_split_to_array({x}, '[,;]'), lambda x: trim(x)), "
        f"lambda x: x <> '') END AS {col}"
    )


def _json_source(t: _Typed, f: Field, expr: Expr) -> tuple[str, str | None]:
    """The mapped properties column as JSON, checked to parse and to be an object. Returns the
    parsed column and, for text sources, the column holding the text (for the length check)."""
    raw_col = _raw_col(f)
    parsed = quote_ident("_json_" + f.name)
    text_col = None
    type_ = expr.type.upper()
    if type_ == "VARCHAR":
        # JSON parsing ignores blanks: no trim; parse once and check the parse
        t.inner.append(f"nullif(CAST({expr.sql} AS VARCHAR), '') AS {raw_col}")
        t.inner.append(f"try_cast({raw_col} AS JSON) AS {parsed}")
        t.check(
            f"{raw_col} IS NOT NULL AND {parsed} IS NULL",
            f"'not valid JSON: ' || to_json(left({raw_col}, 80))",
            f,
        )
        text_col = raw_col
    else:
        value = f"({expr.sql})" if type_ == "JSON" else f"to_json({expr.sql})"
        t.inner.append(f"{value} AS {parsed}")
    t.check(
        f"{parsed} IS NOT NULL AND NOT {_starts_with_brace(text_col or parsed + '::VARCHAR')}",
        t.p.add(f"{f.name} must be a JSON object"),
        f,
    )
    return parsed, text_col


def _json_field(t: _Typed, f: Field, expr: Expr | None) -> None:
    """The properties: the mapped JSON column, the source's other columns (``mapping.extras``)
    merged into it, within the size limit of the configuration."""
    col = _col(f)
    base, text_col = "NULL", None  # text_col: the properties as text, for the length check
    if expr is not None:
        base, text_col = _json_source(t, f, expr)
    if t.mapping.extras:
        pairs = ", ".join(f"{t.p.add(k)}, {v}" for k, v in t.mapping.extras)
        merged = quote_ident("_merged_" + f.name)
        t.inner.append(
            f"json_merge_patch(coalesce({base}, '{{}}'::JSON), json_object({pairs})) AS {merged}"
        )
        t.inner.append(f"CASE WHEN {merged}::VARCHAR = '{{}}' THEN NULL ELSE {merged} END AS {col}")
        text_col = f"{col}::VARCHAR"
    else:
        t.inner.append(f"{base} AS {col}")
    size = text_col or f"{col}::VARCHAR"
    limit = int(t.settings.max_properties)
    t.check(
        f"strlen({size}) > {limit}",
        f"'properties are ' || length({size}) || ' characters long, over the limit "
        f"of {limit}; drop columns you do not need'",
        f,
    )


def _required(t: _Typed, f: Field) -> None:
    """A required field that is empty: checked before every other check of the load."""
    empty = f"{_col(f)} IS NULL" if f.kind != "timestamp" else f"{_raw_col(f)} IS NULL"
    t.checks.insert(0, (empty, t.p.add(f"{f.name} is empty"), t.mapping.label(f.name)))


_KINDS: dict[str, Callable[[_Typed, Field, Expr], None]] = {
    "id": _text_field,
    "text": _text_field,
    "timestamp": _time_field,
    "number": _number_field,
    "tags": _tags_field,
}


def _assemble(t: _Typed) -> str:
    """The SELECT: the parsed columns, then the first failing check's reason and column label."""
    p = t.p
    reason = (
        "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r, _ in t.checks) + " END"
        if t.checks
        else "NULL"
    )
    column = (
        "CASE " + " ".join(f"WHEN {c} THEN {p.add(label)}" for c, _, label in t.checks) + " END"
        if t.checks
        else "NULL"
    )
    return (
        f"(SELECT *, {reason} AS _reason, {column} AS _column FROM "
        f"(SELECT {', '.join(t.inner)} FROM {t.st.relation} AS s))"
    )


def typed_select(
    con: duckdb.DuckDBPyConnection,
    target: Target,
    st: readers.Stage,
    mapping: Mapping,
    *,
    tz: str,
    timestamp_format: str | None,
    settings: Settings,
    detect: bool = True,
) -> str:
    """SELECT over the stage with one parsed column per field, plus _row, _reason and _column.
    ``detect=False`` reads times as ISO 8601 only, without a pass over the values first."""
    t = _Typed(con, st, mapping, tz, timestamp_format, settings, detect)
    for f in target.fields:
        expr = mapping.fields.get(f.name)
        if f.kind == "json" and (expr is not None or mapping.extras):
            _json_field(t, f, expr)
        elif expr is None:
            _unmapped(t, f)
            continue
        elif f.kind in _KINDS:
            _KINDS[f.kind](t, f, expr)
        if f.required:
            _required(t, f)
    return _assemble(t)
