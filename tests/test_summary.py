"""Readable result views (issue 9): a formatted summary, the full numeric table one click away."""

from __future__ import annotations

import pandas as pd

from tests.journeys import load

H = 3600
D = 86400
W = 7 * D
STEPS = ["signup", "onboard", "activate"]


def _journeys() -> dict[str, list[tuple]]:
    out = {}
    for i in range(60):
        start = (i % 4) * W + i * 60
        country = "<b>NL</b>" if i % 2 else "DE"  # text from data, to be escaped
        events = [(start, "signup", {"country": country})]
        if i % 5 != 0:
            events.append((start + 90, "onboard"))
            if i % 3 != 0:
                events.append((start + 3 * H + 12 * 60, "activate"))
        else:
            events.append((start + 30, "app_error"))
        events += [(start + k * W + H, "use") for k in range(1, 1 + i % 3)]
        out[f"u{i:02d}"] = events
    return out


def test_funnel_summary_reads_as_text_and_the_table_stays_numeric(wb):
    load(wb, _journeys())
    f = wb.funnel(STEPS, window="7d")
    s = f.summary_table()
    assert list(s.columns[:5]) == ["step", "users", "conversion", "from previous", "dropped here"]
    assert list(s["conversion"]) == ["100%", "80.0%", "53.3%"]
    assert list(s["dropped here"]) == ["", "12 (20.0%)", "16 (33.3%)"]
    assert s["median time from previous"].iloc[2] == "3 h 10 min"
    assert pd.api.types.is_float_dtype(f.table["conversion_from_start"])  # unchanged
    html = f._repr_html_()
    assert html.index("<table") < html.index("<details>")  # summary first
    full = html[html.index("<details>") :]
    assert "Full table (3 rows × " in full and "median_seconds_from_previous" in full
    assert "overflow-x:auto" in full  # wide tables scroll, never cut off


def test_breakdown_summary_is_one_row_per_value_and_escapes_data(wb):
    load(wb, _journeys())
    f = wb.funnel(STEPS, window="7d", breakdown="country")
    s = f.summary_table()
    assert list(s["breakdown"]) == ["<b>NL</b>", "DE"] or list(s["breakdown"]) == [
        "DE",
        "<b>NL</b>",
    ]
    assert s.columns[2] == "reached activate" and s["conversion"].str.endswith("%").all()
    html = f._repr_html_()
    assert "<b>NL</b>" not in html and "&lt;b&gt;NL&lt;/b&gt;" in html


def test_correlation_summary_says_it_in_words(wb):
    load(wb, _journeys())
    c = wb.funnel(STEPS, window="7d").correlation(min_users=1)
    s = c.summary_table().set_index("who")
    assert s.loc["users who did app_error", "compared with the rest"] == "none of them converted"
    assert s.loc["users who did app_error", "p"].startswith(("< 0.001", "0.0"))
    assert "odds ratio" in s.columns


def test_retention_and_other_results_show_percent_not_fractions(wb):
    load(wb, _journeys())
    r = wb.retention("signup", None, period="week", intervals=3, cohort="first_time")
    s = r.summary_table()
    assert list(s.columns[:3]) == ["cohort", "users", "0"] and set(s["0"]) == {"100%"}
    churn = wb.churn(inactive_days=7).summary_table()
    rates = [v for v in churn["churn_rate"] if v != "—"]
    assert rates and all(v.endswith("%") for v in rates)
    assert "<details>" in wb.lifecycle()._repr_html_()
