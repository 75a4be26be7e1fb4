"""SQL predicates for steps and property filters over the events table (alias-free columns)."""

from __future__ import annotations

from typing import Any

from ..ingest.sql import Params
from .spec import Step


def prop_expr(name: str, params: Params) -> str:
    """A property's value as text (NULL when missing)."""
    import json

    return f"json_extract_string(properties, {params.add('$.' + json.dumps(name))})"


def value_eq(name: str, value: Any, params: Params) -> str:
    if isinstance(value, bool):
        return f"({prop_expr(name, params)} = {params.add('true' if value else 'false')})"
    if isinstance(value, (int, float)):
        return f"(TRY_CAST({prop_expr(name, params)} AS DOUBLE) = {params.add(float(value))})"
    return f"({prop_expr(name, params)} = {params.add(str(value))})"


def step_predicate(step: Step, params: Params) -> str:
    parts = []
    if step.event is not None:
        parts.append(f"event = {params.add(step.event)}")
    for name, value in step.where.items():
        parts.append(value_eq(name, value, params))
    return "coalesce(" + " AND ".join(parts) + ", false)" if parts else "true"
