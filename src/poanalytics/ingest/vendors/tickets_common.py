"""What every ticket format shares: TicketMapping, placeholders as NULL, satisfaction scales.

It also re-registers the generic ticket formats (csv, json, parquet, dataframe) so that placeholders such as ``--`` or
``N/A`` in status, priority and channel become NULL for plain files too (SeaMonkey's Bugzilla
export writes ``--`` for an unset priority).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from collections.abc import Mapping as MappingABC

from ...errors import ConfigError, did_you_mean
from ...sql import Params
from .. import formats as formats_mod
from ..formats import Format, register
from ..mapping import (
    Columns,
    Expr,
    Mapping,
    check_user_columns,
    const_fields,
    generic_mapping,
)
from ..readers import Column, Stage
from ..targets import Target, simplify

# Values that mean "not set" in status / priority / channel columns (compared lower-cased, trimmed).
NULL_MARKERS = (
    "-",
    "--",
    "---",
    "\u2014",
    "n/a",
    "na",
    "none",
    "null",
    "nil",
    "(none)",
    "<none>",
    "unset",
    "not set",
)
PLACEHOLDER_FIELDS = ("status", "priority", "channel")

Conv = Callable[[str], str]


def placeholder_null(sql: str, params: Params) -> str:
    """``sql`` with the usual 'not set' placeholders turned into NULL."""
    return (
        f"(CASE WHEN list_contains({params.add(list(NULL_MARKERS))}, lower(trim(CAST({sql} AS VARCHAR)))) "
        f"THEN NULL ELSE {sql} END)"
    )


def word_satisfaction(sql: str) -> str:
    """Zendesk scores: good = 1, bad = 0, offered/unoffered (no answer) = NULL; anything else is kept
    as text, so the number check quarantines it with the value in the reason."""
    t = f"lower(trim(CAST({sql} AS VARCHAR)))"
    return (
        f"(CASE WHEN {t} IN ('good', 'good, i''m satisfied') THEN '1' "
        f"WHEN {t} IN ('bad', 'bad, i''m unsatisfied') THEN '0' "
        f"WHEN {t} IN ('offered', 'unoffered', '') THEN NULL ELSE CAST({sql} AS VARCHAR) END)"
    )


def five_point_satisfaction(sql: str) -> str:
    """A rating r of 1..5 becomes (r - 1) / 4; a rating outside 1..5 stays text and is quarantined."""
    t = f"trim(CAST({sql} AS VARCHAR))"
    r = f"try_cast({t} AS DOUBLE)"
    return (
        f"(CASE WHEN {t} = '' THEN NULL WHEN {r} BETWEEN 1 AND 5 THEN CAST(({r} - 1) / 4 AS VARCHAR) "
        f"WHEN {r} IS NOT NULL THEN 'rating ' || {t} || ' is outside 1..5' ELSE {t} END)"
    )


def offset_text(sql: str) -> str:
    """Times such as '2024-03-04 10:00:00 +0100' (a blank before the offset) as ISO 8601."""
    return rf"regexp_replace(trim(CAST({sql} AS VARCHAR)), '\s+([+-]\d{{2}}):?(\d{{2}})$', '\1:\2')"


def space_tags(sql: str) -> str:
    """Zendesk CSV tags: one string, tags separated by blanks."""
    t = f"trim(CAST({sql} AS VARCHAR))"
    return rf"(CASE WHEN {t} = '' THEN NULL ELSE regexp_split_to_array({t}, '\s+') END)"


class TicketMapping:
    """Builds a :class:`Mapping` for a vendor export: the user's ``columns=`` first, then the
    vendor's usual column names; every column not used becomes a property."""

    def __init__(
        self,
        name: str,
        target: Target,
        stage: Stage,
        columns: Columns | None,
        params: Params,
    ) -> None:
        self.name, self.target, self.stage, self.params = name, target, stage, params
        self.fields: dict[str, Expr] = {}
        self.extras: list[tuple[str, str]] = []
        self.notes: list[str] = []
        self.used: set[str] = set()
        self.user = check_user_columns(target, stage, columns, allow_const=True)
        self.fields.update(const_fields(target, columns, params))
        for canonical, source in self.user.items():
            col = stage.column(source)
            assert col is not None
            self.fields[canonical] = Expr(col.expr, col.type, source)
            self.used.add(source)

    def find(self, *names: str) -> Column | None:
        """The first unused column whose name matches one of ``names`` (loosely: case, blanks, _)."""
        by_simple: dict[str, Column] = {}
        for col in self.stage.columns:
            if col.name not in self.used:
                by_simple.setdefault(simplify(col.name), col)
        for name in names:
            hit = by_simple.get(simplify(name))
            if hit is not None:
                return hit
        return None

    def field(
        self,
        canonical: str,
        *names: str,
        conv: Conv | None = None,
        type_: str | None = None,
        raw_key: str | None = None,
    ) -> Column | None:
        """Map ``canonical`` to the first column named in ``names`` (unless the user mapped it),
        converting it with ``conv``; ``raw_key`` also keeps the raw value as that property."""
        if canonical in self.fields:
            expr = self.fields[canonical]
            col = self.stage.column(expr.label)
        else:
            col = self.find(*names)
            if col is None:
                return None
            self.used.add(col.name)
            expr = Expr(col.expr, col.type, col.name)
        raw = expr.sql
        if conv is not None:
            expr = Expr(conv(raw), type_ or "VARCHAR", expr.label)
        self.fields[canonical] = expr
        if raw_key:
            self.extras.append((raw_key, raw))
        return col

    def expr(self, canonical: str, sql: str, type_: str, label: str) -> None:
        """Map ``canonical`` to an SQL expression (nested JSON values), unless the user mapped it."""
        if canonical not in self.fields:
            self.fields[canonical] = Expr(sql, type_, label)

    def use(self, *names: str) -> None:
        """Mark columns as consumed (they do not become properties)."""
        self.used.update(names)

    def extra(self, key: str, sql: str) -> None:
        self.extras.append((key, sql))

    def build(
        self,
        *,
        rest: bool = True,
        rename: MappingABC[str, str] | None = None,
        skip: Iterable[str] = (),
    ) -> Mapping:
        missing = [f.name for f in self.target.fields if f.required and f.name not in self.fields]
        if missing:
            free = [
                n for n in self.stage.names if n not in self.used
            ]  # a used column is not missing
            raise ConfigError(
                f"the {self.name} export has no {' or '.join(missing)} column. Columns found: "
                + ", ".join(repr(n) for n in self.stage.names[:20])
                + "".join(
                    f" ({m}: {did_you_mean(m, free).strip()})"
                    for m in missing
                    if did_you_mean(m, free)
                ),
                code="ingest.missing_field",
                file=self.stage.input.label,
                hint="map them with columns={"
                + ", ".join(f"'{m}': '<source column>'" for m in missing)
                + "}, or pass another format=",
            )
        for name in PLACEHOLDER_FIELDS:
            if name in self.fields:
                e = self.fields[name]
                self.fields[name] = Expr(placeholder_null(e.sql, self.params), "VARCHAR", e.label)
        if rest:
            rename = rename or {}
            skipped = set(skip)
            for col in self.stage.columns:
                if col.name not in self.used and col.name not in skipped:
                    self.extras.append((rename.get(col.name, col.name), col.json_expr or col.expr))
        return Mapping(format=self.name, fields=self.fields, extras=self.extras, notes=self.notes)


def json_path(params: Params, path: str, *, text: bool = True) -> str:
    """A value inside a JSON stage's record (``_json``), the path bound as a parameter."""
    return f"(_json{'->>' if text else '->'}{params.add(path)})"


# -- the generic ticket formats, with placeholders as NULL ------------------------------------------


def _generic(container: str) -> Format:
    def mapping(con, target, stage, columns, params):  # noqa: ARG001 - signature shared by all formats
        m = generic_mapping(target, stage, columns, format_name=container, params=params)
        for name in PLACEHOLDER_FIELDS:
            if name in m.fields:
                e = m.fields[name]
                m.fields[name] = Expr(placeholder_null(e.sql, params), "VARCHAR", e.label)
        return m

    return Format(
        container,
        "tickets",
        frozenset({container}),
        lambda stage: True,
        mapping,
        description=f"any {container} with one row per ticket, mapped by column names; "
        "placeholders such as '--' or 'N/A' in status, priority and channel are NULL",
    )


formats_mod.formats_for("tickets")  # the built-in generic formats first (a no-op while they load)
for _container in formats_mod.GENERIC:
    register(_generic(_container))
