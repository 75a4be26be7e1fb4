"""`poanalytics backlog ...`: the ordered list with reasons, publish, override, the log, check's
exit status, and coded errors without a traceback."""

from __future__ import annotations

import shutil

import pytest

from poanalytics.cli import main
from tests.backlog_project import make_project
from tests.test_cli import _heavy_modules_loaded

BAD_CSV = """id,title,effort,steps,themes
B-1,Report templates,1,report_created,
B-2,Effort unreadable,a lot,report_created,
B-3,Linked to a step that is not there,1,report_creatd,
B-4,Too many cells,1,report_created,,x,y
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("cli_project"))


@pytest.fixture
def project(base, tmp_path, monkeypatch):
    """The project with its own copy of the warehouse (the CLI writes the decision log)."""
    root = tmp_path / "p"
    shutil.copytree(base, root)
    monkeypatch.setenv("POANALYTICS_ROOT", str(root))
    return root


def run(project, capsys, *argv):
    status = main(["--db", str(project / "w.duckdb"), "backlog", *argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return status, out.out, out.err


@pytest.mark.parametrize("argv", [["backlog", "--help"], ["backlog", "order", "--help"]])
def test_help_loads_none_of_the_heavy_libraries(argv):
    assert _heavy_modules_loaded(argv) == []


def test_order_prints_ranks_scores_and_reasons(project, capsys):
    status, out, _ = run(project, capsys, "order", "--capacity", "2", "--as-of", "2026-11-16")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("backlog by RICE, evidence as of 2026-11-16 23:59 UTC")
    assert "capacity 2 person-weeks" in lines[0]
    ranked = [line.split()[1] for line in lines[1:] if line[:4].strip().rstrip(".").isdigit()]
    assert sorted(ranked) == ["A-1", "A-2", "A-3"]
    assert "#1" in out  # the reason sentence starts with the rank


def test_override_publish_and_log(project, capsys):
    status, _, err = run(project, capsys, "override", "A-2", "1")
    assert status == 2 and "[cli.option]" in err and "--reason" in err  # a command, not Python
    status, out, _ = run(project, capsys, "override", "A-2", "1", "--reason", "in the contract")
    assert status == 0 and "A-2 at rank 1" in out
    status, out, _ = run(project, capsys, "order")
    assert "override (evidence rank" in out and "in the contract" in out
    assert run(project, capsys, "publish", "--note", "week 46")[0] == 0
    status, out, _ = run(project, capsys, "override", "A-2", "--withdraw")
    assert status == 0 and "withdrawn" in out
    assert run(project, capsys, "publish", "--note", "week 47")[0] == 0
    status, out, _ = run(project, capsys, "log")
    assert status == 0
    assert "snapshot 1" in out and "week 46" in out and "snapshot 2" in out
    assert "override: in the contract" in out
    assert "(-" in out  # A-2 fell back once the override was withdrawn


def test_log_shows_an_item_gone_since_the_last_publish(project, capsys):
    assert run(project, capsys, "publish", "--note", "week 46")[0] == 0
    product = project / "conf" / "product.toml"
    text = product.read_text()
    product.write_text(text[: text.index('[[items]]\nid = "A-2"')])  # leave
    assert run(project, capsys, "publish", "--note", "week 47")[0] == 0
    status, out, _ = run(project, capsys, "log")  # their rows have no rank (pd.NA): it crashed
    assert status == 0 and "  -. A-2" in out and "(gone)" in out


def test_log_of_an_empty_warehouse_says_how_to_publish(project, capsys):
    status, out, _ = run(project, capsys, "log")
    assert status == 0 and "nothing published yet" in out


def test_check_exits_1_with_quarantined_rows_and_unready_items(project, capsys):
    (project / "bad.csv").write_text(BAD_CSV)
    status, out, _ = run(project, capsys, "check", "--items", str(project / "bad.csv"))
    assert status == 1
    assert "2 quarantined" in out
    assert "bad.csv row 3 column 'effort'" in out and "bad.csv row 5" in out
    assert "B-3" in out and "report_creatd" in out


def test_check_exits_0_when_all_is_well(project, capsys):
    product = (project / "conf" / "product.toml").read_text()
    clean = product[: product.index("[[items]]")]  # the file's own items: one has no link
    (project / "conf" / "clean.toml").write_text(clean)
    good = "id,title,effort,steps\nB-1,Report templates,1,report_created\n"
    (project / "good.csv").write_text(good)
    argv = ["check", "--product", "conf/clean.toml", "--items", str(project / "good.csv")]
    status, out, _ = run(project, capsys, *argv)
    assert status == 0, out
    assert "1 of 1 items ready" in out


def test_errors_are_coded_without_a_traceback(project, capsys):
    (project / "conf" / "product.toml").unlink()
    status, _, err = run(project, capsys, "order")
    assert status == 2 and "[backlog.no_product]" in err


def test_impact_of_the_demos_shipped_item(demo10k_wb, demo10k_files, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("POANALYTICS_ROOT", raising=False)  # the project's conf/product.toml
    copy = tmp_path / "warehouse.duckdb"  # the shared file may be held open by another test
    shutil.copy(demo10k_wb.path, copy)
    argv = ["--db", str(copy), "backlog", "impact", "BL-101", "--items"]
    assert main([*argv, str(demo10k_files.backlog)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "BL-101 Fix Android crash on the profile step, shipped 2026-11-02"
    crash = next(line for line in out if line.startswith("  tickets onboarding_crash:"))
    assert "-> 0 items per week" in crash and ", significant" in crash
    argv[4] = "BL-103"
    assert main([*argv, str(demo10k_files.backlog)]) == 2
    assert "[backlog.not_shipped]" in capsys.readouterr().err


def test_evidence_lists_each_piece_and_its_sql(project, capsys):
    status, out, _ = run(project, capsys, "evidence", "A-1", "--sql")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == (
        "A-1 Report templates on the first screen: evidence of the 1 week to 2026-11-16 12:00 UTC"
    )
    dropoff = next(line for line in lines if " dropoff step:report_created: " in line)
    assert "75.0%" in dropoff and "n 40" in dropoff  # 30 of the 40 who signed up stopped there
    assert any(line.strip().startswith("SELECT") or "WITH" in line for line in lines)
    status, out, _ = run(project, capsys, "evidence", "A-2")
    assert status == 0 and "no measured evidence" in out
