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
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import duckdb

from .. import db
from ..config import Settings, settings
from ..errors import ConfigError, InputError, PoaError
from . import pages, params, runlog, weeks
from .config import load_report_config
from .notebooks import execute, failure
from .redact import load_config as redact_config
from .redact import redact

REPORT_CONFIG = Path("conf") / "report.toml"
DEFAULTS = {
    "load_notebook": "notebooks/00_load.ipynb",
    "report_notebook": "notebooks/90_weekly_report.ipynb",
    "kernel": "poanalytics",
    "cell_timeout": 600,
}


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
    path = path or root / REPORT_CONFIG
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{path} is not valid TOML: {exc}",
                code="report.run_config",
                hint="fix the line named (strings need quotes, lists brackets)",
            ) from exc
    elif path != root / REPORT_CONFIG:
        raise ConfigError(
            f"the report config {path} does not exist",
            code="report.run_config",
            hint="pass an existing file with --param config=PATH, or leave it out for "
            "conf/report.toml",
        )
    section = {**DEFAULTS, **(data.get("run") or {})}
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
    a wrong key or type there is refused now, not in the middle of the run."""
    path = values.get("config") or ""
    report = load_report_config(root / path if path else root / REPORT_CONFIG)
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
    parameters (strings as from ``--param``, or Python values)."""
    started = time.perf_counter()
    cfg, run_cfg, path, typed, checked = prepare(week, values, warehouse=warehouse, root=root)
    stream = stream or sys.stderr
    secrets = redact_config(cfg.root).secret_values
    reports = cfg.reports_dir
    with runlog.RunLock(reports):
        _sweep(reports)
        session = db.Session(path, lock_timeout=cfg.lock_timeout)
        try:
            masked = {k: _mask(v, secrets) for k, v in {**typed, "week": checked.week}.items()}
            run_id = runlog.start(session, week=checked.week, parameters=masked)
            work = reports / f".run-{run_id}"
            out = work / "out"
            out.mkdir(parents=True)
            try:
                result = _run(
                    session, run_id, cfg, run_cfg, path, typed, checked, week, work, secrets, stream
                )
            except BaseException as exc:
                try:
                    _failed(session, run_id, exc, cfg, run_cfg, checked.week, secrets)
                except Exception as err:  # never hide the run's own error behind this one
                    print(f"could not write the failure page: {err}", file=stream)
                raise
            finally:
                shutil.rmtree(work, ignore_errors=True)
        finally:
            session.close()
    result.seconds = time.perf_counter() - started
    return result


def _run(
    session: db.Session,
    run_id: int,
    cfg: Settings,
    run_cfg: RunConfig,
    path: Path,
    typed: dict[str, Any],
    checked: Checked,
    asked: str | None,
    work: Path,
    secrets: tuple[str, ...],
    stream: TextIO,
) -> RunResult:
    week = checked.week
    load = run_cfg.load_notebook
    if load is not None and load.is_file():
        load_params = {"warehouse": str(path)} if "warehouse" in params.declared(load) else {}
        _notebook(
            load, work / load.name, load_params, cfg, run_cfg, week, "report.load_failed", stream
        )
        if asked is None:  # the load may have brought a newer complete week
            week = preflight(path, None, funnel_steps(cfg.root, typed), cfg.lock_timeout).week
    snap = runlog.snapshot(session)
    notebook = run_cfg.report_notebook
    declared = params.declared(notebook)
    injected = {**typed, "week": week, "warehouse": str(path), "out_dir": str(work / "out")}
    if "config" in declared:
        injected["config"] = str(run_cfg.path)  # absolute: the same file preflight read
    injected = {k: v for k, v in injected.items() if k in declared}
    print(f"report {week}: running {notebook.name}", file=stream, flush=True)
    executed = _notebook(
        notebook,
        work / "out" / "report.ipynb",
        injected,
        cfg,
        run_cfg,
        week,
        "report.failed",
        stream,
    )
    summary = _read_summary(work / "out", notebook)
    title = str(summary.get("title") or f"Weekly report {week}")
    try:
        html = _export(executed, title, secrets)
    except PoaError:
        raise
    except Exception as exc:  # noqa: BLE001 - any exporter bug becomes a coded failure
        raise ReportFailed(
            f"exporting the report to HTML failed: {type(exc).__name__}: {exc}",
            code="report.export_failed",
            hint="this is a bug in poanalytics' exporter; the last good report is kept",
        ) from exc
    (work / "out" / "index.html").write_text(html, encoding="utf-8")
    _scrub(work / "out" / "report.ipynb", secrets)
    folder = cfg.reports_dir / week
    _publish(work / "out", folder)
    pages.write_index(cfg.reports_dir)
    html_path = folder / "index.html"
    runlog.finish(
        session, run_id, status="ok", week=week, snapshot=snap, report_path=str(html_path)
    )
    _deliver(summary, html_path, run_cfg)
    return RunResult(run_id, week, html_path, summary, 0.0)


def _notebook(
    notebook: Path,
    output: Path,
    parameters: dict[str, Any],
    cfg: Settings,
    run_cfg: RunConfig,
    week: str,
    code: str,
    stream: TextIO,
) -> Any:
    try:
        return execute(
            notebook,
            output,
            parameters,
            root=cfg.root,
            kernel=run_cfg.kernel,
            cell_timeout=run_cfg.cell_timeout,
            stream=stream,
        )
    except Exception as exc:  # papermill's execution error, a timeout, a dead kernel
        secrets = redact_config(cfg.root).secret_values
        info = failure(
            exc,
            notebook,
            output,
            code=code,
            week=week,
            redact=lambda text: redact(text, secrets=secrets),
        )
        raise ReportFailed(
            info.summary_line(),
            code=code,
            hint=f"the last good report of {week} is unchanged; fix the cause and run again",
        ) from _Located(info)


class _Located(Exception):
    """Carries the Failure of a notebook to the failure page (as the cause of ReportFailed)."""

    def __init__(self, info: pages.Failure) -> None:
        super().__init__(info.summary_line())
        self.info = info


def _failed(
    session: db.Session,
    run_id: int,
    exc: BaseException,
    cfg: Settings,
    run_cfg: RunConfig,
    week: str,
    secrets: tuple[str, ...],
) -> None:
    """After a failed run: the failure page, reports/index.html, the run row, the notification."""
    cause = exc.__cause__
    if isinstance(cause, _Located):
        info = cause.info
    else:
        code = getattr(exc, "code", "report.crashed")
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, KeyboardInterrupt):
            code, text = "report.interrupted", "the run was interrupted (Ctrl-C or a stop signal)"
        info = pages.Failure(code=code, message=redact(text, secrets=secrets), week=week)
    info.run_id = run_id
    folder = cfg.reports_dir / week
    page = pages.write_failure(folder, info)
    info.page = str(page)
    pages.write_index(cfg.reports_dir)
    try:
        runlog.finish(
            session,
            run_id,
            status="failed",
            report_path=str(page),
            error_code=info.code,
            error_message=info.summary_line(),
        )
    except PoaError as err:  # the warehouse is locked or gone: the lock shows the run as stale
        print(f"could not record the failed run: {err}", file=sys.stderr)
    _notify(info, run_cfg)
    if isinstance(exc, ReportFailed):
        exc.hint = f"{exc.hint}; see {page}"


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


def _export(nb: Any, title: str, secrets: tuple[str, ...]) -> str:
    try:
        from .export import export_html  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # the exporter of issue 9 has not landed in this branch yet
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(template_name="basic", exclude_input=True)
        body, _ = exporter.from_notebook_node(nb)
        for secret in secrets:
            body = body.replace(secret, "[secret]")
        return pages._page(title, body)
    return str(export_html(nb, title=title, secrets=secrets))


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


def _deliver(summary: dict[str, Any], html: Path, run_cfg: RunConfig) -> None:
    try:
        from .deliver import deliver  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # delivery (e-mail) has not landed in this branch yet: nothing to send
        return
    deliver(summary, html, run_cfg.data)


def _notify(info: pages.Failure, run_cfg: RunConfig) -> None:
    try:
        from .deliver import notify_failure  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # notification has not landed in this branch yet: nothing to send
        return
    try:
        notify_failure(info.as_dict(), run_cfg.data)
    except PoaError as err:
        print(f"the failure notification failed too: {err}", file=sys.stderr)
