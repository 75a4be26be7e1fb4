"""Data health: is the warehouse fit to report on for a week?

``data_health(wb, week="")`` checks, for the week (default: the data's last complete week, or the
week of its last event when no week is complete yet):

- freshness per source (each file, folder or glob that was loaded, per kind): its newest event /
  ticket / note time up to the week's end, its last successful load, and ``stale`` when the newest
  row is older than ``[health] stale_days`` days at the week's end;
- volume: the week's rows per kind against the usual (the median of the ``volume_weeks`` weeks
  before it, counting only weeks since the kind's first row); a ``drop`` is flagged when the week
  falls below ``(1 - volume_drop)`` x the usual and the usual is at least ``min_usual`` rows;
- failed loads and quarantined rows since the week began (the previous report's data went up to
  its start), from ``load_log`` and ``quarantine``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import format as fmt
from ..db import fetch_df
from .config import ReportConfig, load_report_config
from .weeks import Week, resolve_week, week_of

KINDS = {"events": "ts", "tickets": "created_at", "notes": "date"}

FRESHNESS_SQL = """
WITH d AS (
    SELECT 'events' AS kind, load_id, count(*) AS rows, max(ts) AS last_data
    FROM events WHERE ts <= $hi GROUP BY load_id
    UNION ALL SELECT 'tickets', load_id, count(*), max(created_at)
    FROM tickets WHERE created_at <= $hi GROUP BY load_id
    UNION ALL SELECT 'notes', load_id, count(*), max(date) FROM notes WHERE date <= $hi GROUP BY load_id
), data AS (
    SELECT d.kind, l.source, sum(d.rows) AS rows, max(d.last_data) AS last_data
    FROM d JOIN load_log l USING (load_id) GROUP BY ALL
), loads AS (
    SELECT kind, source, max(finished_at) AS last_load, count(*) AS loads
    FROM load_log WHERE status = 'ok' GROUP BY ALL
)
SELECT kind, source, coalesce(data.rows, 0) AS rows, data.last_data, loads.last_load
FROM loads FULL JOIN data USING (kind, source)
ORDER BY kind, source"""

VOLUME_SQL = """
WITH t AS (
    SELECT 'events' AS kind, ts AS moment FROM events
    UNION ALL SELECT 'tickets', created_at FROM tickets
    UNION ALL SELECT 'notes', date FROM notes
), firsts AS (SELECT kind, min(moment) AS first FROM t GROUP BY kind)
SELECT t.kind, CAST(floor((epoch_us(moment) - epoch_us($lo::TIMESTAMPTZ)) / 604800e6) AS INTEGER) AS w,
       count(*) AS rows, any_value(f.first) AS first
FROM t JOIN firsts f USING (kind)
WHERE moment BETWEEN $lo AND $hi GROUP BY ALL"""


@dataclass
class DataHealth:
    """``table``: freshness per source (kind, source, rows, last_data, last_load, age_days,
    stale); ``volume``: per kind, the week's rows against the usual (week, usual, weeks_compared,
    ratio, sudden_drop); ``weekly``: rows per kind and week (for the chart); ``failed_loads`` and
    ``quarantine`` since ``since``; ``flags``: every problem found, in words."""

    week: Week
    since: pd.Timestamp
    table: pd.DataFrame
    volume: pd.DataFrame
    weekly: pd.DataFrame
    failed_loads: pd.DataFrame
    quarantine: pd.DataFrame
    flags: list[str] = field(default_factory=list)

    @property
    def quarantined_rows(self) -> int:
        return int(self.quarantine["rows"].sum()) if len(self.quarantine) else 0

    def summary_table(self) -> pd.DataFrame:
        """Freshness per source as text."""
        t = self.table
        return pd.DataFrame(
            {
                "kind": t.kind,
                "source": t.source,
                "rows": [fmt.count(v) for v in t.rows],
                "newest row": [_when(v) for v in t.last_data],
                "last load": [_when(v) for v in t.last_load],
                "stale?": ["STALE" if s else "" for s in t.stale],
            }
        )

    def volume_table(self) -> pd.DataFrame:
        """The week's volume per kind against the usual, as text."""
        v = self.volume
        return pd.DataFrame(
            {
                "kind": v.kind,
                self.week.label: [fmt.count(x) for x in v.week],
                "usual (median)": [fmt.count(x) for x in v.usual],
                "weeks compared": [fmt.count(x) for x in v.weeks_compared],
                "vs usual": [fmt.percent(x) for x in v.ratio],
                "sudden drop?": ["DROP" if d else "" for d in v["sudden_drop"]],
            }
        )

    def figure(self):
        """Rows per week and kind, the report week last, a drop in red."""
        from plotly.subplots import make_subplots

        from ..charts.style import PALETTE, apply

        kinds = list(self.volume.kind)
        fig = make_subplots(
            rows=max(1, len(kinds)), cols=1, shared_xaxes=True, subplot_titles=kinds or None
        )
        for i, kind in enumerate(kinds, start=1):
            w = self.weekly[self.weekly.kind == kind]
            drop = bool(self.volume.loc[self.volume.kind == kind, "sudden_drop"].iloc[0])
            colour = [
                ("#e15759" if drop else PALETTE[0]) if lbl == self.week.label else "#9e9e9e"
                for lbl in w.week
            ]
            fig.add_bar(
                x=list(w.week), y=list(w.rows), marker_color=colour, name=kind, row=i, col=1,
                showlegend=False, hovertemplate="%{x}: %{y:,} rows<extra>" + kind + "</extra>",
            )  # fmt: skip
            fig.update_yaxes(title_text="rows", row=i, col=1)
        fig.update_xaxes(title_text="ISO week", row=max(1, len(kinds)), col=1)
        return apply(
            fig,
            f"Rows per week up to {self.week.label} (the report week in colour, red: a sudden drop)",
            height=220 * max(1, len(kinds)) + 120,
        )

    def _repr_html_(self) -> str:
        from .context import esc

        items = "".join(f"<li>{esc(f)}</li>" for f in self.flags) or "<li>no problem found</li>"
        return (
            f"<p><b>Data health for {self.week.label}</b></p><ul>{items}</ul>"
            + self.summary_table().to_html(index=False, border=0)
            + self.volume_table().to_html(index=False, border=0)
        )


def data_health(
    wb: Any,
    week: str | Week | None = "",
    *,
    config: str | Path | ReportConfig | None = "",
) -> DataHealth:
    """The data health checks for ``week`` ("" = the last complete week, or the week of the last
    event when none is complete; "2026-W47"); thresholds from ``[health]`` in the report config
    ("" = conf/report.toml). Error codes as for the weekly report's week (``report.week_*``)."""
    cfg = config if isinstance(config, ReportConfig) else load_report_config(config)
    h = cfg.health
    with wb.connection() as con:
        span = fetch_df(con, "SELECT min(ts) AS first, max(ts) AS last FROM events").iloc[0]
        chosen = _week(week, span["first"], span["last"])
        lo = chosen.shift(-h.volume_weeks)
        fresh = fetch_df(con, FRESHNESS_SQL, {"hi": chosen.end})
        counts = fetch_df(con, VOLUME_SQL, {"lo": lo.start, "hi": chosen.end})
        failed = fetch_df(
            con,
            "SELECT load_id, kind, source, started_at, message FROM load_log "
            "WHERE status = 'failed' AND started_at >= $since ORDER BY load_id",
            {"since": chosen.start},
        )
        quarantine = fetch_df(
            con,
            "SELECT kind, file, count(*) AS rows, mode(reason) AS top_reason FROM quarantine "
            "WHERE quarantined_at >= $since GROUP BY kind, file ORDER BY rows DESC, file",
            {"since": chosen.start},
        )
    table = _freshness(fresh, chosen, h.stale_days)
    volume, weekly = _volume(counts, lo, h)
    health = DataHealth(chosen, chosen.start, table, volume, weekly, failed, quarantine)
    health.flags = _flags(health, h)
    return health


def _week(week: Any, first: Any, last: Any) -> Week:
    """The report's week resolution, but a warehouse whose data reaches no week's end yet (or
    holds nothing) still gets checked: the week of its last event, or the current week."""
    if isinstance(week, Week) or (isinstance(week, str) and week.strip()):
        return resolve_week(week, first, last)
    if pd.isna(last):
        return week_of(pd.Timestamp.now(tz="UTC"))
    chosen = resolve_week("", None, last)
    return chosen if chosen.end >= pd.Timestamp(first) else week_of(pd.Timestamp(last))


def _freshness(fresh: pd.DataFrame, week: Week, stale_days: dict[str, int]) -> pd.DataFrame:
    t = fresh.copy()
    t["rows"] = t["rows"].astype(int)
    age = (week.end - pd.to_datetime(t.last_data, utc=True)).dt.total_seconds() / 86400
    t["age_days"] = age
    limit = t.kind.map(lambda k: stale_days.get(k, 7))
    t["stale"] = (t.last_data.isna() | (age > limit)).astype(bool)
    return t


def _volume(counts: pd.DataFrame, lo: Week, h: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = h.volume_weeks
    labels = [lo.shift(i).label for i in range(n + 1)]
    rows, weekly = [], []
    for kind in KINDS:
        c = counts[counts.kind == kind]
        if c.empty:
            continue
        per_week = c.groupby("w")["rows"].sum().reindex(range(n + 1), fill_value=0)
        first_week = week_of(pd.Timestamp(c["first"].iloc[0]))
        started = [lo.shift(i).start >= first_week.start for i in range(n + 1)]
        before = [int(per_week[i]) for i in range(n) if started[i]]
        usual = float(pd.Series(before).median()) if before else float("nan")
        current = int(per_week[n])
        ratio = current / usual if before and usual else float("nan")
        drop = bool(before and usual >= h.min_usual and current < (1 - h.volume_drop) * usual)
        rows.append(
            {
                "kind": kind,
                "week": current,
                "usual": usual,
                "weeks_compared": len(before),
                "ratio": ratio,
                "sudden_drop": drop,
            }
        )
        weekly.append(pd.DataFrame({"kind": kind, "week": labels, "rows": per_week.to_numpy()}))
    volume = pd.DataFrame(
        rows, columns=["kind", "week", "usual", "weeks_compared", "ratio", "sudden_drop"]
    )
    frames = (
        pd.concat(weekly, ignore_index=True)
        if weekly
        else pd.DataFrame(columns=["kind", "week", "rows"])
    )
    return volume, frames


def _flags(health: DataHealth, h: Any) -> list[str]:
    flags = []
    for r in health.table[health.table.stale].itertuples():
        newest = "no rows" if pd.isna(r.last_data) else f"newest row {_when(r.last_data)}"
        flags.append(
            f"stale {r.kind} source {r.source}: {newest}, older than "
            f"{h.stale_days.get(r.kind, 7)} days at the end of {health.week.label}"
        )
    for r in health.volume[health.volume["sudden_drop"]].itertuples():
        flags.append(
            f"sudden drop in {r.kind}: {r.week:,} rows in {health.week.label} against a usual "
            f"{fmt.count(r.usual)} ({fmt.percent(r.ratio)} of the usual)"
        )
    if len(health.failed_loads):
        flags.append(f"{len(health.failed_loads)} failed load(s) since {health.week.monday}")
    if health.quarantined_rows:
        flags.append(
            f"{health.quarantined_rows:,} row(s) quarantined since {health.week.monday} "
            f"in {len(health.quarantine)} file(s)"
        )
    return flags


def _when(value: Any) -> str:
    return (
        fmt.MISSING if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d %H:%M}"
    )
