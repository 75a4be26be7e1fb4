"""The project keeps its promises: README commands, CLI help, environment.yml in sync."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import yaml

from poanalytics.cli import build_parser
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _names(requirements: list[str]) -> dict[str, str]:
    return {re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0].lower(): r for r in requirements}


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = [p for p in pip_section if not p.startswith("-e")]
    assert _names(listed) == _names(project["dependencies"])
    assert any(p.startswith("-e .") for p in pip_section), (
        "environment.yml must install the package itself"
    )


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = [
        line.strip()
        for line in ci.splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert command == ["make test"]
    assert "make test" in README


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def test_every_cli_command_has_help_and_is_in_the_readme():
    for name, sub in _subcommands().items():
        assert sub.description, f"`poanalytics {name}` has no description"
        assert f"poanalytics {name}" in README, f"`poanalytics {name}` is not in the README"
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"`poanalytics {name}` option {action.dest} has no help"


def test_every_make_target_is_documented():
    makefile = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^([a-z-]+):.*?## (.+)$", makefile, flags=re.M)
    assert {"run", "test", "setup", "lint", "bench", "help"} <= {t for t, _ in targets}
    for target, _ in targets:
        assert f"make {target}" in README, f"`make {target}` is not in the README"


def test_readme_folder_tree_names_every_top_level_folder():
    for folder in [
        "notebooks/",
        "data/",
        "src/poanalytics/",
        "reports/",
        "conf/",
        "tests/",
        "benchmarks/",
        "scripts/",
        "docs/",
    ]:
        assert folder in README, folder


def test_cli_runs_as_module_and_shows_no_traceback_for_expected_errors(tmp_path):
    bad = tmp_path / "e.csv"
    bad.write_text("user,event,timestamp\nu1,a,2024-01-01T00:00:00Z\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "poanalytics",
            "--db",
            str(tmp_path / "w.duckdb"),
            "ingest",
            "events",
            str(bad),
            "--map",
            "user_id=usr",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Did you mean 'user'" in result.stderr and "What to do:" in result.stderr
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "poanalytics",
            "--db",
            str(tmp_path / "w.duckdb"),
            "ingest",
            "events",
            str(bad),
            "--map",
            "user_id=user",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "loaded 1" in ok.stdout
    status = subprocess.run(
        [sys.executable, "-m", "poanalytics", "--db", str(tmp_path / "w.duckdb"), "status"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert re.search(r"events\s+1 rows\s+1 users\s+2024-01-01", status.stdout)
