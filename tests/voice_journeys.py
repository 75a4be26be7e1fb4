"""Tiny voice warehouses written as data: events (tests.journeys), items and their themes.

``put_voice`` stores items and their theme assignments the way a voice refresh leaves them in the
voice_* tables (migration 4), so people, lift and trends can be checked against hand-computed
numbers without the text matching in between.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

import poanalytics as poa
from poanalytics.voice import store
from tests.journeys import T0


def put_voice(
    wb: poa.Workbench,
    items: list[dict[str, Any]],
    themes: list[str],
    refresh_id: int = 1,
) -> None:
    """items: dicts with item_id, themes (list), and optionally source ("tickets"), user_id,
    email, at (seconds after T0, or a Timestamp), dup_group."""
    rows, assigned = [], []
    for it in items:
        at = it.get("at", 0)
        created = at if isinstance(at, pd.Timestamp) else T0 + pd.Timedelta(seconds=at)
        source = it.get("source", "tickets")
        rows.append(
            (
                source,
                it["item_id"],
                it["item_id"].split("#")[0],
                it.get("user_id"),
                it.get("email"),
                created,
                it.get("dup_group"),
                None if it["themes"] else "no_match",
            )
        )
        assigned += [(source, it["item_id"], t) for t in it["themes"]]
    # stamped like a refresh of the warehouse's tickets and notes with the Workbench's taxonomy, so
    # voice calls (which refresh first when stale) read these rows as current
    version = store.taxonomy_version(wb.voice_taxonomy())
    with wb.connection(write=True) as con:
        con.execute(
            "INSERT INTO voice_refresh (refresh_id, refreshed_at, taxonomy_version, fingerprint, "
            "items, assigned, unassigned) VALUES (?, now(), ?, ?, ?, ?, ?)",
            [
                refresh_id,
                version,
                store.fingerprint(con, wb.settings.voice_max_chars),
                len(rows),
                sum(1 for r in rows if r[-1] is None),
                0,
            ],
        )
        for r in rows:
            con.execute(
                "INSERT INTO voice_items (source, item_id, parent_id, user_id, email, created_at, "
                "text, text_chars, truncated, dup_group, unassigned_reason, refresh_id) "
                "VALUES (?, ?, ?, ?, ?, ?, 'text', 4, false, ?, ?, ?)",
                [*r, refresh_id],
            )
        for t in themes:
            con.execute(
                "INSERT INTO voice_themes (theme, origin, taxonomy_version, refresh_id) "
                "VALUES (?, 'taxonomy', 'test', ?)",
                [t, refresh_id],
            )
        for source, item_id, theme in assigned:
            con.execute(
                "INSERT INTO voice_assignments (source, item_id, theme, matched_terms, origin, "
                "taxonomy_version, refresh_id) VALUES (?, ?, ?, ['x'], 'taxonomy', 'test', ?)",
                [source, item_id, theme, refresh_id],
            )
