"""A load that fails says why with a code, and is logged in ``load_log``.

Whatever stops a load (a file the OS will not read, a damaged gzip file, DuckDB out of memory or
disk, a read-only warehouse, a bad argument found before the load starts) becomes a ``PoaError``
naming the file and what to do; the load's row in ``load_log`` gets status 'failed' and that
message (which starts with the ``[code]``). The warehouse is otherwise unchanged.
"""

from __future__ import annotations

import contextlib
import gzip
import zlib

import duckdb

from ..db import engine_error, fetch_value
from ..errors import InputError, PoaError, WarehouseError
from .decode import gzip_error
from .sources import unreadable_error

# Errors that are not about the input or the machine: a bug in poanalytics' own SQL or code. They
# are still coded (the CLI prints no traceback), and the original stays chained for a bug report.
INTERNAL = (
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ParserException,
    duckdb.InternalException,
    duckdb.NotImplementedException,
)


def as_load_error(
    exc: BaseException, file: str | None, con: duckdb.DuckDBPyConnection | None = None
) -> BaseException:
    """The coded error for ``exc`` raised while reading ``file`` (None: before or after the files).
    PoaErrors, interrupts and exits are returned as they are."""
    if isinstance(exc, PoaError) or not isinstance(exc, Exception):
        return exc
    resource = engine_error(exc, file)
    if resource is not None:
        return resource
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    if _mentions_warehouse(text, con) and (
        isinstance(exc, PermissionError) or "Permission denied" in text
    ):
        return WarehouseError(
            f"cannot write the warehouse: {first}",
            code="db.read_only",
            hint="make the warehouse file and its folder writable (chmod u+w), "
            "or pass --db with a writable path",
        )
    if isinstance(exc, (EOFError, gzip.BadGzipFile, zlib.error)) or "GZIP" in text.upper():
        return gzip_error(file or "?", exc)
    if isinstance(exc, OSError) and file:
        return unreadable_error(exc, file)
    if isinstance(exc, duckdb.Error) and "Permission denied" in text and file:
        return unreadable_error(PermissionError(text), file)
    if isinstance(exc, RecursionError):
        return InputError(
            "the data is nested too deeply to read (thousands of levels of lists or objects)",
            code="ingest.too_deep",
            file=file,
            hint="flatten the records, or remove the file from the load",
        )
    if isinstance(exc, UnicodeError):
        return InputError(
            f"the text cannot be decoded: {first}",
            code="ingest.encoding",
            file=file,
            hint="pass the file's encoding (encoding=...), or export it as UTF-8",
        )
    if isinstance(exc, INTERNAL) or not isinstance(exc, duckdb.Error):
        return PoaError(
            f"poanalytics failed on this input ({type(exc).__name__}: {first})",
            code="ingest.internal",
            file=file,
            hint="this is a bug in poanalytics: please report it with the command and, if you "
            "can, the file; the warehouse is unchanged",
        )
    return InputError(
        f"DuckDB cannot read this input: {first}",
        code="ingest.read",
        file=file,
        hint="check that the file is complete and in the format its name says (or pass format=); "
        "export it again if it was cut short",
    )


def _mentions_warehouse(text: str, con: duckdb.DuckDBPyConnection | None) -> bool:
    if ".wal" in text:
        return True
    if con is None:
        return False
    path = None
    with contextlib.suppress(duckdb.Error):
        path = fetch_value(
            con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        )
    return bool(path) and str(path) in text


def log_failure(
    con: duckdb.DuckDBPyConnection,
    *,
    kind: str,
    source: str,
    format: str | None,
    options: str,
    error: BaseException,
    load_id: int | None = None,
) -> None:
    """Record a failed load in load_log (best effort: a read-only or full warehouse cannot take it,
    and the error being raised already says why)."""
    message = str(error) if isinstance(error, PoaError) else f"{type(error).__name__}: {error}"
    with contextlib.suppress(duckdb.Error):
        if load_id is None:
            load_id = int(fetch_value(con, "SELECT nextval('load_id_seq')"))
        con.execute(
            "INSERT INTO load_log (load_id, kind, source, format, started_at, finished_at, options, "
            "status, message) VALUES (?, ?, ?, ?, now(), now(), ?, 'failed', ?)",
            [load_id, kind, source, format, options, message[:4000]],
        )


def fail(
    con: duckdb.DuckDBPyConnection,
    exc: BaseException,
    *,
    kind: str,
    source: str,
    format: str | None,
    options: str,
    file: str | None = None,
    load_id: int | None = None,
) -> BaseException:
    """Undo the load, log it as failed and return the (coded) error to raise in its place."""
    with contextlib.suppress(duckdb.Error):  # no transaction when the load failed before it began
        con.execute("ROLLBACK")
    error = as_load_error(exc, file, con)
    log_failure(
        con, kind=kind, source=source, format=format, options=options, error=error, load_id=load_id
    )
    return error
