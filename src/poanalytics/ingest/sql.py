"""A tiny SQL builder: fragments of SQL text with named, bound parameters.

Values never go into SQL text; :meth:`Params.add` returns a ``$pN`` placeholder and keeps the value.
Identifiers go through :func:`poanalytics.db.quote_ident`.
"""

from __future__ import annotations

from typing import Any


class Params:
    """Collects bound parameters for one statement (or a family of statements)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return "$" + name

    def used_in(self, sql: str) -> dict[str, Any]:
        """The subset of parameters that ``sql`` refers to (DuckDB rejects unused named ones)."""
        import re

        used = set(re.findall(r"\$(p\d+)\b", sql))
        return {k: v for k, v in self.values.items() if k in used}
