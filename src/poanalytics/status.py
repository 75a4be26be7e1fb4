"""A summary of what the warehouse holds: what `poanalytics status` prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

SUMMARY_SQL = {
    "events": "SELECT 'events' AS table_name, count(*) AS rows, min(ts) AS first, max(ts) AS last, "
    "count(DISTINCT user_id) AS users, string_agg(DISTINCT source, ', ' ORDER BY source) AS sources "
    "FROM events",
    "tickets": "SELECT 'tickets', count(*), min(created_at), max(created_at), "
    "count(DISTINCT coalesce(user_id, requester)), string_agg(DISTINCT source, ', ' ORDER BY source) "
    "FROM tickets",
    "notes": "SELECT 'notes', count(*), min(date), max(date), count(DISTINCT participant), "
    "string_agg(DISTINCT source, ', ' ORDER BY source) FROM notes",
    "note_highlights": "SELECT 'note_highlights', count(*), NULL, NULL, count(DISTINCT note_id), NULL "
    "FROM note_highlights",
}


LISTED = 20  # quarantine groups (kind, file) that status lists; the total counts every row


@dataclass
class Status:
    path: str
    schema_version: int
    tables: pd.DataFrame
    quarantine: pd.DataFrame  # the largest groups (kind, file), at most LISTED of them
    loads: pd.DataFrame
    quarantined_rows: int = 0  # every row in the quarantine table, listed or not
    quarantine_groups: int = 0  # every (kind, file) group
    conflicts: int = (
        0  # events loaded although another event with other content has their source id
    )

    def __str__(self) -> str:
        lines = [f"warehouse {self.path} (schema v{self.schema_version})", ""]
        for r in self.tables.itertuples(index=False):
            span = ""
            if pd.notna(r.first):
                span = f"  {pd.Timestamp(r.first):%Y-%m-%d} .. {pd.Timestamp(r.last):%Y-%m-%d}"
            who = (
                "users"
                if r.table_name == "events"
                else ("notes" if r.table_name == "note_highlights" else "people")
            )
            src = f"  from {r.sources}" if isinstance(r.sources, str) and r.sources else ""
            lines.append(
                f"  {r.table_name:<16}{int(r.rows):>12,} rows  {int(r.users):>8,} {who}{span}{src}"
            )
        total_q = self.quarantined_rows
        lines.append("")
        lines.append(f"  quarantine      {total_q:>12,} rows kept aside")
        for r in self.quarantine.itertuples(index=False):
            lines.append(f"    {r.kind:<10} {int(r.rows):>8,}  {r.file}: {r.top_reason}")
        if self.quarantine_groups > len(self.quarantine):
            rest = self.quarantine_groups - len(self.quarantine)
            rows = total_q - int(self.quarantine["rows"].sum())
            lines.append(f"    ... {rows:,} rows in {rest:,} more files")
        if total_q:
            lines.append("    see them: poanalytics quarantine  (or wb.quarantine())")
        if self.conflicts:
            lines.append(
                f"  conflicts       {self.conflicts:>12,} events share a source event id with an event "
                "of other content (both kept; see load_log.rows_conflict)"
            )
        lines.append("")
        lines.append(
            f"  loads           {len(self.loads):>12,} ({int((self.loads['status'] == 'failed').sum())} failed)"
        )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(str(self)) + "</pre>"


def warehouse_status(
    sql: Callable[[str], pd.DataFrame], path: str, schema_version: int | None
) -> Status:
    """What the warehouse at ``path`` holds, read through ``sql`` (a query -> DataFrame callable, e.g.
    ``Workbench.sql``): status knows nothing of the Workbench, so the two cannot import each other."""
    tables = sql(" UNION ALL ".join(SUMMARY_SQL.values()))
    quarantine = sql(
        "SELECT kind, file, count(*) AS rows, mode(reason) AS top_reason FROM quarantine "
        f"GROUP BY kind, file ORDER BY rows DESC, file LIMIT {LISTED}"
    )
    totals = sql("SELECT count(*) AS n, count(DISTINCT (kind, file)) AS groups FROM quarantine")
    loads = sql(
        "SELECT load_id, kind, source, status, rows_conflict FROM load_log ORDER BY load_id"
    )
    return Status(
        path,
        schema_version or 0,
        tables,
        quarantine,
        loads,
        quarantined_rows=int(totals.n[0]),
        quarantine_groups=int(totals.groups[0]),
        conflicts=int(loads.loc[loads.status == "ok", "rows_conflict"].fillna(0).sum()),
    )
