"""The backlog's data model: what conf/product.toml and a backlog CSV export are read into.

Plain dataclasses, filled by ``backlog.config`` (the product file) and ``backlog.items`` (items from
the config or a CSV export); every other backlog module reads these, never the files.
Effort is always held in person-weeks (``effort_weeks``) with the range the estimate stands for
(``effort_low`` .. ``effort_high``); ``effort_raw`` keeps what was written ("M", "5", "3 pw").
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any

# What an objective can be bound to (objectives.py measures each; docs/backlog.md defines them)
METRICS = ("conversion", "time_to_convert", "retention", "churn_rate", "theme_volume")
STATUSES = ("open", "in_progress", "shipped", "dropped")
MOSCOW = ("must", "should", "could", "wont")
FRAMEWORKS = ("rice", "ice", "wsjf", "value_effort")
# Intercom's RICE impact scale: 3 massive, 2 high, 1 medium, 0.5 low, 0.25 minimal
IMPACT_SCALE = (0.25, 0.5, 1.0, 2.0, 3.0)

Segment = dict[str, list[str]]  # property -> accepted values (a single value becomes a 1-list)


@dataclass(frozen=True)
class Objective:
    """A measurable objective: ``metric`` of the warehouse, with a baseline and a target."""

    name: str  # the key in [objectives.<name>]
    _: KW_ONLY
    description: str = ""
    metric: str  # one of METRICS
    step: str | None = None  # conversion/time_to_convert: the funnel step converted into
    from_step: str | None = None  # default: the step before ``step`` in [funnel] steps
    week: int | None = None  # retention: retained in week N after the cohort's week
    theme: str | None = None  # theme_volume: a theme of the taxonomy (items per week)
    inactive_days: int | None = None  # churn_rate: default [planning] inactive_days
    segment: Segment = field(default_factory=dict)  # measured on these users only
    baseline: float
    target: float
    direction: str = ""  # "up" | "down": derived from baseline -> target when not given
    line: int | None = None  # where it is defined in the config file (errors name it)


@dataclass(frozen=True)
class Actor:
    """Who an impact is about: a named segment of users (impact mapping's 'who')."""

    name: str
    _: KW_ONLY
    description: str = ""
    segment: Segment = field(default_factory=dict)


@dataclass(frozen=True)
class Impact:
    """Impact mapping's 'how': the behaviour change of an actor that serves an objective, and the
    backlog items ('what') meant to cause it."""

    objective: str
    _: KW_ONLY
    actor: str | None = None
    impact: str = ""  # the behaviour change, in words
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    """One backlog item, from [[items]] of the config or one row of a backlog CSV export."""

    item_id: str
    _: KW_ONLY
    title: str
    description: str = ""
    effort_raw: str | None = None  # as written; None: not estimated (a refinement check)
    effort_weeks: float | None = None  # person-weeks; None when missing or unreadable
    effort_low: float | None = None
    effort_high: float | None = None
    objectives: tuple[
        str, ...
    ] = ()  # direct links (impacts add more: ProductConfig.item_objectives)
    steps: tuple[str, ...] = ()  # funnel steps of [funnel] (event names)
    events: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()  # themes of the voice taxonomy
    segment: Segment = field(default_factory=dict)  # narrows every measured link to these users
    moscow: str | None = None  # the product owner's label (MOSCOW), if any
    impact: float | None = None  # Intercom impact scale, if the product owner stated it
    business_value: float | None = None  # WSJF inputs (relative, e.g. 1 2 3 5 8 13 20), if stated
    time_criticality: float | None = None
    risk_reduction: float | None = None  # risk reduction | opportunity enablement
    job_size: float | None = None  # WSJF job size; default from effort
    status: str = "open"  # STATUSES
    shipped_at: datetime | None = None  # status shipped: when it reached users (UTC)
    source: str = ""  # "conf/product.toml line 80" or "data/demo/backlog.csv row 4"
    extra: dict[str, Any] = field(default_factory=dict)  # unmapped columns, kept as text


@dataclass(frozen=True)
class Planning:
    """[planning]: periods, capacity, effort units and the scoring settings."""

    _: KW_ONLY
    period_weeks: int = 4  # evidence window: the last N weeks before as_of (and the N before)
    reach_weeks: int = 13  # RICE reach is users per this many weeks (a quarter)
    capacity: float | None = None  # person-weeks this cycle; None: fits/MoSCoW checks need one
    effort_unit: str = "weeks"  # weeks | points | tshirt (how a bare number is read)
    # points: person-weeks = points / points_per_week; None: not set, so an effort in points is
    # refused (how many points a team finishes per person-week is the team's, never a guess)
    points_per_week: float | None = None
    tshirt: dict[str, float] = field(
        default_factory=lambda: {"XS": 0.5, "S": 1.0, "M": 2.0, "L": 4.0, "XL": 8.0}
    )
    effort_spread: float = 0.5  # a point estimate of E stands for E*(1-s) .. E*(1+s) weeks
    inactive_days: int = 28  # churn (L2) for churn lift and churn objectives
    top_n: int = 5  # p_top_n: probability of being in the top N
    simulations: int = 2000  # Monte Carlo draws
    seed: int = 0
    ice_variant: str = "ease"  # ICE = impact x confidence x ease, each 1-10 (Sean Ellis)


@dataclass(frozen=True)
class Funnel:
    """[funnel]: the product funnel that step links and conversion objectives refer to."""

    steps: tuple[str, ...]
    window: str = "7d"


@dataclass(frozen=True)
class BacklogSource:
    """[backlog]: a CSV export to read items from (besides [[items]])."""

    _: KW_ONLY
    path: str | None = None  # relative to the project root
    format: str = ""  # "" (poanalytics columns), "jira", "linear"
    columns: dict[str, str] = field(default_factory=dict)  # canonical name -> CSV column
    list_separator: str = ";"  # inside a list cell (themes, steps, ...); Jira labels: " "
    encoding: str = "utf-8"
    timezone: str = ""  # the zone of dates written without one; "": UTC, flagged (a guess)


@dataclass(frozen=True)
class ProductConfig:
    """conf/product.toml (or .yaml) as read and validated."""

    _: KW_ONLY
    path: str  # the file read
    vision: str = ""
    planning: Planning = field(default_factory=Planning)
    funnel: Funnel | None = None
    objectives: tuple[Objective, ...] = ()
    actors: tuple[Actor, ...] = ()
    impacts: tuple[Impact, ...] = ()
    source: BacklogSource = field(default_factory=BacklogSource)
    items: tuple[Item, ...] = ()  # [[items]] written in the config itself
    sha256: str = ""  # of the file's bytes (stored with each published snapshot)

    def objective(self, name: str) -> Objective | None:
        return next((o for o in self.objectives if o.name == name), None)

    def item_objectives(self, item: Item) -> tuple[str, ...]:
        """The objectives an item serves: its own links, then those of impacts listing it."""
        names = list(item.objectives)
        for imp in self.impacts:
            if item.item_id in imp.items and imp.objective not in names:
                names.append(imp.objective)
        return tuple(names)
