"""Scheduling the weekly report with the system's scheduler: a crontab entry or a systemd user timer.

``install(weekly="mon 07:00", params=[...])`` adds one entry that runs, in the project root,

    cd ROOT && POANALYTICS_ROOT=ROOT ROOT/.venv/bin/poanalytics report weekly [--param k=v ...]
        >> ROOT/reports/schedule.log 2>&1

(the poanalytics program of the interpreter running this, so the same environment runs the
report). A crontab entry carries the comment ``poanalytics weekly report: ROOT``; ``status`` and
``remove`` find exactly that entry and leave every other line alone, and installing again replaces
it (one entry per project). Where systemd runs (``/run/systemd/system`` exists and the user manager
answers), ``scheduler="auto"`` writes a user service and timer instead
(``~/.config/systemd/user/poanalytics-weekly-<hash of ROOT>.{service,timer}``).

Times are the machine's local time, as cron and systemd read them. The crontab used is the user's
(the ``crontab`` program), or the file named by ``POANALYTICS_CRONTAB_FILE`` (tests, or a system
that reads crontab files from a folder).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import settings
from ..errors import ConfigError, PoaError
from .config_file import ConfigArg, check_keys, read_config, table

CRONTAB_FILE_ENV = "POANALYTICS_CRONTAB_FILE"
SCHEDULERS = ("auto", "cron", "systemd")
TAG = "poanalytics weekly report: "
DAYS = {
    "mon": 0,
    "monday": 0,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "wed": 2,
    "wednesday": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fri": 4,
    "friday": 4,
    "sat": 5,
    "saturday": 5,
    "sun": 6,
    "sunday": 6,
}
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TIME = re.compile(r"^([A-Za-z]+)\s+(\d{1,2}):(\d{2})$")
_PARAM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)


class ScheduleError(PoaError):
    """The report cannot be scheduled, or its schedule not read or removed."""

    code = "schedule"


# -- the time ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyTime:
    """A day of the week (0 = Monday) and a time of day, in the machine's local time."""

    day: int
    hour: int
    minute: int

    @property
    def cron(self) -> str:
        """The five crontab fields (cron counts days from Sunday = 0)."""
        return f"{self.minute} {self.hour} * * {(self.day + 1) % 7}"

    @property
    def on_calendar(self) -> str:
        """systemd's OnCalendar= form."""
        return f"{DAY_NAMES[self.day][:3]} *-*-* {self.hour:02d}:{self.minute:02d}:00"

    def __str__(self) -> str:
        return f"{DAY_NAMES[self.day]} {self.hour:02d}:{self.minute:02d}"


def parse_weekly(spec: str) -> WeeklyTime:
    """``"mon 07:00"``, ``"Monday 7:00"``, ``"fri 18:30"`` (24-hour clock) -> WeeklyTime."""
    match = _TIME.match(str(spec).strip())
    day = DAYS.get(match.group(1).lower()) if match else None
    hour, minute = (int(match.group(2)), int(match.group(3))) if match else (-1, -1)
    if match is None or day is None or not (0 <= hour <= 23 and 0 <= minute <= 59):
        why = (
            "the day is not a day of the week"
            if match and day is None
            else "the time is not a time of day (00:00 to 23:59)"
            if match
            else 'it is not of the form "DAY HH:MM"'
        )
        raise ScheduleError(
            f"--weekly {spec!r}: {why}",
            code="schedule.time",
            hint='write a day and a 24-hour time, e.g. "mon 07:00", "monday 7:00" or "fri 18:30"',
        )
    return WeeklyTime(day, hour, minute)


# -- [schedule] -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleConfig:
    """The ``[schedule]`` table of conf/report.toml."""

    weekly: str = "mon 07:00"
    scheduler: str = "auto"
    params: dict[str, Any] = field(default_factory=dict)


def load_schedule_config(config: ConfigArg = None) -> ScheduleConfig:
    data, source = read_config(config)
    section = table(data, "schedule", source)
    check_keys(section, {"weekly", "scheduler", "params"}, "schedule", source)
    weekly = section.get("weekly", ScheduleConfig.weekly)
    if not isinstance(weekly, str):
        weekly = repr(weekly)
    parse_weekly(weekly)  # refuse a bad default now, not when it is used
    scheduler = section.get("scheduler", "auto")
    if scheduler not in SCHEDULERS:
        raise ConfigError(
            f"[schedule] scheduler = {scheduler!r} is not one of {list(SCHEDULERS)}",
            code="schedule.scheduler",
            hint='"auto" (systemd where it runs, else cron), "cron" or "systemd"',
        )
    params = section.get("params", {})
    if not isinstance(params, Mapping):
        raise ConfigError(
            f"[schedule] params = {params!r} is not a table",
            code="schedule.params",
            hint='write params = { segment = "plan", window = "7d" }',
        )
    return ScheduleConfig(weekly=weekly, scheduler=scheduler, params=dict(params))


def _param_value(value: Any) -> str:
    """A config value as ``--param`` takes it: lists comma-separated (the runner's form)."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_params(root: Path, items: Sequence[str]) -> None:
    """Refuse now, not at 07:00 on Monday, a parameter the report notebook does not declare or a
    value of the wrong type (the runner's own check: report.param_unknown, report.param_type)."""
    from . import params as report_params
    from .run import load_run_config

    values = report_params.split_pairs(items)
    values.pop("week", None)  # the runner takes it as --week; any ISO week is checked at run time
    run_cfg = load_run_config(root)
    declared = report_params.declared(run_cfg.report_notebook)
    report_params.check(values, declared, run_cfg.report_notebook.name)


def merge_params(config_params: Mapping[str, Any], cli: Sequence[str]) -> list[str]:
    """``key=value`` strings: the config's ``[schedule] params``, then ``--param`` (which wins)."""
    merged = {str(k): _param_value(v) for k, v in config_params.items()}
    for item in cli:
        match = _PARAM.match(item)
        if match is None:
            raise ScheduleError(
                f"--param {item!r} is not of the form key=value",
                code="schedule.param",
                hint="write it like --param segment=plan (a parameter of the weekly report "
                "notebook; `poanalytics report weekly --help` lists them)",
            )
        if "\n" in match.group(2) or "\r" in match.group(2):
            raise ScheduleError(
                f"--param {match.group(1)}: a value with a line break cannot be scheduled",
                code="schedule.param",
                hint="put the value on one line",
            )
        merged[match.group(1)] = match.group(2)
    for key in merged:
        if not _PARAM.match(f"{key}=x"):
            raise ScheduleError(
                f"[schedule] params: {key!r} is not a parameter name",
                code="schedule.param",
                hint="parameter names are letters, digits and _, like segment or out_dir",
            )
    return [f"{k}={v}" for k, v in merged.items()]


# -- the command ------------------------------------------------------------------------------


def project_root() -> Path:
    s = settings()
    if not s.root_found:
        raise ScheduleError(
            f"no poanalytics project here ({s.root} has no conf/poanalytics.toml above it)",
            code="schedule.no_root",
            hint="run `poanalytics schedule` from inside the project, or set POANALYTICS_ROOT",
        )
    return s.root


def program() -> list[str]:
    """The poanalytics program of the running interpreter (its venv's script when it has one).
    The path is not resolved: a venv's python is a link to the base interpreter, and only the
    link's path runs with the venv's packages."""
    python = os.path.abspath(sys.executable)
    script = Path(python).parent / "poanalytics"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [python, "-m", "poanalytics"]


def report_argv(params: Sequence[str], db: str | None = None) -> list[str]:
    argv = program()
    if db:
        argv += ["--db", str(Path(db).expanduser().resolve())]
    argv += ["report", "weekly"]
    for item in params:
        argv += ["--param", item]
    return argv


def log_path(root: Path) -> Path:
    return settings(root).reports_dir / "schedule.log"


def cron_command(root: Path, argv: Sequence[str], log: Path) -> str:
    q = shlex.quote
    return (
        f"cd {q(str(root))} && POANALYTICS_ROOT={q(str(root))} "
        f"{' '.join(q(a) for a in argv)} >> {q(str(log))} 2>&1"
    )


def tag(root: Path) -> str:
    return TAG + str(root)


@dataclass(frozen=True)
class Entry:
    """One installed schedule: where, and exactly what."""

    scheduler: str  # "cron" or "systemd"
    where: str  # the crontab (file or user) or the unit folder
    text: str  # the crontab line, or the unit files
    when: WeeklyTime | None
    files: tuple[str, ...] = ()

    def next_run(self, now: datetime | None = None) -> datetime | None:
        """The next time it runs (local time)."""
        if self.when is None:
            return None
        from croniter import croniter

        start = now or datetime.now()
        return croniter(self.when.cron, start).get_next(datetime)


# -- cron -------------------------------------------------------------------------------------


class Cron:
    """The user's crontab (the ``crontab`` program) or a crontab file."""

    scheduler = "cron"

    def __init__(self, tabfile: Path | None = None) -> None:
        self.tabfile = tabfile
        self.where = f"crontab file {tabfile}" if tabfile else "your crontab (crontab -l)"

    def _open(self) -> Any:
        from crontab import CronTab

        try:
            if self.tabfile is not None:
                if not self.tabfile.exists():
                    return CronTab(tab="")
                return CronTab(tabfile=str(self.tabfile))
            return CronTab(user=True)
        except (OSError, ValueError) as exc:
            raise ScheduleError(
                f"cannot read {self.where}: {exc}",
                code="schedule.crontab",
                hint="check that cron is installed and you may use it (crontab -l), or that the "
                f"file {CRONTAB_FILE_ENV} names is readable",
            ) from None

    def _write(self, cron: Any) -> None:
        try:
            if self.tabfile is not None:
                self.tabfile.parent.mkdir(parents=True, exist_ok=True)
                cron.write(str(self.tabfile))
            else:
                cron.write()
        except OSError as exc:
            raise ScheduleError(
                f"cannot write {self.where}: {exc}",
                code="schedule.crontab",
                hint="check that you may use cron (crontab -e works) or that the file is writable",
            ) from None

    @staticmethod
    def _when(job: Any) -> WeeklyTime | None:
        parts = str(job.slices).split()
        try:
            minute, hour, dow = int(parts[0]), int(parts[1]), int(parts[4])
        except (ValueError, IndexError):
            return None
        return WeeklyTime((dow - 1) % 7, hour, minute)

    def find(self, root: Path) -> list[Entry]:
        cron = self._open()
        return [
            Entry("cron", self.where, str(job), self._when(job))
            for job in cron.find_comment(tag(root))
        ]

    def install(self, root: Path, when: WeeklyTime, command: str) -> tuple[Entry, int]:
        cron = self._open()
        replaced = len(list(cron.find_comment(tag(root))))
        cron.remove_all(comment=tag(root))
        job = cron.new(command=command, comment=tag(root))
        job.setall(when.cron)
        self._write(cron)
        return Entry("cron", self.where, str(job), when), replaced

    def remove(self, root: Path) -> list[Entry]:
        cron = self._open()
        found = [
            Entry("cron", self.where, str(j), self._when(j)) for j in cron.find_comment(tag(root))
        ]
        if found:
            cron.remove_all(comment=tag(root))
            self._write(cron)
        return found


# -- systemd ----------------------------------------------------------------------------------


def systemd_running(run_dir: Path = Path("/run/systemd/system")) -> bool:
    """systemd is the init system (sd_booted: /run/systemd/system exists) and this user's manager
    answers (``systemctl --user``); in a container without systemd neither holds."""
    if not run_dir.is_dir() or shutil.which("systemctl") is None:
        return False
    try:
        done = subprocess.run(
            ["systemctl", "--user", "show-environment"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def unit_name(root: Path) -> str:
    return "poanalytics-weekly-" + hashlib.sha256(str(root).encode()).hexdigest()[:10]


def _unit_escape(text: str) -> str:
    return text.replace("%", "%%")


def _exec_quote(arg: str) -> str:
    arg = _unit_escape(arg).replace("$", "$$")
    if arg and not re.search(r"[\s\"'\\;]", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_files(root: Path, when: WeeklyTime, argv: Sequence[str], log: Path) -> dict[str, str]:
    """The service and timer unit texts, by file name."""
    name = unit_name(root)
    header = (
        f"# {tag(root)}\n# Written by `poanalytics schedule install`; "
        "`poanalytics schedule remove` removes it.\n"
    )
    service = (
        header
        + "[Unit]\n"
        + f"Description=poanalytics weekly report for {_unit_escape(str(root))}\n\n"
        + "[Service]\nType=oneshot\n"
        + f"WorkingDirectory={_unit_escape(str(root))}\n"
        + f"Environment={_exec_quote('POANALYTICS_ROOT=' + str(root))}\n"
        + f"ExecStart={' '.join(_exec_quote(a) for a in argv)}\n"
        + f"StandardOutput=append:{_unit_escape(str(log))}\n"
        + f"StandardError=append:{_unit_escape(str(log))}\n"
    )
    timer = (
        header
        + "[Unit]\n"
        + f"Description=Weekly: poanalytics report for {_unit_escape(str(root))}\n\n"
        + f"[Timer]\nOnCalendar={when.on_calendar}\nPersistent=true\nUnit={name}.service\n\n"
        + "[Install]\nWantedBy=timers.target\n"
    )
    return {f"{name}.service": service, f"{name}.timer": timer}


class Systemd:
    """A systemd user service and timer (``systemctl --user``)."""

    scheduler = "systemd"

    def __init__(self, directory: Path | None = None, systemctl: str = "systemctl") -> None:
        self.directory = directory or unit_dir()
        self.systemctl = systemctl
        self.where = f"systemd user units in {self.directory}"
        self.ran: list[str] = []

    def _run(self, *args: str, check: bool = True) -> None:
        argv = [self.systemctl, "--user", *args]
        self.ran.append(" ".join(shlex.quote(a) for a in argv))
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ScheduleError(
                f"`{self.ran[-1]}` failed: {exc}",
                code="schedule.systemctl",
                hint="check that systemd runs for your user (systemctl --user status), or "
                "schedule with cron: --scheduler cron",
            ) from None
        if check and done.returncode != 0:
            raise ScheduleError(
                f"`{self.ran[-1]}` exited with status {done.returncode}: {done.stderr.strip()}",
                code="schedule.systemctl",
                hint="check that systemd runs for your user (systemctl --user status), or "
                "schedule with cron: --scheduler cron",
            )

    def _when(self, timer_text: str) -> WeeklyTime | None:
        match = re.search(r"^OnCalendar=(\w+) \*-\*-\* (\d+):(\d+):00$", timer_text, re.M)
        if not match:
            return None
        return WeeklyTime(DAYS[match.group(1).lower()], int(match.group(2)), int(match.group(3)))

    def find(self, root: Path) -> list[Entry]:
        name = unit_name(root)
        files = [self.directory / f"{name}.service", self.directory / f"{name}.timer"]
        if not all(f.is_file() for f in files):
            return []
        texts = {f: f.read_text() for f in files}
        if tag(root) not in texts[files[1]]:
            return []
        text = "\n".join(f"{f}:\n{t}" for f, t in texts.items())
        return [
            Entry("systemd", self.where, text, self._when(texts[files[1]]), tuple(map(str, files)))
        ]

    def install(
        self, root: Path, when: WeeklyTime, argv: Sequence[str], log: Path
    ) -> tuple[Entry, int]:
        replaced = len(self.find(root))
        self.directory.mkdir(parents=True, exist_ok=True)
        units = unit_files(root, when, argv, log)
        paths = []
        for file_name, text in units.items():
            path = self.directory / file_name
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(text)
            tmp.replace(path)
            paths.append(path)
        self._run("daemon-reload")
        self._run("enable", "--now", f"{unit_name(root)}.timer")
        text = "\n".join(f"{p}:\n{units[p.name]}" for p in paths)
        return Entry("systemd", self.where, text, when, tuple(map(str, paths))), replaced

    def remove(self, root: Path) -> list[Entry]:
        found = self.find(root)
        if found:
            self._run("disable", "--now", f"{unit_name(root)}.timer", check=False)
            for f in found[0].files:
                Path(f).unlink(missing_ok=True)
            self._run("daemon-reload", check=False)
        return found


# -- choosing ---------------------------------------------------------------------------------


def _no_scheduler(line: str) -> ScheduleError:
    return ScheduleError(
        "this machine has no crontab program and no systemd to schedule the report with",
        code="schedule.no_scheduler",
        hint="install cron (Debian/Ubuntu: apt-get install cron; Fedora/RHEL: dnf install "
        "cronie; then start it), or add this line to whatever scheduler you use (crontab -e): "
        f"{line}",
    )


def backends(
    scheduler: str = "auto", crontab_file: str | Path | None = None, *, every: bool = False
) -> list[Any]:
    """The schedulers to use: a crontab file when one is named (argument or
    POANALYTICS_CRONTAB_FILE); else systemd where it runs (auto, systemd) and the user's crontab
    where the crontab program exists (auto, cron). ``every``: all of them (status and remove look
    everywhere an entry may be); else the first (install)."""
    if scheduler not in SCHEDULERS:
        raise ScheduleError(
            f"scheduler {scheduler!r} is not one of {list(SCHEDULERS)}",
            code="schedule.scheduler",
            hint='use "auto", "cron" or "systemd"',
        )
    tabfile = crontab_file or os.environ.get(CRONTAB_FILE_ENV) or None
    if tabfile and scheduler != "systemd":
        return [Cron(Path(tabfile).expanduser().resolve())]
    found: list[Any] = []
    if scheduler in ("auto", "systemd"):
        if systemd_running():
            found.append(Systemd())
        elif scheduler == "systemd":
            raise ScheduleError(
                "systemd does not run here (or not for this user): no systemd timer can be used",
                code="schedule.no_systemd",
                hint="use --scheduler cron (or auto), or log in to a session with a systemd "
                "user manager",
            )
    if scheduler in ("auto", "cron") and shutil.which("crontab") and (every or not found):
        found.append(Cron())
    return found


@dataclass(frozen=True)
class Installed:
    entry: Entry
    replaced: int
    commands: tuple[str, ...] = ()  # what was run to activate it (systemctl ...)
    log: str = ""

    def __str__(self) -> str:
        entry = self.entry
        lines = [
            f"{'replaced the earlier entry; ' if self.replaced else ''}installed in {entry.where}"
            f" (runs {entry.when}, local time):",
            entry.text.rstrip("\n"),
        ]
        lines += [f"ran: {c}" for c in self.commands]
        nxt = entry.next_run()
        if nxt is not None:
            lines.append(f"next run: {_when_text(nxt)}")
        lines.append(f"output goes to {self.log}")
        if entry.scheduler == "systemd":
            lines.append(
                "note: user timers run while you are logged in; `loginctl enable-linger` keeps "
                "them running after you log out"
            )
        return "\n".join(lines)


def _when_text(moment: datetime) -> str:
    zone = datetime.now().astimezone().tzname()
    return f"{moment:%A %Y-%m-%d %H:%M} ({zone}, the machine's local time)"


def install(
    weekly: str | None = None,
    params: Sequence[str] = (),
    *,
    scheduler: str | None = None,
    crontab_file: str | Path | None = None,
    db: str | None = None,
    config: ConfigArg = None,
) -> Installed:
    """Schedule ``poanalytics report weekly`` for this project (see the module docstring).
    ``weekly``/``scheduler`` default to ``[schedule]`` of conf/report.toml; ``params`` are
    ``key=value`` (on top of ``[schedule] params``)."""
    cfg = load_schedule_config(config)
    when = parse_weekly(weekly if weekly else cfg.weekly)
    items = merge_params(cfg.params, params)
    root = project_root()
    check_params(root, items)
    log = log_path(root)
    argv = report_argv(items, db)
    line = f"{when.cron} {cron_command(root, argv, log)} # {tag(root)}"
    chosen = backends(scheduler or cfg.scheduler, crontab_file)
    if not chosen:
        raise _no_scheduler(line)
    backend = chosen[0]
    log.parent.mkdir(parents=True, exist_ok=True)  # `>> log` fails when its folder is missing
    if isinstance(backend, Systemd):
        entry, replaced = backend.install(root, when, argv, log)
        return Installed(entry, replaced, tuple(backend.ran), str(log))
    entry, replaced = backend.install(root, when, cron_command(root, argv, log))
    return Installed(entry, replaced, (), str(log))


@dataclass(frozen=True)
class Status:
    root: Path
    entries: tuple[Entry, ...]
    where: tuple[str, ...]
    log: Path

    @property
    def installed(self) -> bool:
        return bool(self.entries)

    def __str__(self) -> str:
        if not self.entries:
            places = " or ".join(self.where) or "any scheduler (none is available here)"
            return (
                f"the weekly report of {self.root} is not scheduled (looked in {places}); "
                '`poanalytics schedule install --weekly "mon 07:00"` schedules it'
            )
        lines = []
        for entry in self.entries:
            lines += [f"scheduled in {entry.where}:", entry.text.rstrip("\n")]
            nxt = entry.next_run()
            lines.append(f"next run: {_when_text(nxt)}" if nxt else "next run: unknown")
        if self.log.is_file():
            changed = datetime.fromtimestamp(self.log.stat().st_mtime)
            lines.append(f"log: {self.log} (last written {changed:%Y-%m-%d %H:%M})")
        else:
            lines.append(f"log: {self.log} (not written yet: no scheduled run so far)")
        return "\n".join(lines)


def status(
    *,
    scheduler: str | None = None,
    crontab_file: str | Path | None = None,
    config: ConfigArg = None,
) -> Status:
    """What is scheduled for this project, and when it runs next."""
    cfg = load_schedule_config(config)
    root = project_root()
    found: list[Entry] = []
    chosen = backends(scheduler or cfg.scheduler, crontab_file, every=True)
    for backend in chosen:
        found += backend.find(root)
    return Status(root, tuple(found), tuple(b.where for b in chosen), log_path(root))


def remove(
    *,
    scheduler: str | None = None,
    crontab_file: str | Path | None = None,
    config: ConfigArg = None,
) -> tuple[list[Entry], tuple[str, ...]]:
    """Remove this project's schedule (only its own entry). Returns what was removed and where
    it looked."""
    cfg = load_schedule_config(config)
    root = project_root()
    chosen = backends(scheduler or cfg.scheduler, crontab_file, every=True)
    removed: list[Entry] = []
    for backend in chosen:
        removed += backend.remove(root)
    return removed, tuple(b.where for b in chosen)
