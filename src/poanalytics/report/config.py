"""conf/report.toml: the tables the report's sections read ([report], [funnel], [retention], [churn],
[segments], [health], [voice], [backlog]).

Other tables in the same file belong to other parts (delivery, runner) and are read by their own
loaders; this one checks only its own: an unknown key or a value of the wrong type is a
``ConfigError`` naming the file, the key and what is expected, never silently ignored.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..config import find_root
from ..errors import ConfigError, did_you_mean

REPORT_CONFIG = Path("conf") / "report.toml"


@dataclass(frozen=True)
class ReportTable:
    title: str = "Weekly product report"
    history_weeks: int = 8


@dataclass(frozen=True)
class FunnelTable:
    steps: list[str] = field(
        default_factory=lambda: [
            "signed_up",
            "onboarding_started",
            "profile_completed",
            "project_created",
            "activated",
        ]
    )
    window: str = "7d"
    breakdown: str = "platform"
    drop_step: int = 3


@dataclass(frozen=True)
class RetentionTable:
    start_event: str = "signed_up"
    return_event: str = ""
    cohort: str = "first_time"
    intervals: int = 6
    segment: str = "plan"


@dataclass(frozen=True)
class ChurnTable:
    inactive_days: int = 28
    segment: str = "plan"


@dataclass(frozen=True)
class SegmentsTable:
    properties: list[str] = field(default_factory=lambda: ["platform", "plan", "country"])
    top: int = 8


@dataclass(frozen=True)
class HealthTable:
    stale_days: dict[str, int] = field(
        default_factory=lambda: {"events": 2, "tickets": 7, "notes": 60}
    )
    volume_weeks: int = 4
    volume_drop: float = 0.5
    min_usual: int = 20


@dataclass(frozen=True)
class VoiceTable:
    source: str = "all"
    top: int = 8
    quote_themes: int = 3
    quotes: int = 2


@dataclass(frozen=True)
class BacklogTable:
    framework: str = "rice"
    top: int = 10
    capacity: float = 0.0
    backlog: str = ""
    shipped_weeks: int = 12


@dataclass(frozen=True)
class ReportConfig:
    """The report's settings; ``path`` is the file they came from (None: built-in defaults)."""

    report: ReportTable = field(default_factory=ReportTable)
    funnel: FunnelTable = field(default_factory=FunnelTable)
    retention: RetentionTable = field(default_factory=RetentionTable)
    churn: ChurnTable = field(default_factory=ChurnTable)
    segments: SegmentsTable = field(default_factory=SegmentsTable)
    health: HealthTable = field(default_factory=HealthTable)
    voice: VoiceTable = field(default_factory=VoiceTable)
    backlog: BacklogTable = field(default_factory=BacklogTable)
    path: str | None = None


TABLES = {
    "report": ReportTable,
    "funnel": FunnelTable,
    "retention": RetentionTable,
    "churn": ChurnTable,
    "segments": SegmentsTable,
    "health": HealthTable,
    "voice": VoiceTable,
    "backlog": BacklogTable,
}
# value checks beyond the type: (test, what is expected)
LIMITS: dict[tuple[str, str], tuple[Any, str]] = {
    ("report", "history_weeks"): (lambda v: 2 <= v <= 104, "a number of weeks from 2 to 104"),
    ("funnel", "steps"): (lambda v: len(v) >= 2, "at least two event names"),
    ("funnel", "drop_step"): (lambda v: v >= 2, "a step number from 2 on"),
    ("retention", "cohort"): (
        lambda v: v in ("first_time", "recurring"),
        '"first_time" or "recurring"',
    ),
    ("retention", "intervals"): (lambda v: 1 <= v <= 52, "a number of weeks from 1 to 52"),
    ("churn", "inactive_days"): (lambda v: v >= 1, "a number of days from 1 on"),
    ("segments", "top"): (lambda v: 1 <= v <= 9, "from 1 to 9 (one colour each)"),
    ("health", "stale_days"): (
        lambda v: set(v) <= {"events", "tickets", "notes"} and all(d >= 0 for d in v.values()),
        "days per source kind (events, tickets, notes), e.g. { events = 2, tickets = 7 }",
    ),
    ("health", "volume_weeks"): (lambda v: 1 <= v <= 52, "a number of weeks from 1 to 52"),
    ("health", "volume_drop"): (lambda v: 0 < v < 1, "a fraction between 0 and 1, e.g. 0.5"),
    ("health", "min_usual"): (lambda v: v >= 0, "a number of rows, 0 or more"),
    ("voice", "source"): (
        lambda v: v in ("all", "tickets", "notes"),
        '"all", "tickets" or "notes"',
    ),
    ("voice", "top"): (lambda v: 1 <= v <= 30, "a number of themes from 1 to 30"),
    ("voice", "quote_themes"): (lambda v: 0 <= v <= 10, "a number of themes from 0 to 10"),
    ("voice", "quotes"): (lambda v: 1 <= v <= 5, "a number of quotes from 1 to 5"),
    ("backlog", "framework"): (
        lambda v: v in ("rice", "ice", "wsjf", "value_effort"),
        '"rice", "ice", "wsjf" or "value_effort"',
    ),
    ("backlog", "top"): (lambda v: 1 <= v <= 50, "a number of items from 1 to 50"),
    ("backlog", "capacity"): (
        lambda v: v >= 0,
        "person-weeks, 0 or more (0: [planning] capacity of conf/product.toml)",
    ),
    ("backlog", "shipped_weeks"): (lambda v: 1 <= v <= 104, "a number of weeks from 1 to 104"),
}


def default_path(root: Path | None = None) -> Path:
    return find_root(root) / REPORT_CONFIG


def load_report_config(path: str | Path | None = None) -> ReportConfig:
    """Read the report's tables from ``path`` ("" or None: the project's conf/report.toml; built-in
    defaults, the same as the committed file, when the project has none). A relative path not
    found from the working directory is taken from the project root (a notebook runs in
    notebooks/).

    Error codes: ``report.config_missing`` (a file was named and does not exist),
    ``report.config_syntax`` (not valid TOML), ``report.config_key`` (a key the table does not
    have: fix its spelling), ``report.config_type`` (a value of the wrong type or out of range)."""
    if path is None or (isinstance(path, str) and not path.strip()):
        file = default_path()
        if not file.is_file():
            return ReportConfig()
    else:
        file = Path(path).expanduser()
        if not file.is_absolute() and not file.is_file():  # relative to the project root
            file = find_root() / file
        if not file.is_file():
            raise ConfigError(
                f"report config {file} does not exist",
                code="report.config_missing",
                hint="pass the path of a report config (see conf/report.toml), or leave config "
                "empty for the project's conf/report.toml",
            )
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{file} is not valid TOML: {exc}",
            code="report.config_syntax",
            hint="fix the line it names (strings need quotes, lists [..], tables { k = v })",
            file=str(file),
        ) from exc
    return parse_report_config(data, str(file))


def parse_report_config(data: dict[str, Any], where: str = "conf/report.toml") -> ReportConfig:
    """The tables this loader owns from parsed TOML; other tables are left to their owners."""
    values: dict[str, Any] = {}
    for name, cls in TABLES.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise _type_error(where, name, table, "a table [" + name + "]")
        values[name] = _table(cls(), name, table, where)
    return ReportConfig(**values, path=where)


def _table(default: Any, name: str, table: dict[str, Any], where: str) -> Any:
    known = {f.name: getattr(default, f.name) for f in fields(default)}
    changes = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(
                f"[{name}] has no key {key!r}.{did_you_mean(key, known)} "
                f"Known: {', '.join(sorted(known))}.",
                code="report.config_key",
                hint=f"fix the key's spelling in {where} (every key is described there)",
                file=where,
            )
        changes[key] = _check(name, key, value, known[key], where)
    return replace(default, **changes)


def _check(table: str, key: str, value: Any, default: Any, where: str) -> Any:
    expected: type = type(default)
    ok: bool
    if expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif expected is list:
        ok = isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)
    elif expected is dict:
        ok = isinstance(value, dict) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value.values()
        )
    else:
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    limit = LIMITS.get((table, key))
    if ok and limit is not None and not limit[0](value):
        raise _type_error(where, f"{table}.{key}", value, limit[1])
    if not ok:
        what = {
            str: "text in quotes",
            int: "a whole number",
            float: "a number",
            list: "a list of names",
            dict: "a table of whole numbers",
        }
        raise _type_error(where, f"{table}.{key}", value, what.get(expected, expected.__name__))
    return value


def _type_error(where: str, key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(
        f"{key} = {value!r} in {where}: expected {expected}",
        code="report.config_type",
        hint=f"set {key} in {where} to {expected} (conf/report.toml describes every key)",
        file=where,
    )
