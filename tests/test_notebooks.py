"""Every notebook runs end to end with papermill, on a real warehouse file, in the project's kernel."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import papermill as pm
import pytest

import poanalytics as poa
from poanalytics import demo
from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PLOTLY = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def loaded_warehouse(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("nb")
    csv = folder / "events.csv"
    csv.write_text(
        "user_id,event,timestamp\nu1,signup,2024-01-01T00:00:00Z\n,broken,2024-01-01T00:00:00Z\n"
    )
    path = folder / "warehouse.duckdb"
    with poa.Workbench(path) as wb:
        wb.load_events(csv)
    return path


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory) -> Path:
    """The demo data set (small), loaded into a real warehouse file."""
    folder = tmp_path_factory.mktemp("nb_demo")
    files = demo.generate(folder / "demo", users=400, weeks=8)
    path = folder / "warehouse.duckdb"
    with poa.Workbench(path) as wb:
        demo.load_demo(wb, files)
    return path


# what each notebook must show, beyond running: (needs the demo data, texts in its outputs)
EXPECTED = {
    "01_data_health.ipynb": (False, ["user_id is empty", "events", "stale events source"]),
    "10_metrics.ipynb": (
        True,
        ["profile_completed", "Conversion to activated", "Paths from signed_up"],
    ),
    "90_weekly_report.ipynb": (
        True,
        [
            "## Headline numbers",
            "Weekly active users",
            "## Data health",
            "## Reproducibility stamp",
        ],
    ),
}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_help_notebook_documents_every_parameter(notebook):
    """`papermill --help-notebook` lists each parameter with its help (a '=' in a comment hides it)."""
    import ast

    from papermill.translators import PythonTranslator

    cell = next(
        c
        for c in json.loads(notebook.read_text())["cells"]
        if "parameters" in c.get("metadata", {}).get("tags", [])
    )
    source = "".join(cell["source"])
    assigned = [n.target.id for n in ast.parse(source).body if isinstance(n, ast.AnnAssign)]
    inferred = PythonTranslator.inspect({"source": source})
    assert [p.name for p in inferred] == assigned
    assert all(p.help and p.inferred_type_name != "None" for p in inferred)


def test_every_notebook_is_checked():
    assert sorted(EXPECTED) == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_with_papermill(notebook, request, tmp_path):
    needs_demo, texts = EXPECTED[notebook.name]
    warehouse = request.getfixturevalue("demo_warehouse" if needs_demo else "loaded_warehouse")
    cells = json.loads(notebook.read_text())["cells"]
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells), (
        "no parameters cell"
    )
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), (
        "commit notebooks without outputs"
    )
    out = tmp_path / notebook.name
    pm.execute_notebook(
        str(notebook),
        str(out),
        parameters={"warehouse": str(warehouse)},
        kernel_name="poanalytics",
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    text = out.read_text()
    for expected in texts:  # e.g. the quarantined row is shown with its reason
        assert expected in text, expected
    executed = json.loads(text)["cells"]
    errors = [o for c in executed for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # each chart once, as plotly JSON: no HTML copy (with MathJax from a CDN) and no plotly.js
    outputs = [o for c in executed for o in c.get("outputs", [])]
    charts = [o for o in outputs if PLOTLY in o.get("data", {})]
    assert len(charts) >= (5 if needs_demo else 0)
    assert all(set(o["data"]) <= {PLOTLY, "text/plain"} for o in charts)
    assert "cdn.plot.ly" not in text and "mathjax" not in text.lower()
    assert "Plotly.newPlot" not in text and "window.PlotlyConfig" not in text
    assert out.stat().st_size < 1_000_000  # 5.4 MB for the metrics notebook with the HTML copies


def test_a_bare_number_window_stops_the_metrics_notebook_with_a_coded_error(
    demo_warehouse, tmp_path
):
    """`-p window 7` reaches the notebook as the int 7: it used to be 7 seconds (empty charts)."""
    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(
            str(ROOT / "notebooks" / "10_metrics.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={"warehouse": str(demo_warehouse), "window": 7},
            kernel_name="poanalytics",
            cwd=str(ROOT / "notebooks"),
            progress_bar=False,
        )
    assert info.value.ename == "MetricError"
    assert "funnel.window_unit" in info.value.evalue and "'7d'" in info.value.evalue


def test_git_strips_outputs_from_notebooks_on_add(loaded_warehouse, tmp_path):
    """`make setup` installs the nbstripout filter (.gitattributes names it): an executed notebook
    staged with `git add` is stored without its outputs, so output-free commits take no discipline."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: there is nothing to commit to")

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    path = "notebooks/01_data_health.ipynb"
    assert git("check-attr", "filter", "--", path).endswith("filter: nbstripout")
    assert git("config", "--get", "filter.nbstripout.clean"), (
        "run `make setup` to install the filter"
    )
    executed = tmp_path / "executed.ipynb"
    pm.execute_notebook(
        str(ROOT / path),
        str(executed),
        parameters={"warehouse": str(loaded_warehouse)},
        kernel_name="poanalytics",
        progress_bar=False,
    )
    ran = json.loads(executed.read_text())["cells"]
    assert any(c.get("outputs") for c in ran if c["cell_type"] == "code")
    # what `git add` would store for this content at this path: the clean filter applied
    blob = git("hash-object", "-w", "--path", path, str(executed))
    stored = json.loads(git("cat-file", "-p", blob))["cells"]
    code = [c for c in stored if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)
    assert [c["source"] for c in stored] == [c["source"] for c in ran]
