"""E-mail delivery of the weekly report, sent to a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import shutil
import socket
import ssl
import struct
import subprocess
import zlib
from pathlib import Path

import plotly.graph_objects as go
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from poanalytics.errors import ConfigError, PoaError
from poanalytics.report.deliver import (
    EMAIL_KEYS,
    NOTIFY_KEYS,
    DeliveryError,
    NotifyConfig,
    deliver,
    load_email_config,
    load_notify_config,
)

PASSWORD = "Pa55-w0rd-that-must-not-leak"
USER = "reports@example.com"


class Recorder:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "data": bytes(envelope.content),
                "login": session.auth_data,
            }
        )
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)


@pytest.fixture
def smtp_server():
    """A plain SMTP server on 127.0.0.1 that wants a login (allowed without TLS: loopback)."""
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=_authenticator,
        auth_required=False,
        auth_require_tls=False,
    )
    controller.start()
    yield controller, recorder
    controller.stop()


def _figure(title: str) -> go.Figure:
    fig = go.Figure(go.Bar(x=["signup", "activate", "pay"], y=[1000, 640, 210]))
    fig.update_layout(title=title)
    return fig


@pytest.fixture
def report(tmp_path: Path) -> tuple[dict, Path, Path]:
    """A report folder as the runner leaves it: summary.json, key chart files and the HTML."""
    out_dir = tmp_path / "run"
    (out_dir / "charts").mkdir(parents=True)
    (out_dir / "charts" / "funnel.json").write_text(_figure("Funnel").to_json())
    (out_dir / "charts" / "retention.json").write_text(_figure("Retention").to_json())
    summary = {
        "week": "2026-W47",
        "date_from": "2026-11-16",
        "date_to": "2026-11-22",
        "title": "Weekly product report",
        "headline": [
            {
                "name": "Weekly active users",
                "value": 1234,
                "text": "1,234",
                "change": 0.05,
                "change_text": "+5.0% vs last week",
                "clear": True,
            },
            {
                "name": "Signups <script>alert(1)</script>",
                "value": 87,
                "text": "87",
                "change": -0.02,
                "change_text": "-2.0% vs last week",
                "clear": False,
            },
        ],
        "sections": ["headline", "funnels"],
        "key_charts": [
            {"title": "Funnel", "file": "charts/funnel.json"},
            {"title": "Retention", "file": "charts/retention.json"},
        ],
    }
    (out_dir / "summary.json").write_text(json.dumps(summary))
    html_path = tmp_path / "reports" / "2026-W47" / "index.html"
    html_path.parent.mkdir(parents=True)
    html_path.write_text("<!DOCTYPE html><html><body><h2>Headline — café</h2>1,234</body></html>")
    return summary, html_path, out_dir


def _config(port: int, **email) -> dict:
    base = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "poanalytics@example.com",
        "to": ["po@example.com", "team@example.com"],
        "subject": "Product report {week} ({date_from} to {date_to})",
        "user_env": "TEST_SMTP_USER",
        "password_env": "TEST_SMTP_PASSWORD",
        "timeout": 10,
    }
    base.update(email)
    return {"email": base}


def _png_size(data: bytes) -> tuple[int, int]:
    """Decode a PNG far enough to know it is one: chunk CRCs, IHDR, and the inflated IDAT stream
    having exactly the bytes its width, height and colour type call for."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, *_ = header
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + width * channels * depth // 8)
    return width, height


def _written_files(root: Path):
    for path in root.rglob("*"):
        if path.is_file():
            yield path


def test_email_is_off_unless_enabled(smtp_server, report):
    controller, recorder = smtp_server
    summary, html_path, out_dir = report
    result = deliver(summary, html_path, out_dir, {})
    assert result.sent is False and "enabled = false" in result.reason
    cfg = _config(controller.port)
    cfg["email"]["enabled"] = False
    assert deliver(summary, html_path, out_dir, cfg).sent is False
    assert recorder.messages == []


def test_report_is_emailed_to_a_local_smtp_server(
    smtp_server, report, tmp_path, monkeypatch, caplog, capsys
):
    controller, recorder = smtp_server
    summary, html_path, out_dir = report
    monkeypatch.setenv("TEST_SMTP_USER", USER)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    caplog.set_level(logging.DEBUG)

    result = deliver(summary, html_path, out_dir, _config(controller.port))

    assert result.sent and result.charts == ("Funnel", "Retention")
    assert len(recorder.messages) == 1
    got = recorder.messages[0]
    assert got["login"] == USER  # the credentials were read from the environment
    assert got["from"] == "poanalytics@example.com"
    assert sorted(got["to"]) == ["po@example.com", "team@example.com"]
    msg = email.message_from_bytes(got["data"], policy=email.policy.default)
    assert msg["Subject"] == "Product report 2026-W47 (2026-11-16 to 2026-11-22)"
    assert msg.get_content_type() == "multipart/mixed"

    plain = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Weekly active users: 1,234 (+5.0% vs last week; a clear change)" in plain
    assert "-2.0% vs last week; not a clear change" in plain

    html_part = msg.get_body(preferencelist=("html",))
    body = html_part.get_content()
    assert "1,234" in body and "+5.0% vs last week" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script" not in body.lower()  # mail clients run no scripts: none is sent

    # the charts are PNG images inline (multipart/related), referenced from the HTML by Content-ID
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    images = [p for p in related[0].iter_parts() if p.get_content_maintype() == "image"]
    assert len(images) == 2
    for image in images:
        cid = image["Content-ID"].strip("<>")
        assert f"cid:{cid}" in body
        assert _png_size(image.get_content()) == (760, 440)

    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["poanalytics-2026-W47.html"]
    assert attachments[0].get_content().encode() == html_path.read_bytes()

    # the password is nowhere: not in the mail, the result, the log, the output, or any file
    assert PASSWORD.encode() not in got["data"]
    assert PASSWORD not in repr(result) and PASSWORD not in str(result)
    assert PASSWORD not in caplog.text
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err
    for path in _written_files(tmp_path):
        assert PASSWORD.encode() not in path.read_bytes(), path


def test_the_report_can_be_linked_instead_of_attached(smtp_server, report):
    controller, recorder = smtp_server
    summary, html_path, out_dir = report
    cfg = _config(
        controller.port,
        attach_html=False,
        link_base="https://reports.example.com/po/",
        charts=False,
        user_env="",
        password_env="",
    )
    result = deliver(summary, html_path, out_dir, cfg)
    assert result.link == "https://reports.example.com/po/2026-W47/index.html"
    msg = email.message_from_bytes(recorder.messages[0]["data"], policy=email.policy.default)
    assert list(msg.iter_attachments()) == []
    assert result.link in msg.get_body(preferencelist=("plain",)).get_content()
    assert f"href='{result.link}'" in msg.get_body(preferencelist=("html",)).get_content()
    assert not [p for p in msg.walk() if p.get_content_maintype() == "image"]


def test_connection_refused_is_a_coded_error(report):
    summary, html_path, out_dir = report
    cfg = _config(_free_port(), charts=False, user_env="", password_env="")  # nothing listens
    with pytest.raises(DeliveryError) as err:
        deliver(summary, html_path, out_dir, cfg)
    assert err.value.code == "email.connect"
    assert "127.0.0.1" in str(err.value) and "What to do" in str(err.value)


def test_wrong_password_is_a_coded_error_without_the_password(smtp_server, report, monkeypatch):
    controller, recorder = smtp_server
    summary, html_path, out_dir = report
    monkeypatch.setenv("TEST_SMTP_USER", USER)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "not-the-" + PASSWORD)
    with pytest.raises(DeliveryError) as err:
        deliver(summary, html_path, out_dir, _config(controller.port, charts=False))
    assert err.value.code == "email.auth"
    assert "TEST_SMTP_PASSWORD" in str(err.value) and PASSWORD not in str(err.value)
    assert recorder.messages == []


def test_half_the_credentials_is_refused_before_connecting(report, monkeypatch):
    summary, html_path, out_dir = report
    monkeypatch.setenv("TEST_SMTP_USER", USER)
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    with pytest.raises(DeliveryError) as err:
        deliver(summary, html_path, out_dir, _config(_free_port(), charts=False))
    assert err.value.code == "email.credentials"


def test_starttls_asked_of_a_server_without_it_is_a_coded_error(smtp_server, report):
    controller, _ = smtp_server
    summary, html_path, out_dir = report
    cfg = _config(controller.port, security="starttls", charts=False, user_env="", password_env="")
    with pytest.raises(DeliveryError) as err:
        deliver(summary, html_path, out_dir, cfg)
    assert err.value.code == "email.unsupported"


def test_a_password_is_not_sent_in_clear_to_another_host(report, monkeypatch):
    summary, html_path, out_dir = report
    monkeypatch.setenv("TEST_SMTP_USER", USER)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    cfg = _config(25, host="mail.example.com", charts=False)
    with pytest.raises(DeliveryError) as err:
        deliver(summary, html_path, out_dir, cfg)
    assert err.value.code == "email.insecure_login"


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_starttls_with_a_private_ca_and_login(tls_files, report, monkeypatch):
    cert, key = tls_files
    summary, html_path, out_dir = report
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        monkeypatch.setenv("TEST_SMTP_USER", USER)
        monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
        cfg = _config(controller.port, security="starttls", ca_file=str(cert), charts=False)
        assert deliver(summary, html_path, out_dir, cfg).sent
        assert recorder.messages[0]["login"] == USER
        # without the CA the server's certificate is not trusted: a coded TLS error
        cfg["email"]["ca_file"] = ""
        with pytest.raises(DeliveryError) as err:
            deliver(summary, html_path, out_dir, cfg)
        assert err.value.code == "email.tls"
    finally:
        controller.stop()


def test_missing_chromium_is_a_coded_error(smtp_server, report, monkeypatch):
    controller, recorder = smtp_server
    summary, html_path, out_dir = report
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    with pytest.raises(DeliveryError) as err:
        deliver(summary, html_path, out_dir, _config(controller.port, user_env="", password_env=""))
    assert err.value.code == "email.chromium" and "BROWSER_PATH" in str(err.value)
    assert recorder.messages == []


def test_missing_chart_file_is_a_coded_error(smtp_server, report):
    controller, _ = smtp_server
    summary, html_path, out_dir = report
    (out_dir / "charts" / "retention.json").unlink()
    with pytest.raises(DeliveryError) as err:
        deliver(summary, html_path, out_dir, _config(controller.port, user_env="", password_env=""))
    assert err.value.code == "email.chart_file" and "retention.json" in str(err.value)


@pytest.mark.parametrize(
    ("email_table", "code"),
    [
        ({"password": PASSWORD}, "email.credentials_in_config"),
        ({"sever": "x"}, "report.config_key"),
        ({"security": "tls"}, "email.security"),
        ({"subject": "Report {wek}"}, "email.subject"),
        ({"to": "not an address"}, "email.to"),
        ({"password_env": PASSWORD}, "email.password_env"),
        ({"enabled": True}, "email.incomplete"),
        ({"enabled": "yes"}, "email.enabled"),
        ({"attach_html": False}, "email.no_report"),
    ],
)
def test_bad_email_settings_are_refused(email_table, code):
    with pytest.raises(ConfigError) as err:
        load_email_config({"email": email_table})
    assert err.value.code == code
    assert PASSWORD not in str(err.value)


def test_settings_come_from_conf_report_toml(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "poanalytics.toml").write_text("")
    (tmp_path / "conf" / "report.toml").write_text(
        '[email]\nenabled = true\nhost = "smtp.example.com"\nfrom = "a@example.com"\n'
        'to = ["b@example.com"]\n'
    )
    monkeypatch.setenv("POANALYTICS_ROOT", str(tmp_path))
    cfg = load_email_config(None)
    assert (cfg.enabled, cfg.host, cfg.port, cfg.security) == (
        True,
        "smtp.example.com",
        587,
        "starttls",
    )
    with pytest.raises(PoaError) as err:
        load_email_config(tmp_path / "nope.toml")
    assert err.value.code == "report.config_missing"


def test_the_project_config_has_email_off_and_every_key_commented():
    from tests.conftest import ROOT

    path = ROOT / "conf" / "report.toml"
    assert load_email_config(path).enabled is False
    assert load_notify_config(path) == NotifyConfig(webhook_env="POANALYTICS_NOTIFY_WEBHOOK")
    # each key of the delivery tables is explained by a comment in its paragraph, above it
    current, commented, seen = "", False, set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            current, commented = line.strip("[]"), False
        elif not line:
            commented = False
        elif line.startswith("#"):
            commented = True
        elif current in ("email", "notify", "schedule"):
            key = line.split("=")[0].strip()
            assert commented or "#" in line, f"[{current}] {key} has no comment"
            seen.add((current, key))
    assert {k for t, k in seen if t == "email"} == EMAIL_KEYS
    assert {k for t, k in seen if t == "notify"} == NOTIFY_KEYS


@pytest.fixture(scope="module")
def real_report(tmp_path_factory) -> tuple[dict, Path]:
    """The weekly report's own summary.json and key charts (report.save), on a small demo data set."""
    import poanalytics as poa
    from poanalytics.demo import generate, load_demo

    root = tmp_path_factory.mktemp("project")
    (root / "conf").mkdir()
    (root / "conf" / "poanalytics.toml").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POANALYTICS_ROOT", str(root))
        files = generate(root / "demo", users=300, weeks=6, seed=7)
        with poa.Workbench(root / "warehouse.duckdb") as wb:
            load_demo(wb, files)
            report = poa.report.weekly(wb)
            for name in ("headline", "funnels", "retention", "health", "stamp"):
                report.show(name)
            path = report.save(root / "out")
    return json.loads(path.read_text()), root / "out"


def test_the_real_reports_summary_and_charts_are_emailed(smtp_server, real_report, tmp_path):
    controller, recorder = smtp_server
    summary, out_dir = real_report
    html_path = tmp_path / summary["week"] / "index.html"
    html_path.parent.mkdir()
    html_path.write_text("<html>report</html>")
    cfg = _config(controller.port, user_env="", password_env="", max_charts=10)
    result = deliver(summary, html_path, out_dir, cfg)
    assert result.charts == tuple(c["title"] for c in summary["key_charts"]) and result.charts
    msg = email.message_from_bytes(recorder.messages[0]["data"], policy=email.policy.default)
    body = msg.get_body(preferencelist=("html",)).get_content()
    for row in summary["headline"]:
        assert row["text"] in body and row["change_text"] in body
    images = [p for p in msg.walk() if p.get_content_maintype() == "image"]
    assert len(images) == len(summary["key_charts"])
    for image in images:
        assert _png_size(image.get_content()) == (760, 440)


def test_the_three_argument_form_finds_the_charts_beside_the_report(smtp_server, report):
    """The runner publishes summary.json and charts/ beside index.html and calls
    deliver(summary, html_path, config_mapping)."""
    controller, recorder = smtp_server
    summary, html_path, out_dir = report
    (html_path.parent / "charts").mkdir()
    for name in ("funnel.json", "retention.json"):
        (out_dir / "charts" / name).rename(html_path.parent / "charts" / name)
    result = deliver(summary, html_path, _config(controller.port, user_env="", password_env=""))
    assert result.sent and result.charts == ("Funnel", "Retention")
