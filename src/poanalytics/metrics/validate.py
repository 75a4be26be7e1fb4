"""One parsing and validation module for every metric's parameters.

Every metric (funnels, retention, lifecycle, stickiness, churn, survival, paths, and the funnel's
follow-up views) reads its parameters through these functions, so each bad value is refused the same
way: a ``MetricError`` with a stable code (``{area}.{what}``), what was found and what to do. Nothing
unchecked reaches SQL, and a DuckDB error that still escapes is wrapped at the metric boundary
(``metric_boundary``) as ``metric.engine`` with the SQL and parameters on the exception.

Codes raised here (``area`` is the metric: funnel, retention, lifecycle, ...):

- ``{area}.window_unit``: a window given as a bare number (7 would be 7 seconds); give a unit ('7d').
- ``{area}.window_format``: a window that cannot be read (bool, NaN, inf, text without a unit).
- ``{area}.window``: a window that is zero, negative or longer than 100 years.
- ``metric.date``: a date that cannot be read, or a number that is not a YYYYMMDD date.
- ``{area}.date_range``: date_from after date_to.
- ``{area}.steps_type``: steps given as one string (or another non-list); give a list of names.
- ``{area}.{name}``: a whole number out of range or of the wrong type (intervals, step, top, ...);
  an unknown choice (period, order, ...) with a "did you mean"; a flag that is not True/False;
  a property name that is not a non-empty string.
- ``metric.engine``: DuckDB failed on a query that passed validation; ``.sql`` and ``.params`` on the
  error say which. Report it: it is a bug in poanalytics or an unusual warehouse.

The composed codes in use: ``funnel.window_unit``, ``funnel.window_format``, ``funnel.window``,
``paths.window_unit``, ``paths.window_format``, ``paths.window``, ``funnel.horizon_unit``,
``funnel.horizon_format``, ``funnel.horizon``; ``funnel.steps_type``; ``{funnel,paths,retention,
lifecycle,stickiness,churn,survival}.event_type`` (an event that is "" or not a name, None or Step) and
``.date_range``.
"""

from __future__ import annotations

import functools
import math
import numbers
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import duckdb
import pandas as pd

from ..db import attached_for, last_statement
from ..db import engine_error as db_engine_error
from ..errors import PoaError, did_you_mean
from .spec import MetricError, Step, as_step

_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_WINDOW = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")
MAX_WINDOW_SECONDS = 100 * 366 * 86400  # 100 years: past that a window is a typo
MAX_INT = 1_000_000_000  # no count or step a metric takes comes near this


def parse_window(value: Any, name: str = "window", code: str = "funnel.window") -> int:
    """Whole seconds in a window given as a timedelta or a string with a unit ('30s', '15m', '2h',
    '7d', '2w', '14 days'). A bare number is refused (``{code}_unit``): ``window=7`` would be seven
    seconds, which is never what a papermill ``-p window 7`` meant. Bools, NaN, inf and unreadable text
    are ``{code}_format``; zero, negative and over 100 years are ``{code}``."""
    hint = f"write it with a unit, like {name}='30m', '2h', '7d' or '2w', or give a timedelta"
    if isinstance(value, bool) or value is None:
        raise MetricError(f"cannot read {name}={value!r}", code=f"{code}_format", hint=hint)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise MetricError(f"cannot read {name}={value!r}", code=f"{code}_format", hint=hint)
        guess = f"'{value}d'" if number > 0 else "'7d'"
        raise MetricError(
            f"{name}={value!r} has no unit: is it seconds, hours or days?",
            code=f"{code}_unit",
            hint=f"write it with a unit, e.g. {name}={guess} for days, or give a timedelta",
        )
    if isinstance(value, str):
        m = _WINDOW.fullmatch(value.lower())
        if not m and re.fullmatch(r"\s*-?\d+(?:\.\d+)?\s*", value):
            raise MetricError(
                f"{name}={value!r} has no unit: is it seconds, hours or days?",
                code=f"{code}_unit",
                hint=f"write it with a unit, e.g. {name}='{value.strip()}d' for days",
            )
        if not m or m.group(2) not in _UNITS:
            raise MetricError(f"cannot read {name}={value!r}", code=f"{code}_format", hint=hint)
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    elif isinstance(value, (timedelta, pd.Timedelta)):
        if pd.isna(value):
            raise MetricError(f"cannot read {name}={value!r}", code=f"{code}_format", hint=hint)
        seconds = value.total_seconds()
    else:
        raise MetricError(
            f"cannot read {name}={value!r} ({type(value).__name__})",
            code=f"{code}_format",
            hint=hint,
        )
    if not 0 < seconds <= MAX_WINDOW_SECONDS or int(seconds) == 0:
        raise MetricError(
            f"{name} must be at least one second and at most 100 years, got {value!r}",
            code=code,
            hint=f"use a window such as {name}='14d'",
        )
    return int(seconds)


_DAY = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")
_ISO = re.compile(
    r"\s*\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
    r"\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*",
    re.IGNORECASE,
)
_YYYYMMDD = re.compile(r"\s*(\d{4})(\d{2})(\d{2})\s*")


def _date_error(name: str, value: Any, why: str = "", hint: str = "") -> MetricError:
    return MetricError(
        f"cannot read {name}={value!r} as a date{why}",
        code="metric.date",
        hint=hint or f'write it like {name}="2026-09-01" or "2026-09-01 12:00+02:00"',
    )


def _from_number(value: Any, name: str) -> str:
    """A number as the YYYYMMDD text it must be (never epoch seconds), else metric.date."""
    if not isinstance(value, numbers.Integral):
        number = float(value)
        if not (math.isfinite(number) and number.is_integer()):
            raise _date_error(name, value)
        value = int(number)
    text = str(int(value))
    if not _YYYYMMDD.fullmatch(text):
        raise MetricError(
            f"cannot read {name}={text} as a date: a number is read only as YYYYMMDD "
            "(never as epoch seconds)",
            code="metric.date",
            hint=f'write it like {name}="2026-09-01" or "2026-09-01 12:00+02:00", or as {name}=20260901',
        )
    return text


def _from_text(value: str, name: str) -> str:
    """Text as ISO 8601 (YYYYMMDD turned into YYYY-MM-DD); a bare number or another order refused."""
    ymd = _YYYYMMDD.fullmatch(value)
    if ymd:
        return "-".join(ymd.groups())
    if re.fullmatch(r"\s*[-+]?\d+(?:\.\d+)?\s*", value):  # "1700000000", "7": not a date
        raise _date_error(name, value, ": a number is read only as YYYYMMDD")
    if not _ISO.fullmatch(value):  # "03/04/2026" (which is the month?), "0s", "today"
        raise _date_error(name, value, ": write it year first (ISO 8601)")
    return value


def parse_instant(value: Any, name: str, end: bool = False) -> pd.Timestamp | None:
    """A date range bound as a UTC instant. Strings ("2026-09-01", "2026-09-01 12:00+02:00"),
    dates, datetimes and pandas Timestamps are taken; naive times are UTC; None and "" are no bound.
    A number is read as YYYYMMDD (``20240101``, as papermill passes ``-p date_from 20240101``) when
    it is one, else refused: never as epoch seconds. A bare date as the end of a range (``end=True``)
    means the end of that day, so ``date_to="2026-09-30"`` includes it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _date_error(name, value)
    from_number = isinstance(value, numbers.Real)
    if from_number:
        value = _from_number(value, name)
    if isinstance(value, str):
        value = _from_text(value, name)
    elif not isinstance(value, (date, datetime, pd.Timestamp)):
        raise MetricError(
            f"cannot read {name}={value!r} ({type(value).__name__}) as a date",
            code="metric.date",
            hint=f'write it like {name}="2026-09-01" or "2026-09-01 12:00+02:00"',
        )
    day_only = (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and _DAY.fullmatch(value) is not None
    )
    try:
        ts = pd.Timestamp(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError, OverflowError) as exc:
        how = " (a number is read as YYYYMMDD)" if from_number else ""
        raise _date_error(name, value, f" or time{how}") from exc
    if pd.isna(ts):
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if end and day_only:
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return ts


def parse_range(
    date_from: Any, date_to: Any, area: str, whole_day: bool = True
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """``date_from`` and ``date_to`` as UTC instants (``parse_instant``), refused when swapped.
    ``whole_day=False`` keeps a bare ``date_to`` at its midnight (calendar-period metrics take the
    period that holds it)."""
    lo = parse_instant(date_from, "date_from")
    hi = parse_instant(date_to, "date_to", end=whole_day)
    if lo is not None and hi is not None and lo > hi:
        raise MetricError(
            f"date_from ({lo}) is after date_to ({hi})",
            code=f"{area}.date_range",
            hint="swap them, or leave one out for an open range",
        )
    return lo, hi


def check_int(
    value: Any,
    name: str,
    code: str,
    low: int = 1,
    high: int | None = None,
    none_ok: bool = False,
) -> Any:
    """A whole number in [low, high] (bools, floats, NaN and text are refused); None if ``none_ok``."""
    if value is None and none_ok:
        return None
    top = MAX_INT if high is None else high
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not low <= int(value) <= top
    ):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise MetricError(
            f"{name} must be a whole number {span}"
            + (" or None" if none_ok else "")
            + f", got {value!r}",
            code=code,
            hint=f"e.g. {name}={low if high is None else min(max(low, 5), high)}",
        )
    return int(value)


def check_choice(value: Any, choices: Sequence[str], name: str, code: str) -> str:
    """One of ``choices`` (text), with a "did you mean" for a near miss."""
    if not isinstance(value, str) or value not in choices:
        near = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise MetricError(
            f"unknown {name} {value!r}.{near}",
            code=code,
            hint="use " + ", ".join(repr(c) for c in choices),
        )
    return value


def check_flag(value: Any, name: str, code: str) -> bool:
    """True or False, nothing else ("no" and 0 are not read as False)."""
    if not isinstance(value, bool):
        raise MetricError(
            f"{name} must be True or False, got {value!r}",
            code=code,
            hint=f"pass {name}=True or {name}=False",
        )
    return value


def check_name(value: Any, name: str, code: str, none_ok: bool = True) -> str | None:
    """A property (or event) name: non-empty text, or None when ``none_ok``."""
    if value is None and none_ok:
        return None
    if not isinstance(value, str) or not value:
        raise MetricError(
            f"{name} must be a property name"
            + (" or None" if none_ok else "")
            + f", got {value!r}",
            code=code,
            hint=f"e.g. {name}='plan'" + (f", or {name}=None for none" if none_ok else ""),
        )
    return value


def check_event(value: Any, name: str, area: str, *, any_ok: bool = True) -> Step:
    """One event: a name, None (any event, when ``any_ok``) or ``poa.Step``; "" and other types
    are refused."""
    if isinstance(value, str) and not value.strip():
        raise MetricError(
            f"{name} is an empty string",
            code=f"{area}.event_type",
            hint="give an event name" + (f", or {name}=None for any event" if any_ok else ""),
        )
    try:
        return as_step(value)
    except MetricError as exc:
        raise MetricError(
            exc.message.replace("a step", name), code=f"{area}.event_type", hint=exc.hint
        ) from exc


def parse_steps(steps: Any, area: str = "funnel") -> tuple[Step, ...]:
    """A list (or tuple) of steps. One string is refused: ``"signed_up,activated"`` is not two
    steps, and iterating it would give one step per letter."""
    if isinstance(steps, str):
        parts = [p.strip() for p in steps.split(",") if p.strip()]
        example = parts if len(parts) > 1 else ["signed_up", "activated"]
        raise MetricError(
            f"steps must be a list of events, got one string {steps!r}",
            code=f"{area}.steps_type",
            hint=f"write steps={example!r}"
            + (" (in papermill: -y 'steps: [a, b]')" if len(parts) > 1 else ""),
        )
    if not isinstance(steps, (list, tuple)):
        raise MetricError(
            f"steps must be a list of events, got {type(steps).__name__} {steps!r}",
            code=f"{area}.steps_type",
            hint='write steps=["signed_up", "activated"]',
        )
    return tuple(check_event(s, "a step", area) for s in steps)


def event_names(value: Any, name: str, code: str) -> tuple[str, ...]:
    """One event name or a list of them (a bare string is one name, not its letters)."""
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, (list, tuple, set, frozenset)) or not all(
        isinstance(x, str) and x for x in names
    ):
        raise MetricError(
            f"{name} must be a list of event names, got {value!r}",
            code=code,
            hint=f'e.g. {name}=["page_view"]',
        )
    return tuple(names)


F = TypeVar("F", bound=Callable[..., Any])


def engine_error(exc: BaseException, area: str) -> PoaError:
    """A DuckDB failure at a metric's boundary: a resource failure (out of memory, disk full,
    read-only) as its ``db.*`` error, anything else as ``metric.engine`` with the failing statement's
    SQL and parameters on the error (``.sql``, ``.params``)."""
    sql, params = last_statement()
    resource = db_engine_error(exc, f"the {area} query")
    if resource is not None:
        return resource
    err = MetricError(
        f"the {area} query failed in DuckDB: {type(exc).__name__}: {str(exc).splitlines()[0]}",
        code="metric.engine",
        hint="this is a bug in poanalytics or an unusual warehouse: report it with the SQL and "
        "parameters on this error (.sql, .params)",
    )
    err.sql, err.params = sql, params
    return err


def metric_boundary(area: str) -> Callable[[F], F]:
    """Wrap a metric's entry point: DuckDB errors leave it as coded errors (``engine_error``)."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            # a metric run on a Workbench's session connection, or a result's method (f.trend(),
            # r.compare()), attaches the warehouse file for the call (db.Session)
            first = args[0] if args else None
            try:
                with attached_for(getattr(first, "con", first)):
                    return fn(*args, **kwargs)
            except (duckdb.Error, MemoryError) as exc:
                raise engine_error(exc, area) from exc

        return inner  # type: ignore[return-value]

    return wrap
