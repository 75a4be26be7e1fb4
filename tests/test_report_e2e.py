"""The runner on the real weekly notebook (notebooks/90_weekly_report.ipynb) and the project's own
conf/report.toml, on a small demo warehouse: what `make run` ends with."""

from __future__ import annotations

import json
import shutil

import pytest

import poanalytics as poa
from poanalytics import demo
from tests.conftest import ROOT
from tests.test_report_run import cli, tree


@pytest.fixture(scope="module")
def real_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    (root / "conf").mkdir()
    shutil.copy(ROOT / "conf" / "poanalytics.toml", root / "conf" / "poanalytics.toml")
    # the sources the load notebook (run first) loads: the demo files generated below
    shutil.copy(ROOT / "conf" / "sources.toml", root / "conf" / "sources.toml")
    shutil.copy(ROOT / "conf" / "themes.toml", root / "conf" / "themes.toml")  # the demo's themes
    config = (ROOT / "conf" / "report.toml").read_text()
    notebooks = ROOT / "notebooks"
    config = config.replace('"notebooks/', f'"{notebooks}/')  # the repository's notebooks
    (root / "conf" / "report.toml").write_text(config)
    files = demo.generate(root / "data" / "demo", users=400, weeks=8)
    with poa.Workbench(root / "data" / "warehouse.duckdb", create=True) as wb:
        demo.load_demo(wb, files)
    return root


def test_the_real_weekly_notebook_is_run_and_published(real_project):
    done = cli(real_project, "report", "weekly", "--param", "window=14d", timeout=600)
    assert done.returncode == 0, done.stderr
    assert "90_weekly_report: cell 1/" in done.stderr
    html = next((real_project / "reports").glob("20??-W??/index.html"))
    assert str(html) in done.stdout
    summary = json.loads((html.parent / "summary.json").read_text())
    assert summary["week"] == html.parent.name and summary["headline"]
    assert (html.parent / "report.ipynb").is_file()
    index = (real_project / "reports" / "index.html").read_text()
    assert f'href="{summary["week"]}/index.html"' in index
    assert summary["headline"][0]["name"] in index
    page = html.read_text()
    assert "<h2" in page and "Weekly active users" in page
    assert "Voice of the customer" in page and "Themes and churn" in page
    assert "charts/voice_themes.json" in [c["file"] for c in summary["key_charts"]]


def test_the_real_notebooks_parameters_are_checked(real_project):
    before = tree(real_project)
    done = cli(real_project, "report", "weekly", "--param", "stpes=signed_up")
    assert done.returncode == 2 and "[report.param_unknown]" in done.stderr
    assert "Did you mean 'steps'?" in done.stderr
    assert "steps: list = []  (funnel steps" in done.stderr  # the list, with types and help
    assert "window: str" in done.stderr and "out_dir" not in done.stderr
    assert tree(real_project) == before


def test_the_weekly_report_runs_on_spark_with_the_same_numbers(real_project):
    """``--param engine=spark``: the same notebook, its event metrics computed by a local Spark in
    the report's kernel over the events exported to Parquet; the same headline and key charts."""
    done = cli(real_project, "report", "weekly", timeout=600)
    assert done.returncode == 0, done.stderr
    html = next((real_project / "reports").glob("20??-W??/index.html"))
    on_duckdb = json.loads((html.parent / "summary.json").read_text())
    charts = {c["file"]: (html.parent / c["file"]).read_text() for c in on_duckdb["key_charts"]}
    lake = real_project / "lake" / "events"
    with poa.Workbench(real_project / "data" / "warehouse.duckdb") as wb:
        wb.export_events(lake)
    done = cli(
        real_project,
        "report",
        "weekly",
        "--param",
        "engine=spark",
        "--param",
        f"spark_events={lake}",
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    on_spark = json.loads((html.parent / "summary.json").read_text())
    assert on_spark["parameters"]["engine"] == "spark"
    assert on_spark["week"] == on_duckdb["week"]
    assert on_spark["headline"] == on_duckdb["headline"]
    assert [c["file"] for c in on_spark["key_charts"]] == list(charts)
    for name in ("funnel", "funnel_trend", "dropoff", "retention", "lifecycle", "churn"):
        file = f"charts/{name}.json"
        assert (html.parent / file).read_text() == charts[file], file
    assert f"spark: {lake}" in html.read_text()  # the stamp names the engine and its events
