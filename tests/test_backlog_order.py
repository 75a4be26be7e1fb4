"""backlog.order: the ordered list, reasons quoted from the ledger, the capacity line, overrides
shown beside the evidence rank, trade-offs naming what slips and which objectives lose."""

from __future__ import annotations

import pandas as pd
import pytest

from poanalytics.backlog.errors import BacklogError
from poanalytics.backlog.model import Impact, Item, Planning, ProductConfig
from poanalytics.backlog.order import OrderResult, order, tradeoff
from poanalytics.backlog.results import OrderQuery
from poanalytics.backlog.scores import score
from poanalytics.errors import PoaWarning
from tests.test_backlog_scores import evidence, row

PLAN = Planning(simulations=200, seed=0)


def crash_ledger():
    """A ledger shaped like backlog.evidence's: a step's reach row states its drop-off and change;
    the drop-off and change rows repeat them with intervals; tickets count unique problems."""
    step, theme = "step:profile_completed", "theme:onboarding_crash"
    return [
        row("A", "reach", 1240.0, 1100, 1380, n=5000, link=step,
            detail="1,240 users a week stop at profile_completed (35% drop, 8 points worse than "
                   "the 4 weeks before)"),
        row("A", "dropoff", 0.35, 0.33, 0.37, n=3500, link=step,
            detail="35% of 3,500 users who reached onboarding_started stopped at profile_completed "
                   "(95% CI 33% to 37%)"),
        row("A", "dropoff_change", 0.08, 0.05, 0.11, n=3500, unit="points", link=step,
            detail="drop-off at profile_completed 8 points worse than the 4 weeks before"),
        row("A", "reach", 300.0, n=300, link="event:export_clicked",
            detail="300 users a week do export_clicked"),
        row("A", "tickets", 37, n=37, source="tickets", link=theme,
            detail="37 tickets about onboarding_crash in 4 weeks (31 unique problems)"),
        row("A", "unique_problems", 31, n=37, source="tickets", link=theme,
            detail="31 unique problems about onboarding_crash"),
        row("A", "interview_mentions", 5, 2, 7, n=8, source="notes", link=theme,
            detail="5 of 8 interviews mention onboarding_crash"),
        row("A", "quote", 0.9, source="notes", link="2026-09-07-int-001.md line 24",
            detail='"the app just closes when I save"'),
    ]  # fmt: skip


def setup(items, rows, **kw):
    ledger = pd.DataFrame(rows)
    return items, score(items, ledger, PLAN), ledger


def three():
    """RICE: A 1,300 x 2 x 0.9 / 2 = 1,170 > B 1,300 x 1 x 0.9 / 2 = 585 > C 1,300 x 0.5 x 0.9 / 4
    = 146.25; efforts 2, 2, 4."""
    items = [
        Item("A", title="Fix the crash", effort_weeks=2.0, impact=2.0, objectives=("onboarding",)),
        Item("B", title="Skip profile", effort_weeks=2.0, impact=1.0),
        Item("C", title="Dark mode", effort_weeks=4.0, impact=0.5),
        Item("S", title="Shipped", effort_weeks=1.0, status="shipped"),
    ]
    rows = evidence("A") + evidence("B") + evidence("C") + evidence("S")
    return setup(items, rows)


def test_order_by_rice_with_reason_quoting_the_ledger():
    items = [Item("A", title="Fix the crash", effort_weeks=2.0, impact=2.0)]
    o = order(*setup(items, crash_ledger()))
    assert o.reason[0] == (
        "#1: 1,240 users a week stop at profile_completed (35% drop, 8 points worse than the 4 "
        "weeks before); 37 tickets about onboarding_crash in 4 weeks (31 unique problems); 5 of 8 "
        "interviews mention onboarding_crash."
    )
    assert list(o.columns[:8]) == ["rank", "item_id", "title", "score", "score_low", "score_high",
                                   "p_top_n", "reason"]  # fmt: skip


def test_reason_without_a_reach_row_joins_drop_off_and_change():
    step = "step:profile_completed"
    rows = [
        row("A", "dropoff", 0.35, 0.33, 0.37, n=3500, link=step,
            detail="1,240 users a week stop at profile_completed"),
        row("A", "dropoff_change", 0.08, 0.05, 0.11, n=3500, link=step,
            detail="8 points worse than the 4 weeks before"),
        row("A", "tickets", 37, n=37, source="tickets", link="theme:onboarding_crash",
            detail="37 tickets about onboarding_crash"),
        row("A", "tickets", 3, n=3, source="tickets", link="theme:sso", detail="3 tickets about sso"),
        row("A", "interview_mentions", 5, n=8, source="notes", detail="5 of 8 interviews mention it"),
        row("A", "churn_lift", 1.9, 1.2, 2.8, n=80, source="events", supports=False,
            detail="not significant"),
    ]  # fmt: skip
    o = order(*setup([Item("A", title="a", effort_weeks=2.0, impact=2.0)], rows))
    assert o.reason[0] == (
        "#1: 1,240 users a week stop at profile_completed, 8 points worse than the 4 weeks before; "
        "37 tickets about onboarding_crash; 5 of 8 interviews mention it."
    )


def test_ranks_shipped_left_out_fits_and_cumulative():
    items, scores, ledger = three()
    o = order(items, scores, ledger, capacity=4.0)
    assert list(o.item_id) == ["A", "B", "C"]  # S shipped: not ordered
    assert list(o["rank"]) == [1, 2, 3] and list(o.evidence_rank) == [1, 2, 3]
    assert list(o.score) == pytest.approx([1170, 585, 146.25])
    assert list(o.cumulative_weeks) == [2, 4, 8]
    assert list(o.fits) == [True, True, False]
    assert o.objectives[0] == ("onboarding",)
    assert o.override_rank.isna().all()
    assert order(items, scores, ledger).fits.isna().all()  # no capacity: NULL


def test_other_frameworks_and_value_effort_quadrants():
    items, scores, ledger = three()
    o = order(items, scores, ledger, framework="ice")
    s = scores.set_index("item_id")
    assert list(o.score) == [s.ice[i] for i in o.item_id]
    assert list(o.score) == sorted(o.score, reverse=True)
    w = order(items, scores, ledger, framework="wsjf")
    assert list(w.score) == sorted(w.score, reverse=True)
    ve = order(items, scores, ledger, framework="value_effort")
    ranks = {"quick win": 0, "big bet": 1, "fill-in": 2, "time sink": 3}
    assert list(ve.quadrant.map(ranks)) == sorted(ve.quadrant.map(ranks))


def test_ties_broken_by_p_top_n_then_item_id():
    items = [Item(i, title=i, effort_weeks=2.0, impact=1.0) for i in "CBA"]
    rows = [r for i in "CBA" for r in evidence(i)]
    items_, scores, ledger = setup(items, rows)
    scores = scores.assign(rice=100.0, p_top_n=[0.2, 0.5, 0.2])  # C, B, A
    o = order(items_, scores, ledger)
    assert list(o.item_id) == ["B", "A", "C"]


def test_low_confidence_caveat_and_no_evidence_reason():
    items = [
        Item("A", title="a", effort_weeks=2.0),
        Item("N", title="SAML SSO", effort_weeks=3.0),
        Item("U", title="unestimated"),
    ]
    rows = [row("A", "tickets", 3, n=3, source="tickets", detail="3 tickets about sso")]
    o = order(*setup(items, rows)).set_index("item_id")
    assert (
        o.reason["A"]
        == "#1: 3 tickets about sso; confidence 60%: 1 source (tickets); median n 3; no intervals."
    )
    assert o.reason["N"] == "#2: no measured evidence (confidence 50%)."
    assert o.reason["U"] == "#3: no effort estimate: not scored (a refinement check)."
    assert pd.isna(o.score["U"])


def test_unknown_framework_and_bad_capacity_refused():
    with pytest.raises(BacklogError, match="Did you mean 'rice'") as err:
        OrderQuery(framework="rcie")
    assert err.value.code == "backlog.unknown_framework"
    items, scores, ledger = three()
    with pytest.raises(BacklogError) as err:
        order(items, scores, ledger, framework="moscow")
    assert err.value.code == "backlog.unknown_framework"
    with pytest.raises(BacklogError) as err:
        order(items, scores, ledger, capacity=-1)
    assert err.value.code == "backlog.capacity"


def test_overrides_shown_not_silent_and_the_others_shift():
    items, scores, ledger = three()
    ov = pd.DataFrame({"item_id": ["C", "B", "C"], "rank": [3, 3, 1],
                       "reason": ["first try", "contract", "CEO promised it"], "override_id": [1, 2, 3]})  # fmt: skip
    o = order(items, scores, ledger, capacity=4.0, overrides=ov).set_index("item_id")
    assert list(o.index) == ["C", "A", "B"]
    assert list(o["rank"]) == [1, 2, 3]
    assert o.evidence_rank.to_dict() == {"C": 3, "A": 1, "B": 2}
    assert o.override_rank["C"] == 1 and o.override_reason["C"] == "CEO promised it"  # the last
    assert o.override_id["C"] == 3 and o.override_rank["B"] == 3
    assert pd.isna(o.override_rank["A"])
    assert "(evidence rank #3; placed #1 by the product owner: CEO promised it)" in o.reason["C"]
    text = OrderResult(
        query=OrderQuery(framework="rice", capacity=4.0), table=o.reset_index(), sql=""
    ).summary()
    assert text == (
        "3 open items in RICE order; 1 fit 4 person-weeks: C; C placed #1 by the product owner "
        "(evidence #3): CEO promised it; B placed #3 by the product owner (evidence #2): contract."
    )
    assert list(o.fits) == [True, False, False]  # C takes 4 of 4 person-weeks


def test_override_of_an_item_not_in_the_order_is_skipped_with_a_warning():
    items, scores, ledger = three()
    ov = pd.DataFrame({"item_id": ["S"], "rank": [1], "reason": ["x"], "override_id": [1]})
    with pytest.warns(PoaWarning, match="backlog.override_skipped"):
        o = order(items, scores, ledger, overrides=ov)
    assert list(o.item_id) == ["A", "B", "C"]
    bad = ov.assign(item_id="A", rank=0)
    with pytest.raises(BacklogError) as err:
        order(items, scores, ledger, overrides=bad)
    assert err.value.code == "backlog.override_rank"


def test_tradeoff_names_what_slips_and_which_objectives_lose():
    items, scores, ledger = three()
    cfg = ProductConfig(
        path="conf/product.toml",
        planning=Planning(capacity=4.0),
        impacts=(Impact("activation", items=("B",)),),
    )
    o = order(items, scores, ledger, capacity=4.0)
    t = tradeoff(o, "C", 1, None, cfg).set_index("item_id")  # capacity from [planning]
    assert t.change.to_dict() == {"C": "moved", "A": "slips", "B": "slips"}
    assert t.rank_after.to_dict() == {"C": 1, "A": 2, "B": 3}
    assert t.objectives_losing["A"] == ("onboarding",)
    assert t.objectives_losing["B"] == ("activation",)
    assert t.attrs["summary"] == (
        "Moving C to #1 pushes A, B past the 4 person-week line; objectives losing an item this "
        "cycle: activation, onboarding."
    )
    # a move within the line slips nothing
    t2 = tradeoff(o, "B", 1, 4.0, cfg)
    assert list(t2.change) == ["moved"]
    assert "pushes nothing" in t2.attrs["summary"]


def test_tradeoff_refuses_without_capacity_or_unknown_item():
    items, scores, ledger = three()
    o = order(items, scores, ledger)
    cfg = ProductConfig(path="conf/product.toml")
    with pytest.raises(BacklogError) as err:
        tradeoff(o, "C", 1, None, cfg)
    assert err.value.code == "backlog.no_capacity"
    with pytest.raises(BacklogError, match="Did you mean 'C'") as err:
        tradeoff(o, "c", 1, 4.0, cfg)
    assert err.value.code == "backlog.unknown_item"


def test_order_result_figure():
    items, scores, ledger = three()
    o = order(items, scores, ledger)
    fig = OrderResult(query=OrderQuery(framework="rice"), table=o, sql="").figure()
    assert len(fig.data) >= 1 and "evidence order" in fig.layout.title.text


# -- the demo ------------------------------------------------------------------------------------


def test_demo_order_quotes_the_ledger_and_says_when_there_is_no_evidence(demo10k_wb, demo10k_files):
    from poanalytics.backlog import evidence as ev
    from poanalytics.backlog.config import read_product
    from poanalytics.backlog.items import read_items
    from tests.conftest import ROOT

    config = read_product(ROOT / "conf" / "product.toml")
    items = read_items(config, demo10k_files.backlog, root=ROOT).items
    with demo10k_wb.connection() as con:
        ledger = ev.ledger(con, config, items)
    scores = score(items, ledger, config.planning)
    o = order(items, scores, ledger, capacity=config.planning.capacity).set_index("item_id")
    s = scores.set_index("item_id")
    # the Android crash fix shipped: kept in the scores, not scored, not ordered
    assert s.status["BL-101"] == "shipped" and pd.isna(s.rice["BL-101"])
    assert "BL-101" not in o.index
    # SAML SSO has no measurable link: the lowest confidence, said in its reason, last
    assert s.confidence["BL-111"] == 0.5 == s.confidence.min()
    assert s.confidence_reasons["BL-111"] == "no measured evidence"
    assert o.reason["BL-111"] == f"#{len(o)}: no measured evidence (confidence 50%)."
    # the profile step is the biggest measured problem; the invite and pricing stories follow
    assert o["rank"]["BL-103"] == 1
    assert o["rank"]["BL-107"] <= 3 and o["rank"]["BL-104"] <= 5
    # every reason is built from the item's own ledger details
    for item, r in o.iterrows():
        details = set(ledger[ledger.item_id == item].detail.astype(str))
        body = r.reason.split(": ", 1)[1].rstrip(".").split("; confidence ")[0]
        if s.supporting[item]:
            assert all(any(part in d for d in details) for part in body.split("; ")), item
    assert o.fits.sum() >= 3 and o.cumulative_weeks.is_monotonic_increasing
