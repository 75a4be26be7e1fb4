"""The explore notebook in a real JupyterLab, in real headless Chromium: run all cells, change a
control, and the chart changes. Debian's chromium driven by Playwright (never `playwright install`)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import poanalytics as poa
from poanalytics import demo
from poanalytics.browser import chromium
from tests.conftest import ROOT

TOKEN = "poanalytics-test-token"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (127.0.0.1)
        return str(response.read().decode())


@pytest.fixture
def lab(tmp_path):
    """A small demo project (POANALYTICS_ROOT) and a JupyterLab server on it; shut down after."""
    project = tmp_path / "project"
    (project / "conf").mkdir(parents=True)
    shutil.copy(ROOT / "conf" / "poanalytics.toml", project / "conf")
    (project / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "30_explore.ipynb", project / "notebooks")
    files = demo.generate(project / "data" / "demo", users=300, weeks=6)
    with poa.Workbench(project / "data" / "warehouse.duckdb") as wb:
        demo.load_demo(wb, files)
    port = _free_port()
    env = {
        **os.environ,
        "POANALYTICS_ROOT": str(project),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("jupyter")),
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.token={TOKEN}",
            f"--notebook-dir={project / 'notebooks'}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(f"{base}/api/status?token={TOKEN}")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()
                    ) from None
                time.sleep(0.5)
        yield base, tmp_path
    finally:
        _shutdown_kernels(base)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # the group this fixture started
            server.wait(timeout=10)
        log.close()


def _shutdown_kernels(base: str) -> None:
    import json

    try:
        kernels = json.loads(_get(f"{base}/api/kernels?token={TOKEN}"))
        for kernel in kernels:
            request = urllib.request.Request(
                f"{base}/api/kernels/{kernel['id']}?token={TOKEN}", method="DELETE"
            )
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 (127.0.0.1)
    except OSError:
        pass


# JavaScript run in the page: the funnel chart is the first plot drawn by the explorer's outputs
BARS = """() => {
  const plot = document.querySelector('.jp-OutputArea .widget-output .js-plotly-plot');
  if (!plot) return null;
  const texts = [...plot.querySelectorAll('.barlayer .bartext, .barlayer text')].map(t => t.textContent);
  return {bars: plot.querySelectorAll('.barlayer .point').length, texts: texts.join('|'),
          plots: document.querySelectorAll('.widget-output .js-plotly-plot').length};
}"""


def test_changing_a_control_in_jupyterlab_redraws_the_chart(lab):
    base, _ = lab
    errors: list[str] = []
    with chromium(viewport={"width": 1400, "height": 1000}) as context:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/lab/tree/30_explore.ipynb?token={TOKEN}", timeout=120_000)
        page.wait_for_function(
            "() => window.jupyterapp && document.querySelector('.jp-NotebookPanel')",
            timeout=120_000,
        )
        # the kernel must be idle before running (a fresh kernel starts after the page opens)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_function(
            """() => {
              const w = window.jupyterapp.shell.currentWidget;
              const k = w && w.sessionContext && w.sessionContext.session
                && w.sessionContext.session.kernel;
              return k && k.status === 'idle';
            }""",
            timeout=120_000,
        )
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(
            f"() => {{ const r = ({BARS})(); return r && r.plots >= 3 && r.bars > 0; }}",
            timeout=180_000,
        )
        before = page.evaluate(BARS)
        # take the third step away: (none) in the "step 3" drop-down, as a user would
        step3 = page.locator(".widget-dropdown", has_text="step 3").locator("select")
        step3.select_option(label="(none)")
        page.wait_for_function(
            f"() => {{ const r = ({BARS})(); return r && r.bars < {before['bars']}; }}",
            timeout=120_000,
        )
        after = page.evaluate(BARS)
        assert after["bars"] < before["bars"] and after["plots"] >= 3
        assert after["texts"] != before["texts"]
        assert not errors, errors


@pytest.mark.parametrize(("uid", "as_root"), [("0", True), ("1000", False)])
def test_make_lab_adds_allow_root_only_for_root(uid, as_root):
    done = subprocess.run(
        ["make", "-s", "-n", "lab", f"LAB_UID={uid}"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    (command,) = [line for line in done.stdout.splitlines() if "jupyter lab" in line]
    assert command.startswith(".venv/bin/jupyter lab --notebook-dir notebooks")
    assert ("--allow-root" in command.split()) == as_root


def test_make_lab_starts_jupyterlab_with_the_readmes_command(tmp_path):
    """The command `make lab` runs (as this user: root in CI containers) serves the notebooks."""
    port = _free_port()
    done = subprocess.run(
        [
            "make",
            "-s",
            "-n",
            "lab",
            f"LAB_ARGS=--no-browser --port={port} --ServerApp.token={TOKEN}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    (command,) = [line for line in done.stdout.splitlines() if "jupyter lab" in line]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    server = subprocess.Popen(
        command,
        shell=True,
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "lab.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                contents = _get(f"http://127.0.0.1:{port}/api/contents?token={TOKEN}")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "lab.log").read_text()) from None
                time.sleep(0.5)
        assert "30_explore.ipynb" in contents and "00_load.ipynb" in contents
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the shell and the server this test started
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
