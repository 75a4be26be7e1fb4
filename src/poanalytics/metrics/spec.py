"""The pieces metric queries are made of: steps with property filters, exclusions, and the
validation error. Parameters are parsed and checked in ``validate``."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import PoaError, did_you_mean


class MetricError(PoaError):
    """An invalid metric query. ``code`` is stable: tests and notebooks may match on it."""

    code = "metric"
    sql: str | None = None  # metric.engine: the statement DuckDB failed on, and its parameters
    params: Any = None


OPERATORS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "regex",
    "not_regex",
    "gt",
    "gte",
    "lt",
    "lte",
    "is_set",
    "is_not_set",
)
ALIASES = {
    "=": "eq",
    "==": "eq",
    "equals": "eq",
    "exact": "eq",
    "!=": "ne",
    "<>": "ne",
    "is_not": "ne",
    "not_equals": "ne",
    ">": "gt",
    ">=": "gte",
    "<": "lt",
    "<=": "lte",
}
NUMERIC = ("gt", "gte", "lt", "lte")
TEXT = ("contains", "not_contains", "starts_with", "ends_with", "regex", "not_regex")
PRESENCE = ("is_set", "is_not_set")


@dataclass(frozen=True)
class Cond:
    """A condition on one property's value: an operator (see ``OPERATORS``) and its value."""

    op: str
    value: Any = None


class Prop:
    """Conditions for ``Step(..., where={"prop": Prop.starts_with("C")})`` beyond equality.

    A property that an event does not carry matches only ``ne``, ``not_in``, ``not_contains``,
    ``not_regex`` and ``is_not_set`` (PostHog's rule). Text operators are case-sensitive (use
    ``regex("(?i)...")`` to ignore case); numeric comparisons read the value as a number (events
    whose value is not a number do not match).
    """

    @staticmethod
    def eq(value: Any) -> Cond:
        return Cond("eq", value)

    @staticmethod
    def ne(value: Any) -> Cond:
        return Cond("ne", value)

    @staticmethod
    def is_in(values: Any) -> Cond:
        return Cond("in", values)

    @staticmethod
    def not_in(values: Any) -> Cond:
        return Cond("not_in", values)

    @staticmethod
    def contains(text: Any) -> Cond:
        return Cond("contains", text)

    @staticmethod
    def not_contains(text: Any) -> Cond:
        return Cond("not_contains", text)

    @staticmethod
    def starts_with(text: Any) -> Cond:
        return Cond("starts_with", text)

    @staticmethod
    def ends_with(text: Any) -> Cond:
        return Cond("ends_with", text)

    @staticmethod
    def regex(pattern: Any) -> Cond:
        return Cond("regex", pattern)

    @staticmethod
    def not_regex(pattern: Any) -> Cond:
        return Cond("not_regex", pattern)

    @staticmethod
    def gt(number: Any) -> Cond:
        return Cond("gt", number)

    @staticmethod
    def gte(number: Any) -> Cond:
        return Cond("gte", number)

    @staticmethod
    def lt(number: Any) -> Cond:
        return Cond("lt", number)

    @staticmethod
    def lte(number: Any) -> Cond:
        return Cond("lte", number)

    @staticmethod
    def is_set() -> Cond:
        return Cond("is_set")

    @staticmethod
    def is_not_set() -> Cond:
        return Cond("is_not_set")


@dataclass(frozen=True)
class Filter:
    """One checked condition of a step: ``prop`` ``op`` ``value``."""

    prop: str
    op: str
    value: Any = None

    def describe(self) -> str:
        if self.op == "eq":
            return f"{self.prop}={self.value}"
        if self.op in PRESENCE:
            return f"{self.prop} {self.op.replace('_', ' ')}"
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return f"{self.prop} {self.op} {value!r}"


def _scalar(value: Any) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, (str, bool, int, float))


def _value_error(f: tuple[str, str, Any], why: str, hint: str) -> MetricError:
    return MetricError(
        f"the filter {f[0]!r} {f[1]} {f[2]!r}: {why}", code="step.filter_value", hint=hint
    )


def _check_one(triple: tuple[str, str, Any]) -> Any:
    prop, value = triple[0], triple[2]
    if value is None:
        raise _value_error(
            triple, "None is not a value", f'use Prop.is_not_set() or ("{prop}", "is_not_set")'
        )
    if isinstance(value, (list, tuple, set, frozenset)):
        raise _value_error(triple, "a list is not one value", "use Prop.is_in([...])")
    if not _scalar(value):
        raise _value_error(triple, "give text, a number or True/False", 'e.g. "pro"')
    return value


def _check_list(triple: tuple[str, str, Any]) -> Any:
    value = triple[2]
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise _value_error(triple, "give a list of values", 'e.g. Prop.is_in(["pro", "team"])')
    if not value or not all(_scalar(v) for v in value):
        raise _value_error(
            triple, "give a non-empty list of texts, numbers or True/False", '["pro", "team"]'
        )
    return tuple(sorted(value, key=repr)) if isinstance(value, (set, frozenset)) else tuple(value)


def _check_text(triple: tuple[str, str, Any]) -> Any:
    if not isinstance(triple[2], str) or not triple[2]:
        raise _value_error(triple, "give non-empty text", 'e.g. Prop.starts_with("C")')
    return triple[2]


def _check_number(triple: tuple[str, str, Any]) -> Any:
    value = triple[2]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(float(value))
    ):
        raise _value_error(triple, "give a finite number", "e.g. Prop.gt(100)")
    return value


def _check_none(triple: tuple[str, str, Any]) -> Any:  # is_set / is_not_set
    if triple[2] is not None:
        raise _value_error(triple, "takes no value", f"use Prop.{triple[1]}()")
    return None


def _value_check(op: str) -> Callable[[tuple[str, str, Any]], Any]:
    """The check (and normalisation) of an operator's value."""
    if op in ("eq", "ne"):
        return _check_one
    if op in ("in", "not_in"):
        return _check_list
    if op in TEXT:
        return _check_text
    if op in NUMERIC:
        return _check_number
    return _check_none


def make_filter(prop: Any, op: Any, value: Any = None) -> Filter:
    """Check one (property, operator, value) triple (codes ``step.filter_*``, "did you mean")."""
    if not isinstance(prop, str) or not prop:
        raise MetricError(
            f"a step filter's property must be a non-empty name, got {prop!r}",
            code="step.filter_property",
            hint='e.g. where={"plan": "pro"}',
        )
    if not isinstance(op, str) or ALIASES.get(op, op) not in OPERATORS:
        near = did_you_mean(op, [*OPERATORS, *ALIASES]) if isinstance(op, str) else ""
        raise MetricError(
            f"unknown filter operator {op!r} on {prop!r}.{near}",
            code="step.filter_operator",
            hint="use one of " + ", ".join(OPERATORS),
        )
    op = ALIASES.get(op, op)
    return Filter(prop, op, _value_check(op)((prop, op, value)))


def parse_where(where: Any) -> tuple[Filter, ...]:
    """A step's ``where``: a dict {prop: value or Prop.x(...)}, or a list of (prop, op, value)
    tuples ((prop, "is_set") takes no value). Plain values mean equality."""
    if where is None:
        return ()
    out = []
    if isinstance(where, Mapping):
        for prop, cond in where.items():
            if isinstance(cond, Cond):
                out.append(make_filter(prop, cond.op, cond.value))
            else:
                out.append(make_filter(prop, "eq", cond))
        return tuple(out)
    if isinstance(where, (list, tuple)):
        for item in where:
            if isinstance(item, Filter):
                item = (item.prop, item.op, item.value)
            if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
                raise MetricError(
                    f"a step filter must be (property, operator, value), got {item!r}",
                    code="step.where_type",
                    hint='e.g. where=[("invoice", "starts_with", "C"), ("amount", "gt", 0)]',
                )
            out.append(make_filter(*item))
        return tuple(out)
    raise MetricError(
        f"where must be a dict or a list of (property, operator, value), got {where!r}",
        code="step.where_type",
        hint='e.g. where={"plan": "pro"} or where=[("invoice", "starts_with", "C")]',
    )


@dataclass(frozen=True)
class Step:
    """A funnel step: an event name (None = any event) with optional property filters.

    ``where`` is a dict (``{"plan": "pro"}`` is equality, ``{"invoice": Prop.starts_with("C")}``
    any other operator) or a list of ``(property, operator, value)`` tuples; see ``Prop``."""

    event: str | None
    where: Any = field(default_factory=dict)
    label: str | None = None

    def __post_init__(self) -> None:
        if self.event is not None and (not isinstance(self.event, str) or not self.event):
            raise MetricError(
                f"a step's event must be a non-empty name or None (any event), got {self.event!r}",
                code="step.event_type",
                hint='e.g. poa.Step("purchase", where={"plan": "pro"})',
            )
        if self.label is not None and not isinstance(self.label, str):
            raise MetricError(
                f"a step's label must be text, got {self.label!r}",
                code="step.label_type",
                hint='e.g. label="cancellation"',
            )
        object.__setattr__(self, "_filters", parse_where(self.where))

    @property
    def filters(self) -> tuple[Filter, ...]:
        """The checked conditions, in the order given."""
        return self._filters  # type: ignore[attr-defined]

    @property
    def props(self) -> list[str]:
        """The property names the filters read."""
        return [f.prop for f in self.filters]

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        base = self.event if self.event is not None else "any event"
        if self.filters:
            base += " (" + ", ".join(f.describe() for f in self.filters) + ")"
        return base

    def key(self) -> tuple:
        return (self.event, tuple(sorted((f.prop, f.op, repr(f.value)) for f in self.filters)))


@dataclass(frozen=True)
class Exclusion:
    """Users who do ``event`` between step ``from_step`` and ``to_step`` (0-based) are left out."""

    event: str
    from_step: int = 0
    to_step: int = 1
    where: Any = None

    def as_step(self) -> Step:
        return Step(self.event, self.where if self.where is not None else {})


def as_step(value: str | Step | None) -> Step:
    if isinstance(value, Step):
        return value
    if value is None or isinstance(value, str):
        return Step(value)
    raise MetricError(
        f"a step must be an event name, None (any event) or poa.Step(...), not {value!r}",
        code="funnel.step_type",
        hint='write steps like ["signed_up", poa.Step("upgraded", where={"plan": "pro"})]',
    )


def __getattr__(name: str) -> Any:
    """The date and window parsers moved to ``validate``; their old names here still work."""
    if name in ("parse_window", "parse_instant", "parse_range"):
        from . import validate

        return getattr(validate, name)
    raise AttributeError(name)
