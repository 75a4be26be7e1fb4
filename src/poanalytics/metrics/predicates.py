"""SQL predicates for steps and property filters over the events table (alias-free columns).

Every value is a bound parameter; property names go into a bound JSON path. A property an event does
not carry matches only the negative operators (ne, not_in, not_contains, not_regex, is_not_set).
"""

from __future__ import annotations

from typing import Any

from ..sql import Params
from .engine import DUCKDB, Dialect
from .spec import Filter, Step

_NEGATIONS = {"ne": "eq", "not_in": "in", "not_contains": "contains", "not_regex": "regex"}
_COMPARE = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_TEXT = ("contains", "starts_with", "ends_with")


def prop_expr(name: str, params: Params, dialect: Dialect = DUCKDB) -> str:
    """A property's value as text (NULL when missing)."""
    return dialect.json_text("properties", params.add(dialect.json_path(name)))


def value_eq(name: str, value: Any, params: Params, dialect: Dialect = DUCKDB) -> str:
    if isinstance(value, bool):
        return f"({prop_expr(name, params, dialect)} = {params.add('true' if value else 'false')})"
    if isinstance(value, (int, float)):
        return (
            f"(TRY_CAST({prop_expr(name, params, dialect)} AS DOUBLE) = {params.add(float(value))})"
        )
    return f"({prop_expr(name, params, dialect)} = {params.add(str(value))})"


def filter_predicate(f: Filter, params: Params, dialect: Dialect = DUCKDB) -> str:
    """SQL for one filter; NULL (missing property) counts as no match, except for negations."""
    if f.op in _NEGATIONS:
        inner = filter_predicate(Filter(f.prop, _NEGATIONS[f.op], f.value), params, dialect)
        return f"coalesce(NOT {inner}, true)"
    if f.op == "eq":
        return value_eq(f.prop, f.value, params, dialect)
    if f.op == "in":
        return "(" + " OR ".join(value_eq(f.prop, v, params, dialect) for v in f.value) + ")"
    if f.op in _TEXT:
        return dialect.text_test(f.op, prop_expr(f.prop, params, dialect), params.add(f.value))
    if f.op == "regex":
        return dialect.regex_test(prop_expr(f.prop, params, dialect), params.add(f.value))
    if f.op in _COMPARE:
        value = params.add(float(f.value))
        return (
            f"(TRY_CAST({prop_expr(f.prop, params, dialect)} AS DOUBLE) {_COMPARE[f.op]} {value})"
        )
    if f.op == "is_set":
        return f"({prop_expr(f.prop, params, dialect)} IS NOT NULL)"
    if f.op == "is_not_set":
        return f"({prop_expr(f.prop, params, dialect)} IS NULL)"
    raise AssertionError(f"unchecked operator {f.op!r}")  # make_filter refuses it first


def step_predicate(step: Step, params: Params, dialect: Dialect = DUCKDB) -> str:
    parts = []
    if step.event is not None:
        parts.append(f"event = {params.add(step.event)}")
    for f in step.filters:
        parts.append(filter_predicate(f, params, dialect))
    return "coalesce(" + " AND ".join(parts) + ", false)" if parts else "true"
