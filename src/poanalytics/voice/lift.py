"""Theme lift: how much more often users who raised a theme churned, or dropped at a funnel step.

Users are the users of the events; an item counts for the user it is joined to (``voice.people``:
user id, stitched anonymous id, normalised e-mail, hashed e-mail; the join rate is on every result,
``.join``). Items come from ``source`` and the date range (their creation time); by default all.

Outcome ``"churn"`` (rule L2 of docs/metric-semantics.md, any event qualifies, N = ``inactive_days``):
  population  the users of the events who could have churned by the data's end: their first event
              is at least N days before the data's last event (E); with ``as_of``, only the
              events up to it count (E is the last of them), so a past week is judged as it
              stood then;
  churned     (the outcome) no event in the last N days: their last event t has t + N days <= E;
  retained    the others in the population;
  items       only items created at least N days before E (``items_until`` = E - N) count: after
              something said later, a churn cannot show yet, so a user who complains and leaves
              in the last N days would count as a retained user who raised the theme.
Outcome ``(funnel_result, k)`` (k = 2..N, a step of that funnel, users as units):
  population  the funnel's users who reached step k-1 and have a final result at step k;
  dropped     (the outcome) reached step k-1, not step k, and their window is closed (the funnel's
              ``dropped(k)``; users still in progress are left out, F12);
  converted   reached step k (``users(k)``).

Per theme (and per segment value with ``segment=``), with a = users with the theme and the outcome,
b = users with the theme without it, c and d the same for the users without the theme:
  users_with = a + b, users_without = c + d, outcome_with = a, outcome_without = c;
  rate_with = a / (a + b), rate_without = c / (c + d) (the churn or drop rate on each side);
  lift = rate_with / rate_without (relative risk; NULL when a side is empty or rate_without is 0);
  ci_low, ci_high: 95% interval of the relative risk by the Katz log method,
      exp(ln(lift) +- 1.96 sqrt(1/a - 1/(a+b) + 1/c - 1/(c+d))); when a or c is 0 the interval is
      computed with 0.5 added to all four cells (Haldane-Anscombe), for the interval only, and
      ``ci_corrected`` is true; NULL when a side has no users;
  p_value: two-sided Fisher exact test of [[a, b], [c, d]] (metrics.funnel_correlation.fisher_exact);
  p_adjusted: Holm's step-down adjustment over all rows of the table (the themes, times the
      segment values), so a taxonomy of many themes does not turn chance into call-outs;
  small_sample: the funnel call-out rule (F14, metrics.funnel_analysis.is_small_sample): fewer
      than 30 users on a side, or fewer than 5 expected outcomes or non-outcomes on a side;
  significant: p_adjusted < 0.05 and not small_sample;
  share_outcome = a / (a + c): the share of churned (dropped) users who raised the theme;
  share_other = b / (b + d): the share of retained (converted) users who raised it.
The segment of a user is churn's L2 rule: the first non-empty value of the property on their
events, "no <property>" when none has one. Rows are ordered by lift, strongest first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from ..db import fetch_df, fetch_one
from ..metrics.catalog import check_properties
from ..metrics.churn import MAX_INACTIVE_DAYS, no_value
from ..metrics.compare import holm
from ..metrics.funnel_analysis import is_small_sample
from ..metrics.funnel_correlation import fisher_exact
from ..metrics.predicates import prop_expr
from ..metrics.result import MetricResult
from ..metrics.validate import check_int, check_name, metric_boundary, parse_instant
from ..sql import Params, quote_ident
from .errors import VoiceError
from .items import check_range, check_source
from .people import current, join_rate, join_text, people_ctes

if TYPE_CHECKING:
    from ..metrics.funnel import FunnelResult

Z95 = 1.959963984540054
ALPHA = 0.05
HALDANE = 0.5
COLUMNS = [
    "theme",
    "users_with",
    "users_without",
    "rate_with",
    "rate_without",
    "lift",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "small_sample",
    "significant",
    "outcome_with",
    "outcome_without",
    "share_outcome",
    "share_other",
    "ci_corrected",
]


def _fail(message: str, code: str, hint: str) -> VoiceError:
    return VoiceError(message, code=code, hint=hint)


def _funnel_type() -> type:
    from ..metrics.funnel import FunnelResult

    return FunnelResult


@dataclass(kw_only=True)
class LiftQuery:
    """``outcome``: "churn", or ``(funnel_result, step)``: drop-off at that step of the funnel."""

    outcome: Any = "churn"
    inactive_days: int = 28
    segment: str | None = None
    source: str = "all"
    date_from: Any = None
    date_to: Any = None
    # churn only: the observation end; events after it are ignored, so a past week's report
    # judges churn as it stood then (the funnel outcome takes its own funnel's as_of)
    as_of: Any = None

    def __post_init__(self) -> None:
        self.funnel_step()  # the outcome's shape and step
        if self.as_of is not None:
            if self.funnel_step() is not None:
                raise _fail(
                    "as_of applies to the churn outcome; a funnel outcome is observed as its "
                    "funnel was",
                    "voice.lift_as_of",
                    "run the funnel with as_of= instead (wb.funnel(steps, as_of=...))",
                )
            _as_of(self)  # readable
        check_int(self.inactive_days, "inactive_days", "voice.inactive_days", 1, MAX_INACTIVE_DAYS)
        check_name(self.segment, "segment", code="voice.segment")
        check_source(self.source)
        check_range(self.date_from, self.date_to)

    def funnel_step(self) -> tuple[FunnelResult, int] | None:
        """The funnel and step of a drop-off outcome; None for churn. Refuses anything else."""
        o = self.outcome
        if isinstance(o, str) and o == "churn":
            return None
        if not (isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], _funnel_type())):
            raise _fail(
                f"outcome must be 'churn' or (funnel_result, step), got {o!r}"[:300],
                "voice.lift_outcome",
                "e.g. wb.theme_lift('churn') or wb.theme_lift((wb.funnel([...]), 3))",
            )
        f, step = o
        n = len(f.plan.steps)
        if isinstance(step, bool) or not isinstance(step, int) or not 2 <= step <= n:
            raise _fail(
                f"step {step!r} is outside 2..{n}: a drop-off needs a step before it",
                "voice.lift_step",
                f"pick a step from 2 to {n} (the users who reached the one before are compared)",
            )
        if f.plan.unit.kind != "user":
            raise _fail(
                f"the funnel counts {f.plan.unit.label}s; themes are raised by users",
                "voice.lift_unit",
                "run the funnel with unit='user' (the default)",
            )
        return f, step


@dataclass
class LiftResult(MetricResult):
    join: pd.DataFrame = field(default_factory=pd.DataFrame)
    outcome: str = "churned"  # what rate_with and rate_without count
    other: str = "retained"
    population: int = 0
    outcomes: int = 0
    items_until: pd.Timestamp | None = None  # churn: items created after this are left out

    def summary(self) -> str:
        """One paragraph: who was compared, and the themes called out."""
        q = self.query
        if q.funnel_step() is None:
            who = (
                f"{self.population:,} users who could have churned ({self.outcomes:,} churned: "
                f"no event in the last {q.inactive_days} days of the data)"
            )
        else:
            who = (
                f"{self.population:,} users who reached the step before ({self.outcomes:,} "
                f"{self.outcome}, the others {self.other})"
            )
        text = f"Theme lift over {who}; {join_text(self.join)}."
        if self.items_until is not None:
            text += (
                f" Items created by {self.items_until:%Y-%m-%d %H:%M} UTC ({q.inactive_days} days "
                "before the data's end: a churn after later ones cannot show yet)."
            )
        called = self.table[self.table.significant.astype(bool)]
        if called.empty:
            return text + " No theme is clearly over- or under-represented."
        parts = []
        for r in called.itertuples(index=False):
            seg = f" ({r.segment})" if "segment" in self.table.columns else ""
            lift = "no ratio" if pd.isna(r.lift) else f"{r.lift:.1f}x"
            parts.append(
                f"{r.theme}{seg}: {lift} ({r.rate_with:.0%} of {r.users_with:,} against "
                f"{r.rate_without:.0%} of {r.users_without:,} {self.outcome})"
            )
        return text + " Clear: " + "; ".join(parts) + "."

    def figure(self):
        """Lift per theme with its interval on a log scale (charts.voice.lift_figure), the join
        rate in words under the title; segments make one row per theme and segment."""
        from ..charts.voice import lift_figure

        table = self.table
        if "segment" in table.columns:
            table = table.assign(theme=table.theme + " (" + table.segment + ")")
        return lift_figure(table, outcome_label=self.outcome, join_rate=join_text(self.join))


def katz_interval(a: float, b: float, c: float, d: float) -> tuple[float, float, bool]:
    """95% interval of the relative risk (a / (a + b)) / (c / (c + d)) by the Katz log method;
    with a zero outcome cell, 0.5 added to every cell first (the flag says so). NaN without users."""
    if a + b <= 0 or c + d <= 0:
        return math.nan, math.nan, False
    corrected = a == 0 or c == 0
    if corrected:
        a, b, c, d = a + HALDANE, b + HALDANE, c + HALDANE, d + HALDANE
    rr = (a / (a + b)) / (c / (c + d))
    se = math.sqrt(max(0.0, 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)))
    return rr * math.exp(-Z95 * se), rr * math.exp(Z95 * se), corrected


def _segment_sql(segment: str | None, p: Params) -> str:
    if not segment:
        return "''"
    return f"coalesce(arg_min(nullif({prop_expr(segment, p)}, ''), ts), {p.add(no_value(segment))})"


def _events_sql(q: LiftQuery, p: Params) -> str:
    """The events churn is judged on: all, or those up to ``as_of``."""
    if q.as_of is None:
        return "events"
    return f"(SELECT * FROM events WHERE ts <= {p.add(_as_of(q))}::TIMESTAMPTZ)"


def _as_of(q: LiftQuery) -> Any:
    """``as_of`` as an instant; a bare date is the end of that day, as a funnel's as_of (F18)."""
    return parse_instant(q.as_of, "as_of", end=True)


def _population_sql(q: LiftQuery, p: Params) -> str:
    """CTE ``pop``: user_id, segment, outcome (true: churned / dropped)."""
    seg = _segment_sql(q.segment, p)
    fs = q.funnel_step()
    if fs is None:
        n_us = p.add(int(q.inactive_days) * 86_400_000_000)
        ev = _events_sql(q, p)
        return f"""users AS (SELECT user_id, epoch_us(min(ts)) AS t_first, epoch_us(max(ts)) AS t_last,
        {seg} AS segment FROM {ev} GROUP BY user_id),
pop AS (SELECT user_id, segment, t_last + {n_us} <= e.t_end AS outcome
    FROM users, (SELECT epoch_us(max(ts)) AS t_end FROM {ev}) e WHERE t_first + {n_us} <= e.t_end)"""
    f, step = fs
    k = int(step)
    # the segment from the events the funnel read (its result's table)
    segs = (
        f"SELECT user_id, {seg} AS segment FROM {quote_ident(f.events)} GROUP BY user_id"
        if q.segment
        else ""
    )
    base = f"""reached AS (SELECT user_id, bool_or(depth >= {k}) AS converted,
        bool_or(depth = {k - 1} AND NOT in_progress) AS dropped
    FROM {f.per_user_table} WHERE depth >= {k - 1} GROUP BY user_id)"""
    if not segs:
        return f"""{base},
pop AS (SELECT user_id, '' AS segment, NOT converted AS outcome FROM reached WHERE converted OR dropped)"""
    return f"""{base},
segs AS ({segs}),
pop AS (SELECT r.user_id, s.segment, NOT r.converted AS outcome
    FROM reached r JOIN segs s USING (user_id) WHERE r.converted OR r.dropped)"""


def lift_sql(q: LiftQuery, p: Params) -> str:
    """Counts per theme and segment: users_with, outcome_with, users, outcomes."""
    lo, hi = check_range(q.date_from, q.date_to)
    until = ""
    if q.funnel_step() is None:  # churn: only what was said N days or more before the end
        n_us = p.add(int(q.inactive_days) * 86_400_000_000)
        ev = _events_sql(q, p)
        until = f" AND epoch_us(ip.created_at) + {n_us} <= (SELECT epoch_us(max(ts)) FROM {ev})"
    return f"""WITH {people_ctes(p, q.source, lo, hi)},
{_population_sql(q, p)},
raised AS (SELECT DISTINCT a.theme, ip.user_id FROM voice_assignments a
    JOIN item_people ip ON ip.source = a.source AND ip.item_id = a.item_id
    WHERE a.refresh_id = {current("voice_assignments")} AND ip.user_id IS NOT NULL{until}),
themes AS (SELECT DISTINCT theme FROM voice_themes WHERE refresh_id = {current("voice_themes")}),
totals AS (SELECT segment, count(*) AS users, count(*) FILTER (WHERE outcome) AS outcomes
    FROM pop GROUP BY segment),
hits AS (SELECT r.theme, x.segment, count(*) AS users_with,
        count(*) FILTER (WHERE x.outcome) AS outcome_with
    FROM raised r JOIN pop x USING (user_id) GROUP BY ALL)
SELECT t.theme, s.segment, coalesce(h.users_with, 0) AS users_with,
       coalesce(h.outcome_with, 0) AS outcome_with, s.users, s.outcomes
FROM totals s LEFT JOIN themes t ON true LEFT JOIN hits h ON h.theme = t.theme AND h.segment = s.segment
ORDER BY t.theme, s.segment"""


def _row(a: int, with_: int, outcomes: int, n: int) -> dict[str, Any]:
    """a: users with the theme and the outcome; with_: users with the theme; outcomes: users
    with the outcome; n: the population."""
    b = with_ - a
    c = outcomes - a
    d = (n - with_) - c
    rate_with = a / with_ if with_ else math.nan
    rate_without = c / (c + d) if c + d else math.nan
    lift = rate_with / rate_without if with_ and c + d and rate_without > 0 else math.nan
    lo, hi, corrected = katz_interval(a, b, c, d)
    return {
        "users_with": with_,
        "users_without": c + d,
        "rate_with": rate_with,
        "rate_without": rate_without,
        "lift": lift,
        "ci_low": lo,
        "ci_high": hi,
        "p_value": fisher_exact(a, b, c, d) if n else math.nan,
        "small_sample": bool(with_ <= 0 or c + d <= 0 or is_small_sample(a, with_, c, c + d)),
        "outcome_with": a,
        "outcome_without": c,
        "share_outcome": a / outcomes if outcomes else math.nan,
        "share_other": b / (n - outcomes) if n - outcomes else math.nan,
        "ci_corrected": corrected,
    }


def lift_table(counts: pd.DataFrame, segmented: bool) -> pd.DataFrame:
    """The statistics for the aggregated counts (one row per theme and segment)."""
    rows = []
    for r in counts.itertuples(index=False):
        row = {"theme": r.theme, "segment": r.segment}
        row.update(_row(int(r.outcome_with), int(r.users_with), int(r.outcomes), int(r.users)))
        rows.append(row)
    cols = ["theme", "segment", *COLUMNS[1:]]
    table = pd.DataFrame(rows, columns=cols)
    table["p_adjusted"] = holm(table.p_value.astype(float))
    table["significant"] = (table.p_adjusted < ALPHA) & ~table.small_sample.astype(bool)
    table = table.astype(
        {
            "users_with": "int64",
            "users_without": "int64",
            "outcome_with": "int64",
            "outcome_without": "int64",
            "small_sample": bool,
            "significant": bool,
            "ci_corrected": bool,
        }
    )
    # strongest lift first (a ratio that cannot be formed sorts after the numbers), then by theme
    order = table.assign(_l=table.lift.fillna(-1.0)).sort_values(
        ["_l", "rate_with", "theme", "segment"], ascending=[False, False, True, True]
    )
    table = order.drop(columns=["_l"]).reset_index(drop=True)
    if segmented:
        return table[["theme", "segment", *COLUMNS[1:]]]
    return table.drop(columns=["segment"])


@metric_boundary("voice")
def run_lift(con: duckdb.DuckDBPyConnection, q: LiftQuery) -> LiftResult:
    """The lift table, the join rate and the population's counts (see the module's docstring)."""
    fs = q.funnel_step()
    if fs is not None:
        f, step = fs
        f._check_open()  # funnel.closed
        if f.con is not con:
            raise _fail(
                "the funnel result belongs to another warehouse connection",
                "voice.lift_funnel",
                "run the funnel on the same Workbench as theme_lift",
            )
    if q.segment:
        check_properties(con, [q.segment], "voice")
    p = Params(fs[0].params) if fs is not None else Params()  # a funnel's per-unit values
    sql = lift_sql(q, p)
    used = p.used_in(sql)
    counts = fetch_df(con, sql, used)  # a row with no theme per segment when there are no themes
    totals = counts.drop_duplicates("segment")
    table = lift_table(counts[counts.theme.notna()], bool(q.segment))
    join = join_rate(con, q.source, q.date_from, q.date_to)
    until = None
    if fs is None:
        outcome, other = "churned", "retained"
        before = "" if q.as_of is None else " WHERE ts <= ?::TIMESTAMPTZ"
        row = fetch_one(
            con,
            f"SELECT max(ts) - to_microseconds(?::BIGINT) FROM events{before}",
            [int(q.inactive_days) * 86_400_000_000] + ([] if q.as_of is None else [_as_of(q)]),
        )
        until = pd.Timestamp(row[0]).tz_convert("UTC") if row and row[0] is not None else None
    else:
        f, step = fs
        name = f.plan.steps[step - 1].name
        outcome, other = f"dropped at {name}", f"converted to {name}"
    return LiftResult(
        q,
        table,
        sql,
        used,
        join=join,
        outcome=outcome,
        other=other,
        population=int(totals.users.sum()) if len(totals) else 0,
        outcomes=int(totals.outcomes.sum()) if len(totals) else 0,
        items_until=until,
    )
