"""Failure (and success) notifications: a real command and a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from poanalytics.errors import PoaWarning
from poanalytics.report.deliver import notify_failure, notify_success

INFO = {
    "week": "2026-W47",
    "error": "[report.cell] cell 7 raised KeyError: 'plan' (user ada@example.com)",
    "code": "report.cell",
    "cell": 7,
    "failure_page": "reports/2026-W47/failed.html",
    "started": "2026-11-23T07:00:00+00:00",
}


class Receiver(BaseHTTPRequestHandler):
    status = 200
    delay = 0.0
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        type(self).received.append(
            {"path": self.path, "type": self.headers["Content-Type"], "json": json.loads(body)}
        )
        time.sleep(type(self).delay)
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    handler = type("Handler", (Receiver,), {"received": [], "status": 200, "delay": 0.0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/secret-token"
    server.shutdown()
    server.server_close()


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "notify.py"
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


RECORD = """import json, os, sys
from pathlib import Path
out = Path(sys.argv[1])
env = {k: v for k, v in os.environ.items() if k.startswith("POANALYTICS_NOTIFY_")}
out.write_text(json.dumps({"stdin": json.load(sys.stdin), "env": env, "cwd": os.getcwd()}))
"""


def test_failure_is_posted_to_a_webhook(receiver):
    handler, url = receiver
    notify_failure(INFO, {"notify": {"webhook": url, "timeout": 5}})
    assert len(handler.received) == 1
    got = handler.received[0]
    assert got["path"] == "/hooks/T000/secret-token" and got["type"] == "application/json"
    body = got["json"]
    # Slack-compatible text that says what failed, where, and where to look
    assert body["text"].startswith(
        "poanalytics: the weekly report 2026-W47 failed (cell 7): [report.cell] cell 7 raised"
    )
    assert body["text"].endswith("Failure page: reports/2026-W47/failed.html")
    assert body["event"] == "failure"
    assert body["poanalytics"]["code"] == "report.cell" and body["poanalytics"]["cell"] == 7
    # it leaves the workbench: personal data is redacted
    assert "ada@example.com" not in json.dumps(body) and "[email]" in body["text"]


def test_the_webhook_url_can_come_from_the_environment(receiver, monkeypatch):
    handler, url = receiver
    monkeypatch.setenv("TEST_NOTIFY_URL", url)
    notify_failure(INFO, {"notify": {"webhook_env": "TEST_NOTIFY_URL"}})
    assert len(handler.received) == 1


def test_failure_runs_a_command_with_env_and_json(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "conf").mkdir(parents=True)
    (project / "conf" / "poanalytics.toml").write_text("")
    monkeypatch.setenv("POANALYTICS_ROOT", str(project))
    out = tmp_path / "got.json"
    script = _script(tmp_path, RECORD)
    notify_failure(INFO, {"notify": {"command": f"{script} {out}"}})
    got = json.loads(out.read_text())
    assert got["stdin"]["event"] == "failure" and got["stdin"]["poanalytics"]["week"] == "2026-W47"
    env = got["env"]
    assert env["POANALYTICS_NOTIFY_EVENT"] == "failure"
    assert env["POANALYTICS_NOTIFY_WEEK"] == "2026-W47"
    assert env["POANALYTICS_NOTIFY_CELL"] == "7"
    assert env["POANALYTICS_NOTIFY_FAILURE_PAGE"] == "reports/2026-W47/failed.html"
    assert "ada@example.com" not in env["POANALYTICS_NOTIFY_ERROR"]
    assert env["POANALYTICS_NOTIFY_TEXT"].startswith("poanalytics: the weekly report 2026-W47")
    assert Path(got["cwd"]) == project  # run from the project root


def test_both_channels_are_used_and_a_failing_one_only_warns(receiver, tmp_path):
    handler, url = receiver
    script = _script(tmp_path, "import sys\nprint('smtp relay down', file=sys.stderr)\nsys.exit(3)")
    with pytest.warns(PoaWarning, match=r"exited with status 3: smtp relay down"):
        notify_failure(INFO, {"notify": {"command": [str(script)], "webhook": url}})
    assert len(handler.received) == 1  # the webhook still got it


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ("status500", "answered HTTP 500"),
        ("refused", "could not be reached"),
        ("slow", "could not be reached"),
    ],
)
def test_webhook_failures_warn_and_never_raise(receiver, setup, match):
    handler, url = receiver
    timeout = 5
    if setup == "status500":
        handler.status = 500
    elif setup == "refused":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    else:
        handler.delay, timeout = 3.0, 1
    with pytest.warns(PoaWarning, match=match) as record:
        notify_failure(INFO, {"notify": {"webhook": url, "timeout": timeout}})
    assert "secret-token" not in str(record[0].message)  # the URL's token is not echoed


def test_command_failures_warn_and_never_raise(tmp_path):
    with pytest.warns(PoaWarning, match="was not found"):
        notify_failure(INFO, {"notify": {"command": str(tmp_path / "missing.sh")}})
    slow = _script(tmp_path, "import time\ntime.sleep(10)")
    started = time.monotonic()
    with pytest.warns(PoaWarning, match="did not end within 1 s"):
        notify_failure(INFO, {"notify": {"command": [str(slow)], "timeout": 1}})
    assert time.monotonic() - started < 8


def test_bad_notify_settings_warn_and_never_raise():
    with pytest.warns(PoaWarning, match="webhook"):
        notify_failure(INFO, {"notify": {"webhook": "file:///etc/passwd"}})
    with pytest.warns(PoaWarning, match="unknown setting"):
        notify_failure(INFO, {"notify": {"comand": "x"}})


def test_nothing_configured_sends_nothing(receiver, recwarn):
    handler, _ = receiver
    notify_failure(INFO, {})
    notify_failure(INFO, {"notify": {}})
    assert handler.received == [] and not [w for w in recwarn if w.category is PoaWarning]


def test_success_notification_is_optional(receiver, tmp_path):
    handler, url = receiver
    summary = {
        "week": "2026-W47",
        "headline": [
            {"name": "Weekly active users", "text": "1,234", "change_text": "+5.0% vs last week"}
        ],
    }
    html_path = tmp_path / "reports" / "2026-W47" / "index.html"
    notify_success(summary, html_path, {"notify": {"webhook": url}})
    assert handler.received == []  # on_success is off by default
    notify_success(summary, html_path, {"notify": {"webhook": url, "on_success": True}})
    body = handler.received[0]["json"]
    assert body["event"] == "success"
    assert "2026-W47 is ready" in body["text"]
    assert "Weekly active users: 1,234 (+5.0% vs last week)" in body["text"]
    assert body["poanalytics"]["report"] == str(html_path)


def test_the_runners_failure_fields_make_the_text(receiver):
    handler, url = receiver
    failure = {  # report/run.py's pages.Failure.as_dict()
        "code": "report.cell_failed",
        "message": "the report notebook failed",
        "week": "2026-W47",
        "notebook": "90_weekly_report.ipynb",
        "cell_index": 9,
        "cell_number": "4/6",
        "cell_source": "report.show('funnels')",
        "ename": "KeyError",
        "evalue": "'plan'",
        "run_id": 12,
        "page": "reports/2026-W47/failed.html",
    }
    notify_failure(failure, {"notify": {"webhook": url}})
    assert handler.received[0]["json"]["text"] == (
        "poanalytics: the weekly report 2026-W47 failed (in 90_weekly_report.ipynb, cell 4/6): "
        "[report.cell_failed] KeyError: 'plan'. Failure page: reports/2026-W47/failed.html"
    )
    assert handler.received[0]["json"]["poanalytics"]["run_id"] == 12
