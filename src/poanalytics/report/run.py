"""The weekly report run: ``poanalytics report weekly``.

In order, and stopping at the first problem:

1. check the parameters against the report notebook's (``report.param_*``) and the inputs against
   the warehouse (``report.week*``, ``db.not_found``, ``report.no_events``,
   ``report.funnel_events``): nothing is written, not even the lock file;
2. take the run lock (``report.busy`` when another run holds it) and record the run in
   ``report_runs``;
3. run the load notebook (when it exists), then the report notebook, with papermill on the
   ``poanalytics`` kernel, into a temporary folder under ``reports/``;
4. export the HTML (secrets scrubbed), move the week's files into ``reports/<week>/`` one
   ``os.replace`` at a time, ``index.html`` last, and rewrite ``reports/index.html``;
5. deliver it (e-mail, when configured).

A failure after step 2 leaves the last good report untouched, writes ``reports/<week>/failed.html``
(which notebook, which cell, which error), records the run as failed, sends the failure
notification when one is configured and raises a coded error (the CLI exits 2).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import duckdb

from .. import db
from ..config import Settings, settings
from ..errors import ConfigError, InputError, PoaError
from ..metrics.validate import parse_window
from ..redaction import load_config as redact_config
from ..redaction import redact
from . import pages, params, runlog, weeks
from .config import load_report_config
from .config_file import REPORT_CONFIG, read_config, table
from .deliver import deliver, notify_failure, notify_success
from .export import export_html
from .notebooks import execute, failure
from .redact_objects import known_names

DEFAULTS = {
    "load_notebook": "notebooks/00_load.ipynb",
    "report_notebook": "notebooks/90_weekly_report.ipynb",
    "kernel": "poanalytics",
    "cell_timeout": 600,
}


# codes recorded in report_runs (and on the failure page) for a run that did not end with a coded
# error; never raised to the caller, so docs/report.md lists them, not docs/errors.md
INTERRUPTED = "report.interrupted"  # a signal or Ctrl-C
CRASHED = "report.crashed"  # an unexpected error: a bug


class ReportFailed(PoaError):
    """A report run that started failed; the last good report is kept and a failure page written."""

    code = "report.failed"


@dataclass(frozen=True)
class RunConfig:
    """``[run]`` of conf/report.toml (paths relative to the project root), and the whole file."""

    load_notebook: Path | None
    report_notebook: Path
    kernel: str
    cell_timeout: float | None
    path: Path
    data: dict[str, Any] = field(default_factory=dict)


def load_run_config(root: Path, path: Path | None = None) -> RunConfig:
    """Read ``[run]``; a missing file means the defaults. Wrong values are ``report.config``."""
    default = root / REPORT_CONFIG
    path = path or default
    # the one reader of conf/report.toml (report.config_syntax, report.config_missing); a missing
    # default file means the defaults
    data = read_config(path)[0] if path != default or path.is_file() else {}
    section = {**DEFAULTS, **table(data, "run", str(path))}
    unknown = set(section) - set(DEFAULTS)
    texts = ("load_notebook", "report_notebook", "kernel")
    if unknown or not all(isinstance(section[k], str) for k in texts):
        raise ConfigError(
            f"[run] in {path} has unknown or non-text keys: {sorted(unknown) or section}",
            code="report.run_config",
            hint="[run] takes load_notebook, report_notebook, kernel (text) and cell_timeout "
            "(seconds)",
        )
    timeout = section["cell_timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise ConfigError(
            f"[run] cell_timeout = {timeout!r} in {path} is not a number of seconds",
            code="report.run_config",
            hint="set cell_timeout to the seconds one cell may run, e.g. 600 (0: no limit)",
        )
    load = section["load_notebook"]
    return RunConfig(
        load_notebook=(root / load) if load else None,
        report_notebook=root / section["report_notebook"],
        kernel=section["kernel"],
        cell_timeout=float(timeout) or None,
        path=path,
        data=data,
    )


# -- preflight --------------------------------------------------------------------------------------


@dataclass
class Checked:
    week: str
    first_event: datetime
    last_event: datetime


def funnel_steps(root: Path, values: dict[str, Any]) -> list[str]:
    """The funnel's event names: the ``steps`` parameter, else ``[funnel] steps`` of the report
    config (the ``config`` parameter, else conf/report.toml), read by the report's own loader so
    a wrong key or type there is refused now, not in the middle of the run. The funnel's window
    (the ``window`` parameter, else ``[funnel] window``) is checked here too: '7' without a unit is
    ``funnel.window_unit`` before anything runs, not a failed report."""
    path = values.get("config") or ""
    report = load_report_config(root / path if path else root / REPORT_CONFIG)
    parse_window(values.get("window") or report.funnel.window)
    steps = values.get("steps") or list(report.funnel.steps)
    return [str(step) for step in steps if str(step)]


def preflight(warehouse: Path, week: str | None, steps: list[str], lock_timeout: float) -> Checked:
    """Check the warehouse and the week before anything runs; reads only, never creates."""
    if week:
        weeks.parse_week(week)  # report.week_format, before the warehouse is looked at
    if str(warehouse) != ":memory:" and not warehouse.is_file():
        raise db.not_found(str(warehouse))
    session = db.Session(warehouse, read_only=True, lock_timeout=lock_timeout)
    try:
        with session.attached() as con:
            count, first, last = db.fetch_one(con, "SELECT count(*), min(ts), max(ts) FROM events")  # type: ignore[misc]
            if not count:
                raise InputError(
                    f"the warehouse {warehouse} holds no events: there is nothing to report",
                    code="report.no_events",
                    hint="load events first (`poanalytics ingest events PATH`, or `make run` for "
                    "the demo data), or pass the right warehouse with --db",
                )
            chosen = weeks.resolve_week(week, first, last)  # the notebook resolves it the same way
            counts = dict(
                db.fetch_all(
                    con,
                    "SELECT event, count(*) FROM events WHERE ts >= ? AND ts <= ? GROUP BY event "
                    "ORDER BY 2 DESC",
                    [chosen.start.to_pydatetime(), chosen.end.to_pydatetime()],
                )
            )
    except duckdb.Error as exc:
        raise db.open_error(str(warehouse), exc, read_only=True) from exc
    finally:
        session.close()
    if not counts:
        raise InputError(
            f"no event in {chosen.label} ({chosen.monday} .. {chosen.sunday}), although the data "
            f"runs from {first:%Y-%m-%d} to {last:%Y-%m-%d}: a gap in the exports?",
            code="report.week_empty",
            hint="load the missing exports, or pick another week (--week)",
        )
    missing = [s for s in steps if s not in counts]
    if missing:
        seen = ", ".join(list(counts)[:12])
        raise InputError(
            f"the funnel's step(s) {', '.join(map(repr, missing))} have no event in "
            f"{chosen.label}; the report would show them as zero. Events that week: {seen}",
            code="report.funnel_events",
            hint="fix the step names ([funnel] steps in conf/report.toml, or --param steps=a,b,c)"
            ", or pick a week where they happen (--week)",
        )
    return Checked(chosen.label, first, last)


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class RunResult:
    run_id: int
    week: str
    html: Path
    summary: dict[str, Any]
    seconds: float


def prepare(
    week: str | None = None,
    values: dict[str, Any] | None = None,
    *,
    warehouse: str | Path | None = None,
    root: Path | None = None,
) -> tuple[Settings, RunConfig, Path, dict[str, Any], Checked]:
    """Everything checked before a run: settings, [run], warehouse path, typed parameters, week."""
    cfg = settings(root)
    values = dict(values or {})
    if "week" in values:
        given = str(values.pop("week"))
        if week and given and given != week:
            raise ConfigError(
                f"--week {week} and --param week={given} disagree",
                code="report.param_malformed",
                hint="give the week once, with --week",
            )
        week = week or given or None
    declared_root = cfg.root
    run_cfg = load_run_config(declared_root)
    declared = params.declared(run_cfg.report_notebook)
    typed = params.check(values, declared, run_cfg.report_notebook.name)
    if typed.get("config"):
        run_cfg = load_run_config(declared_root, declared_root / typed["config"])
    path = Path(warehouse) if warehouse is not None else cfg.default_warehouse()
    checked = preflight(path, week, funnel_steps(declared_root, typed), cfg.lock_timeout)
    return cfg, run_cfg, path.resolve(), typed, checked


def run_weekly(
    week: str | None = None,
    values: dict[str, Any] | None = None,
    *,
    warehouse: str | Path | None = None,
    root: Path | None = None,
    progress: str = "auto",
    stream: TextIO | None = None,
) -> RunResult:
    """Run the weekly report (see the module's docstring); ``values`` are the notebook's
    parameters (strings as from ``--param``, or Python values). ``progress``: "auto" (a bar on a
    terminal, one line per cell otherwise), "bar", "lines" or "none"."""
    started = time.perf_counter()
    cfg, run_cfg, path, typed, checked = prepare(week, values, warehouse=warehouse, root=root)
    reports = cfg.reports_dir
    with runlog.RunLock(reports):
        _sweep(reports)
        run = _Run(cfg, run_cfg, path, typed, checked.week, week, progress, stream or sys.stderr)
        try:
            result = run.start()
            try:
                run.execute(result)
            except BaseException as exc:
                try:
                    run.failed(exc)
                except Exception as err:  # never hide the run's own error behind this one
                    print(f"could not write the failure page: {err}", file=run.stream)
                raise
            finally:
                shutil.rmtree(run.work, ignore_errors=True)
            run.deliver(result)
        finally:
            run.session.close()
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class _Run:
    """One run after the checks, with the run lock held."""

    cfg: Settings
    run_cfg: RunConfig
    path: Path
    typed: dict[str, Any]
    week: str  # resolved; may move on after the load when --week was not given
    asked: str | None  # --week as given
    progress: str
    stream: TextIO
    run_id: int = 0

    def __post_init__(self) -> None:
        self.session = db.Session(self.path, lock_timeout=self.cfg.lock_timeout)
        self.secrets = redact_config(self.cfg.root).secret_values
        self.work = self.cfg.reports_dir / ".run-new"

    def start(self) -> RunResult:
        masked = {k: _mask(v, self.secrets) for k, v in {**self.typed, "week": self.week}.items()}
        self.run_id = runlog.start(self.session, week=self.week, parameters=masked)
        self.work = self.cfg.reports_dir / f".run-{self.run_id}"
        (self.work / "out").mkdir(parents=True)
        return RunResult(self.run_id, self.week, Path(), {}, 0.0)

    def execute(self, result: RunResult) -> None:
        load = self.run_cfg.load_notebook
        if load is not None and load.is_file():
            declared = params.declared(load)
            load_params = {"warehouse": str(self.path)} if "warehouse" in declared else {}
            self.notebook(load, self.work / load.name, load_params, "report.load_failed")
            if self.asked is None:  # the load may have brought a newer complete week
                steps = funnel_steps(self.cfg.root, self.typed)
                self.week = preflight(self.path, None, steps, self.cfg.lock_timeout).week
        snap = runlog.snapshot(self.session)
        notebook = self.run_cfg.report_notebook
        out = self.work / "out"
        injected = {**self.typed, "week": self.week, "warehouse": str(self.path)}
        injected.update(out_dir=str(out), config=str(self.run_cfg.path))  # absolute paths
        declared = params.declared(notebook)
        injected = {k: v for k, v in injected.items() if k in declared}
        print(f"report {self.week}: running {notebook.name}", file=self.stream, flush=True)
        executed = self.notebook(notebook, out / "report.ipynb", injected, "report.failed")
        summary = _read_summary(out, notebook)
        title = str(summary.get("title") or f"Weekly report {self.week}")
        try:
            with self.session.attached() as con:
                names = known_names(con)  # the people in the warehouse, hidden in the page too
            html = _export(executed, title, self.secrets, names)
        except PoaError:
            raise
        except Exception as exc:  # noqa: BLE001 - any exporter bug becomes a coded failure
            raise ReportFailed(
                f"exporting the report to HTML failed: {type(exc).__name__}: {exc}",
                code="report.export_failed",
                hint="this is a bug in poanalytics' exporter; the last good report is kept",
            ) from exc
        (out / "index.html").write_text(html, encoding="utf-8")
        _scrub(out / "report.ipynb", self.secrets)
        folder = self.cfg.reports_dir / self.week
        _publish(out, folder)
        pages.write_index(self.cfg.reports_dir)
        result.week, result.html, result.summary = self.week, folder / "index.html", summary
        runlog.finish(
            self.session,
            self.run_id,
            status="ok",
            week=self.week,
            snapshot=snap,
            report_path=str(result.html),
        )

    def notebook(self, notebook: Path, output: Path, parameters: dict[str, Any], code: str) -> Any:
        try:
            return execute(
                notebook,
                output,
                parameters,
                root=self.cfg.root,
                kernel=self.run_cfg.kernel,
                cell_timeout=self.run_cfg.cell_timeout,
                progress=self.progress,
                stream=self.stream,
            )
        except Exception as exc:  # papermill's execution error, a timeout, a dead kernel
            secrets = self.secrets
            info = failure(
                exc,
                notebook,
                output,
                code=code,
                week=self.week,
                redact=lambda text: redact(text, secrets=secrets),
            )
            raise ReportFailed(
                info.summary_line(),
                code=code,
                hint=f"the last good report of {self.week} is unchanged; fix the cause and run "
                "again",
            ) from _Located(info)

    def failed(self, exc: BaseException) -> None:
        """The failure page, reports/index.html, the run's row, the notification."""
        cause = exc.__cause__
        if isinstance(cause, _Located):
            info = cause.info
        else:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if isinstance(exc, KeyboardInterrupt):
                info = pages.Failure(code=INTERRUPTED, message="interrupted (a signal)")
            elif isinstance(exc, PoaError):
                info = pages.Failure(code=exc.code, message=redact(text, secrets=self.secrets))
            else:  # a bug: said plainly, without the traceback
                text = f"{type(exc).__name__}: {text}"
                info = pages.Failure(code=CRASHED, message=redact(text, secrets=self.secrets))
            info.week = self.week
        info.run_id = self.run_id
        page = pages.write_failure(self.cfg.reports_dir / self.week, info)
        info.page = str(page)
        pages.write_index(self.cfg.reports_dir)
        try:
            runlog.finish(
                self.session,
                self.run_id,
                status="failed",
                week=self.week,
                report_path=str(page),
                error_code=info.code,
                error_message=info.summary_line(),
            )
        except PoaError as err:  # the warehouse is locked or gone: the lock shows the run as stale
            print(f"could not record the failed run: {err}", file=self.stream)
        _notify_failure(info, self.run_cfg, self.stream)
        if isinstance(exc, ReportFailed):
            exc.hint = f"{exc.hint}; see {page}"

    def deliver(self, result: RunResult) -> None:
        """E-mail the published report ([email]); a delivery that fails leaves the report published
        and the run ``ok``, records the error on the run, notifies and raises
        ``report.delivery_failed``."""
        try:
            _deliver(result.summary, result.html, self.run_cfg)
        except PoaError as err:
            runlog.note_error(self.session, self.run_id, err.code, str(err).splitlines()[0])
            info = pages.Failure(
                code=err.code, message=str(err).splitlines()[0], week=self.week, run_id=self.run_id
            )
            _notify_failure(info, self.run_cfg, self.stream)
            raise ReportFailed(
                f"the report was published at {result.html}, but delivering it failed: {err}",
                code="report.delivery_failed",
                hint="fix [email] in conf/report.toml or the SMTP credentials in the environment; "
                "the report itself is good and stays published",
            ) from err


class _Located(Exception):
    """Carries the Failure of a notebook to the failure page (as the cause of ReportFailed)."""

    def __init__(self, info: pages.Failure) -> None:
        super().__init__(info.summary_line())
        self.info = info


def _read_summary(out: Path, notebook: Path) -> dict[str, Any]:
    try:
        data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportFailed(
            f"{notebook.name} ran but wrote no readable summary.json in out_dir ({exc})",
            code="report.no_summary",
            hint="the report notebook must end with report.save(out_dir)",
        ) from exc
    if not isinstance(data, dict):
        raise ReportFailed(
            f"{notebook.name} wrote a summary.json that is not an object",
            code="report.no_summary",
            hint="report.save(out_dir) writes it; do not write summary.json by hand",
        )
    return data


def _export(nb: Any, title: str, secrets: tuple[str, ...], names: list[str]) -> str:
    return export_html(nb, title=title, secrets=secrets, names=names)


def _scrub(path: Path, secrets: tuple[str, ...]) -> None:
    """Replace secret values in the executed notebook published beside the HTML."""
    if not secrets:
        return
    text = path.read_text(encoding="utf-8")
    for secret in secrets:
        for form in {secret, json.dumps(secret)[1:-1]}:
            text = text.replace(form, "[secret]")
    path.write_text(text, encoding="utf-8")


def _publish(staging: Path, folder: Path) -> None:
    """Move the run's files into the week's folder, each with os.replace (atomic), index.html last,
    then remove what the new report does not have (old chart files, a failure page)."""
    files = sorted(
        (p for p in staging.rglob("*") if p.is_file()), key=lambda p: p.name == "index.html"
    )
    folder.mkdir(parents=True, exist_ok=True)
    kept = set()
    for item in files:
        target = folder / item.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(item, 0o644)
        os.replace(item, target)
        kept.add(target)
    for old in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if old.is_file() and old not in kept:
            old.unlink()
        elif old.is_dir() and not any(old.iterdir()):
            old.rmdir()


def _sweep(reports: Path) -> None:
    """Remove the temporary folders of runs that were killed (we hold the run lock)."""
    for stale in reports.glob(".run-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _mask(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets=secrets) if value else value
    if isinstance(value, list):
        return [_mask(v, secrets) for v in value]
    return value


def _config_arg(run_cfg: RunConfig) -> Any:
    """What delivery reads its tables from: the report config file, or its (empty) contents."""
    return str(run_cfg.path) if run_cfg.path.is_file() else run_cfg.data


def _deliver(summary: dict[str, Any], html: Path, run_cfg: RunConfig) -> None:
    # by keyword: deliver's third positional argument is the charts' folder
    deliver(summary, html, config=_config_arg(run_cfg))
    notify_success(summary, html, config=_config_arg(run_cfg))


def _notify_failure(info: pages.Failure, run_cfg: RunConfig, stream: TextIO) -> None:
    try:
        notify_failure(info.as_dict(), config=_config_arg(run_cfg))
    except PoaError as err:  # it should never raise; a run's own error comes first
        print(f"the failure notification failed too: {err}", file=stream)
