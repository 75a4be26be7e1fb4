"""Running built SQL on Spark, and what validation reads of Spark's events (``Catalog``).

``SparkRunner`` is the Spark ``Runner`` of ``metrics.engine``: it takes the SQL a metric built for
``SparkDialect`` with its bound values, turns the ``$pN`` placeholders into Spark's named
parameter markers (``:pN``; values stay bound, never written into the text), runs it with the
session time zone UTC and constraint propagation off (both restored afterwards) and returns the
result, result-sized, through Arrow.
A Spark failure becomes ``spark.query`` with the SQL and values on the error.

It is also the metrics' ``Catalog`` on Spark: the event names with their counts and first and last
times come from one aggregate over the events, the property keys from another, each run once per
runner and only when a query needs it (a few rows return, never the events).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..metrics.engine import Dialect
from ..metrics.spec import MetricError
from .dialect import SPARK

_PLACEHOLDER = re.compile(r"\$(p\d+)\b")
TZ_KEY = "spark.sql.session.timeZone"
# Spark's optimizer derives constraints through every alias of an expression a filter also
# names, doubling them per alias: the funnel's step flags (s1..sN, each aliasing a predicate its
# row filter ORs together) made 2^N of them and ran a 1 GB driver out of memory at 20 steps over
# Parquet. The inferred filters it would add are never needed by these queries.
CONSTRAINTS_KEY = "spark.sql.constraintPropagation.enabled"
SETTINGS = {TZ_KEY: "UTC", CONSTRAINTS_KEY: "false"}


def spark_sql(sql: str) -> str:
    """``sql`` with its ``$pN`` placeholders written as Spark's named markers ``:pN``."""
    return _PLACEHOLDER.sub(r":\1", sql)


def spark_value(value: Any) -> Any:
    """A bound value as Spark's parameter conversion reads it (Python scalars and datetimes)."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise TypeError(f"a zone-less datetime cannot be bound as an instant: {value!r}")
    return value


def query_error(exc: BaseException, sql: str, params: dict[str, Any]) -> MetricError:
    """A failure inside Spark as a coded error carrying the SQL and its values."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    err = MetricError(
        f"the query failed in Spark: {type(exc).__name__}: {first[:500]}",
        code="spark.query",
        hint="check that the events match the canonical schema (docs/scale-out.md); if they "
        "do, it is a bug in poanalytics: report it with the SQL and parameters on this error "
        "(.sql, .params)",
    )
    err.sql, err.params = sql, params
    return err


_NULLABLE_INT = {"long": "Int64", "integer": "Int32", "short": "Int16", "byte": "Int8"}


def as_duckdb_frame(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """``frame`` with the pandas types DuckDB's ``df()`` gives the same result: wall-clock times
    (TIMESTAMP_NTZ) without a zone, and whole numbers with NULLs as nullable integers, not
    floats."""
    for col in schema.fields:
        kind, column = col.dataType.typeName(), frame[col.name]
        if kind == "timestamp_ntz" and getattr(column.dtype, "tz", None) is not None:
            frame[col.name] = column.dt.tz_localize(None)
        elif kind in _NULLABLE_INT and column.dtype.kind == "f":
            frame[col.name] = column.astype(_NULLABLE_INT[kind])
    return frame


@dataclass
class SparkRunner:
    """Runs built SQL on a SparkSession over the events view ``table_name``."""

    spark: Any
    table_name: str
    dialect: Dialect = SPARK
    log: list[str] = field(default_factory=list, repr=False)  # the SQL text of each query run
    _summary: pd.DataFrame | None = field(default=None, repr=False)
    _keys: list[str] | None = field(default=None, repr=False)

    @contextmanager
    def _settings(self) -> Iterator[None]:
        """The session with ``SETTINGS`` for the block, then as it was."""
        conf = self.spark.conf
        before = {key: conf.get(key, None) for key in SETTINGS}
        for key, value in SETTINGS.items():
            conf.set(key, value)
        try:
            yield
        finally:
            for key, value in before.items():
                if value is None:
                    conf.unset(key)
                else:
                    conf.set(key, value)

    def table(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        """The result of ``sql`` as a DataFrame (collected through Arrow)."""
        text = spark_sql(sql)
        args = {k: spark_value(v) for k, v in params.items()}
        self.log.append(text)
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        try:
            with self._settings():
                frame = self.spark.sql(text, args=args)
                arrow = frame.toArrow()
        except (PySparkException, Py4JError) as exc:
            raise query_error(exc, sql, params) from exc
        return as_duckdb_frame(arrow.to_pandas(), frame.schema)

    def value(self, sql: str, params: dict[str, Any]) -> Any:
        """The first column of the first row of ``sql``."""
        frame = self.table(sql, params)
        return frame.iloc[0, 0] if len(frame) else None

    # -- the Catalog (metrics.catalog) ---------------------------------------------------------

    def _events_summary(self) -> pd.DataFrame:
        if self._summary is None:
            view = self.dialect.table(self.table_name)
            self._summary = self.table(
                "SELECT event, count(*) AS events, unix_micros(min(ts)) AS first_us, "
                f"unix_micros(max(ts)) AS last_us FROM {view} GROUP BY event",
                {},
            )
        return self._summary

    def event_names(self) -> list[str]:
        """Every event name, sorted (one aggregate over the events, once per runner)."""
        return sorted(str(e) for e in self._events_summary()["event"])

    def property_keys(self) -> list[str]:
        """Every top-level property key, sorted (one aggregate, once per runner)."""
        if self._keys is None:
            view = self.dialect.table(self.table_name)
            keys = self.table(
                f"SELECT DISTINCT {self.dialect.json_keys('properties')} AS key FROM {view} "
                "WHERE properties IS NOT NULL",
                {},
            )
            self._keys = sorted(str(k) for k in keys["key"].dropna())
        return self._keys

    def event_span(self, names: Iterable[str]) -> tuple[int | None, int | None]:
        """Epoch microseconds of the first and last event with one of ``names``."""
        summary = self._events_summary()
        rows = summary[summary["event"].isin(set(names))]
        if rows.empty:
            return None, None
        return int(rows["first_us"].min()), int(rows["last_us"].max())

    def events_count(self) -> int:
        """How many events the view holds."""
        return int(self._events_summary()["events"].sum())
