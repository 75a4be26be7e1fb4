"""Acceptance on the demo data (issue 10): the planted stories come out of the voice analyses.

(a) the Android onboarding bug: its crash theme spikes in exactly the bug's weeks and goes with
    dropping at profile_completed in signed_up -> onboarding_started -> profile_completed;
(b) Starter churns on price: the price theme goes with churn among Starter users.
The expected numbers are computed here with pandas from the demo's files (events.parquet,
tickets.csv), independently of the SQL under test. The demo has 10,000 users: at the default 2,000
the bug files 10 tickets in three weeks (1 in its first), too few for the small-sample rule (30
users a side) and for a spike in week 5 (1 item after quiet weeks is p = 0.11).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy.stats import fisher_exact as scipy_fisher

import poanalytics as poa
from poanalytics.demo import stories as st

CRASH, PRICE = "onboarding_crash", "pricing"
WINDOW = pd.Timedelta(days=7)
N = pd.Timedelta(days=28)
Z = 1.959963984540054
STEPS = ["signed_up", "onboarding_started", "profile_completed"]


@pytest.fixture(scope="module")
def demo_files(demo10k_files):
    return demo10k_files


@pytest.fixture(scope="module")
def demo_wb(demo10k_wb):
    return demo10k_wb


@pytest.fixture(scope="module")
def events(demo_files) -> pd.DataFrame:
    e = pd.read_parquet(demo_files.events, columns=["user_id", "event", "timestamp", "properties"])
    e["plan"] = e.properties.str.extract(r'"plan":"([^"]*)"', expand=False)
    return e


@pytest.fixture(scope="module")
def tickets(demo_files) -> pd.DataFrame:
    t = pd.read_csv(demo_files.tickets, dtype=str)
    t["created"] = pd.to_datetime(t["Created at"], utc=True)
    t["crash"] = t.Tags.str.contains("android") & t.Tags.str.contains("bug")
    return t


def assigned(wb: poa.Workbench, theme: str) -> set[str]:
    sql = "SELECT item_id FROM voice_assignments WHERE theme = ? AND source = 'tickets'"
    return set(wb.sql(sql, [theme]).item_id)


def expected_row(a: int, b: int, c: int, d: int) -> dict[str, float]:
    """[[with & outcome, with & not], [without & outcome, without & not]] -> the lift columns."""
    rate_with, rate_without = a / (a + b), c / (c + d)
    lift = rate_with / rate_without
    se = math.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d))
    return {
        "users_with": a + b,
        "users_without": c + d,
        "outcome_with": a,
        "outcome_without": c,
        "rate_with": rate_with,
        "rate_without": rate_without,
        "lift": lift,
        "ci_low": lift * math.exp(-Z * se),
        "ci_high": lift * math.exp(Z * se),
        "p_value": scipy_fisher([[a, b], [c, d]]).pvalue,
        "share_outcome": a / (a + c),
        "share_other": b / (b + d),
    }


def check_row(row: pd.Series, want: dict[str, float]) -> None:
    for col, value in want.items():
        assert row[col] == pytest.approx(value, rel=1e-9), col


def bug_weeks(end: str = st.DEFAULT_END) -> set[pd.Timestamp]:
    e = st.parse_end(end)
    return {pd.Timestamp(st.week_start(e, k)).tz_localize(None) for k in st.ANDROID_BUG_WEEKS}


def test_the_crash_theme_holds_exactly_the_planted_crash_tickets(demo_wb, tickets):
    assert assigned(demo_wb, CRASH) == set(tickets.Id[tickets.crash])


def test_the_crash_theme_spikes_in_the_bug_weeks_and_nowhere_else(demo_wb, tickets):
    t = demo_wb.theme_trends(theme=CRASH, source="tickets").table
    weekly = (
        tickets[tickets.crash]
        .created.dt.tz_localize(None)
        .dt.to_period("W-SUN")
        .dt.start_time.value_counts()
    )
    got = t.set_index("period_start")["items"]
    assert got.sum() == tickets.crash.sum()
    assert {w: n for w, n in got.items() if n} == {w: n for w, n in weekly.items()}
    first = tickets.created.min().tz_localize(None).to_period("W-SUN").start_time
    assert t.period_start.iloc[0] == first and len(t) == 16  # every week, empty ones as 0
    spikes = set(t.period_start[t.spike.fillna(False).astype(bool)])
    assert spikes == bug_weeks()
    assert bool(t.incomplete.iloc[-1]) and not t.incomplete.iloc[:-1].any()
    everything = demo_wb.theme_trends(theme=CRASH).table  # with the interview notes too
    assert set(everything.period_start[everything.spike.fillna(False).astype(bool)]) == bug_weeks()


def funnel_population(events: pd.DataFrame) -> pd.DataFrame:
    """Per user who reached onboarding_started: converted (profile_completed in the window) or
    dropped with the window closed; users still in their window are left out (F12)."""
    end = events.timestamp.max()
    first = {}
    for name in STEPS:
        first[name] = events[events.event == name][["user_id", "timestamp"]]
    signups = first["signed_up"]
    assert not signups.user_id.duplicated().any()  # one sign-up each: one attempt each
    t1 = signups.rename(columns={"timestamp": "t1"})
    on = first["onboarding_started"].merge(t1, on="user_id")
    on = on[(on.timestamp >= on.t1) & (on.timestamp - on.t1 <= WINDOW)]
    t2 = on.groupby("user_id").timestamp.min().rename("t2").reset_index().merge(t1, on="user_id")
    pc = first["profile_completed"].merge(t2, on="user_id")
    pc = pc[(pc.timestamp >= pc.t2) & (pc.timestamp - pc.t1 <= WINDOW)]
    t2["converted"] = t2.user_id.isin(pc.user_id)
    t2["open"] = t2.t1 + WINDOW > end
    return t2[t2.converted | ~t2.open][["user_id", "converted"]]


def test_the_crash_theme_goes_with_dropping_at_profile_completed(demo_wb, events, tickets):
    pop = funnel_population(events)
    crash_users = set(tickets["Requester external id"][tickets.crash])
    pop["with"] = pop.user_id.isin(crash_users)
    pop["dropped"] = ~pop.converted
    a = int((pop["with"] & pop.dropped).sum())
    b = int((pop["with"] & ~pop.dropped).sum())
    c = int((~pop["with"] & pop.dropped).sum())
    d = int((~pop["with"] & ~pop.dropped).sum())
    f = demo_wb.funnel(STEPS, window="7d")
    r = demo_wb.theme_lift((f, 3), source="tickets")
    row = r.table.set_index("theme").loc[CRASH]
    check_row(row, expected_row(a, b, c, d))
    assert a + b >= 30 and not row.small_sample and row.significant and row.lift > 2
    assert (r.population, r.outcomes) == (len(pop), int(pop.dropped.sum()))
    # with the interview notes as well: still clear
    both = demo_wb.theme_lift((f, 3)).table.set_index("theme").loc[CRASH]
    assert both.significant and both.lift > 2


def churn_population(events: pd.DataFrame) -> pd.DataFrame:
    """L2 with N = 28 days: population (first event N days before the end), churned, and the plan
    (first non-empty value on the user's events, "no plan" without one)."""
    end = events.timestamp.max()
    e = events.sort_values("timestamp", kind="stable")
    users = e.groupby("user_id").timestamp.agg(["min", "max"])
    plans = e[e.plan.fillna("") != ""].groupby("user_id").plan.first()
    users["plan"] = plans.reindex(users.index).fillna("no plan")
    users = users[users["min"] + N <= end]
    users["churned"] = users["max"] + N <= end
    return users


def test_the_price_theme_goes_with_churn_among_starter_users(demo_wb, events, tickets):
    users = churn_population(events)
    until = events.timestamp.max() - N
    price_ids = assigned(demo_wb, PRICE)
    complaints = set(
        tickets.Id[tickets.Tags.str.contains("billing") & tickets.Tags.str.contains("pricing")]
    )
    assert complaints <= price_ids  # every planted price complaint is in the theme
    said = tickets[tickets.Id.isin(price_ids) & (tickets.created <= until)]
    users["with"] = users.index.isin(set(said["Requester external id"]))
    r = demo_wb.theme_lift("churn", segment="plan", source="tickets")
    assert r.items_until == until
    t = r.table.set_index(["segment", "theme"])
    for plan, g in users.groupby("plan"):
        a = int((g["with"] & g.churned).sum())
        b = int((g["with"] & ~g.churned).sum())
        c = int((~g["with"] & g.churned).sum())
        d = int((~g["with"] & ~g.churned).sum())
        row = t.loc[(plan, PRICE)]
        assert (row.users_with, row.outcome_with, row.users_without, row.outcome_without) == (
            a + b,
            a,
            c + d,
            c,
        ), plan
        if a and c and b + d:
            check_row(row, expected_row(a, b, c, d))
    starter = t.loc[(st.PRICING_STORY_PLAN, PRICE)]
    assert starter.significant and starter.lift > 1
    assert starter.share_outcome > 2 * starter.share_other  # over-represented among the churned
    others = [s for s in t.index.get_level_values(0).unique() if s != st.PRICING_STORY_PLAN]
    assert not any(
        t.loc[(s, PRICE), "significant"] and t.loc[(s, PRICE), "lift"] > 1 for s in others
    )


def test_the_join_rate_on_the_demo(demo_wb, tickets):
    """Tickets carry Requester external id = user_id: every ticket joins by user id."""
    j = demo_wb.voice_join(source="tickets").set_index("source").loc["tickets"]
    n = len(tickets)
    assert (j["items"], j.joined, j.by_user_id, j.by_email, j.unjoined, j.rate) == (
        n,
        n,
        n,
        0,
        0,
        1.0,
    )


@pytest.mark.parametrize("how", ["email", "hash"])
def test_the_demo_joined_by_email_or_its_hash_alone_gives_the_same_story(
    demo_wb, events, tickets, how
):
    """Without user ids on the items, the requester e-mails find the users through the e-mail on
    their signed_up events ("email"), or, with those e-mails replaced by their sha256 in an
    email_sha256 property, through the hash ("hash"); an e-mail two users share is left out,
    never guessed."""
    mails = events[events.event == "signed_up"].copy()
    mails["email"] = (
        mails.properties.str.extract(r'"email":"([^"]*)"', expand=False).str.strip().str.lower()
    )
    owners = mails.dropna(subset=["email"]).groupby("email").user_id.nunique()
    req = tickets["Requester email"].str.strip().str.lower()
    unique = req.map(owners).eq(1)
    with demo_wb.connection(write=True) as con:
        con.execute("CREATE TEMP TABLE kept AS SELECT source, item_id, user_id FROM voice_items")
        con.execute("UPDATE voice_items SET user_id = NULL")
        con.execute(
            "CREATE TEMP TABLE kept_props AS SELECT rowid AS r, properties FROM events "
            "WHERE properties->>'email' IS NOT NULL"
        )
        if how == "hash":
            con.execute(
                "UPDATE events SET properties = json_merge_patch(properties, json_object("
                "'email', NULL, 'email_sha256', sha256(lower(trim(properties->>'email'))))) "
                "WHERE properties->>'email' IS NOT NULL"
            )
    try:
        j = demo_wb.voice_join(source="tickets").set_index("source").loc["tickets"]
        by, other = ("by_email", "by_hash") if how == "email" else ("by_hash", "by_email")
        assert (j["items"], j[by], j.joined, j[other], j.by_user_id) == (
            len(tickets),
            int(unique.sum()),
            int(unique.sum()),
            0,
            0,
        )
        assert j.ambiguous == int(req.map(owners).gt(1).sum())
        pop = funnel_population(events)
        crash_users = set(tickets["Requester external id"][tickets.crash & unique])
        pop["with"] = pop.user_id.isin(crash_users)
        a = int((pop["with"] & ~pop.converted).sum())
        b = int((pop["with"] & pop.converted).sum())
        c = int((~pop["with"] & ~pop.converted).sum())
        d = int((~pop["with"] & pop.converted).sum())
        f = demo_wb.funnel(STEPS, window="7d")
        row = demo_wb.theme_lift((f, 3), source="tickets").table.set_index("theme").loc[CRASH]
        check_row(row, expected_row(a, b, c, d))
    finally:
        with demo_wb.connection(write=True) as con:
            con.execute(
                "UPDATE voice_items v SET user_id = k.user_id FROM kept k "
                "WHERE k.source = v.source AND k.item_id = v.item_id"
            )
            con.execute(
                "UPDATE events SET properties = k.properties FROM kept_props k WHERE events.rowid = k.r"
            )
            con.execute("DROP TABLE kept")
            con.execute("DROP TABLE kept_props")
