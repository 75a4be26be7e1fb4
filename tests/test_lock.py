"""Living with an open notebook: the warehouse file is held only while a query or load runs, a
locked file waits ``lock_timeout`` then fails with db.locked, and opening a warehouse for analysis
never creates one. Real processes, a real Jupyter kernel and real DuckDB files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import papermill as pm
import pytest
from jupyter_client.manager import KernelManager

import poanalytics as poa
from poanalytics import demo
from poanalytics.config import Settings, settings
from tests.conftest import ROOT

BIN = Path(sys.executable).parent
CLI = [str(BIN / "poanalytics")]


def _project(folder: Path, lock_timeout: float = 30) -> Path:
    """A project folder with its own conf/poanalytics.toml (lock_timeout as given)."""
    (folder / "conf").mkdir(parents=True, exist_ok=True)
    (folder / "conf" / "poanalytics.toml").write_text(
        f'[paths]\nwarehouse = "data/warehouse.duckdb"\n\n[duckdb]\nlock_timeout = {lock_timeout}\n'
    )
    return folder


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "POANALYTICS_ROOT"}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory) -> Path:
    """A project whose warehouse holds the (small) demo data set."""
    root = _project(tmp_path_factory.mktemp("lock_project"))
    files = demo.generate(root / "data" / "demo", users=300, weeks=6)
    with poa.Workbench(root / "data" / "warehouse.duckdb", create=True) as wb:
        demo.load_demo(wb, files)
    return root


def _run_in_kernel(kc, code: str, timeout: float = 120) -> str:
    """Run code in the kernel; its printed output, or the error it raised (as a failure)."""
    out: list[str] = []
    msg_id = kc.execute(code)
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            pytest.fail(f"kernel error: {content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(out)


def test_open_notebook_kernel_blocks_neither_cli_load_nor_report(demo_project, tmp_path):
    """A live `poanalytics` kernel holds a Workbench and a funnel result; meanwhile status, a load
    that commits and a papermill report on the same file all succeed, and the kernel then sees the
    new rows and still uses its funnel result. (Before: `[db.open] Could not set lock`.)"""
    warehouse = demo_project / "data" / "warehouse.duckdb"
    km = KernelManager(kernel_name="poanalytics")
    km.start_kernel(cwd=str(tmp_path), env=_env(POANALYTICS_ROOT=str(demo_project)))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        first = _run_in_kernel(
            kc,
            "import poanalytics as poa\n"
            "wb = poa.Workbench()\n"
            "f = wb.funnel(['signed_up', 'activated'], window='7d')\n"
            "print(int(f.table.users.iloc[0]), wb.sql('SELECT count(*) AS n FROM events').n[0])",
        )
        entered, before = map(int, first.split())
        assert entered > 0 and before > 0

        env = _env(POANALYTICS_ROOT=str(demo_project))
        status = subprocess.run(
            [*CLI, "status"], capture_output=True, text=True, env=env, timeout=120
        )
        assert status.returncode == 0, status.stderr
        assert str(warehouse) in status.stdout

        csv = tmp_path / "more.csv"
        csv.write_text(
            "user_id,event,timestamp\n"
            "late_1,signed_up,2030-01-01T00:00:00Z\nlate_1,activated,2030-01-02T00:00:00Z\n"
        )
        load = subprocess.run(
            [*CLI, "ingest", "events", str(csv)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert load.returncode == 0, load.stderr
        assert "loaded 2," in load.stdout

        report = tmp_path / "report.ipynb"
        pm.execute_notebook(
            str(ROOT / "notebooks" / "01_data_health.ipynb"),
            str(report),
            parameters={"warehouse": str(warehouse)},
            kernel_name="poanalytics",
            progress_bar=False,
        )
        assert "events" in report.read_text()

        after = _run_in_kernel(
            kc,
            "print(wb.sql('SELECT count(*) AS n FROM events').n[0], "
            "len(f.trend('week')) > 0, len(f.users(2)) > 0, len(f.correlation().table) > 0)",
        )
        # its funnel result still works: its per-user table and queries that attach the file again
        assert after.split() == [str(before + 2), "True", "True", "True"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


HOLD_WRITE = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("BEGIN")
con.execute("INSERT INTO events VALUES ('w', 'writing', now(), NULL, NULL, 'test', NULL, 0)")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("COMMIT")
"""


def _hold_write(warehouse: Path, seconds: float) -> subprocess.Popen:
    """A real process with a write connection open inside a transaction (a load in progress)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE, str(warehouse), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_status_during_a_load_waits_lock_timeout_then_fails_db_locked(tmp_path):
    root = _project(tmp_path / "proj", lock_timeout=1.5)
    warehouse = root / "data" / "warehouse.duckdb"
    poa.Workbench(warehouse, create=True).close()
    writer = _hold_write(warehouse, 30)
    try:
        started = time.monotonic()
        status = subprocess.run(
            [*CLI, "status"],
            capture_output=True,
            text=True,
            env=_env(POANALYTICS_ROOT=str(root)),
            timeout=60,
        )
        waited = time.monotonic() - started
    finally:
        writer.kill()
        writer.wait()
    assert status.returncode != 0
    assert "[db.locked]" in status.stderr and "Traceback" not in status.stderr
    assert "lock_timeout" in status.stderr  # says what to do
    assert waited >= 1.5


def test_a_query_waits_for_a_short_load_and_then_sees_it(tmp_path):
    """Within lock_timeout the query waits for the writer to commit instead of failing."""
    warehouse = tmp_path / "w.duckdb"
    poa.Workbench(warehouse, create=True).close()
    config = Settings(
        root=tmp_path, warehouse=warehouse, demo_dir=tmp_path, reports_dir=tmp_path, lock_timeout=20
    )
    writer = _hold_write(warehouse, 1.0)
    try:
        wb = poa.Workbench(warehouse, config=config)
        assert wb.sql("SELECT count(*) AS n FROM events WHERE event = 'writing'").n[0] == 1
        wb.close()
    finally:
        writer.wait(timeout=30)


def test_analysis_never_creates_a_warehouse(tmp_path):
    missing = tmp_path / "nothing.duckdb"
    wb = poa.Workbench(missing)
    with pytest.raises(poa.PoaError) as caught:
        wb.status()
    assert caught.value.code == "db.not_found" and str(missing) in str(caught.value)
    assert not missing.exists()
    with pytest.raises(poa.PoaError) as caught:
        wb.funnel(["a", "b"], window="1d")
    assert caught.value.code == "db.not_found"
    assert not missing.exists()
    wb.close()
    # a load creates it; create=True makes an empty one at once
    with poa.Workbench(tmp_path / "empty.duckdb", create=True) as wb:
        assert wb.sql("SELECT count(*) AS n FROM events").n[0] == 0


def test_no_project_root_is_refused_not_made_in_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("POANALYTICS_ROOT", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(poa.PoaError) as caught:
        poa.Workbench()
    assert caught.value.code == "config.no_root"
    assert "POANALYTICS_ROOT" in caught.value.hint
    assert not (tmp_path / "data").exists()


def test_root_found_from_the_notebook_jupyterlab_runs(tmp_path, monkeypatch):
    root = _project(tmp_path / "proj")
    (root / "notebooks").mkdir()
    monkeypatch.delenv("POANALYTICS_ROOT", raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", str(root / "notebooks" / "mine.ipynb"))
    monkeypatch.chdir(tmp_path)
    assert settings().warehouse == root.resolve() / "data" / "warehouse.duckdb"


def test_papermill_from_another_folder(demo_project, tmp_path):
    """A scheduler runs papermill from elsewhere: without POANALYTICS_ROOT it stops with
    config.no_root and leaves no warehouse there; with it, the project's warehouse is reported."""
    notebook = str(ROOT / "notebooks" / "01_data_health.ipynb")
    out = tmp_path / "out.ipynb"
    run = [str(BIN / "papermill"), notebook, str(out), "-k", "poanalytics", "--no-progress-bar"]
    lost = subprocess.run(
        run, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert lost.returncode != 0
    assert "config.no_root" in lost.stderr + out.read_text()
    assert not list(tmp_path.rglob("*.duckdb"))
    found = subprocess.run(
        run,
        cwd=tmp_path,
        env=_env(POANALYTICS_ROOT=str(demo_project)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert found.returncode == 0, found.stderr[-2000:]
    assert str(demo_project / "data" / "warehouse.duckdb") in out.read_text()
    assert not list(tmp_path.rglob("*.duckdb"))
