"""`poanalytics schedule`: a crontab entry (in a temporary crontab FILE, never the machine's) or a
systemd user timer (unit text checked by systemd-analyze; systemctl is a recording script)."""

from __future__ import annotations

import shlex
import shutil
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from crontab import CronTab

from poanalytics.cli import main
from poanalytics.errors import ConfigError
from poanalytics.report import schedule
from poanalytics.report.schedule import (
    ScheduleError,
    Systemd,
    WeeklyTime,
    parse_weekly,
    unit_files,
)
from tests.conftest import ROOT

OTHER_LINES = (
    "# my own jobs\n"
    "MAILTO=ops@example.com\n"
    "*/5 * * * * /usr/local/bin/backup --quiet # backup\n"
    "0 7 * * 1 cd /elsewhere && poanalytics report weekly # poanalytics weekly report: /elsewhere\n"
)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project root (with a space in its path, as real folders have) and a crontab file."""
    root = tmp_path / "my project"
    (root / "conf").mkdir(parents=True)
    (root / "conf" / "poanalytics.toml").write_text("")
    (root / "notebooks").mkdir()  # install checks --param against the report notebook
    shutil.copy(ROOT / "notebooks" / "90_weekly_report.ipynb", root / "notebooks")
    monkeypatch.setenv("POANALYTICS_ROOT", str(root))
    monkeypatch.setenv("POANALYTICS_CRONTAB_FILE", str(tmp_path / "crontab"))
    return root.resolve()


def _jobs(tabfile: Path) -> list:
    return list(CronTab(tabfile=str(tabfile)))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("mon 07:00", WeeklyTime(0, 7, 0)),
        ("monday 7:00", WeeklyTime(0, 7, 0)),
        ("Monday 07:00", WeeklyTime(0, 7, 0)),
        ("  fri   18:30 ", WeeklyTime(4, 18, 30)),
        ("sun 0:05", WeeklyTime(6, 0, 5)),
    ],
)
def test_weekly_times_are_read(spec, expected):
    assert parse_weekly(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "mon 7",
        "mon 24:00",
        "mon 07:60",
        "funday 07:00",
        "mon",
        "07:00",
        "mon 07:00 pm",
        "",
        "m 7:00",
    ],
)
def test_bad_weekly_times_are_refused(spec):
    with pytest.raises(ScheduleError) as err:
        parse_weekly(spec)
    assert err.value.code == "schedule.time" and '"mon 07:00"' in err.value.hint


def test_cron_fields_count_days_from_sunday():
    assert parse_weekly("sun 07:00").cron == "0 7 * * 0"
    assert parse_weekly("mon 07:00").cron == "0 7 * * 1"
    assert parse_weekly("sat 23:59").cron == "59 23 * * 6"
    assert parse_weekly("wed 9:05").on_calendar == "Wed *-*-* 09:05:00"


def test_install_writes_one_crontab_entry_and_prints_it(project, tmp_path, capsys):
    tabfile = tmp_path / "crontab"
    assert main(["schedule", "install", "--weekly", "mon 07:00", "--param", "segment=plan"]) == 0
    out = capsys.readouterr().out
    (job,) = _jobs(tabfile)
    program = str(Path(sys.executable).parent / "poanalytics")
    q = shlex.quote
    assert str(job.slices) == "0 7 * * 1"
    assert job.command == (
        f"cd {q(str(project))} && POANALYTICS_ROOT={q(str(project))} {q(program)} report weekly "
        f"--param segment=plan >> {q(str(project / 'reports' / 'schedule.log'))} 2>&1"
    )
    assert job.comment == f"poanalytics weekly report: {project}"
    assert tabfile.read_text().strip() in out  # it prints exactly what it installed
    assert "next run:" in out
    assert (project / "reports").is_dir()  # `>> reports/schedule.log` needs the folder


def test_installing_twice_keeps_one_entry_and_others_intact(project, tmp_path, capsys):
    tabfile = tmp_path / "crontab"
    tabfile.write_text(OTHER_LINES)
    assert main(["schedule", "install", "--weekly", "mon 07:00"]) == 0
    assert main(["schedule", "install", "--weekly", "tue 06:30"]) == 0
    assert "replaced the earlier entry" in capsys.readouterr().out
    mine = [j for j in _jobs(tabfile) if j.comment == f"poanalytics weekly report: {project}"]
    assert len(mine) == 1 and str(mine[0].slices) == "30 6 * * 2"
    assert tabfile.read_text().startswith(OTHER_LINES)


def test_remove_removes_only_this_projects_entry(project, tmp_path, capsys):
    tabfile = tmp_path / "crontab"
    tabfile.write_text(OTHER_LINES)
    assert main(["schedule", "install"]) == 0
    assert main(["schedule", "remove"]) == 0
    assert "removed from crontab file" in capsys.readouterr().out
    assert tabfile.read_text() == OTHER_LINES  # the other project's entry and the rest untouched
    assert main(["schedule", "remove"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_status_reports_the_entry_and_the_next_run(project, tmp_path, capsys):
    assert main(["schedule", "status"]) == 1
    assert "is not scheduled" in capsys.readouterr().out
    assert main(["schedule", "install", "--weekly", "thu 18:15"]) == 0
    capsys.readouterr()
    assert main(["schedule", "status"]) == 0
    out = capsys.readouterr().out
    assert "18 * * 4" in out and "not written yet" in out
    # the next run, counted by hand: the next Thursday 18:15 after now (today if still ahead)
    now = datetime.now()
    ahead = (3 - now.weekday()) % 7
    expected = (now + timedelta(days=ahead)).replace(hour=18, minute=15, second=0, microsecond=0)
    if expected <= now:
        expected += timedelta(days=7)
    assert f"next run: {expected:%A %Y-%m-%d %H:%M}" in out
    (entry,) = schedule.status().entries
    assert entry.next_run(datetime(2026, 12, 2, 3, 0)) == datetime(2026, 12, 3, 18, 15)


def test_the_default_time_and_params_come_from_the_report_config(project, tmp_path):
    (project / "conf" / "report.toml").write_text(
        '[schedule]\nweekly = "wed 05:45"\nparams = { segment = "plan", steps = ["a", "b"] }\n'
    )
    installed = schedule.install(params=["segment=country"])
    (job,) = _jobs(tmp_path / "crontab")
    assert str(job.slices) == "45 5 * * 3"
    assert "--param segment=country --param steps=a,b" in job.command  # lists: the runner's form
    assert installed.entry.when == WeeklyTime(2, 5, 45)


def test_malformed_params_are_refused(project, tmp_path):
    with pytest.raises(ScheduleError) as err:
        schedule.install("mon 07:00", ["segment"])
    assert err.value.code == "schedule.param"
    assert not (tmp_path / "crontab").exists()


@pytest.mark.parametrize(
    ("param", "code"),
    [("segmnt=plan", "report.param_unknown"), ("out_dir=/tmp", "report.param_unknown")],
)
def test_params_the_report_notebook_refuses_are_refused_at_install(project, tmp_path, param, code):
    with pytest.raises(ConfigError) as err:
        schedule.install("mon 07:00", [param])
    assert err.value.code == code and "segment" in err.value.hint  # lists the valid ones
    assert not (tmp_path / "crontab").exists()


def test_the_scheduled_command_runs_in_the_project_and_logs(project, tmp_path):
    """The installed line, run by a shell as cron would, starts poanalytics in the project root and
    appends its output to reports/schedule.log."""
    schedule.install("mon 07:00", ["window=7d"])
    (job,) = _jobs(tmp_path / "crontab")
    done = subprocess.run(
        ["sh", "-c", job.command], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, check=False
    )
    log = project / "reports" / "schedule.log"
    text = log.read_text()
    # the runner ran (a coded refusal: this project has no report config or warehouse) in this
    # project, not in the folder the shell started in
    assert text.startswith("error: [report.") and str(project) in text
    assert done.returncode == 2  # no warehouse in this project: refused before anything runs


def test_a_bad_time_on_the_command_line_is_a_coded_error(project, tmp_path, capsys):
    assert main(["schedule", "install", "--weekly", "someday 07:00"]) == 2
    err = capsys.readouterr().err
    assert "[schedule.time]" in err and "Traceback" not in err
    assert not (tmp_path / "crontab").exists()


def test_no_crontab_program_is_a_coded_error_with_the_line(project, tmp_path, monkeypatch):
    monkeypatch.delenv("POANALYTICS_CRONTAB_FILE")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # neither crontab nor systemctl
    with pytest.raises(ScheduleError) as err:
        schedule.install("mon 07:00")
    assert err.value.code == "schedule.no_scheduler"
    assert "apt-get install cron" in err.value.hint
    assert f"0 7 * * 1 cd {shlex.quote(str(project))}" in err.value.hint
    with pytest.raises(ScheduleError) as err:
        schedule.install("mon 07:00", scheduler="systemd")
    assert err.value.code == "schedule.no_systemd"


def test_systemd_is_not_detected_without_its_run_folder(tmp_path):
    assert schedule.systemd_running(tmp_path / "no-such-dir") is False


def _systemctl_recorder(tmp_path: Path) -> tuple[Path, Path]:
    calls = tmp_path / "systemctl-calls"
    script = tmp_path / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(calls))}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, calls


def test_systemd_user_timer_units(project, tmp_path):
    when = parse_weekly("mon 07:00")
    argv = [*schedule.program(), "report", "weekly", "--param", "segment=50% of plan"]
    log = project / "reports" / "schedule.log"
    units = unit_files(project, when, argv, log)
    name = schedule.unit_name(project)
    service, timer = units[f"{name}.service"], units[f"{name}.timer"]
    assert "OnCalendar=Mon *-*-* 07:00:00" in timer and "Persistent=true" in timer
    assert f"Unit={name}.service" in timer and "WantedBy=timers.target" in timer
    assert f"WorkingDirectory={project}" in service
    assert f'Environment="POANALYTICS_ROOT={project}"' in service
    assert f"StandardOutput=append:{log}" in service
    assert 'weekly --param "segment=50%% of plan"' in service  # % is a specifier in units

    unit_dir = tmp_path / "units"
    systemctl, calls = _systemctl_recorder(tmp_path)
    backend = Systemd(unit_dir, systemctl=str(systemctl))
    entry, replaced = backend.install(project, when, argv, log)
    assert replaced == 0 and sorted(p.name for p in unit_dir.iterdir()) == sorted(units)
    assert calls.read_text().splitlines() == [
        "--user daemon-reload",
        f"--user enable --now {name}.timer",
    ]
    (found,) = Systemd(unit_dir, systemctl=str(systemctl)).find(project)
    assert found.when == when and found.next_run(datetime(2026, 12, 2)) == datetime(2026, 12, 7, 7)
    assert Systemd(unit_dir, systemctl=str(systemctl)).remove(project)
    assert list(unit_dir.iterdir()) == []
    assert f"--user disable --now {name}.timer" in calls.read_text()

    if shutil.which("systemd-analyze"):  # systemd's own check of the unit files (no manager needed)
        for file_name, text in units.items():
            (tmp_path / file_name).write_text(text)
        check = subprocess.run(
            ["systemd-analyze", "verify", *(str(tmp_path / f) for f in units)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr
