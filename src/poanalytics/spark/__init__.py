"""Apache Spark as an engine for the Workbench's metrics (issue 13; docs/scale-out.md).

``SparkWorkbench(spark, events)`` (or ``Workbench.on_spark``) answers the metric calls with the
same query objects, validation and result objects as the DuckDB Workbench; the SQL is built by the
same builders in Spark's dialect (``SparkDialect``) and run by ``SparkRunner``. ``local_session``
starts a Spark on this machine. Importing this package does not import pyspark: that happens
when a session or a SparkWorkbench is made.
"""

from .dialect import SPARK, SparkDialect
from .runner import SparkRunner
from .session import local_session
from .workbench import SparkWorkbench

__all__ = ["SPARK", "SparkDialect", "SparkRunner", "SparkWorkbench", "local_session"]
