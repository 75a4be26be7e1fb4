"""The Workbench: one DuckDB warehouse holding events, tickets and interview notes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from . import db, schema
from .config import Settings, settings
from .errors import ConfigError, WarehouseError, did_you_mean, warn
from .ingest import EVENTS, TICKETS, LoadReport, run_load
from .ingest.export import ExportReport
from .ingest.mapping import Columns
from .ingest.optimize import OptimizeReport
from .metrics.methods import MetricMethods
from .status import Status, warehouse_status
from .voice.accept import Accepted
from .voice.discover import DiscoveryResult
from .voice.duplicates import DuplicatesQuery, DuplicatesResult, run_duplicates
from .voice.lift import LiftQuery, LiftResult, run_lift
from .voice.people import join_rate
from .voice.quotes import QuotesQuery, QuotesResult, run_quotes
from .voice.trends import TrendsQuery, TrendsResult, run_trends

R = TypeVar("R")


class Workbench(MetricMethods):
    """A warehouse file (``path=None``: the project's ``data/warehouse.duckdb``) or ``":memory:"``.

    The file is held open only while a query or load runs (read-only for a query, read-write for a
    load), so a notebook left open never blocks a scheduled report, ``poanalytics status`` or a
    load; a call that meets a file another process is writing waits up to ``lock_timeout``
    (conf/poanalytics.toml) and then fails with ``db.locked``. Opening a missing file for analysis
    fails with ``db.not_found``; loads create it, and ``create=True`` creates an empty one at once.
    ``wb.con`` (the old API) holds the file open like before, until ``wb.release()``.

    >>> wb = Workbench(":memory:")
    >>> wb.sql("SELECT count(*) AS n FROM events").n[0]
    0
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        config: Settings | None = None,
        read_only: bool = False,
        create: bool = False,
    ) -> None:
        self.settings = config or settings()
        self.path = str(path) if path is not None else str(self.settings.default_warehouse())
        self.read_only = read_only
        self.schema_version: int | None = None
        self._session: db.Session | None = None
        self._memory: duckdb.DuckDBPyConnection | None = None
        if self.path == ":memory:":
            self._memory = db.connect(
                self.path,
                memory_limit=self.settings.memory_limit or None,
                temp_directory=self.settings.spill_directory(self.path),
            )
            self.schema_version = schema.migrate(self._memory)
            return
        self._session = db.Session(
            self.path,
            read_only=read_only,
            memory_limit=self.settings.memory_limit or None,
            temp_directory=self.settings.temp_directory,
            lock_timeout=self.settings.lock_timeout,
        )
        if Path(self.path).exists():
            with self._session.attached(write=False) as con:
                self.schema_version = schema.current_version(con)
            if self.schema_version > schema.LATEST:
                try:
                    with self._session.attached(write=False) as con:
                        schema.migrate(con)  # refuses it: db.schema_newer, with what to do
                finally:
                    self._session.close()
            if self.schema_version < schema.LATEST and read_only:
                found = self.schema_version
                self._session.close()
                raise WarehouseError(
                    f"{self.path} opened read-only has schema version {found}, this poanalytics "
                    f"reads version {schema.LATEST}",
                    code="db.read_only_schema",
                    hint="open it once writable (Workbench(path), or any load) so it is upgraded, "
                    "or check that the file is a poanalytics warehouse",
                )
            if self.schema_version < schema.LATEST:
                with self.connection(write=True):
                    pass  # upgraded on the way in
        elif read_only:
            self._session.close()
            raise db.not_found(self.path)
        elif create:
            with self.connection(write=True):
                pass

    @contextlib.contextmanager
    def connection(self, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection for one query (``write=False``: the file attached read-only) or one load
        (read-write; a missing warehouse is created). Nested calls share it. Metrics and loaders
        take it: ``with wb.connection() as con: poa.metrics.run_funnel(con, query)``."""
        if self._memory is not None:
            yield self._memory
            return
        assert self._session is not None
        try:
            with self._session.attached(write) as con:
                if write and (self.schema_version or 0) < schema.LATEST:
                    self.schema_version = schema.migrate(con)
                elif self.schema_version is None:  # made since by another process
                    self.schema_version = schema.current_version(con)
                yield con
        except duckdb.Error as exc:
            coded = db.engine_error(exc, self.path)
            if coded is None:
                raise
            raise coded from exc

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection with the warehouse held open (writable unless ``read_only``) until
        ``release()`` or ``close()``, as before poanalytics held files only during a call. While
        held, other processes cannot load; prefer ``with wb.connection() as con:``."""
        if self._memory is not None:
            return self._memory
        assert self._session is not None
        if self._session.mode is None and not self.read_only:
            with self.connection(write=True):  # creates/upgrades like a load would
                pass
        return self._session.hold()

    def release(self) -> None:
        """Stop holding the warehouse file after ``wb.con`` (the next call opens it again)."""
        if self._session is not None:
            self._session.release()

    # -- analysts -------------------------------------------------------------------------------
    def sql(self, query: str, params: Any = None) -> pd.DataFrame:
        """Run SQL against the warehouse with bound parameters (``?`` or ``$name``); returns a DataFrame."""
        with self.connection() as con:
            return db.fetch_df(con, query, params)

    # -- loading --------------------------------------------------------------------------------
    def _load(self, loader: Any, target: Any, source: Any, **options: Any) -> LoadReport:
        """Run one loader on a write connection held for the load alone (see ``connection``);
        ``target`` is the canonical table for ``run_load``, None for loaders that know theirs."""
        with self.connection(write=True) as con, db.memory_limit_for(con, self._load_limit()):
            if target is None:
                return loader(con, source, settings=self.settings, **options)
            return loader(con, target, source, settings=self.settings, **options)

    def _load_limit(self) -> str | None:
        """DuckDB's memory limit for a load into a warehouse file: [duckdb] load_memory_limit when
        memory_limit is not set (then that one holds for everything). An in-memory warehouse keeps
        its events in DuckDB's memory, so bounding it would only push them to disk."""
        if self._memory is not None or self.settings.memory_limit:
            return None
        return self.settings.load_memory_limit or None

    def load_events(
        self,
        source: str | Path | pd.DataFrame,
        format: str | None = None,
        columns: Columns | None = None,
        timezone: str = "UTC",
        timestamp_format: str | None = None,
        encoding: str | None = None,
        delimiter: str | None = None,
    ) -> LoadReport:
        """Load product events from a file, directory, glob or DataFrame.

        ``columns`` maps canonical names (user_id, event, ts, session_id, properties, source_key) to
        source columns, or to a fixed value (``{"event": Const("purchase")}``); other columns become
        properties. ``timezone`` is the zone of times written without an offset;
        ``timestamp_format`` a strptime format ('%Y%m%d') or an epoch unit ('epoch_ms').
        ``encoding`` reads text files saved in another encoding than UTF-8 (e.g. 'cp1252'); UTF-16/32
        files with a byte order mark are read without it. ``delimiter`` is the CSV delimiter
        (default: found from the file), or 'whitespace' for columns aligned with blanks.
        """
        return self._load(
            run_load,
            EVENTS,
            source,
            format=format,
            columns=columns,
            timezone=timezone,
            timestamp_format=timestamp_format,
            encoding=encoding,
            delimiter=delimiter,
        )

    def load_tickets(
        self,
        source: str | Path | pd.DataFrame,
        format: str | None = None,
        columns: Columns | None = None,
        timezone: str = "UTC",
        timestamp_format: str | None = None,
        encoding: str | None = None,
        delimiter: str | None = None,
    ) -> LoadReport:
        """Load support tickets (Zendesk, Intercom, Jira, GitHub issues, or any CSV with a mapping).

        A ticket loaded again replaces the stored one when it changed and is not older.
        ``encoding`` as for load_events.
        """
        return self._load(
            run_load,
            TICKETS,
            source,
            format=format,
            columns=columns,
            timezone=timezone,
            timestamp_format=timestamp_format,
            encoding=encoding,
            delimiter=delimiter,
            id_field="ticket_id",
            version_field="updated_at",
        )

    def load_notes(
        self,
        source: str | Path | pd.DataFrame,
        format: str | None = None,
        columns: Columns | None = None,
        timezone: str = "UTC",
        timestamp_format: str | None = None,
        encoding: str | None = None,
        delimiter: str | None = None,
        **options: Any,
    ) -> LoadReport:
        """Load interview notes: a folder of Markdown files, a highlights CSV, or survey answers.
        ``encoding`` and ``delimiter`` as for load_events."""
        from .ingest.notes import load_notes

        return self._load(
            load_notes,
            None,
            source,
            format=format,
            columns=columns,
            timezone=timezone,
            timestamp_format=timestamp_format,
            encoding=encoding,
            delimiter=delimiter,
            **options,
        )

    def load_sources(
        self, sources: str | Path | None = None, *, errors: str = "raise"
    ) -> SourcesLoad:
        """Load every source named in a sources file (default: the project's conf/sources.toml),
        each with its own options; relative paths (of the file, and in it) start at the project
        root. Loads are idempotent,
        so a second run loads nothing new and a new export file in a folder or glob is picked up.

        Returns the result (``table``: one row per source; ``quarantined``: the rows kept aside).
        A failed load leaves the warehouse as it was, the other sources still load, and then
        (``errors="raise"``) ``sources.load_failed`` names the file and why; ``errors="collect"``
        returns the result instead (``result.raise_failed()`` raises later).
        """
        from .ingest.source_config import SOURCES_NAME, load_sources, read_sources

        if errors not in ("raise", "collect"):
            raise ConfigError(
                f"errors={errors!r} is not an option",
                code="sources.errors_option",
                hint='pass errors="raise" (raise for a failed load once the others are loaded) or '
                '"collect" (return it; result.raise_failed() raises)',
            )
        root = self.settings.root
        file = root / Path(sources).expanduser() if sources else root / SOURCES_NAME
        result = load_sources(self, read_sources(file, root=root), file=str(file))
        if errors == "raise":
            result.raise_failed()
        return result

    def optimize(self) -> OptimizeReport:
        """Rewrite the events in user order (``poanalytics optimize``): each user's events together
        and in time order, so funnels, paths, retention and lifecycle answer faster, with the
        same numbers (docs/warehouse.md). Every row is kept (counted before and after in one
        transaction); one user's events keep their load order, and later loads append after
        them. Worth running after a large load; it rewrites the whole table, then once more into
        the space the first copy freed when the table fits there, so the file keeps its size
        (else that space stays free for later loads: ``report.free_bytes``), under the load's
        memory limit ([duckdb] load_memory_limit)."""
        from .ingest.optimize import compact_events, free_bytes, sort_events

        if self._memory is None and not Path(self.path).exists():
            raise db.not_found(self.path)  # nothing to rewrite; never an empty file made by a typo
        with self.connection(write=True) as con, db.memory_limit_for(con, self._load_limit()):
            report = sort_events(con)
        # The file attached again, so DuckDB reuses the freed blocks; not while it stays attached
        # (held by ``wb.con`` or an enclosing call), where a second copy would only grow it.
        detached = self._session is not None and self._session.mode is None
        with self.connection(write=True) as con, db.memory_limit_for(con, self._load_limit()):
            seconds = compact_events(con) if detached else None
            report.compacted = seconds is not None
            report.seconds += seconds or 0.0
            report.free_bytes = free_bytes(con) if self._memory is None else 0
        return report

    def export_events(
        self,
        path: str | Path,
        *,
        format: str = "parquet",
        partition_by: str | None = "day",
        overwrite: bool = False,
    ) -> ExportReport:
        """Write the events to the folder ``path`` as a Parquet data set that Apache Spark,
        pyarrow or DuckDB read as it is (``poanalytics export events``; docs/warehouse.md):
        the events' columns (``properties`` as JSON text, ``ts`` a UTC timestamp in
        microseconds) and ``seq``, the row's load order (its rowid), which breaks ties at one
        instant as the metrics do; ``partition_by="day"`` puts them in ``day=YYYY-MM-DD``
        folders of the UTC day, ``None`` in one file. Written beside ``path`` and renamed into
        place once every row is found in the files (``export.lost_rows`` otherwise). A folder
        holding anything is refused (``export.exists``) unless ``overwrite=True``, which replaces
        an earlier export (a folder of Parquet files) only. Only reads the warehouse (read-only
        is fine; a missing one is ``db.not_found``), under the load's memory limit."""
        from .ingest.export import check_options, export_events

        check_options(format, partition_by)
        with self.connection() as con, db.memory_limit_for(con, self._load_limit()):
            return export_events(
                con, path, format=format, partition_by=partition_by, overwrite=overwrite
            )

    # -- metrics ------------------------------------------------------------------------------
    def _run_metric(self, area: str, run: Callable[..., R], query: Any) -> R:
        """A metric call (``MetricMethods``) runs on the warehouse's connection for the call."""
        with self.connection() as con:
            return run(con, query)

    def events_source(self) -> Any:
        """The warehouse's connection for one block (``with wb.events_source() as con``): what
        ``events_query`` and the metric calls read."""
        return self.connection()

    def on_spark(self, spark: Any, events: Any) -> Any:
        """The same metric calls (``funnel``, ``paths``, ``retention``, ``lifecycle``,
        ``stickiness``, ``churn``, ``survival``) answered by Apache Spark over ``events``: a table name
        ("catalog.schema.events"), a path to Parquet (e.g. ``poanalytics export events``'s folder)
        or a Spark DataFrame in the canonical events schema. Needs ``poanalytics[spark]`` and
        Java 17+; see docs/scale-out.md. Equivalent to ``poanalytics.spark.SparkWorkbench(spark,
        events)``: this warehouse is not read."""
        from .spark import SparkWorkbench

        return SparkWorkbench(spark, events)

    def metrics_engine(
        self, engine: str = "duckdb", events: Any = None, *, spark: Any = None
    ) -> Any:
        """What answers the metric calls (``funnel``, ``retention``, ...) for a notebook's or a
        report's ``engine`` parameter: "duckdb", this Workbench itself, or "spark",
        ``on_spark(spark, events)`` (``spark``: the session given, else the one running in this
        process, else a local one on every core). On Spark ``events`` is required: a table name
        or a folder (``poanalytics export events`` writes one); docs/scale-out.md."""
        engines = ("duckdb", "spark")
        if engine not in engines:
            raise ConfigError(
                f"there is no engine {engine!r}.{did_you_mean(str(engine), engines)}",
                code="engine.unknown",
                hint='use engine="duckdb" (the warehouse) or engine="spark" (docs/scale-out.md)',
            )
        if engine == "duckdb":
            return self
        if events is None or events == "":
            raise ConfigError(
                "the Spark engine needs the events to read",
                code="engine.spark_events",
                hint="pass events: a table name (catalog.schema.events) or a folder that "
                "`poanalytics export events PATH` wrote",
            )
        from .spark.session import active_or_local

        return self.on_spark(spark or active_or_local(), events)

    # -- voice of the customer -------------------------------------------------------------------
    def voice_taxonomy(self) -> Taxonomy | None:
        """The theme taxonomy (``[voice] taxonomy``, conf/themes.toml), None when there is none;
        ``voice.taxonomy_syntax`` / ``voice.taxonomy_invalid`` when it cannot be used."""
        from .voice.taxonomy import read_taxonomy

        return read_taxonomy(self.settings.taxonomy_path)

    def voice_refresh(self, force: bool = False, *, seed: int = 0) -> RefreshInfo:
        """Read every ticket and interview highlight, clean its text, score sentiment, group
        near-duplicates and assign themes (the taxonomy's, or discovered ones when there is no
        taxonomy, deterministic for ``seed``), stored in the voice_* tables in one transaction.
        Does nothing when the stored refresh is current (same tickets and notes, same taxonomy
        version, same ``[voice] max_chars``) unless ``force``. Returns what it wrote or found
        (``info.refreshed``). Every voice call refreshes first when stale, so this is only needed
        to refresh ahead of time or with another ``seed``."""
        from .voice.store import info_of, is_stale, latest

        taxonomy = self.voice_taxonomy()
        limit = self.settings.voice_max_chars
        if not force:
            with self.connection() as con:
                if not is_stale(con, taxonomy, seed=seed, limit=limit):
                    row = latest(con)
                    assert row is not None
                    return info_of(con, row)
        info = self._voice_write(taxonomy, seed, limit)
        for w in info.warnings:
            warn(w)
        return info

    def _voice_write(self, taxonomy: Taxonomy | None, seed: int, limit: int) -> RefreshInfo:
        from .voice.errors import VoiceError
        from .voice.store import refresh

        if self.read_only:
            raise VoiceError(
                f"the voice tables of {self.path} are out of date (tickets, notes or the "
                "taxonomy changed since the last refresh) and the warehouse is open read-only",
                code="voice.read_only",
                hint="open it writable once (Workbench(path)) and call wb.voice_refresh(), or "
                "run any voice call there: it refreshes first",
            )
        with self.connection(write=True) as con:
            return refresh(con, taxonomy=taxonomy, seed=seed, limit=limit)

    def _voice_ready(self) -> None:
        """Refresh the voice tables when stale (any call reading them runs this first). With no
        taxonomy, a stored discovery of any seed counts as current."""
        from .voice.store import is_stale

        taxonomy = self.voice_taxonomy()
        limit = self.settings.voice_max_chars
        with self.connection() as con:
            stale = is_stale(con, taxonomy, seed=None, limit=limit)
        if stale:
            self._voice_write(taxonomy, 0, limit)

    def themes(
        self, source: str = "all", date_from: Any = None, date_to: Any = None
    ) -> ThemesResult:
        """Themes of tickets and interview highlights (``source``: "all", "tickets" or "notes") in
        a date range: ``.table`` theme, items, unique_problems, users, share, sentiment, trend
        (change against the previous period of the same length; NULL when data does not cover
        it), items_previous, origin; ``.assignments`` (source, item_id, theme, matched_terms);
        ``.figure()``. Rules in docs/voice.md and poanalytics.voice.themes. A theme no item
        matches is listed with 0 items and a ``voice.theme_no_matches`` warning."""
        from .voice.themes import ThemesQuery, no_match_warnings, run_themes

        query = ThemesQuery(source=source, date_from=date_from, date_to=date_to)
        self._voice_ready()
        with self.connection() as con:
            result = run_themes(con, query)
            warnings = no_match_warnings(con)
        for w in warnings:
            result.warnings.append(w)
            warn(w)
        return result

    def discover_themes(
        self,
        source: str = "all",
        n_themes: int | None = None,
        seed: int = 0,
        uncovered: bool = True,
        date_from: Any = None,
        date_to: Any = None,
    ) -> DiscoveryResult:
        """Proposed themes for the items no taxonomy theme took (``uncovered=False``: all items;
        with no taxonomy that is every item): TF-IDF + NMF, deterministic for ``seed``,
        ``n_themes=None`` chosen from the data (``poanalytics.voice.discover``). ``.table``
        label, items, share, terms, keywords, min_matches, rule_items, rule_precision,
        rule_recall, examples, example_ids; ``.assignments``; ``.unassigned`` (source, item_id,
        reason); ``.figure()``. Accept proposals with ``wb.accept_themes(result)``."""
        from .voice.discover import DiscoverQuery, run_discovery

        query = DiscoverQuery(
            source=source,
            n_themes=n_themes,
            seed=seed,
            uncovered=uncovered,
            date_from=date_from,
            date_to=date_to,
        )
        self._voice_ready()
        with self.connection() as con:
            return run_discovery(con, query)

    def accept_themes(
        self,
        result: DiscoveryResult,
        themes: Any = None,
        names: dict[Any, str] | None = None,
        path: str | Path | None = None,
    ) -> Accepted:
        """Append proposed themes of ``result`` (``wb.discover_themes()``; ``themes``: labels or
        row numbers, default all; ``names``: {label or row number: name}) to the taxonomy file (default
        ``[voice] taxonomy``, conf/themes.toml; created when missing) as keyword themes, keeping
        the file's text as it is; the file is read again to check it. A name the taxonomy has
        already is ``voice.theme_exists``. The next voice call refreshes with them."""
        from .voice.accept import accept_themes

        file = path if path is not None else self.settings.taxonomy_path
        return accept_themes(result, themes=themes, names=names, path=file)

    # -- voice: what people say against what they do (voice/people.py, lift.py, trends.py) --------
    def theme_lift(
        self,
        outcome: Any = "churn",
        *,
        inactive_days: int = 28,
        segment: str | None = None,
        source: str = "all",
        date_from: Any = None,
        date_to: Any = None,
        as_of: Any = None,
    ) -> LiftResult:
        """Per theme: how much more often the users who raised it churned (``outcome="churn"``,
        L2 with ``inactive_days``) or dropped at a funnel step (``outcome=(funnel_result, step)``),
        with a 95% interval, Fisher's p-value, small samples flagged and the join rate
        (``.join``). ``as_of`` (churn): judge churn on the events before it, as it stood then.
        Definitions: ``poanalytics.voice.lift``."""
        query = LiftQuery(
            outcome=outcome,
            inactive_days=inactive_days,
            segment=segment,
            source=source,
            date_from=date_from,
            date_to=date_to,
            as_of=as_of,
        )
        self._voice_ready()
        with self.connection() as con:
            return run_lift(con, query)

    def theme_trends(
        self,
        period: str = "week",
        source: str = "all",
        date_from: Any = None,
        date_to: Any = None,
        theme: str | None = None,
    ) -> TrendsResult:
        """Items per theme and ISO week (or day, month), 0 for empty periods, with spikes judged
        against the theme's own previous periods; the period holding the data's end is
        ``incomplete``. Definitions: ``poanalytics.voice.trends``."""
        query = TrendsQuery(
            period=period, source=source, date_from=date_from, date_to=date_to, theme=theme
        )
        self._voice_ready()
        with self.connection() as con:
            return run_trends(con, query)

    def quotes(
        self, theme: str, n: int = 5, source: str = "all", max_chars: int = 200
    ) -> QuotesResult:
        """The theme's ``n`` most representative short quotes (at most ``max_chars``): sentences
        that hold its matched terms, nearest the theme's TF-IDF centroid, one per item where
        possible, near-duplicates skipped, redacted; ``.table`` quote, source, item_id, date,
        sentiment, ref (``"ticket 10006"``, ``"<note file> line 24"``), score. Definitions:
        ``poanalytics.voice.quotes``."""
        query = QuotesQuery(theme=theme, n=n, source=source, max_chars=max_chars)
        self._voice_ready()
        with self.connection() as con:
            return run_quotes(con, query)

    def duplicates(self, source: str = "tickets") -> DuplicatesResult:
        """Near-duplicate groups of the last voice refresh (re-opened tickets, copies across
        channels): ``.table`` group_id (the group's earliest item), item_id, similarity (exact
        word-shingle Jaccard to that first item), source, created_at, group_items, preview
        (redacted). Definitions: ``poanalytics.voice.duplicates``."""
        query = DuplicatesQuery(source=source)
        self._voice_ready()
        with self.connection() as con:
            return run_duplicates(con, query)

    def voice_join(
        self, source: str = "all", date_from: Any = None, date_to: Any = None
    ) -> pd.DataFrame:
        """The items joined to the events' users, per source: items, joined, by_user_id,
        by_identity, by_email, by_hash, ambiguous, unjoined, rate (``poanalytics.voice.people``)."""
        self._voice_ready()
        with self.connection() as con:
            return join_rate(con, source, date_from, date_to)

    # -- the backlog (docs/backlog.md) ------------------------------------------------------------
    def backlog(
        self,
        path: str | Path | None = None,
        *,
        as_of: Any = None,
        config: str | Path | None = None,
    ) -> Backlog:
        """The product backlog ordered by this warehouse's evidence: the product file (``config``,
        default conf/product.toml) and its items ([[items]] and the CSV export of [backlog] path,
        or ``path``, a CSV export, instead). ``as_of``: the data's date (default: the newest
        event; a bare date is the end of that day); the evidence window is the
        [planning] period_weeks before it. ``b.order()``, ``b.scores()``, ``b.evidence(id)``,
        ``b.checks()``, ``b.publish(note=...)``, ``b.override(id, rank, reason)``,
        ``b.impact(id)``: see ``poanalytics.backlog.session``. No product file:
        ``backlog.no_product``."""
        from .backlog.session import open_backlog

        return open_backlog(
            self.settings.root,
            path,
            config=config,
            as_of=as_of,
            connection=self.connection,
            voice_ready=self._voice_ready,
            read_only=self.read_only,
        )

    def objectives(
        self, as_of: Any = None, *, config: str | Path | None = None
    ) -> ObjectivesResult:
        """Each objective of the product file (``config``, default conf/product.toml): its metric
        measured now (``as_of``, default the newest event), trend, 95% interval and distance to
        target: ``.table`` objective, metric, baseline, current, target, trend, ci_low, ci_high,
        direction, distance, progress, n, as_of."""
        from .backlog.session import measure_objectives, read_config

        product = read_config(self.settings.root, config)
        return measure_objectives(
            product, self.connection, as_of=as_of, voice_ready=self._voice_ready
        )

    def decision_log(self, item_id: str | None = None) -> DecisionLogResult:
        """Every published backlog ordering (``b.publish()``), oldest first, one row per ranked
        item: rank, previous_rank, moved ("+2", "-1", "new", "gone"), evidence_rank,
        override_reason and new_evidence (what changed in its evidence since the snapshot before,
        in words); ``.overrides`` every override, active or withdrawn; ``.figure()`` rank
        changes over time."""
        from .backlog.session import decision_log

        return decision_log(self.connection, item_id)

    # -- looking at what is there ---------------------------------------------------------------
    def quarantine(self, load_id: int | None = None) -> pd.DataFrame:
        """Rows kept aside, with file, row, column and reason (all loads, or one)."""
        if load_id is None:
            return self.sql("SELECT * FROM quarantine ORDER BY load_id, file, row")
        return self.sql("SELECT * FROM quarantine WHERE load_id = ? ORDER BY file, row", [load_id])

    def loads(self) -> pd.DataFrame:
        """The load log, newest first."""
        return self.sql("SELECT * FROM load_log ORDER BY load_id DESC")

    def status(self) -> Status:
        """Row counts, date ranges, sources and quarantine counts of every table."""
        with self.connection():  # one attach: every count from the same state of the file
            return warehouse_status(self.sql, self.path, self.schema_version)

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workbench({self.path!r}, schema v{self.schema_version})"


from .backlog.objectives import ObjectivesResult  # noqa: E402  (for the annotation)
from .backlog.results import DecisionLogResult  # noqa: E402  (for the annotation)
from .backlog.session import Backlog  # noqa: E402  (for the annotation)
from .ingest.source_config import SourcesLoad  # noqa: E402  (for the annotation)
from .voice.store import RefreshInfo  # noqa: E402  (for the annotation)
from .voice.taxonomy import Taxonomy  # noqa: E402  (for the annotation)
from .voice.themes import ThemesResult  # noqa: E402  (for the annotation)
