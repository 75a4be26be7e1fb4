"""The evidence ledger: what the warehouse says about each backlog item, with the query behind it.

``ledger(con, config, items, *, as_of=None)`` gives one row per piece of evidence (columns
``COLUMNS``); ``evidence(con, config, item, *, as_of=None)`` the same for one item as a result
(``.table``, ``.sql``, ``.params``, ``.figure()``). Every number is computed by DuckDB from the
warehouse (one query per kind of link and item segment, covering all the items' links of that kind;
nothing loops over events in Python), and every row carries the SQL text (``query``) and the bound
parameters (``params``) that give its ``value``: ``con.execute(row.query, row.params)`` returns one
row whose ``value`` column is the row's value, with the counts behind it (intervals are computed
from those counts as stated below). A quote's query is ``voice.quotes``' and gives the theme's
items it was chosen from (choosing and scoring is that module's ranking, in Python).

Evidence rules
--------------
**Time.** ``as_of`` is an instant (default: the newest event's time, "the data's date"; a bare date
is the end of that day; one after the newest event is measured with a warning,
``backlog.as_of_after_data``, as objectives and impact do). The evidence window is
``[as_of - period_weeks * 7 days, as_of)``
([planning] period_weeks, default 4); the previous window is the same length just before it, for
changes. A change is measured only when the data covers the previous window (its first event, or
for tickets and interviews its first item of the source, is at or before the previous window's
start), never against a half-empty one.

**Links.** An item links to funnel steps (``steps``: steps of [funnel]), events (``events``),
themes of the voice taxonomy (``themes``) and a segment (``segment``). ``link`` names what a row
measures: ``step:profile_completed``, ``event:export_clicked``, ``theme:pricing``,
``segment:platform=android``; an interview row over several themes is ``theme:a|b``; a quote's
link is its reference (``ticket 10006``, ``2026-09-07-int-001.md line 24``). An unknown link (a
step that is not in [funnel], the funnel's first step, which has no step before it, a step whose
event or the event of a step before it no row of the warehouse has, an event no row has, a theme the current voice refresh does not hold) gives no rows for that
link, not an error (the refinement checks of ``backlog.items`` flag it). An item with no measurable
link has no rows (its scores then get low confidence).

**Segment.** The item's ``segment`` (``{"platform": ["android"]}``) narrows every link's
population to the users in it, values compared as text. At a step link it is the funnel's segment
filter: a user enters the funnel only by a first-step event that carries one of the accepted
values of every property of the segment (as an objective's conversion reads its segment). At
every other link a user is in it when, for every property, the first non-empty value of that
property on their events up to ``as_of`` is one of the accepted values: the segment rule of
churn, lifecycle and theme lift (rule L2 of the metric contract). The two agree whenever the
property is set on the first step's event and does not change, as a platform or a plan at sign-up
(the demo's); they differ for a user whose first-step event lacks it. Tickets and
interview highlights count for a segment only when they are joined to a user in it
(``voice.people``: user id, stitched anonymous id, e-mail, hashed e-mail); unjoined ones cannot be
placed in a segment and are left out. A segment property no event carries gives the item no rows
(``backlog.items`` flags it). Quotes are not narrowed (they illustrate a theme; they measure
nothing).

**Kinds** (``kind``, ``unit``, ``value``, ``low`` .. ``high``, ``n``, ``source``, when it
``supports`` the item):

``reach`` (users/week): the users a link affects, per week, averaged over the evidence window: the
  distinct users of the window divided by its weeks (a user counts once however many weeks they
  were active). One row per measurable link:
  - step link (step k of [funnel], k >= 2): the users who stop at step k. The funnel is
    ``metrics.funnel``'s (ordered, [funnel] window, users, rules F1-F18) with entry (a step-1
    event) in the window, observed up to ``as_of``. Users whose funnel window is still open at
    ``as_of`` are in progress and never counted as dropped (F12); they have not had their chance
    yet, so they count at the drop-off rate of those who had:
    reach = (dropped + in_progress x dropoff) / weeks, its interval from the drop-off's Wilson
    interval; ``n`` = users who reached step k-1. No row while every one of them is still in
    progress (there is no rate yet); 0 when nobody reached step k-1;
  - event link: distinct users who did the event in the window;
  - segment link (an item whose only link is its segment: no step, event or theme): distinct
    users of the segment with any event in the window. With other links the segment narrows them
    and is no reach of its own (all Android users are not the reach of an Android crash fix);
  - theme link: distinct people who raised the theme in a ticket or interview highlight created in
    the window: the joined user, else the ticket or the interview itself (an unjoined ticket is
    one person, and so is an unjoined interview, however many of its highlights raise it).
  Supports the item when > 0.
``dropoff`` (share) at a step link: of the users who reached step k-1 and have a final result at
  step k (converted, or dropped with their window closed), the share that stopped; 95% Wilson
  interval; ``n`` those users. Supports the item when the drop-off is large (the interval's low
  bound is at least ``DROPOFF_LARGE``, 20%: one in five stops there, and the data is sure of it)
  or when it is clearly worse than before (the ``dropoff_change`` row supports it).
``dropoff_change`` (points, as a fraction: 0.08 = 8 points) at a step link: the drop-off of the
  window minus that of the previous window (entry in the previous window, observed up to the same
  ``as_of``, so all its results are final); 95% Newcombe hybrid score interval (method 10, from
  both Wilson intervals); ``n`` the current window's users. Supports the item when the drop-off
  got worse and the interval excludes 0. No row when the previous window has no users with a
  final result or is not covered by the data.
``churn_lift`` (ratio) per linked theme: ``voice.lift`` with outcome churn (rule L2,
  ``inactive_days`` = [planning] inactive_days, judged as of ``as_of``): the relative risk of
  churning for the users who raised the theme against the others, 95% Katz interval, ``n`` the
  users who raised it. With a segment of one property, the population is its users (the lift's
  counts of the accepted values, pooled); Holm's adjustment runs over all themes of the taxonomy,
  as ``wb.theme_lift`` does. Supports the item when significant (Holm-adjusted p < 0.05, not a
  small sample) and lift > 1. A segment of two or more properties cannot be asked of the lift: no
  churn lift row, and the result says so in ``warnings``.
``dropoff_lift`` (ratio) per linked theme and step: the item's step links and the [funnel] steps
  the theme is linked to in the taxonomy (``[themes.<name>.links] funnel_steps``); ``voice.lift``
  with the funnel outcome at the step: among the users who entered the funnel in the window (with the
  segment, on the entering event) and reached the step before it with a final result, the
  relative risk of stopping there for those who raised the theme (items created before the
  window's end) against the others; 95% Katz interval, Holm over all themes, ``n`` the users
  who raised it; ``link`` ``theme:<theme>,step:<step>``. Supports the item when significant and
  lift > 1.
``event_churn`` (ratio) per linked event: does doing the event go with staying? Of the users whose
  churn can be judged as of ``as_of`` after a first week (first event at least ``FIRST_DAYS`` (7)
  + ``inactive_days`` days before the newest event up to ``as_of``; in the segment by the L2 rule),
  the relative risk of churning (L2, [planning] inactive_days) for those who did the event within
  ``FIRST_DAYS`` of their first event against those who did not; 95% Katz interval, Fisher's p
  with Holm's adjustment over the run's events, ``n`` the users who did it. Only the first week
  counts, as in Amplitude's Compass: counting an event at any time would favour every event,
  because users who stay longer have more time to do anything (survivorship). Supports the item
  when significant and < 1 (an item linked to an event is meant to bring more users to it, as
  after shipping its adoption is measured); an event whose doers churn more (a cancellation) is
  reported and supports nothing.
``tickets`` (tickets) per linked theme: tickets of the theme created in the window (of users in the
  segment); the previous window's count is in ``detail``. Supports when > 0.
``unique_problems`` (problems) per linked theme: those tickets with each near-duplicate group
  (``voice.duplicates``) counted once. Supports when > 0.
``interview_mentions`` (interviews) over all the item's themes: interview notes dated in the
  window with at least one highlight in one of the themes; ``n`` = all interview notes dated in
  the window (with a segment: notes joined to users in it). A note is read through its
  highlights (the voice items), so a note without any highlight is not counted. No row when there
  is no note in the window. Supports when > 0.
``quote``: up to ``quotes`` (default 2) of the best quotes of the item's themes
  (``voice.quotes``: nearest each theme's centroid, redacted), highest score first; ``detail`` =
  the redacted quote, ``link`` = its reference, ``value`` = its score, ``as_of`` = its date.
  Supports the item.

``source`` is where the measured thing lives: ``events`` (reach of steps, events and segments,
drop-off and its change, churn and drop-off lift: their outcome is read from events), ``tickets``
or ``notes`` (theme reach: the source with more of the theme's items in the window; tickets and
unique problems; interviews; a quote's own source). ``as_of`` is the newest row of that source
the ledger read (before the window's end). ``detail`` is a plain English fragment that an
ordering reason quotes as is, numbers formatted by ``poanalytics.format``: "1,240 users a week
stop at profile_completed (18% drop, 8 points worse than the 4 weeks before)", "37 tickets about
onboarding_crash in 4 weeks (31 unique problems), up from 12 the 4 weeks before", "5 of 8
interviews in the last 4 weeks mention onboarding_crash".

The voice tables are read as they are: refreshing them (``wb.voice_refresh``) is the caller's job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from .. import format as fmt
from ..db import fetch_all, fetch_df, fetch_one
from ..errors import PoaWarning, warn
from ..metrics.catalog import event_names, property_keys
from ..metrics.engine import EVENTS
from ..metrics.funnel import wilson
from ..metrics.funnel_lists import lists_sql
from ..metrics.funnel_sql import FunnelPlan
from ..metrics.predicates import prop_expr
from ..metrics.result import MetricResult
from ..metrics.spec import MetricError, Prop, Step
from ..metrics.units import Unit
from ..metrics.validate import metric_boundary, parse_instant, parse_steps, parse_window
from ..sql import Params
from ..voice.people import current, people_ctes
from .errors import BacklogError
from .impact import newcombe
from .model import Item, ProductConfig
from .objectives import after_data

COLUMNS = [
    "item_id",
    "kind",
    "link",
    "value",
    "low",
    "high",
    "unit",
    "n",
    "source",
    "supports",
    "detail",
    "query",
    "params",
    "as_of",
]
KINDS = (
    "reach",
    "dropoff",
    "dropoff_change",
    "churn_lift",
    "dropoff_lift",
    "event_churn",
    "tickets",
    "unique_problems",
    "interview_mentions",
    "quote",
)
UNITS = {
    "reach": "users/week",
    "dropoff": "share",
    "dropoff_change": "points",
    "churn_lift": "ratio",
    "dropoff_lift": "ratio",
    "event_churn": "ratio",
    "tickets": "tickets",
    "unique_problems": "problems",
    "interview_mentions": "interviews",
    "quote": "score",
}
FIRST_DAYS = 7  # event_churn: the event counts when done in the user's first week (onboarding)
DROPOFF_LARGE = 0.20  # a drop-off whose Wilson low bound reaches this is large (supports the item)
MAX_QUOTES = 10


def _fail(message: str, code: str, hint: str) -> BacklogError:
    return BacklogError(message, code=code, hint=hint)


@dataclass(kw_only=True)
class EvidenceQuery:
    """The items to gather evidence for, the product config (funnel, planning) and ``as_of``."""

    items: Sequence[Item]
    config: ProductConfig
    as_of: Any = None  # None: the newest event's time; a bare date is the end of that day
    quotes: int = 2  # quote rows per item (0: none)
    as_of_ts: pd.Timestamp | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.items, Item):
            self.items = (self.items,)
        if not isinstance(self.items, (list, tuple)) or not all(
            isinstance(i, Item) for i in self.items
        ):
            raise _fail(
                f"items must be a list of backlog Items, got {type(self.items).__name__}",
                "backlog.evidence_items",
                "pass the items read by backlog.items.read_items (ItemsRead.items)",
            )
        self.items = tuple(self.items)
        if not isinstance(self.config, ProductConfig):
            raise _fail(
                f"config must be a ProductConfig, got {type(self.config).__name__}",
                "backlog.evidence_config",
                "pass the config read by backlog.config (conf/product.toml)",
            )
        try:
            self.as_of_ts = parse_instant(self.as_of, "as_of", end=True)
        except MetricError as exc:
            raise _fail(
                str(exc.message), "backlog.as_of", 'write it like as_of="2026-11-16"'
            ) from exc
        n = self.quotes
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_QUOTES:
            raise _fail(
                f"quotes must be a whole number from 0 to {MAX_QUOTES}, got {n!r}"[:300],
                "backlog.quotes",
                "e.g. quotes=2 (0: no quote rows)",
            )
        weeks = self.config.planning.period_weeks
        if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
            raise _fail(
                f"[planning] period_weeks must be a whole number of weeks >= 1, got {weeks!r}",
                "backlog.period_weeks",
                "e.g. period_weeks = 4 in conf/product.toml",
            )


@dataclass(frozen=True)
class Windows:
    """The evidence window [lo, hi) and the previous one [prev_lo, lo), as UTC instants."""

    lo: pd.Timestamp
    hi: pd.Timestamp
    prev_lo: pd.Timestamp
    weeks: int

    @classmethod
    def of(cls, as_of: pd.Timestamp, weeks: int) -> Windows:
        span = pd.Timedelta(weeks=weeks)
        return cls(as_of - span, as_of, as_of - 2 * span, weeks)


@dataclass
class EvidenceResult(MetricResult):
    """The ledger (``table``, columns ``COLUMNS``) for one item or several; ``sql`` holds every
    distinct query run (separated by ";"), ``params`` the parameters of all of them."""

    as_of: pd.Timestamp | None = None
    windows: Windows | None = None

    def summary_table(self) -> pd.DataFrame:
        """The ledger as a reader wants it: item, kind, link, the value and its 95% interval in
        the row's unit, n, source, supports, the sentence and the data's date; the SQL stays in
        ``table`` (query, params)."""
        t = self.table
        return pd.DataFrame(
            {
                "item_id": t.item_id,
                "kind": t.kind,
                "link": t.link,
                "value": [_value_text(v, u) for v, u in zip(t.value, t.unit, strict=True)],
                "interval": [
                    fmt.MISSING
                    if pd.isna(lo) or pd.isna(hi)
                    else f"{_value_text(lo, u)} to {_value_text(hi, u)}"
                    for lo, hi, u in zip(t.low, t.high, t.unit, strict=True)
                ],
                "n": [fmt.count(n) for n in t.n],
                "source": t.source,
                "supports": ["yes" if s else "no" for s in t.supports],
                "detail": t.detail,
                "as_of": [fmt.MISSING if pd.isna(a) else f"{a:%Y-%m-%d %H:%M}" for a in t.as_of],
            }
        )

    def figure(self):
        """The pieces of evidence with their intervals, one panel per kind, green when a piece
        supports the item (charts.backlog.evidence_figure); the window in the title."""
        from ..charts.backlog import evidence_figure

        items = list(dict.fromkeys(self.table.item_id))
        title = "Evidence" + (f" for {items[0]}" if len(items) == 1 else "")
        if self.windows is not None:
            w = self.windows
            title += f" ({w.lo:%Y-%m-%d %H:%M} to {w.hi:%Y-%m-%d %H:%M} UTC)"
        return evidence_figure(self.table, title=title)


# -- SQL builders (no connection) -------------------------------------------------------------


def segment_key(segment: dict[str, list[str]] | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A hashable, ordered form of a segment (items with the same one share their queries)."""
    if not segment:
        return ()
    return tuple(sorted((str(k), tuple(sorted(str(v) for v in vs))) for k, vs in segment.items()))


def segment_text(key: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """ "android", "starter or pro", "android starter": the segment as a word before "users"."""
    return " ".join(" or ".join(values) for _, values in key)


def segment_link(key: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    return "segment:" + ",".join(f"{prop}={'|'.join(values)}" for prop, values in key)


def segment_users_sql(key: Any, as_of: pd.Timestamp, p: Params) -> str:
    """SELECT user_id of the users of the (non-empty) segment ``key``, by the L2 rule: the first
    non-empty value of each property on their events up to as_of is one of the accepted values."""
    conds = []
    for prop, values in key:
        first = f"arg_min(nullif({prop_expr(prop, p)}, ''), ts)"
        conds.append(f"{first} IN ({', '.join(p.add(v) for v in values)})")
    return f"""SELECT user_id FROM events WHERE ts <= {p.add(as_of.to_pydatetime())}
    GROUP BY user_id HAVING {" AND ".join(conds)}"""


def _plan(
    config: ProductConfig, key: Any, lo: pd.Timestamp, hi: pd.Timestamp, as_of: pd.Timestamp
) -> FunnelPlan:
    """The [funnel] as a metrics.funnel plan with entry in [lo, hi), observed up to as_of; with a
    segment, only users whose entering (first-step) event carries it enter (the funnel's segment
    filter, as the objectives' conversion reads a segment)."""
    assert config.funnel is not None
    steps = parse_steps(list(config.funnel.steps), "funnel")
    if key:
        where = {prop: Prop.is_in(list(values)) for prop, values in key}
        steps = (Step(steps[0].event, where=where), *steps[1:])
    return FunnelPlan(
        steps=steps,
        window=parse_window(config.funnel.window, "window", code="funnel.window"),
        order="ordered",
        exclusions=(),
        breakdown=None,
        attribution="first_touch",
        breakdown_step=None,
        date_from=lo,
        date_to=hi - pd.Timedelta(microseconds=1),  # the funnel's range is closed: [lo, hi)
        unit=Unit(),
        terminal=(),
        as_of=as_of,
    )


def steps_sql(config: ProductConfig, steps: Sequence[int], key: Any, w: Windows, p: Params) -> str:
    """Long rows (link, kind, value, n, dropped, converted, in_progress, reached, prev_dropped,
    prev_converted) for reach, dropoff and dropoff_change at each step k (1-based, >= 2) of
    [funnel], both windows, users entering with the segment."""
    assert config.funnel is not None
    names = list(config.funnel.steps)
    weeks = p.add(float(w.weeks))
    cur = lists_sql(_plan(config, key, w.lo, w.hi, w.hi), p, table=EVENTS)
    prev = lists_sql(_plan(config, key, w.prev_lo, w.lo, w.hi), p, table=EVENTS)
    prev_lo = p.add(w.prev_lo.to_pydatetime())
    ctes = [
        f"cur AS ({cur})",
        f"prev AS ({prev})",
        f"covered AS (SELECT min(ts) <= {prev_lo}::TIMESTAMPTZ AS ok FROM events)",
    ]
    parts = []
    for k in steps:
        link = p.add(f"step:{names[k - 1]}")

        def counts(t: str, k: int = k) -> str:
            return (
                f"(SELECT count(*) FILTER (WHERE depth >= {k - 1}) AS reached, "
                f"count(*) FILTER (WHERE depth = {k - 1} AND NOT in_progress) AS dropped, "
                f"count(*) FILTER (WHERE depth >= {k}) AS converted, "
                f"count(*) FILTER (WHERE depth = {k - 1} AND in_progress) AS in_progress FROM {t})"
            )

        parts.append(
            f"""SELECT {link} AS link, c.reached, c.dropped, c.converted, c.in_progress,
            b.dropped AS prev_dropped, b.converted AS prev_converted, covered.ok AS covered
        FROM {counts("cur")} c, {counts("prev")} b, covered"""
        )
    ctes.append("counts AS (" + "\nUNION ALL ".join(parts) + ")")
    rate = "dropped / nullif(dropped + converted, 0)"
    prev_rate = "prev_dropped / nullif(prev_dropped + prev_converted, 0)"
    with_ = ",\n".join(ctes)
    return f"""WITH {with_}
SELECT link, 'reach' AS kind, (dropped + in_progress * coalesce({rate}, 0)) / {weeks} AS value,
       reached AS n, reached, dropped, converted, in_progress, prev_dropped, prev_converted
FROM counts WHERE dropped + converted > 0 OR reached = 0
UNION ALL
SELECT link, 'dropoff', {rate}, dropped + converted, reached, dropped, converted, in_progress,
       prev_dropped, prev_converted
FROM counts WHERE dropped + converted > 0
UNION ALL
SELECT link, 'dropoff_change', {rate} - {prev_rate}, dropped + converted, reached, dropped,
       converted, in_progress, prev_dropped, prev_converted
FROM counts WHERE dropped + converted > 0 AND prev_dropped + prev_converted > 0 AND covered"""


def groups_ctes(keys: Sequence[Any], as_of: pd.Timestamp, p: Params) -> str:
    """CTEs ``groups`` (segment: one row per item segment, ``segment_link(key)``, '' for items
    without one) and ``seg`` (segment, user_id: the users of each keyed segment, by the L2 rule
    of ``segment_users_sql``)."""
    names = p.add([segment_link(k) if k else "" for k in keys])
    parts = []
    for key in keys:
        if key:
            members = segment_users_sql(key, as_of, p)
            parts.append(f"SELECT {p.add(segment_link(key))} AS segment, user_id FROM ({members})")
    seg = (
        " UNION ALL ".join(parts)
        if parts
        else "SELECT NULL::VARCHAR AS segment, NULL::VARCHAR AS user_id WHERE false"
    )
    return f"""groups AS (SELECT unnest({names}::VARCHAR[]) AS segment),
seg AS ({seg})"""


def events_sql(events: Sequence[str], keys: Sequence[Any], w: Windows, p: Params) -> str:
    """reach rows (segment, link, kind, value, n), for every item segment in ``keys``: each
    event the warehouse holds, its distinct users of the segment in the window per week; and
    each keyed segment's active users in the window (link = the segment's link)."""
    lo, hi = p.add(w.lo.to_pydatetime()), p.add(w.hi.to_pydatetime())
    weeks = p.add(float(w.weeks))
    names = p.add(list(events))
    window = f"ts >= {lo}::TIMESTAMPTZ AND ts < {hi}::TIMESTAMPTZ"
    return f"""WITH {groups_ctes(keys, w.hi, p)},
k AS (SELECT DISTINCT event FROM events WHERE event IN (SELECT unnest({names}::VARCHAR[]))),
ev AS (SELECT DISTINCT event, user_id FROM events
    WHERE {window} AND event IN (SELECT unnest({names}::VARCHAR[]))),
inseg AS (SELECT g.segment, e.event, e.user_id FROM ev e JOIN groups g ON g.segment = ''
    UNION ALL SELECT s.segment, e.event, e.user_id FROM ev e JOIN seg s USING (user_id)),
active AS (SELECT s.segment, s.user_id FROM seg s
    WHERE s.user_id IN (SELECT user_id FROM events WHERE {window}))
SELECT g.segment, 'event:' || k.event AS link, 'reach' AS kind,
       count(DISTINCT i.user_id) / {weeks} AS value, count(DISTINCT i.user_id) AS n
FROM groups g CROSS JOIN k LEFT JOIN inseg i ON i.segment = g.segment AND i.event = k.event
GROUP BY g.segment, k.event
UNION ALL
SELECT g.segment, g.segment, 'reach', count(DISTINCT a.user_id) / {weeks}, count(DISTINCT a.user_id)
FROM groups g LEFT JOIN active a ON a.segment = g.segment WHERE g.segment <> ''
GROUP BY g.segment"""


def _voice_ctes(keys: Sequence[Any], w: Windows, p: Params) -> str:
    """CTEs ``groups``, ``seg``, ``item_people`` (voice.people), ``vi2`` (segment, and the current
    refresh's items of both windows with their person, dup group and whether in the window: every
    item for the segment '', the items joined to its users for a keyed one) and ``asg``."""
    # an unjoined ticket is one person, and so is an unjoined interview (all its highlights)
    person = (
        "coalesce(ip.user_id, v.source || ':' || "
        "CASE WHEN v.source = 'notes' THEN v.parent_id ELSE v.item_id END)"
    )
    return f"""{groups_ctes(keys, w.hi, p)},
{people_ctes(p, "all", w.prev_lo, None)},
vi0 AS (SELECT v.source, v.item_id, v.parent_id, v.created_at, v.dup_group, {person} AS person,
        v.created_at >= {p.add(w.lo.to_pydatetime())}::TIMESTAMPTZ AS in_window, ip.user_id
    FROM voice_items v JOIN item_people ip USING (source, item_id)
    WHERE v.refresh_id = {current("voice_items")}
      AND v.created_at < {p.add(w.hi.to_pydatetime())}::TIMESTAMPTZ),
vi2 AS (SELECT g.segment, v.* EXCLUDE (user_id) FROM vi0 v JOIN groups g ON g.segment = ''
    UNION ALL SELECT s.segment, v.* EXCLUDE (user_id) FROM vi0 v JOIN seg s USING (user_id)),
asg AS (SELECT source, item_id, theme FROM voice_assignments
    WHERE refresh_id = {current("voice_assignments")})"""


def themes_sql(
    themes: Sequence[str],
    sets: Sequence[tuple[Any, Sequence[str]]],
    keys: Sequence[Any],
    w: Windows,
    p: Params,
) -> str:
    """For every item segment in ``keys``: reach, tickets and unique_problems rows (segment,
    link, kind, value, n, previous, source) of each theme the current voice refresh holds, items
    of users in the segment; and an interview_mentions row per (segment key, set of themes) in
    ``sets`` (link ``theme:a|b``): notes dated in the window with a highlight in any of the set's
    themes (value), of all notes dated in the window (n); none when there is no note in the
    window."""
    weeks = p.add(float(w.weeks))
    names = p.add(list(themes))
    set_segments = p.add([segment_link(k) if k else "" for k, _ in sets])
    set_links = p.add(["theme:" + "|".join(t) for _, t in sets])
    set_lists = p.add([list(t) for _, t in sets])
    first = f"(SELECT min(created_at) FROM voice_items WHERE refresh_id = {current('voice_items')} AND source = 'tickets')"
    covered = f"{first} <= {p.add(w.prev_lo.to_pydatetime())}::TIMESTAMPTZ"
    return f"""WITH {_voice_ctes(keys, w, p)},
linked AS (SELECT DISTINCT theme FROM voice_themes
    WHERE refresh_id = {current("voice_themes")} AND theme IN (SELECT unnest({names}::VARCHAR[]))),
hits AS (SELECT a.theme, v.* FROM asg a JOIN vi2 v USING (source, item_id)),
per AS (SELECT g.segment, k.theme,
        count(DISTINCT h.person) FILTER (WHERE h.in_window) AS people,
        count(h.item_id) FILTER (WHERE h.in_window AND h.source = 'tickets') AS tickets,
        count(h.item_id) FILTER (WHERE NOT h.in_window AND h.source = 'tickets') AS tickets_previous,
        count(DISTINCT coalesce('dup:' || h.dup_group, h.source || ':' || h.item_id))
            FILTER (WHERE h.in_window AND h.source = 'tickets') AS unique_problems,
        count(h.item_id) FILTER (WHERE h.in_window AND h.source = 'notes') AS highlights
    FROM groups g CROSS JOIN linked k
    LEFT JOIN hits h ON h.theme = k.theme AND h.segment = g.segment
    GROUP BY g.segment, k.theme),
sets AS (SELECT unnest({set_segments}::VARCHAR[]) AS segment, unnest({set_links}::VARCHAR[]) AS link,
        unnest({set_lists}::VARCHAR[][]) AS themes),
note_themes AS (SELECT v.segment, v.parent_id,
        list(DISTINCT a.theme) FILTER (WHERE a.theme IS NOT NULL) AS themes
    FROM vi2 v LEFT JOIN asg a USING (source, item_id)
    WHERE v.source = 'notes' AND v.in_window GROUP BY v.segment, v.parent_id),
mentions AS (SELECT s.segment, s.link,
        count(n.parent_id) FILTER (WHERE list_has_any(n.themes, s.themes)) AS value,
        count(n.parent_id) AS n
    FROM sets s LEFT JOIN note_themes n ON n.segment = s.segment
    GROUP BY s.segment, s.link HAVING count(n.parent_id) > 0)
SELECT segment, 'theme:' || theme AS link, 'reach' AS kind, people / {weeks} AS value, people AS n,
       NULL::BIGINT AS previous,
       CASE WHEN highlights > tickets THEN 'notes' ELSE 'tickets' END AS source
FROM per
UNION ALL
SELECT segment, 'theme:' || theme, 'tickets', tickets, tickets,
       CASE WHEN {covered} THEN tickets_previous END, 'tickets' FROM per
UNION ALL
SELECT segment, 'theme:' || theme, 'unique_problems', unique_problems, tickets, NULL, 'tickets'
FROM per
UNION ALL
SELECT segment, link, 'interview_mentions', value, n, NULL, 'notes' FROM mentions"""


def _pooled_lift_sql(
    inner: str, values: Sequence[str] | None, kind: str, link: str, p: Params
) -> str:
    """voice.lift's counts (``inner``) pooled over the segment ``values`` (None: all rows), per
    theme: link, kind, theme, value (the lift: relative risk), n, users_with, outcome_with,
    users, outcomes."""
    where = f"WHERE segment IN ({', '.join(p.add(v) for v in values)})" if values else ""
    return f"""WITH c AS (SELECT theme, sum(users_with)::BIGINT AS users_with,
        sum(outcome_with)::BIGINT AS outcome_with, sum(users)::BIGINT AS users,
        sum(outcomes)::BIGINT AS outcomes
    FROM ({inner}) x {where} GROUP BY theme)
SELECT {link} AS link, {p.add(kind)} AS kind, theme,
       (outcome_with / nullif(users_with, 0))
           / nullif((outcomes - outcome_with) / nullif(users - users_with, 0), 0) AS value,
       users_with AS n, users_with, outcome_with, users, outcomes
FROM c WHERE theme IS NOT NULL"""


def lift_counts_sql(key: Any, inactive_days: int, as_of: pd.Timestamp, p: Params) -> str:
    """Churn lift counts per theme (theme, users_with, outcome_with, users, outcomes, value =
    lift), from voice.lift's SQL, pooled over the segment's accepted values."""
    from ..voice.lift import LiftQuery, lift_sql

    prop = key[0][0] if key else None
    q = LiftQuery(outcome="churn", inactive_days=inactive_days, as_of=as_of, segment=prop)
    values = key[0][1] if key else None
    return _pooled_lift_sql(lift_sql(q, p), values, "churn_lift", "'theme:' || theme", p)


def event_churn_sql(
    events: Sequence[str], key: Any, inactive_days: int, as_of: pd.Timestamp, p: Params
) -> str:
    """Churn counts per event done in the first week (rules: ``event_churn`` in the module's
    docstring): link, kind, theme (the event), users_with, outcome_with, users, outcomes, value
    (the relative risk), n."""
    at = p.add(as_of.to_pydatetime())
    n_us = p.add(int(inactive_days) * 86_400_000_000)
    first_us = p.add(FIRST_DAYS * 86_400_000_000)
    names = p.add(list(events))
    members = f" AND user_id IN ({segment_users_sql(key, as_of, p)})" if key else ""
    return f"""WITH ev AS (SELECT user_id, event, epoch_us(ts) AS t FROM events
    WHERE ts <= {at}::TIMESTAMPTZ{members}),
e AS (SELECT epoch_us(max(ts)) AS t_end FROM events WHERE ts <= {at}::TIMESTAMPTZ),
users AS (SELECT user_id, min(t) AS t_first, max(t) AS t_last FROM ev GROUP BY user_id),
pop AS (SELECT u.user_id, u.t_first, u.t_last + {n_us} <= e.t_end AS outcome
    FROM users u, e WHERE u.t_first + {first_us} + {n_us} <= e.t_end),
did AS (SELECT DISTINCT ev.event, ev.user_id FROM ev JOIN pop x USING (user_id)
    WHERE ev.event IN (SELECT unnest({names}::VARCHAR[])) AND ev.t < x.t_first + {first_us}),
k AS (SELECT DISTINCT unnest({names}::VARCHAR[]) AS event),
tot AS (SELECT count(*) AS users, count(*) FILTER (WHERE outcome) AS outcomes FROM pop),
c AS (SELECT k.event, count(x.user_id) AS users_with,
        count(x.user_id) FILTER (WHERE x.outcome) AS outcome_with
    FROM k LEFT JOIN did d ON d.event = k.event LEFT JOIN pop x ON x.user_id = d.user_id
    GROUP BY k.event)
SELECT 'event:' || c.event AS link, 'event_churn' AS kind, c.event AS theme,
       c.users_with::BIGINT AS users_with, c.outcome_with::BIGINT AS outcome_with,
       tot.users::BIGINT AS users, tot.outcomes::BIGINT AS outcomes,
       (c.outcome_with / nullif(c.users_with, 0))
           / nullif((tot.outcomes - c.outcome_with) / nullif(tot.users - c.users_with, 0), 0)
           AS value,
       c.users_with::BIGINT AS n
FROM c, tot"""


def dropoff_lift_sql(
    con: duckdb.DuckDBPyConnection, config: ProductConfig, key: Any, k: int, w: Windows, p: Params
) -> str:
    """Drop-off lift counts per theme at step k of [funnel] (voice.lift with the funnel outcome):
    the funnel of the evidence window (entry in the window, the segment on the entering event),
    items created before the window's end. ``con`` only makes the funnel result voice.lift
    takes; the SQL reads the funnel's per-user rows as a subquery, so it runs on its own."""
    from ..metrics.funnel import FunnelQuery, FunnelResult
    from ..voice.lift import LiftQuery, lift_sql

    assert config.funnel is not None
    plan = _plan(config, key, w.lo, w.hi, w.hi)
    per_user = lists_sql(plan, p, table=EVENTS)
    funnel = FunnelResult(
        FunnelQuery(steps=list(config.funnel.steps)),
        plan,
        pd.DataFrame(),
        per_user,
        {},
        f"({per_user})",  # what voice.lift reads the funnel's users from
        con,
        events=EVENTS,
    )
    q = LiftQuery(outcome=(funnel, k), date_to=w.hi - pd.Timedelta(microseconds=1))
    step = p.add(f",step:{config.funnel.steps[k - 1]}")
    return _pooled_lift_sql(lift_sql(q, p), None, "dropoff_lift", f"'theme:' || theme || {step}", p)


def row_sql(shared: str, link: str, kind: str, p: Params, segment: str | None = None) -> str:
    """One row of a shared query: the SQL a ledger row carries (its value is the row's value).
    ``segment``: for queries over several item segments, the segment's link ('' for none)."""
    where = f"q.link = {p.add(link)} AND q.kind = {p.add(kind)}"
    if segment is not None:
        where = f"q.segment = {p.add(segment)} AND {where}"
    return f"SELECT * FROM (\n{shared}\n) AS q WHERE {where}"


# -- the ledger -------------------------------------------------------------------------------


def _users(value: float) -> str:
    """A users-per-week figure: whole numbers from 10 on, one decimal below."""
    return fmt.count(round(value) if value >= 10 else round(value, 1))


def _who(key: Any, value: float = 2) -> str:
    """ "users", "android users" ("user" for exactly one)."""
    seg = segment_text(key)
    noun = "user" if value == 1 else "users"
    return f"{seg} {noun}" if seg else noun


def _n(count: Any, noun: str) -> str:
    """ "1 ticket", "37 tickets"."""
    return f"{fmt.count(count)} {noun}{'' if count == 1 else 's'}"


def _weeks(n: int) -> str:
    return "1 week" if n == 1 else f"{n} weeks"


def _points(d: float) -> str:
    pts = abs(d) * 100
    text = f"{pts:.0f}" if pts >= 1 else f"{pts:.1f}"
    return f"{text} point" + ("" if text == "1" else "s")


class _Ledger:
    """Collects rows and the queries behind them for one run."""

    def __init__(self, con: duckdb.DuckDBPyConnection, q: EvidenceQuery, as_of: pd.Timestamp):
        self.con = con
        self.q = q
        self.as_of = as_of
        self.w = Windows.of(as_of, q.config.planning.period_weeks)
        self.p = Params()
        self.rows: list[dict[str, Any]] = []
        self.sqls: list[str] = []
        self.warnings: list[PoaWarning] = []
        self.newest = self._newest()
        self.theme_steps = _theme_steps(con)

    def _newest(self) -> dict[str, Any]:
        hi = self.w.hi.to_pydatetime()
        row = fetch_one(
            self.con,
            "SELECT (SELECT max(ts) FROM events WHERE ts < ?::TIMESTAMPTZ), "
            "(SELECT max(created_at) FROM voice_items WHERE source = 'tickets' AND "
            "created_at < ?::TIMESTAMPTZ AND refresh_id = (SELECT max(refresh_id) FROM voice_items)), "
            "(SELECT max(created_at) FROM voice_items WHERE source = 'notes' AND "
            "created_at < ?::TIMESTAMPTZ AND refresh_id = (SELECT max(refresh_id) FROM voice_items))",
            [hi, hi, hi],
        )
        names = ("events", "tickets", "notes")
        return {
            n: (pd.Timestamp(v) if v is not None else pd.NaT)
            for n, v in zip(names, row or (None,) * 3, strict=True)
        }

    def run(self, sql: str) -> pd.DataFrame:
        self.sqls.append(sql)
        return fetch_df(self.con, sql, self.p.used_in(sql))

    def add(
        self,
        item: Item,
        kind: str,
        link: str,
        value: float,
        *,
        shared: str | None,
        low: float = math.nan,
        high: float = math.nan,
        n: Any = None,
        source: str = "events",
        supports: bool,
        detail: str,
        query: str | None = None,
        params: dict[str, Any] | None = None,
        as_of: Any = None,
        segment: str | None = None,
    ) -> None:
        if query is None:
            assert shared is not None
            query = row_sql(shared, link, kind, self.p, segment)
        self.rows.append(
            {
                "item_id": item.item_id,
                "kind": kind,
                "link": link,
                "value": float(value),
                "low": float(low),
                "high": float(high),
                "unit": UNITS[kind],
                "n": None if n is None or pd.isna(n) else int(n),
                "source": source,
                "supports": bool(supports),
                "detail": detail,
                "query": query,
                "params": params if params is not None else self.p.used_in(query),
                "as_of": self.newest.get(source, pd.NaT) if as_of is None else as_of,
            }
        )

    # -- per kind of link ----------------------------------------------------------------------

    def steps(self, group: list[Item], key: Any) -> None:
        funnel = self.q.config.funnel
        if funnel is None:
            return
        names = list(funnel.steps)
        measurable = self._measurable_steps(names)
        wanted = sorted({names.index(s) + 1 for it in group for s in it.steps if s in measurable})
        if not wanted:
            return
        shared = steps_sql(self.q.config, wanted, key, self.w, self.p)
        frame = self.run(shared)
        by = {(r.link, r.kind): r for r in frame.itertuples(index=False)}
        for it in group:
            for step in dict.fromkeys(s for s in it.steps if s in measurable):
                self._step(it, step, names, by, shared, key)

    def _measurable_steps(self, names: list[str]) -> list[str]:
        """A step is measurable when the events of it and of every step before it exist (a step
        whose event the warehouse does not hold is unknown, as an unknown event link is)."""
        held = set(event_names(self.con)) & set(names)
        return [s for i, s in enumerate(names) if i and set(names[: i + 1]) <= held]

    def _step(
        self,
        it: Item,
        step: str,
        names: list[str],
        by: dict[tuple[str, str], Any],
        shared: str,
        key: Any,
    ) -> None:
        """The evidence of one step link: the users a week who stop at it (reach), its drop-off
        rate, and the drop-off's change against the weeks before."""
        link = f"step:{step}"
        before = names[names.index(step) - 1]
        drop = by.get((link, "dropoff"))
        change = by.get((link, "dropoff_change"))
        reach = by.get((link, "reach"))
        rate_lo = rate_hi = math.nan
        change_lo = change_hi = math.nan
        worse = False
        if drop is not None:
            rate_lo, rate_hi = wilson(int(drop.dropped), int(drop.dropped + drop.converted))
        if change is not None:
            _, change_lo, change_hi = newcombe(
                int(change.dropped),
                int(change.dropped + change.converted),
                int(change.prev_dropped),
                int(change.prev_dropped + change.prev_converted),
            )
            worse = change.value > 0 and change_lo > 0
        if reach is not None:
            self._step_reach(it, step, link, reach, drop, change, (rate_lo, rate_hi), shared, key)
        if drop is not None:
            self._step_dropoff(it, step, before, link, drop, (rate_lo, rate_hi), worse, shared, key)
        if change is not None:
            self._step_change(it, step, link, change, (change_lo, change_hi), worse, shared)

    def _step_reach(
        self,
        it: Item,
        step: str,
        link: str,
        reach: Any,
        drop: Any,
        change: Any,
        rate: tuple[float, float],
        shared: str,
        key: Any,
    ) -> None:
        """The users a week who stop at the step; its interval counts the dropped users and the
        in-progress ones at the drop-off rate's interval."""
        weeks = self.w.weeks
        extra = []
        if drop is not None:
            extra.append(f"{fmt.percent(drop.value, 0)} drop")
        if change is not None:
            extra.append(_change_words(change.value, weeks))
        detail = f"{_users(reach.value)} {_who(key, reach.value)} a week stop at {step}"
        if extra:
            detail += f" ({', '.join(extra)})"
        low = high = math.nan
        if drop is not None:
            final = int(drop.dropped + drop.converted)
            if final:
                ip = int(drop.in_progress)
                low = (int(drop.dropped) + ip * rate[0]) / weeks
                high = (int(drop.dropped) + ip * rate[1]) / weeks
                # the interval of the in-progress share; the dropped are counted
                low, high = min(low, reach.value), max(high, reach.value)
        self.add(
            it,
            "reach",
            link,
            reach.value,
            shared=shared,
            low=low,
            high=high,
            n=reach.n,
            supports=reach.value > 0,
            detail=detail,
        )

    def _step_dropoff(
        self,
        it: Item,
        step: str,
        before: str,
        link: str,
        drop: Any,
        rate: tuple[float, float],
        worse: bool,
        shared: str,
        key: Any,
    ) -> None:
        """The share of users who reached the step before and stopped at this one."""
        rate_lo, rate_hi = rate
        large = rate_lo >= DROPOFF_LARGE
        final = int(drop.dropped + drop.converted)
        self.add(
            it,
            "dropoff",
            link,
            drop.value,
            shared=shared,
            low=rate_lo,
            high=rate_hi,
            n=final,
            supports=large or worse,
            detail=(
                f"{fmt.percent(drop.value, 0)} of {fmt.count(final)} {_who(key)} "
                f"who reached {before} stopped at {step} "
                f"(95% CI {fmt.percent(rate_lo)} to {fmt.percent(rate_hi)})"
            ),
        )

    def _step_change(
        self,
        it: Item,
        step: str,
        link: str,
        change: Any,
        interval: tuple[float, float],
        worse: bool,
        shared: str,
    ) -> None:
        """The drop-off's change against the weeks before (Newcombe's interval)."""
        change_lo, change_hi = interval
        prev_n = int(change.prev_dropped + change.prev_converted)
        self.add(
            it,
            "dropoff_change",
            link,
            change.value,
            shared=shared,
            low=change_lo,
            high=change_hi,
            n=int(change.dropped + change.converted),
            supports=worse,
            detail=(
                f"drop-off at {step} {_change_words(change.value, self.w.weeks)} "
                f"({fmt.percent(change.prev_dropped / prev_n, 0)} of "
                f"{fmt.count(prev_n)} then; 95% CI {fmt.signed_points(change_lo)} to "
                f"{fmt.signed_points(change_hi)})"
            ),
        )

    def events(self, groups: dict[Any, list[Item]]) -> None:
        """Event links of every item, and the segment of segment-only items: one query."""
        names = list(dict.fromkeys(e for g in groups.values() for it in g for e in it.events))
        if not names and not any(_segment_only(it) for g in groups.values() for it in g):
            return
        keys = list(groups)
        shared = events_sql(names, keys, self.w, self.p)
        frame = self.run(shared)
        by = {(r.segment, r.link): r for r in frame.itertuples(index=False)}
        for key, group in groups.items():
            seg = segment_link(key) if key else ""
            for it in group:
                links = [f"event:{e}" for e in dict.fromkeys(it.events)]
                if key and _segment_only(it):
                    links.append(segment_link(key))
                for link in links:
                    r = by.get((seg, link))
                    if r is None:
                        continue
                    if link.startswith("event:"):
                        detail = f"{_users(r.value)} {_who(key, r.value)} a week do {link[6:]}"
                    else:
                        detail = f"{_users(r.value)} {_who(key, r.value)} active a week"
                    self.add(
                        it,
                        "reach",
                        link,
                        r.value,
                        shared=shared,
                        n=r.n,
                        supports=r.value > 0,
                        detail=detail,
                        segment=seg,
                    )

    def themes(self, groups: dict[Any, list[Item]], known: set[str]) -> None:
        """Theme links of every item (reach, tickets, unique problems, interviews): one query."""
        every = [it for g in groups.values() for it in g]
        names = [t for t in dict.fromkeys(t for it in every for t in it.themes) if t in known]
        if not names:
            return
        sets = list(
            dict.fromkeys(
                (key, _theme_set(it, known))
                for key, group in groups.items()
                for it in group
                if _theme_set(it, known)
            )
        )
        shared = themes_sql(names, sets, list(groups), self.w, self.p)
        frame = self.run(shared)
        found = {(r.segment, r.link, r.kind): r for r in frame.itertuples(index=False)}
        weeks = _weeks(self.w.weeks)
        for key, group in groups.items():
            seg = segment_link(key) if key else ""
            by = {(lk, kd): r for (sg, lk, kd), r in found.items() if sg == seg}
            self._themes_of(group, key, seg, known, shared, by, weeks)

    def _themes_of(
        self,
        group: list[Item],
        key: Any,
        seg: str,
        known: set[str],
        shared: str,
        by: dict[tuple[str, str], Any],
        weeks: str,
    ) -> None:
        for it in group:
            for theme in dict.fromkeys(it.themes):
                link = f"theme:{theme}"
                reach = by.get((link, "reach"))
                if reach is None:
                    continue  # not a theme of the current refresh
                tickets = by[(link, "tickets")]
                unique = by[(link, "unique_problems")]
                self.add(
                    it,
                    "reach",
                    link,
                    reach.value,
                    shared=shared,
                    segment=seg,
                    n=reach.n,
                    source=reach.source,
                    supports=reach.value > 0,
                    detail=(
                        f"{_users(reach.value)} "
                        f"{_who(key, reach.value) if key else 'people' if reach.value != 1 else 'person'}"
                        f" a week raise {theme}"
                    ),
                )
                who = f" from {_who(key)}" if key else ""
                detail = f"{_n(tickets.value, 'ticket')} about {theme}{who} in {weeks}"
                if tickets.value:
                    detail += f" ({_n(unique.value, 'unique problem')})"
                if pd.notna(tickets.previous):
                    detail += f", {_count_change(int(tickets.value), int(tickets.previous), weeks)}"
                self.add(
                    it,
                    "tickets",
                    link,
                    tickets.value,
                    shared=shared,
                    segment=seg,
                    n=tickets.n,
                    source="tickets",
                    supports=tickets.value > 0,
                    detail=detail,
                )
                self.add(
                    it,
                    "unique_problems",
                    link,
                    unique.value,
                    shared=shared,
                    segment=seg,
                    n=unique.n,
                    source="tickets",
                    supports=unique.value > 0,
                    detail=(
                        f"{_n(unique.value, 'unique problem')} about {theme}{who} in {weeks} "
                        f"({_n(tickets.value, 'ticket')}, near-duplicates counted once)"
                    ),
                )
            themes = _theme_set(it, known)
            m = by.get(("theme:" + "|".join(themes), "interview_mentions")) if themes else None
            if m is not None:
                who = f" of {_who(key)}" if key else ""
                self.add(
                    it,
                    "interview_mentions",
                    str(m.link),
                    int(m.value),
                    shared=shared,
                    segment=seg,
                    n=int(m.n),
                    source="notes",
                    supports=int(m.value) > 0,
                    detail=(
                        f"{fmt.count(m.value)} of {_n(m.n, 'interview')}{who} in the last "
                        f"{weeks} mention {' or '.join(themes)}"
                    ),
                )

    def churn(self, group: list[Item], key: Any, known: set[str]) -> None:
        themes = [t for t in dict.fromkeys(t for it in group for t in it.themes) if t in known]
        if not themes:
            return
        if len(key) > 1:
            warning = PoaWarning(
                f"churn lift is measured for a segment of one property; "
                f"{segment_link(key)} has {len(key)}: no churn_lift rows for its items",
                code="backlog.lift_segment",
                hint="give the item a segment of one property to measure its themes' churn lift",
            )
            warn(warning)
            self.warnings.append(warning)
            return
        days = self.q.config.planning.inactive_days
        shared = lift_counts_sql(key, days, self.as_of, self.p)
        counts = self.run(shared)
        if counts.empty:
            return
        table = _lift_rows(counts)
        by = {r.theme: r for r in counts.itertuples(index=False)}
        for it in group:
            for theme in dict.fromkeys(it.themes):
                if theme not in table.index or pd.isna(by[theme].value):
                    continue
                s = table.loc[theme]
                who = f" {segment_text(key)} users" if key else " users"
                detail = _churn_words(s, f"{who} who raised {theme}")
                self.add(
                    it,
                    "churn_lift",
                    f"theme:{theme}",
                    float(by[theme].value),
                    shared=shared,
                    low=s.ci_low,
                    high=s.ci_high,
                    n=s.users_with,
                    source="events",
                    supports=bool(s.significant) and s.lift > 1,
                    detail=detail,
                )

    def event_churn(self, group: list[Item], key: Any) -> None:
        """Each linked event: the churn of users who did it in their first week against those
        who did not (``event_churn`` in the module's docstring)."""
        names = list(dict.fromkeys(e for it in group for e in it.events))
        if not names:
            return
        days = self.q.config.planning.inactive_days
        shared = event_churn_sql(names, key, days, self.as_of, self.p)
        counts = self.run(shared)
        counts = counts[(counts.users_with > 0) & counts.value.notna()]
        if counts.empty:
            return
        table = _lift_rows(counts)
        by = {r.theme: r for r in counts.itertuples(index=False)}
        who = f" {segment_text(key)} users" if key else " users"
        for it in group:
            for event in dict.fromkeys(it.events):
                if event not in by or event not in table.index:
                    continue
                s = table.loc[event]
                detail = _churn_words(s, f"{who} who did {event} in their first week")
                self.add(
                    it,
                    "event_churn",
                    f"event:{event}",
                    float(by[event].value),
                    shared=shared,
                    low=s.ci_low,
                    high=s.ci_high,
                    n=s.users_with,
                    source="events",
                    supports=bool(s.significant) and s.lift < 1,
                    detail=detail,
                )

    def dropoff_lift(self, group: list[Item], key: Any, known: set[str]) -> None:
        """At each step link of an item with themes, and at each step of [funnel] its themes
        are linked to in the taxonomy (``links.funnel_steps``): how much more often the users who
        raised each theme stopped at the step (voice.lift, funnel outcome)."""
        funnel = self.q.config.funnel
        if funnel is None:
            return
        names = list(funnel.steps)

        def steps_of(it: Item, theme: str) -> list[str]:
            linked = [*it.steps, *self.theme_steps.get(theme, ())]
            return [s for s in dict.fromkeys(linked) if s in names[1:]]

        pairs = {
            (names.index(s) + 1, t)
            for it in group
            for t in _theme_set(it, known)
            for s in steps_of(it, t)
        }
        if not pairs:
            return
        for k in sorted({k for k, _ in pairs}):
            shared = dropoff_lift_sql(self.con, self.q.config, key, k, self.w, self.p)
            counts = self.run(shared)
            if counts.empty:
                continue
            table = _lift_rows(counts)
            by = {r.theme: r for r in counts.itertuples(index=False)}
            step = names[k - 1]
            for it in group:
                for theme in dict.fromkeys(it.themes):
                    if step not in steps_of(it, theme) or theme not in table.index:
                        continue
                    if pd.isna(by[theme].value):
                        continue
                    s = table.loc[theme]
                    self.add(
                        it,
                        "dropoff_lift",
                        str(by[theme].link),
                        float(by[theme].value),
                        shared=shared,
                        low=s.ci_low,
                        high=s.ci_high,
                        n=s.users_with,
                        supports=bool(s.significant) and s.lift > 1,
                        detail=(
                            f"{fmt.count(s.users_with)} {_who(key, s.users_with)} who raised "
                            f"{theme} stopped at {step} {_ratio(s.lift)} "
                            f"({fmt.percent(s.rate_with, 0)} against "
                            f"{fmt.percent(s.rate_without, 0)} of the others; 95% CI "
                            f"{s.ci_low:.2f} to {s.ci_high:.2f}, Holm p "
                            f"{fmt.p_value(s.p_adjusted)}"
                            + (", small sample" if s.small_sample else "")
                            + ")"
                        ),
                    )

    def quotes(self, known: set[str]) -> None:
        if not self.q.quotes:
            return
        from ..redaction import known_names
        from ..voice.quotes import QuotesQuery, run_quotes

        names = known_names(self.con)  # once for every theme quoted
        cache: dict[str, Any] = {}
        for it in self.q.items:
            found = []
            for theme in dict.fromkeys(t for t in it.themes if t in known):
                if theme not in cache:
                    cache[theme] = run_quotes(
                        self.con, QuotesQuery(theme=theme, n=self.q.quotes), names=names
                    )
                res = cache[theme]
                for r in res.table.itertuples(index=False):
                    found.append((float(r.score), theme, r, res))
            found.sort(key=lambda x: (-x[0], x[1], str(x[2].ref)))
            seen: set[str] = set()
            for score, _theme, r, res in found:
                if len(seen) >= self.q.quotes or r.quote in seen:
                    continue
                seen.add(r.quote)
                if res.sql not in self.sqls:
                    self.sqls.append(res.sql)
                self.add(
                    it,
                    "quote",
                    str(r.ref),
                    score,
                    shared=None,
                    source=str(r.source),
                    supports=True,
                    detail=str(r.quote),
                    query=res.sql,
                    params=dict(res.params),
                    as_of=pd.Timestamp(r.date) if pd.notna(r.date) else pd.NaT,
                )


def _value_text(v: Any, unit: str) -> str:
    if pd.isna(v):
        return fmt.MISSING
    if unit == "share":
        return fmt.percent(v)
    if unit == "points":
        return fmt.signed_points(v)
    if unit == "ratio":
        return f"{v:.2f}x"
    if unit == "score":
        return f"{v:.3f}"
    return fmt.count(round(v, 1))


def _theme_set(item: Item, known: set[str]) -> tuple[str, ...]:
    """The item's themes that the current voice refresh holds, in the item's order."""
    return tuple(t for t in dict.fromkeys(item.themes) if t in known)


def _segment_only(item: Item) -> bool:
    """The segment is the item's link (not a narrowing of others): it names no step, event or
    theme."""
    return bool(item.segment) and not (item.steps or item.events or item.themes)


def _change_words(d: float, weeks: int) -> str:
    before = f"the {_weeks(weeks)} before"
    if round(abs(d) * 100, 1) == 0:
        return f"as in {before}"
    return f"{_points(d)} {'worse' if d > 0 else 'better'} than {before}"


def _count_change(now: int, before: int, weeks: str) -> str:
    if now == before:
        return f"as many as the {weeks} before"
    return f"{'up' if now > before else 'down'} from {fmt.count(before)} the {weeks} before"


def _lift_rows(counts: pd.DataFrame) -> pd.DataFrame:
    """voice.lift's table (lift, Katz interval, Fisher p, Holm, small samples) of pooled counts
    (theme, users_with, outcome_with, users, outcomes), indexed by theme (or event)."""
    from ..voice.lift import lift_table

    cols = ["theme", "segment", "users_with", "outcome_with", "users", "outcomes"]
    return lift_table(counts.assign(segment="")[cols], False).set_index("theme")


def _churn_words(s: Any, who: str) -> str:
    """'159 starter users who raised pricing churned 1.2x as often (94% against 81% ...)'."""
    return (
        f"{fmt.count(s.users_with)}{who} churned "
        f"{_ratio(s.lift)} ({fmt.percent(s.rate_with, 0)} against "
        f"{fmt.percent(s.rate_without, 0)} of the others; 95% CI {s.ci_low:.2f} to "
        f"{s.ci_high:.2f}, Holm p {fmt.p_value(s.p_adjusted)}"
        + (", small sample" if s.small_sample else "")
        + ")"
    )


def _ratio(lift: float) -> str:
    if pd.isna(lift):
        return "at a rate that cannot be compared"
    if lift >= 1:
        return f"{lift:.1f}x as often"
    return f"less often ({lift:.2f}x)"


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    for c in ("value", "low", "high"):
        frame[c] = frame[c].astype("float64")
    frame["n"] = frame["n"].astype("Int64")
    frame["supports"] = frame["supports"].astype(bool)
    frame["as_of"] = pd.Series(dtype="datetime64[us, UTC]")
    return frame


def _known_themes(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = fetch_all(
        con,
        "SELECT DISTINCT theme FROM voice_themes WHERE refresh_id = "
        "(SELECT max(refresh_id) FROM voice_themes)",
    )
    return {r[0] for r in rows}


def _theme_steps(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, ...]]:
    """The funnel steps each theme of the current refresh is linked to in the taxonomy
    (``[themes.<name>.links] funnel_steps``)."""
    rows = fetch_all(
        con,
        "SELECT theme, TRY_CAST(json_extract(links, '$.funnel_steps') AS VARCHAR[]) FROM voice_themes "
        "WHERE refresh_id = (SELECT max(refresh_id) FROM voice_themes) AND links IS NOT NULL",
    )
    return {str(t): tuple(str(x) for x in steps or ()) for t, steps in rows}


def _unknown_segment(con: duckdb.DuckDBPyConnection, items: Iterable[Item]) -> set[str]:
    """The segment properties no event carries (their items get no rows)."""
    props = sorted({k for it in items for k in (it.segment or {})})
    if not props:
        return set()
    known = set(property_keys(con))
    return {p for p in props if p not in known}


@metric_boundary("backlog")
def run_evidence(con: duckdb.DuckDBPyConnection, q: EvidenceQuery) -> EvidenceResult:
    """The evidence ledger of ``q.items`` (see the module's docstring for every rule)."""
    as_of = q.as_of_ts
    if as_of is None:
        row = fetch_one(con, "SELECT max(ts) FROM events")
        as_of = pd.Timestamp(row[0]).tz_convert("UTC") if row and row[0] is not None else None
    if as_of is None:  # no events: nothing is measured
        return EvidenceResult(q, _empty(), "", {}, as_of=None, windows=None)
    led = _Ledger(con, q, as_of)
    for w in after_data(con, as_of):  # windows past the newest event would read low
        warn(w)
        led.warnings.append(w)
    bad = _unknown_segment(con, q.items)
    items = [it for it in q.items if not set(it.segment or {}) & bad]
    known = _known_themes(con)
    groups: dict[Any, list[Item]] = {}
    for it in items:
        groups.setdefault(segment_key(it.segment), []).append(it)
    led.events(groups)
    if known:
        led.themes(groups, known)
    for key, group in groups.items():
        led.steps(group, key)
        led.event_churn(group, key)
        if known:
            led.churn(group, key, known)
            led.dropoff_lift(group, key, known)
    if known:
        led.quotes(known)
    table = pd.DataFrame(led.rows, columns=COLUMNS) if led.rows else _empty()
    if led.rows:
        order = {it.item_id: i for i, it in enumerate(q.items)}
        kinds = {k: i for i, k in enumerate(KINDS)}
        table = (
            table.assign(
                _i=table.item_id.map(order), _k=table.kind.map(kinds), _r=range(len(table))
            )
            .sort_values(["_i", "_k", "_r"], kind="stable")
            .drop(columns=["_i", "_k", "_r"])
            .reset_index(drop=True)
        )
        table["n"] = table["n"].astype("Int64")
        table["as_of"] = pd.to_datetime(table["as_of"], utc=True)
    sql = ";\n\n".join(dict.fromkeys(led.sqls))
    result = EvidenceResult(q, table, sql, dict(led.p.values), as_of=as_of, windows=led.w)
    result.warnings.extend(led.warnings)
    return result


def ledger(
    con: duckdb.DuckDBPyConnection,
    config: ProductConfig,
    items: Sequence[Item],
    *,
    as_of: Any = None,
) -> pd.DataFrame:
    """The evidence ledger of ``items`` (columns ``COLUMNS``); see the module's docstring."""
    return run_evidence(con, EvidenceQuery(items=tuple(items), config=config, as_of=as_of)).table


def evidence(
    con: duckdb.DuckDBPyConnection,
    config: ProductConfig,
    item: Item,
    *,
    as_of: Any = None,
) -> EvidenceResult:
    """One item's evidence as a result (what ``b.evidence(item_id)`` returns)."""
    return run_evidence(con, EvidenceQuery(items=(item,), config=config, as_of=as_of))
