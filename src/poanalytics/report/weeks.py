"""ISO weeks for the weekly report: "2026-W47" parsed strictly, and the last complete week of the data.

A week runs Monday 00:00 to Sunday 23:59:59.999999 UTC (ISO 8601). The data's last complete week is
the latest week whose last day (Sunday, UTC) the data reaches: an export that ends on a Sunday
evening completes its week, one that ends on a Saturday does not.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd

from ..errors import InputError

_WEEK = re.compile(r"(\d{4})-W(\d{2})")
US = pd.Timedelta(microseconds=1)


@dataclass(frozen=True)
class Week:
    """One ISO week: ``label`` "2026-W47", ``monday`` and ``sunday`` (dates), ``start`` and ``end``
    (UTC instants: Monday 00:00 and Sunday 23:59:59.999999)."""

    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.monday, tz="UTC")

    @property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.sunday + dt.timedelta(days=1), tz="UTC") - US

    def shift(self, weeks: int) -> Week:
        """The week ``weeks`` later (negative: earlier)."""
        return week_of(self.monday + dt.timedelta(weeks=weeks))

    def __str__(self) -> str:
        return self.label


def week_of(day: dt.date | pd.Timestamp) -> Week:
    """The ISO week holding ``day`` (a timestamp is taken in UTC)."""
    if isinstance(day, pd.Timestamp):
        day = (day.tz_convert("UTC") if day.tzinfo else day).date()
    year, number, _ = day.isocalendar()
    return Week(year, number)


def parse_week(text: str) -> Week:
    """``"2026-W47"`` -> Week; anything else (``"2026-47"``, ``"2026-W7"``, ``"2026-W54"``) is
    refused with ``report.week_format``: write the ISO week as YYYY-Www (two-digit week)."""
    match = _WEEK.fullmatch(text.strip()) if isinstance(text, str) else None
    if match:
        year, number = int(match[1]), int(match[2])
        try:
            dt.date.fromisocalendar(year, number, 1)
        except ValueError:
            pass
        else:
            return Week(year, number)
    raise InputError(
        f"week {text!r} is not an ISO week",
        code="report.week_format",
        hint='write it as YYYY-Www with a two-digit week that exists in that year, e.g. "2026-W47" '
        '(or "" for the last complete week of the data)',
    )


def last_complete_week(last_event: pd.Timestamp | None) -> Week:
    """The latest week whose Sunday the data reaches (``last_event``: the data's last event time).

    Error code ``report.no_data``: the warehouse holds no event, so there is no week to report on;
    load events first."""
    if last_event is None or pd.isna(last_event):
        raise InputError(
            "the warehouse holds no event, so there is no week to report on",
            code="report.no_data",
            hint="load events first (poanalytics load events FILE, or `make run` for the demo)",
        )
    last = pd.Timestamp(last_event)
    last = last.tz_convert("UTC") if last.tzinfo else last.tz_localize("UTC")
    week = week_of(last)
    return week if last.date() == week.sunday else week.shift(-1)


def resolve_week(
    week: str | Week | None, first_event: pd.Timestamp | None, last_event: pd.Timestamp | None
) -> Week:
    """The report's week: "" or None = the data's last complete week; "2026-W47" parsed strictly and
    checked against the data.

    Error codes: ``report.week_format`` (not YYYY-Www), ``report.no_data`` (no event at all),
    ``report.week_range`` (the week lies outside the data's first..last event, or is not complete
    yet: pick a week the data covers), ``report.no_complete_week`` (the data does not reach the end
    of any week yet: pass the week explicitly)."""
    if isinstance(week, Week):
        chosen = week
    elif week is None or (isinstance(week, str) and not week.strip()):
        chosen = last_complete_week(last_event)
        if first_event is not None and chosen.end < pd.Timestamp(first_event):
            raise InputError(
                f"the data ({_span(first_event, last_event)}) does not reach the end of any "
                "week yet",
                code="report.no_complete_week",
                hint=f"pass the week explicitly, e.g. week={week_of(pd.Timestamp(last_event)).label!r}, "
                "for a report on a week still in progress",
            )
        return chosen
    else:
        chosen = parse_week(week)
    if last_event is None or pd.isna(last_event):
        last_complete_week(last_event)  # raises report.no_data
    assert first_event is not None and last_event is not None
    if chosen.end < pd.Timestamp(first_event) or chosen.start > pd.Timestamp(last_event):
        first, last = week_of(pd.Timestamp(first_event)), last_complete_week(last_event)
        raise InputError(
            f"week {chosen.label} ({chosen.monday}..{chosen.sunday}) is outside the data "
            f"({_span(first_event, last_event)})",
            code="report.week_range",
            hint=f"pick a week from {first.label} to {last.label}, or leave week empty for the "
            "last complete week",
        )
    return chosen


def _span(first: object, last: object) -> str:
    return f"{pd.Timestamp(first):%Y-%m-%d}..{pd.Timestamp(last):%Y-%m-%d}"
