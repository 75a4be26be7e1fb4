"""What every metric returns: a table, the exact SQL and parameters behind it, and a figure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class MetricResult:
    """Base result: ``table`` (a DataFrame), ``sql`` and ``params`` (the query that produced it)."""

    query: Any
    table: pd.DataFrame
    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    # PoaWarnings met on the way (e.g. an event with no data yet: zeros, F13)
    warnings: list[Any] = field(default_factory=list, init=False, repr=False)

    def figure(self):  # pragma: no cover - every metric overrides it
        raise NotImplementedError

    def summary_table(self) -> pd.DataFrame:
        """The table as a reader wants it: percents, durations, p-values and counts as text,
        interval bounds left out. ``table`` itself stays numeric."""
        from .summary import formatted

        return formatted(self.table)

    def _repr_html_(self) -> str:
        """In a notebook: the summary, with the full table one click away."""
        from .summary import to_html

        return to_html(self.summary_table(), self.table)
