"""SQL text with bound values: the base every SQL builder uses (ingest, metrics, voice, backlog).

Builders produce SQL text and a :class:`Params`; they need no connection. Values never go into SQL
text: :meth:`Params.add` returns a ``$pN`` placeholder and keeps the value. Identifiers go through
:func:`quote_ident`, the one quoting helper (``poanalytics.db`` re-exports it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import WarehouseError

_PLACEHOLDER = re.compile(r"\$(p\d+)\b")


class Params:
    """Collects bound parameters for one statement (or a family of statements)."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        """``values``: parameters of SQL this statement embeds (a result's query, re-run inside a
        later one); new placeholders are numbered after them, so no name is taken twice."""
        self.values: dict[str, Any] = dict(values or {})
        taken = [int(m.group(1)) for k in self.values if (m := re.fullmatch(r"p(\d+)", k))]
        self._next = max(taken, default=-1) + 1

    def add(self, value: Any) -> str:
        name = f"p{self._next}"
        self._next += 1
        self.values[name] = value
        return "$" + name

    def used_in(self, sql: str) -> dict[str, Any]:
        """The subset of parameters that ``sql`` refers to (DuckDB rejects unused named ones)."""
        used = set(_PLACEHOLDER.findall(sql))
        return {k: v for k, v in self.values.items() if k in used}


def quote_ident(name: str, quote: str = '"') -> str:
    """Quote an identifier (table or column name) for DuckDB SQL, or with ``quote="`"`` for Spark
    SQL (a quote character inside the name is doubled in both)."""
    if not isinstance(name, str) or name == "" or "\x00" in name:
        raise WarehouseError(
            f"invalid SQL identifier {name!r}",
            code="db.identifier",
            hint="use a non-empty name without NUL characters",
        )
    return quote + name.replace(quote, quote + quote) + quote


def quote_literal(value: str) -> str:
    """Quote a string constant, for the few places DuckDB refuses parameters (table functions' options)."""
    return "'" + str(value).replace("'", "''") + "'"
