"""``SparkWorkbench``: the Workbench's metric calls answered by Apache Spark.

The calls, their keywords and their validation are the Workbench's own (``MetricMethods``); the
SQL is built from the same plans for ``SparkDialect`` and run by ``SparkRunner``, so a metric's
definition is written once. What Spark does not answer yet raises ``spark.unsupported``; nothing
falls back to collecting events on the driver.

The events are read as they are, from a table name, a folder of Parquet (``poanalytics export
events``), Delta or Iceberg files, or a Spark DataFrame, in the canonical events schema:
``user_id``, ``event``, ``ts`` (TIMESTAMP, an instant) and optionally ``session_id``,
``properties`` (JSON text, or a map or struct, written as JSON) and ``seq`` (the load order, which
breaks ties between events at one instant as DuckDB's row order does; without it those ties are
broken arbitrarily). Rows without a user, event or time are not events and are left out.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TypeVar

from ..errors import PoaWarning, warn
from ..metrics.methods import MetricMethods
from ..metrics.spec import MetricError
from ..sql import quote_ident
from .runner import SparkRunner
from .session import require_pyspark

R = TypeVar("R")
# the metric calls Spark answers (MetricMethods' areas)
SUPPORTED = ("funnel", "paths", "retention", "lifecycle", "stickiness", "churn", "survival")
REQUIRED = ("user_id", "event", "ts")


def schema_error(message: str) -> MetricError:
    return MetricError(
        message,
        code="spark.events_schema",
        hint="give the events in the canonical schema: user_id, event, ts (TIMESTAMP) and "
        "optionally session_id, properties (JSON text), seq (load order); "
        "`poanalytics export events` writes it (docs/scale-out.md)",
    )


def _read_path(spark: Any, path: Path) -> Any:
    """A DataFrame over the files at ``path``: Delta (a _delta_log folder), Iceberg (a metadata
    folder) or Parquet."""
    fmt = "parquet"
    if (path / "_delta_log").is_dir():
        fmt = "delta"
    elif (path / "metadata").is_dir() and any((path / "metadata").glob("*.metadata.json")):
        fmt = "iceberg"
    try:
        return spark.read.format(fmt).load(str(path))
    except Exception as exc:  # Spark's AnalysisException, or a missing format's ClassNotFound
        raise MetricError(
            f"Spark cannot read {path} as {fmt}: {str(exc).strip().splitlines()[0][:300]}",
            code="spark.events_unreadable",
            hint="check the path; Delta and Iceberg need their Spark packages on the session "
            "(delta-spark, iceberg-spark-runtime)",
        ) from exc


def events_frame(spark: Any, events: Any) -> Any:
    """The events as a Spark DataFrame: a DataFrame as it is, a path's files, or a table."""
    from pyspark.sql import DataFrame

    if isinstance(events, DataFrame):
        return events
    if isinstance(events, os.PathLike) or (
        isinstance(events, str) and (os.sep in events or Path(events).exists())
    ):
        path = Path(events)
        if not path.exists():
            raise MetricError(
                f"there are no events at {path}",
                code="spark.events_unreadable",
                hint="check the path (`poanalytics export events PATH` writes one)",
            )
        return _read_path(spark, path)
    if isinstance(events, str) and events:
        try:
            return spark.table(events)
        except Exception as exc:
            raise MetricError(
                f"Spark has no table {events!r}: {str(exc).strip().splitlines()[0][:300]}",
                code="spark.events_unreadable",
                hint="name a table the session's catalog holds (catalog.schema.events), or "
                "give a path or a DataFrame",
            ) from exc
    raise MetricError(
        f"cannot read events from {events!r}",
        code="spark.events_type",
        hint="give a table name, a path to Parquet/Delta/Iceberg files or a Spark DataFrame",
    )


def _column(fields: dict[str, Any], name: str, kinds: tuple[str, ...]) -> str | None:
    """The SQL for the canonical column ``name`` from the input's field of that name (any case),
    NULL when the input has none; a field of another type than ``kinds`` is refused."""
    field = fields.get(name)
    if field is None:
        return None
    kind = field.dataType.typeName()
    col = quote_ident(field.name, quote="`")
    if name == "properties" and kind in ("map", "struct"):
        return f"to_json({col})"
    if kind not in kinds:
        raise schema_error(
            f"the events' {name!r} is {field.dataType.simpleString()}, not {kinds[0]}"
        )
    return col


def canonical_sql(frame: Any, source: str) -> tuple[str, bool]:
    """SQL selecting the canonical events from the view ``source`` (columns user_id, event, ts,
    session_id, properties, rowid), and whether the input carries the load order (``seq``)."""
    fields = {f.name.lower(): f for f in frame.schema.fields}
    missing = [n for n in REQUIRED if n not in fields]
    if missing:
        raise schema_error(f"the events have no {', '.join(missing)} column")
    if fields["ts"].dataType.typeName() == "timestamp_ntz":
        raise schema_error(
            "the events' ts is TIMESTAMP_NTZ: a wall-clock time in an unknown zone, not an "
            "instant (cast it to TIMESTAMP in the zone it was written in)"
        )
    text = ("string", "long", "integer")
    user = _column(fields, "user_id", text)
    event = _column(fields, "event", ("string",))
    ts = _column(fields, "ts", ("timestamp",))
    session = _column(fields, "session_id", text) or "NULL"
    props = _column(fields, "properties", ("string",)) or "NULL"
    seq = _column(fields, "seq", ("long", "integer"))
    select = (
        f"SELECT CAST({user} AS STRING) AS user_id, {event} AS event, {ts} AS ts, "
        f"CAST({session} AS STRING) AS session_id, CAST({props} AS STRING) AS properties, "
        f"CAST({seq or '0'} AS BIGINT) AS rowid FROM {quote_ident(source, quote='`')} "
        f"WHERE {usable_sql(user, event, ts)}"
    )
    return select, seq is not None


def usable_sql(user: str | None, event: str | None, ts: str | None) -> str:
    """A row is an event when it has a user, an event name and a time."""
    return f"{user} IS NOT NULL AND {event} IS NOT NULL AND {ts} IS NOT NULL"


def no_order_warning() -> PoaWarning:
    """``spark.no_load_order``: events without ``seq``, so ties at one instant have no order."""
    warning = PoaWarning(
        "the events have no seq column (their load order): events of one user at the same "
        "instant are ordered arbitrarily, so a breakdown value taken from one of them, or which "
        "of them a funnel step uses, may differ from DuckDB's and between runs",
        code="spark.no_load_order",
        hint="export the events with `poanalytics export events` (it writes seq), or add a "
        "seq column that numbers the rows in the order they were recorded",
    )
    warn(warning)
    return warning


class SparkWorkbench(MetricMethods):
    """The metric calls of a Workbench, answered by Spark over ``events`` (see the module)."""

    def __init__(self, spark: Any, events: Any) -> None:
        require_pyspark()
        self.spark = spark
        frame = events_frame(spark, events)
        self.raw = f"poa_input_{uuid.uuid4().hex[:12]}"
        frame.createOrReplaceTempView(self.raw)
        select, self.load_order = canonical_sql(frame, self.raw)
        self._left_out: list[PoaWarning] | None = None
        self._no_order: list[PoaWarning] = [] if self.load_order else [no_order_warning()]
        self.view = f"poa_events_{uuid.uuid4().hex[:12]}"
        spark.sql(
            f"CREATE OR REPLACE TEMPORARY VIEW {quote_ident(self.view, quote='`')} AS {select}"
        )
        self.runner = SparkRunner(spark, self.view)

    def _run_metric(self, area: str, run: Callable[..., R], query: Any) -> R:
        if area not in SUPPORTED:
            raise MetricError(
                f"{area} is not available on Spark yet",
                code="spark.unsupported",
                hint=f"Spark answers {', '.join(SUPPORTED)}; run {area} on the DuckDB "
                "Workbench (docs/scale-out.md)",
            )
        result = run(self.runner, query)
        carried: Any = result  # every metric's result carries its warnings
        carried.warnings.extend([*self._no_order, *self.left_out()])
        return result

    def events_source(self) -> Any:
        """The runner over the events view, for one block: what ``events_query`` reads."""
        return nullcontext(self.runner)

    def left_out(self) -> list[PoaWarning]:
        """The input's rows that are not events (no user, event name or time): counted once,
        on the first metric, and carried by every result as ``spark.rows_left_out`` (a load
        would quarantine them; here they are read as they are, so they are counted instead)."""
        if self._left_out is None:
            fields = {f.name.lower(): f.name for f in self.spark.table(self.raw).schema.fields}
            cols = [quote_ident(fields[n], quote="`") for n in REQUIRED]
            view = quote_ident(self.raw, quote="`")
            count = self.runner.value(
                f"SELECT count(*) FROM {view} WHERE NOT ({usable_sql(*cols)})", {}
            )
            self._left_out = []
            if count:
                warning = PoaWarning(
                    f"{int(count):,} rows of the events have no user_id, event or ts: they are "
                    "not events and are left out of every metric",
                    code="spark.rows_left_out",
                    hint="fill them in at the source, or filter them out before Spark reads "
                    "the events; `poanalytics export events` never writes such rows",
                )
                warn(warning)
                self._left_out = [warning]
        return self._left_out

    def event_names(self) -> list[str]:
        """Every event name in the events, sorted (one aggregate on Spark, kept)."""
        return self.runner.event_names()

    def property_keys(self) -> list[str]:
        """Every top-level property key of the events, sorted (one aggregate on Spark, kept)."""
        return self.runner.property_keys()

    def sql(self, query: str) -> Any:
        """A Spark DataFrame of ``query``; the events are the view named ``self.view``."""
        return self.spark.sql(query)

    def close(self) -> None:
        """Drop the views this workbench made (the session stays)."""
        self.spark.catalog.dropTempView(self.view)
        self.spark.catalog.dropTempView(self.raw)

    def __enter__(self) -> SparkWorkbench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SparkWorkbench(view={self.view!r})"
