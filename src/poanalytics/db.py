"""The DuckDB connection: the only module that opens DuckDB.

Identifiers go through :func:`quote_ident`; values are always bound parameters.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .errors import ConfigError, WarehouseError
from .sql import quote_ident, quote_literal  # noqa: F401  (re-exported: the one quoting helper)


def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    memory_limit: str | None = None,
    temp_directory: str | Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open (or create) a DuckDB database with poanalytics' session settings.

    ``read_only`` opens an existing file without taking the write lock (and works on a read-only
    file or folder); ``memory_limit`` ('4GB') and ``temp_directory`` (where DuckDB spills what does
    not fit) come from ``[duckdb]`` in conf/poanalytics.toml. Failures are coded ``db.*`` errors.
    """
    target = str(path)
    if target != ":memory:" and not read_only:
        try:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise open_error(target, exc, read_only=False) from exc
    try:
        con = duckdb.connect(target, read_only=read_only)
    except duckdb.Error as exc:
        raise open_error(target, exc, read_only=read_only) from exc
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB turns an ASOF join whose left side it *estimates* small into a nested loop; behind the
    # funnel's CTEs the estimate is a handful of rows while the truth is every attempt, and the loop
    # then costs 10x the whole funnel (13 s instead of 0.1 s at 10M events). Always use the real one.
    with contextlib.suppress(duckdb.CatalogException, duckdb.InvalidInputException):
        con.execute("SET asof_loop_join_threshold = 0")
    # In Jupyter, DuckDB refuses to touch the setting without ipywidgets; it is off there anyway.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    try:
        _apply_memory_settings(con, memory_limit, temp_directory)
    except BaseException:
        con.close()
        raise
    return con


def _apply_memory_settings(
    con: duckdb.DuckDBPyConnection, memory_limit: str | None, temp_directory: str | Path | None
) -> None:
    if memory_limit:
        refused = _set(con, "memory_limit", memory_limit)
        if refused:
            raise ConfigError(
                f"DuckDB refuses memory_limit = {memory_limit!r}: {refused}",
                code="config.memory_limit",
                hint="set memory_limit under [duckdb] in conf/poanalytics.toml to a size such as "
                "'4GB' or '512MB', or to '' for DuckDB's default (80% of RAM)",
            )
    if temp_directory:
        refused = _set(con, "temp_directory", str(temp_directory))
        if refused:
            raise ConfigError(
                f"DuckDB refuses temp_directory = {str(temp_directory)!r}: {refused}",
                code="config.temp_directory",
                hint="set temp_directory under [duckdb] in conf/poanalytics.toml to a writable "
                "folder on a disk with free space",
            )


@contextlib.contextmanager
def memory_limit_for(con: duckdb.DuckDBPyConnection, limit: str | None) -> Iterator[None]:
    """DuckDB's ``memory_limit`` set to ``limit`` for the ``with`` block, then back to DuckDB's
    default (for a connection opened without a memory_limit); nothing when ``limit`` is empty."""
    if not limit:
        yield
        return
    refused = _set(con, "memory_limit", limit)
    if refused:
        raise ConfigError(
            f"DuckDB refuses load_memory_limit = {limit!r}: {refused}",
            code="config.load_memory_limit",
            hint="set load_memory_limit under [duckdb] in conf/poanalytics.toml to a size such as "
            "'1GB', or to '' for no bound of its own during loads",
        )
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("RESET memory_limit")


def _set(con: duckdb.DuckDBPyConnection, name: str, value: str) -> str | None:
    """SET a DuckDB option (name is one of ours, value a quoted literal); the refusal, if any."""
    try:
        con.execute(f"SET {name} = {quote_literal(value)}")
    except duckdb.Error as exc:
        return str(exc).splitlines()[0]
    return None


def open_error(target: str, exc: BaseException, *, read_only: bool) -> WarehouseError:
    """The coded error for a warehouse that cannot be opened: missing, read-only, locked, damaged."""
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    if read_only and "does not exist" in text:
        return not_found(target)
    if _is_denied(exc):
        return WarehouseError(
            f"cannot write the warehouse {target}: the file or its folder is read-only ({first})",
            code="db.read_only",
            hint="make the file and its folder writable (chmod u+w), pass --db with a writable "
            "path, or open it read-only to look: `poanalytics status` and "
            "Workbench(path, read_only=True) do",
        )
    if _is_disk_full(exc):
        return disk_full_error(exc, target)
    if "lock" in text.lower():
        return WarehouseError(
            f"cannot open the warehouse {target}: another program holds it open ({first})",
            code="db.open",
            hint="close other programs (or notebooks) that hold the file open, or pass another path",
        )
    return WarehouseError(
        f"cannot open the warehouse {target}: {first}",
        code="db.open",
        hint="check that the path is a DuckDB file made by poanalytics and not held open by "
        "another program; pass another path to start a new warehouse",
    )


def _is_denied(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return True
    text = str(exc)
    return (
        "Permission denied" in text
        or "Read-only file system" in text
        or "read-only mode" in text
        or "Operation not permitted" in text
    )


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return True
    text = str(exc)
    return (
        "No space left on device" in text
        or "Disk quota exceeded" in text
        or "File too large" in text
        or "max_temp_directory_size" in text
    )


def disk_full_error(exc: BaseException, where: str | None = None) -> WarehouseError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return WarehouseError(
        f"the disk is full{' writing ' + where if where else ''}: {first}",
        code="db.disk_full",
        hint="free space on the disk that holds the warehouse and DuckDB's spill folder "
        "(temp_directory under [duckdb] in conf/poanalytics.toml), or point them at a disk with "
        "room; nothing was changed by the failed step",
    )


def engine_error(exc: BaseException, where: str | None = None) -> WarehouseError | None:
    """The coded error for a resource failure of DuckDB or the OS (memory, disk, read-only), or
    None when ``exc`` is something else. ``where`` names the file or warehouse for the message."""
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, (duckdb.OutOfMemoryException, MemoryError)) or "Out of Memory" in text:
        return WarehouseError(
            f"DuckDB ran out of memory{' on ' + where if where else ''}: {first}",
            code="db.out_of_memory",
            hint="raise memory_limit under [duckdb] in conf/poanalytics.toml, and set "
            "temp_directory there to a folder with free disk space so DuckDB can spill to disk; "
            "or load fewer files at once",
        )
    if _is_disk_full(exc):
        return disk_full_error(exc, where)
    if _is_denied(exc) and ("read-only" in text or "Read-only" in text):
        return WarehouseError(
            f"the warehouse is read-only{' (' + where + ')' if where else ''}: {first}",
            code="db.read_only",
            hint="open it writable: Workbench(path) without read_only=True, and make the file and "
            "its folder writable (chmod u+w)",
        )
    return None


_LAST: ContextVar[tuple[str, Any]] = ContextVar("poa_last_statement", default=("", None))


def last_statement() -> tuple[str, Any]:
    """The SQL and parameters of the last statement run through this module (for error reports)."""
    return _LAST.get()


def execute(
    con: duckdb.DuckDBPyConnection, sql: str, params: Any = None
) -> duckdb.DuckDBPyConnection:
    """Run a statement with bound parameters, remembering it for ``last_statement``."""
    _LAST.set((sql, params))
    return con.execute(sql, params) if params is not None else con.execute(sql)


def fetch_df(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pd.DataFrame:
    """Run a query with bound parameters and return a DataFrame."""
    return execute(con, sql, params).df()


def drop_table(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a temp table (quoted name) a call made for itself, if it exists; a closed connection
    has none left anyway."""
    # con.execute, not execute: the failed statement stays the one an error report shows
    with contextlib.suppress(duckdb.ConnectionException):
        con.execute(f"DROP TABLE IF EXISTS {name}")


def fetch_all(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple]:
    return execute(con, sql, params).fetchall()


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple | None:
    return execute(con, sql, params).fetchone()


def fetch_value(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> Any:
    """The first column of the first row (a count, a flag, a single value)."""
    row = fetch_one(con, sql, params)
    if row is None:
        raise WarehouseError(
            f"query returned no row: {sql[:80]}",
            code="db.no_row",
            hint="a query that always returns one row returned none: this is a bug in poanalytics; "
            "please report it with the query shown",
        )
    return row[0]


# -- the warehouse file, held only while a query or load runs ---------------------------------------

ALIAS = "warehouse"  # the name the file is attached under in a Session's in-memory connection
_SESSIONS: dict[int, Session] = {}  # id(session connection) -> its Session (for results' methods)


class Session:
    """A warehouse file seen through one in-memory DuckDB connection that outlives every query.

    The file is ATTACHed (read-only for a query, read-write for a load) only for the time of one
    call and DETACHed after it, so between calls this process holds no lock on the file and other
    processes (a scheduled report, ``poanalytics status``, a load) can open it. Temp tables (a
    funnel result's per-unit table) live in the in-memory connection and survive the detach.
    A locked file is retried until ``lock_timeout`` seconds have passed, then ``db.locked``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        temp_directory: str | Path | None = None,
        lock_timeout: float = 30.0,
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        self.lock_timeout = lock_timeout
        # an in-memory DuckDB spills to .tmp in the working directory: keep DuckDB's own choice
        # for a file, <warehouse>.tmp beside it
        self.con = connect(
            ":memory:",
            memory_limit=memory_limit,
            temp_directory=temp_directory or self.path + ".tmp",
        )
        self.mode: str | None = None  # None (detached), "r" or "w"
        self.sticky = False  # held by wb.con until release()
        self._depth = 0
        _SESSIONS[id(self.con)] = self

    @contextlib.contextmanager
    def attached(self, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The session connection with the file attached (and USEd) for the ``with`` block."""
        if self.mode is None or (write and self.mode == "r"):
            if self.mode == "r":
                if self._depth:
                    raise WarehouseError(
                        f"{self.path} is open read-only by an unfinished query; cannot load now",
                        code="db.nested_write",
                        hint="finish the query first (a load cannot run inside another query)",
                    )
                self._detach()
            self._attach(write)
        self._depth += 1
        try:
            yield self.con
        finally:
            self._depth -= 1
            if not self._depth and not self.sticky:
                self._detach()

    def hold(self) -> duckdb.DuckDBPyConnection:
        """Attach the file (writable unless read-only) and keep it until ``release()`` (``wb.con``)."""
        if self.mode != "w" and not self.read_only:
            if self.mode == "r" and not self._depth:
                self._detach()
            if self.mode is None:
                self._attach(True)
        elif self.mode is None:
            self._attach(False)
        self.sticky = True
        return self.con

    def release(self) -> None:
        """Stop holding the file (after ``hold``); it is attached again by the next call."""
        self.sticky = False
        if not self._depth:
            self._detach()

    def close(self) -> None:
        _SESSIONS.pop(id(self.con), None)
        with contextlib.suppress(duckdb.Error):
            self.con.close()
        self.mode = None

    def _attach(self, write: bool) -> None:
        if write and self.read_only:
            raise WarehouseError(
                f"{self.path} was opened read-only; it cannot be written",
                code="db.read_only",
                hint="open it writable: Workbench(path) without read_only=True",
            )
        target = Path(self.path)
        if not write and not target.exists():
            raise not_found(self.path)
        if write:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise open_error(self.path, exc, read_only=False) from exc
        option = "" if write else " (READ_ONLY)"
        deadline = time.monotonic() + max(self.lock_timeout, 0.0)
        pause = 0.02
        while True:
            try:
                self.con.execute(f"ATTACH {quote_literal(self.path)} AS {ALIAS}{option}")
                break
            except duckdb.Error as exc:
                if not is_lock_error(exc):
                    raise open_error(self.path, exc, read_only=not write) from exc
                if time.monotonic() >= deadline:
                    raise locked_error(self.path, exc, self.lock_timeout) from exc
                time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
                pause = min(pause * 2, 0.5)
        self.con.execute(f"USE {ALIAS}")
        self.mode = "w" if write else "r"

    def _detach(self) -> None:
        if self.mode is None:
            return
        with contextlib.suppress(duckdb.TransactionException):
            self.con.execute("ROLLBACK")  # a transaction left open by a failed statement
        self.con.execute("USE memory")
        self.con.execute(f"DETACH {ALIAS}")
        self.mode = None


@contextlib.contextmanager
def attached_for(con: Any, write: bool = False) -> Iterator[None]:
    """Attach the warehouse of a session connection (a result's ``con``) for the ``with`` block;
    nothing for any other connection (":memory:", a plain file connection)."""
    session = _SESSIONS.get(id(con)) if con is not None else None
    if session is None:
        yield
        return
    with session.attached(write):
        yield


def is_lock_error(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def not_found(target: str) -> WarehouseError:
    return WarehouseError(
        f"there is no warehouse at {target}",
        code="db.not_found",
        hint="opening a warehouse for analysis never creates one: check the path (or "
        "POANALYTICS_ROOT), create it with `make run` / `poanalytics demo` or a load, or pass "
        "Workbench(path, create=True) for an empty one",
    )


def locked_error(target: str, exc: BaseException, timeout: float) -> WarehouseError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return WarehouseError(
        f"the warehouse {target} is locked by another program (waited {timeout:g} s): {first}",
        code="db.locked",
        hint="another process is writing it (a load, or a program holding it open read-write: "
        "a notebook using wb.con, a DuckDB shell); wait for it to finish or close it, then run "
        "again; lock_timeout under [duckdb] in conf/poanalytics.toml sets how long to wait",
    )
