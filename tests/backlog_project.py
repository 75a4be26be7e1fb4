"""A small backlog project for the backlog session and CLI tests: a product file in a temporary
project root and a few users' events, with answers that can be counted by hand."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

import poanalytics as poa
from poanalytics.config import Settings, settings

PRODUCT = """\
vision = "New users reach their first report in one sitting"

[planning]
period_weeks = 1
reach_weeks = 13
capacity = 3
effort_unit = "weeks"
simulations = 200
seed = 0

[funnel]
steps = ["signed_up", "report_created"]
window = "2d"

[objectives.first_report]
metric = "conversion"
step = "report_created"
baseline = 0.3
target = 0.6

[[items]]
id = "A-1"
title = "Report templates on the first screen"
effort = "1"
steps = ["report_created"]

[[items]]
id = "A-2"
title = "Dark mode"
effort = "2"

[[items]]
id = "A-3"
title = "Faster sign-up"
effort = "1"
events = ["signed_up"]
"""


def events() -> pd.DataFrame:
    """40 users sign up from 2026-11-09 13:00, inside the week before the newest event
    (2026-11-16 12:00), each with a closed 2-day window by then; every 4th (10) creates a report
    an hour later; 20 users signed up the week before."""
    rows = []
    for i in range(40):
        ts = pd.Timestamp("2026-11-09 13:00", tz="UTC") + pd.Timedelta(hours=3 * i)
        rows.append((f"u{i}", "signed_up", ts))
        if i % 4 == 0:
            rows.append((f"u{i}", "report_created", ts + pd.Timedelta(hours=1)))
    for i in range(20):
        ts = pd.Timestamp("2026-11-02 09:00", tz="UTC") + pd.Timedelta(hours=6 * i)
        rows.append((f"v{i}", "signed_up", ts))
    rows.append(("z", "page_viewed", pd.Timestamp("2026-11-16 12:00", tz="UTC")))
    return pd.DataFrame(rows, columns=["user_id", "event", "timestamp"])


def project_settings(root: Path) -> Settings:
    return dataclasses.replace(settings(), root=root)


def make_project(root: Path) -> Path:
    """conf/product.toml and w.duckdb (the events) under ``root``."""
    (root / "conf").mkdir()
    (root / "conf" / "product.toml").write_text(PRODUCT)
    with poa.Workbench(root / "w.duckdb", config=project_settings(root)) as wb:
        wb.load_events(events())
    return root
