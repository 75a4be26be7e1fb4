"""What a funnel or retention counts (F17): users (the default), sessions, or an id in a property.

``unit="user"`` counts ``user_id``; ``unit="session"`` counts a user's sessions (``session_id``, taken
with its user, since GA4 and Amplitude number sessions per user); ``unit={"property": "company_id"}``
counts the values of an event property, as PostHog's group aggregation counts accounts. The metric
then reads a view of the events whose ``user_id`` is the unit's id, so every rule (one attempt set,
one window, one result per unit) applies to the unit unchanged. Events without the unit's value are
left out; ``left_out_sql`` counts them for the result's warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PoaWarning, did_you_mean, warn
from ..sql import Params
from .engine import DUCKDB, Dialect
from .predicates import prop_expr
from .spec import MetricError

UNIT_NAMES = ("user", "session")


@dataclass(frozen=True)
class Unit:
    """``kind`` is "user", "session" or "property" (then ``prop`` names the property)."""

    kind: str = "user"
    prop: str | None = None

    @property
    def label(self) -> str:
        """How the unit is named in messages: "user", "session", "company_id"."""
        return self.prop if self.kind == "property" and self.prop else self.kind

    def id_sql(self, params: Params, dialect: Dialect = DUCKDB) -> str | None:
        """The unit's id as SQL over the events table (NULL when an event has none); None for users."""
        if self.kind == "session":
            return (
                "CASE WHEN nullif(session_id, '') IS NOT NULL THEN user_id || '/' || session_id END"
            )
        if self.kind == "property" and self.prop:
            return f"nullif({prop_expr(self.prop, params, dialect)}, '')"
        return None


def parse_unit(value: Any, area: str) -> Unit:
    """``"user"``, ``"session"`` or ``{"property": NAME}`` as a Unit, else ``{area}.unit``."""
    if value is None or isinstance(value, Unit):
        return value or Unit()
    if isinstance(value, str) and value in UNIT_NAMES:
        return Unit(value)
    if (
        isinstance(value, Mapping)
        and set(value) == {"property"}
        and isinstance(value["property"], str)
        and value["property"]
    ):
        return Unit("property", value["property"])
    hint = did_you_mean(value, UNIT_NAMES) if isinstance(value, str) else ""
    raise MetricError(
        f"cannot count by unit {value!r}.{hint}",
        code=f"{area}.unit",
        hint='use unit="user" (default), unit="session" or unit={"property": "company_id"}',
    )


def unit_source(unit: Unit, params: Params, *, table: str, dialect: Dialect = DUCKDB) -> str:
    """The events as the metric reads them: the table itself, or a view whose ``user_id`` is the
    unit's id, without the events that have none (rowid kept for the funnel's tie order)."""
    src = dialect.table(table)
    expr = unit.id_sql(params, dialect)
    if expr is None:
        return src
    return f"({dialect.with_user_id(src, expr)} WHERE ({expr}) IS NOT NULL)"


def left_out_sql(
    unit: Unit, params: Params, where: str, *, table: str, dialect: Dialect = DUCKDB
) -> str | None:
    """SQL counting the events matching ``where`` that have no value for the unit (None for users)."""
    expr = unit.id_sql(params, dialect)
    if expr is None:
        return None
    return f"SELECT count(*) FROM {dialect.table(table)} WHERE ({expr}) IS NULL AND ({where})"


def left_out_warning(unit: Unit, count: int, what: str, area: str) -> list[PoaWarning]:
    """The note a result carries when events were left out for want of the unit's value
    (``{area}.unit_missing``, also issued as a Python warning)."""
    if not count:
        return []
    column = "session_id" if unit.kind == "session" else f"property {unit.prop!r}"
    warning = PoaWarning(
        f"{count:,} {what} have no {column} and are left out (counted by {unit.label}, F17)",
        code=f"{area}.unit_missing",
        hint=f"fill in {column} at load time, or count by another unit",
    )
    warn(warning)
    return [warning]
