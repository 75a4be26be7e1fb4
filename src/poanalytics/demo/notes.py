"""Interview notes of the demo: Markdown files with YAML front matter.

Each note has front matter (id, participant, user_id, date, segment, title, plus company, platform,
plan, interviewer), highlights as blockquotes ending in ``#tags`` (``> quote #pricing #churn``)
and tagged lines (``[pricing, churn] text``). Participants are real users of the generated events,
picked for the stories: Android users stuck at the profile step during the bug, Starter users who
cancelled, users who invited teammates, and a few others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import yaml

from ..sql import Params
from . import names as nm
from . import stories as st
from .events import USERS_TABLE

INTERVIEWERS = ["Mira (PM)", "Jonas (UX research)", "Aisha (PM)"]
QUOTAS = {"android_bug": 4, "pricing": 5, "teams": 3, "general": 4}
MIN_NOTES = 12


@dataclass(frozen=True)
class Kind:
    titles: list[str]
    quotes: list[str]
    lines: list[str]
    followups: list[str]


KINDS = {
    "android_bug": Kind(
        titles=[
            "Android onboarding: stuck at the profile step",
            "First session on Android",
            "Why I never finished setup",
        ],
        quotes=[
            "The app just closed when I tapped save on my profile. I tried three times and gave up. "
            "#android #onboarding #bug",
            "I thought it was my phone, so I tried my partner's Android phone. Same crash. #android #bug",
            "If a colleague hadn't told me about the web app I would never have come back. #onboarding #web",
            "I don't want to fill in a profile before I see any data anyway. #onboarding #friction",
            "It crashed right after I picked a profile photo. #android #bug #onboarding",
        ],
        lines=[
            "[android, onboarding, bug] Crash reproduced on {device}, app {version}; never reached project "
            "creation.",
            "[onboarding] Would skip the profile step if allowed.",
            "[android, churn] Has not opened the app since the crash.",
        ],
        followups=[
            "Send the crash details to the mobile team",
            "Invite to re-try once the fix ships",
        ],
    ),
    "pricing": Kind(
        titles=["Why we left Starter", "Starter cancellation interview", "Exit interview: price"],
        quotes=[
            "For a team our size the Starter price is simply too high. #pricing #churn",
            "We used two dashboards. Paying per seat for that didn't make sense. #pricing #value",
            "I would have stayed at half the price, honestly. #pricing #churn",
            "The jump from Free to Starter felt big; there's nothing in between. #pricing #packaging",
            "Our finance lead asked why this costs more than our CRM. #pricing",
            "The product is good, the price is the problem. #pricing #churn",
        ],
        lines=[
            "[pricing, churn] Cancelled Starter after {days} days; main reason is the price per seat.",
            "[pricing, packaging] Asked for a cheaper plan with fewer features, or an annual discount.",
            "[retention] Would come back with a smaller plan.",
        ],
        followups=[
            "Share with pricing working group",
            "Check seat counts of similar Starter accounts",
        ],
    ),
    "teams": Kind(
        titles=[
            "How {company} uses shared dashboards",
            "Rolling out to the team",
            "Collaboration in practice",
        ],
        quotes=[
            "Once my colleague joined, we started checking the dashboards every morning. "
            "#collaboration #retention",
            "Sharing a report with a link is the feature that sold it to my manager. #collaboration #sharing",
            "Inviting the team early made it part of our weekly review. #collaboration #onboarding",
            "Comments on charts replaced a lot of Slack threads for us. #collaboration",
        ],
        lines=[
            "[collaboration, retention] Invited a teammate in the first days; usage grew afterwards.",
            "[feature_request] Wants team-level permissions.",
        ],
        followups=["Ask for a case study", "Test an invite prompt in onboarding"],
    ),
    "general": Kind(
        titles=[
            "Reporting workflow at {company}",
            "Power user interview",
            "How {first} reports to leadership",
        ],
        quotes=[
            "Exports are the thing I use most; I paste them into our board deck. #export",
            "Dashboards get slow once you have more than twenty charts. #performance #dashboards",
            "I need SSO before I can roll this out to the whole company. #sso #enterprise",
            "A Slack digest every Monday would save me a login. #integrations #feature_request",
            "Setting up the first project took five minutes, which was great. #onboarding #positive",
            "Retention charts are what convinced us, we had no view on that before. #retention #reports",
        ],
        lines=[
            "[export] Uses CSV export weekly for leadership updates.",
            "[performance, dashboards] Dashboard load time hurts with many charts.",
            "[sso, enterprise] Security review requires SAML.",
        ],
        followups=["Add to the dashboards performance investigation", "Follow up on SSO timeline"],
    ),
}


def _pool(con: duckdb.DuckDBPyConnection, kind: str) -> list[dict]:
    p = Params()
    where = {
        "android_bug": "in_bug AND onb AND NOT profile",
        "pricing": f"cancelled AND final_plan = {p.add(st.PRICING_STORY_PLAN)}",
        "teams": "invite AND activated AND NOT coalesce(cancelled, false) AND end_active >= t_end",
        "general": f"activated AND final_plan <> {p.add(st.PRICING_STORY_PLAN)} AND NOT invite",
    }[kind]
    salt = p.add("note_" + kind)
    # exit interviews go to those who cancelled because of the price first
    order = "cancel_reason IS DISTINCT FROM 'too_expensive', " if kind == "pricing" else ""
    sql = f"""
        SELECT uid, user_id, full_name, company, platform, plan, final_plan, app_version, signup_ts, onb_ts,
               activated_ts, invite_ts, churn_ts, cancel_reason, end_active, t_end, first_seen
        FROM {USERS_TABLE} WHERE signed AND {where}
        ORDER BY {order}demo_u(seed, uid, 0, {salt}), uid"""
    cur = con.execute(sql, p.used_in(sql))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _when(rng: random.Random, kind: str, u: dict) -> datetime:
    t_end: datetime = u["t_end"]
    if kind == "android_bug":
        when = u["onb_ts"] + timedelta(days=rng.uniform(3, 12))
    elif kind == "pricing":
        when = u["churn_ts"] + timedelta(days=rng.uniform(1, 7))
    else:
        start = u["activated_ts"] + timedelta(days=7)
        when = start + (t_end - start) * rng.random() if start < t_end else u["activated_ts"]
    return min(when, t_end - timedelta(days=1))


def _text(
    rng: random.Random, kind: str, u: dict, when: datetime, interviewer: str
) -> tuple[str, str]:
    k = KINDS[kind]
    first = u["full_name"].split()[0]
    fill = {
        "company": u["company"],
        "first": first,
        "device": rng.choice(nm.ANDROID_DEVICES),
        "version": u["app_version"] or "5.0.0",
        "days": max(1, (u["churn_ts"] - u["activated_ts"]).days) if u["churn_ts"] else 0,
    }
    title = rng.choice(k.titles).format(**fill)
    plan = u["final_plan"]
    if kind == "android_bug":
        context = (
            f"Signed up on {u['signup_ts']:%Y-%m-%d} in the Android app ({fill['version']}) and "
            "stopped at the profile step of onboarding."
        )
    elif kind == "pricing":
        context = (
            f"Activated on {u['activated_ts']:%Y-%m-%d}; cancelled the Starter plan on "
            f"{u['churn_ts']:%Y-%m-%d} (reason given in the app: {u['cancel_reason']})."
        )
    elif kind == "teams":
        context = (
            f"Activated on {u['activated_ts']:%Y-%m-%d} and invited a teammate on "
            f"{u['invite_ts']:%Y-%m-%d}; still active."
        )
    else:
        context = f"Signed up on {u['signup_ts']:%Y-%m-%d}; {plan} plan, mostly on {u['platform']}."
    quotes = rng.sample(k.quotes, k=min(len(k.quotes), rng.randint(3, 4)))
    lines = rng.sample(k.lines, k=min(len(k.lines), 2))
    parts = [
        f"# {title}",
        "",
        f"Interview with {u['full_name']} ({u['company']}, {plan} plan, {u['platform']}) on "
        f"{when:%Y-%m-%d}. Interviewer: {interviewer}.",
        "",
        "## Context",
        "",
        context,
        "",
        "## Highlights",
        "",
    ]
    for q in quotes:
        parts += [f"> {q}", ""]
    parts += ["## Notes", ""]
    for line in lines:
        parts += [line.format(**fill), ""]
    parts += ["## Follow-ups", ""]
    parts += [f"- {f}" for f in k.followups]
    return title, "\n".join(parts) + "\n"


def make_notes(con: duckdb.DuckDBPyConnection, seed: int) -> list[tuple[str, dict, str]]:
    """(file name, front matter, body) for every note, ids INT-001.. in date order."""
    rng = random.Random(f"{seed}:notes")
    chosen: list[tuple[str, dict]] = []
    used: set[int] = set()
    for kind, quota in QUOTAS.items():
        for u in _pool(con, kind):
            if len([c for c in chosen if c[0] == kind]) >= quota:
                break
            if u["uid"] not in used:
                chosen.append((kind, u))
                used.add(u["uid"])
    if len(chosen) < MIN_NOTES:  # tiny data sets: fill up with everyday users
        extra = [u for u in _pool(con, "general") if u["uid"] not in used]
        chosen += [("general", u) for u in extra[: MIN_NOTES - len(chosen)]]
    drafts = []
    for kind, u in chosen:
        when = _when(rng, kind, u)
        drafts.append((when, u["uid"], kind, u))
    drafts.sort(key=lambda d: (d[0], d[1]))
    notes = []
    for number, (when, _uid, kind, u) in enumerate(drafts, start=1):
        interviewer = rng.choice(INTERVIEWERS)
        title, body = _text(rng, kind, u, when, interviewer)
        note_id = f"INT-{number:03d}"
        front = {
            "id": note_id,
            "participant": u["full_name"],
            "user_id": u["user_id"],
            "date": date(when.year, when.month, when.day),
            "segment": u["final_plan"],
            "title": title,
            "company": u["company"],
            "platform": u["platform"],
            "plan": u["final_plan"],
            "interviewer": interviewer,
        }
        notes.append((f"{when:%Y-%m-%d}-{note_id.lower()}.md", front, body))
    return notes


def write_notes(con: duckdb.DuckDBPyConnection, folder: Path, seed: int) -> int:
    """Write notes/*.md (removing Markdown files a previous run left); returns the number of notes."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.md"):
        old.unlink()
    notes = make_notes(con, seed)
    for name, front, body in notes:
        head = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, default_flow_style=False)
        (folder / name).write_text(f"---\n{head}---\n\n{body}", encoding="utf-8")
    return len(notes)
