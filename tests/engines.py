"""Both engines behind one fixture: a DuckDB warehouse whose metric calls Spark answers.

``OnSpark`` wraps a DuckDB ``Workbench``: loads, ``sql`` and everything else go to the warehouse;
the metric calls (``retention``, ``lifecycle``, ...) go to a ``SparkWorkbench`` over the
warehouse's events as ``poanalytics export events`` writes them (day-partitioned Parquet with the
load order, ``seq``), exported again after every load: the round trip a team makes to its lake. A journey test written against ``wb`` then runs unchanged on both engines
(conftest's ``engine_wb``); any difference in a number fails it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import poanalytics as poa

SPARK_CALLS = ("funnel", "paths", "retention", "lifecycle", "stickiness", "churn", "survival")
EXPORT_SQL = (
    "SELECT user_id, event, ts, session_id, CAST(properties AS VARCHAR) AS properties, "
    "rowid AS seq FROM events"
)


def spark_frame(spark: Any, wb: poa.Workbench) -> Any:
    """The warehouse's events as a Spark DataFrame in the canonical schema (through Arrow)."""
    with wb.connection() as con:
        table = con.sql(EXPORT_SQL).to_arrow_table()
    return spark.createDataFrame(table)


class OnSpark:
    """``wb`` with its metric calls answered by Spark (see the module)."""

    engine = "spark"

    def __init__(self, wb: poa.Workbench, spark: Any) -> None:
        self.wb, self.spark = wb, spark
        self._on: Any = None
        self._loads = -1
        self._lake = Path(tempfile.mkdtemp(prefix="poa-lake-"))

    def __getattr__(self, name: str) -> Any:
        if name in SPARK_CALLS:
            return getattr(self.on_spark(), name)
        return getattr(self.wb, name)

    def on_spark(self) -> Any:
        """The SparkWorkbench over the warehouse's events as they are now."""
        loads = len(self.wb.loads())
        if self._on is None or loads != self._loads:
            if self._on is not None:
                self._on.close()
            # a new folder per export: Spark keeps the file listing of a path it has read
            folder = self._lake / f"events-{loads}"
            self.wb.export_events(folder)
            self._on = self.wb.on_spark(self.spark, events=folder)
            self._loads = loads
        return self._on

    def close(self) -> None:
        if self._on is not None:
            self._on.close()
        self.wb.close()
        shutil.rmtree(self._lake, ignore_errors=True)
