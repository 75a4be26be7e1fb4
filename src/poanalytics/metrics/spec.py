"""The pieces metric queries are made of: steps, exclusions, windows, and validation errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from ..errors import PoaError


class MetricError(PoaError):
    """An invalid metric query. ``code`` is stable: tests and notebooks may match on it."""

    code = "metric"


@dataclass(frozen=True)
class Step:
    """A funnel step: an event name (None = any event) with optional property filters (equality)."""

    event: str | None
    where: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        base = self.event if self.event is not None else "any event"
        if self.where:
            base += " (" + ", ".join(f"{k}={v}" for k, v in self.where.items()) + ")"
        return base

    def key(self) -> tuple:
        return (self.event, tuple(sorted((k, str(v)) for k, v in self.where.items())))


@dataclass(frozen=True)
class Exclusion:
    """Users who do ``event`` between step ``from_step`` and ``to_step`` (0-based) are left out."""

    event: str
    from_step: int = 0
    to_step: int = 1
    where: Mapping[str, Any] | None = None

    def as_step(self) -> Step:
        return Step(self.event, dict(self.where or {}))


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


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_window(window: int | float | timedelta | str) -> int:
    """Seconds in a window given as seconds, a timedelta, or '30s' / '15m' / '2h' / '7d' / '2w'."""
    if isinstance(window, timedelta):
        seconds = window.total_seconds()
    elif isinstance(window, (int, float)) and not isinstance(window, bool):
        seconds = float(window)
    elif isinstance(window, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", window.lower())
        if not m:
            raise MetricError(
                f"cannot read the window {window!r}",
                code="funnel.window_format",
                hint="write it like '30s', '15m', '2h', '7d' or '2w', or give seconds",
            )
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise MetricError(
            f"cannot read the window {window!r}",
            code="funnel.window_format",
            hint="write it like '14d', or give seconds or a timedelta",
        )
    if seconds <= 0:
        raise MetricError(
            f"the conversion window must be positive, got {window!r}",
            code="funnel.window",
            hint="use a window such as '14d'",
        )
    return int(seconds)


_DAY = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")


def parse_instant(value: Any, name: str, end: bool = False) -> pd.Timestamp | None:
    """A date range bound as a UTC instant. Strings ("2026-09-01", "2026-09-01 12:00+02:00"),
    dates, datetimes and pandas Timestamps are taken; naive times are UTC. A bare date as the end
    of a range (``end=True``) means the end of that day, so ``date_to="2026-09-30"`` includes it."""
    if value is None:
        return None
    day_only = (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and _DAY.fullmatch(value) is not None
    )
    try:
        ts = pd.Timestamp(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError) as exc:
        raise MetricError(
            f"cannot read {name}={value!r} as a date or time",
            code="metric.date",
            hint=f'write it like {name}="2026-09-01" or "2026-09-01 12:00+02:00"',
        ) from exc
    if pd.isna(ts):
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if end and day_only:
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return ts


def parse_range(
    date_from: Any, date_to: Any, area: str
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """``date_from`` and ``date_to`` as UTC instants (``parse_instant``), refused when swapped."""
    lo = parse_instant(date_from, "date_from")
    hi = parse_instant(date_to, "date_to", end=True)
    if lo is not None and hi is not None and lo > hi:
        raise MetricError(
            f"date_from ({lo}) is after date_to ({hi})",
            code=f"{area}.date_range",
            hint="swap them, or leave one out for an open range",
        )
    return lo, hi
