"""Tiny voice warehouses written as data: events (tests.journeys), items and their themes.

``put_voice`` loads the items as real tickets (a DataFrame) and interview notes (Markdown files),
writes a taxonomy whose theme ``t`` has the one keyword ``t``, points the Workbench at it and runs
a real voice refresh: each item's text holds the names of its themes and words of its own, so the
refresh assigns exactly the themes asked for, and items given the same ``dup_group`` share their
text (near-duplicates). People, lift and trends are then checked against hand-computed numbers.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

import poanalytics as poa
from tests.journeys import T0


def _text(item: dict[str, Any]) -> str:
    """The theme names, then ten words of the item's own (its dup_group's, for copies)."""
    key = re.sub(r"\W", "", str(item.get("dup_group") or item["item_id"]))
    own = " ".join(f"z{key}w{j}" for j in range(10))
    return " ".join([*item["themes"], own])


def _when(item: dict[str, Any]) -> pd.Timestamp:
    at = item.get("at", 0)
    return at if isinstance(at, pd.Timestamp) else T0 + pd.Timedelta(seconds=at)


def put_voice(
    wb: poa.Workbench, items: list[dict[str, Any]], themes: list[str], folder: Path
) -> poa.Workbench:
    """items: dicts with item_id ("t1" for a ticket; "n1#2" for the 2nd highlight of note n1,
    highlights of a note listed in order and sharing its user_id, email and day), themes (list),
    and optionally source ("tickets" or "notes"), user_id, email, at (seconds after T0, or a
    Timestamp; a note's date is its day), dup_group. Returns ``wb``, refreshed."""
    folder.mkdir(parents=True, exist_ok=True)
    taxonomy = folder / "themes.toml"
    taxonomy.write_text(
        "".join(f'[themes.{t}]\nkeywords = ["{t}"]\n' for t in themes), encoding="utf-8"
    )
    wb.settings = dataclasses.replace(wb.settings, themes_file=taxonomy)
    tickets = [
        {
            "ticket_id": it["item_id"],
            "user_id": it.get("user_id"),
            "requester": it.get("email"),
            "created_at": _when(it),
            "subject": _text(it),
            "body": "",
        }
        for it in items
        if it.get("source", "tickets") == "tickets"
    ]
    if tickets:
        report = wb.load_tickets(pd.DataFrame(tickets))
        assert report.rows_loaded == len(tickets), wb.quarantine()
    notes: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        if it.get("source") == "notes":
            note, position = it["item_id"].split("#")
            notes.setdefault(note, []).append(it)
            assert int(position) == len(notes[note]), "list a note's highlights in order"
    if notes:
        (folder / "notes").mkdir(exist_ok=True)
        for note, parts in notes.items():
            head = [f"id: {note}", f"date: {_when(parts[0]):%Y-%m-%d}"]
            head += [f"{k}: {parts[0][k]}" for k in ("user_id", "email") if parts[0].get(k)]
            body = "\n\n".join(f"> {_text(p)}" for p in parts)
            text = "---\n" + "\n".join(head) + "\n---\n\n" + body + "\n"
            (folder / "notes" / f"{note}.md").write_text(text, encoding="utf-8")
        wb.load_notes(folder / "notes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", poa.PoaWarning)  # a theme nobody raises is expected here
        wb.voice_refresh()
    got = wb.sql("SELECT source, item_id, theme FROM voice_assignments")
    want = {(it.get("source", "tickets"), it["item_id"], t) for it in items for t in it["themes"]}
    assert set(map(tuple, got.itertuples(index=False))) == want  # the refresh assigned as asked
    return wb
