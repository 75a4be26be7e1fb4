"""conf/sources.toml and the load notebook (notebooks/00_load.ipynb): every named source loads with its
options, idempotently; a new export is picked up; a broken file stops the run naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import papermill as pm
import pytest

import poanalytics as poa
from poanalytics import demo
from poanalytics.ingest.source_config import read_sources
from tests.conftest import ROOT

LOAD_NOTEBOOK = ROOT / "notebooks" / "00_load.ipynb"


def _project(tmp_path: Path, sources: str) -> Path:
    """A project folder: conf/poanalytics.toml, conf/sources.toml and exports/."""
    (tmp_path / "conf").mkdir(parents=True)
    shutil.copy(ROOT / "conf" / "poanalytics.toml", tmp_path / "conf")
    (tmp_path / "conf" / "sources.toml").write_text(sources)
    (tmp_path / "exports").mkdir()
    return tmp_path


def _csv(path: Path, rows: list[tuple[str, str, str]]) -> None:
    path.write_text("uid,action,when\n" + "".join(f"{u},{e},{t}\n" for u, e, t in rows))


SOURCES = """
[[events]]
name = "app exports"
path = "exports/*.csv"
columns = { user_id = "uid", event = "action", ts = "when" }
timezone = "Europe/Amsterdam"

[[tickets]]
name = "zendesk drop folder"
path = "drops/zendesk/*.csv"
format = "zendesk"
optional = true
"""


def test_read_sources_resolves_paths_from_the_root_and_keeps_each_sources_options(tmp_path):
    project = _project(
        tmp_path,
        SOURCES + '\n[[events]]\npath = "x.csv"\ncolumns = { event = { const = "purchase" } }\n',
    )
    found = read_sources(project / "conf" / "sources.toml", root=project)
    assert [(s.kind, s.name, s.optional) for s in found] == [
        ("events", "app exports", False),
        ("events", str(Path("x.csv")), False),
        ("tickets", "zendesk drop folder", True),
    ]
    assert found[0].path == str(project / "exports" / "*.csv")
    assert found[0].options == {
        "timezone": "Europe/Amsterdam",
        "columns": {"user_id": "uid", "event": "action", "ts": "when"},
    }
    assert found[1].options["columns"]["event"] == poa.Const("purchase")
    assert found[2].options == {"format": "zendesk"}


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ('[[events]]\npath = "a.csv"\ntimezon = "UTC"\n', "sources.key", ["timezon", "timezone"]),
        ('[[event]]\npath = "a.csv"\n', "sources.key", ["event", "events"]),
        ('[[events]]\nname = "no path"\n', "sources.value", ["no path"]),
        ('[[events]]\npath = "a.csv"\noptional = "yes"\n', "sources.value", ["optional"]),
        ('[[tickets]]\npath = "a.csv"\nsurvey = "NPS"\n', "sources.key", ["survey"]),
        (
            '[[events]]\npath = "a.csv"\ncolumns = { event = 3 }\n',
            "sources.value",
            ["columns.event"],
        ),
        ("[[events]\n", "sources.syntax", ["TOML"]),
    ],
)
def test_a_wrong_sources_file_is_a_coded_error_naming_what_is_wrong(tmp_path, text, code, words):
    file = tmp_path / "sources.toml"
    file.write_text(text)
    with pytest.raises(poa.ConfigError) as info:
        read_sources(file, root=tmp_path)
    assert info.value.code == code
    for word in words:
        assert word in str(info.value)


def test_a_missing_sources_file_says_so(tmp_path):
    with pytest.raises(poa.ConfigError) as info:
        poa.Workbench(tmp_path / "w.duckdb").load_sources(tmp_path / "nope.toml")
    assert info.value.code == "sources.not_found" and "nope.toml" in str(info.value)


def test_the_committed_sources_file_loads_the_demo_that_make_run_writes(tmp_path):
    """conf/sources.toml names the files `poanalytics demo` writes to data/demo/: the load notebook
    on a fresh `make run` project finds them and loads nothing new (the demo loaded them)."""
    found = read_sources(ROOT / "conf" / "sources.toml", root=tmp_path)
    files = demo.generate(tmp_path / "data" / "demo", users=60, weeks=2)
    assert sorted((s.kind, Path(s.path)) for s in found) == sorted(
        [("events", files.events), ("tickets", files.tickets), ("notes", files.notes)]
    )
    with poa.Workbench(tmp_path / "w.duckdb", config=poa.config.settings(tmp_path)) as wb:
        demo.load_demo(wb, files)
        result = wb.load_sources(ROOT / "conf" / "sources.toml")  # absolute: itself
    assert [x.status for x in result.loads] == ["ok", "ok", "ok"] and result.rows_loaded == 0


def test_load_sources_loads_what_is_new_skips_an_empty_optional_drop_and_stops_on_a_broken_file(
    tmp_path,
):
    project = _project(tmp_path, SOURCES)
    _csv(
        project / "exports" / "a.csv",
        [("u1", "signed_up", "2026-01-05 10:00"), ("", "x", "2026-01-05")],
    )
    wb = poa.Workbench(project / "w.duckdb", config=poa.config.settings(project))
    first = wb.load_sources("conf/sources.toml")  # relative to the project root
    assert [x.status for x in first.loads] == ["ok", "skipped"]
    assert first.rows_loaded == 1 and len(first.quarantined) == 1
    assert first.quarantined.source[0] == "app exports"
    assert "nothing there yet" in first.table.error[1]
    assert wb.sql("SELECT ts::VARCHAR AS ts FROM events").ts[0].startswith("2026-01-05 09:00:00")

    again = wb.load_sources("conf/sources.toml")
    assert again.rows_loaded == 0 and "nothing new" in again.headline()

    _csv(project / "exports" / "b.csv", [("u2", "signed_up", "2026-01-06 10:00")])
    assert wb.load_sources("conf/sources.toml").rows_loaded == 1

    (project / "exports" / "c.csv").write_bytes(b"uid,action,when\n\xff\xfe\x00garbage\x00\n")
    (project / "exports" / "c.csv").write_text("uid,action\nu3,signed_up\n")  # no time column
    with pytest.raises(poa.InputError) as info:
        wb.load_sources("conf/sources.toml")
    assert info.value.code == "sources.load_failed"
    assert "app exports" in str(info.value) and "c.csv" in str(info.value)
    assert wb.sql("SELECT count(*) AS n FROM events").n[0] == 2  # the failed load changed nothing
    collected = wb.load_sources("conf/sources.toml", errors="collect")
    assert collected.failed and "FAILED" in collected.headline()


# -- the notebook, through real papermill -------------------------------------------------------


def _run_load_notebook(project: Path, warehouse: Path, out: Path) -> dict:
    pm.execute_notebook(
        str(LOAD_NOTEBOOK),
        str(out),
        parameters={"warehouse": str(warehouse), "sources": str(project / "conf" / "sources.toml")},
        kernel_name="poanalytics",
        cwd=str(project),
        progress_bar=False,
    )
    return json.loads(out.read_text())


def _loads(warehouse: Path) -> list[tuple[int, int, str]]:
    with poa.Workbench(warehouse) as wb:
        frame = wb.sql("SELECT rows_read, rows_loaded, status FROM load_log ORDER BY load_id")
    return list(frame.itertuples(index=False, name=None))


def test_the_load_notebook_loads_only_what_is_new_and_stops_naming_a_broken_file(tmp_path):
    project = _project(tmp_path / "project", SOURCES)
    _csv(
        project / "exports" / "a.csv",
        [("u1", "signed_up", "2026-01-05 10:00"), ("", "x", "2026-01-05")],
    )
    warehouse = tmp_path / "w.duckdb"

    first = json.dumps(_run_load_notebook(project, warehouse, tmp_path / "1.ipynb"))
    assert _loads(warehouse) == [(2, 1, "ok")]
    assert "app exports" in first and "user_id is empty" in first  # the report and the quarantine

    second = json.dumps(_run_load_notebook(project, warehouse, tmp_path / "2.ipynb"))
    assert _loads(warehouse)[-1] == (2, 0, "ok")  # a second run loads nothing new
    assert "nothing new" in second

    _csv(project / "exports" / "b.csv", [("u2", "signed_up", "2026-01-06 10:00")])
    _run_load_notebook(project, warehouse, tmp_path / "3.ipynb")
    assert _loads(warehouse)[-1] == (3, 1, "ok")  # the new export is picked up

    (project / "exports" / "c.csv").write_text("uid,action\nu3,signed_up\n")
    with pytest.raises(pm.PapermillExecutionError) as info:
        _run_load_notebook(project, warehouse, tmp_path / "4.ipynb")
    assert info.value.ename == "InputError"
    assert "[sources.load_failed]" in info.value.evalue and "c.csv" in info.value.evalue
    assert _loads(warehouse)[-1][2] == "failed"
    with poa.Workbench(warehouse) as wb:
        assert wb.sql("SELECT count(*) AS n FROM events").n[0] == 2
    failed = json.loads((tmp_path / "4.ipynb").read_text())["cells"]
    last = [c for c in failed if c["cell_type"] == "code"][-1]
    assert "raise_failed" in "".join(last["source"])  # the failure is the notebook's last cell
