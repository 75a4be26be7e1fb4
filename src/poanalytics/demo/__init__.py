"""A deterministic demo data set: a B2B SaaS product's events, support tickets and interview notes.

``generate(out_dir, users=2000, weeks=16, seed=7, end="2026-11-16")`` writes

- ``events.parquet``: user_id, event, timestamp (TIMESTAMPTZ, UTC), session_id, properties (JSON
  text). Generated entirely in DuckDB SQL from hash-based draws and streamed to Parquet, so the same
  code makes 10k or 100M events, and the same arguments always give the same file.
- ``tickets.csv``: a Zendesk CSV export (Id, Requester, Requester email, Requester external id,
  Subject, Description, Status, Priority, Via, Tags, Created at, Updated at, Satisfaction Score).
- ``notes/*.md``: 12-20 interview notes with YAML front matter, ``> quote #tag`` highlights and
  ``[tag, tag] text`` lines.
- ``backlog.csv``: backlog items the stories justify.
- ``README.md``: what is in the folder and what you should find.

The funnel: visitors view pages (``page_viewed``), some sign up (``signed_up``), go through
onboarding (``onboarding_started``, ``profile_completed``, ``project_created``, optionally
``teammate_invited``), get to ``activated`` (first report), then use the product on active days
(``session_started``, ``dashboard_viewed``, ``report_created``, ``filter_applied``,
``export_clicked``, ...), may upgrade (``plan_upgraded``) and, on a paid plan, cancel
(``subscription_cancelled``) when they churn. Every user has a platform, plan, country, company,
name and e-mail (in the ``signed_up`` properties, the tickets and the notes: redaction material).

Planted stories (constants in :mod:`poanalytics.demo.stories`):

(a) Android users who sign up in ``ANDROID_BUG_WEEKS`` (weeks 5-3 before ``end``) mostly fail at
    ``profile_completed`` (``ANDROID_BUG_PROFILE_RATE`` = 30% complete instead of 80%); crash tickets
    tagged ``android onboarding bug`` and interview quotes go with it.
(b) Starter users churn fast (``MEAN_LIFETIME_DAYS['starter']`` = 14 days against 45-150) and say
    it is the price: tickets tagged ``pricing``, cancel reason ``too_expensive``, interview quotes.
(c) Users who invite a teammate live ``TEAMMATE_LIFETIME_FACTOR`` (2.5x) longer.

``load_demo(wb, files)`` loads the events, tickets and notes into a Workbench.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd

from .. import db
from ..errors import ConfigError
from ..ingest.pipeline import LoadReport
from ..workbench import Workbench
from . import stories
from .backlog import write_backlog
from .events import CHUNK_ROWS, USERS_TABLE, build_users, plan_windows, write_events
from .notes import write_notes
from .stories import (
    ANDROID_BUG_PROFILE_RATE,
    ANDROID_BUG_WEEKS,
    DEFAULT_END,
    DEFAULT_SEED,
    DEFAULT_USERS,
    DEFAULT_WEEKS,
    MEAN_LIFETIME_DAYS,
    PROFILE_COMPLETION_RATE,
    TEAMMATE_LIFETIME_FACTOR,
    android_bug_window,
)
from .tickets import write_tickets

__all__ = [
    "ANDROID_BUG_PROFILE_RATE",
    "ANDROID_BUG_WEEKS",
    "MEAN_LIFETIME_DAYS",
    "PROFILE_COMPLETION_RATE",
    "TEAMMATE_LIFETIME_FACTOR",
    "DemoFiles",
    "android_bug_window",
    "generate",
    "load_demo",
    "stories",
]


@dataclass
class DemoFiles:
    """Where :func:`generate` wrote the demo, with what it wrote."""

    out_dir: Path
    events: Path
    tickets: Path
    notes: Path
    backlog: Path
    readme: Path
    users: int
    weeks: int
    seed: int
    end: str
    events_rows: int = 0
    signed_up: int = 0
    tickets_rows: int = 0
    notes_count: int = 0
    backlog_items: int = 0
    seconds: float = 0.0
    facts: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}

    def __str__(self) -> str:
        return (
            f"demo data in {self.out_dir} (users={self.users}, weeks={self.weeks}, seed={self.seed}, "
            f"end={self.end}): {self.events_rows:,} events, {self.signed_up:,} sign-ups, "
            f"{self.tickets_rows:,} tickets, {self.notes_count} notes, {self.backlog_items} backlog items "
            f"[{self.seconds:.1f}s]"
        )


def _check(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(
            f"{name} must be a whole number >= {low}, got {value!r}",
            code="demo.argument",
            hint=f"pass {name}={max(low, 1)} or more",
        )
    return value


def generate(
    out_dir: str | Path,
    *,
    users: int = DEFAULT_USERS,
    weeks: int = DEFAULT_WEEKS,
    seed: int = DEFAULT_SEED,
    end: str = DEFAULT_END,
) -> DemoFiles:
    """Write the demo data set to ``out_dir`` (created if needed; earlier demo files are replaced).

    ``users`` people visit during the ``weeks`` weeks before ``end`` (a Monday; the data stops just
    before it); about 65% sign up. Events come to ~45 per person at 16 weeks, so 10M events need
    ~230k users and 100M ~2.3M users (5.5 minutes and ~6 GB of memory on 2 cores), or fewer users
    over more weeks. The same arguments always give the same files. Story (a) needs ``weeks >= 6`` to be complete (with weeks before the bug to
    compare with).
    """
    started = time.perf_counter()
    _check("users", users, 1)
    _check("weeks", weeks, 1)
    _check("seed", seed, 0)
    end_dt = stories.parse_end(end)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = DemoFiles(
        out_dir=out,
        events=out / "events.parquet",
        tickets=out / "tickets.csv",
        notes=out / "notes",
        backlog=out / "backlog.csv",
        readme=out / "README.md",
        users=users,
        weeks=weeks,
        seed=seed,
        end=end_dt.date().isoformat(),
    )
    spill = out / ".duckdb_tmp"
    con = db.connect(":memory:")
    try:
        # the final sort of 100M events spills here rather than filling memory
        con.execute(f"SET temp_directory = {db.quote_literal(str(spill))}")
        con.execute("SET preserve_insertion_order = true")
        files.signed_up = build_users(con, users=users, weeks=weeks, seed=seed, end=end_dt)
        windows = plan_windows(users, weeks, CHUNK_ROWS)
        files.events_rows = write_events(con, files.events, windows=windows, work=spill)
        files.tickets_rows = write_tickets(con, files.tickets, seed)
        files.notes_count = write_notes(con, files.notes, seed)
        files.backlog_items = write_backlog(files.backlog)
        files.facts = _facts(con)
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    files.seconds = round(time.perf_counter() - started, 2)
    files.readme.write_text(readme_text(files), encoding="utf-8")
    return files


def _facts(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """The stories measured on the generated users (for the README)."""
    row = con.execute(f"""
        SELECT count(*), count(*) FILTER (signed), count(*) FILTER (activated),
               avg(profile::INT) FILTER (in_bug AND onb),
               avg(profile::INT) FILTER (NOT in_bug AND onb AND platform = 'android'),
               avg(profile::INT) FILTER (NOT in_bug AND onb),
               avg(cancelled::INT) FILTER (activated AND plan = 'starter'),
               avg(cancelled::INT) FILTER (activated AND plan IN ('pro', 'business')),
               avg((cancelled AND churn_ts < activated_ts + INTERVAL 30 DAY)::INT)
                   FILTER (activated AND plan = 'starter' AND activated_ts < t_end - INTERVAL 30 DAY),
               avg((cancelled AND churn_ts < activated_ts + INTERVAL 30 DAY)::INT)
                   FILTER (activated AND plan IN ('pro', 'business') AND activated_ts < t_end - INTERVAL 30 DAY),
               avg((churn_ts < t_end)::INT) FILTER (activated AND invite),
               avg((churn_ts < t_end)::INT) FILTER (activated AND NOT invite)
        FROM {USERS_TABLE}""").fetchone()
    assert row is not None
    keys = [
        "people",
        "signed_up",
        "activated",
        "android_bug_profile_rate",
        "android_other_profile_rate",
        "other_profile_rate",
        "starter_cancel_share",
        "pro_business_cancel_share",
        "starter_cancel_30d",
        "pro_business_cancel_30d",
        "inviter_churn_share",
        "non_inviter_churn_share",
    ]
    return {
        k: (round(float(v), 3) if v is not None else float("nan"))
        for k, v in zip(keys, row, strict=True)
    }


def readme_text(files: DemoFiles) -> str:
    """The README.md written beside the demo files."""
    lo, hi = android_bug_window(files.end)
    weeks_back = ", ".join(str(w) for w in ANDROID_BUG_WEEKS)
    f = files.facts

    def pct(key: str) -> str:
        v = f.get(key, float("nan"))
        return "n/a" if v != v else f"{v:.0%}"

    return f"""# poanalytics demo data

Generated by `poanalytics.demo.generate(users={files.users}, weeks={files.weeks}, seed={files.seed},
end="{files.end}")`: a made-up B2B SaaS analytics product. Everything here is fake; e-mail
addresses use the reserved `.example` domain. The same arguments always give the same files.

| file | what |
|---|---|
| `events.parquet` | {files.events_rows:,} product events: user_id, event, timestamp (UTC), session_id, properties (JSON text: platform, plan, country, page, step, ...) |
| `tickets.csv` | {files.tickets_rows:,} support tickets, Zendesk CSV export columns; `Requester external id` is the user_id |
| `notes/*.md` | {files.notes_count} interview notes: YAML front matter (id, participant, user_id, date, segment, title), `> quote #tag` highlights, `[tag, tag] text` lines |
| `backlog.csv` | {files.backlog_items} backlog items in the poanalytics columns (id, title, description, effort in points, status, shipped_at, objectives, steps, events, themes, segment, moscow, impact, WSJF inputs); conf/product.toml reads it |

Data covers the {files.weeks} weeks before {files.end} (a Monday, 00:00 UTC), stopping just before it.
{f.get("people", 0):,.0f} people visit, {files.signed_up:,} sign up, {f.get("activated", 0):,.0f} activate.

## Funnel

`page_viewed` (visitors) -> `signed_up` -> `onboarding_started` -> `profile_completed` ->
`project_created` -> (`teammate_invited`) -> `activated`; then `session_started`, `dashboard_viewed`,
`report_created`, `filter_applied`, `search_performed`, `export_clicked`, `comment_added`,
`report_shared` on active days; `plan_upgraded`; `subscription_cancelled` (paid plans) at churn.
Users stuck on the profile step may open its help page (`help_viewed`); in the Android bug most
hit `app_error` first.

## Planted stories

1. **Android onboarding bug.** Android users who signed up between {lo:%Y-%m-%d} and
   {hi - timedelta(days=1):%Y-%m-%d} (weeks {weeks_back} before the end) mostly fail at
   `profile_completed`: {pct("android_bug_profile_rate")} of those who started onboarding completed
   their profile, against {pct("android_other_profile_rate")} of Android users in other weeks and
   {pct("other_profile_rate")} of everyone else. Tickets tagged `android onboarding bug` ("App crashes
   on profile step") arrive in those weeks, and several interviews quote the crash.
2. **Starter churns on price.** {pct("starter_cancel_share")} of activated Starter users cancelled,
   against {pct("pro_business_cancel_share")} of Pro/Business users. Of the users activated at least
   30 days before the end, {pct("starter_cancel_30d")} of Starter users cancelled within 30 days,
   against {pct("pro_business_cancel_30d")} on Pro/Business. Their cancel reason is mostly
   `too_expensive`, their tickets are tagged `pricing`, and the exit interviews blame the price.
3. **Teams retain.** Of the activated users, {pct("inviter_churn_share")} of those who invited a
   teammate stopped using the product before the end, against {pct("non_inviter_churn_share")} of
   the others.

The rates behind the stories are constants in `poanalytics.demo.stories`. See docs/demo.md.
"""


def _zendesk_available() -> bool:
    from ..ingest import formats

    return any(f.name == "zendesk" for f in formats.formats_for("tickets"))


def tickets_frame(path: str | Path) -> pd.DataFrame:
    """The Zendesk CSV as a DataFrame in canonical ticket columns (for warehouses without the
    Zendesk format): tags split on spaces, satisfaction Good/Bad -> 1/0."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    score = raw["Satisfaction Score"].map({"Good": 1.0, "Bad": 0.0})
    return pd.DataFrame(
        {
            "ticket_id": raw["Id"],
            "user_id": raw["Requester external id"],
            "requester": raw["Requester"],
            "requester_email": raw["Requester email"],
            "created_at": raw["Created at"],
            "updated_at": raw["Updated at"],
            "status": raw["Status"],
            "priority": raw["Priority"],
            "channel": raw["Via"],
            "subject": raw["Subject"],
            "body": raw["Description"],
            "tags": raw["Tags"].str.split(),
            "satisfaction": score.astype(object).where(score.notna(), None),
            "satisfaction_score": raw["Satisfaction Score"],
        }
    )


def load_tickets(wb: Workbench, path: str | Path) -> LoadReport:
    """Load tickets.csv: as Zendesk when that format is registered, else through :func:`tickets_frame`."""
    if _zendesk_available():
        return wb.load_tickets(path, format="zendesk")
    columns = {
        "ticket_id": "ticket_id",
        "user_id": "user_id",
        "requester": "requester",
        "created_at": "created_at",
        "updated_at": "updated_at",
        "channel": "channel",
        "body": "body",
        "tags": "tags",
        "satisfaction": "satisfaction",
    }
    return wb.load_tickets(tickets_frame(path), columns=columns)


def notes_loader_available() -> bool:
    """Whether ``poanalytics.ingest.notes`` (Markdown notes) is installed."""
    return importlib.util.find_spec("poanalytics.ingest.notes") is not None


def load_demo(wb: Workbench, files: DemoFiles) -> dict[str, LoadReport]:
    """Load the demo's events, tickets and notes into ``wb``; returns the reports by kind.

    Loading again changes nothing (every loader de-duplicates). Notes are skipped, with a warning,
    when the Markdown notes loader is not available.
    """
    if not isinstance(wb, Workbench):
        raise ConfigError(
            f"load_demo needs a Workbench, got {type(wb).__name__}",
            code="demo.argument",
            hint="pass poanalytics.Workbench(path)",
        )
    reports = {"events": wb.load_events(files.events), "tickets": load_tickets(wb, files.tickets)}
    if notes_loader_available():
        reports["notes"] = wb.load_notes(files.notes)
    else:
        warnings.warn(
            "poanalytics.ingest.notes is not available: the demo notes were not loaded",
            RuntimeWarning,
            stacklevel=2,
        )
    return reports
