"""The two small pages the runner writes itself: ``reports/index.html`` (every week with its
headline numbers, read from each week's summary.json) and a week's ``failed.html`` (which notebook
and cell failed, and why). Plain HTML with inline CSS: no script, no request, every text escaped.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
FAILED_PAGE = "failed.html"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 60rem; padding: 0 1rem; color: #1f2933; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #d9e2ec; vertical-align: top; }
th { font-weight: 600; color: #52606d; }
.num { white-space: nowrap; } .change { color: #52606d; font-size: .9em; }
.failed { color: #b42318; font-weight: 600; }
pre { background: #f5f7fa; padding: .8rem; overflow-x: auto; border-radius: 4px; }
a { color: #1d4ed8; }
"""


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n"
        "</body>\n</html>\n"
    )


def _summary(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _headline(summary: dict[str, Any]) -> str:
    items = summary.get("headline") or []
    parts = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        text = item.get("text", item.get("value", ""))
        change = item.get("change_text") or ""
        if change and item.get("clear") is True:
            change += " (a clear change)"
        parts.append(
            f'<div><span class="name">{escape(str(item.get("name", "")))}</span>: '
            f'<span class="num">{escape(str(text))}</span>'
            + (f' <span class="change">{escape(str(change))}</span>' if change else "")
            + "</div>"
        )
    return "".join(parts) or "<div>(no headline numbers)</div>"


def write_index(reports: Path, title: str = "Weekly product reports") -> Path:
    """Rewrite ``reports/index.html``: every week folder, newest first, with its headline numbers
    and a link to its report (and to its failure page when its last run failed)."""
    rows = []
    weeks = sorted(
        (p for p in reports.iterdir() if p.is_dir() and WEEK.match(p.name)),
        key=lambda p: p.name,
        reverse=True,
    )
    for folder in weeks:
        week = escape(folder.name)
        good = (folder / "index.html").is_file()
        failed = (folder / FAILED_PAGE).is_file()
        if not good and not failed:
            continue
        summary = _summary(folder) if good else None
        dates = ""
        if summary and summary.get("date_from"):
            dates = (
                f'<div class="change">{escape(str(summary.get("date_from")))} .. '
                f"{escape(str(summary.get('date_to', '')))}</div>"
            )
        link = f'<a href="{week}/index.html">{week}</a>' if good else week
        status = ""
        if failed:
            status = (
                f'<div class="failed">last run failed: <a href="{week}/{FAILED_PAGE}">'
                "what went wrong</a>"
                + (" (the report below is the last good one)" if good else "")
                + "</div>"
            )
        numbers = _headline(summary) if summary else ("" if not good else "(no summary.json)")
        rows.append(f"<tr><td>{link}{dates}</td><td>{status}{numbers}</td></tr>")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = f"<h1>{escape(title)}</h1>\n<p>Updated {stamp}. Newest week first.</p>\n" + (
        "<table>\n<tr><th>Week</th><th>Headline numbers</th></tr>\n"
        + "\n".join(rows)
        + "\n</table>"
        if rows
        else "<p>No report yet: run <code>poanalytics report weekly</code>.</p>"
    )
    path = reports / "index.html"
    write_atomic(path, _page(title, body))
    return path


@dataclass
class Failure:
    """What failed in a run: the failure page, the run history and the notification say it."""

    code: str
    message: str
    week: str | None = None
    notebook: str | None = None  # e.g. "90_weekly_report.ipynb"
    cell_index: int | None = None  # 0-based index in the notebook as run (papermill's)
    cell_number: str | None = None  # "4/6": the code cell as the progress lines count them
    cell_source: str | None = None  # first lines of the failed cell, redacted
    ename: str | None = None
    evalue: str | None = None  # redacted
    run_id: int | None = None
    page: str | None = None  # the failure page written, if any

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    def summary_line(self) -> str:
        where = ""
        if self.notebook:
            where = f" in {self.notebook}"
            if self.cell_number:
                where += f", cell {self.cell_number}"
            elif self.cell_index is not None:
                where += f", cell index {self.cell_index}"
        error = f"{self.ename}: {self.evalue}" if self.ename else self.message
        return f"the report failed{where}: {error}"


def write_failure(folder: Path, failure: Failure) -> Path:
    """Write ``<week>/failed.html`` naming the failed notebook, cell and error."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [("When", when), ("Error code", failure.code)]
    if failure.run_id is not None:
        rows.append(("Run", f"{failure.run_id} (poanalytics report history)"))
    if failure.notebook:
        rows.append(("Notebook", failure.notebook))
    if failure.cell_number or failure.cell_index is not None:
        number = f"code cell {failure.cell_number}, " if failure.cell_number else ""
        rows.append(("Cell", f"{number}index {failure.cell_index} in the executed notebook"))
    if failure.ename:
        rows.append(("Error", f"{failure.ename}: {failure.evalue or ''}"))
    else:
        rows.append(("Error", failure.message))
    table = "\n".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    source = (
        f"<h2>The failed cell</h2>\n<pre>{escape(failure.cell_source)}</pre>"
        if failure.cell_source
        else ""
    )
    last_good = (
        '<p>The last good report of this week is unchanged: <a href="index.html">index.html</a>.</p>'
        if (folder / "index.html").is_file()
        else "<p>This week has no good report yet.</p>"
    )
    week = failure.week or folder.name
    body = (
        f'<h1 class="failed">The weekly report for {escape(week)} failed</h1>\n'
        f"<table>\n{table}\n</table>\n{source}\n{last_good}\n"
        '<p><a href="../index.html">All weeks</a>. The next good run of this week removes this page.</p>'
    )
    path = folder / FAILED_PAGE
    write_atomic(path, _page(f"Report {week} failed", body))
    return path
