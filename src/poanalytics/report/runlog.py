"""Report runs: the run lock (two runs never overlap) and the ``report_runs`` table.

The lock is ``fcntl.flock`` on ``<reports>/.run.lock``, held by the running process for the whole
run and released by the kernel when that process ends in any way (a crash, ``kill -9``), so a
lock is never left behind. A second run does not wait: it fails at once with ``report.busy``
naming the holder's pid. The warehouse itself is not held between queries (db.Session), so a
notebook with an open Workbench never blocks a run; a load in progress makes the run's warehouse
calls wait ``lock_timeout`` and then fail with ``db.locked``.

Each run is a row of ``report_runs`` (schema migration 3): started ``running``, finished ``ok`` or
``failed``. A run killed before it could finish leaves ``running`` behind; such a row is shown as
``stale`` by ``report history`` when no process holds the lock, and the next run records it as
``failed`` with ``report.stale``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .. import db, schema
from ..errors import PoaError

LOCK_NAME = ".run.lock"


class RunBusy(PoaError):
    """Another report run holds the run lock."""

    code = "report.busy"


@dataclass
class RunLock:
    """The run lock of a reports folder; ``with RunLock(folder):`` or acquire()/release()."""

    folder: Path
    _fd: int | None = None

    @property
    def path(self) -> Path:
        return Path(self.folder) / LOCK_NAME

    def acquire(self) -> None:
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = _read(fd)
            os.close(fd)
            raise RunBusy(
                f"another report run is in progress ({text or 'pid unknown'}); "
                "runs never overlap, so this one did not start",
                code="report.busy",
                hint="wait for it to finish (see `poanalytics report history`) and run again; "
                "a scheduler should not start a run while the last one is still going",
            ) from None
        os.ftruncate(fd, 0)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return ""


def lock_holder(folder: Path) -> str | None:
    """Who holds the run lock of ``folder`` (``"pid 12 on host since ..."``), or None. Reads only:
    a missing lock file is nobody."""
    path = Path(folder) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd) or "a process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# -- the report_runs table --------------------------------------------------------------------------

STALE_MESSAGE = (
    "the run stopped without recording its end (the process was killed or the machine stopped); "
    "its report was not written"
)


def _alive(pid: int | None, host: str | None) -> bool:
    if not pid or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


def start(session: db.Session, *, week: str, parameters: dict[str, Any]) -> int:
    """Record a run as ``running`` (migrating the warehouse if it predates report_runs); rows left
    ``running`` by processes that are gone are recorded ``failed`` with ``report.stale``. Call with
    the run lock held."""
    with session.attached(write=True) as con:
        schema.migrate(con)
        for run_id, pid, host in db.fetch_all(
            con, "SELECT run_id, pid, host FROM report_runs WHERE status = 'running'"
        ):
            if not _alive(pid, host):
                db.execute(
                    con,
                    "UPDATE report_runs SET status = 'failed', error_code = 'report.stale', "
                    "error_message = ?, finished_at = now() WHERE run_id = ?",
                    [STALE_MESSAGE, run_id],
                )
        run_id = int(db.fetch_value(con, "SELECT nextval('report_run_seq')"))
        db.execute(
            con,
            "INSERT INTO report_runs (run_id, started_at, status, week, parameters, pid, host) "
            "VALUES (?, now(), 'running', ?, ?, ?, ?)",
            [run_id, week, json.dumps(parameters), os.getpid(), socket.gethostname()],
        )
    return run_id


def finish(
    session: db.Session,
    run_id: int,
    *,
    status: str,
    week: str | None = None,
    snapshot: dict[str, Any] | None = None,
    report_path: str | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    """Record the end of a run: ``ok`` or ``failed`` with its error."""
    with session.attached(write=True) as con:
        db.execute(
            con,
            "UPDATE report_runs SET status = ?, finished_at = now(), week = coalesce(?, week), "
            "snapshot = coalesce(?, snapshot), report_path = ?, error_code = ?, error_message = ? "
            "WHERE run_id = ?",
            [
                status,
                week,
                json.dumps(snapshot) if snapshot is not None else None,
                report_path,
                error_code,
                error_message,
                run_id,
            ],
        )


def note_error(session: db.Session, run_id: int, code: str, message: str) -> None:
    """Record an error on a run that is otherwise done (a delivery that failed after publishing)."""
    with session.attached(write=True) as con:
        db.execute(
            con,
            "UPDATE report_runs SET error_code = ?, error_message = ? WHERE run_id = ?",
            [code, message, run_id],
        )


def snapshot(session: db.Session) -> dict[str, Any]:
    """What the warehouse holds: row counts, the last event time and the ids of the good loads."""
    with session.attached() as con:
        rows = db.fetch_one(
            con,
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM tickets), "
            "(SELECT count(*) FROM notes), (SELECT max(ts) FROM events)",
        )
        loads = db.fetch_all(con, "SELECT load_id FROM load_log WHERE status = 'ok' ORDER BY 1")
    assert rows is not None
    last = rows[3]
    return {
        "rows": {"events": int(rows[0]), "tickets": int(rows[1]), "notes": int(rows[2])},
        "last_event": last.isoformat() if last is not None else None,
        "load_ids": [int(r[0]) for r in loads],
    }


COLUMNS = (
    "run_id, started_at, finished_at, status, week, report_path, error_code, error_message, pid, "
    "host, parameters"
)
HISTORY_SQL = f"SELECT {COLUMNS} FROM report_runs ORDER BY run_id DESC LIMIT ?"


def history(
    path: str | Path, *, folder: Path, limit: int = 20, lock_timeout: float = 30
) -> pd.DataFrame:
    """The last ``limit`` runs, newest first; ``running`` rows whose process is gone (nobody holds
    the run lock of ``folder``) show as ``stale``. Reads only: never creates or migrates."""
    session = db.Session(path, read_only=True, lock_timeout=lock_timeout)
    try:
        with session.attached() as con:
            if schema.current_version(con) < 3:
                frame = pd.DataFrame(columns=COLUMNS.split(", "))
            else:
                frame = db.fetch_df(con, HISTORY_SQL, [max(limit, 0)])
    except duckdb.Error as exc:
        raise db.open_error(str(path), exc, read_only=True) from exc
    finally:
        session.close()
    if len(frame) and (frame.status == "running").any() and lock_holder(folder) is None:
        frame.loc[frame.status == "running", "status"] = "stale"
    return frame


def format_history(frame: pd.DataFrame) -> str:
    """The table `poanalytics report history` prints."""
    if not len(frame):
        return "no report has been run on this warehouse yet (poanalytics report weekly)"
    lines = [f"{'run':>5}  {'started (UTC)':<16}  {'took':>6}  {'status':<7}  {'week':<8}  result"]
    for r in frame.itertuples(index=False):
        started = pd.Timestamp(r.started_at).tz_convert("UTC")
        took = ""
        if pd.notna(r.finished_at):
            seconds = (pd.Timestamp(r.finished_at) - pd.Timestamp(r.started_at)).total_seconds()
            took = f"{seconds:.0f}s"
        if r.status == "ok":
            result = str(r.report_path)
            if isinstance(r.error_code, str) and r.error_code:  # published, then delivery failed
                result += f"; not delivered: [{r.error_code}] {r.error_message}"
        elif r.status == "stale":
            result = "stopped without recording its end (process gone)"
        elif r.status == "running":
            result = f"running (pid {r.pid})"
        else:
            first = str(r.error_message or "").splitlines()[0] if r.error_message else ""
            result = f"[{r.error_code}] {first}"
            if isinstance(r.report_path, str) and r.report_path:
                result += f" -- see {r.report_path}"
        week = r.week if isinstance(r.week, str) else "-"
        lines.append(
            f"{int(r.run_id):>5}  {started:%Y-%m-%d %H:%M}  {took:>6}  {r.status:<7}  {week:<8}  "
            f"{result}"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def attached_session(path: str | Path, lock_timeout: float) -> Iterator[db.Session]:
    session = db.Session(path, lock_timeout=lock_timeout)
    try:
        yield session
    finally:
        session.close()
