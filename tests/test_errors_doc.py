"""docs/errors.md lists every error code the source can raise, with its meaning and what to do."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics import errors_doc
from poanalytics.metrics import MetricError
from tests.conftest import ROOT

REGENERATE = "regenerate it: `make docs` (or .venv/bin/python -m poanalytics.errors_doc)"
CODE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


@pytest.fixture(scope="module")
def raises() -> list[errors_doc.Raise]:
    return errors_doc.collect()


def test_docs_errors_md_is_up_to_date(raises):
    written = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert written == errors_doc.render(raises), f"docs/errors.md is out of date; {REGENERATE}"


def test_every_literal_code_in_the_source_is_documented(raises):
    """An independent scan (a regex over the text, not the ast walk) finds no code the doc lacks."""
    found = set()
    for path in (ROOT / "src" / "poanalytics").rglob("*.py"):
        found |= set(re.findall(r"""\bcode\s*=\s*f?["']([a-z]\w*\.[\w.]+)["']""", path.read_text()))
    found |= {
        c
        for path in (ROOT / "src" / "poanalytics").rglob("*.py")
        for c in re.findall(r"""check_\w+\([^()]*?["']([a-z]+\.[a-z_]+)["']""", path.read_text())
    }
    documented = {r.code for r in raises}
    assert found and found - documented == set(), f"{found - documented}; {REGENERATE}"


def test_every_code_is_area_dot_what_and_resolved(raises):
    """Codes built from a helper's argument (f"{area}.date_range") are followed to a literal."""
    bad = sorted({f"{r.code} ({r.site})" for r in raises if not CODE.fullmatch(r.code)})
    assert bad == [], "codes must be literal strings like 'area.what' (code=\"...\")"
    codes = {r.code for r in raises}
    assert {"funnel.date_range", "paths.date_range", "churn.inactive_days"} <= codes
    assert {"paths.top", "paths.max_edges", "paths.min_users"} <= codes  # from a loop over names
    assert {"funnel.horizon", "funnel.horizon_format"} <= codes  # one helper, two codes


def test_every_error_says_what_to_do(raises):
    missing = sorted({f"{r.code} ({r.site})" for r in raises if not r.hint})
    assert missing == [], "every PoaError needs hint= saying what to do"


def test_codes_raised_at_run_time_are_the_documented_ones(wb, raises):
    """The scan agrees with what the code really raises, for a direct code and forwarded ones."""
    documented = {r.code: r for r in raises}
    seen = []
    for call in (
        lambda: wb.funnel(["a"]),
        lambda: wb.funnel(["a", "b"], date_from="2024-02-01", date_to="2024-01-01"),
        lambda: wb.paths(top=0),
        lambda: wb.churn(inactive_days=0),
        lambda: wb.load_events("/nonexistent/file.csv"),
    ):
        with pytest.raises((MetricError, poa.PoaError)) as info:
            call()
        seen.append(info.value.code)
        entry = documented.get(info.value.code)
        assert entry is not None, f"{info.value.code} is raised but not documented"
        assert entry.hint and info.value.hint
    assert len(set(seen)) == 5


def test_the_docs_render_areas_and_messages(raises):
    text = errors_doc.render(raises)
    assert "## funnel" in text and "## ingest" in text
    row = next(line for line in text.splitlines() if line.startswith("| `cli.map`"))
    assert "ConfigError" in row and "canonical=source" in row and "--map user_id=" in row


def test_coded_warnings_are_documented_too(wb, raises):
    """A PoaWarning (the work goes on) has a code and a hint like an error, and is listed."""
    documented = {r.code: r for r in raises}
    wb.load_events(
        pd.DataFrame(
            {"user_id": ["u1"], "event": ["a"], "ts": pd.to_datetime(["2024-01-01"], utc=True)}
        )
    )
    with pytest.warns(poa.PoaWarning) as caught:
        wb.funnel(["a", "never_seen"])
    codes = {w.message.code for w in caught if isinstance(w.message, poa.PoaWarning)}
    assert codes, "no coded warning was raised"
    for code in codes:
        assert code in documented, f"{code} is warned but not documented; {REGENERATE}"
        assert documented[code].error == "PoaWarning" and documented[code].hint
