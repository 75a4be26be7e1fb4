"""Theme trends: items per theme and ISO week (empty weeks are 0), spikes judged against the
theme's own previous weeks by an exact conditional Poisson test, the last week flagged incomplete."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy.stats import binom

import poanalytics as poa
from poanalytics.voice.trends import ALPHA, HISTORY, MIN_HISTORY
from tests.journeys import T0
from tests.voice_journeys import put_voice

D, W = 86400, 7 * 86400
CRASH = [1, 0, 1, 0, 1, 0, 0, 1, 6, 1, 2]  # tickets per week 0..10 (+ a note in week 8)


def week(k: int) -> pd.Timestamp:
    return (T0 + pd.Timedelta(weeks=k)).tz_localize(None)


@pytest.fixture
def trends_wb(wb, tmp_path):
    items = []
    for k, n in enumerate(CRASH):
        for i in range(n):
            dup = "g1" if k == 8 and i < 4 else None  # four copies of one problem in week 8
            items.append(
                {
                    "item_id": f"c{k}-{i}",
                    "themes": ["crash"],
                    "at": k * W + i * 3600,
                    "dup_group": dup,
                }
            )
    items.append({"source": "notes", "item_id": "n1#1", "themes": ["crash"], "at": 8 * W + 2 * D})
    items.append({"item_id": "x", "themes": [], "at": 10 * W + 2 * D})  # the data's last item
    items.append({"item_id": "p", "themes": ["price"], "at": 3 * W})
    put_voice(wb, items, ["crash", "price", "quiet"], tmp_path)
    return wb


def c_test(x: int, history: list[int]) -> float:
    """P(X >= x) for X ~ Binomial(x + sum(history), 1 / (len(history) + 1)), by scipy."""
    return float(binom.sf(x - 1, x + sum(history), 1 / (len(history) + 1)))


def test_weekly_counts_zero_weeks_and_spikes_by_hand(trends_wb):
    assert (HISTORY, MIN_HISTORY, ALPHA) == (8, 4, 0.01)
    r = trends_wb.theme_trends()
    t = r.table
    assert list(t.columns[:9]) == [
        "theme",
        "period_start",
        "items",
        "unique_problems",
        "baseline",
        "history_periods",
        "spike",
        "p_value",
        "incomplete",
    ]
    crash = t[t.theme == "crash"].set_index("period_start")
    assert list(crash.index) == [week(k) for k in range(11)]  # weeks 0..10, empty ones included
    weekly = list(CRASH)
    weekly[8] += 1  # the note
    assert list(crash["items"]) == weekly
    assert crash.loc[week(8), "unique_problems"] == 4  # g1 once + 2 other tickets + the note
    # people: no item here names a user or an e-mail, so each ticket and the note is one person
    assert crash.loc[week(8), "people"] == 7
    # too little history (fewer than 4 earlier weeks): not judged, NULL and not False
    assert crash.loc[week(0) : week(3), "spike"].isna().all()
    assert crash.loc[week(0) : week(3), "p_value"].isna().all()
    for k in range(4, 11):
        hist = weekly[max(0, k - HISTORY) : k]
        assert crash.loc[week(k), "p_value"] == pytest.approx(c_test(weekly[k], hist)), k
        assert crash.loc[week(k), "baseline"] == pytest.approx(sum(hist) / len(hist)), k
        assert crash.loc[week(k), "history_periods"] == len(hist)
    assert [k for k in range(4, 11) if crash.loc[week(k), "spike"]] == [8]
    assert list(crash.incomplete) == [False] * 10 + [True]  # week 10 holds the data's last item
    quiet = t[t.theme == "quiet"]  # a theme with no item: eleven zero weeks, never a spike
    assert list(quiet["items"]) == [0] * 11 and not quiet.spike.fillna(False).any()


def test_source_range_and_theme(trends_wb):
    tickets = trends_wb.theme_trends(source="tickets", theme="crash").table.set_index(
        "period_start"
    )
    assert tickets.loc[week(8), "items"] == 6 and set(tickets.reset_index().theme) == {"crash"}
    late = trends_wb.theme_trends(date_from="2024-04-29", theme="crash").table  # week 8 on
    assert list(late.period_start) == [week(8), week(9), week(10)]
    # judged against the whole history, not only the weeks in the range
    assert late.p_value.iloc[0] == pytest.approx(c_test(7, CRASH[0:8]))
    months = trends_wb.theme_trends(period="month", theme="crash").table
    assert list(months.period_start) == [
        pd.Timestamp("2024-03-01"),
        pd.Timestamp("2024-04-01"),
        pd.Timestamp("2024-05-01"),
    ]
    assert int(months["items"].sum()) == sum(CRASH) + 1
    assert months.spike.isna().all()  # three months: no history to judge


def test_trends_errors_are_coded(trends_wb):
    for kwargs, code in [
        (dict(period="year"), "voice.period"),
        (dict(theme="nope"), "voice.unknown_theme"),
        (dict(theme=3), "voice.theme"),
        (dict(source="chat"), "voice.source"),
        (dict(date_from="2024-05-01", date_to="2024-04-01"), "voice.date_range"),
    ]:
        with pytest.raises(poa.PoaError) as err:
            trends_wb.theme_trends(**kwargs)
        assert err.value.code == code, kwargs


def test_trends_on_an_empty_warehouse_is_an_empty_table(wb):
    t = wb.theme_trends().table
    assert t.empty and "spike" in t.columns


def test_the_trends_chart_marks_the_spike(trends_wb):
    fig = trends_wb.theme_trends(theme="crash").figure()
    xs = [x for trace in fig.data if "spike" in (trace.name or "") for x in trace.x]
    assert [pd.Timestamp(x) for x in xs] == [week(8)]


def test_the_summary_table_shows_unjudged_weeks_apart(trends_wb):
    """spike is NULL where there was too little history: the readable view shows it as missing
    (it raised TypeError on the NULL, so the result could not show itself in a notebook)."""
    r = trends_wb.theme_trends(theme="crash")
    s = r.summary_table()
    assert list(s.spike) == ["—"] * 4 + [""] * 4 + ["yes"] + [""] * 2
    assert "crash" in r._repr_html_()


def test_people_behind_a_week_count_a_person_once(wb, tmp_path):
    """One person filing three tickets, an e-mail on two, an anonymous ticket and one interview's
    three highlights: eight items from four people (the note is one, the e-mail is not the user)."""
    items = [
        {"item_id": "t1", "themes": ["crash"], "at": 0, "user_id": "u1"},
        {"item_id": "t2", "themes": ["crash"], "at": 3600, "user_id": "u1"},
        {"item_id": "t3", "themes": ["crash"], "at": 7200, "user_id": "u1"},
        {"item_id": "t4", "themes": ["crash"], "at": D, "email": "Ann@Example.org"},
        {"item_id": "t5", "themes": ["crash"], "at": D + 60, "email": " ann@example.org"},
        {"item_id": "t6", "themes": ["crash"], "at": 2 * D},
    ]
    items += [
        {"source": "notes", "item_id": f"n1#{k}", "themes": ["crash"], "at": 3 * D}
        for k in (1, 2, 3)
    ]
    put_voice(wb, items, ["crash"], tmp_path)
    row = wb.theme_trends(theme="crash").table.set_index("period_start").loc[week(0)]
    assert (row["items"], row["people"]) == (9, 4)
