"""The reproducibility stamp: the run's parameters (secrets masked), the warehouse it read (row
counts, last event time, load ids), package versions and the run time."""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

import pandas as pd

from . import Section, register

PACKAGES = ("poanalytics", "duckdb", "pandas", "plotly", "papermill")


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def build(ctx: Any) -> None:
    snap = ctx.snapshot
    now = pd.Timestamp.now(tz="UTC")
    rows = [("week", f"{ctx.week.label} ({ctx.week.monday}..{ctx.week.sunday})")]
    rows.append(("history", f"{ctx.history.label} to {ctx.week.label}"))
    for key, value in ctx.shown_parameters().items():
        text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
        rows.append((f"parameter {key}", text or '""'))
    for kind, n in snap["rows"].items():
        rows.append((f"rows in {kind}", f"{n:,}"))
    rows.append(("last event", snap["last_event"] or "none"))
    if "engine" in snap:  # funnels, retention, churn and the headline counts read these events
        on = snap["engine"]
        rows.append(("event metrics on", f"{on['name']}: {on['events']}"))
        rows.append((f"last event on {on['name']}", on["last_event"] or "none"))
    ids = snap["load_ids"]
    rows.append(("loads", f"{len(ids)}: " + ", ".join(str(i) for i in ids) if ids else "none"))
    for name, version in versions().items():
        rows.append((name, version))
    rows.append(("run started", f"{ctx.started:%Y-%m-%d %H:%M:%S} UTC"))
    rows.append(("run time so far", f"{(now - ctx.started).total_seconds():.1f} s"))
    ctx.table(pd.DataFrame(rows, columns=["what", "value"]))


register(Section(name="stamp", title="Reproducibility stamp", order=90, build=build))
