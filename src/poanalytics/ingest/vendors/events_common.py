"""What the vendor event formats share: reading fields from JSON records or table columns."""

from __future__ import annotations

import json

from ...errors import ConfigError
from ...sql import Params
from ..mapping import Columns, Expr, Mapping, check_user_columns, const_fields
from ..readers import Stage
from ..targets import Target


class Fields:
    """Field expressions over a stage, whether it is JSON (``s._json``) or a table (columns)."""

    def __init__(self, stage: Stage, params: Params) -> None:
        self.stage, self.params = stage, params

    def path(self, dotted: str) -> str:
        return "$" + "".join("." + json.dumps(part) for part in dotted.split("."))

    def text(self, dotted: str) -> str | None:
        """The value as text, or None when the source has no such field (tables: top level only)."""
        top = dotted.split(".")[0]
        if self.stage.is_json:
            return (
                f"json_extract_string(s._json, {self.params.add(self.path(dotted))})"
                if self.has(top)
                else None
            )
        col = self.stage.column(top)
        if col is None:
            return None
        if "." not in dotted:
            return f"CAST(s.{col.expr} AS VARCHAR)" if col.type != "VARCHAR" else f"s.{col.expr}"
        rest = "$" + "".join("." + json.dumps(p) for p in dotted.split(".")[1:])
        return f"json_extract_string({self.as_json(col.expr, col.type)}, {self.params.add(rest)})"

    def json(self, dotted: str) -> str | None:
        """The value as JSON (objects and lists stay nested)."""
        top = dotted.split(".")[0]
        if self.stage.is_json:
            return (
                f"json_extract(s._json, {self.params.add(self.path(dotted))})"
                if self.has(top)
                else None
            )
        col = self.stage.column(top)
        if col is None:
            return None
        base = self.as_json(col.expr, col.type)
        if "." not in dotted:
            return base
        rest = "$" + "".join("." + json.dumps(p) for p in dotted.split(".")[1:])
        return f"json_extract({base}, {self.params.add(rest)})"

    @staticmethod
    def as_json(expr: str, type_: str) -> str:
        if type_.upper() == "VARCHAR":
            return f"try_cast(s.{expr} AS JSON)"
        if type_.upper() == "JSON":
            return f"s.{expr}"
        return f"to_json(s.{expr})"

    def has(self, name: str) -> bool:
        return name in self.stage.names

    def first(self, *names: str) -> str | None:
        """coalesce of the fields that exist, as text."""
        parts = [t for t in (self.text(n) for n in names) if t is not None]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def build(
    name: str,
    target: Target,
    stage: Stage,
    columns: Columns | None,
    fields: dict[str, Expr | None],
    params: Params,
) -> Mapping:
    """A Mapping from vendor field expressions; the user's ``columns=`` win; required ones must exist."""
    out = {k: v for k, v in fields.items() if v is not None}
    for canonical, source in check_user_columns(target, stage, columns, allow_const=True).items():
        col = stage.column(source)
        assert col is not None
        out[canonical] = Expr(f"s.{col.expr}" if not stage.is_json else col.expr, col.type, source)
    out.update(const_fields(target, columns, params))
    missing = [f.name for f in target.fields if f.required and f.name not in out]
    if missing:
        raise ConfigError(
            f"the {name} export has no {' or '.join(missing)} field. Fields found: "
            + ", ".join(repr(n) for n in stage.names[:20]),
            code="ingest.missing_field",
            file=stage.input.label,
            hint="map them with columns={"
            + ", ".join(f"'{m}': '<source field>'" for m in missing)
            + "}, or pass another format=",
        )
    return Mapping(format=name, fields=out)


def json_object_of(pairs: list[tuple[str, str | None]], params: Params) -> str:
    """A JSON object of (key, JSON-or-text SQL) pairs that exist; NULL values are dropped later."""
    kept = [(k, v) for k, v in pairs if v is not None]
    if not kept:
        return "'{}'::JSON"
    return "json_object(" + ", ".join(f"{params.add(k)}, {v}" for k, v in kept) + ")"


def merged(base: str | None, extra: str, params: Params) -> str:
    """base (a JSON object or NULL) with the extra object's non-null keys added."""
    b = base or "'{}'::JSON"
    return f"json_merge_patch(coalesce(CASE WHEN json_type({b}) = 'OBJECT' THEN {b} END, '{{}}'::JSON), {extra})"
