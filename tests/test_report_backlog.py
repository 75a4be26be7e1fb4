"""The weekly report's backlog section, built for real (poa.report.weekly, report.show) on DuckDB files
with a known product file: the order with reasons and intervals, what moved since the last published
ordering, overrides with their reasons (redacted and escaped), objectives, a shipped item's
before/after; no product file (one line); a broken product file (a coded line, not a failed report);
and the demo, whose story items lead the order."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.report import sections as registry
from tests.test_report_sections import W11, journeys
from tests.test_report_voice import THEMES, voice_tickets

TITLE = "The backlog in evidence order, and what moved since last week"
PRODUCT = """vision = "Sign-ups activate the same day"
[planning]
period_weeks = 2
effort_unit = "weeks"
capacity = 2.5
top_n = 2
simulations = 400
seed = 1
[funnel]
steps = ["signed_up", "activated"]
window = "1d"
[objectives.activate]
description = "More sign-ups activate within a day"
metric = "conversion"
step = "activated"
baseline = 0.4
target = 0.6
[objectives.fewer_crashes]
metric = "theme_volume"
theme = "onboarding_crash"
baseline = 5
target = 1

[[items]]
id = "BL-1"
title = "Activation <script>alert(1)</script> e-mail"
effort = "1"
steps = ["activated"]
impact = 2

[[items]]
id = "BL-2"
title = "Fix the profile crash"
effort = "2"
themes = ["onboarding_crash"]
impact = 2

[[items]]
id = "BL-3"
title = "SAML single sign-on"
effort = "1"

[[items]]
id = "BL-4"
title = "Cheaper team plan"
effort = "1"
themes = ["pricing"]
status = "shipped"
shipped_at = "2024-03-01"
"""
REASON = "Zebulon Quirk (zed@example.org) promised it to ACME: [see](http://evil.example) *now*"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("backlog_report") / "warehouse.duckdb"
    with poa.Workbench(path) as wb:
        wb.load_events(journeys())
        wb.load_tickets(voice_tickets())
    return path


def _project(root: Path, monkeypatch, product: str | None = PRODUCT) -> Path:
    (root / "conf").mkdir(exist_ok=True)
    (root / "conf" / "poanalytics.toml").write_text('[redact]\nnames = ["Zebulon Quirk"]\n')
    (root / "conf" / "report.toml").write_text(
        '[report]\nhistory_weeks = 4\n[funnel]\nsteps = ["signed_up", "activated"]\n'
        'window = "1d"\nbreakdown = ""\ndrop_step = 2\n[segments]\nproperties = []\n'
        "[backlog]\ntop = 3\n"
    )
    (root / "conf" / "themes.toml").write_text(THEMES)
    if product is not None:
        (root / "conf" / "product.toml").write_text(product)
    monkeypatch.setenv("POANALYTICS_ROOT", str(root))
    return root


def _copy(warehouse: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    copy = folder / "warehouse.duckdb"
    copy.write_bytes(warehouse.read_bytes())
    return copy


def _show(path: Path, week: str = "2024-W11"):
    with poa.Workbench(path) as wb, warnings.catch_warnings():
        warnings.simplefilter("ignore", poa.PoaWarning)
        report = poa.report.weekly(wb, week=week)
        report.show("backlog")
    return report


def _texts(report, kind: str = "markdown") -> list:
    return [o for k, o in report.outputs if k == kind]


def _after(texts: list[str], heading: str) -> str:
    """The Markdown shown right after the heading ``heading``."""
    return texts[next(i for i, t in enumerate(texts) if t.startswith(heading)) + 1]


def test_the_section_comes_right_after_voice():
    names = [s.name for s in registry.sections()]
    assert names.index("backlog") == names.index("voice") + 1
    assert registry.get("backlog").title == TITLE


def test_the_order_with_reasons_objectives_and_the_shipped_items_effect(
    warehouse, tmp_path, monkeypatch
):
    _project(tmp_path, monkeypatch)
    report = _show(_copy(warehouse, tmp_path / "w"))
    texts = _texts(report)
    assert texts[0] == f"## {TITLE}"
    intro = texts[1]
    assert "end of 2024-W11 (2024-03-17)" in intro and "the 2 weeks from 2024-03-04" in intro
    assert "RICE (Intercom)" in intro and "users per 13 weeks" in intro
    assert "3 open items of 4 read from conf/product.toml" in intro  # BL-4 is shipped
    assert "Capacity this cycle: 2.5 person-weeks" in intro
    order = _texts(report, "table")[0]
    assert list(order["item"]) == ["BL-1", "BL-2", "BL-3"]  # measured reach first; BL-3 none
    assert list(order["#"]) == ["1", "2", "3"]
    assert order.columns[4] == "p(top 2)"
    # BL-1 (1 week) and BL-2 (2 weeks) cannot both fit 2.5 person-weeks
    assert list(order["this cycle"][:2]) == ["fits", "beyond capacity"]
    assert "activated" in order["why"].iloc[0]
    assert "no measured evidence" in order["why"].iloc[2]  # BL-3: low confidence, and it says so
    assert all("(" in s and " to " in s for s in order["score (interval)"][:2])
    # a title holding markup is text on the page
    html = order.to_html(escape=True)
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert {c["key"] for c in report.key_charts} == {"backlog_order"}
    assert "Nothing published yet" in _after(texts, "### What moved")
    assert _after(texts, "### Overrides").startswith("No override")
    objectives = next(t for t in _texts(report, "table") if "objective" in t.columns)
    assert list(objectives["objective"]) == ["activate", "fewer_crashes"]
    assert objectives["target"].iloc[0] == "60.0%" and objectives["target"].iloc[1] == "1.0 a week"
    shipped = _after(texts, "### Shipped in the last 12 weeks")
    assert "BL-4" in next(t for t in texts if t.startswith("**BL-4**"))
    assert "shipped 2024-03-01" in next(t for t in texts if t.startswith("**BL-4**"))
    assert shipped.startswith("Each shipped item's linked metrics")
    effect = next(t for t in _texts(report, "table") if "change (95% interval)" in t.columns)
    assert list(effect["metric"]) == ["tickets"] and list(effect["link"]) == ["pricing"]
    figures = [f.layout.title.text for f in _texts(report, "figure")]
    assert any(t.startswith("Objectives") for t in figures)
    assert any(t.startswith("BL-4: before and after") for t in figures)


def test_what_moved_and_the_overrides_since_the_last_published_ordering(
    warehouse, tmp_path, monkeypatch
):
    _project(tmp_path, monkeypatch)
    path = _copy(warehouse, tmp_path / "w")
    with poa.Workbench(path) as wb, warnings.catch_warnings():
        warnings.simplefilter("ignore", poa.PoaWarning)
        first = wb.backlog(as_of=W11 - pd.Timedelta(microseconds=1))  # the end of W10
        first.publish(note="W10's order, for <b>planning</b>")
        published = list(first.order().table.item_id)
        first.override("BL-3", 1, REASON)
        # a later ordering published after the week: not what this week's report compares with
        wb.backlog(as_of=W11 + pd.Timedelta(days=7)).publish(note="from the future")
    report = _show(path)
    texts = _texts(report)
    moved = _after(texts, "### What moved")
    assert moved.startswith("Against the ordering published")
    assert "snapshot 1, evidence up to 2024-03-10" in moved
    assert "&lt;b&gt;planning&lt;/b&gt;" in moved  # the note is text, not markup
    assert f"#{published.index('BL-3') + 1}" in moved  # where BL-3 was
    assert "**BL-3** SAML single sign\\-on: up 2 to #1 (was #3)" in moved
    # what changed in the evidence since, in the decision log's words (as text)
    assert "**BL-2** Fix the profile crash: down 1 to #3 (was #2); new evidence: " in moved
    assert "tickets about onboarding\\_crash 4 \\-&gt; 22" in moved
    assert "&lt;script&gt;" in moved and "<script>" not in moved
    overrides = _after(texts, "### Overrides")
    assert "**BL-3** at #1, where the evidence puts it at #3" in overrides
    # the reason is shown, redacted (the name and the e-mail) and as text (no link, no emphasis)
    assert "Zebulon" not in overrides and "zed@example.org" not in overrides
    assert "\\[see\\]\\(http://evil\\.example\\)" in overrides and "\\*now\\*" in overrides
    order = _texts(report, "table")[0]
    assert list(order["item"])[0] == "BL-3"
    assert "override" in order.columns and "evidence: #3" in order["override"].iloc[0]
    assert "Zebulon" not in repr(report.outputs) and "zed@example.org" not in repr(report.outputs)
    assert "from the future" not in repr(report.outputs)
    assert not any(f.layout.title.text.startswith("Rank changes") for f in _texts(report, "figure"))


def test_two_published_orderings_draw_the_rank_changes(warehouse, tmp_path, monkeypatch):
    _project(tmp_path, monkeypatch)
    path = _copy(warehouse, tmp_path / "w")
    with poa.Workbench(path) as wb, warnings.catch_warnings():
        warnings.simplefilter("ignore", poa.PoaWarning)
        wb.backlog(as_of=W11 - pd.Timedelta(days=7)).publish(note="W09")
        b = wb.backlog(as_of=W11 - pd.Timedelta(microseconds=1))
        b.override("BL-3", 1, REASON)
        b.publish(note="W10")
    report = _show(path)
    moved = _after(_texts(report), "### What moved")
    assert "snapshot 2" in moved and '"W10"' in moved  # the newest published up to the week's end
    chart = next(f for f in _texts(report, "figure") if f.layout.title.text.startswith("Rank"))
    ringed = next(t for t in chart.data if t.name == "overridden by the product owner")
    assert list(ringed.y) == [1] and "Zebulon" not in repr(chart.to_plotly_json())


def test_no_product_file_is_one_line(warehouse, tmp_path, monkeypatch):
    _project(tmp_path, monkeypatch, product=None)
    report = _show(_copy(warehouse, tmp_path / "w"))
    assert len(report.outputs) == 2
    kind, text = report.outputs[1]
    assert kind == "markdown" and text.startswith("No product file (conf/product.toml)")
    assert "\n" not in text


def test_a_broken_product_file_is_a_coded_line_not_a_failed_report(
    warehouse, tmp_path, monkeypatch
):
    _project(tmp_path, monkeypatch, product=PRODUCT.replace('metric = "conversion"', "metric = "))
    report = _show(_copy(warehouse, tmp_path / "w"))
    texts = _texts(report)
    assert len(texts) == 2 and "[backlog.config_syntax]" in texts[1]
    assert "What to do:" in texts[1]


def test_on_the_demo_the_order_and_the_shipped_fix_shows_its_effect(
    demo10k_files, demo10k_wb, tmp_path, monkeypatch
):
    """The demo's backlog (conf/product.toml as committed, its CSV from the demo files): the order
    as of the report week's end with its reasons, and the Android crash fix (BL-101, shipped
    2026-11-02) showing no crash tickets after it."""
    from tests.conftest import ROOT

    (tmp_path / "conf").mkdir()
    for name in ("report.toml", "themes.toml", "poanalytics.toml"):
        (tmp_path / "conf" / name).write_text((ROOT / "conf" / name).read_text())
    product = (ROOT / "conf" / "product.toml").read_text()
    assert 'path = "data/demo/backlog.csv"' in product
    product = product.replace("data/demo/backlog.csv", str(demo10k_files.backlog))
    (tmp_path / "conf" / "product.toml").write_text(product)
    monkeypatch.setenv("POANALYTICS_ROOT", str(tmp_path))
    report = _show(_copy(Path(demo10k_wb.path), tmp_path / "w"), week="")
    assert report.week.label == "2026-W46"
    order = _texts(report, "table")[0]
    # the section shows the order b.order() gives as of the week's end (tests/test_backlog_demo.py
    # checks that the story items lead it), with the reasons
    with poa.Workbench(tmp_path / "w" / "warehouse.duckdb") as wb, warnings.catch_warnings():
        warnings.simplefilter("ignore", poa.PoaWarning)
        expected = wb.backlog(as_of=report.week.end).order().table.head(10)
    assert list(order["item"]) == list(expected.item_id)
    assert list(order["why"]) == list(expected.reason)
    assert "BL-101" not in set(order["item"])  # shipped: not ordered
    assert "BL-111" not in set(order["item"]) or "no measured evidence" in " ".join(order["why"])
    effect = next(t for t in _texts(report, "table") if "change (95% interval)" in t.columns)
    crash = effect[(effect["metric"] == "tickets") & (effect["link"] == "onboarding_crash")]
    assert len(crash) == 1 and crash["clear"].iloc[0] == "yes"
    assert crash["change (95% interval)"].iloc[0].startswith("x0 (x0 to x0.")  # none after it
    assert any(t.startswith("**BL-101** Fix Android crash") for t in _texts(report))


def test_the_weeks_end_after_the_last_event_is_no_warning_on_the_page(
    warehouse, tmp_path, monkeypatch
):
    """The data of 2024-W11 ends on its Sunday at 23:00; the section measures as of the week's end
    (so the week's report stays the same later) without the 'as_of after the data' warning."""
    _project(tmp_path, monkeypatch)
    with poa.Workbench(_copy(warehouse, tmp_path / "w")) as wb:
        report = poa.report.weekly(wb, week="2024-W11")
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            report.show("backlog")
    codes = [getattr(w.message, "code", "") for w in seen]
    assert "backlog.as_of_after_data" not in codes
    assert any(t.startswith("### Objectives") for t in _texts(report))
