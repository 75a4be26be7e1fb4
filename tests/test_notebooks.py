"""Every notebook runs end to end with papermill, on a real warehouse file, in the project's kernel."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
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


@pytest.fixture(scope="module")
def demo_sources(demo_warehouse) -> Path:
    """A sources file naming the demo files of ``demo_warehouse`` (already loaded: nothing new)."""
    folder = demo_warehouse.parent / "demo"
    path = demo_warehouse.parent / "sources.toml"
    path.write_text(
        f'[[events]]\nname = "demo events"\npath = "{folder / "events.parquet"}"\n'
        f'[[tickets]]\npath = "{folder / "tickets.csv"}"\nformat = "zendesk"\n'
        f'[[notes]]\npath = "{folder / "notes"}"\n'
    )
    return path


@pytest.fixture(scope="module")
def demo_backlog(demo_warehouse) -> Path:
    """The backlog export of ``demo_warehouse``'s demo files (conf/product.toml reads it)."""
    return demo_warehouse.parent / "demo" / "backlog.csv"


# what each notebook must show, beyond running: (the warehouse fixture, texts in its outputs,
# other parameters: name -> fixture)
EXPECTED = {
    "00_load.ipynb": (
        "demo_warehouse",
        ["nothing new", "demo events"],
        {"sources": "demo_sources"},
    ),
    "01_data_health.ipynb": (
        "loaded_warehouse",
        ["user_id is empty", "events", "stale events source"],
        {},
    ),
    "10_funnels.ipynb": (
        "demo_warehouse",
        ["profile_completed", "Conversion to activated", "Paths from signed_up"],
        {},
    ),
    "20_retention_churn.ipynb": (
        "demo_warehouse",
        [
            "Retention",
            "Lifecycle by week and plan",  # the segment parameter splits lifecycle too
            "churned = no event for 28 days",
            "Survival",
        ],
        {},
    ),
    # the controls and charts are one widget; tests/test_explore*.py drive it
    "30_explore.ipynb": ("demo_warehouse", ["application/vnd.jupyter.widget-view+json"], {}),
    "40_voice.ipynb": (
        "demo_warehouse",
        [
            "items and unique problems per theme",
            "groups of similar items, labelled by their terms",
            "spikes against each theme's own history",
            "Themes and churned",
            "join rate",
        ],
        {},
    ),
    "50_backlog.ipynb": (
        "demo_warehouse",
        [
            "Objectives: where each one stands",
            "Impact map: vision, objectives, impacts",
            "The backlog in evidence order",
            "RICE score breakdown",
            "WSJF score breakdown",
            "Value and effort",
            "each piece with its interval, green when it argues for the item",
            "Rank changes",
            "BL-101: before and after shipping",
            "rows read",
        ],
        {"backlog": "demo_backlog"},
    ),
    "90_weekly_report.ipynb": (
        "demo_warehouse",
        [
            "## Headline numbers",
            "Weekly active users",
            "Lifecycle by plan",  # [churn] segment in conf/report.toml
            "## Voice of the customer",
            "Themes and churn",
            "## The backlog in evidence order, and what moved since last week",
            "## Data health",
            "## Reproducibility stamp",
        ],
        {},
    ),
}


# how many charts a notebook draws at least (30_explore draws its charts inside its widget)
CHARTS = {
    "10_funnels.ipynb": 5,
    "20_retention_churn.ipynb": 4,
    "40_voice.ipynb": 6,
    "50_backlog.ipynb": 9,
    "90_weekly_report.ipynb": 8,
}


def _code_cells(notebook: Path) -> list[dict]:
    return [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]


def thin_notebook_problems(notebook: Path) -> list[str]:
    """Why a notebook is not thin: outputs committed, a def, class or lambda, SQL, a parameter
    without a typed default or a help comment (`papermill --help-notebook` shows the comment)."""
    cells = _code_cells(notebook)
    problems = [p for number, cell in enumerate(cells, 1) for p in _cell_problems(number, cell)]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        return [*problems, f"one cell tagged 'parameters' expected, found {len(tagged)}"]
    return problems + _parameter_problems("".join(tagged[0]["source"]))


def _cell_problems(number: int, cell: dict) -> list[str]:
    """A code cell with outputs, a def, class or lambda, or SQL."""
    import ast
    import re

    problems = []
    source = "".join(cell["source"])
    if cell.get("outputs") or cell.get("execution_count") is not None:
        problems.append(f"code cell {number} has outputs (commit notebooks without outputs)")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            problems.append(f"code cell {number} defines a {type(node).__name__}")
    if re.search(SQL, source, re.I | re.S):
        problems.append(f"code cell {number} holds SQL (put the query in the library)")
    return problems


def _parameter_problems(source: str) -> list[str]:
    """Each parameter must be `name: type = default  # help`, its default of its type, its help
    comment one papermill shows."""
    import ast

    from papermill.translators import PythonTranslator

    problems = []
    inferred = {p.name: p for p in PythonTranslator.inspect({"source": source})}
    for node in ast.parse(source).body:
        if not (
            isinstance(node, ast.AnnAssign)
            and node.value is not None
            and isinstance(node.target, ast.Name)
        ):
            problems.append(
                f"parameters: `{ast.unparse(node)}` is not `name: type = default  # help`"
            )
            continue
        kind, value = ast.unparse(node.annotation), ast.literal_eval(node.value)
        if type(value).__name__ != kind:
            problems.append(f"parameters: {node.target.id}: {kind} = {value!r} (no {kind})")
        found = inferred.get(node.target.id)
        if found is None or not found.help:  # a '=' in the comment hides it from papermill
            problems.append(f"parameters: {node.target.id} has no help comment papermill shows")
    return problems


SQL = r"\.sql\(|\bSELECT\b.+\bFROM\b|\b(INSERT INTO|CREATE TABLE|DELETE FROM|UPDATE \w+ SET)\b"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_are_thin(notebook):
    assert thin_notebook_problems(notebook) == []


@pytest.mark.parametrize(
    ("parameters", "cell", "outputs", "problem"),
    [
        ("x: int = 1  # help", "y = x", [], None),
        ("x: int = 1  # help", "def f():\n    return 1", [], "defines a FunctionDef"),
        ("x: int = 1  # help", "class A:\n    pass", [], "defines a ClassDef"),
        ("x: int = 1  # help", "sorted(a, key=lambda v: v)", [], "defines a Lambda"),
        ("x: int = 1  # help", 'wb.sql("show tables")', [], "holds SQL"),
        ("x: int = 1  # help", 'q = """select event\nfrom events"""', [], "holds SQL"),
        ("x: int = 1  # help", "y = x", [{"output_type": "stream"}], "has outputs"),
        ("x: int = 1", "y = x", [], "x has no help comment"),
        ("x: int = 1  # a = b hides it", "y = x", [], "x has no help comment"),
        ("x = 1  # help", "y = x", [], "is not `name: type = default"),
        ('x: int = "1"  # help', "y = x", [], "(no int)"),
    ],
)
def test_the_thin_check_finds_each_fault(tmp_path, parameters, cell, outputs, problem):
    """The check above is not true by construction: each fault it looks for is found."""
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": parameters},
        {"cell_type": "code", "metadata": {}, "source": cell, "outputs": outputs},
    ]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    found = thin_notebook_problems(path)
    if problem is None:
        assert found == []
    else:
        assert any(problem in p for p in found), found


def test_every_notebook_is_checked():
    assert sorted(EXPECTED) == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_with_papermill(notebook, request, tmp_path):
    fixture, texts, others = EXPECTED[notebook.name]
    parameters = {"warehouse": str(request.getfixturevalue(fixture))}
    parameters |= {name: str(request.getfixturevalue(f)) for name, f in others.items()}
    out = tmp_path / notebook.name
    pm.execute_notebook(
        str(notebook),
        str(out),
        parameters=parameters,
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
    assert len(charts) >= CHARTS.get(notebook.name, 0)
    assert all(set(o["data"]) <= {PLOTLY, "text/plain"} for o in charts)
    assert "cdn.plot.ly" not in text and "mathjax" not in text.lower()
    assert "Plotly.newPlot" not in text and "window.PlotlyConfig" not in text
    assert out.stat().st_size < 1_000_000  # 5.4 MB for the metrics notebook with the HTML copies


def test_a_bare_number_window_stops_the_funnels_notebook_with_a_coded_error(
    demo_warehouse, tmp_path
):
    """`-p window 7` reaches the notebook as the int 7: it used to be 7 seconds (empty charts)."""
    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(
            str(ROOT / "notebooks" / "10_funnels.ipynb"),
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


METRICS = {"funnel", "paths", "retention", "lifecycle", "churn", "survival", "stickiness"}


def test_every_metric_in_the_notebooks_gets_the_date_range():
    """Each wb.<metric>(...) call in a notebook passes date_from and date_to (the range used to
    reach the funnel only)."""
    import ast

    missing = []
    for notebook in NOTEBOOKS:
        for cell in _code_cells(notebook):
            for node in ast.walk(ast.parse("".join(cell["source"]))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in METRICS
                ):
                    given = {k.arg for k in node.keywords}
                    if not {"date_from", "date_to"} <= given:
                        missing.append(f"{notebook.name}: {ast.unparse(node)[:60]}")
    assert not missing


def _figures(path: Path) -> dict[int, str]:
    """Code cell number -> the plotly traces it drew (JSON text), for the cells that drew one."""
    out = {}
    for number, cell in enumerate(_code_cells(path)):
        for o in cell.get("outputs", []):
            fig = o.get("data", {}).get("application/vnd.plotly.v1+json")
            if fig:
                out[number] = json.dumps(fig["data"], sort_keys=True)
    return out


@pytest.mark.parametrize("name", ["10_funnels.ipynb", "20_retention_churn.ipynb"])
def test_a_changed_date_range_changes_every_chart_of_the_notebook(name, demo_warehouse, tmp_path):
    with poa.Workbench(demo_warehouse) as wb:
        first = wb.sql("SELECT min(ts)::DATE AS d FROM events").d[0]
    narrow = {
        "date_from": str(first + pd.Timedelta(days=21)),
        "date_to": str(first + pd.Timedelta(days=34)),
    }
    runs = {}
    for label, extra in (("all", {}), ("narrow", narrow)):
        out = tmp_path / f"{label}.ipynb"
        pm.execute_notebook(
            str(ROOT / "notebooks" / name),
            str(out),
            parameters={"warehouse": str(demo_warehouse), **extra},
            kernel_name="poanalytics",
            cwd=str(ROOT / "notebooks"),
            progress_bar=False,
        )
        runs[label] = _figures(out)
    assert len(runs["all"]) >= 4  # every section draws
    same = [n for n, fig in runs["all"].items() if runs["narrow"].get(n) == fig]
    assert not same, f"code cells {same} drew the same chart for another date range"


@pytest.mark.parametrize("name", ["10_funnels.ipynb", "20_retention_churn.ipynb"])
def test_a_notebook_draws_the_same_charts_on_spark(name, demo_warehouse, tmp_path):
    """``-p engine spark``: the same notebook, its metrics computed by Spark (in the kernel's own
    local session) over the warehouse's events exported to Parquet, draws the same charts."""
    lake = tmp_path / "lake"
    with poa.Workbench(demo_warehouse) as wb:
        wb.export_events(lake)
    runs = {}
    for engine, extra in (
        ("duckdb", {}),
        ("spark", {"engine": "spark", "spark_events": str(lake)}),
    ):
        out = tmp_path / f"{engine}.ipynb"
        pm.execute_notebook(
            str(ROOT / "notebooks" / name),
            str(out),
            parameters={"warehouse": str(demo_warehouse), **extra},
            kernel_name="poanalytics",
            cwd=str(ROOT / "notebooks"),
            progress_bar=False,
        )
        runs[engine] = _figures(out)
    assert len(runs["duckdb"]) >= 4
    assert runs["spark"] == runs["duckdb"]
