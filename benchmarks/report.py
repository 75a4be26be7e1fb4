"""Report page benchmark: wall time and HTML size of the weekly report on the demo data, next to
nbconvert's default HTML export of the same executed notebook (its size, the charts it draws and
the network loads it tries, counted in headless Chromium with the network off). Prints; not a test.

Run: .venv/bin/python benchmarks/report.py [--runs 2]

1. `poanalytics report weekly` (the runner: checks, papermill on the poanalytics kernel, export_html,
   publish) in a temporary copy of the project (conf/ and notebooks/) holding the demo data of
   `make run` (2000 users, 16 weeks, seed 7): wall time of the command, mean of --runs runs after
   one warm-up run (kernel start, imports, disk cache), and the published page's size.
2. The metrics notebook (benchmarks/10_metrics_reference.ipynb: notebooks/10_metrics.ipynb as the issue
   measured it, 10 charts, kept here since notebooks/ split it in 10_funnels and 20_retention_churn): papermill +
   export_html, against nbconvert's default export of the same executed notebook and of the notebook
   executed as before issue 9 (each chart also as HTML with plotly.js: "plotly_mimetype+notebook").
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOK = ROOT / "benchmarks" / "10_metrics_reference.ipynb"  # the reference notebook


def demo_warehouse(folder: Path) -> Path:
    """The demo data of `make run` (2000 users, 16 weeks, seed 7) in a fresh warehouse."""
    import poanalytics as poa
    from poanalytics import demo

    files = demo.generate(folder / "demo", users=2000, weeks=16, seed=7)
    path = folder / "warehouse.duckdb"
    with poa.Workbench(path, create=True) as wb:
        demo.load_demo(wb, files)
    return path


def execute(notebook: Path, out: Path, warehouse: Path, folder: Path) -> nbformat.NotebookNode:
    parameters = {"warehouse": str(warehouse)}
    pm.execute_notebook(
        str(notebook),
        str(out),
        parameters=parameters,
        kernel_name="poanalytics",
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    return nbformat.read(out, as_version=4)


def in_chromium(page: Path) -> tuple[int, int, list[str]]:
    """(charts drawn, script errors, network requests tried) for a page opened offline."""
    from poanalytics.browser import chromium

    url = page.resolve().as_uri()
    tried: list[str] = []
    errors: list[str] = []
    with chromium(offline=True) as ctx:
        tab = ctx.new_page()
        tab.on("pageerror", lambda e: errors.append(str(e)))

        def route(r):
            if r.request.url == url or r.request.url.startswith("data:"):
                r.continue_()
            else:
                tried.append(r.request.url)
                r.abort()

        ctx.route("**/*", route)
        tab.goto(url, wait_until="load")
        tab.wait_for_timeout(3000)  # charts draw on load; let deferred loaders try
        drawn = tab.evaluate(
            """() => [...document.querySelectorAll('.js-plotly-plot')]
                      .filter(d => d.querySelector('svg.main-svg .trace, svg.main-svg .cartesianlayer, svg.main-svg .sankey')).length"""
        )
    return drawn, len(errors), tried


def timed(notebook: Path, folder: Path, warehouse: Path, runs: int, export: Any) -> tuple:
    """papermill + export_html, ``runs`` times after one warm-up: (mean s, mean papermill s,
    executed notebook path, export result)."""
    times: list[tuple[float, float]] = []
    out = folder / notebook.name
    result = None
    for run in range(runs + 1):
        start = time.perf_counter()
        nb = execute(notebook, out, warehouse, folder)
        ran = time.perf_counter() - start
        result = export(nb, title=f"{notebook.stem} (benchmark)")
        if run:  # the first run warms up
            times.append((time.perf_counter() - start, ran))
    total = sum(t[0] for t in times) / len(times)
    ran = sum(t[1] for t in times) / len(times)
    return total, ran, out, result


def row(label: str, page: Path, executed: Path) -> str:
    drawn, errors, tried = in_chromium(page)
    hosts = sorted({re.sub(r"^https?://([^/]+)/.*$", r"\1", u) for u in tried})
    loads = f"{len(tried)}" + (f" ({', '.join(hosts)})" if hosts else "")
    if errors:
        loads += f"; {errors} JS errors"
    mb = page.stat().st_size / 1e6
    return f"| {label} | {mb:.2f} | {executed.stat().st_size / 1e6:.2f} | {drawn} | {loads} |"


def project(folder: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the project's conf/ and notebooks/ with the demo data of `make run`."""
    root = folder / "project"
    shutil.copytree(ROOT / "conf", root / "conf")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    env = {k: v for k, v in os.environ.items() if k != "POANALYTICS_ROOT"}
    env["POANALYTICS_ROOT"] = str(root)
    cmd = [str(BIN / "poanalytics"), "demo", "--users", "2000", "--weeks", "16", "--seed", "7"]
    subprocess.run(cmd, check=True, env=env, cwd=root, capture_output=True)
    return root, env


def weekly_command(root: Path, env: dict[str, str], runs: int) -> tuple[float, Path]:
    """Mean wall time of `poanalytics report weekly` after one warm-up, and the page it wrote."""
    times = []
    for run in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "poanalytics"), "report", "weekly"],
            env=env, cwd=root, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"poanalytics report weekly failed:\n{done.stdout}\n{done.stderr}")
        if run:
            times.append(time.perf_counter() - start)
    page = max((root / "reports").glob("*/index.html"), key=lambda p: p.stat().st_mtime)
    return sum(times) / len(times), page


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="timed runs after one warm-up")
    args = parser.parse_args()

    from nbconvert import HTMLExporter

    from poanalytics.report.export import export

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        root, env = project(folder)
        warehouse = root / "data" / "warehouse.duckdb"
        print(f"demo data (2000 users, 16 weeks, seed 7) built in {time.perf_counter() - t0:.1f} s")
        rows = []

        wall, page = weekly_command(root, env, args.runs)
        executed = page.parent / "report.ipynb"
        size = page.stat().st_size
        print(
            f"poanalytics report weekly ({page.parent.name}): wall {wall:.1f} s (goal < 30 s: "
            f"{'met' if wall < 30 else 'NOT met'}), HTML {size / 1e6:.2f} MB (goal < 2 MB: "
            f"{'met' if size < 2e6 else 'NOT met'}); mean of {args.runs} runs after one warm-up"
        )
        default = folder / "weekly-nbconvert.html"
        nb = nbformat.read(executed, as_version=4)
        default.write_text(HTMLExporter().from_notebook_node(nb)[0], encoding="utf-8")
        rows.append(row("weekly report: `report weekly` page", page, executed))
        rows.append(row("weekly report: nbconvert default", default, executed))

        total, ran, executed, result = timed(NOTEBOOK, folder, warehouse, args.runs, export)
        ours = folder / f"{NOTEBOOK.stem}.html"
        ours.write_text(result.html, encoding="utf-8")
        print(
            f"{NOTEBOOK.name}: papermill + export_html {total:.1f} s (papermill {ran:.1f} s, export "
            f"{total - ran:.1f} s), HTML {ours.stat().st_size / 1e6:.2f} MB, {result.charts} charts "
            f"({', '.join(result.trace_types)}), plotly.js: {result.plotly.bundle}"
        )
        nb = nbformat.read(executed, as_version=4)
        default = folder / f"{NOTEBOOK.stem}-nbconvert.html"
        default.write_text(HTMLExporter().from_notebook_node(nb)[0], encoding="utf-8")
        rows.append(row(f"{NOTEBOOK.name}: export_html", ours, executed))
        rows.append(row(f"{NOTEBOOK.name}: nbconvert default", default, executed))

        old_src = folder / "old" / NOTEBOOK.name
        old_src.parent.mkdir()
        old_src.write_text(
            NOTEBOOK.read_text().replace(
                "poa.setup_notebook()", 'poa.setup_notebook(\\"plotly_mimetype+notebook\\")'
            )
        )
        old_out = folder / "old" / "executed.ipynb"
        old_nb = execute(old_src, old_out, warehouse, folder)
        old_default = folder / "old" / "nbconvert.html"
        old_default.write_text(HTMLExporter().from_notebook_node(old_nb)[0], encoding="utf-8")
        rows.append(row(f"{NOTEBOOK.name} run as before: nbconvert default", old_default, old_out))

        print()
        print("| page | HTML MB | executed notebook MB | charts drawn | network loads tried |")
        print("|---|---|---|---|---|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
