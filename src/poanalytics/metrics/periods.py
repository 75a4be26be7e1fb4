"""Calendar periods in a time zone (R2): local wall time, then date_trunc; weeks start Monday or Sunday.

Periods are computed on local wall-clock TIMESTAMPs (``Dialect.local_wall``), so a daylight-saving
change never moves an event into another day, week or month.
"""

from __future__ import annotations

from typing import Any

from ..sql import Params
from ..timezones import check_timezone
from .engine import DUCKDB, Dialect
from .spec import MetricError
from .validate import check_choice

PERIODS = ("day", "week", "month")
# Zones whose wall time is UTC: their local time is plain arithmetic on the instant, which DuckDB
# computes about 4x faster than a time-zone conversion (the bulk of a retention or lifecycle query).
UTC_ZONES = frozenset(
    {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "GMT", "Etc/GMT", "Etc/GMT0", "GMT0", "Universal", "Zulu"}
    | {"Etc/Universal", "Etc/Zulu", "Etc/Greenwich", "Greenwich", "Etc/GMT+0", "Etc/GMT-0"}
)
WEEK_STARTS = ("monday", "sunday")


def check(period: str, week_start: str, timezone: str, code: str) -> str:
    check_choice(period, PERIODS, "period", f"{code}.period")
    check_choice(week_start, WEEK_STARTS, "week start", f"{code}.week_start")
    if not isinstance(timezone, str) or not timezone:
        raise MetricError(
            f"timezone must be a zone name, got {timezone!r}",
            code=f"{code}.timezone",
            hint="use an IANA name such as 'Europe/Amsterdam' or 'UTC'",
        )
    try:
        return check_timezone(timezone)
    except Exception as exc:  # the ConfigError (ingest.timezone), re-coded for metrics
        raise MetricError(
            str(getattr(exc, "message", exc)),
            code=f"{code}.timezone",
            hint="use an IANA name such as 'Europe/Amsterdam' or 'UTC'",
        ) from exc


def data_span(events: str) -> tuple[str, str]:
    """SQL for the first and last instant of the events table ``events`` (a quoted name)."""
    return f"(SELECT min(ts) FROM {events})", f"(SELECT max(ts) FROM {events})"


class Calendar:
    """SQL for a period's start, distance and arithmetic, bound to one zone and week start."""

    def __init__(
        self, period: str, week_start: str, tz: str, params: Params, dialect: Dialect = DUCKDB
    ) -> None:
        self.period, self.week_start, self.dialect = period, week_start, dialect
        self.params = params
        self.utc = tz in UTC_ZONES
        # bound even for UTC: callers turn local period starts back into instants with it
        self.tz = params.add(tz)

    def local(self, ts: str) -> str:
        """The local wall-clock TIMESTAMP of the instant ``ts``."""
        if self.utc:
            return self.dialect.utc_wall(ts)
        return self.dialect.local_wall(ts, self.tz)

    def instant(self, local: str) -> str:
        """The instant of the local wall-clock TIMESTAMP ``local`` (a period start)."""
        return self.dialect.from_local(local, self.tz)

    def span(self, date_from: Any, date_to: Any, first: str, last: str) -> tuple[str, str]:
        """The first and last period starts: those holding ``date_from`` and ``date_to`` (bound
        instants) where given, else those holding the instants ``first`` and ``last`` (SQL, e.g.
        the data's first and last event)."""
        bound = [
            self.dialect.instant(self.params.add(v)) if v is not None else None
            for v in (date_from, date_to)
        ]
        return self.start(bound[0] or first), self.start(bound[1] or last)

    def start(self, ts: str) -> str:
        """The start (local TIMESTAMP) of the period holding the instant ``ts``."""
        local = self.local(ts)
        if self.period == "week" and self.week_start == "sunday":
            return f"({self.dialect.trunc('week', f'{local} + INTERVAL 1 DAY')} - INTERVAL 1 DAY)"
        return self.dialect.trunc(self.period, local)

    def index(self, a: str, b: str) -> str:
        """Whole periods from period start ``a`` to period start ``b``."""
        d = self.dialect
        if self.period == "day":
            return d.days_between(a, b)
        if self.period == "week":
            return d.int_div(d.days_between(a, b), "7")
        return d.months_between(a, b)

    def add(self, start: str, k: str) -> str:
        """The period start ``k`` periods after ``start``."""
        d = self.dialect
        if self.period == "month":
            return d.add_months(start, k)
        return d.add_days(start, f"({k}) * 7" if self.period == "week" else k)
