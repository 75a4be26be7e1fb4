"""The events of the demo, generated entirely in DuckDB SQL and streamed to Parquet.

Randomness is hash based: ``demo_u(seed, a, b, salt)`` is a uniform draw in [0, 1) computed from
DuckDB's ``hash`` of its arguments, so a value depends only on the seed, the user and what is being
drawn; never on threads, order of evaluation, or how many users there are. (``random()`` would
depend on the threads.) The combined hash is hashed once more: the high bits of DuckDB's
multi-argument ``hash(a, b, c, salt)`` are strongly correlated across salts (r ~ 0.97), which made
every draw of a user nearly the same number. The output is written ``ORDER BY timestamp, user_id, seq``, so the file
is the same for the same arguments.

Scale: one small row per user (``demo_users``) is materialised; the events
are a pipeline of ``unnest(range(...))`` over it that DuckDB streams into the Parquet writer. The
final sort does not spill well with these wide rows, so beyond ``CHUNK_ROWS`` expected events the
data is generated and sorted a day window at a time, and the parts are copied into one file.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from ..db import fetch_value
from ..sql import Params
from . import names as nm
from . import stories as st

USERS_TABLE = "demo_users"
EVENTS_PER_USER_WEEK = 3.0  # a generous estimate (~2.7 at 16 weeks), to size the windows
CHUNK_ROWS = 15_000_000  # events generated and sorted at a time

MACROS = """
CREATE OR REPLACE TEMP MACRO demo_u(s, a, b, salt) AS
    ((hash(hash(s::BIGINT, a::BIGINT, b::BIGINT, salt::VARCHAR)) >> 11)::DOUBLE / 9007199254740992.0);
CREATE OR REPLACE TEMP MACRO demo_ms(x) AS to_milliseconds(CAST(floor(x) AS BIGINT));
"""


def pick(draw: str, shares: Mapping[str, float], p: Params) -> str:
    """SQL choosing a key of ``shares`` with its probability, from a uniform ``draw``."""
    items = list(shares.items())
    total = sum(v for _, v in items)
    parts, acc = [], 0.0
    for name, share in items[:-1]:
        acc += share / total
        parts.append(f"WHEN {draw} < {p.add(acc)} THEN {p.add(name)}")
    return f"(CASE {' '.join(parts)} ELSE {p.add(items[-1][0])} END)"


def lookup(key: str, values: Mapping[str, object], p: Params, default: object = None) -> str:
    """SQL mapping the value of ``key`` through ``values``."""
    parts = " ".join(f"WHEN {p.add(k)} THEN {p.add(v)}" for k, v in values.items())
    return f"(CASE {key} {parts} ELSE {p.add(default)} END)"


def from_list(draw: str, items: list[str], p: Params) -> str:
    """SQL taking one element of ``items`` uniformly from ``draw``."""
    return f"({p.add(items)})[1 + CAST(floor({draw} * {len(items)}) AS BIGINT)]"


def build_users(
    con: duckdb.DuckDBPyConnection, *, users: int, weeks: int, seed: int, end: datetime
) -> int:
    """Create the temp table ``demo_users``: one row per person with every draw and milestone.

    Returns the number of people who signed up.
    """
    con.execute(MACROS)
    p = Params()
    start = end - timedelta(weeks=weeks)
    bug_lo, bug_hi = st.android_bug_window(end)
    seed_p, users_p, t0_p, tend_p, ndays_p = (
        p.add(int(seed)),
        p.add(int(users)),
        p.add(start),
        p.add(end),
        p.add(int(weeks * 7)),
    )
    bug_lo_p, bug_hi_p = p.add(bug_lo), p.add(bug_hi)

    def u(salt: str, b: str = "0") -> str:
        return f"demo_u(seed, uid, {b}, {p.add(salt)})"

    n_companies = max(20, users // 5)
    n_words, n_suffixes = len(nm.COMPANY_WORDS), len(nm.COMPANY_SUFFIXES)
    words, suffixes = p.add(nm.COMPANY_WORDS), p.add(nm.COMPANY_SUFFIXES)
    bug_rate = p.add(st.ANDROID_BUG_PROFILE_RATE)
    sql = f"""
    CREATE OR REPLACE TEMP TABLE {USERS_TABLE} AS
    WITH base AS (
        SELECT range AS uid, {seed_p}::BIGINT AS seed, {t0_p}::TIMESTAMPTZ AS t0, {tend_p}::TIMESTAMPTZ AS t_end,
               {ndays_p}::BIGINT AS ndays
        FROM range({users_p})
    ), a AS (
        SELECT *,
            printf('u%07d', uid) AS user_id,
            CAST(floor(ndays * pow({u("day")}, {p.add(st.SIGNUP_GROWTH)})) AS BIGINT) AS day0,
            CASE WHEN day0 % 7 >= 5 AND {u("weekend")} < 0.6 THEN day0 - day0 % 7 + 4 ELSE day0 END AS first_day,
            t0 + demo_ms((first_day * 86400 + 25200 + {u("sec")} * 46800) * 1000) AS first_seen,
            1 + CAST(floor({u("n_prev")} * 5) AS BIGINT) AS n_prev,
            {pick(u("referrer"), st.REFERRER_SHARES, p)} AS referrer,
            {pick(u("platform"), st.PLATFORM_SHARES, p)} AS platform,
            {pick(u("plan"), st.PLAN_SHARES, p)} AS plan,
            {pick(u("country"), st.COUNTRY_SHARES, p)} AS country,
            {from_list(u("first"), nm.FIRST_NAMES, p)} AS first_name,
            {from_list(u("last"), nm.LAST_NAMES, p)} AS last_name,
            first_name || ' ' || last_name AS full_name,
            CAST(floor({u("company")} * {int(n_companies)}) AS BIGINT) AS company_idx,
            {words}[1 + company_idx % {n_words}] || ' ' || {suffixes}[1 + (company_idx // {n_words}) % {n_suffixes}]
                || CASE WHEN company_idx >= {n_words * n_suffixes}
                        THEN ' ' || (company_idx // {n_words * n_suffixes} + 1)::VARCHAR ELSE '' END AS company,
            lower(regexp_replace(company, '[^A-Za-z0-9]+', '', 'g')) || '.example' AS domain,
            lower(first_name) || '.' || lower(last_name) || '@' || domain AS email,
            {pick(u("method"), st.SIGNUP_METHOD_SHARES, p)} AS signup_method,
            {u("signup")} < {p.add(st.SIGNUP_RATE)} AS signed,
            first_seen + demo_ms((n_prev * 120 + 30 + {u("signup_t")} * 60) * 1000) AS signup_ts0,
            lower(hex(hash(seed, uid, -1, 'visit'))) AS visit_session
        FROM base
    ), f AS (
        SELECT *,
            CASE WHEN signed THEN signup_ts0 END AS signup_ts,
            signed AND platform = {p.add(st.ANDROID_BUG_PLATFORM)}
                AND signup_ts0 >= {bug_lo_p}::TIMESTAMPTZ AND signup_ts0 < {bug_hi_p}::TIMESTAMPTZ AS in_bug,
            CASE WHEN platform = 'web' THEN NULL
                 ELSE '5.' || (first_day // 7)::VARCHAR || '.' || CAST(floor({u("patch")} * 3) AS BIGINT)::VARCHAR
            END AS app_version,
            signed AND {u("onb")} < {p.add(st.ONBOARDING_START_RATE)} AS onb,
            onb AND {u("profile")} < CASE WHEN in_bug THEN {bug_rate} ELSE {p.add(st.PROFILE_COMPLETION_RATE)} END
                AS profile,
            profile AND {u("project")} < {p.add(st.PROJECT_RATE)} AS project,
            project AND {u("invite")} < {p.add(st.INVITE_RATE)} AS invite,
            project AND {u("activate")} < {p.add(st.ACTIVATION_RATE)} AS activated,
            signup_ts0 + demo_ms((20 + {u("onb_t")} * 120) * 1000) AS onb_ts,
            onb_ts + demo_ms((40 + {u("profile_t")} * 300) * 1000) AS profile_ts,
            profile_ts + demo_ms(1000 * CASE WHEN {u("project_same")} < 0.7 THEN 60 + {u("project_t")} * 900
                ELSE 86400 * (1 + floor({u("project_t")} * 3)) + {u("project_t2")} * 7200 END) AS project_ts,
            project_ts + demo_ms((300 + {u("invite_t")} * 4 * 86400) * 1000) AS invite_ts,
            lower({from_list(u("mate_first"), nm.FIRST_NAMES, p)}) || '.'
                || lower({from_list(u("mate_last"), nm.LAST_NAMES, p)}) || '@' || domain AS invitee_email,
            project_ts + demo_ms((120 + {u("activate_t")} * 3600) * 1000) AS activated_ts,
            -- stuck on the profile step: the bug's crash within a minute, the help page within minutes
            CASE WHEN onb AND NOT profile AND in_bug AND {u("crash")} < {p.add(st.ANDROID_BUG_ERROR_RATE)}
                 THEN onb_ts + demo_ms((10 + {u("crash_t")} * 50) * 1000) END AS error_ts,
            CASE WHEN onb AND NOT profile AND {u("help")} < CASE WHEN in_bug
                      THEN {p.add(st.ANDROID_BUG_HELP_RATE)} ELSE {p.add(st.STUCK_HELP_RATE)} END
                 THEN onb_ts + demo_ms((70 + {u("help_t")} * 240) * 1000) END AS help_ts,
            CASE WHEN invite THEN {p.add(st.TEAMMATE_LIFETIME_FACTOR)} ELSE 1.0 END AS life_factor,
            -ln(1 - {u("life")}) * {lookup("plan", st.MEAN_LIFETIME_DAYS, p, 30.0)} * life_factor AS life_days,
            activated AND {u("upgrade")} < {lookup("plan", st.UPGRADE_RATE, p, 0.0)} AS upg,
            activated_ts + demo_ms({u("upgrade_t")} * 0.8 * life_days * 86400000) AS upgrade_ts0,
            CASE plan WHEN 'free' THEN {pick(u("to_plan"), st.UPGRADE_TARGET["free"], p)}
                      WHEN 'starter' THEN {pick(u("to_plan"), st.UPGRADE_TARGET["starter"], p)} END AS to_plan0
        FROM a
    ), g AS (
        SELECT *,
            upg AND upgrade_ts0 < t_end AS upgraded,
            CASE WHEN upgraded THEN upgrade_ts0 END AS upgrade_ts,
            CASE WHEN upgraded THEN to_plan0 END AS to_plan,
            coalesce(to_plan, plan) AS final_plan,
            CASE WHEN upgraded
                 THEN upgrade_ts + demo_ms(-ln(1 - {u("life2")})
                      * {lookup("to_plan0", st.MEAN_LIFETIME_DAYS, p, 30.0)} * life_factor * 86400000)
                 ELSE activated_ts + demo_ms(life_days * 86400000) END AS churn_ts0,
            CASE WHEN activated THEN churn_ts0 END AS churn_ts,
            activated AND final_plan <> 'free' AND churn_ts0 < t_end AS cancelled,
            CASE WHEN final_plan = {p.add(st.PRICING_STORY_PLAN)}
                 THEN {pick(u("reason"), st.CANCEL_REASON_SHARES["starter"], p)}
                 ELSE {pick(u("reason"), st.CANCEL_REASON_SHARES["other"], p)} END AS cancel_reason,
            CASE WHEN activated THEN least(churn_ts0, t_end) END AS end_active,
            CAST(floor(epoch(activated_ts - t0) / 86400) AS BIGINT) AS a_day,
            CAST(floor((epoch(least(churn_ts0, t_end) - t0) - 0.001) / 86400) AS BIGINT) AS z_day,
            {lookup("plan", st.ACTIVE_DAY_RATE, p, 0.3)} AS p_active
        FROM f
    )
    SELECT uid, user_id, seed, t0, t_end, first_day, first_seen, n_prev, referrer, platform, plan, country,
           full_name, company, email, signup_method, app_version, visit_session, signed, signup_ts, in_bug,
           onb, CASE WHEN onb THEN onb_ts END AS onb_ts,
           profile, CASE WHEN profile THEN profile_ts END AS profile_ts,
           project, CASE WHEN project THEN project_ts END AS project_ts,
           invite, CASE WHEN invite THEN invite_ts END AS invite_ts, invitee_email,
           activated, CASE WHEN activated THEN activated_ts END AS activated_ts, error_ts, help_ts,
           upgraded, upgrade_ts, to_plan, final_plan, churn_ts, cancelled,
           CASE WHEN cancelled THEN cancel_reason END AS cancel_reason,
           end_active, a_day, z_day, p_active
    FROM g ORDER BY uid
    """
    con.execute(sql, p.used_in(sql))
    return int(fetch_value(con, f"SELECT count(*) FILTER (WHERE signed) FROM {USERS_TABLE}"))


def events_query(p: Params, days: tuple[int, int] | None = None) -> str:
    """The SELECT producing the events of ``demo_users`` (the columns of events.parquet), sorted.

    ``days=(lo, hi)`` keeps the events of days ``lo <= day < hi`` (counted from the first day of the
    data, UTC), so big data sets are generated, and sorted, a time window at a time.
    """

    def props(plan_expr: str, extra: str | None) -> str:
        base = f"json_object('platform', platform, 'plan', {plan_expr}, 'country', country)"
        return base if extra is None else f"json_merge_patch({base}, {extra})"

    def cur_plan(ts: str) -> str:
        return f"CASE WHEN upgraded AND {ts} >= upgrade_ts THEN to_plan ELSE plan END"

    def draw(key: str, salt: str) -> str:
        return f"demo_u(seed, uid, {key}, {p.add(salt)})"

    if days is None:
        in_window, day_lo, day_hi = "true", "a_day + 1", "z_day + 1"
    else:
        lo, hi = p.add(int(days[0])), p.add(int(days[1]))
        in_window = f"ts >= t0 + to_days({lo}::INTEGER) AND ts < t0 + to_days({hi}::INTEGER)"
        day_lo, day_hi = f"greatest(a_day + 1, {lo})", f"least(z_day + 1, {hi})"

    landing = from_list(draw("i", "page"), nm.LANDING_PAGES, p)
    visits = f"""
        SELECT user_id, 'page_viewed' AS event, ts, visit_session AS session_id, i AS seq,
               json_merge_patch(json_object('platform', platform, 'country', country, 'page', page),
                                json_object('referrer', CASE WHEN i = 0 THEN referrer END)) AS properties
        FROM (
            SELECT *, first_seen + demo_ms(i * 120000 + {draw("i", "pv_t")} * 60000) AS ts,
                   CASE WHEN signed AND i = n_prev - 1 THEN '/signup' ELSE {landing} END AS page
            FROM (SELECT *, unnest(range(n_prev)) AS i FROM {USERS_TABLE})
        )
        WHERE ts < t_end AND {in_window}"""

    steps = [
        ("signed_up", "signup_ts", 10, "json_object('name', full_name, 'email', email, 'company', company, "
         "'method', signup_method, 'app_version', app_version)"),
        ("onboarding_started", "onb_ts", 11, "json_object('step', 'start')"),
        ("profile_completed", "profile_ts", 12, "json_object('step', 'profile')"),
        ("project_created", "project_ts", 13, "json_object('step', 'project')"),
        ("teammate_invited", "invite_ts", 14, "json_object('step', 'invite', 'invitee_email', invitee_email)"),
        ("activated", "activated_ts", 15, None),
        ("plan_upgraded", "upgrade_ts", 16, "json_object('from_plan', plan, 'to_plan', to_plan)"),
        ("subscription_cancelled", "CASE WHEN cancelled THEN churn_ts END", 17,
         "json_object('reason', cancel_reason)"),
        ("app_error", "error_ts", 18,
         f"json_object('screen', {p.add(st.ERROR_SCREEN)}, 'error', 'ProfileSaveCrash', 'app_version', app_version)"),
        ("help_viewed", "help_ts", 19, f"json_object('page', {p.add(st.HELP_PAGE)})"),
    ]  # fmt: skip
    items = ", ".join(f"{{'event': '{e}', 'ts': {ts}, 'seq': {seq}}}" for e, ts, seq, _ in steps)
    whens = " ".join(f"WHEN '{e}' THEN {x}" for e, _, _, x in steps if x is not None)
    extra = f"CASE f.event {whens} ELSE json_object() END"
    funnel_props = (f"CASE WHEN f.event = 'plan_upgraded' THEN {props('plan', extra)} "
                    f"ELSE {props(cur_plan('f.ts'), extra)} END")  # fmt: skip
    funnel = f"""
        SELECT user_id, event, ts, session_id, seq, properties FROM (
            SELECT user_id, f.event AS event, f.ts AS ts,
                   CASE WHEN f.ts < signup_ts + INTERVAL 2 HOUR THEN visit_session
                        ELSE lower(hex(hash(seed, uid, f.seq, 'funnel'))) END AS session_id,
                   f.seq AS seq, {funnel_props} AS properties, t_end, t0
            FROM (SELECT *, unnest([{items}]) AS f FROM {USERS_TABLE} WHERE signed)
            WHERE f.ts IS NOT NULL
        )
        WHERE ts < t_end AND {in_window}"""

    key = "d * 10 + s"  # one session
    k = "100000 + d * 1000 + s * 100 + i"  # one event of a session (also its seq)
    core_extra = (
        f"CASE event WHEN 'page_viewed' THEN json_object('page', {from_list(draw('k', 'page'), nm.APP_PAGES, p)}) "
        f"WHEN 'report_created' THEN json_object('report_type', {from_list(draw('k', 'report'), nm.REPORT_TYPES, p)}) "
        f"WHEN 'export_clicked' THEN json_object('format', {from_list(draw('k', 'format'), nm.EXPORT_FORMATS, p)}) "
        "END"
    )  # fmt: skip
    usage_props = (f"CASE WHEN event IN ('page_viewed', 'report_created', 'export_clicked') "
                   f"THEN {props(cur_plan('ts'), core_extra)} ELSE {props(cur_plan('ts'), None)} END")  # fmt: skip
    core_event = pick(draw(k, "event"), st.CORE_EVENT_SHARES, p)
    active = (f"{draw('d', 'active')} < p_active * CASE WHEN d % 7 >= 5 THEN {p.add(st.WEEKEND_FACTOR)} ELSE 1.0 END "
              f"* (0.55 + 0.45 * exp(-(d - a_day) / {p.add(st.ENGAGEMENT_DECAY_DAYS)}))")  # fmt: skip
    n_sessions = (
        f"1 + CAST(floor(pow({draw('d', 'n_sess')}, 2) * {st.MAX_SESSIONS_PER_DAY}) AS BIGINT)"
    )
    n_events = f"2 + CAST(floor({draw(key, 'n_ev')} * {st.MAX_EVENTS_PER_SESSION - 1}) AS BIGINT)"
    # sessions start 07:00-20:00 UTC and last < 25 minutes: a session never crosses midnight, so
    # a day's events all fall in that day's window
    usage = f"""
        SELECT user_id, event, ts, session_id, k AS seq, {usage_props} AS properties
        FROM (
            SELECT *, {k} AS k,
                   CASE WHEN i = 0 THEN 'session_started' ELSE {core_event} END AS event,
                   s_ts + demo_ms(i * 75000 + {draw(k, "ev_t")} * 70000) AS ts
            FROM (
                SELECT *, unnest(range(n_ev)) AS i
                FROM (
                    SELECT *, t0 + demo_ms((d * 86400 + 25200 + {draw(key, "sess_t")} * 46800) * 1000) AS s_ts,
                           {n_events} AS n_ev, lower(hex(hash(seed, uid, {key}, 'session'))) AS session_id
                    FROM (
                        SELECT *, unnest(range({n_sessions})) AS s
                        FROM (
                            SELECT * FROM (
                                SELECT uid, user_id, seed, t0, t_end, platform, plan, country, upgraded,
                                       upgrade_ts, to_plan, end_active, a_day, p_active,
                                       unnest(range({day_lo}, {day_hi})) AS d
                                FROM {USERS_TABLE} WHERE activated AND {day_lo} < {day_hi}
                            )
                            WHERE {active}
                        )
                    )
                )
            )
        )
        WHERE ts < end_active AND ts < t_end"""
    return f"""
        SELECT user_id, event, ts AS "timestamp", session_id, properties::VARCHAR AS properties
        FROM ({visits} UNION ALL {funnel} UNION ALL {usage})
        ORDER BY "timestamp", user_id, seq"""


def plan_windows(users: int, weeks: int, chunk_rows: int) -> list[tuple[int, int]] | None:
    """Day windows to generate one at a time (None: all at once), ~``chunk_rows`` events each.

    DuckDB's sort does not spill well with these wide rows (10M events need ~3 GB), so 100M events
    are sorted a window at a time and the windows written one after the other.
    """
    estimate = users * weeks * EVENTS_PER_USER_WEEK
    n_days = weeks * 7
    chunks = min(n_days, -(-int(estimate) // chunk_rows))
    if chunks <= 1:
        return None
    # traffic grows over time, so windows get shorter towards the end: equal shares of ~t^(1/3)
    edges = sorted({round(n_days * (i / chunks) ** 0.75) for i in range(chunks + 1)})
    return list(zip(edges[:-1], edges[1:], strict=True))


def write_events(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    windows: list[tuple[int, int]] | None = None,
    work: Path | None = None,
) -> int:
    """Write the events of ``demo_users`` to ``path`` (Parquet, zstd), sorted by time; returns the count.

    With ``windows`` each day window is generated and sorted into its own file under ``work``, and the
    files are then copied, in order, into one.
    """
    tmp = path.with_name(path.name + ".tmp")
    options = "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
    if not windows:
        p = Params()
        sql = f"COPY ({events_query(p)}) TO {p.add(str(tmp))} {options}"
        con.execute(sql, p.used_in(sql))
    else:
        assert work is not None
        work.mkdir(parents=True, exist_ok=True)
        parts: list[Path] = []
        for n, window in enumerate(windows):
            p = Params()
            parts.append(work / f"events_{n:04d}.parquet")
            sql = f"COPY ({events_query(p, window)}) TO {p.add(str(parts[-1]))} {options}"
            con.execute(sql, p.used_in(sql))
        con.execute(
            f"COPY (SELECT * FROM read_parquet($parts)) TO $dst {options}",
            {"parts": [str(part) for part in parts], "dst": str(tmp)},
        )
        for part in parts:
            part.unlink()
    tmp.replace(path)
    return int(fetch_value(con, "SELECT count(*) FROM read_parquet($path)", {"path": str(path)}))
