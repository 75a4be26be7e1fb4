"""The decision log: published orderings, the product owner's overrides, and what moved between them.

Tables of migration 5 (src/poanalytics/schema.py): ``backlog_snapshots`` (one row per publish),
``backlog_snapshot_items`` (one row per item of a snapshot: rank as published, the framework's own
rank, scores, the reason sentence, the override applied), ``backlog_snapshot_evidence`` (the
evidence ledger as it stood, so a later snapshot can say what new evidence arrived) and
``backlog_overrides``.

Rules:
- ``publish`` writes a snapshot (all three tables) in ONE transaction: a failure leaves the log as
  it was, never half a snapshot.
- An override is a row in ``backlog_overrides``, active until withdrawn. It is never applied
  silently: the next ordering shows the item at the override's rank with ``override_reason`` beside
  its ``evidence_rank``, and the snapshot records the override's id. A new override of the same
  item withdraws the earlier one (both stay in the table, with when).
- ``decision_log`` lists every snapshot's ranked items with the rank in the snapshot before
  (``previous_rank``), ``moved`` (``"+2"``: up two places, ``"-1"``: down one, ``"0"``, ``"new"``:
  not ranked in the previous snapshot (every item of the first one), ``"gone"``: ranked before,
  not now (a row with ``rank`` NULL; ``"shipped"`` / ``"dropped"`` when that is why), the override
  reason, and ``new_evidence``: the item's evidence that changed since the previous snapshot, in
  words ("tickets about pricing 12 -> 31").
"""

from __future__ import annotations

import contextlib
import json
import math
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from ..db import fetch_df, fetch_value
from .errors import BacklogError
from .evidence import KINDS
from .model import ProductConfig

LOG_COLUMNS = [
    "snapshot_id",
    "published_at",
    "as_of",
    "note",
    "item_id",
    "title",
    "rank",
    "previous_rank",
    "moved",
    "evidence_rank",
    "override_reason",
    "new_evidence",
]
OVERRIDE_COLUMNS = [
    "override_id",
    "created_at",
    "item_id",
    "rank",
    "reason",
    "author",
    "active",
    "withdrawn_at",
]
# evidence kinds compared between snapshots (a quote has no value to compare)
NUMERIC_KINDS = tuple(k for k in KINDS if k != "quote")


# -- overrides ----------------------------------------------------------------------------------
def check_reason(reason: Any) -> str:
    """The override's reason, stripped; ``backlog.override_reason`` when there is none."""
    if not isinstance(reason, str) or not reason.strip():
        raise BacklogError(
            f"an override needs a reason, got {reason!r}"[:300],
            code="backlog.override_reason",
            hint="say why the item should stand at that rank, e.g. "
            'b.override("BL-111", 2, "contract with ACME depends on SSO by January"); the '
            "reason is shown beside the item in every ordering and snapshot",
        )
    return reason.strip()


def overrides(con: duckdb.DuckDBPyConnection, *, active_only: bool = True) -> pd.DataFrame:
    """The overrides (active ones, or all with ``active_only=False``), oldest first."""
    where = "WHERE active" if active_only else ""
    return fetch_df(
        con,
        f"SELECT {', '.join(OVERRIDE_COLUMNS)} FROM backlog_overrides {where} ORDER BY override_id",
    )


def add_override(
    con: duckdb.DuckDBPyConnection,
    item_id: str,
    rank: int,
    reason: str,
    *,
    author: str | None = None,
) -> int:
    """Record an override (the caller has checked the item and the rank); withdraws an active
    override of the same item in the same transaction. Returns the new override's id."""
    reason = check_reason(reason)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "UPDATE backlog_overrides SET active = false, withdrawn_at = now() "
            "WHERE item_id = ? AND active",
            [item_id],
        )
        new_id = int(fetch_value(con, "SELECT nextval('backlog_override_seq')"))
        con.execute(
            "INSERT INTO backlog_overrides (override_id, created_at, item_id, rank, reason, "
            "author, active, withdrawn_at) VALUES (?, now(), ?, ?, ?, ?, true, NULL)",
            [new_id, item_id, int(rank), reason, author],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return new_id


def withdraw_override(con: duckdb.DuckDBPyConnection, item_id: str) -> int:
    """Withdraw the item's active override; returns its id. ``backlog.no_override`` when the item
    has none."""
    active = fetch_value(
        con,
        "SELECT max(override_id) FROM backlog_overrides WHERE item_id = ? AND active",
        [item_id],
    )
    if active is None:
        items = [r for r in overrides(con).item_id]
        raise BacklogError(
            f"{item_id!r} has no active override"
            + (f" (items with one: {', '.join(items)})" if items else " (no item has one)"),
            code="backlog.no_override",
            hint="see the active overrides with b.overrides().table; nothing was changed",
        )
    con.execute(
        "UPDATE backlog_overrides SET active = false, withdrawn_at = now() WHERE override_id = ?",
        [int(active)],
    )
    return int(active)


# -- publish ------------------------------------------------------------------------------------
def _json(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def _items_frame(
    snapshot_id: int, order: pd.DataFrame, scores: pd.DataFrame, items: pd.DataFrame
) -> pd.DataFrame:
    """One row per item for backlog_snapshot_items: the ordered items, then the unranked ones."""
    keep = [
        c
        for c in ("item_id", "rice", "ice", "wsjf", "confidence", "reach", "moscow_suggested")
        if c in scores.columns
    ]
    ranked = order.drop(columns=["title", "status", "override_id"], errors="ignore")
    frame = items[["item_id", "title", "status"]].merge(ranked, on="item_id", how="left")
    frame = frame.merge(scores[keep], on="item_id", how="left", suffixes=("", "_score"))
    frame["snapshot_id"] = snapshot_id
    for col in SNAPSHOT_ITEM_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    return frame.sort_values("rank", na_position="last", kind="stable")[SNAPSHOT_ITEM_COLUMNS]


SNAPSHOT_ITEM_COLUMNS = [
    "snapshot_id",
    "item_id",
    "title",
    "status",
    "rank",
    "evidence_rank",
    "score",
    "score_low",
    "score_high",
    "p_top_n",
    "rice",
    "ice",
    "wsjf",
    "confidence",
    "reach",
    "effort_weeks",
    "fits",
    "moscow_suggested",
    "override_id",
    "reason",
]
SNAPSHOT_EVIDENCE_COLUMNS = [
    "snapshot_id",
    "item_id",
    "kind",
    "link",
    "value",
    "low",
    "high",
    "n",
    "detail",
    "as_of",
    "unit",
    "source",
    "supports",
    "query",
    "params",
]


def _evidence_frame(snapshot_id: int, ledger: pd.DataFrame) -> pd.DataFrame:
    frame = ledger.copy()
    frame["snapshot_id"] = snapshot_id
    for col in SNAPSHOT_EVIDENCE_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    frame["params"] = [_json(v) for v in frame["params"]]
    frame["n"] = pd.to_numeric(frame["n"], errors="coerce").astype("Int64")
    for col in ("value", "low", "high"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame[SNAPSHOT_EVIDENCE_COLUMNS]


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    name = f"_poa_{table}"
    columns = ", ".join(frame.columns)
    con.register(name, frame)
    try:
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {name}")
    finally:
        with contextlib.suppress(duckdb.Error):  # in an aborted transaction: the error above counts
            con.unregister(name)


def publish(
    con: duckdb.DuckDBPyConnection,
    *,
    order: pd.DataFrame,
    scores: pd.DataFrame,
    ledger: pd.DataFrame,
    items: pd.DataFrame,
    config: ProductConfig,
    as_of: datetime,
    note: str | None,
    framework: str,
    capacity: float | None,
    backlog_file: str | None,
    override_ids: dict[str, int],
) -> int:
    """Write one snapshot (the snapshot row, one row per item, the evidence rows) in ONE transaction;
    returns its id. ``items``: one row per item (item_id, title, status); items the ordering left
    out (shipped, dropped) are kept with rank NULL. ``override_ids``: item -> the active override
    the ordering applied."""
    planning = config.planning
    options = {
        k: v
        for k, v in vars(planning).items()
        if k not in ("seed", "simulations", "capacity") and not k.startswith("_")
    }
    con.execute("BEGIN TRANSACTION")
    try:
        sid = int(fetch_value(con, "SELECT nextval('backlog_snapshot_seq')"))
        con.execute(
            "INSERT INTO backlog_snapshots (snapshot_id, published_at, as_of, note, framework, "
            "capacity, seed, simulations, config_file, config_sha256, backlog_file, items, options) "
            "VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                sid,
                as_of,
                note,
                framework,
                capacity,
                int(planning.seed),
                int(planning.simulations),
                config.path,
                config.sha256 or None,
                backlog_file,
                len(items),
                json.dumps(options, default=str),
            ],
        )
        rows = _items_frame(sid, order, scores, items)
        rows["override_id"] = [override_ids.get(i) for i in rows.item_id]
        rows["override_id"] = rows["override_id"].astype("Int64")
        _insert(con, "backlog_snapshot_items", rows)
        if len(ledger):
            _insert(con, "backlog_snapshot_evidence", _evidence_frame(sid, ledger))
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return sid


# -- the log ------------------------------------------------------------------------------------
LOG_SQL = """
WITH s AS (
    SELECT snapshot_id, published_at, as_of, note,
           lag(snapshot_id) OVER (ORDER BY snapshot_id) AS previous_id
    FROM backlog_snapshots
),
cur AS (
    SELECT s.snapshot_id, s.published_at, s.as_of, s.note, s.previous_id, i.item_id, i.title,
           i.rank, i.evidence_rank, i.status, i.override_id
    FROM s JOIN backlog_snapshot_items AS i USING (snapshot_id)
),
joined AS (
    SELECT c.*, p.rank AS previous_rank
    FROM cur AS c
    LEFT JOIN backlog_snapshot_items AS p
      ON p.snapshot_id = c.previous_id AND p.item_id = c.item_id
)
SELECT j.snapshot_id, j.published_at, j.as_of, j.note, j.item_id, j.title, j.rank,
       j.previous_rank,
       CASE WHEN j.rank IS NOT NULL AND j.previous_rank IS NULL THEN 'new'
            WHEN j.rank IS NULL AND j.status IN ('shipped', 'dropped') THEN j.status
            WHEN j.rank IS NULL THEN 'gone'
            WHEN j.previous_rank = j.rank THEN '0'
            WHEN j.previous_rank > j.rank THEN '+' || CAST(j.previous_rank - j.rank AS VARCHAR)
            ELSE '-' || CAST(j.rank - j.previous_rank AS VARCHAR) END AS moved,
       j.evidence_rank, o.reason AS override_reason, j.previous_id
FROM joined AS j
LEFT JOIN backlog_overrides AS o ON o.override_id = j.override_id
WHERE (j.rank IS NOT NULL OR j.previous_rank IS NOT NULL)
  AND ($item IS NULL OR j.item_id = $item)
UNION ALL
-- ranked in the previous snapshot, absent from this one (a CSV row deleted)
SELECT s.snapshot_id, s.published_at, s.as_of, s.note, p.item_id, p.title, NULL, p.rank, 'gone',
       NULL, NULL, s.previous_id
FROM s JOIN backlog_snapshot_items AS p ON p.snapshot_id = s.previous_id
WHERE p.rank IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM backlog_snapshot_items AS i
                  WHERE i.snapshot_id = s.snapshot_id AND i.item_id = p.item_id)
  AND ($item IS NULL OR p.item_id = $item)
ORDER BY snapshot_id, rank NULLS LAST, item_id
"""

EVIDENCE_SQL = """
SELECT snapshot_id, item_id, kind, link, any_value(value ORDER BY value) AS value,
       any_value(unit) AS unit
FROM backlog_snapshot_evidence
WHERE kind IN (SELECT unnest($kinds::VARCHAR[])) AND value IS NOT NULL
  AND ($item IS NULL OR item_id = $item)
GROUP BY ALL
"""


def _subject(kind: str, link: str | None) -> str:
    """The words for a piece of evidence: 'tickets about pricing', 'users a week at activated'."""
    if kind == "dropoff_lift" and link and ",step:" in link:  # theme:<theme>,step:<step>
        theme, step = link.split(",step:", 1)
        return f"drop-off risk at {step} of people raising {theme.split(':', 1)[-1]}"
    what = (link or "").split(":", 1)[-1] if link else ""
    about = f" about {what}" if what else ""
    at = f" at {what}" if what else ""
    return {
        "reach": f"users a week{at}",
        "dropoff": f"drop-off{at}",
        "dropoff_change": f"change of the drop-off{at}",
        "churn_lift": f"churn risk of people raising {what or 'it'}",
        "event_churn": f"churn risk of users doing {what or 'it'} in their first week",
        "tickets": f"tickets{about}",
        "unique_problems": f"unique problems{about}",
        "interview_mentions": f"interview notes mentioning {what or 'it'}",
    }.get(kind, f"{kind}{about}")


def _value(kind: str, unit: str | None, value: float) -> str:
    """A value in the words of its unit (backlog.evidence UNITS)."""
    from .. import format as fmt

    unit = (unit or "").lower()
    if kind == "dropoff" or unit == "share":
        return fmt.percent(value)
    if kind == "dropoff_change" or unit == "points":  # a fraction: 0.08 = 8 points
        return fmt.signed_points(value)
    if kind in ("churn_lift", "dropoff_lift", "event_churn") or unit == "ratio":
        return f"{value:.2f}x" if value < 1 else f"{value:.1f}x"
    return fmt.count(value)


def describe_changes(before: pd.DataFrame, after: pd.DataFrame) -> str:
    """The evidence of one item that changed between two snapshots, in words; '' when none did.
    ``before``/``after``: kind, link, value, unit (ledger rows; quotes and rows without a value are
    left out, a kind and link counted once)."""
    keys = ["kind", "link"]

    def comparable(t: pd.DataFrame) -> pd.DataFrame:  # quotes and rows without a value say nothing
        t = t[t["kind"].isin(NUMERIC_KINDS) & t["value"].notna()]
        return t[["kind", "link", "value", "unit"]].drop_duplicates(keys)

    merged = comparable(before).merge(
        comparable(after), on=keys, how="outer", suffixes=("_b", "_a"), indicator="side"
    )
    parts: list[str] = []
    for r in merged.sort_values(keys, key=lambda s: s.fillna("")).itertuples(index=False):
        subject = _subject(r.kind, r.link)
        unit = r.unit_a if isinstance(r.unit_a, str) else r.unit_b
        if r.side == "right_only":
            parts.append(f"new: {subject} {_value(r.kind, unit, r.value_a)}")
        elif r.side == "left_only":
            parts.append(f"no longer measured: {subject} (was {_value(r.kind, unit, r.value_b)})")
        else:
            was, now = _value(r.kind, unit, r.value_b), _value(r.kind, unit, r.value_a)
            if was != now:
                parts.append(f"{subject} {was} -> {now}")
    return "; ".join(parts)


def decision_log(
    con: duckdb.DuckDBPyConnection, *, item_id: str | None = None
) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """The decision log (LOG_COLUMNS), oldest snapshot first, with the SQL and parameters."""
    params: dict[str, Any] = {"item": item_id}
    table = fetch_df(con, LOG_SQL, params)
    evidence = fetch_df(con, EVIDENCE_SQL, {"item": item_id, "kinds": list(NUMERIC_KINDS)})
    table["new_evidence"] = _new_evidence(table, evidence)
    for col in ("rank", "previous_rank", "evidence_rank"):
        table[col] = table[col].astype("Int64")
    return table[LOG_COLUMNS].reset_index(drop=True), LOG_SQL, params


def _new_evidence(table: pd.DataFrame, evidence: pd.DataFrame) -> list[str | None]:
    groups = {key: g for key, g in evidence.groupby(["snapshot_id", "item_id"])}
    empty = evidence.iloc[0:0][["kind", "link", "value", "unit"]]
    cols = ["kind", "link", "value", "unit"]
    out: list[str | None] = []
    for r in table.itertuples(index=False):
        if pd.isna(r.previous_rank) or pd.isna(r.rank):
            out.append(None)  # new to the ranking (all of the first snapshot), or no longer in it
            continue
        before = groups.get((int(r.previous_id), r.item_id), empty)[cols]
        after = groups.get((int(r.snapshot_id), r.item_id), empty)[cols]
        out.append(describe_changes(before, after))
    return out


def snapshots(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The published snapshots, oldest first."""
    return fetch_df(
        con,
        "SELECT snapshot_id, published_at, as_of, note, framework, capacity, seed, simulations, "
        "config_file, config_sha256, backlog_file, items FROM backlog_snapshots "
        "ORDER BY snapshot_id",
    )


SNAPSHOT_ITEMS_SQL = (
    f"SELECT {', '.join(SNAPSHOT_ITEM_COLUMNS)} FROM backlog_snapshot_items "
    "WHERE snapshot_id = $snapshot ORDER BY rank NULLS LAST, item_id"
)


def snapshot_items(con: duckdb.DuckDBPyConnection, snapshot_id: int) -> pd.DataFrame:
    """The items of one snapshot as stored, ranked first."""
    return fetch_df(con, SNAPSHOT_ITEMS_SQL, {"snapshot": int(snapshot_id)})
