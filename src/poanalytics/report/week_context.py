"""``poa.report.weekly(wb, week=...)``: the context of one weekly report, checked before anything runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..db import fetch_df
from ..errors import InputError, did_you_mean
from ..metrics.engine import run_events_query, runner_for
from ..redaction import load_config as load_redact_config
from .config import ReportConfig, load_report_config
from .context import ReportContext
from .redact_objects import known_names
from .weeks import Week, resolve_week


def weekly(
    wb: Any,
    week: str | Week | None = "",
    *,
    config: str | Path | ReportConfig | None = "",
    steps: Sequence[str] | None = None,
    window: str = "",
    breakdown: str = "",
    segment: str = "",
    names: Sequence[str] = (),
    parameters: dict[str, Any] | None = None,
    engine: str = "duckdb",
    spark_events: Any = "",
    spark: Any = None,
) -> ReportContext:
    """The weekly report on ``wb`` for ``week`` ("" = the data's last complete ISO week, or
    "2026-W47"). ``config``: a report config file ("" = conf/report.toml) or a ReportConfig;
    ``steps``, ``window``, ``breakdown`` and ``segment`` override it for this run (empty = from the
    config; ``segment`` sets both churn's and retention's segment). ``names``: more names to redact.
    ``parameters``: what to show as the run's parameters (default: the arguments above).
    ``engine``: what answers the event metrics, "duckdb" (the warehouse) or "spark" over
    ``spark_events`` (a table name or a folder ``poanalytics export events`` wrote; ``spark``: the
    session, else the running one or a local one): the week, the funnel's events and the
    properties are then checked against those events. Tickets, notes, voice and the backlog are
    the warehouse's on either engine.

    Error codes: ``report.week_format``, ``report.week_range``, ``report.no_data``,
    ``report.no_complete_week`` (see weeks.py), ``report.parameter`` (an override of the wrong
    type), ``report.funnel_events`` (a funnel step's event does not occur in the week),
    ``report.unknown_property`` (a breakdown or segment no event carries) and the
    config loader's ``report.config_*``."""
    cfg = config if isinstance(config, ReportConfig) else load_report_config(config)
    cfg = with_overrides(cfg, steps=steps, window=window, breakdown=breakdown, segment=segment)
    metrics = wb.metrics_engine(engine, spark_events or None, spark=spark)
    with metrics.events_source() as source:
        runner = runner_for(source)
        span = run_events_query(
            runner, lambda q: f"SELECT min(ts) AS first, max(ts) AS last FROM {q.events}"
        )
        first, last = _nat_to_none(span["first"][0]), _nat_to_none(span["last"][0])
        chosen = resolve_week(week, first, last)
        check_funnel_events(runner, cfg.funnel.steps, chosen)
        check_properties(source, cfg)
    with wb.connection() as con:
        snapshot = warehouse_snapshot(con)
        people = known_names(con)
    if engine != "duckdb":  # the event metrics read other events than the warehouse's
        snapshot["engine"] = {
            "name": engine,
            "events": str(spark_events),
            "last_event": None if last is None else pd.Timestamp(last).isoformat(),
        }
    if parameters is None:
        parameters = {
            "week": week.label if isinstance(week, Week) else (week or ""),
            "config": cfg.path or "",
            "steps": list(cfg.funnel.steps),
            "window": cfg.funnel.window,
            "breakdown": cfg.funnel.breakdown,
            "segment": cfg.churn.segment,
            "warehouse": str(getattr(wb, "path", "")),
            "engine": engine,
            "spark_events": str(spark_events or ""),
        }
    return ReportContext(
        wb=wb,
        week=chosen,
        config=cfg,
        parameters=dict(parameters),
        snapshot=snapshot,
        names=tuple(sorted({*people, *names})),
        redact_config=load_redact_config(),
        metrics=metrics,
    )


def with_overrides(
    cfg: ReportConfig,
    *,
    steps: Sequence[str] | None = None,
    window: str = "",
    breakdown: str = "",
    segment: str = "",
) -> ReportConfig:
    """``cfg`` with one run's parameters applied (empty values keep the config's)."""
    steps = [] if steps is None else steps
    if isinstance(steps, str) or not all(isinstance(s, str) and s.strip() for s in steps):
        raise InputError(
            f"steps={steps!r}: expected a list of event names",
            code="report.parameter",
            hint='pass steps as a list, e.g. ["signed_up", "activated"] (empty: from the config)',
        )
    if steps and len(steps) < 2:
        raise InputError(
            f"steps={list(steps)!r}: a funnel needs at least two steps",
            code="report.parameter",
            hint="name two or more events in order, or leave steps empty for the config's",
        )
    for name, value in (("window", window), ("breakdown", breakdown), ("segment", segment)):
        if not isinstance(value, str):
            raise InputError(
                f"{name}={value!r}: expected text",
                code="report.parameter",
                hint=f'pass {name} as text in quotes, e.g. {name}="{ {"window": "7d"}.get(name, "plan") }"',
            )
    funnel = dataclasses.replace(
        cfg.funnel,
        steps=list(steps) or cfg.funnel.steps,
        window=window.strip() or cfg.funnel.window,
        breakdown=breakdown.strip() or cfg.funnel.breakdown,
    )
    churn, retention = cfg.churn, cfg.retention
    if segment.strip():
        churn = dataclasses.replace(churn, segment=segment.strip())
        retention = dataclasses.replace(retention, segment=segment.strip())
    return dataclasses.replace(cfg, funnel=funnel, churn=churn, retention=retention)


def check_funnel_events(con: Any, steps: Sequence[str], week: Week) -> None:
    """Refuse a funnel whose steps' events do not occur in ``week`` (``report.funnel_events``,
    naming them and the closest events the week holds): its numbers would all be zero.
    ``con``: the warehouse's DuckDB connection, or another engine's runner."""
    found = run_events_query(
        runner_for(con),
        lambda q: (
            f"SELECT event, count(*) AS n FROM {q.events} "
            f"WHERE ts BETWEEN {q.instant(week.start)} AND {q.instant(week.end)} GROUP BY event"
        ),
    )
    present = set(found.event)
    missing = [s for s in dict.fromkeys(steps) if s not in present]
    if missing:
        hints = "".join(did_you_mean(m, present) for m in missing)
        raise InputError(
            f"funnel step event(s) {', '.join(repr(m) for m in missing)} do not occur in "
            f"{week.label} ({week.monday}..{week.sunday}).{hints}",
            code="report.funnel_events",
            hint="check the steps' spelling ([funnel] steps in conf/report.toml or steps=...), or "
            "pick a week that has them; `poanalytics status` shows what was loaded",
        )


def check_properties(con: Any, cfg: ReportConfig) -> None:
    """Refuse a breakdown or segment property that no event carries (``report.unknown_property``,
    naming the config key and the closest property names), before any section runs."""
    from ..metrics.catalog import check_properties as known
    from ..metrics.spec import MetricError

    used = {
        "funnel breakdown": [cfg.funnel.breakdown],
        "retention segment": [cfg.retention.segment],
        "churn segment": [cfg.churn.segment],
        "segments properties": cfg.segments.properties,
    }
    for where, names in used.items():
        try:
            known(con, [n for n in names if n], "report")
        except MetricError as exc:
            raise InputError(
                f"{where}: {exc.message}",
                code="report.unknown_property",
                hint=f"fix {where} in conf/report.toml (or the breakdown/segment parameter), "
                "or load events that carry it",
            ) from exc


def warehouse_snapshot(con: Any) -> dict[str, Any]:
    """Row counts of events, tickets and notes, the last event time and the ids of the loads that
    succeeded: what the report was computed on."""
    rows = fetch_df(
        con,
        "SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM tickets) AS tickets,"
        " (SELECT count(*) FROM notes) AS notes, (SELECT max(ts) FROM events) AS last_event",
    ).iloc[0]
    loads = fetch_df(con, "SELECT load_id FROM load_log WHERE status = 'ok' ORDER BY load_id")
    last = _nat_to_none(rows.last_event)
    return {
        "rows": {k: int(rows[k]) for k in ("events", "tickets", "notes")},
        "last_event": None if last is None else pd.Timestamp(last).isoformat(),
        "load_ids": [int(i) for i in loads.load_id],
    }


def _nat_to_none(value: Any) -> Any:
    return None if value is None or pd.isna(value) else value
