"""The product backlog of the demo: items the planted stories justify (and a few they do not)."""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ["id", "title", "description", "effort", "themes", "funnel_step"]

# (id, title, description, effort in points, themes separated by ';', linked funnel step)
ITEMS: list[tuple[str, str, str, int, str, str]] = [
    (
        "BL-101",
        "Fix Android crash on the profile step",
        "The Android app closes when saving the profile during onboarding (release 5.x). Reproduce, fix, "
        "hot-fix release.",
        3,
        "android;onboarding;bug",
        "profile_completed",
    ),
    (
        "BL-102",
        "Crash reporting and a release gate for mobile",
        "Crash-free-session alerting and a staged rollout so an onboarding crash is caught in hours, not "
        "weeks.",
        5,
        "android;ios;quality",
        "profile_completed",
    ),
    (
        "BL-103",
        "Make the profile step skippable",
        "Let new users skip the profile and fill it in later; it is the biggest drop in onboarding.",
        2,
        "onboarding",
        "profile_completed",
    ),
    (
        "BL-104",
        "Review Starter pricing",
        "Starter users cancel within weeks and name price as the reason. Test a lower price or a flat "
        "small-team price.",
        5,
        "pricing;churn",
        "subscription_cancelled",
    ),
    (
        "BL-105",
        "Annual billing discount",
        "Offer 2 months free on annual plans for Starter and Pro.",
        3,
        "pricing;retention",
        "plan_upgraded",
    ),
    (
        "BL-106",
        "Cancellation survey and save offer",
        "Ask why on cancel and offer a downgrade or a discount to price-sensitive accounts.",
        3,
        "churn;pricing",
        "subscription_cancelled",
    ),
    (
        "BL-107",
        "Invite-a-teammate prompt in onboarding",
        "Users who invite a teammate stay much longer; prompt for an invite right after the first project.",
        3,
        "collaboration;retention;onboarding",
        "teammate_invited",
    ),
    (
        "BL-108",
        "Shared team dashboards",
        "Dashboards owned by a team with comments and link sharing.",
        8,
        "collaboration;dashboards",
        "activated",
    ),
    (
        "BL-109",
        "Fix invite emails that never arrive",
        "Some invitation emails are not delivered; add delivery tracking and a resend button.",
        2,
        "collaboration;bug",
        "teammate_invited",
    ),
    (
        "BL-110",
        "Scheduled exports by email",
        "Email a report as CSV/PDF on a schedule.",
        5,
        "export;reports",
        "export_clicked",
    ),
    (
        "BL-111",
        "SAML single sign-on",
        "SSO for Business accounts; blocks several company-wide roll-outs.",
        8,
        "sso;enterprise;security",
        "signed_up",
    ),
    (
        "BL-112",
        "Faster dashboards with many charts",
        "Load charts in parallel and cache queries; dashboards with 20+ charts take 20 seconds.",
        5,
        "performance;dashboards",
        "dashboard_viewed",
    ),
    (
        "BL-113",
        "Slack weekly digest",
        "Post a summary of key charts to Slack every Monday.",
        5,
        "integrations;retention",
        "activated",
    ),
    (
        "BL-114",
        "Pricing page comparison table",
        "Clearer comparison of Free, Starter, Pro and Business on the pricing page.",
        2,
        "pricing;acquisition",
        "signed_up",
    ),
]


def write_backlog(path: Path) -> int:
    """Write backlog.csv; returns the number of items."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(ITEMS)
    return len(ITEMS)
