"""A local Spark session for one machine (tests, benchmarks, trying the engine out) and the checks
that say what is missing when Spark cannot start: pyspark (``pip install 'poanalytics[spark]'``)
or Java 17+ (Debian: ``apt-get install -y openjdk-17-jre-headless``; ``make spark`` does both).

A cluster's session (Databricks, EMR, ``spark-submit``) is made by the cluster; pass it to
``SparkWorkbench`` as it is.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from ..errors import ConfigError

JAVA_HINT = (
    "install Java 17 or later (Debian: apt-get install -y openjdk-17-jre-headless; `make spark` "
    "does it) or set JAVA_HOME"
)


def require_pyspark() -> Any:
    """The pyspark module, or ``spark.not_installed``."""
    try:
        import pyspark
    except ImportError as exc:
        raise ConfigError(
            "the Spark engine needs pyspark, which is not installed",
            code="spark.not_installed",
            hint="pip install 'poanalytics[spark]' (PySpark 4; `make setup` installs it into .venv)",
        ) from exc
    return pyspark


def java_home() -> str | None:
    """Where Java is: $JAVA_HOME when set, else the folder of ``java`` on the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return home
    java = shutil.which("java")
    return os.path.dirname(os.path.dirname(os.path.realpath(java))) if java else None


def require_java() -> str:
    """The Java home Spark will use, or ``spark.java_missing``."""
    home = java_home()
    if home is None:
        raise ConfigError(
            "the Spark engine needs Java, and none was found",
            code="spark.java_missing",
            hint=JAVA_HINT,
        )
    return home


def local_session(cores: int = 2, memory: str = "2g", name: str = "poanalytics") -> Any:
    """A SparkSession on this machine (``local[cores]``) that stays off the network: the driver
    binds to 127.0.0.1, no web UI, its catalog's scratch space in a temporary folder, the session time zone
    UTC and ``2 * cores`` shuffle partitions. An existing session is returned as it is
    (``getOrCreate``): stop it first to change the settings."""
    require_pyspark()
    require_java()
    from pyspark.sql import SparkSession

    scratch = tempfile.mkdtemp(prefix="poa-spark-")
    builder = (
        SparkSession.builder.master(f"local[{int(cores)}]")
        .appName(name)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.memory", memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(2 * int(cores)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.warehouse.dir", os.path.join(scratch, "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={scratch}")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def active_or_local() -> Any:
    """The session already running in this process (a cluster notebook's ``spark``), else a
    ``local_session`` on every core of this machine."""
    require_pyspark()
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession() or local_session(cores=os.cpu_count() or 2)
