"""Funnels: query object -> validation -> SQL (funnel_sql) -> result with table, users and figure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from ..db import fetch_all
from ..errors import PoaWarning
from ..sql import Params
from . import funnel_kernel
from .catalog import Source, check_events, check_filters, check_properties, event_span
from .engine import DUCKDB, EVENTS, Dialect, DuckDBRunner, Runner, runner_for
from .funnel_chase import chase_sql
from .funnel_correlation import CorrelationQuery, CorrelationResult, run_correlation
from .funnel_dropoff import DropoffQuery, DropoffResult, dropoff_paths
from .funnel_kernel import KERNEL_MAX_STEPS, kernel_sql
from .funnel_lists import RANKS_MAX_STEPS, WORK_LIMIT, lists_sql, ranks_sql
from .funnel_sql import MAX_ORDERED_STEPS, FunnelPlan, bind, per_user_sql
from .funnel_unordered import MAX_STEPS, unordered_sql
from .predicates import step_predicate
from .spec import Exclusion, MetricError, Step
from .units import Unit, left_out_sql, left_out_warning, parse_unit, unit_source
from .validate import (
    check_choice,
    check_event,
    check_flag,
    check_int,
    check_name,
    metric_boundary,
    parse_instant,
    parse_range,
    parse_steps,
    parse_window,
)

ORDERS = ("ordered", "strict", "unordered")
ATTRIBUTIONS = ("first_touch", "last_touch", "all_events", "step")
Z95 = 1.959963984540054


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (F14); (nan, nan) when n = 0.

    Bounds are rounded to 12 decimals: centre - half for 0 of n is 0 in exact arithmetic but comes
    out as 5.6e-17 in floats (and n of n as 0.9999999999999999), which tables printed as such.
    """
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (clip_unit(centre - half), clip_unit(centre + half))


def clip_unit(x: float) -> float:
    """A proportion without float dust: rounded to 12 decimals and kept within [0, 1]."""
    return min(1.0, max(0.0, round(x, 12)))


@dataclass(kw_only=True)
class FunnelQuery:
    steps: Sequence[str | Step | None]
    window: Any = "14d"
    order: str = "ordered"
    exclusions: Sequence[Exclusion] = ()
    breakdown: str | None = None
    attribution: str = "first_touch"
    breakdown_step: int | None = None
    date_from: Any = None
    date_to: Any = None

    strict: bool = False
    unit: Any = "user"  # "user", "session" or {"property": "company_id"} (F17)
    terminal_events: Sequence[str | Step] = ()  # events that end a journey (F18)
    as_of: Any = None  # the observation end (F18); None: the data's last event

    def plan(self, con: Source, warnings: list[PoaWarning] | None = None) -> FunnelPlan:
        """Validate against the warehouse (a DuckDB connection, or another engine's ``Catalog``)
        and return the plan (raises MetricError with a stable code).

        A step or exclusion whose event the warehouse does not hold is a step nobody reaches (F13):
        a ``PoaWarning``, appended to ``warnings``; ``strict=True`` refuses it instead."""
        steps = parse_steps(self.steps, "funnel")
        if len(steps) < 2:
            raise MetricError(
                f"a funnel needs at least two steps, got {len(steps)}",
                code="funnel.too_few_steps",
                hint='give two or more steps, e.g. ["signed_up", "activated"]',
            )
        if len(steps) > MAX_ORDERED_STEPS:
            raise MetricError(
                f"a funnel takes at most {MAX_ORDERED_STEPS} steps, got {len(steps)}",
                code="funnel.too_many_steps",
                hint="split it into two funnels that share a step",
            )
        check_choice(self.order, ORDERS, "order", code="funnel.order")
        check_choice(self.attribution, ATTRIBUTIONS, "attribution", code="funnel.attribution")
        check_flag(self.strict, "strict", code="funnel.strict")
        breakdown = check_name(self.breakdown, "breakdown", code="funnel.breakdown")
        exclusions = check_exclusions(self.exclusions)
        window = parse_window(self.window, "window", code="funnel.window")
        date_from, date_to = parse_range(self.date_from, self.date_to, "funnel")
        found = check_events(
            con, [s.event for s in steps] + [x.event for x in exclusions], "funnel", self.strict
        )
        if warnings is not None:
            warnings.extend(found)
        check_filters(con, [*steps, *(x.as_step() for x in exclusions)], "funnel")
        check_properties(con, [breakdown] if breakdown else [], "funnel")
        self._check_exclusions(steps, exclusions)
        breakdown_step = check_int(
            self.breakdown_step,
            "breakdown_step",
            code="funnel.breakdown_step",
            low=1,
            high=len(steps),
            none_ok=True,
        )
        if self.attribution == "step" and (not breakdown or breakdown_step is None):
            raise MetricError(
                "attribution='step' needs a breakdown and breakdown_step between 1 and "
                f"{len(steps)}",
                code="funnel.breakdown_step",
                hint="e.g. breakdown='platform', attribution='step', breakdown_step=2",
            )
        self._check_unordered(steps)
        unit, terminal, as_of = self._closing(con)
        return FunnelPlan(
            steps,
            window,
            self.order,
            exclusions,
            breakdown,
            self.attribution,
            breakdown_step,
            date_from,
            date_to,
            unit,
            terminal,
            as_of,
        )

    def _check_exclusions(self, steps: tuple[Step, ...], exclusions: tuple[Exclusion, ...]) -> None:
        """Each exclusion spans increasing steps of the funnel and is no step itself."""
        for x in exclusions:
            if not (0 <= x.from_step < x.to_step <= len(steps) - 1):
                raise MetricError(
                    f"exclusion {x.event!r} spans steps {x.from_step}..{x.to_step}, outside 0..{len(steps) - 1} "
                    "or not increasing",
                    code="funnel.exclusion_range",
                    hint="steps are 0-based: from_step=0, to_step=1 means between the first and second step",
                )
            if x.as_step().key() in {s.key() for s in steps}:
                raise MetricError(
                    f"exclusion {x.event!r} is identical to a step",
                    code="funnel.exclusion_is_step",
                    hint="exclude a different event, or add a property filter to tell them apart",
                )
            if self.order == "unordered" and (x.from_step, x.to_step) != (0, len(steps) - 1):
                raise MetricError(
                    "in unordered funnels an exclusion must span the whole funnel",
                    code="funnel.exclusion_unordered",
                    hint=f"use from_step=0, to_step={len(steps) - 1}",
                )

    def _check_unordered(self, steps: tuple[Step, ...]) -> None:
        """An unordered funnel's own limits: step count and attribution."""
        if self.order == "unordered":
            if len(steps) > MAX_STEPS:
                raise MetricError(
                    f"unordered funnels take at most {MAX_STEPS} steps, got {len(steps)}",
                    code="funnel.unordered_steps",
                    hint="use fewer steps, or an ordered funnel",
                )
            if self.attribution not in ("first_touch", "all_events"):
                raise MetricError(
                    "unordered funnels break down by first_touch or all_events only",
                    code="funnel.unordered_attribution",
                    hint="use attribution='first_touch' or 'all_events'",
                )

    def _closing(self, con: Source) -> tuple[Unit, tuple[Step, ...], Any]:
        """The unit counted (F17), the events that end a journey and the observation end (F18).
        An unknown terminal event is refused even without ``strict``: it would leave every unit
        that ended on it in progress."""
        unit = parse_unit(self.unit, "funnel")
        if unit.prop:
            check_properties(con, [unit.prop], "funnel")
        if not isinstance(self.terminal_events, (list, tuple)):
            raise MetricError(
                f"terminal_events takes a list of events, got {self.terminal_events!r}",
                code="funnel.terminal_events",
                hint='write terminal_events=["A_DECLINED", "A_CANCELLED"]',
            )
        terminal = tuple(
            check_event(e, "a terminal event", "funnel", any_ok=False) for e in self.terminal_events
        )
        if any(t.event is None for t in terminal):
            raise MetricError(
                "a terminal event must name an event, not None (any event)",
                code="funnel.terminal_events",
                hint='name the events that end a journey, e.g. ["A_DECLINED"]',
            )
        check_events(con, [t.event for t in terminal], "funnel", strict=True)
        check_filters(con, terminal, "funnel")
        return unit, terminal, parse_instant(self.as_of, "as_of", end=True)


def check_breakdown_value(value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise MetricError(
            f"breakdown_value must be a breakdown value (text) or None, got {value!r}",
            code="funnel.breakdown_value",
            hint="pick one from result.table.breakdown",
        )


def check_exclusions(value: Any) -> tuple[Exclusion, ...]:
    """A list of ``poa.Exclusion`` with whole-number steps (``funnel.exclusion_type``)."""
    items = (value,) if isinstance(value, Exclusion) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(x, Exclusion) for x in items):
        raise MetricError(
            f"exclusions must be a list of poa.Exclusion(...), got {value!r}",
            code="funnel.exclusion_type",
            hint='e.g. exclusions=[poa.Exclusion("cancelled", from_step=0, to_step=1)]',
        )
    for x in items:
        check_event(x.event, "an exclusion's event", "funnel")
        if x.event is None:
            raise MetricError(
                "an exclusion needs an event name",
                code="funnel.exclusion_type",
                hint='e.g. poa.Exclusion("cancelled", from_step=0, to_step=1)',
            )
        for name in ("from_step", "to_step"):
            check_int(
                getattr(x, name), name, code="funnel.exclusion_range", low=0, high=MAX_ORDERED_STEPS
            )
    return tuple(items)


@dataclass
class FunnelResult:
    query: FunnelQuery
    plan: FunnelPlan
    table: pd.DataFrame
    sql: str
    params: dict[str, Any]
    # the per-unit rows as a FROM item: the per-unit SQL in parentheses, its values in ``params``.
    # Nothing is held on the connection: every view (users, trend, times, correlation, drop-off
    # paths, compare) re-runs it inside its own statement, the warehouse attached for that call.
    per_user_table: str
    # the DuckDB connection, or the runner of another engine (Spark), that ran it: every view
    # re-runs the per-unit query there
    con: duckdb.DuckDBPyConnection | Runner = field(repr=False)
    events: str = field(default=EVENTS, repr=False)  # the events table its views read
    # PoaWarnings met on the way (e.g. a step whose event has no data yet: zeros, F13)
    warnings: list[PoaWarning] = field(default_factory=list, init=False, repr=False)

    closed: bool = field(default=False, init=False, repr=False)

    def _step(self, step: Any, low: int, name: str = "step", none_ok: bool = False) -> Any:
        self._check_open()
        return check_int(
            step, name, code="funnel.step", low=low, high=len(self.plan.steps), none_ok=none_ok
        )

    def _check_open(self) -> None:
        if self.closed:
            raise MetricError(
                "this funnel result was closed (result.close())",
                code="funnel.closed",
                hint="run the funnel again for users, trends, times, correlation or drop-off paths",
            )

    def close(self) -> None:
        """Refuse the views that re-run the per-unit query from now on (funnel.closed); the table of
        steps stays. Nothing is held to free: the result keeps only its query, SQL and values."""
        self.closed = True

    def _ids(self, sql: str, params: dict[str, Any]) -> list[str]:
        """The first column of ``sql``'s rows (unit ids), sorted, from the engine that ran it."""
        if isinstance(self.con, duckdb.DuckDBPyConnection):
            return sorted(r[0] for r in fetch_all(self.con, sql, params))
        frame = runner_for(self.con, self.events).table(sql, params)
        return sorted(str(v) for v in frame.iloc[:, 0])

    def new_params(self) -> Params:
        """A Params for a statement that reads ``per_user_table``: it holds the per-unit query's
        values and numbers new ones after them."""
        return Params(self.params)

    @metric_boundary("funnel")
    def users(self, step: int, breakdown_value: str | None = None) -> list[str]:
        """User ids whose furthest step is at least ``step`` (1-based)."""
        step = self._step(step, 1)
        check_breakdown_value(breakdown_value)
        params = self.new_params()
        sql = (
            f"SELECT DISTINCT user_id FROM {self.per_user_table} WHERE depth >= {params.add(step)}"
        )
        if breakdown_value is not None:
            sql += f" AND breakdown = {params.add(breakdown_value)}"
        sql += " ORDER BY 1"
        return self._ids(sql, params.used_in(sql))

    @metric_boundary("funnel")
    def dropped(self, step: int, breakdown_value: str | None = None) -> list[str]:
        """User ids who reached step-1 but not ``step``, with their windows closed."""
        step = self._step(step, 2)
        check_breakdown_value(breakdown_value)
        params = self.new_params()
        sql = (
            f"SELECT DISTINCT user_id FROM {self.per_user_table} "
            f"WHERE depth = {params.add(step - 1)} AND NOT in_progress"
        )
        if breakdown_value is not None:
            sql += f" AND breakdown = {params.add(breakdown_value)}"
        return self._ids(sql, params.used_in(sql))

    @metric_boundary("funnel")
    def trend(
        self, period: str = "week", step: int | None = None, by: str = "entry"
    ) -> pd.DataFrame:
        """Conversion to ``step`` (default: last) per period of entry (``by="entry"``) or of the
        attempt that gave each user's result (``by="attempt"``), over users whose window has
        closed, with Wilson intervals; in-progress users beside it, incomplete periods flagged (F15)."""
        from .funnel_analysis import PERIODS, TREND_BY, trend

        check_choice(period, PERIODS, "period", code="funnel.period")
        check_choice(by, TREND_BY, "trend basis by", code="funnel.trend_by")
        return trend(self, period, self._step(step, 2, none_ok=True), by)

    @metric_boundary("funnel")
    def compare(self, compare: Any = "previous"):
        """This funnel's conversion to every step against another range of entry: "previous" (the
        same length just before, or the previous whole months) or ``(date_from, date_to)``. Rates
        count users whose window has closed; see ``metrics.compare``."""
        from .compare import compare_funnel

        self._check_open()
        return compare_funnel(self, compare)

    @metric_boundary("funnel")
    def conversion_times(self, step: int, from_step: int | None = None) -> pd.DataFrame:
        """Per-user seconds from ``from_step`` (default: previous) to ``step`` (for a histogram)."""
        from .funnel_analysis import conversion_times

        self._check_open()
        step = self._step(step, 2)
        from_step = self._step(from_step, 1, "from_step", none_ok=True)
        return conversion_times(self, step, from_step)

    @metric_boundary("funnel")
    def trend_figure(self, period: str = "week", step: int | None = None, by: str = "entry"):
        """The trend as a line with 95% Wilson intervals; incomplete periods marked apart."""
        from ..charts.funnel import trend_figure

        frame = self.trend(period, step, by)  # validates period, step and by first
        n = len(self.plan.steps)
        what = (
            f"Completed at least {step or n} of {n} steps"  # F8: no step names when unordered
            if self.plan.order == "unordered"
            else f"Conversion to {self.plan.steps[(step or n) - 1].name}"
        )
        return trend_figure(frame, f"{what} by {period} of {by}")

    @metric_boundary("funnel")
    def times_figure(self, step: int, from_step: int | None = None):
        """Histogram of the time users took from ``from_step`` (default: previous) to ``step``."""
        from ..charts.funnel import times_figure

        frame = self.conversion_times(step, from_step)
        first = from_step or step - 1
        if self.plan.order == "unordered":  # F8, F16: the k-th completed step, not a step's name
            return times_figure(
                frame, f"Time from the {_nth(first)} to the {_nth(step)} completed step"
            )
        a = self.plan.steps[first - 1].name
        b = self.plan.steps[step - 1].name
        return times_figure(frame, f"Time from {a} to {b}")

    @metric_boundary("funnel")
    def callouts(self, step: int | None = None) -> pd.DataFrame:
        """Breakdown values whose conversion differs clearly from the rest (two-proportion test)."""
        from .funnel_analysis import breakdown_callouts

        self._check_open()
        return breakdown_callouts(self, self._step(step, 2, none_ok=True))

    @metric_boundary("funnel")
    def correlation(
        self,
        step: int | None = None,
        kind: str = "events",
        properties: Sequence[str] | str | None = None,
        exclude_events: Sequence[str] | str = (),
        min_users: int | None = None,
        top: int | None = 10,
        breakdown_value: str | None = None,
    ) -> CorrelationResult:
        """Events (kind="events") or step-1 property values (kind="properties") that go with
        converting to ``step`` (default: last) rather than dropping off: odds ratios, Fisher tests."""
        self._check_open()
        self._users_only("correlation")
        query = CorrelationQuery(
            step=step,
            kind=kind,
            properties=properties,
            exclude_events=exclude_events,
            min_users=min_users,
            top=top,
            breakdown_value=breakdown_value,
        )
        return run_correlation(self, query)

    @metric_boundary("funnel")
    def dropoff_paths(
        self,
        step: int,
        steps: int = 4,
        horizon: Any = None,
        breakdown_value: str | None = None,
        top: int = 10,
        max_edges: int = 50,
        min_users: int = 1,
        collapse_repeats: bool = True,
    ) -> DropoffResult:
        """What the users of ``dropped(step)`` did next after their step-(step-1) event: top next
        events (with "(no further events)", shares add up to 1) and paths, until their window closes
        (or for ``horizon``); ``steps`` counts the step event and the events after it."""
        self._check_open()
        self._users_only("drop-off paths")
        query = DropoffQuery(
            step=step,
            steps=steps,
            horizon=horizon,
            breakdown_value=breakdown_value,
            top=top,
            max_edges=max_edges,
            min_users=min_users,
            collapse_repeats=collapse_repeats,
        )
        return dropoff_paths(self, query)

    def _users_only(self, what: str) -> None:
        if self.plan.unit.kind != "user":
            raise MetricError(
                f"{what} follow each user's events; this funnel counts by {self.plan.unit.label}",
                code="funnel.unit_analysis",
                hint="run the funnel with unit='user' for this analysis",
            )

    @metric_boundary("funnel")
    def figure(self, view: str | None = None, top: int = 8):
        """Bars per step with conversion, Wilson intervals, drop-off and in-progress counts:
        ``view="users"`` or ``"percent"`` (conversion from step 1; the default with a breakdown).
        With a breakdown, the ``top`` values with the most users are drawn, the rest as "other"."""
        from ..charts.funnel import VIEWS, funnel_figure
        from ..charts.style import PALETTE

        check_choice(view or "users", VIEWS, "view", code="funnel.view")
        if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= len(PALETTE):
            raise MetricError(
                f"top={top!r}: the chart draws 1 to {len(PALETTE)} breakdown values, each in its "
                "own colour, and groups the rest as 'other'",
                code="funnel.figure_top",
                hint=f"pass top between 1 and {len(PALETTE)}; the full numbers are in .table",
            )
        plan = self.plan
        window = f"{plan.window // 86400}d" if plan.window % 86400 == 0 else f"{plan.window}s"
        title = f"Funnel ({plan.order}, {window} window): users per step, 95% Wilson intervals"
        return funnel_figure(
            self.table, title, view, top, exclusive=plan.attribution != "all_events"
        )

    def summary_table(self) -> pd.DataFrame:
        """Per step: users, conversion, drop-off and median time as text (per breakdown value
        with a breakdown); ``table`` stays numeric."""
        from .summary import funnel_summary

        return funnel_summary(self.table)

    def _repr_html_(self) -> str:
        """In a notebook: the summary, with the full table one click away."""
        from .summary import to_html

        return to_html(self.summary_table(), self.table)


@metric_boundary("funnel")
def run_funnel(
    con: duckdb.DuckDBPyConnection | Runner,
    query: FunnelQuery,
    strategy: str = "kernel",
    work_limit: int = WORK_LIMIT,
    *,
    table: str = EVENTS,
) -> FunnelResult:
    """Compute a funnel. ``strategy``: "kernel" (per-unit lists from DuckDB, every attempt's chain
    vectorised in numpy by ``funnel_kernel``, the fastest; funnels with more than
    KERNEL_MAX_STEPS steps and exclusions take "lists"), "ranks" (per-unit sorted position lists in SQL alone;
    with exclusions or over RANKS_MAX_STEPS steps, "lists"), "lists" (per-unit position lists, one chain per
    attempt; units whose lists exceed ``work_limit`` take the ASOF chain), "asof" (DuckDB's ASOF
    joins) or "window" (portable SQL with window functions only); strict funnels take the ASOF
    chain. All implement the same definition and give the same numbers.

    ``table``: the events table the funnel reads (the warehouse's ``events`` unless told
    otherwise); the query's names are still checked against the warehouse's catalog, and the
    result's views read the same table.

    The result holds nothing on the connection: it keeps the per-unit SQL and its values, and
    its views (``users``, ``trend``, ``conversion_times``, ``correlation``, ...) re-run it.

    ``con`` may also be another engine's runner (``spark.SparkRunner``, which is its catalog for
    validation too): the funnel is then built for its dialect (``portable_per_unit_sql``:
    ``funnel_chase`` for ordered and strict funnels, or the window chain for
    ``strategy="window"``; ``unordered_sql`` for unordered ones; the kernel and the list and ASOF
    forms are DuckDB's) and reads the runner's table."""
    found: list[PoaWarning] = []
    plan = query.plan(con, found)  # type: ignore[arg-type]  # another engine's runner is a Catalog
    run = runner_for(con, table)
    table, dialect = run.table_name, run.dialect
    params = Params()
    if isinstance(run, DuckDBRunner):
        base = _kernel_base(run.con, plan, table) if _takes_kernel(plan, strategy) else None
        per_user = _per_unit_sql(plan, params, strategy, work_limit, table=table, base_us=base)
    else:
        per_user = portable_per_unit_sql(plan, params, strategy, table=table, dialect=dialect)
    per_user = _close_journeys(plan, params, per_user, table=table, dialect=dialect)
    used = params.used_in(per_user)
    agg = steps_sql(plan, per_user, dialect)
    raw = run.table(agg, used)
    frame = _finish(raw, plan)
    found += _left_out(run, plan)
    result = FunnelResult(query, plan, frame, agg, used, f"({per_user})", con, events=table)
    result.warnings.extend(found)
    return result


def steps_sql(plan: FunnelPlan, per_user: str, dialect: Dialect = DUCKDB) -> str:
    """The step table's SQL over the per-unit rows ``per_user``: per breakdown value and step,
    the units that reached it, those in progress before it, and the mean and median seconds
    from the previous step and from step 1 (F11, F16)."""
    name = "per_unit"  # the per-unit rows, read once for the step counts below
    us = dialect.epoch_us
    n = len(plan.steps)
    if not dialect.materializes_ctes:
        # one pass: every unit's row once per step (a join with the N step numbers)
        gaps = " ".join(f"WHEN {k} THEN {us(f't{k}')} - {us(f't{k - 1}')}" for k in range(2, n + 1))
        spans = " ".join(f"WHEN {k} THEN {us(f't{k}')} - {us('t1')}" for k in range(2, n + 1))
        numbers = ", ".join(f"({k})" for k in range(1, n + 1))
        reached = "FILTER (WHERE depth >= step)"
        return f"""WITH {name} AS ({per_user}),
stepped AS (SELECT p.breakdown, p.depth, p.in_progress, s.step,
        CASE s.step {gaps} END AS gap, CASE s.step {spans} END AS span
    FROM {name} p CROSS JOIN (VALUES {numbers}) AS s(step))
SELECT breakdown, step, count(*) {reached} AS users,
    count(*) FILTER (WHERE depth = step - 1 AND in_progress) AS in_progress,
    avg(gap) {reached} / 1e6 AS mean_seconds_from_previous,
    median(gap) {reached} / 1e6 AS median_seconds_from_previous,
    avg(span) {reached} / 1e6 AS mean_seconds_from_start,
    median(span) {reached} / 1e6 AS median_seconds_from_start
FROM stepped GROUP BY breakdown, step ORDER BY breakdown, step"""
    parts = []
    for k in range(1, n + 1):
        gap = f"{us(f't{k}')} - {us(f't{k - 1}')}" if k > 1 else "NULL"
        span = f"{us(f't{k}')} - {us('t1')}" if k > 1 else "NULL"
        reached = f"FILTER (WHERE depth >= {k})"
        parts.append(
            f"SELECT breakdown, {k} AS step, count(*) {reached} AS users, "
            f"count(*) FILTER (WHERE depth = {k - 1} AND in_progress) AS in_progress, "
            f"avg({gap}) {reached} / 1e6 AS mean_seconds_from_previous, "
            f"median({gap}) {reached} / 1e6 AS median_seconds_from_previous, "
            f"avg({span}) {reached} / 1e6 AS mean_seconds_from_start, "
            f"median({span}) {reached} / 1e6 AS median_seconds_from_start "
            f"FROM {name} GROUP BY breakdown"
        )
    # materialized once for the N parts
    return (
        f"WITH {name} AS MATERIALIZED ({per_user})\n"
        + " UNION ALL ".join(parts)
        + " ORDER BY breakdown, step"
    )


def portable_per_unit_sql(
    plan: FunnelPlan, params: Params, strategy: str, *, table: str, dialect: Dialect
) -> str:
    """The per-unit SQL on an engine other than DuckDB (built for ``dialect``): ``unordered_sql``
    for unordered funnels; for ordered and strict ones ``funnel_chase.chase_sql`` (each unit's
    attempts followed through its rows as one list), or the window chain when ``strategy`` is
    "window" (one join per step: fine for a few steps, a plan too large to plan for many)."""
    if plan.order == "unordered":
        return unordered_sql(plan, params, table=table, dialect=dialect)
    if strategy == "window":
        return per_user_sql(plan, params, table=table, strategy="window", dialect=dialect)
    return chase_sql(plan, params, table=table, dialect=dialect)


def _takes_kernel(plan: FunnelPlan, strategy: str) -> bool:
    """Whether the funnel runs on ``funnel_kernel`` (ordered, few enough steps and exclusions)."""
    return (
        plan.order == "ordered"
        and strategy == "kernel"
        and len(plan.steps) + len(plan.exclusions) <= KERNEL_MAX_STEPS
    )


def _kernel_base(con: duckdb.DuckDBPyConnection, plan: FunnelPlan, table: str) -> int | None:
    """Register the kernel's function on ``con`` and choose its key (``funnel_kernel.bigint_base``).
    The catalog's span describes the warehouse's events table only: a funnel over another table
    takes no span, so the HUGEINT key (the same answers)."""
    funnel_kernel.register(con)
    if table != EVENTS:
        return None
    named = [*plan.steps, *(x.as_step() for x in plan.exclusions)]
    span = event_span(con, [str(s.event) for s in named if s.event is not None])
    return funnel_kernel.bigint_base(plan, *span)


def _per_unit_sql(
    plan: FunnelPlan,
    params: Params,
    strategy: str,
    work_limit: int,
    *,
    table: str,
    base_us: int | None = None,
) -> str:
    """The per-unit SQL of the strategy asked for (or the one the funnel falls back to) over
    ``table``; ``base_us`` is the kernel's key base (``_kernel_base``)."""
    if plan.order == "unordered":
        return unordered_sql(plan, params, table=table)
    if _takes_kernel(plan, strategy):
        return kernel_sql(plan, params, table=table, base_us=base_us)
    plain = plan.order == "ordered" and not plan.exclusions
    if plain and strategy == "ranks" and len(plan.steps) <= RANKS_MAX_STEPS:
        return ranks_sql(plan, params, table=table)
    if plan.order == "ordered" and strategy in ("lists", "ranks", "kernel"):
        return lists_sql(plan, params, table=table, work_limit=work_limit)
    # strict funnels need every event between steps: the ASOF chain
    chain = "window" if strategy == "window" else "asof"
    return per_user_sql(plan, params, table=table, strategy=chain)


def _nth(k: int) -> str:
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def _close_journeys(
    plan: FunnelPlan, params: Params, per_user: str, *, table: str, dialect: Dialect = DUCKDB
) -> str:
    """F18: a unit whose last event (up to as_of) is terminal has ended: not in progress."""
    if not plan.terminal:
        return per_user
    src = unit_source(plan.unit, params, table=table, dialect=dialect)
    term = " OR ".join(step_predicate(t, params, dialect) for t in plan.terminal)
    until = f"WHERE ts <= {params.add(plan.as_of)}" if plan.as_of is not None else ""
    ended = f"""SELECT user_id FROM {src} {until} GROUP BY user_id
        HAVING max(ts) FILTER (WHERE {term}) = max(ts)"""
    columns = ["unit", "user_id", "breakdown", "depth", "in_progress", "entered"]
    columns += [f"t{k}" for k in range(1, len(plan.steps) + 1)]
    closed = f"p.in_progress AND p.user_id NOT IN ({ended})"
    return f"""SELECT {dialect.replacing("p", columns, "in_progress", closed)}
FROM ({per_user}) p"""


def left_out_funnel_sql(
    plan: FunnelPlan, params: Params, *, table: str, dialect: Dialect = DUCKDB
) -> str | None:
    """SQL counting the funnel's events that have no value for the unit (None for users)."""
    c = bind(plan, params, table=table, dialect=dialect)
    events = " OR ".join([*c.preds, *c.xpreds])
    return left_out_sql(
        plan.unit, params, f"({events}) {c.lower} {c.upper}", table=table, dialect=dialect
    )


def _left_out(run: Runner, plan: FunnelPlan) -> list[PoaWarning]:
    """F17: how many of the funnel's events have no value for the unit, as a warning."""
    params = Params()
    sql = left_out_funnel_sql(plan, params, table=run.table_name, dialect=run.dialect)
    if sql is None:
        return []
    count = run.value(sql, params.used_in(sql))
    return left_out_warning(plan.unit, int(count), "funnel events", "funnel")


def _finish(raw: pd.DataFrame, plan: FunnelPlan) -> pd.DataFrame:
    n = len(plan.steps)
    names = [s.name for s in plan.steps]
    if plan.order == "unordered":  # F8: bars are "at least k of N", not step names
        names = [f"completed at least {k} of {n} steps" for k in range(1, n + 1)]
    if raw.empty:  # F13: zero counts for every step
        raw = pd.DataFrame(
            {
                "breakdown": [None] * n,
                "step": range(1, n + 1),
                "users": 0,
                "in_progress": 0,
                "mean_seconds_from_previous": math.nan,
                "median_seconds_from_previous": math.nan,
                "mean_seconds_from_start": math.nan,
                "median_seconds_from_start": math.nan,
            }
        )
    rows = []
    for value, group in raw.groupby("breakdown", dropna=False, sort=True):
        group = group.sort_values("step")
        start = int(group.users.iloc[0])
        prev = None
        for r in group.itertuples(index=False):
            users = int(r.users)
            low, high = wilson(users, start)
            rows.append(
                {
                    "breakdown": None if isinstance(value, float) and math.isnan(value) else value,
                    "step": int(r.step),
                    "name": names[int(r.step) - 1],
                    "users": users,
                    "conversion_from_start": users / start if start else 0.0,
                    "conversion_from_previous": (users / prev if prev else 0.0)
                    if prev is not None
                    else (1.0 if start else 0.0),
                    "ci_low": low,
                    "ci_high": high,
                    "dropped": (prev - users - int(r.in_progress)) if prev is not None else 0,
                    "in_progress": int(r.in_progress),
                    "mean_seconds_from_previous": r.mean_seconds_from_previous,
                    "median_seconds_from_previous": r.median_seconds_from_previous,
                    "mean_seconds_from_start": r.mean_seconds_from_start,
                    "median_seconds_from_start": r.median_seconds_from_start,
                }
            )
            prev = users
    table = pd.DataFrame(rows)
    if not plan.breakdown:
        table = table.drop(columns=["breakdown"])
    return table
