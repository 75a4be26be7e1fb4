"""The product backlog of the demo: items the planted stories justify (and a few they do not)."""

from __future__ import annotations

import csv
from pathlib import Path

# The poanalytics backlog columns (docs/backlog-config.md); list cells are separated by ";".
COLUMNS = [
    "id",
    "title",
    "description",
    "effort",  # points ([planning] effort_unit and points_per_week of conf/product.toml)
    "status",  # open | in_progress | shipped | dropped
    "shipped_at",  # when a shipped item reached users
    "objectives",  # objectives of conf/product.toml it serves directly (impacts add more)
    "steps",  # steps of the [funnel] it changes
    "events",  # events whose users it reaches
    "themes",  # voice themes of conf/themes.toml it answers
    "segment",  # the users it is for: property=value|value
    "moscow",  # the product owner's MoSCoW label
    "impact",  # Intercom's scale 3 / 2 / 1 / 0.5 / 0.25: the product owner's judgement, not data
    "business_value",  # WSJF inputs, relative (1 2 3 5 8 13 20): the product owner's judgement
    "time_criticality",
    "risk_reduction",
    "job_size",  # empty: from effort
]

# One dict per item. Links point at the planted stories (docs/demo.md): story (a) the Android crash
# at profile_completed (BL-101 fixed it, shipped 2026-11-02 when the bug ends; BL-102, BL-103),
# story (b) Starter churning on price (BL-104, BL-106; BL-105), story (c) teams that invite stay
# (BL-107; BL-108, BL-109). `impact` and the WSJF inputs are the product owner's judgement (the
# evidence ledger measures reach and confidence from the data, never from these): BL-102's release
# gate is "high" (2: it catches the next onboarding crash in hours), BL-109's invite e-mails
# "minimal" (0.25: a few e-mails a week go missing). Links are whom an item reaches: BL-110
# (scheduled exports) links the themes asking for it, not everyone who clicks export; BL-112's 13
# points are a rewrite of the query layer. BL-111 (SAML SSO) is linked to nothing measurable on
# purpose: the ordering must give it low confidence and say so.
ITEMS: list[dict[str, str]] = [
    {
        "id": "BL-101",
        "title": "Fix Android crash on the profile step",
        "description": "The Android app closes when saving the profile during onboarding (release 5.x). "
        "Reproduce, fix, hot-fix release.",
        "effort": "3",
        "status": "shipped",
        "shipped_at": "2026-11-02",
        "objectives": "finish_onboarding;fewer_crash_tickets",
        "steps": "profile_completed",
        "events": "app_error",
        "themes": "onboarding_crash",
        "segment": "platform=android",
        "moscow": "must",
        "impact": "3",
        "business_value": "13",
        "time_criticality": "13",
        "risk_reduction": "8",
        "job_size": "",
    },
    {
        "id": "BL-102",
        "title": "Crash reporting and a release gate for mobile",
        "description": "Crash-free-session alerting and a staged rollout so an onboarding crash is "
        "caught in hours, not weeks.",
        "effort": "5",
        "status": "open",
        "shipped_at": "",
        "objectives": "",
        "steps": "profile_completed",
        "events": "app_error",
        "themes": "onboarding_crash",
        "segment": "platform=android|ios",
        "moscow": "should",
        "impact": "2",
        "business_value": "5",
        "time_criticality": "8",
        "risk_reduction": "13",
        "job_size": "",
    },
    {
        "id": "BL-103",
        "title": "Make the profile step skippable",
        "description": "Let new users skip the profile and fill it in later; it is the biggest drop in "
        "onboarding.",
        "effort": "2",
        "status": "open",
        "shipped_at": "",
        "objectives": "finish_onboarding",
        "steps": "profile_completed",
        "events": "",
        "themes": "",
        "segment": "",
        "moscow": "should",
        "impact": "2",
        "business_value": "8",
        "time_criticality": "5",
        "risk_reduction": "3",
        "job_size": "",
    },
    {
        "id": "BL-104",
        "title": "Review Starter pricing",
        "description": "Starter users cancel within weeks and name price as the reason. Test a lower "
        "price or a flat small-team price.",
        "effort": "5",
        "status": "open",
        "shipped_at": "",
        "objectives": "keep_starter",
        "steps": "",
        "events": "subscription_cancelled",
        "themes": "pricing",
        "segment": "plan=starter",
        "moscow": "must",
        "impact": "2",
        "business_value": "13",
        "time_criticality": "8",
        "risk_reduction": "5",
        "job_size": "",
    },
    {
        "id": "BL-105",
        "title": "Annual billing discount",
        "description": "Offer 2 months free on annual plans for Starter and Pro.",
        "effort": "3",
        "status": "open",
        "shipped_at": "",
        "objectives": "",
        "steps": "",
        "events": "plan_upgraded",
        "themes": "",
        "segment": "plan=starter|pro",
        "moscow": "could",
        "impact": "0.5",
        "business_value": "5",
        "time_criticality": "2",
        "risk_reduction": "2",
        "job_size": "",
    },
    {
        "id": "BL-106",
        "title": "Cancellation survey and save offer",
        "description": "Ask why on cancel and offer a downgrade or a discount to price-sensitive "
        "accounts.",
        "effort": "3",
        "status": "in_progress",
        "shipped_at": "",
        "objectives": "keep_starter",
        "steps": "",
        "events": "subscription_cancelled",
        "themes": "pricing",
        "segment": "plan=starter",
        "moscow": "should",
        "impact": "1",
        "business_value": "8",
        "time_criticality": "5",
        "risk_reduction": "3",
        "job_size": "",
    },
    {
        "id": "BL-107",
        "title": "Invite-a-teammate prompt in onboarding",
        "description": "Users who invite a teammate stay much longer; prompt for an invite right after "
        "the first project.",
        "effort": "3",
        "status": "open",
        "shipped_at": "",
        "objectives": "teams_retain",
        "steps": "",
        "events": "teammate_invited",
        "themes": "invites;collaboration",
        "segment": "",
        "moscow": "should",
        "impact": "2",
        "business_value": "8",
        "time_criticality": "3",
        "risk_reduction": "5",
        "job_size": "",
    },
    {
        "id": "BL-108",
        "title": "Shared team dashboards",
        "description": "Dashboards owned by a team with comments and link sharing.",
        "effort": "8",
        "status": "open",
        "shipped_at": "",
        "objectives": "",
        "steps": "",
        "events": "report_shared;comment_added",
        "themes": "collaboration",
        "segment": "",
        "moscow": "could",
        "impact": "0.25",
        "business_value": "5",
        "time_criticality": "1",
        "risk_reduction": "2",
        "job_size": "",
    },
    {
        "id": "BL-109",
        "title": "Fix invite emails that never arrive",
        "description": "Some invitation emails are not delivered; add delivery tracking and a resend "
        "button.",
        "effort": "2",
        "status": "open",
        "shipped_at": "",
        "objectives": "",
        "steps": "",
        "events": "teammate_invited",
        "themes": "invites",
        "segment": "",
        "moscow": "could",
        "impact": "0.25",
        "business_value": "3",
        "time_criticality": "2",
        "risk_reduction": "1",
        "job_size": "",
    },
    {
        "id": "BL-110",
        "title": "Scheduled exports by email",
        "description": "Email a report as CSV/PDF on a schedule.",
        "effort": "5",
        "status": "open",
        "shipped_at": "",
        "objectives": "",
        "steps": "",
        "events": "",
        "themes": "export;scheduled_reports",
        "segment": "",
        "moscow": "could",
        "impact": "0.25",
        "business_value": "3",
        "time_criticality": "1",
        "risk_reduction": "1",
        "job_size": "",
    },
    {
        "id": "BL-111",
        "title": "SAML single sign-on",
        "description": "SSO for Business accounts; blocks several company-wide roll-outs.",
        "effort": "8",
        "status": "open",
        "shipped_at": "",
        "objectives": "",
        "steps": "",
        "events": "",
        "themes": "",
        "segment": "",
        "moscow": "could",
        "impact": "1",
        "business_value": "8",
        "time_criticality": "3",
        "risk_reduction": "8",
        "job_size": "",
    },
    {
        "id": "BL-112",
        "title": "Faster dashboards with many charts",
        "description": "Load charts in parallel and cache queries; dashboards with 20+ charts take 20 "
        "seconds.",
        "effort": "13",
        "status": "open",
        "shipped_at": "",
        "objectives": "",
        "steps": "",
        "events": "dashboard_viewed",
        "themes": "performance",
        "segment": "",
        "moscow": "could",
        "impact": "0.25",
        "business_value": "5",
        "time_criticality": "2",
        "risk_reduction": "3",
        "job_size": "",
    },
    {
        "id": "BL-113",
        "title": "Slack weekly digest",
        "description": "Post a summary of key charts to Slack every Monday.",
        "effort": "5",
        "status": "open",
        "shipped_at": "",
        "objectives": "",
        "steps": "",
        "events": "",
        "themes": "integrations",
        "segment": "",
        "moscow": "wont",
        "impact": "0.25",
        "business_value": "2",
        "time_criticality": "1",
        "risk_reduction": "1",
        "job_size": "",
    },
    {
        "id": "BL-114",
        "title": "Pricing page comparison table",
        "description": "Clearer comparison of Free, Starter, Pro and Business on the pricing page.",
        "effort": "2",
        "status": "open",
        "shipped_at": "",
        "objectives": "fewer_price_complaints",
        "steps": "",
        "events": "",
        "themes": "pricing",
        "segment": "",
        "moscow": "could",
        "impact": "0.25",
        "business_value": "3",
        "time_criticality": "2",
        "risk_reduction": "1",
        "job_size": "",
    },
]


def write_backlog(path: Path) -> int:
    """Write backlog.csv (COLUMNS); returns the number of items."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(ITEMS)
    return len(ITEMS)
