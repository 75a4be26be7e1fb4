"""Delivery of the weekly report: e-mail after a good run, a notification after a failed one.

``deliver(summary, html_path, out_dir, config)`` e-mails the report when ``[email] enabled = true``
in conf/report.toml (off by default). The message is ``multipart/mixed``: a
``multipart/alternative`` with a plain-text part and an HTML part (``multipart/related``: the HTML
body and the key charts as static PNG images, referenced by Content-ID), then the report HTML as an
attachment (or a link to it under ``link_base``). Mail clients run no scripts, so the body holds no
JavaScript; the charts are drawn to PNG by kaleido (Chromium: ``BROWSER_PATH``, else
/usr/bin/chromium, else found on PATH). Everything in the mail comes from summary.json, which the
report has already redacted.

SMTP credentials come from the environment only: ``[email] user_env`` and ``password_env`` NAME
the variables; their values are never written to disk, logs, the result, the mail or the report.

``notify_failure(info, config)`` runs ``[notify] command`` (the failure in ``POANALYTICS_NOTIFY_*``
environment variables and as JSON on stdin) and/or POSTs JSON to ``[notify] webhook`` (a
Slack-compatible ``text`` field plus the details under ``poanalytics``). A notification that fails
is logged and warned about, never raised: it must not hide the run's own error.
``notify_success(summary, html_path, config)`` does the same after a good run when
``[notify] on_success = true``.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import json
import logging
import os
import re
import shlex
import smtplib
import ssl
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, cast

from ..browser import DEFAULT_CHROMIUM
from ..config import find_root
from ..errors import ConfigError, PoaError, PoaWarning
from .config_file import ConfigArg, check_keys, read_config, table

log = logging.getLogger(__name__)

SECURITY = ("starttls", "ssl", "none")
DEFAULT_BROWSER = DEFAULT_CHROMIUM
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")
SUBJECT_FIELDS = ("week", "date_from", "date_to", "title")
_ENV_EXAMPLES = {
    "user_env": "POANALYTICS_SMTP_USER",
    "password_env": "POANALYTICS_SMTP_PASSWORD",
    "webhook_env": "POANALYTICS_NOTIFY_WEBHOOK",
}


class DeliveryError(PoaError):
    """The report could not be e-mailed (SMTP server, credentials, chart images)."""

    code = "email"


# -- [email] ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailConfig:
    """The ``[email]`` table of conf/report.toml (see the comments there)."""

    enabled: bool = False
    host: str = ""
    port: int = 587
    security: str = "starttls"
    sender: str = ""
    to: tuple[str, ...] = ()
    subject: str = "{title} ({week})"
    attach_html: bool = True
    link_base: str = ""
    user_env: str = ""
    password_env: str = ""
    ca_file: str = ""
    timeout: float = 30.0
    charts: bool = True
    max_charts: int = 6
    image_width: int = 760
    image_height: int = 440


EMAIL_KEYS = {
    "enabled",
    "host",
    "port",
    "security",
    "from",
    "to",
    "subject",
    "attach_html",
    "link_base",
    "user_env",
    "password_env",
    "ca_file",
    "timeout",
    "charts",
    "max_charts",
    "image_width",
    "image_height",
}


def _cfg_error(message: str, code: str, hint: str, source: str) -> ConfigError:
    return ConfigError(
        message, code=code, hint=hint, file=source if not source.startswith("<") else None
    )


def _bool(section: Mapping[str, Any], key: str, default: bool, where: str, source: str) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise _cfg_error(
            f"[{where}] {key} = {value!r} is not true or false",
            f"{where}.{key}",
            f"write {key} = true or {key} = false (no quotes)",
            source,
        )
    return value


def _number(
    section: Mapping[str, Any], key: str, default: float, where: str, source: str, *, low: float
) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise _cfg_error(
            f"[{where}] {key} = {value!r} is not a number of at least {low:g}",
            f"{where}.{key}",
            f"write {key} as a plain number, e.g. {key} = {default!r}",
            source,
        )
    return value


def _env_name(section: Mapping[str, Any], key: str, where: str, source: str) -> str:
    value = section.get(key, "")
    if not isinstance(value, str) or (value and not _ENV_NAME.match(value)):
        # never echo the value: someone may have pasted the secret itself here
        raise _cfg_error(
            f"[{where}] {key} must be the NAME of an environment variable (letters, digits, _)",
            f"{where}.{key}",
            f'write e.g. {key} = "{_ENV_EXAMPLES.get(key, "MY_VARIABLE")}" and export the value '
            "in that variable; a secret written into the config file would be committed with it",
            source,
        )
    return value


def parse_email_config(data: Mapping[str, Any], source: str = "<config mapping>") -> EmailConfig:
    """Check the ``[email]`` table of a parsed report config."""
    section = table(data, "email", source)
    _no_credentials(section, source)
    check_keys(section, EMAIL_KEYS, "email", source)
    enabled = _bool(section, "enabled", False, "email", source)
    security = _security(section, source)
    port = _port(section, security, source)
    to = _recipients(section, source)
    sender = _sender(section, source)
    subject = _subject_line(section, source)
    link_base = _link_base(section, source)
    attach = _bool(section, "attach_html", True, "email", source)
    if not attach and not link_base:
        raise _cfg_error(
            "[email] attach_html = false and no link_base: the mail would not lead to the report",
            "email.no_report",
            "set attach_html = true, or link_base to where reports/ is published",
            source,
        )
    ca_file = _ca_file(section, source)
    cfg = EmailConfig(
        enabled=enabled,
        host=str(section.get("host", "")),
        port=port,
        security=security,
        sender=sender,
        to=tuple(to),
        subject=subject,
        attach_html=attach,
        link_base=link_base,
        user_env=_env_name(section, "user_env", "email", source),
        password_env=_env_name(section, "password_env", "email", source),
        ca_file=str(Path(ca_file).expanduser()) if ca_file else "",
        timeout=float(_number(section, "timeout", 30, "email", source, low=1)),
        charts=_bool(section, "charts", True, "email", source),
        max_charts=int(_number(section, "max_charts", 6, "email", source, low=0)),
        image_width=int(_number(section, "image_width", 760, "email", source, low=100)),
        image_height=int(_number(section, "image_height", 440, "email", source, low=100)),
    )
    if enabled:
        _check_complete(cfg, source)
    return cfg


def _no_credentials(section: Mapping[str, Any], source: str) -> None:
    """Credentials are read from the environment only, never from the config file."""
    for key in ("password", "user", "username", "pass", "secret"):
        if key in section:
            raise _cfg_error(
                f"[email] holds a credential ({key} = ...); credentials are read from the "
                "environment only",
                "email.credentials_in_config",
                "remove the line (and change that password: it may be in git history), export "
                "the values in environment variables and name them with user_env / password_env",
                source,
            )


def _security(section: Mapping[str, Any], source: str) -> Any:
    security = section.get("security", "starttls")
    if security not in SECURITY:
        raise _cfg_error(
            f"[email] security = {security!r} is not one of {list(SECURITY)}",
            "email.security",
            '"starttls" (port 587), "ssl" (SMTPS, port 465) or "none" (a relay on this machine)',
            source,
        )
    return security


def _port(section: Mapping[str, Any], security: str, source: str) -> int:
    """The port (default: the security's usual one)."""
    port = section.get("port", 465 if security == "ssl" else 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise _cfg_error(
            f"[email] port = {port!r} is not a TCP port",
            "email.port",
            "write the SMTP server's port as a number: 587 (starttls), 465 (ssl) or 25",
            source,
        )
    return port


def _recipients(section: Mapping[str, Any], source: str) -> list[str]:
    """``to``: an address or a list of them."""
    to = section.get("to", [])
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not all(isinstance(a, str) and _ADDRESS.match(a) for a in to):
        raise _cfg_error(
            f"[email] to = {to!r} is not a list of e-mail addresses",
            "email.to",
            'write to = ["po@example.com", "team@example.com"]',
            source,
        )
    return to


def _sender(section: Mapping[str, Any], source: str) -> str:
    sender = section.get("from", "")
    if not isinstance(sender, str) or (sender and not _ADDRESS.search(sender.strip("<> "))):
        raise _cfg_error(
            f"[email] from = {sender!r} is not an e-mail address",
            "email.from",
            'write from = "poanalytics@example.com" (or "Reports <reports@example.com>")',
            source,
        )
    return sender


def _subject_line(section: Mapping[str, Any], source: str) -> str:
    """The subject line; its placeholders must be ones the mail fills in."""
    subject = section.get("subject", EmailConfig.subject)
    if not isinstance(subject, str):
        subject = repr(subject)
    try:
        subject.format(**{k: "" for k in SUBJECT_FIELDS})
    except (KeyError, IndexError, ValueError) as exc:
        raise _cfg_error(
            f"[email] subject {subject!r} uses a placeholder that does not exist ({exc})",
            "email.subject",
            "use only " + ", ".join("{" + k + "}" for k in SUBJECT_FIELDS) + "; write {{ for {",
            source,
        ) from None
    return subject


def _link_base(section: Mapping[str, Any], source: str) -> str:
    """Where reports/ is published (an http(s) URL), or "" to attach the HTML."""
    link_base = section.get("link_base", "")
    if not isinstance(link_base, str) or (
        link_base and urllib.parse.urlparse(link_base).scheme not in ("http", "https")
    ):
        raise _cfg_error(
            f"[email] link_base = {link_base!r} is not an http(s) URL",
            "email.link_base",
            'write the address where reports/ is published, e.g. "https://reports.example.com/", '
            'or "" to attach the HTML instead',
            source,
        )
    return link_base


def _ca_file(section: Mapping[str, Any], source: str) -> str:
    """A PEM file of the SMTP server's certificate authority, or "" (the system's)."""
    ca_file = section.get("ca_file", "")
    if not isinstance(ca_file, str) or (ca_file and not Path(ca_file).expanduser().is_file()):
        raise _cfg_error(
            f"[email] ca_file = {ca_file!r} is not a file",
            "email.ca_file",
            'name a PEM file with the certificate authority of your SMTP server, or "" for the '
            "system's certificates",
            source,
        )
    return ca_file


def _check_complete(cfg: EmailConfig, source: str) -> None:
    """Enabled e-mail needs a host, a sender and recipients."""
    missing = [k for k, v in (("host", cfg.host), ("from", cfg.sender), ("to", cfg.to)) if not v]
    if missing:
        raise _cfg_error(
            f"[email] is enabled but {', '.join(missing)} is not set",
            "email.incomplete",
            "fill in host, from and to under [email], or set enabled = false",
            source,
        )


def load_email_config(config: ConfigArg = None) -> EmailConfig:
    """The ``[email]`` settings of the report config (``None``: conf/report.toml)."""
    data, source = read_config(config)
    return parse_email_config(data, source)


# -- the message ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartImage:
    """A key chart drawn to PNG for the mail body."""

    title: str
    png: bytes = field(repr=False)
    cid: str = field(default_factory=lambda: make_msgid(domain="poanalytics.report"))


@dataclass(frozen=True)
class DeliveryResult:
    """What ``deliver`` did. Holds no credential."""

    sent: bool
    reason: str = ""
    recipients: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    subject: str = ""
    message_id: str = ""
    charts: tuple[str, ...] = ()
    attached: str = ""  # the attachment's file name, "" when linked
    link: str = ""

    def __str__(self) -> str:
        if not self.sent:
            return f"report not e-mailed: {self.reason}"
        text = f"report e-mailed to {', '.join(self.recipients)}: {self.subject!r}"
        if self.refused:
            text += f" (refused by the server: {', '.join(self.refused)})"
        return text


def _headline(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = summary.get("headline", [])
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise DeliveryError(
            f"summary.json's headline is not a list of numbers: {type(rows).__name__}",
            code="email.summary",
            hint="the report's summary.json does not follow the contract (docs/report.md); "
            "re-run the report",
        )
    return [dict(r) for r in rows]


def _clear_text(row: Mapping[str, Any]) -> str:
    clear = row.get("clear")
    if clear is True:
        return "a clear change"
    if clear is False:
        return "not a clear change (could be noise)"
    return ""


def _subject(cfg: EmailConfig, summary: Mapping[str, Any]) -> str:
    values = {k: str(summary.get(k, "") or "") for k in SUBJECT_FIELDS}
    if not values["title"]:
        values["title"] = f"Weekly report {values['week']}".strip()
    subject = cfg.subject.format(**values)
    return " ".join(subject.split())  # no line breaks in a header


def _report_link(cfg: EmailConfig, html_path: Path) -> str:
    if not cfg.link_base:
        return ""
    return f"{cfg.link_base.rstrip('/')}/{html_path.parent.name}/{html_path.name}"


def _attachment_name(summary: Mapping[str, Any]) -> str:
    week = re.sub(r"[^A-Za-z0-9_-]+", "-", str(summary.get("week", "") or "report"))
    return f"poanalytics-{week}.html"


def _plain_body(
    summary: Mapping[str, Any], rows: list[dict[str, Any]], charts: Sequence[ChartImage], link: str
) -> str:
    title = str(summary.get("title") or f"Weekly report {summary.get('week', '')}")
    lines = [title]
    if summary.get("date_from") or summary.get("date_to"):
        lines.append(
            f"Week {summary.get('week', '')}: {summary.get('date_from', '')} to "
            f"{summary.get('date_to', '')}"
        )
    lines += ["", "Headline numbers"]
    for row in rows:
        text = f"- {row.get('name', '')}: {row.get('text', row.get('value', ''))}"
        extra = [str(row[k]) for k in ("change_text",) if row.get(k)]
        if _clear_text(row):
            extra.append(_clear_text(row))
        lines.append(text + (f" ({'; '.join(extra)})" if extra else ""))
    if not rows:
        lines.append("- (the report has no headline numbers)")
    if charts:
        lines += ["", "Charts (as images in the HTML version of this mail): "]
        lines += [f"- {c.title}" for c in charts]
    lines.append("")
    if link:
        lines.append(f"The full report: {link}")
    else:
        lines.append(
            f"The full report is attached ({_attachment_name(summary)}): open it in a browser."
        )
    return "\n".join(lines) + "\n"


def _html_body(
    summary: Mapping[str, Any],
    rows: list[dict[str, Any]],
    charts: Sequence[ChartImage],
    link: str,
    cfg: EmailConfig,
) -> str:
    e = html.escape
    title = str(summary.get("title") or f"Weekly report {summary.get('week', '')}")
    period = ""
    if summary.get("date_from") or summary.get("date_to"):
        period = (
            f"<p style='color:#555'>Week {e(str(summary.get('week', '')))}: "
            f"{e(str(summary.get('date_from', '')))} to {e(str(summary.get('date_to', '')))}</p>"
        )
    cell = "padding:6px 12px;border-bottom:1px solid #ddd;text-align:left"
    body_rows = []
    for row in rows:
        body_rows.append(
            "<tr>"
            f"<td style='{cell}'>{e(str(row.get('name', '')))}</td>"
            f"<td style='{cell};font-weight:bold'>{e(str(row.get('text', row.get('value', ''))))}</td>"
            f"<td style='{cell}'>{e(str(row.get('change_text', '') or ''))}</td>"
            f"<td style='{cell};color:#555'>{e(_clear_text(row))}</td>"
            "</tr>"
        )
    if not rows:
        body_rows.append(f"<tr><td style='{cell}' colspan='4'>(no headline numbers)</td></tr>")
    images = "".join(
        f"<h3 style='margin:24px 0 8px'>{e(c.title)}</h3>"
        f"<img src='cid:{e(c.cid[1:-1])}' alt='{e(c.title)}' width='{cfg.image_width}' "
        "style='max-width:100%;height:auto;border:0'>"
        for c in charts
    )
    if link:
        where = f"<p><a href='{e(link)}'>Open the full report</a></p>"
    else:
        where = (
            f"<p>The full report is attached ({e(_attachment_name(summary))}): "
            "open it in a browser.</p>"
        )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title></head>"
        "<body style='font-family:Arial,Helvetica,sans-serif;color:#222;max-width:800px'>"
        f"<h1 style='font-size:22px'>{e(title)}</h1>{period}"
        "<h2 style='font-size:18px'>Headline numbers</h2>"
        "<table style='border-collapse:collapse'>"
        f"<tr><th style='{cell}'>Metric</th><th style='{cell}'>This week</th>"
        f"<th style='{cell}'>Change</th><th style='{cell}'></th></tr>"
        + "".join(body_rows)
        + "</table>"
        + images
        + where
        + "</body></html>"
    )


def build_message(
    summary: Mapping[str, Any],
    html_path: Path,
    charts: Sequence[ChartImage],
    cfg: EmailConfig,
) -> EmailMessage:
    """The e-mail for one report (not sent). See the module docstring for its structure."""
    rows = _headline(summary)
    link = _report_link(cfg, html_path)
    msg = EmailMessage()
    msg["Subject"] = _subject(cfg, summary)
    msg["From"] = cfg.sender
    msg["To"] = ", ".join(cfg.to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="poanalytics.report")
    msg.set_content(_plain_body(summary, rows, charts, link))
    msg.add_alternative(_html_body(summary, rows, charts, link, cfg), subtype="html")
    html_part = cast(EmailMessage, msg.get_payload()[1])  # type: ignore[index]
    for chart in charts:
        html_part.add_related(
            chart.png,
            maintype="image",
            subtype="png",
            cid=chart.cid,
            filename=re.sub(r"[^A-Za-z0-9_-]+", "-", chart.title).strip("-")[:60] + ".png",
        )
    if cfg.attach_html:
        try:
            data = Path(html_path).read_bytes()
        except OSError as exc:
            raise DeliveryError(
                f"the report HTML {html_path} cannot be read: {exc.strerror or exc}",
                code="email.report_missing",
                hint="deliver the report after it is written (poanalytics report weekly does)",
            ) from None
        msg.add_attachment(  # the report is UTF-8: say so, or clients show mojibake
            data,
            maintype="text",
            subtype="html",
            filename=_attachment_name(summary),
            params={"charset": "utf-8"},
        )
    return msg


# -- chart images -----------------------------------------------------------------------------


def _browser_path() -> str | None:
    env = os.environ.get("BROWSER_PATH")
    if env:
        return env
    return DEFAULT_BROWSER if Path(DEFAULT_BROWSER).exists() else None


def _chart_specs(
    summary: Mapping[str, Any], out_dir: Path, limit: int
) -> list[tuple[str, dict[str, Any]]]:
    charts = summary.get("key_charts", []) or []
    if not isinstance(charts, list):
        raise DeliveryError(
            "summary.json's key_charts is not a list",
            code="email.summary",
            hint="the report's summary.json does not follow the contract (docs/report.md)",
        )
    base = Path(out_dir).resolve()
    specs = []
    for item in charts[:limit]:
        if not isinstance(item, Mapping) or not isinstance(item.get("file"), str):
            raise DeliveryError(
                f"a key_charts entry of summary.json has no file: {item!r}",
                code="email.summary",
                hint="each key chart is {title, file} with file relative to the report folder",
            )
        path = (base / item["file"]).resolve()
        if not path.is_relative_to(base):
            raise DeliveryError(
                f"key chart file {item['file']!r} lies outside the report folder {base}",
                code="email.chart_file",
                hint="key chart files are written by the report inside its own folder",
            )
        try:
            figure = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DeliveryError(
                f"the key chart {path} cannot be read as plotly JSON: {exc}",
                code="email.chart_file",
                hint="re-run the report (it writes the chart files beside summary.json), or set "
                "[email] charts = false to send the mail without chart images",
            ) from None
        if not isinstance(figure, dict):
            raise DeliveryError(
                f"the key chart {path} is not a plotly figure",
                code="email.chart_file",
                hint="the file must hold fig.to_json() of a plotly figure",
            )
        specs.append((str(item.get("title") or path.stem), figure))
    return specs


async def _render_all(
    figures: list[dict[str, Any]], width: int, height: int, browser: str | None
) -> list[bytes]:
    import kaleido

    kwargs: dict[str, Any] = {"n": 1, "timeout": 60, "mathjax": False}
    if browser:
        kwargs["path"] = browser
    out = []
    async with kaleido.Kaleido(**kwargs) as k:
        for fig in figures:
            out.append(
                await k.calc_fig(fig, opts={"format": "png", "width": width, "height": height})
            )
    return out


def _run_coroutine(factory: Any) -> Any:
    """Run a coroutine to its end, also when called from inside a running event loop (a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name="poanalytics-kaleido")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def render_charts(
    summary: Mapping[str, Any],
    out_dir: Path,
    *,
    width: int = 760,
    height: int = 440,
    limit: int = 6,
) -> list[ChartImage]:
    """The key charts of ``summary`` (plotly JSON files under ``out_dir``) as PNG images."""
    specs = _chart_specs(summary, out_dir, limit)
    if not specs:
        return []
    browser = _browser_path()
    if browser and not Path(browser).exists():
        raise DeliveryError(
            f"no browser at {browser} to draw the chart images (BROWSER_PATH)",
            code="email.chromium",
            hint="install Chromium (`make browser`, or apt-get install chromium) or point "
            "BROWSER_PATH at a Chromium/Chrome binary; or set [email] charts = false",
        )
    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise DeliveryError(
            "kaleido is not installed: the chart images cannot be drawn",
            code="email.kaleido",
            hint="reinstall poanalytics with its dependencies (make setup), or set "
            "[email] charts = false",
        ) from None
    try:
        pngs = _run_coroutine(lambda: _render_all([f for _, f in specs], width, height, browser))
    except Exception as exc:
        if type(exc).__name__ == "ChromeNotFoundError":
            raise DeliveryError(
                "kaleido found no Chromium to draw the chart images",
                code="email.chromium",
                hint="install Chromium (`make browser`, or apt-get install chromium) or set "
                "BROWSER_PATH to a Chromium/Chrome binary; or set [email] charts = false",
            ) from None
        raise DeliveryError(
            f"the chart images could not be drawn: {type(exc).__name__}: {exc}",
            code="email.chart_render",
            hint="check that Chromium starts (BROWSER_PATH, default /usr/bin/chromium) and the "
            "chart files are plotly figures; or set [email] charts = false",
        ) from None
    images = []
    for (title, _), png in zip(specs, pngs, strict=True):
        if not png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise DeliveryError(
                f"kaleido returned no PNG image for the chart {title!r}",
                code="email.chart_render",
                hint="update kaleido and Chromium, or set [email] charts = false",
            )
        images.append(ChartImage(title=title, png=png))
    return images


# -- sending ----------------------------------------------------------------------------------


def _credentials(cfg: EmailConfig) -> tuple[str, str] | None:
    user = os.environ.get(cfg.user_env, "") if cfg.user_env else ""
    password = os.environ.get(cfg.password_env, "") if cfg.password_env else ""
    if not user and not password:
        return None
    if not user or not password:
        have, lack = (
            (cfg.user_env, cfg.password_env or "password_env")
            if user
            else (cfg.password_env, cfg.user_env or "user_env")
        )
        raise DeliveryError(
            f"only half of the SMTP credentials is set: {have} has a value, {lack} has none",
            code="email.credentials",
            hint=f"export both {cfg.user_env or '(user_env)'} and "
            f"{cfg.password_env or '(password_env)'} for the process that sends the report, "
            "or neither for a server that needs no login",
        )
    return user, password


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _send(msg: EmailMessage, cfg: EmailConfig, creds: tuple[str, str] | None) -> dict[str, Any]:
    where = f"{cfg.host}:{cfg.port}"
    if creds and cfg.security == "none" and not _is_loopback(cfg.host):
        raise DeliveryError(
            f'[email] security = "none" would send the password to {where} unencrypted',
            code="email.insecure_login",
            hint='use security = "starttls" or "ssl", or a relay on this machine (localhost)',
        )
    context = ssl.create_default_context(cafile=cfg.ca_file or None)
    try:
        return _converse(msg, cfg, creds, context)
    except OSError as exc:  # smtplib's and ssl's errors, timeouts, refused connections
        raise _delivery_error(exc, cfg, where) from None


def _converse(
    msg: EmailMessage, cfg: EmailConfig, creds: tuple[str, str] | None, context: ssl.SSLContext
) -> dict[str, Any]:
    """Connect (SMTPS, or STARTTLS after connecting), log in when there are credentials, send."""
    smtp: smtplib.SMTP
    if cfg.security == "ssl":
        smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
    else:
        smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
    with smtp:
        if cfg.security == "starttls":
            smtp.starttls(context=context)
        if creds:
            smtp.login(*creds)
        return smtp.send_message(msg)


def _delivery_error(exc: OSError, cfg: EmailConfig, where: str) -> DeliveryError:
    """What went wrong talking to the SMTP server, as a coded error saying what to check."""
    env_names = f"{cfg.user_env or 'user_env'} / {cfg.password_env or 'password_env'}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"the SMTP server {where} refused the login ({exc.smtp_code})",
            code="email.auth",
            hint=f"check the user name and password in the environment variables {env_names}",
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(
            f"the SMTP server {where} does not offer what [email] asks for: {exc}",
            code="email.unsupported",
            hint='a server without STARTTLS needs security = "ssl" (port 465) or "none" (only for '
            "a relay on this machine); one without AUTH needs no credentials in the environment",
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return DeliveryError(
            "the SMTP server refused every recipient: "
            + "; ".join(
                f"{a}: {c} {m.decode(errors='replace')}" for a, (c, m) in exc.recipients.items()
            ),
            code="email.recipients",
            hint=f"check [email] to; a server that wants a login needs {env_names} set",
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return DeliveryError(
            f"the SMTP server refused the sender {cfg.sender}: {exc.smtp_code} "
            f"{exc.smtp_error.decode(errors='replace')}",
            code="email.sender",
            hint=f"use a from address the server accepts; a server that wants a login needs "
            f"{env_names} set",
        )
    if isinstance(exc, smtplib.SMTPException):
        return DeliveryError(
            f"the SMTP conversation with {where} failed: {exc}",
            code="email.smtp",
            hint="check [email] host, port and security against your mail provider's settings",
        )
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(
            f"the TLS connection to {where} failed: {exc.reason or exc}",
            code="email.tls",
            hint='check security ("ssl" for port 465, "starttls" for 587) and, for a server with '
            "a private certificate authority, set [email] ca_file",
        )
    if isinstance(exc, TimeoutError):
        return DeliveryError(
            f"the SMTP server {where} did not answer within {cfg.timeout:g} s",
            code="email.connect",
            hint="check [email] host and port and that the server is reachable from here "
            "(firewall, VPN); raise [email] timeout for a slow server",
        )
    return DeliveryError(
        f"cannot connect to the SMTP server {where}: {exc.strerror or exc}",
        code="email.connect",
        hint="check [email] host and port and that the server runs and is reachable from "
        "here (connection refused: nothing listens on that port)",
    )


def deliver(
    summary: Mapping[str, Any],
    html_path: Path,
    out_dir: Path | Mapping[str, Any] | None = None,
    config: ConfigArg = None,
) -> DeliveryResult:
    """E-mail the report when ``[email] enabled = true``; otherwise do nothing.

    ``summary``: the report's summary.json (already redacted); ``html_path``: the published report
    (reports/<week>/index.html); ``out_dir``: the folder the key chart files are relative to
    (default: the report's folder, where the runner publishes them beside summary.json);
    ``config``: conf/report.toml (None/""), another TOML path, or a parsed mapping. The three-argument
    form ``deliver(summary, html_path, config_mapping)`` works too.
    Raises ``DeliveryError`` (codes ``email.*``) or ``ConfigError`` when it cannot send.
    """
    if isinstance(out_dir, Mapping):  # the three-argument form: deliver(summary, html_path, config)
        if config is not None:
            raise ConfigError(
                "deliver() got a config mapping as out_dir and a config as well",
                code="email.arguments",
                hint="call deliver(summary, html_path, out_dir, config)",
            )
        out_dir, config = None, out_dir
    charts_dir = Path(html_path).parent if out_dir is None else Path(out_dir)
    cfg = load_email_config(config)
    if not cfg.enabled:
        return DeliveryResult(sent=False, reason="[email] enabled = false in the report config")
    creds = _credentials(cfg)
    charts = (
        render_charts(
            summary,
            charts_dir,
            width=cfg.image_width,
            height=cfg.image_height,
            limit=cfg.max_charts,
        )
        if cfg.charts
        else []
    )
    msg = build_message(summary, Path(html_path), charts, cfg)
    if creds and creds[1].encode() in msg.as_bytes():
        raise DeliveryError(
            "the message would contain the SMTP password; it was not sent",
            code="email.secret_in_message",
            hint="the report holds the password value: rotate the password and check what put it "
            "into the report",
        )
    refused = _send(msg, cfg, creds)
    result = DeliveryResult(
        sent=True,
        recipients=cfg.to,
        refused=tuple(sorted(refused)),
        subject=str(msg["Subject"]),
        message_id=str(msg["Message-ID"]),
        charts=tuple(c.title for c in charts),
        attached=_attachment_name(summary) if cfg.attach_html else "",
        link=_report_link(cfg, Path(html_path)),
    )
    log.info("%s", result)
    if refused:
        warnings.warn(
            PoaWarning(
                f"the SMTP server refused some recipients: {', '.join(sorted(refused))}",
                code="email.partly_refused",
                hint="check those addresses in [email] to",
            ),
            stacklevel=2,
        )
    return result


# -- [notify] ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotifyConfig:
    """The ``[notify]`` table of conf/report.toml."""

    command: tuple[str, ...] = ()
    webhook: str = field(default="", repr=False)  # may carry a token in its path
    webhook_env: str = ""
    timeout: float = 30.0
    on_success: bool = False


NOTIFY_KEYS = {"command", "webhook", "webhook_env", "timeout", "on_success"}


def parse_notify_config(data: Mapping[str, Any], source: str = "<config mapping>") -> NotifyConfig:
    """Check the ``[notify]`` table of a parsed report config."""
    section = table(data, "notify", source)
    check_keys(section, NOTIFY_KEYS, "notify", source)
    command = section.get("command", [])
    if isinstance(command, str):
        try:
            command = shlex.split(command)
        except ValueError as exc:
            raise _cfg_error(
                f"[notify] command cannot be split into words: {exc}",
                "notify.command",
                "close the quotes, or write the command as a list of words",
                source,
            ) from None
    if not isinstance(command, list) or not all(isinstance(w, str) for w in command):
        raise _cfg_error(
            f"[notify] command = {command!r} is not a command line",
            "notify.command",
            'write command = "scripts/notify.sh --channel reports" or a list of words',
            source,
        )
    webhook = section.get("webhook", "")
    webhook_env = _env_name(section, "webhook_env", "notify", source)
    if webhook_env and os.environ.get(webhook_env):
        webhook = os.environ[webhook_env]
    if not isinstance(webhook, str) or (
        webhook and urllib.parse.urlparse(webhook).scheme not in ("http", "https")
    ):
        raise _cfg_error(
            "[notify] webhook is not an http(s) URL",
            "notify.webhook",
            "write the full URL, e.g. a Slack incoming webhook (better: put it in an environment "
            "variable and name it with webhook_env, as such URLs carry a token)",
            source,
        )
    return NotifyConfig(
        command=tuple(command),
        webhook=webhook,
        webhook_env=webhook_env,
        timeout=float(_number(section, "timeout", 30, "notify", source, low=1)),
        on_success=_bool(section, "on_success", False, "notify", source),
    )


def load_notify_config(config: ConfigArg = None) -> NotifyConfig:
    data, source = read_config(config)
    return parse_notify_config(data, source)


def _notify_warning(message: str, code: str, hint: str) -> None:
    log.warning("[%s] %s", code, message)
    warnings.warn(PoaWarning(message, code=code, hint=hint), stacklevel=3)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _redacted(value: Any) -> Any:
    """Text values of the notification go through redact(): they leave the workbench."""
    from ..redaction import redact

    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


def _failure_text(info: Mapping[str, Any]) -> str:
    """One line for a chat channel. Understands the runner's failure fields (code, message, week,
    notebook, cell_number, ename, evalue, page) and the plain ones (error, cell, failure_page, log)."""
    week = info.get("week") or ""
    text = "poanalytics: the weekly report" + (f" {week}" if week else "") + " failed"
    where = []
    if info.get("notebook"):
        where.append(f"in {info['notebook']}")
    cell = info.get("cell") or info.get("cell_number")
    if cell not in (None, ""):
        where.append(f"cell {cell}")
    if where:
        text += " (" + ", ".join(where) + ")"
    error = info.get("error")
    if not error and info.get("ename"):
        error = f"{info['ename']}: {info.get('evalue') or ''}".rstrip(": ")
    error = str(error or info.get("message") or "").strip()
    code = info.get("code")
    if code and not error.startswith(f"[{code}]"):
        error = f"[{code}] {error}".strip()
    if error:
        text += f": {error.splitlines()[0]}"
    page = info.get("failure_page") or info.get("page")
    if page:
        text += f". Failure page: {page}"
    if info.get("log"):
        text += f". Log: {info['log']}"
    return text


def _success_text(summary: Mapping[str, Any], where: str) -> str:
    rows = summary.get("headline", []) if isinstance(summary.get("headline"), list) else []
    parts = [
        f"{r.get('name')}: {r.get('text', r.get('value'))}"
        + (f" ({r['change_text']})" if r.get("change_text") else "")
        for r in rows
        if isinstance(r, Mapping)
    ]
    text = f"poanalytics: the weekly report {summary.get('week', '')} is ready: {where}"
    return text + (". " + "; ".join(parts) if parts else "")


def _env_key(key: str) -> str:
    return "POANALYTICS_NOTIFY_" + re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_").upper()


def _run_command(cfg: NotifyConfig, payload: dict[str, Any]) -> None:
    env = dict(os.environ)
    env["POANALYTICS_NOTIFY_EVENT"] = str(payload["event"])
    env["POANALYTICS_NOTIFY_TEXT"] = str(payload["text"])
    for key, value in payload["poanalytics"].items():
        if isinstance(value, (str, int, float, bool)) and key not in ("event", "text"):
            env[_env_key(key)] = str(value)[:4000]
    name = cfg.command[0]
    try:
        done = subprocess.run(
            list(cfg.command),
            input=json.dumps(payload),
            text=True,
            capture_output=True,
            timeout=cfg.timeout,
            env=env,
            cwd=find_root(),
            check=False,
        )
    except FileNotFoundError:
        _notify_warning(
            f"the notify command {name!r} was not found",
            "notify.command",
            "check [notify] command (a path relative to the project root, or a program on PATH)",
        )
        return
    except subprocess.TimeoutExpired:
        _notify_warning(
            f"the notify command {name!r} did not end within {cfg.timeout:g} s and was stopped",
            "notify.command",
            "make the command quicker, or raise [notify] timeout",
        )
        return
    except OSError as exc:
        _notify_warning(
            f"the notify command {name!r} could not be started: {exc.strerror or exc}",
            "notify.command",
            "check that the file is executable (chmod +x) and starts with a #! line",
        )
        return
    if done.returncode != 0:
        tail = " ".join((done.stderr or "").strip().splitlines()[-3:])
        _notify_warning(
            f"the notify command {name!r} exited with status {done.returncode}"
            + (f": {tail}" if tail else ""),
            "notify.command",
            "run the command by hand with the same JSON on stdin to see what it needs",
        )


def _post_webhook(cfg: NotifyConfig, payload: dict[str, Any]) -> None:
    host = urllib.parse.urlparse(cfg.webhook).hostname or "?"  # never the path: it holds tokens
    request = urllib.request.Request(
        cfg.webhook,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "poanalytics"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=cfg.timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        _notify_warning(
            f"the notify webhook at {host} answered HTTP {exc.code}",
            "notify.webhook",
            "check the webhook URL ([notify] webhook or the variable webhook_env names)",
        )
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        _notify_warning(
            f"the notify webhook at {host} could not be reached: {reason}",
            "notify.webhook",
            "check the URL and that this machine may reach it; raise [notify] timeout if slow",
        )


def _notify(event: str, text: str, details: Mapping[str, Any], config: ConfigArg) -> None:
    try:
        cfg = load_notify_config(config)
    except PoaError as exc:
        _notify_warning(
            f"no {event} notification sent: [{exc.code}] {exc.message}",
            "notify.config",
            exc.hint or "fix [notify] in conf/report.toml",
        )
        return
    if not cfg.command and not cfg.webhook:
        return
    try:
        body = _redacted(_jsonable(dict(details)))
        payload = {"text": _redacted(text), "event": event, "poanalytics": body}
    except Exception as exc:  # a notification must never hide the run's own outcome
        _notify_warning(
            f"no {event} notification sent: {type(exc).__name__}: {exc}",
            "notify.payload",
            "report this as a bug",
        )
        return
    for channel in (_run_command if cfg.command else None, _post_webhook if cfg.webhook else None):
        if channel is None:
            continue
        try:
            channel(cfg, payload)
        except Exception as exc:  # same: warn, never raise
            _notify_warning(
                f"{event} notification failed: {type(exc).__name__}: {exc}",
                "notify.failed",
                "check [notify] in conf/report.toml",
            )


def notify_failure(info: Mapping[str, Any], config: ConfigArg = None) -> None:
    """Tell someone the report run failed (``[notify]``); never raises.

    ``info``: what is known, as JSON-able values; these keys go into the message text when present:
    ``week``, ``error`` (or ``message``), ``code``, ``cell``, ``failure_page``, ``log``. All keys are
    passed on (JSON on the command's stdin and in the webhook's ``poanalytics`` field; scalar ones
    also as ``POANALYTICS_NOTIFY_<KEY>`` environment variables), text redacted.
    """
    _notify("failure", _failure_text(info), info, config)


def notify_success(
    summary: Mapping[str, Any], html_path: Path, config: ConfigArg = None, *, link: str = ""
) -> None:
    """After a good run, when ``[notify] on_success = true``: the headline numbers and where the
    report is. Never raises."""
    try:
        cfg = load_notify_config(config)
    except PoaError:
        _notify("success", "", {}, config)  # warns about the settings, sends nothing
        return
    if not cfg.on_success:
        return
    where = link or str(html_path)
    details = {
        "week": summary.get("week", ""),
        "report": where,
        "headline": summary.get("headline", []),
    }
    _notify("success", _success_text(summary, where), details, config)
