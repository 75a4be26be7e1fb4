"""Support tickets of the demo, in the shape of a Zendesk CSV export.

Who files a ticket is drawn in SQL with the same hash draws as the events (so it depends only on
the seed and the user); the text, times and statuses are drawn in Python with a
``random.Random`` seeded by (seed, user, kind), so a user's ticket does not change when the number
of users does.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from ..sql import Params
from . import names as nm
from . import stories as st
from .events import USERS_TABLE

COLUMNS = [
    "Id",
    "Requester",
    "Requester email",
    "Requester external id",
    "Subject",
    "Description",
    "Status",
    "Priority",
    "Via",
    "Tags",
    "Created at",
    "Updated at",
    "Satisfaction Score",
]
FIRST_ID = 10001
PRICING_QUESTION_RATE = 0.01  # pro/business users asking for a quote (mentions price, no complaint)


@dataclass(frozen=True)
class Template:
    subject: str
    body: str
    tags: str


ANDROID_BUG = [
    Template(
        "App crashes on profile step",
        "Hi,\n\nI just signed up and the app crashes every time I tap Save on the profile step. "
        "I'm on a {device}, app version {version}. Reinstalling didn't help.\n\nThanks,\n{first}",
        "android onboarding bug crash",
    ),
    Template(
        "Android app closes when I save my profile",
        "Hello, the Android app closes as soon as I try to save my profile during setup. I tried three "
        "times on my {device}. Is there a workaround? I'd like to show the tool to my team at {company}.",
        "android onboarding bug",
    ),
    Template(
        "Can't finish onboarding on Android - crash",
        "Setup on my phone ({device}, Android app {version}) crashes on 'Complete your profile'. The web "
        "version works but I wanted to try the app first. Please fix.\n\n{first}",
        "android onboarding bug mobile",
    ),
    Template(
        "Profile screen crashes (Android)",
        "Every time I reach the profile screen the app freezes and then closes. {device}, latest update "
        "from the Play Store. Can't get past onboarding.",
        "android onboarding bug crash",
    ),
    Template(
        "Stuck at 'Complete your profile' on my phone",
        "Hi team, I can't get past the profile step in the Android app, it crashes when I press "
        "Continue. Tried on wifi and 4G. Device: {device}.\n\nRegards,\n{first} ({company})",
        "android onboarding bug",
    ),
]
PRICING = [
    Template(
        "Starter plan is too expensive for us",
        "Hi,\n\nWe like the product but the Starter price is too high for a team of our size. We only use "
        "a couple of dashboards. Is there a cheaper option? Otherwise we will have to cancel.\n\n{first}",
        "pricing billing churn_risk",
    ),
    Template(
        "Can we get a discount?",
        "Hello, {company} is a small team and the price of the Starter plan is hard to justify for "
        "us right now. Do you offer a discount for annual billing or startups?",
        "pricing billing discount",
    ),
    Template(
        "Cancel my subscription - price",
        "Please cancel our Starter subscription at the end of the period. Honestly the price is too "
        "much for what we use. Thanks for the help so far.\n\n{first}",
        "pricing billing cancellation",
    ),
    Template(
        "Why is the price per seat so high on Starter?",
        "We were surprised by the invoice this month. Paying per seat on Starter makes the price go up "
        "fast when we add people. Can you explain the pricing, or move us to something flat?",
        "pricing billing seats",
    ),
    Template(
        "Price increase on our invoice?",
        "Hi, our last invoice is higher than we expected. Did the price change? For the features we "
        "use it feels expensive compared to the alternatives we looked at.\n\n{first}, {company}",
        "pricing billing invoice",
    ),
]
PRICING_QUESTION = [
    Template(
        "Quote for the Business plan",
        "Hi, we are {seats} people at {company} and want to move to Business. What would the price be "
        "with annual billing? We need SSO.\n\n{first}",
        "pricing sales",
    ),
    Template(
        "Annual pricing for {seats} seats",
        "Could you send us pricing for {seats} seats on an annual contract? Our procurement needs a "
        "quote before the end of the quarter.",
        "pricing sales procurement",
    ),
]
GENERAL = [
    Template(
        "Export to CSV cuts off rows",
        "When I export a report with more than 10k rows to CSV the file stops halfway. Is there a limit?",
        "export bug",
    ),
    Template(
        "Do you support SAML SSO?",
        "Our IT team requires SAML single sign-on. Is it available on our plan ({plan})?",
        "sso security question",
    ),
    Template(
        "Slack integration stopped posting",
        "Our scheduled report used to post in Slack every Monday but nothing arrived this week.",
        "integrations slack",
    ),
    Template(
        "Dashboards take 20 seconds to load",
        "Since yesterday our main dashboard takes about 20 seconds to load. We have ~30 charts on it.",
        "performance dashboards",
    ),
    Template(
        "Teammate didn't get the invite email",
        "I invited a colleague from {company} twice but the invitation email never arrived. Spam folder "
        "is empty too.",
        "invite email",
    ),
    Template(
        "Need an invoice with our VAT number",
        "Hello, could you re-issue our last invoice with our VAT number? Our finance team needs it.",
        "billing invoice",
    ),
    Template(
        "Can't reset my password",
        "The password reset link says it has expired, even when I click it straight away.",
        "account login",
    ),
    Template(
        "How do I import events from Segment?",
        "We collect events with Segment. What's the best way to get them into a project?",
        "data_import question",
    ),
    Template(
        "Feature request: scheduled reports by email",
        "It would be great to email a report every morning to people who don't have an account.",
        "feature_request reports",
    ),
    Template(
        "Reports show the wrong time zone",
        "All times in the trend report look shifted by a few hours. We are in {country}.",
        "reports timezone",
    ),
    Template(
        "Please delete my personal data",
        "I'd like my personal data removed from your systems under GDPR. Thank you, {first}.",
        "privacy gdpr",
    ),
    Template(
        "Retention chart looks empty",
        "I created a retention report but the chart is empty although we have data for weeks.",
        "reports question",
    ),
]
TEMPLATES = {
    "android_bug": ANDROID_BUG,
    "pricing": PRICING,
    "pricing_question": PRICING_QUESTION,
    "general": GENERAL,
}
PRIORITY = {
    "android_bug": {"High": 0.6, "Urgent": 0.2, "Normal": 0.2},
    "pricing": {"Normal": 0.7, "Low": 0.15, "High": 0.15},
    "pricing_question": {"Normal": 0.8, "Low": 0.2},
    "general": {"Normal": 0.6, "Low": 0.25, "High": 0.15},
}
VIA = {
    "android_bug": {"Mobile SDK": 0.6, "Mail": 0.4},
    "pricing": {"Mail": 0.5, "Web Form": 0.3, "Chat": 0.2},
    "pricing_question": {"Mail": 0.6, "Web Form": 0.4},
    "general": {"Web Form": 0.45, "Mail": 0.35, "Chat": 0.2},
}
SATISFACTION = {
    "android_bug": {"Bad": 0.55, "Offered": 0.3, "Good": 0.15},
    "pricing": {"Bad": 0.45, "Offered": 0.4, "Good": 0.15},
    "pricing_question": {"Good": 0.4, "Offered": 0.4, "Unoffered": 0.2},
    "general": {"Good": 0.45, "Offered": 0.3, "Unoffered": 0.15, "Bad": 0.1},
}
RESOLUTION_HOURS = {
    "android_bug": (2, 120),
    "pricing": (1, 72),
    "pricing_question": (1, 48),
    "general": (0.5, 168),
}


def _weighted(rng: random.Random, shares: dict[str, float]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def candidates(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Signed-up users who file a ticket, one row per (user, kind), in a stable order."""
    p = Params()
    bug_p, price_c, price_p = (
        p.add(st.ANDROID_BUG_TICKET_RATE),
        p.add(st.PRICING_TICKET_RATE_CANCELLED),
        p.add(st.PRICING_TICKET_RATE),
    )
    story_plan, question_p, general_p = (
        p.add(st.PRICING_STORY_PLAN),
        p.add(PRICING_QUESTION_RATE),
        p.add(st.GENERAL_TICKET_RATE),
    )
    sql = f"""
        SELECT uid, user_id, full_name, email, company, platform, plan, final_plan, country, app_version,
               signup_ts, onb_ts, activated_ts, end_active, churn_ts, cancelled, cancel_reason, t_end, kind
        FROM (
            SELECT *, unnest(list_filter([
                CASE WHEN in_bug AND onb AND NOT profile AND demo_u(seed, uid, 0, 't_bug') < {bug_p}
                     THEN 'android_bug' END,
                CASE WHEN activated AND final_plan = {story_plan} AND demo_u(seed, uid, 0, 't_price')
                          < CASE WHEN cancelled AND cancel_reason = 'too_expensive' THEN {price_c}
                                 ELSE {price_p} END
                     THEN 'pricing' END,
                CASE WHEN activated AND final_plan IN ('pro', 'business')
                          AND demo_u(seed, uid, 0, 't_quote') < {question_p} THEN 'pricing_question' END,
                CASE WHEN demo_u(seed, uid, 0, 't_general') < {general_p} THEN 'general' END
            ], lambda x: x IS NOT NULL)) AS kind
            FROM {USERS_TABLE} WHERE signed
        )
        ORDER BY uid, kind"""
    cur = con.execute(sql, p.used_in(sql))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _created(rng: random.Random, c: dict) -> datetime:
    kind = c["kind"]
    if kind == "android_bug":
        return c["onb_ts"] + timedelta(minutes=rng.uniform(5, 36 * 60))
    if kind == "pricing" and c["cancelled"] and c["cancel_reason"] == "too_expensive":
        earliest = c["activated_ts"] + timedelta(hours=1)
        return max(earliest, c["churn_ts"] - timedelta(days=rng.uniform(0.2, 5)))
    start = c["activated_ts"] if kind in ("pricing", "pricing_question") else c["signup_ts"]
    stop = c["end_active"] or min(c["signup_ts"] + timedelta(days=14), c["t_end"])
    return start + (stop - start) * rng.random()


def make_tickets(con: duckdb.DuckDBPyConnection, seed: int) -> list[dict[str, str]]:
    """The ticket rows (Zendesk CSV columns), ordered by creation time, ids from 10001."""
    rows = []
    for c in candidates(con):
        rng = random.Random(f"{seed}:{c['uid']}:{c['kind']}:ticket")
        kind = c["kind"]
        t = rng.choice(TEMPLATES[kind])
        first = c["full_name"].split()[0]
        fill = {
            "first": first,
            "company": c["company"],
            "device": rng.choice(nm.ANDROID_DEVICES),
            "version": c["app_version"] or "5.0.0",
            "plan": c["final_plan"].title(),
            "seats": rng.choice([25, 40, 60, 120]),
            "country": c["country"],
        }
        created = _created(rng, c)
        t_end = c["t_end"]
        if created >= t_end - timedelta(minutes=5):
            created = t_end - timedelta(minutes=rng.uniform(5, 600))
        lo, hi = RESOLUTION_HOURS[kind]
        updated = created + timedelta(hours=rng.uniform(lo, hi))
        if updated < t_end:
            status = "Closed" if updated + timedelta(days=4) < t_end else "Solved"
            satisfaction = _weighted(rng, SATISFACTION[kind])
        else:
            status = rng.choice(["Open", "Pending"])
            updated = created + (t_end - created) * rng.uniform(0.0, 0.9)
            satisfaction = "Unoffered"
        tags = t.tags.split()
        if kind == "android_bug":
            tags += [x for x in st.ANDROID_BUG_TAGS if x not in tags]
        tags.append(f"plan_{c['final_plan']}")
        rows.append(
            {
                "_created": created,
                "_uid": c["uid"],
                "Requester": c["full_name"],
                "Requester email": c["email"],
                "Requester external id": c["user_id"],
                "Subject": t.subject.format(**fill),
                "Description": t.body.format(**fill),
                "Status": status,
                "Priority": _weighted(rng, PRIORITY[kind]),
                "Via": _weighted(rng, VIA[kind]),
                "Tags": " ".join(tags),
                "Created at": _iso(created),
                "Updated at": _iso(max(updated, created)),
                "Satisfaction Score": satisfaction,
            }
        )
    rows.sort(key=lambda r: (r["_created"], r["_uid"]))
    out = []
    for number, r in enumerate(rows, start=FIRST_ID):
        out.append({"Id": str(number), **{k: v for k, v in r.items() if not k.startswith("_")}})
    return out


def write_tickets(con: duckdb.DuckDBPyConnection, path: Path, seed: int) -> int:
    """Write tickets.csv; returns the number of tickets."""
    rows = make_tickets(con, seed)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return len(rows)
