"""Backlog items: from [[items]] of the product file and from a CSV export (poanalytics columns, or
a Jira / Linear export through a preset), with the loaders' nothing-lost accounting, effort in
person-weeks with its range, and the refinement checks (docs/backlog-config.md).

Reading (``read_items``):

- Rows are numbered as a spreadsheet shows them: the header is row 1, the first item row 2 (a
  multi-line quoted cell is still one row; a blank line keeps its number but is no item).
- Every data row ends as exactly one of: an item (``loaded``), quarantined (``quarantined``: one
  quarantine row per bad cell, with file, row, column, value, reason and code), or a duplicate
  (``duplicates``: the same id as an earlier row with identical content, counted once). Two rows
  with the same id and DIFFERENT content are both quarantined (``backlog.duplicate_id``): picking
  one would be a silent guess. ``rows_read == loaded + quarantined + duplicates`` always, and the
  rows are read a second, independent way (DuckDB's CSV reader, every column as text): a row it
  rejects (a quote in the middle of a cell, which Python's lenient reader would silently drop) is
  quarantined too (``backlog.bad_row``), and when the two readers disagree on the number of rows,
  or DuckDB rejects a row Python does not have, the read is refused (``backlog.count_mismatch``):
  rows could have been lost or merged (an unclosed quote swallows the rows after it).
- A row is quarantined for: no id (``backlog.missing_id``), no title (``backlog.missing_title``),
  another number of cells than the header (``backlog.bad_row``), an effort that cannot be read
  (``backlog.bad_effort``), a date that cannot be read (``backlog.bad_date``), an unknown status
  (``backlog.bad_status``), a segment not written ``property=value|value`` (``backlog.bad_segment``),
  a MoSCoW label that is not must/should/could/won't (``backlog.bad_moscow``), an impact not on
  Intercom's scale 3 / 2 / 1 / 0.5 / 0.25 (``backlog.bad_impact``), a WSJF input that is not a
  number >= 0 (``backlog.bad_number``).
- Links to unknown steps, events, themes, objectives or segment properties do NOT quarantine: the
  item is kept and ``check_items`` flags it not ready, naming the unknown link (the reader does not
  know the warehouse; the check does).

Effort: a bare number is read in ``[planning] effort_unit`` (weeks, points / points_per_week (unset:
an effort in points is refused, never read as one a week), or a
t-shirt size); a suffix says the unit: "3 pw", "2w", "2 weeks" (person-weeks), "5 pts", "5p",
"5 sp" (points), "4d", "4 pd" (person-days: 5 a week), or a size of ``[planning] tshirt`` ("M").
The range: a number E stands for E x (1 - effort_spread) .. E x (1 + effort_spread); a t-shirt size
for its neighbours' values (the smallest and largest sizes mirror their neighbour geometrically:
XS = 0.5 next to S = 1 stands for 0.25 .. 1).

Presets: ``format = "jira"`` maps Issue key, Summary, Description, Story Points (or Story point
estimate, or Original Estimate in seconds), Status, Resolved, Labels (every Labels column), and a
MoSCoW custom field; ``format = "linear"`` maps ID, Title, Description, Estimate (points), Status,
Completed, Labels (comma separated). In both, labels written ``theme:pricing``, ``step:x``,
``event:x``, ``objective:x``, ``segment:plan=starter`` or ``moscow:must`` become those links; other
labels are kept in ``extra["labels"]``. ``[backlog] columns`` maps any field to a column by name and
wins over the preset. Status words map to open / in_progress / shipped / dropped (Done, Closed,
Released, Resolved, Completed -> shipped with Resolved/Completed as shipped_at; In Progress, In
Review -> in_progress; Won't Do, Canceled, Duplicate -> dropped; To Do, Backlog, Triage -> open).
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn

import duckdb
import pandas as pd

from ..config import find_root
from ..errors import did_you_mean
from ..metrics.catalog import event_names, property_keys
from .errors import BacklogError
from .model import IMPACT_SCALE, STATUSES, Item, Planning, ProductConfig, Segment

CANONICAL = (
    "id",
    "title",
    "description",
    "effort",
    "status",
    "shipped_at",
    "objectives",
    "steps",
    "events",
    "themes",
    "segment",
    "moscow",
    "impact",
    "business_value",
    "time_criticality",
    "risk_reduction",
    "job_size",
)
LIST_FIELDS = ("objectives", "steps", "events", "themes")
NUMBER_FIELDS = ("business_value", "time_criticality", "risk_reduction", "job_size")
# header names of the poanalytics format that mean a canonical field (matched ignoring case, with
# spaces and dashes read as _)
ALIASES = {
    "item_id": "id",
    "step": "steps",
    "funnel_step": "steps",
    "funnel_steps": "steps",
    "event": "events",
    "theme": "themes",
    "objective": "objectives",
    "segments": "segment",
    "effort_weeks": "effort",
}
# (header, unit of the effort cell) in order of preference; a row takes the first non-empty one
PRESETS: dict[str, dict[str, list[tuple[str, str | None]]]] = {
    "jira": {
        "id": [("Issue key", None)],
        "title": [("Summary", None)],
        "description": [("Description", None)],
        "effort": [
            ("Custom field (Story Points)", "points"),
            ("Story Points", "points"),
            ("Custom field (Story point estimate)", "points"),
            ("Story point estimate", "points"),
            ("Original Estimate", "seconds"),
            ("Σ Original Estimate", "seconds"),
        ],
        "status": [("Status", None)],
        "shipped_at": [("Resolved", None)],
        "moscow": [("Custom field (MoSCoW)", None), ("MoSCoW", None)],
        "labels": [("Labels", None)],
    },
    "linear": {
        "id": [("ID", None)],
        "title": [("Title", None)],
        "description": [("Description", None)],
        "effort": [("Estimate", "points")],
        "status": [("Status", None)],
        "shipped_at": [("Completed", None)],
        "labels": [("Labels", None)],
    },
}
LABEL_SPLIT = {"jira": r"\s+", "linear": r"\s*,\s*"}  # Jira labels hold no blanks; Linear's may
LABEL_PREFIXES = {
    "theme": "themes",
    "themes": "themes",
    "step": "steps",
    "steps": "steps",
    "event": "events",
    "events": "events",
    "objective": "objectives",
    "objectives": "objectives",
    "segment": "segment",
    "moscow": "moscow",
}
STATUS_WORDS = {
    "open": (
        "open",
        "to do",
        "todo",
        "backlog",
        "triage",
        "new",
        "ready",
        "planned",
        "icebox",
        "selected for development",
        "unstarted",
        "reopened",
        "proposed",
        "idea",
    ),
    "in_progress": (
        "in_progress",
        "in progress",
        "in review",
        "in development",
        "in dev",
        "in qa",
        "in test",
        "testing",
        "review",
        "code review",
        "started",
        "doing",
        "active",
        "blocked",
    ),
    "shipped": (
        "shipped",
        "done",
        "closed",
        "released",
        "resolved",
        "completed",
        "complete",
        "deployed",
        "live",
        "merged",
    ),
    "dropped": (
        "dropped",
        "won't do",
        "wont do",
        "won't fix",
        "wont fix",
        "wontfix",
        "canceled",
        "cancelled",
        "duplicate",
        "rejected",
        "declined",
        "obsolete",
        "not doing",
    ),
}
_STATUS = {w: s for s, words in STATUS_WORDS.items() for w in words}
MOSCOW_WORDS = {
    "must": "must",
    "must have": "must",
    "m": "must",
    "should": "should",
    "should have": "should",
    "s": "should",
    "could": "could",
    "could have": "could",
    "c": "could",
    "won't": "wont",
    "wont": "wont",
    "won't have": "wont",
    "wont have": "wont",
    "w": "wont",
    "will not have": "wont",
    "won't have this time": "wont",
}
IMPACT_WORDS = {"massive": 3.0, "high": 2.0, "medium": 1.0, "low": 0.5, "minimal": 0.25}
# person-weeks per unit written after a number
UNIT_SUFFIXES = {
    "weeks": (
        "w",
        "wk",
        "wks",
        "week",
        "weeks",
        "pw",
        "p/w",
        "person-week",
        "person-weeks",
        "person week",
        "person weeks",
    ),
    "points": ("p", "pt", "pts", "point", "points", "sp", "story point", "story points"),
    "days": ("d", "day", "days", "pd", "person-day", "person-days", "person day", "person days"),
}
_SUFFIX = {s: u for u, words in UNIT_SUFFIXES.items() for s in words}
DAYS_PER_WEEK = 5.0
SECONDS_PER_WEEK = 5 * 8 * 3600.0  # Jira time tracking: 8-hour days, 5-day weeks
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
ITEM_COLUMNS = tuple(f.name for f in fields(Item) if f.name != "_")
QUARANTINE_COLUMNS = ("file", "row", "column", "value", "reason", "code")
CHECK_COLUMNS = ("item_id", "check", "code", "detail", "ready")


@dataclass(frozen=True)
class Problem:
    column: str | None
    value: str | None
    reason: str
    code: str


@dataclass
class ItemsRead:
    """What ``read_items`` found: the items, one row per item in ``table`` (Item's fields), the
    quarantined cells, the accounting, and the CSV file read (None: items of the config only)."""

    items: tuple[Item, ...]
    table: pd.DataFrame
    quarantine: pd.DataFrame
    accounting: dict[str, int]
    source: str | None = None
    warnings: list[str] = field(default_factory=list)

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.item_id == item_id), None)


# -- cell readers -----------------------------------------------------------------------------------


def _clean(value: Any) -> str:
    return "" if value is None else str(value).strip()


def split_list(value: Any, sep: str) -> tuple[str, ...]:
    """A list cell (``a;b``) or a list value, stripped, empty parts dropped, first order kept."""
    parts = (
        [str(v) for v in value] if isinstance(value, (list, tuple)) else _clean(value).split(sep)
    )
    out: list[str] = []
    for p in parts:
        p = p.strip()
        if p and p not in out:
            out.append(p)
    return tuple(out)


def parse_segment(value: Any, sep: str) -> Segment:
    """``platform=android`` or ``plan=starter|pro`` (several properties separated by ``sep`` or
    ``&``), or a mapping; raises ValueError with the reason."""
    if isinstance(value, dict):
        return _segment_of_mapping(value)
    text = _clean(value)
    out: Segment = {}
    if not text:
        return out
    for part in re.split(rf"{re.escape(sep)}|&", text):
        part = part.strip()
        if not part:
            continue
        key, values = _segment_part(part)
        if key in out:
            raise ValueError(f"names {key!r} twice: list its values as {key}=a|b")
        out[key] = values
    return out


def _segment_of_mapping(value: dict[Any, Any]) -> Segment:
    """A segment written as a mapping (TOML/YAML): property -> value or list of values."""
    parts = [(str(k), v if isinstance(v, list) else [v]) for k, v in value.items()]
    out: Segment = {}
    for k, vals in parts:
        if not _NAME.match(k) or not vals or not all(str(x).strip() for x in vals):
            raise ValueError(f"{k} = {vals!r} is not property = value(s)")
        out[k] = [str(x).strip() for x in vals]
    return out


def _segment_part(part: str) -> tuple[str, list[str]]:
    """One ``property=value|value`` of a segment written as text."""
    if "=" not in part:
        raise ValueError(f"{part!r} has no '=': write property=value, e.g. platform=android")
    key, _, written = part.partition("=")
    key = key.strip()
    values = [v.strip() for v in written.split("|")]
    if not _NAME.match(key):
        raise ValueError(f"{key!r} is not an event property name")
    if not values or not all(values):
        raise ValueError(f"{part!r} has an empty value: write plan=starter or plan=starter|pro")
    return key, values


ZONELESS = "shipped_at_without_zone"  # Item.extra: the zone-less text read as UTC (flagged)

# Dates as trackers write them besides ISO 8601 (Jira's 02/Nov/26 3:45 PM, ...), tried in order.
_DATE_FORMATS = (
    "%d/%b/%y %I:%M %p",
    "%d/%b/%y %H:%M",
    "%d/%b/%Y %I:%M %p",
    "%d/%b/%Y %H:%M",
    "%d/%b/%y",
    "%d/%b/%Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
)


def parse_date(value: Any, timezone: str = "") -> datetime | None:
    """A date or date-time (ISO 8601; Jira's 02/Nov/26 3:45 PM; Linear's JavaScript dates), as
    UTC; None when empty; ValueError when unreadable. Without a zone it is in ``timezone`` ([backlog]
    timezone), else read as UTC (``zoneless`` tells such values apart, to flag them)."""
    parsed = _parsed_date(value)
    if parsed is None or parsed.tzinfo is not None:
        return parsed if parsed is None else parsed.astimezone(UTC)
    if timezone and timezone != "UTC":
        from zoneinfo import ZoneInfo

        return parsed.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    return parsed.replace(tzinfo=UTC)


def zoneless(value: Any) -> bool:
    """Whether ``value`` is a date-time with a time of day but no zone (a bare date is a day,
    read as that day in the zone; it is not flagged)."""
    if isinstance(value, datetime):
        return value.tzinfo is None
    if isinstance(value, date) or not isinstance(value, (str, int, float)):
        return False
    text = _clean(value)
    try:
        parsed = _parsed_date(text)
    except ValueError:
        return False
    return parsed is not None and parsed.tzinfo is None and not _date_only(text)


def _date_only(text: str) -> bool:
    try:
        date.fromisoformat(text)
        return True
    except ValueError:
        return any(_fits(text, fmt) for fmt in _DATE_FORMATS if "%H" not in fmt and "%I" not in fmt)


def _fits(text: str, fmt: str) -> bool:
    try:
        datetime.strptime(text, fmt)
        return True
    except ValueError:
        return False


def _parsed_date(value: Any) -> datetime | None:
    """``value`` as a datetime, with its zone if it had one; a bare date is its midnight."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):  # a TOML/YAML date
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, (str, int, float)) and value is not None:
        raise ValueError(f"{value!r} is not a date (write 2026-11-02 or 2026-11-02T14:30:00Z)")
    text = _clean(value)
    if not text:
        return None
    parsed = _iso_date(text) or _js_date(text) or _tracker_date(text)
    if parsed is None:
        raise ValueError(f"{text!r} is not a date (write 2026-11-02 or 2026-11-02T14:30:00Z)")
    return parsed


def _iso_date(text: str) -> datetime | None:
    """ISO 8601 (a trailing Z is UTC); None when it is not."""
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


def _js_date(text: str) -> datetime | None:
    """A JavaScript date as Linear writes it (Mon Nov 02 2026 14:30:00 GMT+0100 ...)."""
    js = re.match(r"^\w{3} (\w{3} \d{1,2} \d{4} \d{1,2}:\d{2}:\d{2}) GMT([+-]\d{4})", text)
    if js:
        return datetime.strptime(js.group(1) + " " + js.group(2), "%b %d %Y %H:%M:%S %z")
    return None


def _tracker_date(text: str) -> datetime | None:
    """The first of ``_DATE_FORMATS`` that reads ``text``."""
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def parse_status(value: Any) -> str | None:
    """open | in_progress | shipped | dropped from the word as written (Jira, Linear or ours); ""
    is None (decided by shipped_at); ValueError for a word not known."""
    text = " ".join(_clean(value).lower().replace("’", "'").replace("_", " ").split())
    if not text:
        return None
    found = _STATUS.get(text) or _STATUS.get(text.replace(" ", "_"))
    if found is None:
        raise ValueError(
            f"unknown status {_clean(value)!r}.{did_you_mean(text, list(_STATUS))} "
            f"Statuses: {', '.join(STATUSES)} (or Jira / Linear words like Done, In Progress, "
            "Won't Do)"
        )
    return found


def parse_moscow(value: Any) -> str | None:
    text = " ".join(_clean(value).lower().replace("’", "'").split())
    if not text:
        return None
    found = MOSCOW_WORDS.get(text)
    if found is None:
        raise ValueError(f"{_clean(value)!r} is not a MoSCoW label: must, should, could or won't")
    return found


def parse_impact(value: Any) -> float | None:
    text = _clean(value).lower()
    if not text:
        return None
    if text in IMPACT_WORDS:
        return IMPACT_WORDS[text]
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    for step in IMPACT_SCALE:
        if abs(number - step) < 1e-9:
            return step
    raise ValueError(
        f"{_clean(value)!r} is not on Intercom's impact scale: 3 (massive), 2 (high), 1 (medium), "
        "0.5 (low), 0.25 (minimal)"
    )


def parse_number(value: Any) -> float | None:
    text = _clean(value)
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{text!r} is not a number >= 0")
    return number


def parse_effort(
    value: Any, planning: Planning, unit: str | None = None
) -> tuple[str | None, float | None, float | None, float | None]:
    """(effort_raw, weeks, low, high) of an effort cell; all None when empty; ValueError when
    unreadable or negative. ``unit`` overrides [planning] effort_unit for a bare number (a preset's
    column: Story Points are points, Jira's Original Estimate is seconds)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an effort")
    raw = _clean(value)
    if not raw:
        return None, None, None, None
    spread = planning.effort_spread
    sizes = {k.upper(): v for k, v in planning.tshirt.items()}
    if raw.upper() in sizes:
        return (raw, *_tshirt(raw.upper(), sizes))
    number, suffix = _effort_number(raw, planning, sizes)
    kind = _effort_kind(raw, suffix, unit or planning.effort_unit, sizes)
    if kind == "points" and planning.points_per_week is None:
        raise ValueError(
            f"{raw!r} is in story points but [planning] points_per_week is not set, and how many "
            "points make a person-week is the team's figure, not a guess: set points_per_week in "
            "the product file (e.g. 2), or write the effort in weeks (3 pw) or days (4 pd)"
        )
    per_week = {
        "weeks": 1.0,
        "points": planning.points_per_week or 1.0,  # set: checked above
        "days": DAYS_PER_WEEK,
        "seconds": SECONDS_PER_WEEK,
    }[kind]
    weeks = number / per_week
    return raw, weeks, weeks * (1 - spread), weeks * (1 + spread)


def _effort_number(raw: str, planning: Planning, sizes: dict[str, float]) -> tuple[float, str]:
    """The number of an effort and its unit as written ('' for a bare number); a number with a
    thousands comma is ambiguous, a negative one refused."""
    m = re.fullmatch(r"([+-]?\d+(?:[.,]\d+)?)\s*([A-Za-z][A-Za-z /\-]*)?", raw)
    if not m:
        sizes_text = ", ".join(sizes)
        raise ValueError(
            f"{raw!r} is not an effort: write a number (in {planning.effort_unit}), a number with a "
            f"unit (3 pw, 2w, 5 pts, 4d) or a t-shirt size ({sizes_text})."
            + did_you_mean(raw.upper(), list(sizes))
        )
    if re.fullmatch(r"[+-]?\d{1,3},\d{3}", m.group(1)):  # 1,500: a thousand and a half, or 1.5?
        raise ValueError(
            f"{raw!r} is ambiguous (1.5 or 1500?): write 1.5, 1500 or 1500 without a comma"
        )
    number = float(m.group(1).replace(",", "."))
    if number < 0:
        raise ValueError(f"{raw!r} is negative: effort is at least 0")
    return number, (m.group(2) or "").strip().lower()


def _effort_kind(raw: str, suffix: str, default: str, sizes: dict[str, float]) -> str:
    """weeks, points, days or seconds: from the unit written, else the column's or the
    planning's unit (which cannot be t-shirt sizes for a number)."""
    if suffix:
        kind = _SUFFIX.get(suffix)
        if kind is None:
            raise ValueError(
                f"{raw!r}: unknown unit {suffix!r}.{did_you_mean(suffix, list(_SUFFIX))} Units: "
                "w / pw / weeks, p / pts / points, d / pd / days"
            )
        return kind
    if default == "tshirt":
        raise ValueError(
            f"{raw!r} is a number but [planning] effort_unit is tshirt: write a size "
            f"({', '.join(sizes)}) or a unit (3 pw)"
        )
    return default


def _tshirt(size: str, sizes: dict[str, float]) -> tuple[float, float, float]:
    order = sorted(sizes.items(), key=lambda kv: kv[1])
    names = [k for k, _ in order]
    i = names.index(size)
    value = order[i][1]
    if len(order) == 1:
        return value, value, value
    low = order[i - 1][1] if i > 0 else value * value / order[i + 1][1]
    high = order[i + 1][1] if i + 1 < len(order) else value * value / order[i - 1][1]
    return value, low, high


# -- one record -------------------------------------------------------------------------------------


class _Cells:
    """The cells of one record, read one by one: a cell that cannot be read is a Problem (one per
    bad cell), and the record is quarantined when it has any."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.problems: list[Problem] = []

    def bad(self, column: str, value: Any, reason: str, code: str) -> None:
        self.problems.append(
            Problem(
                column,
                _clean(value) if not isinstance(value, (list, dict)) else str(value),
                reason,
                code,
            )
        )

    def read(self, column: str, parse: Callable[[Any], Any], code: str, note: str = "") -> Any:
        """``parse`` of the cell; None, and a problem, when it raises ValueError."""
        value = self.record.get(column)
        try:
            return parse(value)
        except ValueError as exc:
            self.bad(column, value, f"{exc}{note}", code)
            return None


def normalise(
    record: dict[str, Any],
    planning: Planning,
    *,
    sep: str = ";",
    effort_unit: str | None = None,
    source: str = "",
    extra: dict[str, Any] | None = None,
    timezone: str = "",
) -> tuple[Item | None, list[Problem]]:
    """An Item from ``record`` (canonical field -> cell text or value), or the problems that
    quarantine it (one per bad cell). Used for CSV rows and for [[items]] of the product file."""
    cells = _Cells(record)
    item_id = _clean(record.get("id"))
    title = " ".join(_clean(record.get("title")).split())
    if not item_id:
        cells.bad("id", record.get("id"), "the item has no id", "backlog.missing_id")
    if not title:
        cells.bad("title", record.get("title"), "the item has no title", "backlog.missing_title")
    effort = cells.read(
        "effort", lambda v: parse_effort(v, planning, effort_unit), "backlog.bad_effort"
    )
    status: str | None = cells.read("status", parse_status, "backlog.bad_status")
    shipped_at: datetime | None = cells.read(
        "shipped_at", lambda v: parse_date(v, timezone), "backlog.bad_date"
    )
    args: dict[str, Any] = {
        "segment": cells.read("segment", lambda v: parse_segment(v, sep), "backlog.bad_segment"),
        "moscow": cells.read("moscow", parse_moscow, "backlog.bad_moscow"),
        "impact": cells.read("impact", parse_impact, "backlog.bad_impact"),
    }
    for key in NUMBER_FIELDS:
        note = f" ({key} is a WSJF input, e.g. 1 2 3 5 8 13 20)"
        args[key] = cells.read(key, parse_number, "backlog.bad_number", note)
    if cells.problems:
        return None, cells.problems
    raw, weeks, low, high = effort
    args.update(effort_raw=raw, effort_weeks=weeks, effort_low=low, effort_high=high)
    more = dict(extra or {})
    if status is None:
        status = "shipped" if shipped_at is not None else "open"
    if status != "shipped" and shipped_at is not None:
        # Jira's Resolved date of a Won't Do item: a resolution, not a release
        more["shipped_at"] = shipped_at.isoformat()
        shipped_at = None
    if shipped_at is not None and not timezone and zoneless(record.get("shipped_at")):
        more[ZONELESS] = _clean(record.get("shipped_at"))  # read as UTC: a guess, flagged
    item = Item(
        item_id,
        title=title,
        description=_clean(record.get("description")),
        objectives=split_list(record.get("objectives"), sep),
        steps=split_list(record.get("steps"), sep),
        events=split_list(record.get("events"), sep),
        themes=split_list(record.get("themes"), sep),
        status=status,
        shipped_at=shipped_at,
        source=source,
        extra=more,
        **args,
    )
    return item, []


def items_from_records(
    records: Sequence[tuple[dict[str, Any], int | None]],
    config: ProductConfig,
    *,
    name: str | None = None,
) -> tuple[Item, ...]:
    """[[items]] of the product file (each with the line it starts on): normalised as CSV rows,
    but a problem is an error of the file (``backlog.config_invalid``, line named), as is an id
    written twice."""
    out: list[Item] = []
    seen: dict[str, int | None] = {}
    for n, (raw, line) in enumerate(records, start=1):
        at = f"line {line}: " if line else ""
        shown = name or config.path
        where = f"{shown} line {line}" if line else f"{shown} [[items]] #{n}"
        for key in raw:
            if key not in CANONICAL:
                raise BacklogError(
                    f"{at}[[items]] #{n} key {key!r}: unknown key.{did_you_mean(str(key), CANONICAL)} "
                    f"Known: {', '.join(CANONICAL)}.",
                    code="backlog.config_invalid",
                    file=config.path,
                    hint="fix that item in the product file (docs/backlog-config.md lists the keys)",
                )
        record = {
            k: (
                v if isinstance(v, (list, dict)) or v is None or hasattr(v, "isoformat") else str(v)
            )
            for k, v in raw.items()
        }
        item, problems = normalise(
            record,
            config.planning,
            sep=config.source.list_separator,
            source=where,
            timezone=config.source.timezone,
        )
        if problems or item is None:
            p = problems[0]
            raise BacklogError(
                f"{at}[[items]] #{n} key {p.column!r}: {p.reason}",
                code="backlog.config_invalid",
                file=config.path,
                hint="fix that item in the product file (docs/backlog-config.md lists the keys)",
            )
        if item.item_id in seen:
            first = seen[item.item_id]
            raise BacklogError(
                f"{at}[[items]] #{n}: the id {item.item_id!r} is already used"
                + (f" on line {first}" if first else ""),
                code="backlog.config_invalid",
                file=config.path,
                hint="give each item its own id",
            )
        seen[item.item_id] = line
        out.append(item)
    return tuple(out)


# -- a CSV export -----------------------------------------------------------------------------------


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


@dataclass
class _Mapping:
    fields: dict[
        str, list[tuple[int, str | None]]
    ]  # canonical (or "labels") -> (column index, unit)
    extra: list[int]  # columns kept as text in Item.extra


def _map_header(header: list[str], config: ProductConfig, file: str) -> _Mapping:
    """Which column is which item field: by the tool's preset ([backlog] format) or by our names
    and their aliases, then the columns the product file maps ([backlog] columns). A column one
    typo away from a missing field, or a missing id or title column, fails the read."""
    fmt = config.source.format
    by_name: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        by_name.setdefault(h.strip().lower(), []).append(i)
    mapped = _preset_columns(fmt, by_name) if fmt else _named_columns(header)
    for canon, column in config.source.columns.items():
        idx = by_name.get(column.strip().lower())
        if not idx:
            raise BacklogError(
                f"[backlog] columns maps {canon} to {column!r}, which is not a column of the file."
                f"{did_you_mean(column, header)} Columns: {', '.join(header)}.",
                code="backlog.csv_columns",
                file=file,
                hint="fix [backlog] columns in the product file to name a column of the CSV header",
            )
        mapped[canon] = [(i, None) for i in idx] if canon in LIST_FIELDS else [(idx[0], None)]
    missing = [c for c in ("id", "title") if c not in mapped]
    used = {i for cols in mapped.values() for i, _ in cols}
    if not fmt:
        _check_typos(header, mapped, used, file)
    if missing:
        _missing_columns(header, fmt, missing, file)
    return _Mapping(mapped, [i for i in range(len(header)) if i not in used])


def _preset_columns(
    fmt: str, by_name: dict[str, list[int]]
) -> dict[str, list[tuple[int, str | None]]]:
    """The columns a tool's export names (Jira, Linear): each field's first, all of the list
    fields (labels) and all effort columns (with their units, the first filled one is used)."""
    mapped: dict[str, list[tuple[int, str | None]]] = {}
    for canon, candidates in PRESETS[fmt].items():
        cols = [(i, unit) for name, unit in candidates for i in by_name.get(name.lower(), [])]
        if cols:
            mapped[canon] = cols if canon in ("labels", "effort") else cols[:1]
    return mapped


def _named_columns(header: list[str]) -> dict[str, list[tuple[int, str | None]]]:
    """The columns named as our fields or their aliases (the first of each)."""
    mapped: dict[str, list[tuple[int, str | None]]] = {}
    for i, h in enumerate(header):
        k = _key(h)
        field_name = k if k in CANONICAL else ALIASES.get(k)
        if field_name and field_name not in mapped:
            mapped[field_name] = [(i, None)]
    return mapped


def _check_typos(
    header: list[str], mapped: dict[str, list[tuple[int, str | None]]], used: set[int], file: str
) -> None:
    """A header one typo away from a field the file lacks is a mistake, not an extra column."""
    for i, h in enumerate(header):
        if i in used or not h.strip():
            continue
        wanted = [c for c in CANONICAL if c not in mapped]
        hint = did_you_mean(_key(h), wanted)
        if hint:
            raise BacklogError(
                f"the column {h!r} is not an item field.{hint} Fields: {', '.join(CANONICAL)}.",
                code="backlog.csv_columns",
                file=file,
                hint="rename the column in the CSV, or map it with [backlog] columns",
            )


def _missing_columns(header: list[str], fmt: str, missing: list[str], file: str) -> NoReturn:
    """The file has no id or no title column."""
    names = {
        "": "poanalytics columns",
        "jira": "the Jira preset",
        "linear": "the Linear preset",
    }[fmt]
    raise BacklogError(
        f"the file has no column for {' and '.join(missing)} (read with {names}). "
        f"Columns: {', '.join(header) or '(none)'}."
        + "".join(did_you_mean(m, header) for m in missing),
        code="backlog.csv_columns",
        file=file,
        hint='set [backlog] format ("jira", "linear") for an export of those tools, or map the '
        'columns: [backlog] columns = { id = "Key", title = "Name" }',
    )


def _record(
    row: list[str], mapping: _Mapping, fmt: str, sep: str
) -> tuple[dict[str, Any], str | None, dict[str, Any]]:
    """(canonical record, effort unit, extra) of one CSV row."""
    record: dict[str, Any] = {}
    unit = None
    for canon, cols in mapping.fields.items():
        if canon == "labels":
            continue
        if canon == "effort":
            record_unit = _effort_cell(row, cols)
            if record_unit is not None:
                record["effort"], unit = record_unit
            continue
        if canon in LIST_FIELDS and len(cols) > 1:
            record[canon] = sep.join(row[i] for i, _ in cols if row[i].strip())
        else:
            record[canon] = row[cols[0][0]]
        if fmt == "linear" and re.match(r"'[=+\-@]", record.get(canon, "")):
            # Linear puts ' before text a spreadsheet would read as a formula
            record[canon] = record[canon][1:]
    extra = {}
    labels = [row[i] for i, _ in mapping.fields.get("labels", []) if row[i].strip()]
    plain = _read_labels(labels, record, fmt, sep)
    if plain:
        extra["labels"] = plain
    return record, unit, extra


def _effort_cell(
    row: list[str], cols: list[tuple[int, str | None]]
) -> tuple[str, str | None] | None:
    """The first filled effort column of the row, with its unit; None when all are empty."""
    for i, u in cols:
        if row[i].strip():
            return row[i], u
    return None


def _read_labels(labels: list[str], record: dict[str, Any], fmt: str, sep: str) -> list[str]:
    """Labels that name a field (``objective:Activation``, ``segment:plan=pro``) go into the
    record; the others are returned as plain labels."""
    plain: list[str] = []
    for cell in labels:
        for label in re.split(LABEL_SPLIT.get(fmt, re.escape(sep)), cell.strip()):
            prefix, colon, rest = label.partition(":")
            target = LABEL_PREFIXES.get(prefix.strip().lower()) if colon else None
            if target is None or not rest.strip():
                if label.strip():
                    plain.append(label.strip())
            elif target in LIST_FIELDS or target == "segment":
                before = _clean(record.get(target))
                record[target] = f"{before}{sep}{rest.strip()}" if before else rest.strip()
            else:
                record[target] = rest.strip()
    return plain


def read_items(
    config: ProductConfig | None,
    path: str | Path | None = None,
    *,
    root: str | Path | None = None,
) -> ItemsRead:
    """The backlog items: [[items]] of ``config`` plus the rows of the CSV export ``path`` (default
    ``[backlog] path`` of the config; relative paths are read from ``root``, the project root,
    default: the one found from the working directory, as ``read_product``).
    Nothing is lost (see the module docstring): every row is an item, quarantined or a duplicate,
    and the rows are counted twice. ``backlog.csv_missing`` when the CSV does not exist."""
    config = config if config is not None else ProductConfig(path="")
    base = Path(root).expanduser() if root is not None else find_root()
    named = path if path is not None else config.source.path
    rows: list[tuple[Item | None, list[Problem], str, int | None, str]] = []
    for item in config.items:
        line = _line_of(item.source)
        rows.append((item, [], config.path, line, item.source))
    counted = len(config.items)
    file_label: str | None = None
    if named:
        file = Path(named).expanduser()
        if not file.is_absolute() and base is not None:
            file = base / file
        file_label = str(named)
        csv_rows, counted_csv = _read_csv_rows(file, file_label, config)
        rows.extend(csv_rows)
        counted += counted_csv
    return _account(rows, counted, file_label, config)


def _line_of(source: str) -> int | None:
    m = re.search(r"line (\d+)$", source)
    return int(m.group(1)) if m else None


_Row = tuple[Item | None, list[Problem], str, int | None, str]  # item, problems, file, row, where


def _read_csv_rows(file: Path, label: str, config: ProductConfig) -> tuple[list[_Row], int]:
    """Every data row of the CSV export as an item or its problems, and the number of data rows
    DuckDB's reader counts (the second count ``_account`` checks)."""
    if not file.is_file():
        raise BacklogError(
            f"the backlog file {file} does not exist",
            code="backlog.csv_missing",
            file=label,
            hint="check [backlog] path in the product file (relative to the project root), or set "
            'path = "" to read the items of the product file only',
        )
    src = config.source
    text = _decode(file, label, src.encoding)
    records = _csv_records(text, label)
    header = [h.strip() for h in records[0][2]]
    mapping = _map_header(header, config, label)
    loaded_by_duckdb, rejected = _duckdb_rows(text, len(header), label)
    bad = _rejected_rows(records, rejected, label)
    out: list[_Row] = []
    for k, (_first, _last, row) in enumerate(records[1:], start=2):  # spreadsheet rows
        if not row:
            continue  # a blank line: no item, but it keeps its row number
        out.append(_csv_row(k, row, header, bad, mapping, config, label))
    return out, loaded_by_duckdb + len(rejected)


def _decode(file: Path, label: str, encoding_name: str) -> str:
    """The file's text in the product file's encoding (UTF-8: a byte-order mark dropped)."""
    raw = file.read_bytes()
    encoding = "utf-8-sig" if codecs.lookup(encoding_name).name == "utf-8" else encoding_name
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BacklogError(
            f"line {line} is not {encoding_name} text (byte {raw[exc.start]:#04x}); no row was read",
            code="backlog.csv_encoding",
            file=label,
            hint='export the CSV as UTF-8, or name its encoding: [backlog] encoding = "cp1252"',
        ) from exc


def _csv_records(text: str, label: str) -> list[tuple[int, int, list[str]]]:
    """Python's reader: each record with the physical lines it starts and ends on; the first is
    the header."""
    stream = io.StringIO(text, newline="")
    reader = csv.reader(stream, strict=False)
    records: list[tuple[int, int, list[str]]] = []  # first line, last line, cells
    try:
        before = 0
        for rec in reader:
            records.append((before + 1, reader.line_num, rec))
            before = reader.line_num
    except csv.Error as exc:
        raise BacklogError(
            f"the CSV cannot be read near line {reader.line_num}: {exc}",
            code="backlog.csv_unreadable",
            file=label,
            hint="export the file again as CSV (comma separated, quotes around cells with commas)",
        ) from exc
    if not records or not any(c.strip() for c in records[0][2]):
        raise BacklogError(
            "the file is empty or its first line is not a header",
            code="backlog.csv_empty",
            file=label,
            hint="export the backlog with its header row (id,title,effort,... or the tool's own)",
        )
    return records


def _rejected_rows(
    records: list[tuple[int, int, list[str]]], rejected: dict[int, str], label: str
) -> dict[int, str]:
    """The rows DuckDB's reader rejects ({row: why}). DuckDB numbers the rows it rejects as we do
    (a blank line counts, a row over several lines is one): each must be a row Python's reader
    found too, or the two readers disagree and no row is used."""
    rows_at = {k for k, (_f, _l, rec) in enumerate(records[1:], start=2) if rec}
    bad = {k: why for k, why in rejected.items() if k in rows_at}
    strays = sorted(k for k in rejected if k not in rows_at)
    if strays:
        raise BacklogError(
            f"DuckDB's CSV reader rejects row {strays[0]}, where Python's reader finds no row: "
            "the two read the rows differently, so none is used",
            code="backlog.count_mismatch",
            file=label,
            hint="look for a quote that is never closed or a quote inside an unquoted cell near "
            "that line, and export the file again",
        )
    return bad


def _csv_row(
    k: int,
    row: list[str],
    header: list[str],
    bad: dict[int, str],
    mapping: _Mapping,
    config: ProductConfig,
    label: str,
) -> _Row:
    """Spreadsheet row ``k`` as an item, or quarantined: a row with another number of cells than
    the header, or one DuckDB rejects, as a whole; otherwise one problem per bad cell."""
    src = config.source
    where = f"{label} row {k}"
    if len(row) != len(header) or k in bad:
        shown = ",".join(row)
        reason = (
            f"the row has {len(row)} cells, the header {len(header)} (a comma outside quotes?)"
            if len(row) != len(header)
            else f"the row is not well-formed CSV ({bad[k]}): a quote inside a cell "
            'must be doubled ("") and the cell quoted'
        )
        return (None, [Problem(None, shown[:200], reason, "backlog.bad_row")], label, k, where)
    record, unit, extra = _record(row, mapping, src.format, src.list_separator)
    for i in mapping.extra:
        if row[i].strip():
            extra[header[i] or f"column {i + 1}"] = row[i]
    item, problems = normalise(
        record,
        config.planning,
        sep=src.list_separator,
        effort_unit=unit,
        source=where,
        extra=extra,
        timezone=src.timezone,
    )
    return (item, problems, label, k, where)


def _duckdb_rows(text: str, columns: int, label: str) -> tuple[int, dict[int, str]]:
    """The data rows read a second way, by DuckDB's CSV reader, independent of Python's csv
    module: (rows it reads, {row number of a rejected row: why}; rows numbered as a spreadsheet
    shows them, which is how DuckDB numbers them). It reads the text as decoded
    (UTF-8, byte-order mark dropped) with line ends made LF (files with rows appended on another
    system mix CRLF and LF; Python's reader takes both), every column as text, no sniffing."""
    con = duckdb.connect()
    with tempfile.TemporaryDirectory(prefix="poa-backlog-") as tmp:
        target = Path(tmp) / "backlog.csv"
        target.write_text(
            text.replace("\r\n", "\n").replace("\r", "\n"), encoding="utf-8", newline=""
        )
        cols = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(columns)) + "}"
        try:
            n = con.execute(
                "SELECT count(*) FROM read_csv($p, header = true, auto_detect = false, "
                f"columns = {cols}, delim = ',', quote = '\"', escape = '\"', new_line = '\\n', "
                "parallel = false, store_rejects = true, rejects_table = 'backlog_rejects', "
                "rejects_scan = 'backlog_scan')",
                {"p": str(target)},
            ).fetchall()[0][0]
            rejects = con.execute(
                "SELECT line, min(error_type) FROM backlog_rejects GROUP BY line"
            ).fetchall()
        except duckdb.Error as exc:
            raise BacklogError(
                f"the rows cannot be counted a second way ({str(exc).splitlines()[0]}); nothing "
                "was read, so nothing is lost silently",
                code="backlog.count_mismatch",
                file=label,
                hint="look for a quote that is never closed (it swallows the rows after it) and "
                "export the file again",
            ) from exc
        finally:
            con.close()
    words = {
        "UNQUOTED VALUE": "a quote in the middle of a cell",
        "TOO MANY COLUMNS": "too many cells",
        "MISSING COLUMNS": "too few cells",
    }
    return int(n), {int(line): words.get(str(kind), str(kind).lower()) for line, kind in rejects}


def _account(
    rows: list[_Row],
    counted: int,
    source: str | None,
    config: ProductConfig,
) -> ItemsRead:
    """Every row is an item, quarantined or a duplicate; the rows read must match the rows
    counted a second way."""
    duplicate_rows, conflict = _duplicates(rows)
    items: list[Item] = []
    quarantine: list[dict[str, Any]] = []
    q_rows = 0
    for n, (item, problems, file, row, _where) in enumerate(rows):
        if n in conflict:
            problems = [conflict[n]]
        if problems:
            q_rows += 1
            quarantine.extend(_quarantine_rows(problems, file, row))
        elif n in duplicate_rows:
            continue
        elif item is not None:
            items.append(item)
    accounting = {
        "rows_read": len(rows),
        "rows_counted": counted,
        "loaded": len(items),
        "quarantined": q_rows,
        "duplicates": len(duplicate_rows),
    }
    _check_accounting(accounting, rows, counted, source, config)
    return ItemsRead(
        items=tuple(items),
        table=items_table(items),
        quarantine=pd.DataFrame(quarantine, columns=list(QUARANTINE_COLUMNS), dtype=object).astype(
            {"row": "Int64"}
        ),
        accounting=accounting,
        source=source,
    )


def _duplicates(rows: list[_Row]) -> tuple[set[int], dict[int, Problem]]:
    """Rows with the same id: identical content (all but where it was read) is counted once (the
    later rows are duplicates); any difference quarantines every row of that id (a conflict)."""
    by_id: dict[str, list[int]] = {}
    for n, (item, _p, _f, _r, _w) in enumerate(rows):
        if item is not None:
            by_id.setdefault(item.item_id, []).append(n)
    duplicate_rows: set[int] = set()
    conflict: dict[int, Problem] = {}
    for item_id, ns in by_id.items():
        if len(ns) < 2:
            continue
        first = rows[ns[0]][0]
        assert first is not None
        same = all(replace(rows[n][0], source="") == replace(first, source="") for n in ns[1:])  # type: ignore[type-var]
        if same:
            duplicate_rows.update(ns[1:])
            continue
        places = ", ".join(rows[n][4] for n in ns)
        for n in ns:
            conflict[n] = Problem(
                "id",
                item_id,
                f"the id {item_id!r} is on {len(ns)} rows with different content ({places}): keep one",
                "backlog.duplicate_id",
            )
    return duplicate_rows, conflict


def _quarantine_rows(problems: list[Problem], file: str, row: int | None) -> list[dict[str, Any]]:
    return [
        {
            "file": file,
            "row": row,
            "column": p.column,
            "value": p.value,
            "reason": p.reason,
            "code": p.code,
        }
        for p in problems
    ]


def _check_accounting(
    accounting: dict[str, int],
    rows: list[_Row],
    counted: int,
    source: str | None,
    config: ProductConfig,
) -> None:
    """The parts add up to the rows read, and Python's reader read as many rows as DuckDB's."""
    if (
        accounting["rows_read"]
        != accounting["loaded"] + accounting["quarantined"] + accounting["duplicates"]
    ):  # pragma: no cover
        raise BacklogError(
            "the item accounting does not add up",
            code="backlog.count_mismatch",
            file=source,
            hint="report this as a bug with the file that was read",
        )
    if accounting["rows_read"] != counted:
        raise BacklogError(
            f"Python's CSV reader found {len(rows) - len(config.items)} data rows, DuckDB's "
            f"{counted - len(config.items)}: rows may have been merged or lost, so none is used",
            code="backlog.count_mismatch",
            file=source,
            hint="look for a quote that is never closed or a line break inside an unquoted cell, "
            "and export the file again",
        )


def items_table(items: Iterable[Item]) -> pd.DataFrame:
    """One row per item, Item's fields as columns (lists as lists, shipped_at in UTC)."""
    data = [{name: getattr(i, name) for name in ITEM_COLUMNS} for i in items]
    table = pd.DataFrame(data, columns=list(ITEM_COLUMNS))
    table["shipped_at"] = pd.to_datetime(table["shipped_at"], utc=True)
    for col in ("effort_weeks", "effort_low", "effort_high", "impact", *NUMBER_FIELDS):
        table[col] = table[col].astype("float64")
    return table


# -- refinement checks ------------------------------------------------------------------------------


@dataclass
class _Known:
    """What ``check_items`` checks an item's links against (None: not checked)."""

    funnel_steps: list[str] | None
    events: set[str] | None
    themes: set[str] | None
    properties: set[str] | None
    objectives: list[str]
    capacity: float | None


_Finding = tuple[str, str, str, bool]  # check, code, detail, blocks ready


def check_items(
    items: Iterable[Item],
    config: ProductConfig,
    *,
    steps: Iterable[str] | None = None,
    events: Iterable[str] | None = None,
    themes: Iterable[str] | None = None,
    properties: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Refinement checks: one row per finding (item_id, check, code, detail, ready), and one row
    ``check = "ready"`` for an item with none. ``ready`` is the item's verdict (the same on all its
    rows): False when it has no effort, zero effort, no evidence link (no step, event, theme or
    segment), is larger than ``[planning] capacity``, or links to a step / event / theme /
    objective / segment property that is not known. Pure: the caller passes what is known (the
    warehouse's event names, the voice themes, the event properties; ``steps`` defaults to the
    config's [funnel] steps); a None list is not checked. A step must be a step of the funnel AND
    an event of the warehouse (when events are given). Shipped or dropped items are checked too
    (their ``ready`` is about the data, not the plan); a shipped item without a date is flagged
    (``backlog.no_ship_date``: its before/after needs one) without changing ``ready``. An id that
    an impact of the config lists but no item has gets a row of its own (``backlog.unknown_item``,
    ready False): the impact map would otherwise lose that link without a word."""
    known = _Known(
        funnel_steps=(
            list(steps)
            if steps is not None
            else (list(config.funnel.steps) if config.funnel else None)
        ),
        events=set(events) if events is not None else None,
        themes=set(themes) if themes is not None else None,
        properties=set(properties) if properties is not None else None,
        objectives=[o.name for o in config.objectives],
        capacity=config.planning.capacity,
    )
    rows: list[dict[str, Any]] = []
    items = list(items)
    ids = [i.item_id for i in items]
    for item in items:
        found = [*_effort_findings(item, known.capacity), *_link_findings(item, known)]
        if item.status == "shipped" and item.shipped_at is None:
            found.append(
                (
                    "no ship date",
                    "backlog.no_ship_date",
                    "shipped without shipped_at: its before/after cannot be measured",
                    False,
                )
            )
        if item.shipped_at is not None and ZONELESS in item.extra:
            found.append(
                (
                    "ship date without a zone",
                    "backlog.ship_date_no_zone",
                    f"shipped_at {item.extra[ZONELESS]!r} has no time zone and is read as UTC: set "
                    "[backlog] timezone to the zone the tracker wrote it in (Jira: the exporting "
                    "user's), or write it with its offset",
                    False,
                )
            )
        rows.extend(_finding_rows(item.item_id, found))
    rows.extend(_unknown_items(config, {i["item_id"] for i in rows}, ids))
    return pd.DataFrame(rows, columns=list(CHECK_COLUMNS))


def _effort_findings(item: Item, capacity: float | None) -> list[_Finding]:
    """No effort, zero effort, or more than the capacity."""
    if item.effort_weeks is None:
        return [
            (
                "no effort",
                "backlog.no_effort",
                "no effort estimate: RICE, ICE and WSJF need one",
                True,
            )
        ]
    if item.effort_weeks == 0:
        return [
            (
                "zero effort",
                "backlog.zero_effort",
                f"effort {item.effort_raw!r} is 0 person-weeks: scores would divide by zero",
                True,
            )
        ]
    if capacity is not None and item.effort_weeks > capacity:
        return [
            (
                "too large",
                "backlog.too_large",
                f"{item.effort_weeks:g} person-weeks is more than the capacity of {capacity:g}: split it",
                True,
            )
        ]
    return []


def _link_findings(item: Item, known: _Known) -> list[_Finding]:
    """No evidence link at all, and each link to a step, event, theme, objective or segment
    property that is not known."""
    found: list[_Finding] = []
    if not (item.steps or item.events or item.themes or item.segment):
        found.append(
            (
                "no evidence link",
                "backlog.no_evidence_link",
                "no step, event, theme or segment: nothing in the data can say how many users it reaches",
                True,
            )
        )
    found += _step_findings(item, known)
    found += [
        (
            "unknown event",
            "backlog.unknown_event",
            f"{event!r} is no event of the warehouse.{did_you_mean(event, known.events)}",
            True,
        )
        for event in item.events
        if known.events is not None and event not in known.events
    ]
    found += [
        (
            "unknown theme",
            "backlog.unknown_theme",
            f"{theme!r} is no voice theme.{did_you_mean(theme, known.themes)}",
            True,
        )
        for theme in item.themes
        if known.themes is not None and theme not in known.themes
    ]
    found += [
        (
            "unknown objective",
            "backlog.unknown_objective",
            f"{name!r} is no objective of the product file.{did_you_mean(name, known.objectives)}",
            True,
        )
        for name in item.objectives
        if name not in known.objectives
    ]
    found += [
        (
            "unknown segment property",
            "backlog.unknown_property",
            f"{prop!r} is no event property.{did_you_mean(prop, known.properties)}",
            True,
        )
        for prop in item.segment
        if known.properties is not None and prop not in known.properties
    ]
    return found


def _step_findings(item: Item, known: _Known) -> list[_Finding]:
    """A step must be a step of the funnel, and an event of the warehouse."""
    found: list[_Finding] = []
    for step in item.steps:
        if known.funnel_steps is not None and step not in known.funnel_steps:
            found.append(
                (
                    "unknown step",
                    "backlog.unknown_step",
                    f"{step!r} is not a step of [funnel].{did_you_mean(step, known.funnel_steps)}",
                    True,
                )
            )
        elif known.events is not None and step not in known.events:
            found.append(
                (
                    "unknown step",
                    "backlog.unknown_step",
                    f"step {step!r} is no event of the warehouse.{did_you_mean(step, known.events)}",
                    True,
                )
            )
    return found


def _finding_rows(item_id: str, found: list[_Finding]) -> list[dict[str, Any]]:
    """An item's rows: one per finding with the item's verdict, or one ``ready`` row."""
    if not found:
        return [{"item_id": item_id, "check": "ready", "code": "", "detail": "", "ready": True}]
    ready = not any(b for *_, b in found)
    return [
        {"item_id": item_id, "check": check, "code": code, "detail": detail, "ready": ready}
        for check, code, detail, _b in found
    ]


def _unknown_items(config: ProductConfig, known: set[str], ids: list[str]) -> list[dict[str, Any]]:
    """An id an impact of the config lists but no item has: a row of its own."""
    rows: list[dict[str, Any]] = []
    for imp in config.impacts:
        for item_id in imp.items:
            if item_id not in known:
                known.add(item_id)
                rows.append(
                    {
                        "item_id": item_id,
                        "check": "unknown item",
                        "code": "backlog.unknown_item",
                        "detail": f"the impact of objective {imp.objective!r} lists {item_id!r}, "
                        f"which is no item of the backlog.{did_you_mean(item_id, ids)}",
                        "ready": False,
                    }
                )
    return rows


def warehouse_names(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """What ``check_items`` checks links against, read from a warehouse: ``events`` (distinct event
    names), ``themes`` (of the latest voice refresh; empty when voice was never refreshed) and
    ``properties`` (top-level keys of the events' properties); events and properties from the
    event catalog (``metrics.catalog``)."""
    events = event_names(con)
    themes = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT theme FROM voice_themes WHERE refresh_id = "
            "(SELECT max(refresh_id) FROM voice_themes) ORDER BY 1"
        ).fetchall()
    ]
    return {"events": events, "themes": themes, "properties": property_keys(con)}
