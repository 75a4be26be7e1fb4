"""Delivery from a real `poanalytics report weekly`: the runner e-mails a good report to a local SMTP
server and notifies a local webhook of a failed run; the SMTP password is nowhere on disk."""

from __future__ import annotations

import email
import email.policy
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

import poanalytics as poa
from poanalytics import demo
from tests.test_deliver import PASSWORD, USER, Recorder, _authenticator, _free_port
from tests.test_notify import Receiver
from tests.test_report_run import cli, make_project, weeks_of


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = make_project(tmp_path_factory.mktemp("deliver_project"))
    files = demo.generate(root / "data" / "demo", users=300, weeks=6)
    with poa.Workbench(root / "data" / "warehouse.duckdb", create=True) as wb:
        demo.load_demo(wb, files)
    return root


def test_a_run_emails_its_report_and_a_failed_run_notifies(project, monkeypatch):
    recorder = Recorder()
    smtp = Controller(
        recorder,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=_authenticator,
        auth_require_tls=False,
    )
    handler = type("Handler", (Receiver,), {"received": [], "status": 200, "delay": 0.0})
    hook = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    config = project / "conf" / "report.toml"
    config.write_text(
        config.read_text()
        + '\n[email]\nenabled = true\nhost = "127.0.0.1"\n'
        + f'port = {smtp.port}\nsecurity = "none"\nfrom = "po@example.com"\n'
        + 'to = ["team@example.com"]\nsubject = "Report {week}"\n'
        + 'user_env = "POA_SMTP_USER"\npassword_env = "POA_SMTP_PASSWORD"\n'
        + f'\n[notify]\nwebhook = "http://127.0.0.1:{hook.server_address[1]}/hook"\n'
    )
    monkeypatch.setenv("POA_SMTP_USER", USER)
    monkeypatch.setenv("POA_SMTP_PASSWORD", PASSWORD)
    smtp.start()
    try:
        week, _ = weeks_of(project)
        good = cli(project, "report", "weekly")
        assert good.returncode == 0, good.stderr
        (got,) = recorder.messages
        assert got["login"] == USER and got["to"] == ["team@example.com"]
        msg = email.message_from_bytes(got["data"], policy=email.policy.default)
        assert msg["Subject"] == f"Report {week}"
        (attachment,) = msg.iter_attachments()
        published = project / "reports" / week / "index.html"
        assert attachment.get_content().encode() == published.read_bytes()
        assert handler.received == []  # nothing failed

        failed = cli(project, "report", "weekly", "--param", "fail=boom")
        assert failed.returncode == 2
        assert len(recorder.messages) == 1  # no mail for a failed run
        (note,) = handler.received
        assert note["json"]["event"] == "failure"
        assert note["json"]["text"].startswith(f"poanalytics: the weekly report {week} failed")
        assert "failed.html" in note["json"]["text"]

        # the password went to the SMTP server only: not into the mail, the output, any file
        assert PASSWORD.encode() not in got["data"]
        assert PASSWORD not in good.stdout + good.stderr + failed.stdout + failed.stderr
        for path in project.rglob("*"):
            if path.is_file() and "demo" not in path.parts:
                assert PASSWORD.encode() not in path.read_bytes(), path
    finally:
        smtp.stop()
        hook.shutdown()
        hook.server_close()
