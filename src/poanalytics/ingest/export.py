"""Write the events table as a Parquet data set that a data lake reads as it is:
``poanalytics export events`` (``Workbench.export_events``; issue 13, Spark scale-out).

DuckDB writes it, in one ``COPY (SELECT ...) TO ... (FORMAT parquet, PARTITION_BY (day))``: no
Python loop over rows. What is written, for Apache Spark (``spark.read.parquet(path)``), pyarrow
or DuckDB to read without a schema of their own:

- the columns of ``events``: user_id, event, ts, session_id, properties, source, source_key,
  load_id. ``ts`` is a Parquet timestamp in microseconds adjusted to UTC (Spark: TimestampType);
  ``properties`` the JSON text as a plain string (DuckDB's JSON type would be a logical type
  other readers may not know);
- ``seq`` (BIGINT): the row's ``rowid``, its place in the table's load order, which breaks ties
  between events at one instant as poanalytics' metrics break them (``ORDER BY ts, seq``);
- partitioned by ``day``, the UTC calendar day of ``ts`` computed in UTC whatever the session's
  time zone, as Hive-style folders ``day=YYYY-MM-DD/`` (Spark reads ``day`` as a DateType column);
  ``partition_by=None``: one file, ``data_0.parquet``, with no ``day`` column.

``path`` is always a folder. It is written as a hidden sibling folder (``.NAME.export-...``, which
Spark and pyarrow skip) and renamed into place only once complete and checked, so a failed or
interrupted export never leaves a half-written folder under the name. A folder that already holds
anything is refused (``export.exists``) unless ``overwrite=True``, which replaces an earlier
export: a folder of Parquet files (and hidden or ``_`` marker files, such as Spark's ``_SUCCESS``);
a folder holding anything else is refused even then (``export.not_an_export``), so a mistyped path
cannot delete a warehouse or a project folder.

Nothing lost: the events are counted per UTC day in the same transaction as the ``COPY`` (one
snapshot), and the files written are read back (``read_parquet`` with Hive partitioning) and
counted per ``day`` folder; any difference fails with ``export.lost_rows`` and puts nothing in
place. An empty warehouse writes one Parquet file with every column (``day`` included when
partitioned) and no rows, so every reader finds the schema instead of failing on an empty folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ..db import engine_error, execute, fetch_all, quote_literal
from ..errors import ConfigError, PoaWarning, WarehouseError, unknown_name, warn

FORMATS = ("parquet",)
PARTITIONS = ("day",)  # or None
SINGLE_FILE = "data_0.parquet"  # the name DuckDB gives the first file of each partition
DAY = "CAST(timezone('UTC', ts) AS DATE)"  # the UTC calendar day, whatever the session's zone
COLUMNS = """user_id, event, ts, session_id, CAST(properties AS VARCHAR) AS properties, source,
       source_key, load_id, CAST(rowid AS BIGINT) AS seq"""


@dataclass
class ExportReport:
    """What ``Workbench.export_events`` wrote: ``rows`` events (counted in the files read back, and
    equal to the warehouse's), in ``files`` Parquet files holding ``bytes`` under ``path``;
    ``partitions`` is the number of ``day=YYYY-MM-DD`` folders (0 when not partitioned)."""

    path: str
    rows: int
    files: int
    partitions: int
    bytes: int
    seconds: float
    format: str = "parquet"
    partition_by: str | None = "day"

    def __str__(self) -> str:
        files = f"{self.files:,} Parquet file{'s' * (self.files != 1)}"
        if self.partition_by:
            folders = (
                f"{self.partitions:,} {self.partition_by} folder{'s' * (self.partitions != 1)}"
            )
            files += f" in {folders} ({self.partition_by}=YYYY-MM-DD, UTC)"
        size = f"{self.bytes / (1 << 20):,.1f} MB" if self.bytes >= 1 << 20 else f"{self.bytes:,} B"
        return (
            f"events exported: {self.rows:,} events to {self.path}, {files}, {size}, "
            f"in {self.seconds:.1f} s"
        )


def check_options(format: str, partition_by: str | None) -> None:
    """Refuse a format other than parquet (``export.format``) and a partitioning other than
    "day" or None (``export.partition_by``)."""
    if format not in FORMATS:
        raise unknown_name(
            "export format",
            str(format),
            FORMATS,
            code="export.format",
            hint='export events as Parquet: format="parquet" (--format parquet), the format Spark, '
            "pyarrow and DuckDB read as it is",
        )
    if partition_by is not None and partition_by not in PARTITIONS:
        raise unknown_name(
            "partitioning",
            str(partition_by),
            PARTITIONS,
            code="export.partition_by",
            hint='partition by "day" (folders day=YYYY-MM-DD of the UTC day) or None for one file '
            "(--partition-by day or --partition-by none)",
        )


def export_events(
    con: duckdb.DuckDBPyConnection,
    path: str | os.PathLike[str],
    *,
    format: str = "parquet",
    partition_by: str | None = "day",
    overwrite: bool = False,
) -> ExportReport:
    """Write ``events`` under the folder ``path`` as Parquet (see the module's docstring): written
    beside it, checked against a count of the events in the same transaction as the write
    (``export.lost_rows``), then renamed into place. ``export.exists`` for a folder that holds
    anything, unless ``overwrite`` (which replaces an earlier export only: ``export.not_an_export``
    otherwise); ``export.not_a_folder`` for a file. Only reads the warehouse."""
    started = time.perf_counter()
    check_options(format, partition_by)
    target = _target(path, overwrite)
    work = target.parent / f".{target.name}.export-{uuid.uuid4().hex[:12]}"
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            work.mkdir()
        except OSError as exc:
            raise _write_error(target, exc) from exc
        expected = _write(con, work, partition_by, target)
        files = sorted(work.rglob("*.parquet"))
        written = _read_back(con, files, partitioned=partition_by is not None)
        _check(expected, written, target)
        size = sum(f.stat().st_size for f in files)
        _put_in_place(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # gone already when renamed into place
    return ExportReport(
        path=str(target),
        rows=sum(written.values()),
        files=len(files),
        partitions=len(written) if partition_by else 0,
        bytes=size,
        seconds=round(time.perf_counter() - started, 3),
        format=format,
        partition_by=partition_by,
    )


def _target(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """The folder to write, refused when it is a file, or holds anything (unless ``overwrite``
    and it holds an earlier export only)."""
    target = Path(path).expanduser().resolve()
    if (target.exists() and not target.is_dir()) or target == target.parent:
        raise ConfigError(
            f"{target} is not a folder: an export is a folder of Parquet files",
            code="export.not_a_folder",
            hint="pass the path of a new or empty folder (it is created), e.g. lake/events",
        )
    if not target.is_dir() or not any(target.iterdir()):
        return target
    if not overwrite:
        raise ConfigError(
            f"the folder {target} is not empty",
            code="export.exists",
            hint="choose a new or empty folder, or pass --overwrite (overwrite=True) to replace "
            "an earlier export there",
        )
    stray = _not_exported(target)
    if stray is not None:
        raise ConfigError(
            f"--overwrite replaces an earlier export (a folder of Parquet files), and {target} "
            f"holds {stray.relative_to(target)}",
            code="export.not_an_export",
            hint="choose another folder (a new or empty one, or an earlier export), or remove "
            "this one yourself if what it holds can go",
        )
    return target


def _not_exported(folder: Path) -> Path | None:
    """The first file under ``folder`` an export (DuckDB's, or Spark's with its ``_SUCCESS`` and
    ``.crc`` files) would not hold, or None."""
    for root, _, names in os.walk(folder):
        for name in names:
            if not (name.endswith(".parquet") or name.startswith(("_", "."))):
                return Path(root) / name
    return None


def _write(
    con: duckdb.DuckDBPyConnection, work: Path, partition_by: str | None, target: Path
) -> dict[Any, int]:
    """Count the events (per UTC day when partitioned) and write them under ``work`` in one
    transaction, so the count and the files see the same rows. Returns the counts."""
    day = f", {DAY} AS day" if partition_by else ""
    select = f"SELECT {COLUMNS}{day} FROM events"
    execute(con, "BEGIN TRANSACTION")  # outside the try: a refused BEGIN rolls nothing back
    try:
        expected = _counts(con, partition_by)
        try:
            if expected and partition_by:
                execute(
                    con,
                    f"COPY ({select}) TO {quote_literal(str(work))} "
                    "(FORMAT parquet, PARTITION_BY (day))",
                )
            else:  # one file; none partitioned: no day folder to put it in, every column kept
                execute(
                    con,
                    f"COPY ({select}) TO {quote_literal(str(work / SINGLE_FILE))} (FORMAT parquet)",
                )
        except duckdb.Error as exc:
            raise _write_error(target, exc) from exc
        execute(con, "COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            execute(con, "ROLLBACK")
        raise
    return expected


def _counts(con: duckdb.DuckDBPyConnection, partition_by: str | None) -> dict[Any, int]:
    """The events per UTC day ({} when there are none), or {None: all of them}."""
    if partition_by:
        return {
            d: int(n) for d, n in fetch_all(con, f"SELECT {DAY}, count(*) FROM events GROUP BY 1")
        }
    return {None: int(fetch_all(con, "SELECT count(*) FROM events")[0][0])}


def _read_back(
    con: duckdb.DuckDBPyConnection, files: list[Path], *, partitioned: bool
) -> dict[Any, int]:
    """The rows the written files hold, per ``day`` folder (Hive partitioning, as Spark reads
    them) when partitioned, else {None: all of them}; {} for a partitioned export of no rows."""
    names = [str(f) for f in files]
    if not names:
        return {}
    if partitioned and any(f.parent.name.startswith("day=") for f in files):
        rows = fetch_all(
            con,
            "SELECT day, count(*) FROM read_parquet($files, hive_partitioning = true, "
            "hive_types = {'day': DATE}) GROUP BY 1",
            {"files": names},
        )
        return {d: int(n) for d, n in rows}
    total = int(fetch_all(con, "SELECT count(*) FROM read_parquet($files)", {"files": names})[0][0])
    return {None: total} if total or not partitioned else {}


def _check(expected: dict[Any, int], written: dict[Any, int], target: Path) -> None:
    if written == expected:
        return
    want, got = sum(expected.values()), sum(written.values())
    if want != got:
        what = f"the files written hold {got:,} of the {want:,} events"
    else:
        day = min((d for d in expected.keys() | written.keys()), key=str)
        what = (
            f"the day folders do not match the events' UTC days: day {day} holds "
            f"{written.get(day, 0):,} events written, {expected.get(day, 0):,} in the warehouse"
        )
    raise WarehouseError(
        f"the export does not hold the events as the warehouse does: {what}",
        code="export.lost_rows",
        hint=f"nothing was put at {target} (the files written were removed); export again, and if "
        "it happens again report it with the warehouse's `poanalytics status`",
    )


def _put_in_place(work: Path, target: Path) -> None:
    """Rename the finished folder to ``target``. An existing one (empty, or an earlier export
    being overwritten) is moved aside first and put back if the rename fails, then removed."""
    old = None
    try:
        if target.exists():
            old = target.parent / f".{target.name}.replaced-{uuid.uuid4().hex[:12]}"
            os.rename(target, old)
        try:
            os.rename(work, target)
        except OSError:
            if old is not None:
                os.rename(old, target)
                old = None
            raise
    except OSError as exc:
        raise _write_error(target, exc) from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
        if old.exists():
            warn(
                PoaWarning(
                    f"the export is in place at {target}, but the earlier one, moved aside to "
                    f"{old}, could not be removed",
                    code="export.old_left",
                    hint=f"remove {old} yourself (readers skip it: its name starts with a dot)",
                )
            )


def _write_error(target: Path, exc: BaseException) -> WarehouseError:
    """The coded error for an export that could not be written: DuckDB out of memory or a full
    disk as everywhere (``db.out_of_memory``, ``db.disk_full``), anything else ``export.write``."""
    coded = engine_error(exc, str(target))
    if coded is not None and coded.code != "db.read_only":  # that one's hint is about the warehouse
        return coded
    if isinstance(exc, OSError):
        first = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    else:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return WarehouseError(
        f"cannot write the export {target}: {first}",
        code="export.write",
        hint="check that the folder (or the first of its parents that exists) is writable and "
        "that its disk has room; nothing was put in place",
    )
