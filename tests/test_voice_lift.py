"""Theme lift journeys: who raised a theme against who churned (L2) or dropped at a funnel step,
with hand-computed rates, Katz intervals, Fisher p-values and the small-sample rule."""

from __future__ import annotations

import hashlib
import math

import pandas as pd
import pytest
from scipy.stats import fisher_exact as scipy_fisher

import poanalytics as poa
from poanalytics.metrics.compare import holm
from poanalytics.voice.lift import katz_interval
from tests.journeys import T0, load
from tests.voice_journeys import put_voice

D = 86400
Z = 1.959963984540054


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# inactive_days = 10; the data ends on day 40: observable = first event by day 30; churned = last
# event by day 30 (no event in the last 10 days)
CHURN_JOURNEYS = {
    "c1": [(0, "e", {"plan": "starter"}), (5 * D, "e")],  # churned
    "c2": [(0, "e", {"plan": "starter"})],  # churned
    "c3": [(2 * D, "e")],  # churned; no plan
    "c4": [(1 * D, "e", {"plan": "pro"}), (20 * D, "e")],  # churned
    "r1": [(0, "e", {"plan": ""}), (1 * D, "e", {"plan": "starter"}), (35 * D, "e")],  # retained
    "r2": [(3 * D, "e", {"plan": "pro"}), (39 * D, "e")],  # retained
    "r3": [(10 * D, "e", {"plan": "pro"}), (40 * D, "e")],  # retained; the data's end
    "r4": [(5 * D, "e", {"plan": "starter"}), (33 * D, "e")],  # retained
    "late": [(35 * D, "e", {"plan": "starter"})],  # not observable: out of the population
}
# who raised what (ticket per user)
RAISED = {
    "c1": ["price"],
    "c2": ["price"],
    "c3": ["crash"],
    "r1": ["price", "kudos"],
    "r2": ["kudos"],
    "r3": ["crash"],
    "late": ["price"],
}
THEMES = ["crash", "kudos", "price", "silence"]  # nobody raises "silence"


def voice_by(wb, how: str, folder) -> None:
    """Every user's tickets, joined by user_id, by e-mail only or by its hash only."""
    items = []
    for n, (user, themes) in enumerate(sorted(RAISED.items())):
        item = {"item_id": f"t{n}", "themes": themes, "at": D}
        if how == "user_id":
            item["user_id"] = user
        else:
            item["email"] = f"{user.upper()}@Example.com "
        items.append(item)
    items.append({"item_id": "orphan", "themes": ["price"], "email": "who@nowhere.net"})
    # said on day 31: fewer than 10 days before the data's end, so whether r4 churns after it
    # cannot be seen yet; churn lift leaves it out (a funnel's lift would count it)
    recent = {"item_id": "recent", "themes": ["price"], "at": 31 * D}
    recent.update({"user_id": "r4"} if how == "user_id" else {"email": "r4@example.com"})
    items.append(recent)
    put_voice(wb, items, THEMES, folder)


def load_churn(wb, folder, how: str = "user_id") -> None:
    journeys = {u: list(evs) for u, evs in CHURN_JOURNEYS.items()}
    if how != "user_id":
        key = "email" if how == "email" else "email_sha256"
        for user in journeys:
            mail = f"{user}@example.com"
            first = journeys[user][0][0]  # at the user's first event: no one's activity changes
            journeys[user].append((first, "profile", {key: mail if how == "email" else sha(mail)}))
    load(wb, journeys)
    voice_by(wb, how, folder)


def expected(a: int, b: int, c: int, d: int) -> dict:
    """The row for [[a, b], [c, d]] = [[with & outcome, with & not], [without & outcome, ...]]."""
    rate_with, rate_without = a / (a + b), c / (c + d)
    lift = rate_with / rate_without
    se = math.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d))
    return {
        "users_with": a + b,
        "users_without": c + d,
        "rate_with": rate_with,
        "rate_without": rate_without,
        "lift": lift,
        "ci_low": lift * math.exp(-Z * se),
        "ci_high": lift * math.exp(Z * se),
        "p_value": scipy_fisher([[a, b], [c, d]]).pvalue,
    }


@pytest.mark.parametrize("how", ["user_id", "email", "hash"])
def test_churn_lift_by_hand(wb, tmp_path, how):
    load_churn(wb, tmp_path, how)
    r = wb.theme_lift("churn", inactive_days=10)
    t = r.table.set_index("theme")
    assert list(t.index) == ["price", "crash", "kudos", "silence"]  # strongest lift first
    # population: c1-c4 (churned), r1-r4 (retained); "late" is not observable
    # price: c1, c2, r1 (late is out) -> [[2, 1], [2, 3]]
    for col, value in expected(2, 1, 2, 3).items():
        assert t.loc["price", col] == pytest.approx(value), col
    assert t.loc["price", "outcome_with"] == 2 and t.loc["price", "outcome_without"] == 2
    assert t.loc["price", "share_outcome"] == pytest.approx(2 / 4)  # of churned users, raised it
    assert t.loc["price", "share_other"] == pytest.approx(1 / 4)  # of retained users
    # crash: c3, r3 -> [[1, 1], [3, 3]]: lift 1
    for col, value in expected(1, 1, 3, 3).items():
        assert t.loc["crash", col] == pytest.approx(value), col
    assert bool(t.small_sample.all()) and not t.significant.any()  # 8 users: all small
    # kudos: r1, r2 -> [[0, 2], [4, 2]]: rate 0, lift 0; the interval with 0.5 added to each cell
    k = t.loc["kudos"]
    assert k.lift == 0 and k.p_value == pytest.approx(scipy_fisher([[0, 2], [4, 2]]).pvalue)
    rr = (0.5 / 3) / (4.5 / 7)
    se = math.sqrt(1 / 0.5 - 1 / 3 + 1 / 4.5 - 1 / 7)
    assert (k.ci_low, k.ci_high) == pytest.approx((rr * math.exp(-Z * se), rr * math.exp(Z * se)))
    assert bool(k.ci_corrected) and not t.loc["price", "ci_corrected"]
    # silence: nobody -> no rate, no lift, p = 1
    s = t.loc["silence"]
    assert s.users_with == 0 and s.users_without == 8
    assert pd.isna(s.rate_with) and pd.isna(s.lift) and pd.isna(s.ci_low) and s.p_value == 1.0
    # the join rate is on the result and in its words: 7 of the 8 tickets found their user
    j = r.join.set_index("source")
    assert (j.loc["all", "items"], j.loc["all", "joined"]) == (9, 8)
    by = {"user_id": "by_user_id", "email": "by_email", "hash": "by_hash"}[how]
    assert j.loc["all", by] == 8
    assert "8 of 9 items (89%)" in r.summary()
    assert r.items_until == pd.Timestamp("2024-04-03", tz="UTC")  # day 30: 10 days before the end
    assert "Items created by 2024-04-03 00:00 UTC" in r.summary()
    assert (r.population, r.outcomes) == (8, 4)


def test_churn_lift_by_segment_uses_the_first_non_empty_value(wb, tmp_path):
    load_churn(wb, tmp_path)
    t = wb.theme_lift("churn", inactive_days=10, segment="plan").table
    t = t.set_index(["segment", "theme"])
    # segments (first non-empty plan): starter c1, c2, r1, r4; pro c4, r2, r3; no plan c3
    # price in starter: c1, c2, r1 -> [[2, 1], [0, 1]]
    row = t.loc[("starter", "price")]
    assert (row.users_with, row.outcome_with, row.users_without, row.outcome_without) == (
        3,
        2,
        1,
        0,
    )
    assert row.rate_with == pytest.approx(2 / 3) and row.rate_without == 0
    assert pd.isna(row.lift) and bool(row.ci_corrected)  # rate_without 0: no ratio
    assert row.p_value == pytest.approx(scipy_fisher([[2, 1], [0, 1]]).pvalue)
    crash = t.loc[("no plan", "crash")]
    assert (crash.users_with, crash.users_without, crash.rate_with) == (1, 0, 1.0)
    assert set(t.index.get_level_values(0)) == {"starter", "pro", "no plan"}


FUNNEL_JOURNEYS = {
    # a -> b -> c in 1 day; the data ends on day 20 ("z")
    "d1": [(0, "a"), (60, "b")],  # dropped at c
    "d2": [(0, "a"), (60, "b")],
    "d3": [(0, "a"), (60, "b")],
    "k1": [(0, "a"), (60, "b"), (120, "c")],  # converted
    "k2": [(0, "a"), (60, "b"), (120, "c")],
    "k3": [(0, "a"), (60, "b"), (120, "c")],
    "ip": [(20 * D - 600, "a"), (20 * D - 500, "b")],  # window still open: in progress, left out
    "x1": [(0, "a")],  # never reached b: out of the population
    "end": [(20 * D, "z")],
}


def test_funnel_lift_dropped_against_converted(wb, tmp_path):
    load(wb, FUNNEL_JOURNEYS)
    put_voice(
        wb,
        [
            {"item_id": "1", "user_id": "d1", "themes": ["crash"]},
            {"item_id": "2", "user_id": "d2", "themes": ["crash"]},
            {"item_id": "3", "user_id": "k1", "themes": ["crash"]},
            {"item_id": "4", "user_id": "ip", "themes": ["crash"]},
            {"item_id": "5", "user_id": "x1", "themes": ["crash"]},
            {"item_id": "6", "user_id": "d1", "themes": ["crash"]},  # a second ticket: one user
        ],
        ["crash"],
        tmp_path,
    )
    f = wb.funnel(["a", "b", "c"], window="1d")
    r = wb.theme_lift((f, 3))
    row = r.table.set_index("theme").loc["crash"]
    # reached b: d1-d3 (dropped), k1-k3 (converted); crash: d1, d2, k1 -> [[2, 1], [1, 2]]
    for col, value in expected(2, 1, 1, 2).items():
        assert row[col] == pytest.approx(value), col
    assert row.share_outcome == pytest.approx(2 / 3) and row.share_other == pytest.approx(1 / 3)
    assert (r.outcome, r.other) == ("dropped at c", "converted to c")
    assert (r.population, r.outcomes) == (6, 3)
    # by segment (the first non-empty platform on the user's events), on a breakdown funnel: the
    # same users, split; android: d1, d2, k1 (all raised crash), web: d3, k2, k3 (none did)
    load(wb, {u: [(30, "seen", {"platform": "android"})] for u in ("d1", "d2", "k1")})
    load(wb, {u: [(30, "seen", {"platform": "web"})] for u in ("d3", "k2", "k3")})
    f = wb.funnel(["a", "b", "c"], window="1d", breakdown="platform")
    by = wb.theme_lift((f, 3), segment="platform").table.set_index("segment")
    assert list(by.loc["android", ["users_with", "outcome_with", "users_without"]]) == [3, 2, 0]
    assert list(by.loc["web", ["users_with", "users_without", "outcome_without"]]) == [0, 3, 1]


def test_lift_errors_are_coded(wb, tmp_path):
    load(wb, FUNNEL_JOURNEYS)
    put_voice(wb, [{"item_id": "1", "user_id": "d1", "themes": ["crash"]}], ["crash"], tmp_path)
    f = wb.funnel(["a", "b", "c"], window="1d")
    cases = [
        (dict(outcome="retention"), "voice.lift_outcome"),
        (dict(outcome=(f, 1)), "voice.lift_step"),
        (dict(outcome=(f, 4)), "voice.lift_step"),
        (dict(outcome=(f,)), "voice.lift_outcome"),
        (dict(outcome="churn", inactive_days=0), "voice.inactive_days"),
        (dict(outcome="churn", segment="nope"), "voice.unknown_property"),
        (dict(outcome="churn", source="chat"), "voice.source"),
        (dict(outcome="churn", date_from="2024-02-01", date_to="2024-01-01"), "voice.date_range"),
    ]
    for kwargs, code in cases:
        with pytest.raises(poa.PoaError) as err:
            wb.theme_lift(**kwargs)
        assert err.value.code == code, kwargs
    f.close()
    with pytest.raises(poa.PoaError) as closed:
        wb.theme_lift((f, 3))
    assert closed.value.code == "funnel.closed"


def test_significance_needs_a_large_sample_and_holm_across_themes(wb, tmp_path):
    """60 users with a theme, 60 without: not small; 'price' goes with churn beyond doubt, 'noise'
    is p < 0.05 raw but not after Holm over the themes."""
    journeys, items = {}, []
    for i in range(120):
        churned = i % 2 == 0
        journeys[f"u{i}"] = [(0, "e")] + ([] if churned else [(39 * D, "e")])
    journeys["end"] = [(0, "e"), (40 * D, "e")]
    for i in range(120):
        themes = []
        if (i % 2 == 0 and i < 100) or (i % 2 == 1 and i < 20):  # 50 churned, 10 retained
            themes.append("price")
        items.append({"item_id": f"t{i}", "user_id": f"u{i}", "themes": themes})
    put_voice(wb, items, ["price", "other"], tmp_path)
    load(wb, journeys)
    t = wb.theme_lift("churn", inactive_days=10).table.set_index("theme")
    p = t.loc["price"]
    # population 121 (end is retained): price [[50, 10], [10, 51]]
    assert (p.users_with, p.outcome_with, p.users_without, p.outcome_without) == (60, 50, 61, 10)
    assert not p.small_sample and p.significant
    assert p.p_adjusted == pytest.approx(min(1.0, 2 * p.p_value))  # Holm over 2 themes
    assert pd.isna(t.loc["other", "lift"]) and not t.loc["other", "significant"]


def test_holm_and_katz_helpers():
    adjusted = holm(pd.Series([0.01, 0.04, 0.03, float("nan")]))
    assert list(adjusted) == pytest.approx([0.03, 0.06, 0.06, float("nan")], nan_ok=True)
    lo, hi, corrected = katz_interval(2, 1, 2, 3)
    se = math.sqrt(1 / 2 - 1 / 3 + 1 / 2 - 1 / 5)
    assert (lo, hi, corrected) == pytest.approx(
        (5 / 3 * math.exp(-Z * se), 5 / 3 * math.exp(Z * se), False)
    )


def test_the_chart_states_the_join_rate(wb, tmp_path):
    load_churn(wb, tmp_path)
    fig = wb.theme_lift("churn", inactive_days=10).figure()
    words = fig.layout.title.text + " ".join(a.text for a in fig.layout.annotations)
    assert "joined to users: 8 of 9 items (89%)" in words
    assert "churned" in fig.layout.xaxis.title.text


def test_no_items_yet_lists_every_theme_with_zeros_not_an_error(wb, tmp_path):
    load(wb, {"a": [(0, "e")], "b": [(0, "e"), (40 * D, "e")]})
    put_voice(wb, [], ["crash", "price"], tmp_path)
    r = wb.theme_lift("churn", inactive_days=10)
    t = r.table.set_index("theme")
    assert sorted(t.index) == ["crash", "price"]
    assert list(t.users_with) == [0, 0] and list(t.users_without) == [2, 2]
    assert t.lift.isna().all() and not t.significant.any() and t.small_sample.all()
    assert (r.population, r.outcomes) == (2, 1)
    assert list(r.join["items"]) == [0, 0, 0]
    assert "joined to users: no items" in r.summary()


def test_the_summary_table_formats_the_adjusted_p_value_as_a_p_value(wb, tmp_path):
    load_churn(wb, tmp_path)
    r = wb.theme_lift("churn", inactive_days=10)
    s = r.summary_table().set_index("theme")
    t = r.table.set_index("theme")
    for theme in t.index:
        assert s.loc[theme, "p_adjusted"] == poa.format.p_value(t.loc[theme, "p_adjusted"])
    assert s.loc["price", "p_adjusted"] == "1.00"  # was "1", a count


def test_churn_lift_as_of_judges_churn_as_it_stood_then(wb, tmp_path):
    """as_of = day 30: the events up to it end on day 20 (c4's), so with 10 inactive days the
    population is everyone whose first event is by day 10 (all eight; "late" has none yet), the
    churned are those quiet since day 10 (all but c4), and only items created by day 10 count."""
    load_churn(wb, tmp_path)
    then = T0 + pd.Timedelta(days=30)
    r = wb.theme_lift("churn", inactive_days=10, as_of=then)
    assert (r.population, r.outcomes) == (8, 7)
    assert r.items_until == T0 + pd.Timedelta(days=10)
    t = r.table.set_index("theme")
    # price: c1, c2, r1 raised it, all churned then -> [[3, 0], [4, 1]]
    assert (t.loc["price", "users_with"], t.loc["price", "outcome_with"]) == (3, 3)
    assert (t.loc["price", "users_without"], t.loc["price", "outcome_without"]) == (5, 4)
    assert t.loc["price", "lift"] == pytest.approx(1 / (4 / 5))
    # the same call without as_of judges at the data's end (day 40): the journeys' own answer
    assert (wb.theme_lift("churn", inactive_days=10).outcomes) == 4
    f = wb.funnel(["e", "e"], window="1d")
    with pytest.raises(poa.PoaError) as e:
        wb.theme_lift((f, 2), as_of=then)
    assert e.value.code == "voice.lift_as_of"
