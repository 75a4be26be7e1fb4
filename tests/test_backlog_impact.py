"""After shipping (backlog/impact.py): before/after of a shipped item's linked metrics.

Hand-built warehouses (the journeys of tests/test_backlog_objectives.py): the item ships on day 7,
one week each side, so before = [day 0, 7) and after = [day 7, 14) with as_of = day 14. Then the
demo: BL-101 (fix the Android crash, shipped 2026-11-02) against numbers computed with pandas from
the demo's files."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
import pytest
from scipy.stats import binomtest

import poanalytics as poa
from poanalytics.backlog.errors import BacklogError
from poanalytics.backlog.impact import (
    COLUMNS,
    ImpactQuery,
    ImpactResult,
    before_after,
    newcombe,
    rate_ratio,
    run_impact,
)
from poanalytics.backlog.model import Funnel, Item, Planning, ProductConfig
from poanalytics.demo import stories as st
from tests.journeys import T0, load
from tests.test_backlog_objectives import FUNNEL, demo_conversion, read_demo_events
from tests.voice_journeys import put_voice

D = 86400
SHIPPED = T0 + pd.Timedelta(days=7)
AS_OF = T0 + pd.Timedelta(days=14)
CFG = ProductConfig(
    path="conf/product.toml",
    planning=Planning(period_weeks=1),
    funnel=Funnel(("a", "b", "c"), window="1d"),
)


def shipped(**links) -> Item:
    return Item(
        "BL-1", title="the fix", status="shipped", shipped_at=SHIPPED.to_pydatetime(), **links
    )


def table(wb, item: Item, as_of=AS_OF, weeks=None, cfg=CFG) -> pd.DataFrame:
    return before_after(wb.con, cfg, item, as_of=as_of, weeks=weeks).set_index(["metric", "link"])


def test_newcombe_matches_the_published_worked_examples():
    # Newcombe (1998), Statistics in Medicine 17:873, table II, method 10
    for (x1, n1, x2, n2), (low, high) in {
        (56, 70, 48, 80): (0.0524, 0.3339),
        (9, 10, 3, 10): (0.1705, 0.8090),
        (6, 7, 2, 7): (0.0582, 0.8062),
        (5, 56, 0, 29): (-0.0381, 0.1926),
    }.items():
        d, lo, hi = newcombe(x1, n1, x2, n2)
        assert d == pytest.approx(x1 / n1 - x2 / n2)
        assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_rate_ratio_is_the_exact_conditional_interval():
    # 12 tickets in 2 weeks after, 30 in 4 weeks before: ratio (12/2)/(30/4) = 0.8
    ratio, low, high = rate_ratio(12, 2.0, 30, 4.0)
    ci = binomtest(12, 42).proportion_ci(method="exact")  # Clopper-Pearson of 12 of 42
    assert ratio == pytest.approx(0.8)
    assert low == pytest.approx(ci.low / (1 - ci.low) * 4 / 2)
    assert high == pytest.approx(ci.high / (1 - ci.high) * 4 / 2)
    assert rate_ratio(0, 1.0, 0, 1.0)[0] != rate_ratio(0, 1.0, 0, 1.0)[0]  # NaN: nothing at all


def test_conversion_before_and_after_with_in_progress_users_left_out(wb):
    load(wb, FUNNEL)
    row = table(wb, shipped(steps=("c",))).loc[("conversion", "c")]
    # before: p1 of p1..p4 reached c; after: u1, u3 of u1, u2, u3 (u4, u5 still in their window)
    assert (row.before, row.n_before, row.after, row.n_after) == (0.25, 4, pytest.approx(2 / 3), 3)
    d, low, high = newcombe(2, 3, 1, 4)
    assert (row.change, row.ci_low, row.ci_high) == pytest.approx((2 / 3 - 1 / 4, low, high))
    assert not row.significant  # 3 and 4 users: the interval spans 0
    assert (row.before_from, row.before_to, row.after_from, row.after_to) == (
        T0,
        SHIPPED,
        SHIPPED,
        AS_OF,
    )
    assert (
        row.change_kind == "difference"
        and "small_sample" in row.flag
        and "short_after" not in row.flag
    )


def test_the_result_carries_sql_params_and_a_figure(wb):
    load(wb, FUNNEL)
    result = run_impact(
        wb.con, ImpactQuery(config=CFG, item=shipped(steps=("c",), events=("c",)), as_of=AS_OF)
    )
    assert "-- conversion c" in result.sql and "-- adoption c" in result.sql
    assert set(result.params) == {"conversion:c", "adoption:c"} and result.as_of == AS_OF
    assert "BL-1" in str(result.figure().to_dict()["layout"]["title"])


def test_adoption_is_the_share_of_active_users_doing_the_event(wb):
    load(wb, FUNNEL)
    row = table(wb, shipped(events=("c",))).loc[("adoption", "c")]
    # before: p1..p4 active, p1 did c; after [day 7, 14): u1..u7 active (u8 is at day 14), u1, u3,
    # u5 did c
    assert (row.before, row.n_before, row.after, row.n_after) == (0.25, 4, pytest.approx(3 / 7), 7)
    assert row.change == pytest.approx(3 / 7 - 1 / 4)
    assert (row.ci_low, row.ci_high) == pytest.approx(newcombe(3, 7, 1, 4)[1:])


def test_the_items_segment_narrows_every_metric(wb):
    load(wb, FUNNEL)
    item = shipped(events=("c",), steps=("c",), segment={"platform": ["android"]})
    t = table(wb, item)
    # android users: p3 before; u1, u2, u4 after (L2: the first platform on their events)
    adopt = t.loc[("adoption", "c")]
    assert (adopt.before, adopt.n_before, adopt.after, adopt.n_after) == (
        0.0,
        1,
        pytest.approx(1 / 3),
        3,
    )
    conv = t.loc[("conversion", "c")]  # p3 dropped; u1 converted, u2 dropped, u4 in progress
    assert (conv.before, conv.n_before, conv.after, conv.n_after) == (0.0, 1, 0.5, 2)


def test_ticket_volume_is_compared_as_a_rate_ratio(wb, tmp_path):
    load(wb, {"u": [(0, "e"), (13 * D, "e"), (14 * D, "e")]})
    items = [
        {"item_id": "b1", "themes": ["crash"], "at": 2 * D},
        {"item_id": "b2", "themes": ["crash"], "at": 3 * D},
        {"item_id": "b3", "themes": ["crash"], "at": 4 * D},
        {"item_id": "b4", "themes": ["crash"], "at": 5 * D},
        {"item_id": "a1", "themes": ["crash"], "at": 8 * D},
        {"item_id": "a2", "themes": ["price"], "at": 9 * D},
    ]
    put_voice(wb, items, ["crash", "price"], tmp_path)
    row = table(wb, shipped(themes=("crash",))).loc[("tickets", "crash")]
    assert (row.before, row.after, row.n_before, row.n_after) == (4.0, 1.0, 4, 1)
    ci = binomtest(1, 5).proportion_ci(method="exact")
    assert row.change == pytest.approx(0.25)
    assert (row.ci_low, row.ci_high) == pytest.approx(
        (ci.low / (1 - ci.low), ci.high / (1 - ci.high))
    )
    assert not row.significant and row.change_kind == "ratio" and row.unit == "items per week"
    # the after-window cut at day 10 (as_of): 1 ticket in 3/7 of a week, flagged
    cut = table(wb, shipped(themes=("crash",)), as_of=T0 + pd.Timedelta(days=10))
    cut_row = cut.loc[("tickets", "crash")]
    assert cut_row.after == pytest.approx(7 / 3) and cut_row.after_to == T0 + pd.Timedelta(days=10)
    assert cut_row.change == pytest.approx((7 / 3) / 4) and "short_after" in cut_row.flag


def test_ticket_rates_are_per_week_of_the_part_the_export_covers(wb, tmp_path):
    """Two-week windows: before [day -7, 7), after [day 7, 14) (cut at as_of). The export starts on
    day 1, 8 days into the before-window: its 4 tickets stand on 6 days (4.67 a week), not 14."""
    load(wb, {"u": [(0, "e"), (13 * D, "e"), (14 * D, "e")]})
    items = [{"item_id": f"b{d}", "themes": ["crash"], "at": d * D} for d in (1, 2, 3, 4)]
    items += [{"item_id": "a1", "themes": ["crash"], "at": 8 * D}]
    put_voice(wb, items, ["crash"], tmp_path)
    row = table(wb, shipped(themes=("crash",)), weeks=2).loc[("tickets", "crash")]
    assert row.before == pytest.approx(4 / (6 / 7)) and row.after == pytest.approx(1.0)
    assert row.before_from == T0 + pd.Timedelta(days=1) and row.before_to == SHIPPED
    assert row.change == pytest.approx(1.0 / (4 / (6 / 7)))
    assert "partial_window" in row.flag


def test_no_ticket_of_the_theme_before_is_flagged_not_significant(wb, tmp_path):
    load(wb, {"u": [(0, "e"), (13 * D, "e"), (14 * D, "e")]})
    items = [{"item_id": "b1", "themes": ["price"], "at": 2 * D}]  # tickets before, none of crash
    items += [{"item_id": f"a{i}", "themes": ["crash"], "at": 8 * D + i} for i in range(10)]
    put_voice(wb, items, ["crash", "price"], tmp_path)
    row = table(wb, shipped(themes=("crash",))).loc[("tickets", "crash")]
    assert (row.n_before, row.n_after) == (0, 10) and math.isnan(row.change)
    assert row.ci_low > 1  # the interval alone would call it a clear rise
    assert "no_before_items" in row.flag and not row.significant  # no ratio: not judged


def test_a_side_without_data_is_null_and_flagged(wb, tmp_path):
    load(wb, {"u": [(0, "e"), (13 * D, "e"), (14 * D, "e")]})
    put_voice(wb, [{"item_id": "b1", "themes": ["crash"], "at": 2 * D}], ["crash"], tmp_path)
    row = table(wb, shipped(themes=("crash",))).loc[("tickets", "crash")]
    assert row.before == 1.0 and math.isnan(row.after) and math.isnan(row.change)
    assert row.flag == "no_data_after" and not row.significant  # no ticket at all after


def test_an_item_that_is_not_shipped_is_refused_with_what_to_do(wb):
    load(wb, FUNNEL)
    open_item = Item("BL-2", title="later", status="open", steps=("c",))
    with pytest.raises(BacklogError) as err:
        before_after(wb.con, CFG, open_item, as_of=AS_OF)
    assert err.value.code == "backlog.not_shipped" and "shipped_at" in err.value.hint
    undated = Item("BL-3", title="when?", status="shipped", steps=("c",))
    with pytest.raises(BacklogError, match="no shipped_at"):
        before_after(wb.con, CFG, undated, as_of=AS_OF)


def test_nothing_after_the_ship_date_is_refused(wb):
    load(wb, FUNNEL)
    with pytest.raises(BacklogError) as err:
        before_after(wb.con, CFG, shipped(steps=("c",)), as_of=SHIPPED)
    assert err.value.code == "backlog.no_after_data"
    late = Item("BL-4", title="x", status="shipped", shipped_at=datetime(2024, 3, 20, tzinfo=UTC))
    with pytest.raises(BacklogError, match="nothing after it"):
        before_after(wb.con, CFG, late, as_of=None)  # the data ends on day 14


def test_an_item_without_links_has_no_rows_and_says_so(wb):
    load(wb, FUNNEL)
    with pytest.warns(poa.PoaWarning, match="links no event, theme or funnel step"):
        result = run_impact(wb.con, ImpactQuery(config=CFG, item=shipped(), as_of=AS_OF))
    assert isinstance(result, ImpactResult) and result.table.empty
    assert list(result.table.columns) == COLUMNS


def test_an_unknown_event_is_refused(wb):
    load(wb, FUNNEL)
    with pytest.raises(BacklogError, match="Did you mean 'c'") as err:
        before_after(wb.con, CFG, shipped(events=("cc",)), as_of=AS_OF)
    assert err.value.code == "backlog.unknown_event"


# -- the demo: BL-101 fixes the Android crash, shipped 2026-11-02 ---------------------------------

STEPS = ["signed_up", "onboarding_started", "profile_completed"]
DEMO = ProductConfig(
    path="conf/product.toml",
    planning=Planning(period_weeks=3),
    funnel=Funnel((*STEPS, "project_created", "activated"), window="7d"),
)
BL101 = Item(
    "BL-101",
    title="Fix the Android crash",
    status="shipped",
    shipped_at=datetime(2026, 11, 2, tzinfo=UTC),
    steps=("profile_completed",),
    themes=("onboarding_crash",),
    segment={"platform": ["android"]},
)


@pytest.fixture(scope="module")
def demo_events(demo10k_files) -> pd.DataFrame:
    return read_demo_events(demo10k_files)


def test_bl101_shows_the_fix_in_android_conversion_and_crash_tickets(
    demo10k_wb, demo10k_files, demo_events
):
    e = demo_events
    end = e.timestamp.max()
    ship = pd.Timestamp("2026-11-02", tz="UTC")
    lo_bug, hi_bug = (pd.Timestamp(t) for t in st.android_bug_window())
    assert (lo_bug, hi_bug) == (ship - pd.Timedelta(weeks=3), ship)  # 3 weeks before = the bug
    with demo10k_wb.connection() as con:  # not .con: it stays held and a later test
        # opening the session's demo file again (the CLI's) cannot attach it
        t = before_after(con, DEMO, BL101, as_of=None).set_index("metric")
    conv = t.loc["conversion"]
    xb, nb = demo_conversion(e, ship - pd.Timedelta(weeks=3), ship, end, "android")
    xa, na = demo_conversion(e, ship, end, end, "android")
    assert (conv.n_before, conv.n_after) == (nb, na)
    assert (conv.before, conv.after) == (pytest.approx(xb / nb), pytest.approx(xa / na))
    assert conv.before == pytest.approx(st.ANDROID_BUG_PROFILE_RATE, abs=0.08)  # ~30%
    assert conv.after == pytest.approx(st.PROFILE_COMPLETION_RATE, abs=0.08)  # ~80%
    assert conv.significant and conv.ci_low > 0.3  # the rise is clear
    assert (conv.ci_low, conv.ci_high) == pytest.approx(newcombe(xa, na, xb, nb)[1:])
    # the crash tickets (tags android + bug: exactly the theme, tests/test_voice_demo.py)
    tickets = pd.read_csv(demo10k_files.tickets, dtype=str)
    tickets["created"] = pd.to_datetime(tickets["Created at"], utc=True)
    crash = tickets[tickets.Tags.str.contains("android") & tickets.Tags.str.contains("bug")]
    android_users = set(e.user_id[e.platform == "android"])
    crash = crash[crash["Requester external id"].isin(android_users)]
    before = int(((crash.created >= ship - pd.Timedelta(weeks=3)) & (crash.created < ship)).sum())
    after = int(((crash.created >= ship) & (crash.created < end)).sum())
    row = t.loc["tickets"]
    assert (row.link, row.n_before, row.n_after) == ("onboarding_crash", before, after)
    assert row.before == pytest.approx(before / 3) and before > 30
    assert row.after == pytest.approx(after / ((end - ship) / pd.Timedelta(weeks=1)))
    assert row.significant and row.ci_high < 1  # the tickets fell
    assert "short_after" in row.flag  # the data ends 2 weeks after the ship date, not 3


def test_bl101_from_the_project_product_file_and_the_demo_backlog(
    demo10k_wb, demo10k_files, demo_events
):
    """The real conf/product.toml (4 weeks a side) and the demo's backlog.csv, as b.impact reads
    them: BL-101's crash events, conversion and tickets all move the way the fix meant."""
    from poanalytics.backlog.config import read_product
    from poanalytics.backlog.items import read_items
    from tests.conftest import ROOT

    cfg = read_product(ROOT / "conf" / "product.toml")
    item = next(i for i in read_items(cfg, demo10k_files.backlog).items if i.item_id == "BL-101")
    assert (item.status, item.segment) == ("shipped", {"platform": ["android"]})
    with demo10k_wb.connection() as con:  # not .con: it stays held and a later test
        # opening the session's demo file again (the CLI's) cannot attach it
        t = before_after(con, cfg, item, as_of=None).set_index("metric")
    assert list(t.index) == ["adoption", "tickets", "conversion"]
    e = demo_events
    end, ship = e.timestamp.max(), pd.Timestamp("2026-11-02", tz="UTC")
    lo = ship - pd.Timedelta(weeks=cfg.planning.period_weeks)
    xb, nb = demo_conversion(e, lo, ship, end, "android")
    xa, na = demo_conversion(e, ship, end, end, "android")
    conv = t.loc["conversion"]
    assert (conv.before, conv.after) == (pytest.approx(xb / nb), pytest.approx(xa / na))
    assert conv.significant and conv.change > 0.25
    # adoption of app_error: Android users active in the window (platform on their first event)
    first = e.dropna(subset=["platform"]).sort_values("timestamp", kind="stable")
    android = set(first.groupby("user_id").platform.first().loc[lambda s: s == "android"].index)
    for (a, b), side in (((lo, ship), "before"), ((ship, end), "after")):
        w = e[(e.timestamp >= a) & (e.timestamp < b) & e.user_id.isin(android)]
        crashed = w.user_id[w.event == "app_error"].nunique()
        assert t.loc["adoption", side] == pytest.approx(crashed / w.user_id.nunique())
    crash = t.loc["adoption"]
    assert crash.link == "app_error" and crash.significant and crash.ci_high < 0
    tickets = t.loc["tickets"]
    assert tickets.significant and tickets.ci_high < 1 and tickets.n_before > 30
