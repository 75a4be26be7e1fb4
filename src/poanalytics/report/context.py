"""The weekly report's context: the week, the settings, and what the sections have shown.

``poa.report.weekly(wb, ...)`` builds it; the weekly notebook calls ``report.show(name)`` per
section, ``report.show_rest()`` for sections registered later, and ``report.save(out_dir)`` for
``summary.json`` and the key charts. Everything a section shows goes through ``markdown``,
``table`` and ``figure``, which redact it (poanalytics/redaction.py, with the warehouse's people as names)
before it is displayed or saved.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..redaction import RedactConfig, redact
from .config import ReportConfig
from .redact_objects import redact_figure, redact_frame
from .weeks import Week

if TYPE_CHECKING:
    import plotly.graph_objects as go

SUMMARY = "summary.json"
CHARTS = "charts"
SECRET = "[secret]"
_SECRET_NAME = re.compile(r"password|passwd|secret|token|api_?key|credential", re.IGNORECASE)


def esc(value: Any) -> str:
    """A data value to put inside Markdown: HTML special characters escaped, so a ticket subject
    holding ``<script>`` shows as text."""
    return html.escape(str(value), quote=False)


@dataclass
class ReportContext:
    """What one weekly report run knows and has shown.

    ``wb``: the Workbench (any object with its ``sql``, ``connection`` and metric methods);
    ``metrics``: what answers the event metrics (funnels, retention, lifecycle, churn, the
    headline's counts): ``wb`` itself, or a Spark workbench for ``engine="spark"``; tickets,
    notes, voice and the backlog are the warehouse's (``wb``);
    ``week``: the report's ISO week; ``history``: the first week of its history window;
    ``config``: conf/report.toml with this run's parameters applied; ``parameters``: what the run
    was given (shown in the stamp and summary.json, secrets masked); ``snapshot``: the warehouse
    as the run found it; ``names``: people's names to redact besides the configured ones."""

    wb: Any
    week: Week
    config: ReportConfig
    parameters: dict[str, Any]
    snapshot: dict[str, Any]
    names: tuple[str, ...] = ()
    redact_config: RedactConfig | None = None
    metrics: Any = None  # None: ``wb`` answers the event metrics too
    started: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))
    headline: list[dict[str, Any]] = field(default_factory=list)
    key_charts: list[dict[str, Any]] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    # what was displayed, in order: (kind, redacted object); tests and the stamp read it
    outputs: list[tuple[str, Any]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.metrics is None:
            self.metrics = self.wb

    # -- the period ---------------------------------------------------------------------------
    @property
    def history(self) -> Week:
        """The first week of the history window (``[report] history_weeks`` weeks ending with
        the report week)."""
        return self.week.shift(-(self.config.report.history_weeks - 1))

    @property
    def date_from(self) -> pd.Timestamp:
        return self.week.start

    @property
    def date_to(self) -> pd.Timestamp:
        return self.week.end

    # -- redaction ----------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        return redact(text, names=self.names, config=self.redact_config)

    def redact_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return redact_frame(frame, names=self.names, config=self.redact_config)

    def redact_figure(self, fig: go.Figure) -> go.Figure:
        return redact_figure(fig, names=self.names, config=self.redact_config)

    # -- showing ------------------------------------------------------------------------------
    def markdown(self, text: str) -> None:
        """Show Markdown (redacted). Put data values through ``esc`` first."""
        from IPython.display import Markdown, display

        text = self.redact(text)
        self.outputs.append(("markdown", text))
        display(Markdown(text))

    def table(self, frame: pd.DataFrame, *, index: bool = False) -> None:
        """Show a table (redacted; text escaped, so markup in the data shows as text)."""
        from IPython.display import display

        shown = self.redact_frame(frame)
        self.outputs.append(("table", shown))
        bundle = {
            "text/html": shown.to_html(index=index, escape=True, border=0, na_rep="—"),
            "text/plain": shown.to_string(index=index, na_rep="—"),
        }
        display(bundle, raw=True)

    def figure(self, fig: go.Figure, *, key: str | None = None, title: str | None = None) -> None:
        """Show a plotly figure (redacted) as plotly JSON only (no HTML copy, no CDN); ``key``
        makes it a key chart, saved as ``charts/<key>.json`` with ``title`` (default: the
        figure's) in summary.json."""
        from IPython.display import display

        from ..charts.style import CONFIG

        shown = self.redact_figure(fig)
        self.outputs.append(("figure", shown))
        if key is not None:
            if not re.fullmatch(r"[a-z0-9_-]+", key):
                raise ValueError(f"chart key {key!r}: use lower-case letters, digits, - and _")
            name = title or (shown.layout.title.text if shown.layout.title else None) or key
            self.key_charts = [c for c in self.key_charts if c["key"] != key]
            self.key_charts.append({"key": key, "title": self.redact(str(name)), "figure": shown})
        spec = json.loads(shown.to_json())  # plotly's own encoder: numpy arrays, dates
        spec["config"] = dict(CONFIG)
        text = shown.layout.title.text if shown.layout.title and shown.layout.title.text else ""
        # the bundle plotly's "plotly_mimetype" renderer makes, without importing the renderers
        # (they pull in nbformat and jsonschema: seconds on a small machine)
        bundle = {"application/vnd.plotly.v1+json": spec, "text/plain": f"<chart: {text}>"}
        display(bundle, raw=True)

    def add_headline(
        self,
        name: str,
        value: float | None,
        text: str,
        change: float | None = None,
        change_text: str = "",
        clear: bool = False,
        **extra: Any,
    ) -> None:
        """Record one headline number (summary.json, the index page, the e-mail)."""
        self.headline.append(
            {
                "name": self.redact(name),
                "value": _plain(value),
                "text": self.redact(text),
                "change": _plain(change),
                "change_text": self.redact(change_text),
                "clear": bool(clear),
                **{
                    k: _plain(v) if not isinstance(v, str) else self.redact(v)
                    for k, v in extra.items()
                },
            }
        )

    def show_title(self) -> None:
        """Show the report's title (``# ...``) with its week and date range."""
        self.markdown(
            f"# {esc(self.config.report.title)}: {self.week.label}\n\n"
            f"Monday {self.week.monday} to Sunday {self.week.sunday} (UTC); history from "
            f"{self.history.label}."
        )

    def show(self, name: str) -> None:
        """Show one section: its ``## Title`` heading, then what its build shows."""
        from .sections import get

        section = get(name)
        self.markdown(f"## {esc(section.title)}")
        if section.prepare is not None:  # may write: before the section's read-only attach
            section.prepare(self)
        with self.wb.connection():  # one attach of the warehouse for the whole section
            section.build(self)
        if name not in self.shown:
            self.shown.append(name)

    def show_rest(self) -> None:
        """Show every registered section not shown yet, in order: sections that capabilities
        added after the notebook was written appear here."""
        from .sections import sections

        for section in sections():
            if section.name not in self.shown:
                self.show(section.name)

    # -- saving -------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The content of summary.json (every text in it already redacted)."""
        return {
            "week": self.week.label,
            "date_from": self.week.monday.isoformat(),
            "date_to": self.week.sunday.isoformat(),
            "title": self.redact(self.config.report.title),
            "headline": [dict(h) for h in self.headline],
            "sections": list(self.shown),
            "key_charts": [
                {"title": c["title"], "file": f"{CHARTS}/{c['key']}.json"} for c in self.key_charts
            ],
            "snapshot": self.snapshot,
            "parameters": self.shown_parameters(),
        }

    def shown_parameters(self) -> dict[str, Any]:
        """The run's parameters as they may be published: the values of parameters named like a
        secret or listed in ``[redact] secrets`` masked, every other text redacted."""
        secret_keys = set(self.redact_config.secrets) if self.redact_config else set()
        out: dict[str, Any] = {}
        for key, value in self.parameters.items():
            if _SECRET_NAME.search(key) or key in secret_keys:
                out[key] = SECRET if value not in ("", None) else value
            elif isinstance(value, str):
                out[key] = self.redact(value)
            elif isinstance(value, list):
                out[key] = [self.redact(v) if isinstance(v, str) else _plain(v) for v in value]
            else:
                out[key] = _plain(value)
        return out

    def save(self, out_dir: str | Path) -> Path | None:
        """Write ``<out_dir>/summary.json`` and ``<out_dir>/charts/<key>.json`` (plotly JSON of the
        key charts, redacted); returns the summary's path. An empty ``out_dir`` writes nothing
        (an interactive run) and returns None."""
        if not str(out_dir or "").strip():
            return None
        out = Path(out_dir)
        (out / CHARTS).mkdir(parents=True, exist_ok=True)
        for chart in self.key_charts:
            _write(out / CHARTS / f"{chart['key']}.json", chart["figure"].to_json())
        path = out / SUMMARY
        _write(path, json.dumps(self.summary(), indent=2, ensure_ascii=False, allow_nan=False))
        return path


def _write(path: Path, text: str) -> None:
    """Write a file atomically: a reader sees the old content or the new one, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plain(value: Any) -> Any:
    """A value JSON can hold: numpy numbers as Python ones, NaN and NA as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
