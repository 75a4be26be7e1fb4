"""backlog.scores: each framework against a worked example computed by hand here; changing one
input changes the score the way the formula says; Monte Carlo reproducible."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from poanalytics.backlog.model import Item, Planning
from poanalytics.backlog.scores import ScoresResult, score
from poanalytics.errors import PoaWarning

AS_OF = pd.Timestamp("2026-11-16", tz="UTC")
PLAN = Planning(capacity=None, simulations=400, seed=0)


def row(item, kind, value, low=None, high=None, *, n=None, source="events", supports=True,
        link="profile_completed", detail=None, unit=None, as_of=AS_OF):  # fmt: skip
    return {
        "item_id": item,
        "kind": kind,
        "link": link,
        "value": value,
        "low": low,
        "high": high,
        "unit": unit,
        "n": n,
        "source": source,
        "supports": supports,
        "detail": detail or f"{kind} {value}",
        "query": "select 1",
        "params": "{}",
        "as_of": as_of,
    }


def evidence(item, users=100.0, *, width=0.1):
    """Two sources (events, tickets), median n 268.5 (>= 100), reach interval +-10% (<= 25%):
    2 + 1 + 1 = 4 points -> confidence 50% + 4 x 10% = 90%."""
    return [
        row(item, "reach", users, users * (1 - width), users * (1 + width), n=500),
        row(item, "tickets", 37, n=37, source="tickets", link="onboarding_crash"),
    ]


def one(t, item="A"):
    return t.set_index("item_id").loc[item]


def scored(items, rows, planning=PLAN, **kw):
    return score(items, pd.DataFrame(rows), planning, **kw)


# ---------------------------------------------------------------- RICE


def test_rice_worked_example_by_hand():
    t = scored([Item("A", title="a", effort_weeks=4.0, impact=2.0)], evidence("A"))
    a = one(t)
    # reach 100 users/week x 13 weeks = 1,300; impact 2; confidence 90%; effort 4 person-weeks
    assert a.reach == 1300
    assert a.confidence == pytest.approx(0.9)
    assert a.rice == pytest.approx(1300 * 2 * 0.9 / 4)  # 585
    assert a.value == pytest.approx(1300 * 2 * 0.9)
    assert a.reach_link == "profile_completed"
    assert "impact not stated" not in (a.caveats or "")


@pytest.mark.parametrize(
    ("change", "factor"),
    [("reach", 2.0), ("effort", 0.5), ("impact", 1.5)],
)
def test_rice_changes_as_the_formula_says(change, factor):
    base = one(scored([Item("A", title="a", effort_weeks=4.0, impact=2.0)], evidence("A")))
    users = 200.0 if change == "reach" else 100.0  # double reach (same relative interval)
    effort = 8.0 if change == "effort" else 4.0  # double effort
    impact = 3.0 if change == "impact" else 2.0  # 2 -> 3
    new = one(
        scored([Item("A", title="a", effort_weeks=effort, impact=impact)], evidence("A", users))
    )
    assert new.confidence == base.confidence
    assert new.rice == pytest.approx(base.rice * factor)


def test_reach_is_the_largest_link_not_the_sum():
    rows = evidence("A") + [row("A", "reach", 60.0, 50, 70, n=500, link="android")]
    a = one(scored([Item("A", title="a", effort_weeks=4.0, impact=2.0)], rows))
    assert a.reach == 100 * 13
    assert a.reach_low == pytest.approx(90 * 13) and a.reach_high == pytest.approx(110 * 13)


def test_impact_not_stated_is_medium_and_flagged():
    a = one(scored([Item("A", title="a", effort_weeks=4.0)], evidence("A")))
    assert a.impact == 1.0 and not a.impact_stated
    assert "impact not stated: medium assumed" in a.caveats
    assert a.rice == pytest.approx(1300 * 1 * 0.9 / 4)


# ---------------------------------------------------------------- confidence


def test_no_evidence_lowest_confidence_and_says_so():
    t = scored([Item("A", title="a", effort_weeks=4.0), Item("B", title="b", effort_weeks=1.0)],
               evidence("A"))  # fmt: skip
    b = one(t, "B")
    assert b.confidence == 0.5 == t.confidence.min()
    assert b.confidence_reasons == "no measured evidence"
    assert b.reach == 0 and "reach not measured" in b.caveats
    assert not b.supporting


def test_rows_that_do_not_support_give_no_supporting_evidence():
    rows = [row("A", "tickets", 0, n=0, source="tickets", supports=False)]
    a = one(scored([Item("A", title="a", effort_weeks=4.0)], rows))
    assert a.confidence == 0.5
    assert a.confidence_reasons == "no supporting evidence"


def test_confidence_points_sources_samples_intervals_recency():
    item = [Item("A", title="a", effort_weeks=4.0)]
    # one source, n 20 (< 30: 0), no interval: 1 point -> 60%
    small = [row("A", "tickets", 3, n=20, source="tickets")]
    assert one(scored(item, small)).confidence == pytest.approx(0.6)
    # + a note row (3 sources: 3 points), n 500, 37, 200 (median 200: +1), +-10% (+1) -> 100%
    three = evidence("A") + [row("A", "interview_mentions", 5, n=200, source="notes")]
    a = one(scored(item, three))
    assert a.confidence == pytest.approx(1.0)
    assert "3 sources (events, tickets, notes)" in a.confidence_reasons
    # 8 notes instead: median n 37 (>= 30: +0.5) -> 95%
    eight = evidence("A") + [row("A", "interview_mentions", 5, n=8, source="notes")]
    assert one(scored(item, eight)).confidence == pytest.approx(0.95)
    # wide intervals: +-40% (<= 50%: +0.5) instead of +1 -> 85%
    assert one(scored(item, evidence("A", width=0.4))).confidence == pytest.approx(0.85)
    # stale: all supporting data older than period_weeks (4) before the ledger's newest: -1
    old = [dict(r, as_of=AS_OF - pd.Timedelta(weeks=6)) for r in evidence("A")]
    fresh_other = [row("B", "reach", 10, 9, 11, n=500)]
    t = scored(item + [Item("B", title="b", effort_weeks=1.0)], old + fresh_other)
    assert one(t).confidence == pytest.approx(0.8)
    assert "stale" in one(t).confidence_reasons


# ---------------------------------------------------------------- ICE


def test_ice_worked_example_by_hand():
    a = one(scored([Item("A", title="a", effort_weeks=4.0, impact=2.0)], evidence("A")))
    impact = 2 * math.log10(1300 * 2)  # 6.83: reach x impact on the log scale
    ease = 10 - 2 * math.log2(2 * 4)  # 4
    assert a.ice_impact == pytest.approx(impact)
    assert a.ice_confidence == pytest.approx(9)
    assert a.ease == pytest.approx(ease)
    assert a.ice == pytest.approx(impact * 9 * ease)


def test_ice_changes_as_the_mapping_says():
    base = one(scored([Item("A", title="a", effort_weeks=4.0, impact=2.0)], evidence("A")))
    tenfold = one(
        scored([Item("A", title="a", effort_weeks=4.0, impact=2.0)], evidence("A", 1000.0))
    )
    assert tenfold.ice_impact == pytest.approx(base.ice_impact + 2)  # 10x users: +2 points
    doubled = one(scored([Item("A", title="a", effort_weeks=8.0, impact=2.0)], evidence("A")))
    assert doubled.ease == pytest.approx(base.ease - 2)  # double effort: -2 points of ease
    assert doubled.ice == pytest.approx(base.ice * 2 / 4)
    tiny = one(scored([Item("A", title="a", effort_weeks=40.0)], []))
    assert tiny.ice_impact == 1 and tiny.ease == 1  # clipped to 1..10


# ---------------------------------------------------------------- WSJF


def wsjf_item(**kw):
    return Item("A", title="a", effort_weeks=4.0, business_value=8, time_criticality=5,
                risk_reduction=3, job_size=5, **kw)  # fmt: skip


def test_wsjf_worked_example_with_stated_inputs():
    a = one(scored([wsjf_item()], evidence("A")))
    assert a.cost_of_delay == 8 + 5 + 3
    assert a.wsjf == pytest.approx(16 / 5)
    assert a.wsjf_derived is None or pd.isna(a.wsjf_derived)


def test_wsjf_plus_three_business_value_adds_three_to_cost_of_delay():
    base = one(scored([wsjf_item()], evidence("A")))
    item = Item("A", title="a", effort_weeks=4.0, business_value=11, time_criticality=5,
                risk_reduction=3, job_size=5)  # fmt: skip
    more = one(scored([item], evidence("A")))
    assert more.cost_of_delay == base.cost_of_delay + 3
    assert more.wsjf == pytest.approx(19 / 5)
    bigger = Item("A", title="a", effort_weeks=4.0, business_value=8, time_criticality=5,
                  risk_reduction=3, job_size=10)  # fmt: skip
    assert one(scored([bigger], evidence("A"))).wsjf == pytest.approx(base.wsjf / 2)


def test_wsjf_inputs_derived_from_evidence_and_flagged():
    rows = evidence("A") + [
        row("A", "dropoff_change", 0.08, 0.04, 0.12, n=400, unit="points"),  # 8 points: TC 8
        row("A", "churn_lift", 2.5, 1.8, 3.4, n=300, source="tickets"),  # 2 <= 2.5 < 3: RR 8
    ]
    a = one(scored([Item("A", title="a", effort_weeks=4.0)], rows))
    assert a.time_criticality == 8 and a.risk_reduction == 8
    assert a.job_size == 5  # 4 person-weeks rounded up to 1 2 3 5 8 ...
    assert a.business_value == 20  # the only scored item is the largest
    assert a.wsjf == pytest.approx((20 + 8 + 8) / 5)
    for name in ("business value", "time criticality", "risk reduction", "job size"):
        assert name in a.wsjf_derived
    assert "WSJF derived from evidence" in a.caveats
    # 12 points worse (10 <= 12 < 20): 13; a change that does not support the item: 1
    worse = [dict(r, value=0.12) if r["kind"] == "dropoff_change" else r for r in rows]
    assert one(scored([Item("A", title="a", effort_weeks=4.0)], worse)).time_criticality == 13
    calm = [dict(r, supports=False) if r["kind"] == "dropoff_change" else r for r in rows]
    assert one(scored([Item("A", title="a", effort_weeks=4.0)], calm)).time_criticality == 1
    # no worsening trend, no churn risk: 1 each
    plain = one(scored([Item("A", title="a", effort_weeks=4.0)], evidence("A")))
    assert plain.time_criticality == 1 and plain.risk_reduction == 1


def test_wsjf_business_value_is_relative_on_a_log_scale():
    items = [Item(i, title=i, effort_weeks=1.0, impact=1.0) for i in "ABC"]
    rows = evidence("A", 10.0) + evidence("B", 100.0) + evidence("C", 1000.0)
    t = scored(items, rows).set_index("item_id")
    # values 10:100:1000 (same confidence): smallest 1, largest 20, the middle halfway: FIB[3] = 5
    assert list(t.business_value) == [1, 5, 20]


# ---------------------------------------------------------------- value / effort


def test_quadrants_split_at_the_medians():
    items = [
        Item("QW", title="q", effort_weeks=1.0, impact=3.0),
        Item("BB", title="b", effort_weeks=8.0, impact=3.0),
        Item("FI", title="f", effort_weeks=1.0, impact=0.25),
        Item("TS", title="t", effort_weeks=8.0, impact=0.25),
    ]
    rows = [r for i in ("QW", "BB", "FI", "TS") for r in evidence(i)]
    t = scored(items, rows).set_index("item_id")
    assert dict(t.quadrant) == {
        "QW": "quick win",
        "BB": "big bet",
        "FI": "fill-in",
        "TS": "time sink",
    }


# ---------------------------------------------------------------- MoSCoW


def moscow_items():
    # same evidence (reach 1,300, confidence 90%): RICE = 1,170 x impact / effort:
    # A 1,170 > B 780 > C 585 > D 292.5 > E 146.25; cumulative effort with capacity 10:
    # A 3 (30%) must, B 6 (60%) must, C 7 (70%) should, D 9 (90%) could, E 11 (110%) wont
    spec = [("A", 3.0, 3.0), ("B", 2.0, 3.0), ("C", 0.5, 1.0), ("D", 0.5, 2.0), ("E", 0.25, 2.0)]
    return [Item(i, title=i, effort_weeks=e, impact=imp) for i, imp, e in spec]


def test_moscow_suggested_by_rice_order_and_capacity():
    rows = [r for i in "ABCDE" for r in evidence(i)]
    t = scored(moscow_items(), rows, capacity=10.0).set_index("item_id")
    assert list(t.rank_rice) == [1, 2, 3, 4, 5]
    assert dict(t.moscow_suggested) == {
        "A": "must",
        "B": "must",
        "C": "should",
        "D": "could",
        "E": "wont",
    }
    assert t.moscow_note["B"].startswith("6 of 10 person-weeks")


def test_moscow_capacity_from_planning_and_must_needs_evidence():
    rows = [r for i in "ACDE" for r in evidence(i)]  # B has no evidence at all
    plan = Planning(capacity=10.0, simulations=0)
    items = moscow_items()
    items[1] = Item("B", title="B", effort_weeks=3.0, impact=3.0, business_value=1)
    t = scored(items, rows, plan).set_index("item_id")
    # B's reach is 0: RICE 0, last; A 3 (30%) must, C 4 must, D 6 must, E 8 should, B 11 wont
    assert dict(t.moscow_suggested) == {
        "A": "must",
        "C": "must",
        "D": "must",
        "E": "should",
        "B": "wont",
    }
    # B measured (200 a week) but nothing supports it: confidence 50%, RICE 2,600 x 2 x 0.5 / 3
    # = 867, second: 6 of 10 (60%) but not Must
    rows2 = [r for i in "ACDE" for r in evidence(i)] + [
        row("B", "reach", 200.0, 180, 220, n=500, supports=False)
    ]
    t2 = scored(moscow_items(), rows2, plan).set_index("item_id")
    assert t2.rank_rice["B"] == 2 and t2.confidence["B"] == 0.5
    assert t2.moscow_suggested["B"] == "should"
    assert "not Must: no supporting evidence" in t2.moscow_note["B"]


def test_no_capacity_no_suggestion_and_why():
    t = scored(moscow_items(), [r for i in "ABCDE" for r in evidence(i)])
    assert t.moscow_suggested.isna().all()
    assert t.moscow_note.str.contains("no capacity stated").all()
    assert t.must_over_60.isna().all()


def test_dsdm_must_over_60_percent_of_capacity_warns():
    items = [
        Item("A", title="a", effort_weeks=4.0, moscow="must"),
        Item("B", title="b", effort_weeks=3.0, moscow="must"),
        Item("C", title="c", effort_weeks=3.0, moscow="should"),
    ]
    with pytest.warns(PoaWarning, match="backlog.must_over_60") as caught:
        t = scored(items, [], capacity=10.0)  # Must: 7 of 10 person-weeks (70% > 60%)
    assert caught[0].message.code == "backlog.must_over_60"
    assert "7 of 10" in str(caught[0].message)
    assert "no effort estimate" not in str(caught[0].message)
    assert t.attrs["warnings"][0].code == "backlog.must_over_60"
    assert dict(zip(t.item_id, t.must_over_60, strict=True)) == {"A": True, "B": True, "C": False}
    # a Must without an estimate is named, not silently counted as 0
    with pytest.warns(PoaWarning, match=r"7 of 10 person-weeks \(70%\) \(without X: no effort"):
        scored(items + [Item("X", title="x", moscow="Must")], [], capacity=10.0)
    # exactly 60%: fine
    items[1] = Item("B", title="b", effort_weeks=2.0, moscow="must")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PoaWarning)
        t = scored(items, [], capacity=10.0)
    assert not t.must_over_60.any() and t.attrs["warnings"] == []


# ---------------------------------------------------------------- disagreement, status


def test_disagreement_names_who_says_what():
    # six items; F leads RICE (huge reach) but is last under WSJF (stated: 1+1+1 over 100)
    items = [Item(i, title=i, effort_weeks=2.0, impact=1.0) for i in "ABCDE"]
    items.append(Item("F", title="F", effort_weeks=2.0, impact=1.0, business_value=1,
                      time_criticality=1, risk_reduction=1, job_size=100))  # fmt: skip
    rows = [r for k, i in enumerate("ABCDE") for r in evidence(i, 100.0 + k)] + evidence("F", 1e5)
    t = scored(items, rows).set_index("item_id")
    assert t.rank_rice["F"] == 1 and t.rank_wsjf["F"] == 6  # spread 5 >= max(3, 6/3)
    assert t.disagreement["F"]
    assert t.disagreement_detail["F"] == "RICE #1, ICE #1, WSJF #6"
    assert not t.disagreement[list("ABCDE")].any()


def test_shipped_dropped_and_unestimated_items_are_kept_unscored():
    items = [
        Item("A", title="a", effort_weeks=2.0),
        Item("S", title="s", effort_weeks=2.0, status="shipped"),
        Item("D", title="d", effort_weeks=2.0, status="dropped"),
        Item("N", title="n"),
        Item("Z", title="z", effort_weeks=0.0),
    ]
    rows = [r for i in "ASDNZ" for r in evidence(i)]
    t = scored(items, rows).set_index("item_id")
    assert list(t.index) == list("ASDNZ")
    for i in "SDNZ":
        assert pd.isna(t.rice[i]) and pd.isna(t.ice[i]) and pd.isna(t.p_top_n[i])
    assert t.note["S"] == "shipped: not scored for ordering"
    assert t.note["D"] == "dropped: not scored for ordering"
    assert "no effort estimate" in t.note["N"] and "zero effort" in t.note["Z"]
    assert t.status["S"] == "shipped" and t.p_top_n["A"] == 1.0


def test_items_table_is_accepted_like_items():
    items = moscow_items()
    rows = [r for i in "ABCDE" for r in evidence(i)]
    table = pd.DataFrame([vars(i) for i in items])
    pd.testing.assert_frame_equal(scored(items, rows), scored(table, rows))


# ---------------------------------------------------------------- Monte Carlo


def test_intervals_bracket_the_score_and_same_seed_is_identical():
    items, rows = moscow_items(), [r for i in "ABCDE" for r in evidence(i, width=0.3)]
    a, b = scored(items, rows), scored(items, rows)
    pd.testing.assert_frame_equal(a, b)
    for s in ("rice", "ice", "wsjf"):
        assert (a[f"{s}_low"] <= a[s] + 1e-9).all() and (a[s] <= a[f"{s}_high"] + 1e-9).all()
        assert (a[f"{s}_low"] < a[f"{s}_high"]).all()
    other = scored(items, rows, Planning(simulations=400, seed=1))
    assert not np.allclose(a.rice_low, other.rice_low)
    np.testing.assert_allclose(a.rice_low, other.rice_low, rtol=0.1)
    np.testing.assert_allclose(a.p_top_n, other.p_top_n, atol=0.1)
    pd.testing.assert_series_equal(a.rice, other.rice)  # point scores do not depend on the seed


def test_p_top_n_dominant_item_and_coin_toss():
    plan = Planning(simulations=2000, seed=0, top_n=1)
    items = [Item(i, title=i, effort_weeks=2.0, impact=1.0) for i in "ABC"]
    rows = evidence("A", 1000.0) + evidence("B", 10.0) + evidence("C", 10.0)
    t = scored(items, rows, plan).set_index("item_id")
    assert t.p_top_n["A"] > 0.99 and t.p_top_n["B"] < 0.01
    # B and C are the same item twice: each first half of the time
    t2 = scored(items[1:], rows[2:], plan).set_index("item_id")
    assert t2.p_top_n["B"] == pytest.approx(0.5, abs=0.05)
    assert t2.p_top_n["B"] + t2.p_top_n["C"] == pytest.approx(1.0)


def test_assumed_impact_widens_the_interval():
    stated = one(scored([Item("A", title="a", effort_weeks=4.0, impact=1.0)], evidence("A")))
    assumed = one(scored([Item("A", title="a", effort_weeks=4.0)], evidence("A")))
    assert assumed.rice == stated.rice
    assert assumed.rice_high - assumed.rice_low > 1.5 * (stated.rice_high - stated.rice_low)


def test_scores_result_figures():
    t = scored(moscow_items(), [r for i in "ABCDE" for r in evidence(i)])
    result = ScoresResult(query=None, table=t, sql="")
    assert {d.name for d in result.figure().data} >= {"quick win"}
    for framework in ("rice", "ice", "wsjf"):
        assert framework.upper() in result.figure(framework).layout.title.text


def test_scores_summary():
    items = moscow_items() + [Item("S", title="s", effort_weeks=1.0, status="shipped")]
    items[0] = Item("A", title="A", effort_weeks=3.0, impact=3.0, moscow="must")
    rows = [r for i in "ABCD" for r in evidence(i)]  # E: no evidence
    with pytest.warns(PoaWarning):
        t = scored(items, rows, Planning(simulations=100, top_n=2), capacity=4.0)
    text = ScoresResult(query=None, table=t, sql="").summary()
    assert text.startswith(
        "6 items, 5 scored (not scored: S shipped). By RICE: A (99% in the top 2), B ("
    )
    assert "Low confidence: E (50%)" in text
    assert "The Must items (A) take 3 of 4 person-weeks (75%)" in text


def test_quotes_do_not_count_as_evidence():
    quote = row("A", "quote", 0.9, source="notes", link="note-1", detail='"it crashes"')
    a = one(scored([Item("A", title="a", effort_weeks=4.0)], [quote]))
    assert a.confidence == 0.5 and a.confidence_reasons == "no measured evidence"
    with_quote = one(scored([Item("A", title="a", effort_weeks=4.0)], evidence("A") + [quote]))
    assert with_quote.confidence == pytest.approx(0.9)  # not a third source
