"""The real `poanalytics` command on bad inputs: a `[code]` line with what to do, exit status 2, and
never a traceback. Permission cases run the CLI as an unprivileged user when the tests run as root
(CI does), so chmod means what it says; as another user, chmod alone does it."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import poanalytics as poa

ROW = {"user_id": "u1", "event": "signed_up", "ts": "2024-01-01T10:00:00Z"}
NOBODY = 65534


def cli(*args: str, cwd: Path, drop_to: int | None = None, env: dict | None = None):
    """Run the command line. ``drop_to``: a uid the process switches to before the command runs
    (after Python has started: the interpreter may live where that user cannot go)."""
    command = [sys.executable, "-m", "poanalytics", *args]
    if drop_to is not None:
        command = [sys.executable, "-c", DROP, str(drop_to), *args]
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "POANALYTICS_ROOT": str(cwd), **(env or {})},
        timeout=300,
    )


# `python -m poanalytics ARGS` as another user: everything the commands import is imported first.
DROP = """
import os, sys
import poanalytics.cli, poanalytics.workbench, poanalytics.status, poanalytics.ingest.notes
uid = int(sys.argv.pop(1))
os.setgroups([]); os.setgid(uid); os.setuid(uid)
sys.argv[0] = "poanalytics"
raise SystemExit(poanalytics.cli.main(sys.argv[1:]))
"""


def assert_coded(result, code: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert re.search(rf"\[{re.escape(code)}\]", result.stderr), result.stderr
    assert "What to do:" in result.stderr


def test_cli_bad_inputs_give_a_code_and_no_traceback(tmp_path):
    lines = "".join(json.dumps({**ROW, "n": i}) + "\n" for i in range(20_000)).encode()
    packed = gzip.compress(lines)
    (tmp_path / "cut.jsonl.gz").write_bytes(packed[: len(packed) // 2])
    (tmp_path / "fake.jsonl.gz").write_bytes(lines[:500])
    (tmp_path / "latin1.csv").write_bytes("user_id,event,ts\nJosé,x,2024-01-01\n".encode("cp1252"))
    os.mkfifo(tmp_path / "pipe.csv")
    deep = tmp_path / "deep.jsonl"
    deep.write_text(json.dumps(ROW)[:-1] + ', "p": ' + '{"a":' * 20_000 + "1" + "}" * 20_001 + "\n")
    db = str(tmp_path / "w.duckdb")
    cases = [
        (["ingest", "events", "cut.jsonl.gz"], "ingest.gzip"),
        (["ingest", "events", "fake.jsonl.gz"], "ingest.gzip"),
        (["ingest", "events", "latin1.csv"], "ingest.encoding"),
        (["ingest", "events", "pipe.csv"], "ingest.not_a_file"),
        (["ingest", "events", "missing.csv"], "ingest.not_found"),
        (["ingest", "events", "latin1.csv", "--timezone", "Mars/Olympus"], "ingest.timezone"),
    ]
    if Path("/proc/sys/vm/drop_caches").exists():  # write-only, even for root
        cases.append(
            (
                ["ingest", "events", "/proc/sys/vm/drop_caches", "--format", "csv"],
                "ingest.unreadable",
            )
        )
    for args, code in cases:
        assert_coded(cli("--db", db, *args, cwd=tmp_path), code)
    # a deeply nested line is quarantined (its properties are over the limit), not a crash
    ok = cli("--db", db, "ingest", "events", "deep.jsonl", cwd=tmp_path)
    assert ok.returncode == 0 and "quarantined 1" in ok.stdout, ok.stderr
    status = cli("--db", db, "status", cwd=tmp_path)
    assert status.returncode == 0
    assert f"({len(cases)} failed)" in status.stdout  # each failure is in load_log


def test_cli_out_of_memory_names_the_setting(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "poanalytics.toml").write_text(
        '[duckdb]\nmemory_limit = "4MB"\n', encoding="utf-8"
    )
    import duckdb

    source = tmp_path / "events.parquet"
    duckdb.sql(
        "COPY (SELECT 'u' || (i % 5000) AS user_id, 'e' || (i % 7) AS event, "
        "TIMESTAMPTZ '2026-01-01' + to_seconds(i) AS ts FROM range(300000) t(i)) "
        f"TO '{source}'"
    )
    result = cli("ingest", "events", "events.parquet", cwd=tmp_path)
    assert_coded(result, "db.out_of_memory")
    assert "memory_limit" in result.stderr


# -- permissions: run as an unprivileged user -----------------------------------------------------


@pytest.fixture
def unprivileged() -> int | None:
    """The uid to run the CLI as so that chmod applies: nobody when the tests run as root (CI),
    else None (the user itself)."""
    return NOBODY if os.geteuid() == 0 else None


@pytest.fixture
def shared_dir():
    """A folder under /tmp the unprivileged user can enter (pytest's tmp_path is 0700 for root)."""
    folder = Path(tempfile.mkdtemp(prefix="poa-perm-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


def test_cli_unreadable_files_folders_and_read_only_warehouses(unprivileged, shared_dir):
    base = shared_dir
    csv = "user_id,event,ts\nu1,signed_up,2024-01-01T10:00:00Z\n"
    locked = base / "locked.csv"
    locked.write_text(csv, encoding="utf-8")
    locked.chmod(0o000)
    exports = base / "exports"
    (exports / "closed").mkdir(parents=True)
    (exports / "open.csv").write_text(csv, encoding="utf-8")
    (exports / "closed" / "more.csv").write_text(csv, encoding="utf-8")
    (exports / "closed").chmod(0o000)
    readable = base / "events.csv"
    readable.write_text(csv, encoding="utf-8")
    readable.chmod(0o644)
    warehouse = base / "ro.duckdb"
    with poa.Workbench(warehouse) as wb:
        wb.load_events(readable)
    warehouse.chmod(0o444)
    frozen = base / "frozen"
    frozen.mkdir()
    frozen.chmod(0o555)
    scratch = base / "scratch"
    scratch.mkdir()
    scratch.chmod(0o777)
    db = str(scratch / "w.duckdb")

    def run(*args: str):
        return cli(*args, cwd=base, drop_to=unprivileged, env={"HOME": str(scratch)})

    assert_coded(run("--db", db, "ingest", "events", "locked.csv"), "ingest.unreadable")
    folder = run("--db", db, "ingest", "events", "exports")
    assert_coded(folder, "ingest.unreadable")
    assert "closed" in folder.stderr  # the folder it could not list, not silently left out
    assert_coded(run("--db", str(warehouse), "ingest", "events", "events.csv"), "db.read_only")
    assert_coded(
        run("--db", str(frozen / "w.duckdb"), "ingest", "events", "events.csv"), "db.read_only"
    )
    status = run("--db", str(warehouse), "status")  # looking needs no write access
    assert status.returncode == 0, status.stderr
    assert re.search(r"events\s+1 rows", status.stdout)
