"""How a stage's columns become a target's fields.

A format adapter (generic, Segment, Zendesk, ...) returns a :class:`Mapping`: for each canonical
field an SQL expression over the stage, plus the expressions that make up ``properties``. The
generic mapping finds fields by their usual names, takes the user's ``columns=`` overrides, and
turns every other column into a property, so nothing in the source is dropped. A ``columns=``
value may also be a :class:`Const`: the same value for every row (a file of purchases with no event
column: ``columns={"event": Const("purchase")}``).
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, did_you_mean, unknown_name
from ..sql import Params
from .readers import Stage
from .targets import Target, simplify


@dataclass(frozen=True)
class Const:
    """A fixed value for a canonical field, for sources that lack the column:
    ``columns={"event": Const("purchase")}`` (CLI: ``--const event=purchase``). Text, a number or
    a bool; a dict for ``properties``."""

    value: Any

    def __post_init__(self) -> None:
        if self.value is None or not isinstance(self.value, (str, int, float, bool, dict)):
            raise ConfigError(
                f"Const({self.value!r}): a fixed value must be text, a number or a bool "
                "(a dict for properties)",
                code="ingest.const",
                hint="write it like Const('purchase'); to leave a field empty, do not map it",
            )

    def __str__(self) -> str:
        return f"Const({self.value!r})"


def const_fields(
    target: Target, columns: MappingABC[str, Any] | None, params: Params
) -> dict[str, Expr]:
    """The fields the user fixed with :class:`Const` (checked by :func:`check_user_columns`)."""
    import json

    out = {}
    for canonical, source in (columns or {}).items():
        if not isinstance(source, Const):
            continue
        kind = target.field(canonical).kind
        value = source.value
        if kind == "json":
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{source} for {canonical}: properties must be a dict",
                    code="ingest.const",
                    hint="write it like Const({'plan': 'pro'})",
                )
            text = json.dumps(value)
        elif isinstance(value, dict):
            raise ConfigError(
                f"{source} for {canonical}: a dict only fits properties",
                code="ingest.const",
                hint="give text or a number",
            )
        elif isinstance(value, bool):
            text = str(value).lower()
        else:
            text = str(value)
        out[canonical] = Expr(f"CAST({params.add(text)} AS VARCHAR)", "VARCHAR", str(source))
    return out


# What ``columns=`` takes: canonical field -> source column name, or a fixed value.
Columns = MappingABC[str, "str | Const"]


@dataclass
class Expr:
    sql: str  # SQL over the stage relation (alias s)
    type: str = "VARCHAR"
    label: str = ""  # the source column messages name


@dataclass
class Mapping:
    format: str
    fields: dict[str, Expr]
    extras: list[tuple[str, str]] = field(
        default_factory=list
    )  # (property key, SQL) added to properties
    notes: list[str] = field(default_factory=list)

    def label(self, name: str) -> str:
        expr = self.fields.get(name)
        return expr.label if expr and expr.label else name


def check_user_columns(
    target: Target,
    stage: Stage,
    columns: MappingABC[str, Any] | None,
    *,
    allow_const: bool = False,
) -> dict[str, str]:
    """Validate ``columns={canonical: source}``; unknown names on either side get a 'did you mean'.
    Returns the columns mapped by name; :class:`Const` values (``allow_const``: the formats that
    take them) are left to :func:`const_fields`."""
    if not columns:
        return {}
    out = {}
    for canonical, source in columns.items():
        if canonical not in target.names:
            raise unknown_name(
                f"{target.kind} field",
                canonical,
                target.names,
                code="ingest.unknown_field",
                hint=f"map one of the {target.kind} fields: " + ", ".join(target.names),
            )
        if isinstance(source, Const):
            if not allow_const:
                raise ConfigError(
                    f"{source} for {canonical}: this format does not take fixed values",
                    code="ingest.const_unsupported",
                    file=stage.input.label,
                    hint="map the field to a column of the file, or load it as a generic table "
                    "(format='csv', 'json', 'parquet' or 'dataframe')",
                )
            continue
        if not isinstance(source, str):
            raise ConfigError(
                f"columns={{{canonical!r}: {source!r}}}: a source must be a column name or a Const",
                code="ingest.columns",
                file=stage.input.label,
                hint="write it like columns={'user_id': 'CustomerID', 'event': Const('purchase')}",
            )
        if stage.column(source) is None:
            raise ConfigError(
                f"column {source!r} (mapped to {canonical}) is not in the file.{did_you_mean(source, stage.names)} "
                f"Columns found: {', '.join(repr(n) for n in stage.names[:20])}",
                code="ingest.unknown_column",
                file=stage.input.label,
                column=source,
                hint="fix the name in columns= (or --map), it must match the header exactly",
            )
        out[canonical] = source
    return out


def generic_mapping(
    target: Target,
    stage: Stage,
    columns: MappingABC[str, Any] | None,
    *,
    format_name: str,
    params: Params,
) -> Mapping:
    """Map by the user's columns, then by usual names; every other column becomes a property."""
    chosen = check_user_columns(target, stage, columns, allow_const=True)
    fixed = const_fields(target, columns, params)
    used = set(chosen.values())
    by_simple: dict[str, str] = {}
    for name in stage.names:
        by_simple.setdefault(simplify(name), name)
    for f in target.fields:
        if f.name in chosen or f.name in fixed:
            continue
        for alias in (f.name, *f.aliases):
            hit = by_simple.get(simplify(alias))
            if hit is not None and hit not in used:
                chosen[f.name] = hit
                used.add(hit)
                break
    missing = [
        f.name for f in target.fields if f.required and f.name not in chosen and f.name not in fixed
    ]
    if missing and len(stage.names) == 1 and stage.container == "csv":
        only = stage.names[0]
        if any(c in only for c in " \t,;|:"):
            raise ConfigError(
                f"the header was read as one column, {only[:120]!r}: no delimiter was found "
                "between the column names",
                code="ingest.no_delimiter",
                file=stage.input.label,
                hint="pass the delimiter: delimiter=';' (or '\\t', '|', ...), or "
                "delimiter='whitespace' for columns aligned with blanks (CLI: --delimiter)",
            )
    if missing:
        # suggest only columns no field uses: a used one is not missing
        free = [n for n in stage.names if n not in used]
        guesses = "; ".join(
            f"{m}: {did_you_mean(m, free).strip() or 'no similar column'}" for m in missing
        )
        raise ConfigError(
            f"cannot find the {', '.join(missing)} column(s) among {', '.join(repr(n) for n in stage.names[:20])}."
            f" ({guesses})",
            code="ingest.missing_field",
            file=stage.input.label,
            hint="name them with columns={"
            + ", ".join(f"'{m}': '<source column>'" for m in missing)
            + "} (CLI: --map "
            + " --map ".join(f"{m}=<source column>" for m in missing)
            + ")",
        )
    fields = dict(fixed)
    for canonical, source in chosen.items():
        col = stage.column(source)
        assert col is not None
        fields[canonical] = Expr(col.expr, col.type, source)
    extras = [(c.name, c.json_expr or c.expr) for c in stage.columns if c.name not in used]
    return Mapping(format=format_name, fields=fields, extras=extras)
