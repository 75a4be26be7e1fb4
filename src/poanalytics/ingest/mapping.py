"""How a stage's columns become a target's fields.

A format adapter (generic, Segment, Zendesk, ...) returns a :class:`Mapping`: for each canonical
field an SQL expression over the stage, plus the expressions that make up ``properties``. The
generic mapping finds fields by their usual names, takes the user's ``columns=`` overrides, and
turns every other column into a property, so nothing in the source is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field

from ..errors import ConfigError, did_you_mean, unknown_name
from .readers import Stage
from .sql import Params
from .targets import Target, simplify


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
    target: Target, stage: Stage, columns: MappingABC[str, str] | None
) -> dict[str, str]:
    """Validate ``columns={canonical: source}``; unknown names on either side get a 'did you mean'."""
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
    columns: MappingABC[str, str] | None,
    *,
    format_name: str,
    params: Params,
) -> Mapping:
    """Map by the user's columns, then by usual names; every other column becomes a property."""
    chosen = check_user_columns(target, stage, columns)
    used = set(chosen.values())
    by_simple: dict[str, str] = {}
    for name in stage.names:
        by_simple.setdefault(simplify(name), name)
    for f in target.fields:
        if f.name in chosen:
            continue
        for alias in (f.name, *f.aliases):
            hit = by_simple.get(simplify(alias))
            if hit is not None and hit not in used:
                chosen[f.name] = hit
                used.add(hit)
                break
    missing = [f.name for f in target.fields if f.required and f.name not in chosen]
    if missing:
        guesses = "; ".join(
            f"{m}: {did_you_mean(m, stage.names).strip() or 'no similar column'}" for m in missing
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
    fields = {}
    for canonical, source in chosen.items():
        col = stage.column(source)
        assert col is not None
        fields[canonical] = Expr(col.expr, col.type, source)
    extras = [(c.name, c.json_expr or c.expr) for c in stage.columns if c.name not in used]
    return Mapping(format=format_name, fields=fields, extras=extras)
