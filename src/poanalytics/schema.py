"""Warehouse schema and migrations.

Each migration is applied once, in order, and recorded in ``schema_version``, so a warehouse made
by an older poanalytics opens in a newer one. Never edit a released migration: add a new one.
"""

from __future__ import annotations

import duckdb

from .db import fetch_all, fetch_one
from .errors import WarehouseError

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "canonical tables",
        """
        CREATE SEQUENCE IF NOT EXISTS load_id_seq START 1;
        CREATE TABLE load_log (
            load_id BIGINT PRIMARY KEY,
            kind VARCHAR NOT NULL,            -- events | tickets | notes
            source VARCHAR NOT NULL,          -- path, glob or 'DataFrame'
            format VARCHAR,                   -- the format used (detected or given)
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, rows_duplicate BIGINT,
            options JSON,
            status VARCHAR NOT NULL,          -- ok | failed
            message VARCHAR
        );
        CREATE TABLE events (
            user_id VARCHAR NOT NULL,
            event VARCHAR NOT NULL,
            ts TIMESTAMPTZ NOT NULL,          -- UTC instant
            session_id VARCHAR,
            properties JSON,
            source VARCHAR NOT NULL,          -- format the row came from (csv, segment, ...)
            source_key VARCHAR,               -- the source's own event id, when it has one
            load_id BIGINT NOT NULL
        );
        CREATE TABLE identities (
            anonymous_id VARCHAR NOT NULL,
            user_id VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            first_seen TIMESTAMPTZ,
            load_id BIGINT NOT NULL
        );
        CREATE TABLE tickets (
            ticket_id VARCHAR NOT NULL,
            user_id VARCHAR,
            requester VARCHAR,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ,
            status VARCHAR,
            priority VARCHAR,
            channel VARCHAR,
            subject VARCHAR,
            body VARCHAR,
            tags VARCHAR[],
            satisfaction DOUBLE,              -- 0 (bad) .. 1 (good), NULL when unrated
            properties JSON,
            source VARCHAR NOT NULL,
            source_key VARCHAR NOT NULL,      -- source || ':' || ticket_id, unique
            load_id BIGINT NOT NULL
        );
        CREATE TABLE notes (
            note_id VARCHAR NOT NULL,
            participant VARCHAR,
            user_id VARCHAR,
            date TIMESTAMPTZ,
            segment VARCHAR,
            title VARCHAR,
            text VARCHAR,
            properties JSON,
            source VARCHAR NOT NULL,
            source_key VARCHAR NOT NULL,      -- unique per note
            load_id BIGINT NOT NULL
        );
        CREATE TABLE note_highlights (
            note_id VARCHAR NOT NULL,
            position INTEGER NOT NULL,        -- 1-based order of the highlight in its note
            quote VARCHAR NOT NULL,
            tags VARCHAR[],
            line INTEGER,                     -- line in the source file, when known
            source_key VARCHAR NOT NULL,      -- the note's source_key
            load_id BIGINT NOT NULL
        );
        CREATE TABLE quarantine (
            load_id BIGINT NOT NULL,
            kind VARCHAR NOT NULL,
            file VARCHAR NOT NULL,
            row BIGINT,                       -- spreadsheet-style row (header = 1) or JSON line
            column_name VARCHAR,
            reason VARCHAR NOT NULL,
            raw VARCHAR,
            quarantined_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        """,
    ),
    (
        2,
        "rows_conflict in load_log",
        """
        -- rows loaded whose source event id an event with other content already has (both kept)
        ALTER TABLE load_log ADD COLUMN rows_conflict BIGINT;
        UPDATE load_log SET rows_conflict = 0 WHERE status = 'ok';
        """,
    ),
    (
        3,
        "report_runs",
        """
        -- one row per `poanalytics report weekly` run (poanalytics.report.runlog)
        CREATE SEQUENCE IF NOT EXISTS report_run_seq START 1;
        CREATE TABLE report_runs (
            run_id BIGINT PRIMARY KEY,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            status VARCHAR NOT NULL,          -- running | ok | failed
            week VARCHAR,                     -- ISO week, e.g. 2026-W47
            parameters JSON,                  -- as run, secret values masked
            snapshot JSON,                    -- row counts, last event time, load ids
            report_path VARCHAR,              -- the HTML written (ok) or the failure page (failed)
            error_code VARCHAR,
            error_message VARCHAR,
            pid INTEGER,                      -- the process that ran it (stale runs are found by it)
            host VARCHAR
        );
        """,
    ),
    (
        4,
        "voice of the customer",
        """
        -- poanalytics.voice: what was read from tickets and interview notes. Derived data, rebuilt by
        -- a voice refresh (one transaction) whenever the taxonomy or the loaded text changes.
        ALTER TABLE notes ADD COLUMN file VARCHAR;      -- the note's file, relative to the load's source
        CREATE SEQUENCE IF NOT EXISTS voice_refresh_seq START 1;
        CREATE TABLE voice_refresh (
            refresh_id BIGINT PRIMARY KEY,
            refreshed_at TIMESTAMPTZ NOT NULL,
            taxonomy_version VARCHAR NOT NULL,  -- sha256 of the taxonomy's themes, or 'discovered:<seed>'
            taxonomy_file VARCHAR,              -- conf/themes.toml as read (NULL: no taxonomy)
            fingerprint VARCHAR NOT NULL,       -- of the tickets and notes read (rows, load ids)
            items BIGINT NOT NULL,
            assigned BIGINT NOT NULL,           -- items in at least one theme
            unassigned BIGINT NOT NULL,         -- items in none (voice_items.unassigned_reason says why)
            seconds DOUBLE,
            options JSON
        );
        CREATE TABLE voice_items (
            source VARCHAR NOT NULL,            -- tickets | notes
            item_id VARCHAR NOT NULL,           -- ticket_id, or note_id || '#' || position (a highlight)
            parent_id VARCHAR NOT NULL,         -- ticket_id or note_id
            position INTEGER,                   -- the highlight's position in its note; NULL for tickets
            user_id VARCHAR,                    -- as loaded (ticket/note user_id); NULL when none
            email VARCHAR,                      -- the requester's e-mail as loaded, when it is one
            created_at TIMESTAMPTZ,             -- ticket created_at, or the note's date
            text VARCHAR NOT NULL,              -- what was analysed: HTML removed, spaces collapsed, cut
            text_chars BIGINT NOT NULL,         -- length of the original text
            truncated BOOLEAN NOT NULL,         -- text was cut to the analysis limit
            sentiment DOUBLE,                   -- VADER compound score, -1 .. 1; NULL: no words to score
            dup_group VARCHAR,                  -- near-duplicate group (its first item_id); NULL: unique
            dup_similarity DOUBLE,              -- estimated similarity to the group's first item
            unassigned_reason VARCHAR,          -- NULL when in a theme; else empty | no_match | ...
            refresh_id BIGINT NOT NULL
        );
        CREATE TABLE voice_themes (
            theme VARCHAR NOT NULL,
            origin VARCHAR NOT NULL,            -- taxonomy | discovered
            description VARCHAR,
            definition JSON,                    -- phrases, keywords, patterns (or discovered terms)
            links JSON,                         -- funnel steps, events, features, segments
            taxonomy_version VARCHAR NOT NULL,
            refresh_id BIGINT NOT NULL
        );
        CREATE TABLE voice_assignments (
            source VARCHAR NOT NULL,
            item_id VARCHAR NOT NULL,
            theme VARCHAR NOT NULL,
            matched_terms VARCHAR[] NOT NULL,   -- what matched, so the assignment can be explained
            origin VARCHAR NOT NULL,            -- taxonomy | discovered
            taxonomy_version VARCHAR NOT NULL,
            refresh_id BIGINT NOT NULL
        );
        """,
    ),
    (
        5,
        "backlog decision log",
        """
        -- poanalytics.backlog: each published ordering of the backlog (b.publish), the product
        -- owner's overrides, and the evidence each item had then, so week over week the log shows
        -- what moved, why, and what new evidence arrived. Written by publish/override only.
        CREATE SEQUENCE IF NOT EXISTS backlog_snapshot_seq START 1;
        CREATE SEQUENCE IF NOT EXISTS backlog_override_seq START 1;
        CREATE TABLE backlog_snapshots (
            snapshot_id BIGINT PRIMARY KEY,
            published_at TIMESTAMPTZ NOT NULL,  -- when publish ran
            as_of TIMESTAMPTZ NOT NULL,         -- the evidence's date: data up to this instant
            note VARCHAR,                       -- the product owner's note
            framework VARCHAR NOT NULL,         -- rice | ice | wsjf | value_effort
            capacity DOUBLE,                    -- person-weeks, NULL when none was given
            seed BIGINT NOT NULL,               -- Monte Carlo seed: the ordering can be reproduced
            simulations BIGINT NOT NULL,
            config_file VARCHAR,                -- conf/product.toml as read
            config_sha256 VARCHAR,
            backlog_file VARCHAR,               -- the CSV export read, NULL: items from the config
            items BIGINT NOT NULL,
            options JSON                        -- the rest of [planning], as used
        );
        CREATE TABLE backlog_snapshot_items (
            snapshot_id BIGINT NOT NULL,
            item_id VARCHAR NOT NULL,
            title VARCHAR,
            status VARCHAR,
            rank INTEGER,                       -- as published (overrides applied, see below)
            evidence_rank INTEGER,              -- the framework's own rank, before overrides
            score DOUBLE,
            score_low DOUBLE,
            score_high DOUBLE,
            p_top_n DOUBLE,
            rice DOUBLE, ice DOUBLE, wsjf DOUBLE,
            confidence DOUBLE,
            reach DOUBLE,
            effort_weeks DOUBLE,
            fits BOOLEAN,                       -- within capacity this cycle (NULL: no capacity)
            moscow_suggested VARCHAR,
            override_id BIGINT,                 -- the override applied to this item, if any
            reason VARCHAR                      -- the plain sentence of why
        );
        CREATE TABLE backlog_snapshot_evidence (
            snapshot_id BIGINT NOT NULL,
            item_id VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,              -- see backlog.evidence: reach, dropoff, churn_lift, ...
            link VARCHAR,                       -- step:profile_completed, theme:pricing, ...
            value DOUBLE,
            low DOUBLE,
            high DOUBLE,
            n BIGINT,
            detail VARCHAR,
            as_of TIMESTAMPTZ,
            unit VARCHAR,                       -- users_per_week, share, points, ratio, items, ...
            source VARCHAR,                     -- events | tickets | notes
            supports BOOLEAN,                   -- argues for the item (see backlog.evidence)
            query VARCHAR,                      -- the SQL behind the number, and its parameters
            params JSON
        );
        CREATE TABLE backlog_overrides (
            override_id BIGINT PRIMARY KEY,
            created_at TIMESTAMPTZ NOT NULL,
            item_id VARCHAR NOT NULL,
            rank INTEGER NOT NULL,              -- the position the product owner wants
            reason VARCHAR NOT NULL,            -- required: an override without a reason is refused
            author VARCHAR,
            active BOOLEAN NOT NULL,            -- false once withdrawn (b.withdraw_override)
            withdrawn_at TIMESTAMPTZ
        );
        """,
    ),
    (
        6,
        "event and property catalog",
        """
        -- What the events are called and which property keys they carry, kept by every load in its
        -- own transaction (poanalytics.ingest.catalog), so a name check, a notebook picker or the
        -- report reads a few rows instead of every event's JSON. Counts are exact.
        CREATE TABLE event_catalog (
            event VARCHAR NOT NULL,             -- one row per event name in events
            events BIGINT NOT NULL,             -- events with this name
            first_ts TIMESTAMPTZ NOT NULL,      -- the earliest and the latest of them
            last_ts TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE property_catalog (
            event VARCHAR NOT NULL,
            key VARCHAR NOT NULL,               -- a top-level key of properties
            json_type VARCHAR NOT NULL,         -- its value's JSON type: VARCHAR, BIGINT, UBIGINT,
                                                -- DOUBLE, BOOLEAN, NULL, ARRAY or OBJECT
            events BIGINT NOT NULL              -- events of this name whose key has this type
        );
        -- the events already loaded (a warehouse made before this migration), in one read: each
        -- event's properties parsed once, grouped by name and structure (json_structure)
        CREATE TEMP TABLE __poa_catalog_grouped AS
            SELECT event, json_structure(properties) AS s, count(*) AS n, min(ts) AS first_ts,
                   max(ts) AS last_ts
            FROM events GROUP BY ALL;
        INSERT INTO event_catalog
            SELECT event, sum(n)::BIGINT, min(first_ts), max(last_ts)
            FROM __poa_catalog_grouped GROUP BY event;
        INSERT INTO property_catalog
            SELECT g.event, j.key, CASE j.type WHEN 'VARCHAR' THEN j.value ->> '$' ELSE j.type END,
                   sum(g.n)::BIGINT
            FROM __poa_catalog_grouped AS g, json_each(g.s) AS j
            WHERE json_type(g.s) = 'OBJECT' AND j.key IS NOT NULL
            GROUP BY ALL;
        DROP TABLE __poa_catalog_grouped;
        """,
    ),
]

LATEST = MIGRATIONS[-1][0]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = fetch_one(
        con,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version' "
        "AND table_schema = 'main' AND table_catalog = current_database()",
    )
    if not exists or not exists[0]:
        return 0
    row = fetch_one(con, "SELECT coalesce(max(version), 0) FROM schema_version")
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the warehouse to the latest schema; returns the version it is at."""
    version = current_version(con)
    if version > LATEST:
        raise WarehouseError(
            f"this warehouse has schema version {version}, newer than this poanalytics ({LATEST})",
            code="db.schema_newer",
            hint="upgrade poanalytics (pip install -U poanalytics) or open another warehouse file",
        )
    if version == 0:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ DEFAULT now())"
        )
    for number, name, sql in MIGRATIONS:
        if number <= version:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)", [number, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        version = number
    return version


def applied(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    return [
        (int(r[0]), str(r[1]))
        for r in fetch_all(con, "SELECT version, name FROM schema_version ORDER BY 1")
    ]
