"""The command line: starts without the heavy libraries, survives a closed pipe, lists newest first."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import poanalytics as poa
from poanalytics.cli import main
from poanalytics.metrics import wilson

HEAVY = ("pandas", "numpy", "duckdb", "plotly", "pyarrow", "scipy", "numba")

PROBE = """
import json, sys
from poanalytics.cli import main
argv = json.loads(sys.argv[1])
try:
    main(argv)
except SystemExit:
    pass
heavy = json.loads(sys.argv[2])
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))), file=sys.stderr)
"""


def _heavy_modules_loaded(argv: list[str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(result.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["ingest", "--help"],
        ["status", "--help"],
        ["quarantine", "--help"],
        ["schedule", "install", "--help"],
        ["voice", "--help"],
        ["voice", "discover", "--help"],
        ["voice", "discover", "--n", "x"],  # a usage error
    ],
    ids=" ".join,
)
def test_help_imports_none_of_the_heavy_libraries(argv):
    assert _heavy_modules_loaded(argv) == []


def test_importing_the_package_is_light_and_names_load_on_use():
    code = (
        "import sys, poanalytics as poa; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})); "
        "poa.Workbench; print('pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["[]", "True"]
    assert set(poa.__all__) <= set(dir(poa))


@pytest.fixture
def warehouse_with_quarantine(tmp_path):
    db = tmp_path / "w.duckdb"
    with poa.Workbench(db) as wb:
        for name in ("first", "second"):
            path = tmp_path / f"{name}.csv"
            rows = [f"u{i},e,2024-01-0{1 + i % 9}T00:00:00Z" for i in range(5)]
            rows += [f"u{i},e,not a time {name}" for i in range(30)]
            path.write_text("user_id,event,timestamp\n" + "\n".join(rows) + "\n")
            wb.load_events(path)
    return db


def _pipe_closed_before_writing(args: list[str]) -> subprocess.CompletedProcess:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already exited
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "poanalytics", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    return proc


@pytest.mark.parametrize("command", ["status", "quarantine"])
def test_a_closed_pipe_ends_quietly(warehouse_with_quarantine, command):
    proc = _pipe_closed_before_writing(["--db", str(warehouse_with_quarantine), command])
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.stderr == ""
    assert proc.returncode == 141  # as a program killed by SIGPIPE reports it in a shell


def test_quarantine_lists_the_newest_load_first(warehouse_with_quarantine, capsys):
    assert main(["--db", str(warehouse_with_quarantine), "quarantine", "--limit", "40"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows, more = lines[0], lines[1:41], lines[41]
    assert header.split()[:2] == ["load_id", "kind"]
    load_ids = [int(r.split()[0]) for r in rows]
    assert load_ids == [2] * 30 + [1] * 10
    assert "second.csv" in rows[0] and "first.csv" in rows[-1]
    # within a load, rows in file order
    row_numbers = [int(r.split()[3]) for r in rows[:30]]
    assert row_numbers == sorted(row_numbers)
    assert more == "... 20 more (use --limit)"


def test_quarantine_of_one_load(warehouse_with_quarantine, capsys):
    assert main(["--db", str(warehouse_with_quarantine), "quarantine", "--load", "1"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 30 and {int(r.split()[0]) for r in rows} == {1}


def test_wilson_bounds_of_all_or_nothing_are_exact():
    """Float error made 0 of 3 print as 5.6e-17 and 10 of 10 as 0.9999999999999999."""
    assert [n for n in range(1, 2000) if wilson(0, n)[0] != 0.0] == []
    assert [n for n in range(1, 2000) if wilson(n, n)[1] != 1.0] == []
    for n in range(1, 2000):
        low, high = wilson(n // 3, n)
        assert 0.0 < low < n // 3 / n < high < 1.0 or n < 3


def test_a_funnel_table_shows_an_exact_zero_bound(wb):
    """0 of 3 users converting: the interval's low end is 0, not 5.6e-17 in the printed table."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3"],
            "event": ["signed_up"] * 3,
            "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
        }
    )
    wb.load_events(frame)
    wb.load_events(
        pd.DataFrame(
            {
                "user_id": ["u9"],
                "event": ["activated"],
                "ts": pd.to_datetime(["2024-02-01"], utc=True),
            }
        )
    )
    table = wb.funnel(["signed_up", "activated"], window="1d").table
    assert table.ci_low.tolist()[1] == 0.0 and table.ci_high.tolist()[0] == 1.0
    assert "e-1" not in table.to_string() and "e-1" not in table.to_html()


def test_the_workbench_loads_no_text_analysis_library_until_a_voice_call():
    """scikit-learn, datasketch, rapidfuzz, VADER and scipy cost about 2 s to import: every
    notebook, report run and `poanalytics status` would pay it for nothing."""
    text = ("sklearn", "datasketch", "rapidfuzz", "vaderSentiment", "scipy")
    code = (
        "import sys, poanalytics as poa; poa.Workbench; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(text)!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]"]
