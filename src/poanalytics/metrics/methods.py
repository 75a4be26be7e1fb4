"""The metric calls a Workbench answers, written once for every engine.

``MetricMethods`` holds the signatures, keywords and docstrings of ``funnel``, ``paths``,
``retention``, ``lifecycle``, ``stickiness``, ``churn`` and ``survival``: each builds its validated
query object and hands it to ``_run_metric``. The DuckDB ``Workbench`` runs it on its warehouse's
connection; ``poanalytics.spark.SparkWorkbench`` runs it on Spark. One query object, one
validation, compiled for each engine (issue 13).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import pandas as pd

from .churn import ChurnQuery, ChurnResult, SurvivalQuery, SurvivalResult, run_churn, run_survival
from .engine import EventsSQL, run_events_query, runner_for
from .funnel import FunnelQuery, FunnelResult, run_funnel
from .lifecycle import (
    LifecycleQuery,
    LifecycleResult,
    StickinessResult,
    run_lifecycle,
    run_stickiness,
)
from .paths import PathsQuery, PathsResult, run_paths
from .retention import RetentionQuery, RetentionResult, run_retention
from .spec import Exclusion, Step

R = TypeVar("R")


class MetricMethods:
    """The metric calls; a subclass says how a query runs (``_run_metric``)."""

    def _run_metric(self, area: str, run: Callable[..., R], query: Any) -> R:
        """Run ``query`` with ``run`` (``run_funnel``, ...) on this engine; ``area`` names it."""
        raise NotImplementedError

    def events_source(self) -> AbstractContextManager[Any]:
        """A context holding what the metric calls read: the warehouse's DuckDB connection, or
        another engine's runner (a ``metrics.catalog.Catalog`` either way)."""
        raise NotImplementedError

    def events_query(self, build: Callable[[EventsSQL], str]) -> pd.DataFrame:
        """A question of one's own over the events, answered by this engine (DuckDB, or Spark on
        ``on_spark``) with only its result coming back. ``build(q)`` returns the SQL: the events
        table as ``q.events``, values bound with ``q.value(v)`` / ``q.instant(ts)``, a property as
        ``q.property("plan")``, and what engines spell differently through ``q.dialect``. E.g.
        ``wb.events_query(lambda q: f"SELECT count(DISTINCT user_id) AS users FROM {q.events} "
        f"WHERE event = {q.value('signed_up')}")``."""
        with self.events_source() as source:
            return run_events_query(runner_for(source), build)

    def funnel(
        self,
        steps: Sequence[str | Step | None],
        window: Any = "14d",
        order: str = "ordered",
        exclusions: Sequence[Exclusion] = (),
        breakdown: str | None = None,
        attribution: str = "first_touch",
        breakdown_step: int | None = None,
        date_from: Any = None,
        date_to: Any = None,
        *,
        strict: bool = False,
        unit: Any = "user",
        terminal_events: Sequence[str | Step] = (),
        as_of: Any = None,
    ) -> FunnelResult:
        """Conversion through ``steps`` (see docs/metrics-funnels.md for every rule).

        Each step is an event name, None (any event) or ``Step("event", where={"prop": value})``
        (other operators: ``where={"invoice": poa.Prop.starts_with("C")}``). ``window`` needs a
        unit ("7d"). A step whose event the warehouse does not hold gives zeros and a ``PoaWarning``
        (also in ``result.warnings``); ``strict=True`` refuses it.
        ``unit``: "user" (default), "session" or {"property": "company_id"} (F17).
        ``terminal_events``: events that end a journey, so a unit that ends on one without
        converting is dropped, not in progress; ``as_of``: the observation end of historical data
        instead of its last event (F18).
        """
        query = FunnelQuery(
            steps=steps,
            window=window,
            order=order,
            exclusions=exclusions,
            breakdown=breakdown,
            attribution=attribution,
            breakdown_step=breakdown_step,
            date_from=date_from,
            date_to=date_to,
            strict=strict,
            unit=unit,
            terminal_events=terminal_events,
            as_of=as_of,
        )
        return self._run_metric("funnel", run_funnel, query)

    def paths(
        self,
        start_event: str | Step | None = None,
        end_event: str | Step | None = None,
        steps: int = 5,
        window: Any = None,
        occurrence: str = "first",
        collapse_repeats: bool = True,
        exclude_events: Sequence[str] | str = (),
        date_from: Any = None,
        date_to: Any = None,
        top: int = 10,
        max_edges: int = 50,
        min_users: int = 1,
        *,
        strict: bool = False,
    ) -> PathsResult:
        """The most common paths after ``start_event`` (or before ``end_event``, or from each user's
        first event): a Sankey-ready edge table, the top sequences and ``figure()``.

        ``steps`` counts the event itself; ``window`` limits the time from it; ``occurrence`` is
        "first" (one path per user) or "every". See docs/metrics.md for every rule.
        """
        query = PathsQuery(
            start_event=start_event,
            end_event=end_event,
            steps=steps,
            window=window,
            occurrence=occurrence,
            collapse_repeats=collapse_repeats,
            exclude_events=exclude_events,
            date_from=date_from,
            date_to=date_to,
            top=top,
            max_edges=max_edges,
            min_users=min_users,
            strict=strict,
        )
        return self._run_metric("paths", run_paths, query)

    def retention(
        self,
        start_event: str | Step | None = None,
        return_event: str | Step | None = None,
        period: str = "week",
        intervals: int = 8,
        cohort: str = "recurring",
        cumulative: bool = False,
        date_from: Any = None,
        date_to: Any = None,
        week_start: str = "monday",
        timezone: str = "UTC",
        *,
        strict: bool = False,
        unit: Any = "user",
        as_of: Any = None,
    ) -> RetentionResult:
        """Cohort retention by calendar period (R1-R4); unobservable cells are NULL, not 0.
        ``unit``: "user" (default), "session" or {"property": "company_id"} (F17); ``as_of``: the
        observation end instead of the data's last event (later events are ignored)."""
        query = RetentionQuery(
            start_event=start_event,
            return_event=return_event,
            period=period,
            intervals=intervals,
            cohort=cohort,
            cumulative=cumulative,
            date_from=date_from,
            date_to=date_to,
            week_start=week_start,
            timezone=timezone,
            strict=strict,
            unit=unit,
            as_of=as_of,
        )
        return self._run_metric("retention", run_retention, query)

    def lifecycle(
        self,
        event: str | Step | None = None,
        period: str = "week",
        date_from: Any = None,
        date_to: Any = None,
        timezone: str = "UTC",
        week_start: str = "monday",
        *,
        segment: str | None = None,
        strict: bool = False,
    ) -> LifecycleResult:
        """New, returning, resurrecting and dormant (negative) users per period (L1); with
        ``segment`` (a property), per period and segment: a user's segment is the first non-empty
        value on their events (as churn's, L2), users without one are the group "no <property>"."""
        query = LifecycleQuery(
            event=event,
            period=period,
            segment=segment,
            date_from=date_from,
            date_to=date_to,
            timezone=timezone,
            week_start=week_start,
            strict=strict,
        )
        return self._run_metric("lifecycle", run_lifecycle, query)

    def stickiness(
        self,
        event: str | Step | None = None,
        period: str = "week",
        date_from: Any = None,
        date_to: Any = None,
        timezone: str = "UTC",
        week_start: str = "monday",
        *,
        strict: bool = False,
    ) -> StickinessResult:
        """Users by number of active days in each period."""
        query = LifecycleQuery(
            event=event,
            period=period,
            date_from=date_from,
            date_to=date_to,
            timezone=timezone,
            week_start=week_start,
            strict=strict,
        )
        return self._run_metric("stickiness", run_stickiness, query)

    def churn(
        self,
        inactive_days: int = 28,
        event: str | Step | None = None,
        period: str = "week",
        segment: str | None = None,
        date_from: Any = None,
        date_to: Any = None,
        timezone: str = "UTC",
        week_start: str = "monday",
        *,
        strict: bool = False,
    ) -> ChurnResult:
        """Churn rate per period (L2): became churned in the period / active at its start."""
        query = ChurnQuery(
            inactive_days=inactive_days,
            event=event,
            period=period,
            segment=segment,
            date_from=date_from,
            date_to=date_to,
            timezone=timezone,
            week_start=week_start,
            strict=strict,
        )
        return self._run_metric("churn", run_churn, query)

    def survival(
        self,
        signup_event: str | Step | None = "signed_up",
        inactive_days: int = 28,
        event: str | Step | None = None,
        by: str | None = None,
        max_days: int | None = None,
        date_from: Any = None,
        date_to: Any = None,
        *,
        strict: bool = False,
    ) -> SurvivalResult:
        """Kaplan-Meier share of a signup cohort still active t days after signup (L2).
        ``date_from``/``date_to``: the users whose first signup falls in the range (a bare
        ``date_to`` is the whole day), followed on to the data's end."""
        query = SurvivalQuery(
            signup_event=signup_event,
            inactive_days=inactive_days,
            event=event,
            by=by,
            max_days=max_days,
            date_from=date_from,
            date_to=date_to,
            strict=strict,
        )
        return self._run_metric("survival", run_survival, query)
