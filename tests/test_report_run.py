"""The weekly report runner: parameters and inputs checked before anything runs (and nothing
changed when they are wrong), real papermill runs on a small demo warehouse, the atomic write,
the failure page, reports/index.html, report_runs and `report history`, exit codes via the CLI.

The report notebook is tests/report_fixture.py's small notebook following the weekly notebook's
contract (it can fail or pause on demand); test_report_e2e.py runs the real one."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import poanalytics as poa
from poanalytics import demo, schema
from poanalytics.report import params, runlog
from tests import report_fixture

BIN = Path(sys.executable).parent
CLI = [str(BIN / "poanalytics")]
SECRET = "s3cr3t-value-do-not-publish"


def make_project(folder: Path, *, lock_timeout: float = 2) -> Path:
    (folder / "conf").mkdir(parents=True, exist_ok=True)
    (folder / "conf" / "poanalytics.toml").write_text(
        '[paths]\nwarehouse = "data/warehouse.duckdb"\nreports = "reports"\n\n'
        f"[duckdb]\nlock_timeout = {lock_timeout}\n\n"
        '[redact]\nsecrets = ["POA_TEST_SECRET"]\n'
    )
    (folder / "conf" / "report.toml").write_text(
        '[run]\nload_notebook = ""\nreport_notebook = "nb/weekly.ipynb"\ncell_timeout = 120\n\n'
        '[funnel]\nsteps = ["signed_up", "activated"]\n'
    )
    (folder / "conf" / "failing_load.toml").write_text(
        '[run]\nload_notebook = "nb/load.ipynb"\nreport_notebook = "nb/weekly.ipynb"\n'
    )
    (folder / "conf" / "timeout.toml").write_text(
        '[run]\nload_notebook = ""\nreport_notebook = "nb/weekly.ipynb"\ncell_timeout = 3\n'
    )
    report_fixture.write(folder / "nb" / "weekly.ipynb")
    report_fixture.write_load(folder / "nb" / "load.ipynb")
    return folder


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = make_project(tmp_path_factory.mktemp("report_project"))
    files = demo.generate(root / "data" / "demo", users=300, weeks=6)
    with poa.Workbench(root / "data" / "warehouse.duckdb", create=True) as wb:
        demo.load_demo(wb, files)
    return root


def cli(root: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "POANALYTICS_ROOT"}
    env.update(POANALYTICS_ROOT=str(root), POA_TEST_SECRET=SECRET)
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, cwd=root, timeout=timeout
    )


def tree(root: Path) -> dict[str, str]:
    """Every file under root (but the demo inputs) with a hash of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "demo" not in p.parts
    }


def weeks_of(root: Path) -> tuple[str, str]:
    """The last complete week of the project's data and the one before it."""
    with poa.Workbench(root / "data" / "warehouse.duckdb", read_only=True) as wb:
        last = wb.sql("SELECT max(ts) AS t FROM events").t[0]
    from poanalytics.report.weeks import last_complete_week

    week = last_complete_week(last)
    return week.label, week.shift(-1).label


# -- parameters --------------------------------------------------------------------------------


def test_params_are_read_from_the_notebook_with_types_and_help(tmp_path):
    found = params.declared(report_fixture.write(tmp_path / "w.ipynb"))
    assert found["top"].type == "int" and found["steps"].type == "list"
    assert found["pause"].type == "float" and "sleeps" in found["pause"].help


@pytest.mark.parametrize(
    ("given", "code", "says"),
    [
        ({"tpo": "3"}, "report.param_unknown", "no parameter 'tpo'. Did you mean 'top'?"),
        ({"top": "three"}, "report.param_type", "'top' takes a int, got 'three'"),
        ({"pause": "soon"}, "report.param_type", "'pause' takes a float"),
        ({"out_dir": "/tmp/x"}, "report.param_unknown", "cannot be set with --param"),
    ],
)
def test_bad_parameters_name_the_valid_ones(tmp_path, given, code, says):
    found = params.declared(report_fixture.write(tmp_path / "w.ipynb"))
    with pytest.raises(poa.ConfigError) as info:
        params.check(given, found, "weekly.ipynb")
    assert info.value.code == code and says in str(info.value)
    # the valid parameters with their types and help, reserved ones left out
    assert "top: int = 5  (how many events to list)" in str(info.value)
    assert "steps: list = []" in str(info.value) and "out_dir" not in str(info.value.hint)


def test_parameter_values_are_converted_to_the_declared_types(tmp_path):
    found = params.declared(report_fixture.write(tmp_path / "w.ipynb"))
    out = params.check(
        {"top": "7", "pause": "0.5", "steps": "a, b,c", "week": "2026-W01"}, found, "w"
    )
    assert out == {"top": 7, "pause": 0.5, "steps": ["a", "b", "c"], "week": "2026-W01"}
    assert params.split_pairs(["a=b=c", "x="]) == {"a": "b=c", "x": ""}
    with pytest.raises(poa.ConfigError) as info:
        params.split_pairs(["window"])
    assert info.value.code == "report.param_malformed"


# -- bad input changes nothing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--param", "tpo=3"], "report.param_unknown", "top: int = 5"),
        (["--param", "window"], "report.param_malformed", "key=value"),
        (["--param", "top=x"], "report.param_type", "takes a int"),
        (["--week", "2026-47"], "report.week_format", "not an ISO week"),
        (["--week", "2025-W53"], "report.week_format", "not an ISO week"),
        (["--week", "2019-W10"], "report.week_range", "is outside the data"),
        (["--param", "steps=signed_up,never_happens"], "report.funnel_events", "never_happens"),
        (["--param", "window=7"], "funnel.window_unit", "has no unit"),
        (["--db", "elsewhere/none.duckdb"], "db.not_found", "never creates one"),
    ],
)
def test_bad_input_is_a_coded_error_and_changes_nothing(project, args, code, says):
    before = tree(project)
    done = cli(project, "report", "weekly", *args)
    assert done.returncode == 2, done.stderr
    assert f"[{code}]" in done.stderr and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "What to do:" in done.stderr
    assert tree(project) == before  # no file, no lock, no row (the warehouse is byte-identical)
    assert not (project / "elsewhere").exists()


def test_a_week_without_events_inside_the_data_is_refused(tmp_path):
    """A gap in the exports: events in the weeks around 2026-W02 but none in it."""
    import pandas as pd

    from poanalytics.report.run import preflight

    path = tmp_path / "gap.duckdb"
    with poa.Workbench(path, create=True) as wb:
        wb.load_events(
            pd.DataFrame(
                {
                    "user_id": ["a", "b"],
                    "event": ["signed_up", "signed_up"],
                    "timestamp": ["2026-01-01T10:00:00Z", "2026-01-20T10:00:00Z"],
                }
            )
        )
    assert preflight(path, "2026-W01", ["signed_up"], 1).week == "2026-W01"
    with pytest.raises(poa.InputError) as info:
        preflight(path, "2026-W02", [], 1)
    assert info.value.code == "report.week_empty" and "a gap in the exports" in str(info.value)


def test_a_warehouse_without_events_is_refused(tmp_path):
    root = make_project(tmp_path)
    poa.Workbench(root / "data" / "warehouse.duckdb", create=True).close()
    before = tree(root)
    done = cli(root, "report", "weekly")
    assert done.returncode == 2 and "[report.no_events]" in done.stderr, done.stderr
    assert tree(root) == before


# -- runs ------------------------------------------------------------------------------------------


def test_good_run_failed_run_and_the_next_good_run(project):
    """A good run publishes the week; a failing one keeps it byte-identical and writes the failure
    page naming the cell; the next good run removes the page. History and the index follow."""
    week, previous = weeks_of(project)
    reports = project / "reports"

    first = cli(project, "report", "weekly", "--param", "top=3", "--param", f"echo={SECRET}")
    assert first.returncode == 0, first.stderr
    html = reports / week / "index.html"
    # the secret value ([redact] secrets names its variable) is printed by a cell and injected as a
    # parameter: neither the page nor the executed notebook beside it shows it
    assert "Weekly active users" in html.read_text() and SECRET not in html.read_text()
    assert SECRET not in (reports / week / "report.ipynb").read_text()
    assert "[secret]" in (reports / week / "report.ipynb").read_text()
    assert str(html) in first.stdout
    assert "weekly: cell 1/6" in first.stderr and "weekly: cell 6/6" in first.stderr
    assert sorted(p.name for p in (reports / week).iterdir()) == [
        "index.html",
        "report.ipynb",
        "summary.json",
    ]
    summary = json.loads((reports / week / "summary.json").read_text())
    assert summary["week"] == week
    good = html.read_bytes()

    older = cli(project, "report", "weekly", "--week", previous)
    assert older.returncode == 0, older.stderr

    failed = cli(project, "report", "weekly", "--param", f"fail=boom {SECRET} in the cell")
    assert failed.returncode == 2
    assert "[report.failed]" in failed.stderr and "weekly.ipynb, cell 4/6" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert html.read_bytes() == good  # the last good report is untouched
    page = (reports / week / "failed.html").read_text()
    assert "weekly.ipynb" in page and "code cell 4/6" in page
    assert "if fail:" in page  # the first lines of the cell's source
    assert "InputError: [test.fail] boom [secret] in the cell" in page
    assert SECRET not in page and SECRET not in failed.stderr
    assert not list(reports.glob(".run-*"))  # the temporary folder is gone

    index = (reports / "index.html").read_text()
    assert index.index(week) < index.index(previous)  # newest first
    assert f"{week}/failed.html" in index and f"{week}/index.html" in index
    assert "Weekly active users" in index
    assert "&lt;b&gt;n/a&lt;/b&gt;" in index and "<b>n/a</b>" not in index  # escaped
    assert "<script" not in index and "http" not in index.replace('"http-equiv"', "")

    again = cli(project, "report", "weekly")
    assert again.returncode == 0, again.stderr
    assert not (reports / week / "failed.html").exists()
    assert "failed.html" not in (reports / "index.html").read_text()

    history = cli(project, "report", "history")
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()[1:5]
    assert [line.split()[4] for line in lines] == ["ok", "failed", "ok", "ok"]
    assert "[report.failed]" in lines[1] and "failed.html" in lines[1]
    with poa.Workbench(project / "data" / "warehouse.duckdb", read_only=True) as wb:
        runs = wb.sql("SELECT * FROM report_runs ORDER BY run_id")
    assert list(runs.status) == ["ok", "ok", "failed", "ok"]
    assert list(runs.week) == [week, previous, week, week]
    assert SECRET not in runs.parameters[2] and "[secret]" in runs.parameters[2]
    snap = json.loads(runs.snapshot[0])
    assert snap["rows"]["events"] > 0 and snap["load_ids"] and snap["last_event"]
    assert runs.finished_at.notna().all() and runs.report_path[0].endswith("index.html")


def test_a_failed_load_stops_the_run_and_names_the_file(project):
    week, _ = weeks_of(project)
    done = cli(project, "report", "weekly", "--param", "config=conf/failing_load.toml")
    assert done.returncode == 2
    assert "[report.load_failed]" in done.stderr and "load.ipynb" in done.stderr
    page = (project / "reports" / week / "failed.html").read_text()
    assert "exports/broken.csv: the header names no user id column" in page
    cli(project, "report", "weekly")  # leave the project good for the next tests


def test_a_cell_that_times_out_is_named_on_the_failure_page(project):
    """papermill names the cell of an error, not of a timeout: the runner remembers which started."""
    week, _ = weeks_of(project)
    done = cli(
        project, "report", "weekly", "--param", "config=conf/timeout.toml", "--param", "pause=30"
    )
    assert done.returncode == 2 and "[report.failed]" in done.stderr
    assert "weekly.ipynb, cell 3/6: CellTimeoutError" in done.stderr
    page = (project / "reports" / week / "failed.html").read_text()
    assert "code cell 3/6" in page and "time.sleep(pause)" in page
    assert "Traceback" not in page and "\x1b[" not in page
    cli(project, "report", "weekly")  # leave the project good for the next tests


def test_two_overlapping_runs_the_second_fails_at_once(project):
    env = {k: v for k, v in os.environ.items() if k != "POANALYTICS_ROOT"}
    env["POANALYTICS_ROOT"] = str(project)
    slow = subprocess.Popen(
        [*CLI, "report", "weekly", "--param", "pause=6"],
        env=env,
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import time

        deadline = time.monotonic() + 60
        while runlog.lock_holder(project / "reports") is None:
            assert slow.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        second = cli(project, "report", "weekly")
        assert second.returncode == 2
        assert "[report.busy]" in second.stderr and f"pid {slow.pid}" in second.stderr
        out, err = slow.communicate(timeout=120)
        assert slow.returncode == 0, err
    finally:
        if slow.poll() is None:
            slow.kill()
    assert runlog.lock_holder(project / "reports") is None


def test_a_killed_run_is_recorded_stale_not_running_forever(project):
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if k != "POANALYTICS_ROOT"}
    env["POANALYTICS_ROOT"] = str(project)
    victim = subprocess.Popen(
        [*CLI, "report", "weekly", "--param", "pause=30"],
        env=env,
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not list((project / "reports").glob(".run-*")):
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    # its kernel is a child of the killed process; it goes when its parent's channels close
    history = cli(project, "report", "history", "--limit", "1")
    assert history.returncode == 0, history.stderr
    assert " stale " in history.stdout and "process gone" in history.stdout

    after = cli(project, "report", "weekly")
    assert after.returncode == 0, after.stderr
    assert not list((project / "reports").glob(".run-*"))  # its temporary folder swept
    with poa.Workbench(project / "data" / "warehouse.duckdb", read_only=True) as wb:
        killed = wb.sql("SELECT * FROM report_runs WHERE pid = ?", [victim.pid])
    assert list(killed.status) == ["failed"] and list(killed.error_code) == ["report.stale"]


def test_a_load_in_progress_makes_the_run_wait_then_fail_clearly(project):
    from tests.test_lock import _hold_write

    before = tree(project)
    holder = _hold_write(project / "data" / "warehouse.duckdb", 15)  # returns once it holds
    try:
        done = cli(project, "report", "weekly")
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2 and "[db.locked]" in done.stderr, done.stderr
    assert "waited 2 s" in done.stderr and "Traceback" not in done.stderr
    assert tree(project) == before


def test_report_runs_comes_with_migration_3(tmp_path, monkeypatch):
    path = tmp_path / "v2.duckdb"
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:2])
        patch.setattr(schema, "LATEST", 2)
        poa.Workbench(path, create=True).close()
    with poa.Workbench(path) as wb:
        assert wb.schema_version == schema.LATEST >= 3
        columns = set(wb.sql("DESCRIBE report_runs").column_name)
    assert {
        "run_id",
        "started_at",
        "finished_at",
        "status",
        "week",
        "parameters",
        "snapshot",
        "report_path",
        "error_code",
        "error_message",
    } <= columns


def test_history_of_a_warehouse_without_runs(project, tmp_path):
    root = make_project(tmp_path)
    poa.Workbench(root / "data" / "warehouse.duckdb", create=True).close()
    done = cli(root, "report", "history")
    assert done.returncode == 0 and "no report has been run" in done.stdout


def test_a_run_succeeds_while_a_live_kernel_holds_a_workbench(project, tmp_path):
    """An open notebook (a live `poanalytics` kernel with a Workbench and a funnel result) does not
    block the scheduled run, and still works after it."""
    from jupyter_client.manager import KernelManager

    from tests.test_lock import _run_in_kernel

    km = KernelManager(kernel_name="poanalytics")
    env = {k: v for k, v in os.environ.items() if k != "POANALYTICS_ROOT"}
    km.start_kernel(cwd=str(tmp_path), env={**env, "POANALYTICS_ROOT": str(project)})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        before = _run_in_kernel(
            kc,
            "import poanalytics as poa\nwb = poa.Workbench()\n"
            "f = wb.funnel(['signed_up', 'activated'], window='7d')\n"
            "print(wb.sql('SELECT count(*) AS n FROM events').n[0])",
        )
        done = cli(project, "report", "weekly")
        assert done.returncode == 0, done.stderr
        after = _run_in_kernel(
            kc, "print(wb.sql('SELECT count(*) AS n FROM events').n[0], len(f.trend('week')) > 0)"
        )
        assert after.split() == [before.strip(), "True"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_failed_delivery_keeps_the_published_report_and_says_so(project):
    """E-mail configured to an SMTP port where nothing listens: the report is published and the run
    ok, the command exits 2 with report.delivery_failed, history says it was not delivered."""
    import socket

    week, _ = weeks_of(project)
    with socket.socket() as probe:  # a free port: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = project / "conf" / "mail.toml"
    config.write_text(
        (project / "conf" / "report.toml").read_text()
        + f'\n[email]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        + 'from = "po@example.com"\nto = ["team@example.com"]\ntimeout = 5\n'
    )
    done = cli(project, "report", "weekly", "--param", "config=conf/mail.toml")
    assert done.returncode == 2 and "[report.delivery_failed]" in done.stderr, done.stderr
    html = project / "reports" / week / "index.html"
    assert str(html) in done.stderr and html.is_file()
    assert not (project / "reports" / week / "failed.html").exists()
    history = cli(project, "report", "history", "--limit", "1")
    assert " ok " in history.stdout and "not delivered: [email." in history.stdout


def test_the_run_table_is_read_by_the_one_report_config_reader(tmp_path):
    """[run] goes through report/config_file.read_config: the same codes as every other table."""
    from poanalytics.report.run import load_run_config

    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nkernel = 'x'\n")
    with pytest.raises(poa.ConfigError) as info:
        load_run_config(tmp_path, bad)
    assert info.value.code == "report.config_syntax"
    with pytest.raises(poa.ConfigError) as info:
        load_run_config(tmp_path, tmp_path / "none.toml")
    assert info.value.code == "report.config_missing"
    assert load_run_config(tmp_path).kernel == "poanalytics"  # no conf/report.toml: the defaults
