"""The knobs of the demo data set, and the stories planted in it.

Every rate and window the generator uses is a constant here, so tests and analyses can refer to
them instead of repeating numbers.

Weeks are counted back from ``end`` (a Monday, 00:00 UTC; the data stops just before it): week 1
is the last full week of data, week 2 the one before, and so on. With the default ``end`` of
2026-11-16 and ``ANDROID_BUG_WEEKS = (5, 4, 3)`` the Android bug runs from Monday 2026-10-12 to
Sunday 2026-11-01 inclusive.

Planted stories
---------------
(a) **Android onboarding bug.** Android users who sign up during ``ANDROID_BUG_WEEKS`` complete
    ``profile_completed`` at ``ANDROID_BUG_PROFILE_RATE`` (30%, a 70% drop) instead of
    ``PROFILE_COMPLETION_RATE`` (80%, a 20% drop) like everybody else, so they never reach
    ``project_created`` or ``activated``. ``ANDROID_BUG_TICKET_RATE`` of the stuck users file a
    ticket ("App crashes on the profile step", tags ``android onboarding bug``) within a day and a
    half, and several interview notes quote them. Before they leave, ``ANDROID_BUG_ERROR_RATE`` of
    them hit ``app_error`` (screen ``profile``) within a minute, and some open the profile help page
    (``help_viewed``), so a funnel's drop-off paths and correlation point at the crash. Users stuck on
    the profile step outside the bug open that help page at ``STUCK_HELP_RATE`` and never crash.
(b) **Starter churns on price.** Starter users live ``MEAN_LIFETIME_DAYS['starter']`` (14) days on
    average after activation, against 45-150 for the other plans, and cancel
    (``subscription_cancelled``, reason mostly ``too_expensive``). ``PRICING_TICKET_RATE_CANCELLED``
    of the Starter users who cancel because of the price complain about it in a ticket (tag
    ``pricing``) shortly before, and interview notes say the same.
(c) **Teams retain.** Users who invite a teammate during onboarding live
    ``TEAMMATE_LIFETIME_FACTOR`` (2.5x) longer, whatever their plan.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..errors import ConfigError

DEFAULT_USERS = 2000
DEFAULT_WEEKS = 16
DEFAULT_SEED = 7
DEFAULT_END = "2026-11-16"

# -- who the people are ---------------------------------------------------------------------------
PLATFORM_SHARES = {"web": 0.60, "ios": 0.22, "android": 0.18}
PLAN_SHARES = {"free": 0.50, "starter": 0.25, "pro": 0.18, "business": 0.07}
COUNTRY_SHARES = {
    "US": 0.30,
    "GB": 0.10,
    "DE": 0.10,
    "FR": 0.07,
    "NL": 0.06,
    "CA": 0.06,
    "IN": 0.06,
    "BR": 0.05,
    "ES": 0.05,
    "AU": 0.05,
    "SE": 0.04,
    "JP": 0.03,
    "PL": 0.03,
}
REFERRER_SHARES = {
    "google": 0.40,
    "direct": 0.20,
    "linkedin": 0.15,
    "newsletter": 0.10,
    "g2": 0.08,
    "twitter": 0.07,
}
SIGNUP_METHOD_SHARES = {"email": 0.6, "google": 0.4}
SIGNUP_GROWTH = 0.75  # first visit day = ndays * u ** SIGNUP_GROWTH: traffic grows over the weeks

# -- the funnel (each rate is conditional on the previous step) -----------------------------------
SIGNUP_RATE = 0.65  # visitors (page_viewed only) who sign up
ONBOARDING_START_RATE = 0.92  # signed_up -> onboarding_started
PROFILE_COMPLETION_RATE = 0.80  # onboarding_started -> profile_completed (20% drop)
PROJECT_RATE = 0.85  # profile_completed -> project_created
INVITE_RATE = 0.40  # project_created -> teammate_invited
ACTIVATION_RATE = 0.90  # project_created -> activated (first report)

# -- story (a): the Android onboarding bug --------------------------------------------------------
ANDROID_BUG_PLATFORM = "android"
ANDROID_BUG_WEEKS = (5, 4, 3)  # weeks counted back from `end` (1 = the last week of data)
ANDROID_BUG_PROFILE_RATE = 0.30  # onboarding_started -> profile_completed in those weeks (70% drop)
ANDROID_BUG_TICKET_RATE = 0.40  # of the stuck Android users, who file a crash ticket
ANDROID_BUG_ERROR_RATE = 0.90  # of the stuck Android users, whose app reports app_error
ANDROID_BUG_HELP_RATE = 0.30  # of the stuck Android users, who open the profile help page
STUCK_HELP_RATE = 0.50  # of the other users stuck on the profile step, who open the help page
ERROR_SCREEN, HELP_PAGE = "profile", "/help/profile-setup"
ANDROID_BUG_TAGS = ("android", "onboarding", "bug")

# -- story (b): Starter churns on price -----------------------------------------------------------
PRICING_STORY_PLAN = "starter"
MEAN_LIFETIME_DAYS = {"free": 45.0, "starter": 14.0, "pro": 90.0, "business": 150.0}
PRICING_TICKET_RATE_CANCELLED = 0.5  # Starter users who cancel as too_expensive and complain first
PRICING_TICKET_RATE = 0.06  # other Starter users who complain about price
PRICING_TAG = "pricing"
CANCEL_REASON_SHARES = {
    "starter": {
        "too_expensive": 0.65,
        "missing_feature": 0.15,
        "switched_tool": 0.10,
        "no_longer_needed": 0.10,
    },
    "other": {
        "too_expensive": 0.15,
        "missing_feature": 0.35,
        "switched_tool": 0.25,
        "no_longer_needed": 0.25,
    },
}

# -- story (c): teams retain ----------------------------------------------------------------------
TEAMMATE_LIFETIME_FACTOR = 2.5

# -- everyday use -----------------------------------------------------------------------------------
ACTIVE_DAY_RATE = {"free": 0.30, "starter": 0.40, "pro": 0.55, "business": 0.65}
WEEKEND_FACTOR = 0.3  # active-day rate on Saturdays and Sundays
ENGAGEMENT_DECAY_DAYS = 45.0  # activity fades from 100% to 55% of the rate with age
MAX_SESSIONS_PER_DAY = 3
MAX_EVENTS_PER_SESSION = 16  # session_started + 1..15 core events
CORE_EVENT_SHARES = {
    "dashboard_viewed": 0.28,
    "page_viewed": 0.18,
    "report_created": 0.14,
    "filter_applied": 0.14,
    "search_performed": 0.09,
    "export_clicked": 0.07,
    "comment_added": 0.05,
    "report_shared": 0.05,
}
UPGRADE_RATE = {"free": 0.12, "starter": 0.10}  # of activated users, during their lifetime
UPGRADE_TARGET = {"free": {"starter": 0.7, "pro": 0.3}, "starter": {"pro": 0.75, "business": 0.25}}
GENERAL_TICKET_RATE = 0.03  # signed-up users who file an everyday support ticket


def week_start(end: datetime, weeks_back: int) -> datetime:
    """Monday 00:00 UTC that starts week ``weeks_back`` counted back from ``end`` (1 = last week)."""
    return end - timedelta(weeks=weeks_back)


def android_bug_window(end: str | datetime = DEFAULT_END) -> tuple[datetime, datetime]:
    """[start, stop) of the Android bug: signups in this window hit story (a)."""
    e = parse_end(end)
    return week_start(e, max(ANDROID_BUG_WEEKS)), week_start(e, min(ANDROID_BUG_WEEKS) - 1)


def parse_end(end: str | datetime) -> datetime:
    """``end`` as an aware UTC datetime; it must be a Monday at midnight."""
    if isinstance(end, datetime):
        value = end if end.tzinfo else end.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
    else:
        try:
            value = datetime.fromisoformat(str(end))
        except ValueError as exc:
            raise ConfigError(
                f"end must be a date like 2026-11-16, got {end!r}",
                code="demo.end",
                hint="pass a Monday as YYYY-MM-DD",
            ) from exc
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value.weekday() != 0 or (value.hour, value.minute, value.second, value.microsecond) != (
        0,
        0,
        0,
        0,
    ):
        raise ConfigError(
            f"end must be a Monday at 00:00 UTC (the week boundaries hang on it), got {value}",
            code="demo.end",
            hint="pass a Monday as YYYY-MM-DD, e.g. 2026-11-16",
        )
    return value
