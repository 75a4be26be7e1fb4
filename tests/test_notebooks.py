"""Every notebook runs end to end with papermill, on a real warehouse file, in the project's kernel."""

from __future__ import annotations

import json
from pathlib import Path

import papermill as pm
import pytest

import poanalytics as poa
from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


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


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_with_papermill(notebook, loaded_warehouse, tmp_path):
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
        parameters={"warehouse": str(loaded_warehouse)},
        kernel_name="poanalytics",
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    text = out.read_text()
    assert "user_id is empty" in text  # the quarantined row is shown with its reason
    assert "events" in text
