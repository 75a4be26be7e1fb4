"""A small report notebook following the weekly notebook's contract (issue 9, contracts 1 and 3):
a typed parameters cell, `## Title` sections, and summary.json written to out_dir. The runner's
tests use it where they need a notebook that fails on demand."""

from __future__ import annotations

from pathlib import Path

import nbformat

PARAMETERS = """week: str = ""  # ISO week "2026-W47"; empty: the last complete week
warehouse: str = ""  # DuckDB file; empty: the project's
config: str = ""  # report config file; empty: conf/report.toml
steps: list = []  # funnel steps; empty: from the config
window: str = ""  # conversion window; empty: from the config
breakdown: str = ""  # property to split by; empty: from the config
segment: str = ""  # segment property; empty: from the config
out_dir: str = ""  # where summary.json goes (the runner sets it)
top: int = 5  # how many events to list
fail: str = ""  # when set, the third code cell raises this message
pause: float = 0.0  # seconds the first code cell sleeps (a long run)
echo: str = ""  # printed by the headline cell (a value that may be secret)
"""

BODY = [
    (
        "code",
        "import json, time\nfrom datetime import date, timedelta\nfrom pathlib import Path\n\n"
        "import poanalytics as poa\n\nwb = poa.Workbench(warehouse or None)\ntime.sleep(pause)",
    ),
    ("markdown", "## Headline"),
    (
        "code",
        "if fail:\n    raise poa.InputError(fail, code='test.fail')\n"
        "monday = date.fromisocalendar(int(week[:4]), int(week[6:]), 1)\n"
        "sunday = monday + timedelta(days=6)\n"
        'wau = int(wb.sql("SELECT count(DISTINCT user_id) AS n FROM events WHERE ts >= $a '
        "AND ts < $b\", {'a': str(monday), 'b': str(monday + timedelta(days=7))}).n[0])\n"
        "print(f'Weekly active users: {wau:,}')",
    ),
    ("markdown", "## Events"),
    (
        "code",
        'wb.sql("SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY n DESC '
        "LIMIT $top\", {'top': top})",
    ),
    (
        "code",
        "summary = {'week': week, 'date_from': str(monday), 'date_to': str(sunday),\n"
        "           'title': f'Weekly report {week}',\n"
        "           'headline': [{'name': 'Weekly active users', 'value': wau, 'text': f'{wau:,}',\n"
        "                         'change': None, 'change_text': '<b>n/a</b>', 'clear': False}],\n"
        "           'sections': ['headline', 'events'], 'key_charts': [], 'snapshot': {},\n"
        "           'parameters': {'week': week, 'top': top}}\n"
        "Path(out_dir).mkdir(parents=True, exist_ok=True)\n"
        "(Path(out_dir) / 'summary.json').write_text(json.dumps(summary))",
    ),
]


LOAD = [
    ("code", 'warehouse: str = ""  # DuckDB file\nsources: str = ""  # sources config'),
    (
        "code",
        "import poanalytics as poa\n"
        "raise poa.InputError('exports/broken.csv: the header names no user id column', "
        "code='load.failed')",
    ),
]


def write_load(path: Path) -> Path:
    """A load notebook (contract 5) whose load fails, naming the file and why."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "poanalytics",
        "display_name": "poanalytics",
        "language": "python",
    }
    for i, (_, source) in enumerate(LOAD):
        cell = nbformat.v4.new_code_cell(source)
        if i == 0:
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path


def write(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "poanalytics",
        "display_name": "poanalytics",
        "language": "python",
    }
    cell = nbformat.v4.new_code_cell(PARAMETERS.strip())
    cell.metadata["tags"] = ["parameters"]
    nb.cells.append(cell)
    for kind, source in BODY:
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        nb.cells.append(make(source))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
