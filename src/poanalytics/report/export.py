"""The report page: an executed notebook as one self-contained, offline HTML file.

``export_html(nb, title=...)`` turns a notebook executed by papermill into the page that is
published (docs/report.md):

- no code: no input is shown, the papermill ``injected-parameters`` cell is dropped with its
  outputs, cells tagged ``remove-cell`` (a notebook's own notes) and raw cells are dropped, stderr noise is left out (a ``PoaWarning`` shows as a note);
- charts are drawn from each output's plotly JSON (``application/vnd.plotly.v1+json``) with
  plotly.js embedded once, in the page's head: the reduced bundle in report/vendor/ when it holds
  every trace type the figures use, plotly.py's full plotly.min.js otherwise;
- a table of contents from the h2/h3 headings, with an anchor on each;
- nothing is loaded from the network: no require.js, no MathJax, no CDN, no web font; an ``img``
  keeps only a ``data:`` source and CSS no ``url()``;
- everything a reader sees goes through ``redact`` (text, Markdown, HTML text and attributes) or
  ``redact_figure`` (plotly JSON), with ``secrets`` scrubbed everywhere;
- text from the data is text: Markdown is rendered with raw HTML escaped, HTML outputs are
  sanitized with a tag/attribute allow-list and any other tag (``<script>``) is escaped, so a
  ticket subject ``<script>alert(1)</script>`` shows as written.

The page is rendered by nbconvert with the package's own template (report/templates/poa_report).
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..charts.style import CONFIG
from ..errors import InputError, PoaWarning, warn
from ..redaction import RedactConfig, load_config, redact

PLOTLY = "application/vnd.plotly.v1+json"
HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
TEMPLATE = "poa_report"
VENDOR = HERE / "vendor"
MANIFEST = VENDOR / "plotly-poa.json"

DEFAULT_HEIGHT = 450  # px, plotly's own default, for a figure that sets none

# what a displayed output may hold, richest first; an output keeps only the first one it has
PRIORITY = (
    PLOTLY,
    "text/html",
    "text/markdown",
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    "text/plain",
)
# outputs that mean nothing outside a live kernel
_LIVE_ONLY = ("application/vnd.jupyter.widget-view+json", "application/javascript")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_WARNING = re.compile(r"^.*?\bPoaWarning: (.*)$")


# -- plotly.js --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlotlyJS:
    """The plotly.js a page embeds: its source, which bundle it is and why."""

    source: str
    bundle: str  # "reduced" or "full"
    reason: str


@cache
def manifest() -> dict[str, Any]:
    """The reduced bundle's manifest (report/vendor/plotly-poa.json)."""
    return dict(json.loads(MANIFEST.read_text()))


@cache
def _reduced_source() -> str:
    return (VENDOR / manifest()["file"]).read_text(encoding="utf-8")


@cache
def _full_source() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def plotly_js(trace_types: Iterable[str]) -> PlotlyJS:
    """The reduced plotly.js when it registers every trace type in ``trace_types`` and matches
    plotly.py's plotly.js version (the figures' JSON follows that version); the full one otherwise."""
    from plotly.offline import get_plotlyjs_version

    info = manifest()
    wanted = set(trace_types)
    missing = sorted(wanted - set(info["traces"]))
    if info["plotly_js_version"] != get_plotlyjs_version():
        reason = (
            f"the reduced bundle is plotly.js {info['plotly_js_version']}, plotly.py draws with "
            f"{get_plotlyjs_version()} (rebuild it: scripts/build-plotly-bundle.sh)"
        )
        return PlotlyJS(_full_source(), "full", reason)
    if missing:
        reason = f"trace type(s) {', '.join(missing)} are not in the reduced bundle"
        return PlotlyJS(_full_source(), "full", reason)
    return PlotlyJS(_reduced_source(), "reduced", "every trace type is in the reduced bundle")


def _script_safe(text: str) -> str:
    """JavaScript source safe inside an inline <script>: no "</script" can end it early."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


# -- redaction and sanitizing -----------------------------------------------------------------


class _Redactor:
    """``redact`` with the page's config, names and secrets, each distinct text redacted once."""

    def __init__(self, config: RedactConfig, names: tuple[str, ...], secrets: tuple[str, ...]):
        self.config, self.names, self.secrets = config, names, secrets
        self._cache: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        if text not in self._cache:
            self._cache[text] = redact(
                text, names=self.names, secrets=self.secrets, config=self.config
            )
        return self._cache[text]


ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "kbd", "li", "mark", "ol", "p", "pre", "s", "small", "span", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})  # fmt: skip
ALLOWED_CSS = (
    "text-align", "vertical-align", "white-space", "color", "background-color", "font-weight",
    "font-style", "font-size", "text-decoration", "width", "min-width", "max-width", "height",
    "padding", "padding-left", "padding-right", "margin", "border", "border-bottom", "display",
    "overflow", "overflow-x", "overflow-y", "max-height",
)  # fmt: skip
_COMMON_ATTRS = frozenset({"class", "title", "align", "colspan", "rowspan", "scope", "border"})


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name in _COMMON_ATTRS:
        return True
    if name == "style":  # no url(), no expression(), no escapes that could spell them
        low = value.lower()
        return not any(bad in low for bad in ("url(", "expression(", "@import", "\\", "image-set("))
    if tag == "a" and name == "href":
        return value.startswith(("#", "https://", "http://", "mailto:"))
    if tag == "img" and name == "src":
        return value.startswith("data:image/")  # an image that is part of the page, not a request
    if tag == "img" and name in ("alt", "width", "height"):
        return True
    return tag == "details" and name == "open"


@cache
def _cleaner() -> Any:
    from bleach.css_sanitizer import CSSSanitizer
    from bleach.sanitizer import Cleaner

    return Cleaner(
        tags=ALLOWED_TAGS,
        attributes=_allowed_attribute,
        protocols={"http", "https", "mailto", "data"},
        strip=False,  # a tag not allowed is escaped: "<script>" from the data shows as text
        strip_comments=True,
        css_sanitizer=CSSSanitizer(allowed_css_properties=ALLOWED_CSS),
    )


def sanitize_html(fragment: str, redactor: Callable[[str], str]) -> str:
    """An HTML fragment (a pandas table, a section's HTML) that is safe to publish: its text and
    attribute values redacted, ``<style>`` blocks dropped (the page styles tables), only the allowed
    tags and attributes kept as markup and every other tag escaped into visible text."""
    from bs4 import BeautifulSoup, Comment, Doctype

    soup = BeautifulSoup(fragment, "html.parser")
    for node in soup.find_all("style"):
        node.decompose()
    for text in soup.find_all(string=True):
        if isinstance(text, Comment | Doctype):
            text.extract()
        else:
            text.replace_with(redactor(str(text)))
    for tag in soup.find_all(True):
        for key, value in list(tag.attrs.items()):
            if key in ("title", "alt", "href"):
                tag[key] = redactor(value if isinstance(value, str) else " ".join(value))
    for table in soup.find_all("table"):
        _mark_number_columns(table)
    return str(_cleaner().clean(str(soup)))


NUMBER_CELL = re.compile(
    r"^([<>≤≥]\s*)?[+\-−]?\d"
)  # 1,234 · 57.0% · +7.5 pts · 13 h 13 min · < 0.001
EMPTY_CELL = {"", "—", "-", "nan", "NaN", "None"}


def _mark_number_columns(table: Any) -> None:
    """Give the cells of each column that holds only numbers (counts, percents, durations,
    p-values, dates) the class ``num``, right-aligned by the page's CSS; text columns (a ticket
    subject, a segment value) stay left-aligned."""
    rows = [row.find_all(["td", "th"], recursive=False) for row in table.find_all("tr")]
    body = [r for r in rows if r and r[-1].name == "td"]
    width = max((len(r) for r in rows), default=0)
    if any(len(r) != width for r in rows) or any(c.get("colspan") for r in rows for c in r):
        return  # merged cells: leave the table as it is
    for col in range(width):
        texts = [r[col].get_text(" ", strip=True) for r in body]
        filled = [t for t in texts if t not in EMPTY_CELL]
        if filled and all(NUMBER_CELL.match(t) for t in filled):
            for r in rows:
                classes = r[col].get("class") or []
                r[col]["class"] = [*classes, "num"]


@cache
def _markdown() -> Any:
    import mistune
    from mistune.util import escape

    class Renderer(mistune.HTMLRenderer):
        """Raw HTML in Markdown is shown as text; entities (``&lt;`` from ``context.esc``) are kept
        as entities. (mistune's ``escape=True`` escapes entities too: ``&lt;`` would show as
        ``&lt;``.)"""

        def block_html(self, html: str) -> str:
            return "<p>" + escape(html.strip()) + "</p>\n"

        def inline_html(self, html: str) -> str:
            return escape(html)

    return mistune.create_markdown(
        renderer=Renderer(escape=False), plugins=["table", "strikethrough"]
    )


def markdown_html(text: str) -> str:
    """Markdown (already redacted) as HTML: raw HTML in it is escaped, never passed through, and
    the result is sanitized like any HTML (an image from the web is dropped)."""
    return sanitize_html(str(_markdown()(text)), lambda s: s)


# -- the notebook -----------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _warning_notes(stderr: str) -> list[str]:
    """The PoaWarnings in a cell's stderr, each with its "What to do" line; everything else in
    stderr (progress bars, library noise, tracebacks of warnings) is left out."""
    notes: list[str] = []
    lines = _ANSI.sub("", stderr).splitlines()
    for i, line in enumerate(lines):
        m = _WARNING.match(line)
        if not m:
            continue
        note = m.group(1).strip()
        if i + 1 < len(lines) and lines[i + 1].strip().startswith("What to do:"):
            note += "\n" + lines[i + 1].strip()
        notes.append(note)
    return notes


def _figure_json(spec: dict[str, Any], redactor: _Redactor) -> tuple[dict[str, Any], list[str]]:
    """The figure redacted (``redact_figure``), sized by the page, with the house config; and its
    trace types."""
    import plotly.graph_objects as go

    from .redact_objects import redact_figure

    fig = go.Figure(
        {"data": spec.get("data", []), "layout": spec.get("layout", {})}, skip_invalid=True
    )
    fig = redact_figure(fig, names=redactor.names, secrets=redactor.secrets, config=redactor.config)
    fig.layout.width = None  # the page sets the width: a fixed one overflows a narrow window
    fig.layout.autosize = True
    if fig.layout.height is None:  # else a responsive chart takes its empty box's height
        fig.layout.height = DEFAULT_HEIGHT
    out = json.loads(fig.to_json(validate=False))
    out["config"] = {**CONFIG, "responsive": True}
    types = [str(trace.get("type") or "scatter") for trace in out.get("data", [])]
    return out, types


def _display(mimetype: str, value: Any, **metadata: Any) -> dict[str, Any]:
    from nbformat import NotebookNode

    return NotebookNode(
        output_type="display_data", data={mimetype: value}, metadata=NotebookNode(metadata)
    )


@dataclass
class _Figures:
    """The page's charts as the outputs are prepared: how many (each gets its id) and the trace
    types of all."""

    count: int = 0
    traces: list[str] = field(default_factory=list)


def _prepare(nb: Any, redactor: _Redactor) -> tuple[Any, list[str]]:
    """A copy of ``nb`` holding only what the page shows, redacted and normalised: every output
    becomes a display_data with one mimetype, HTML sanitized (marked ``poa_sanitized``), plotly
    JSON redacted. Returns the copy and the trace types of its figures."""
    out = copy.deepcopy(nb)
    cells = []
    figures = _Figures()
    for cell in out.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or "remove-cell" in tags or cell.cell_type == "raw":
            continue
        if cell.cell_type == "markdown":
            cell.source = redactor(_text(cell.source))
            cell.pop("attachments", None)
            cells.append(cell)
            continue
        if cell.cell_type != "code":
            continue
        cell.source = ""  # code is never shown (nor kept in the page)
        cell.outputs = [
            shown
            for output in cell.get("outputs", [])
            for shown in _page_outputs(output, redactor, figures)
        ]
        cells.append(cell)
    out.cells = cells
    return out, figures.traces


def _page_outputs(output: Any, redactor: _Redactor, figures: _Figures) -> list[dict[str, Any]]:
    """What the page shows of one output (nothing, or one or more outputs)."""
    kind = output.get("output_type")
    if kind == "stream":
        return _stream_outputs(output, redactor)
    if kind == "error":
        ename = redactor(_ANSI.sub("", str(output.get("ename", ""))))
        evalue = redactor(_ANSI.sub("", str(output.get("evalue", ""))))
        error: dict[str, Any] = {"output_type": "error", "ename": ename, "evalue": evalue}
        return [{**error, "traceback": []}]  # the traceback is never shown
    data = output.get("data", {})
    if not data or (any(m in data for m in _LIVE_ONLY) and PLOTLY not in data):
        return []
    mimetype = next((m for m in PRIORITY if m in data), None)
    if mimetype is None:
        return []
    return [_display_output(mimetype, data[mimetype], redactor, figures)]


def _stream_outputs(output: Any, redactor: _Redactor) -> list[dict[str, Any]]:
    """Printed text (stdout) as it is; of stderr, only the warnings, each as a note."""
    text = redactor(_ANSI.sub("", _text(output.get("text", ""))))
    if output.get("name") == "stdout" and text.strip():
        stream: dict[str, Any] = {"output_type": "stream", "name": "stdout"}
        return [{**stream, "text": text}]
    if output.get("name") == "stderr":
        return [
            _display(
                "text/html", f'<div class="poa-note">{_escape(note)}</div>', poa_sanitized=True
            )
            for note in _warning_notes(text)
        ]
    return []


def _display_output(
    mimetype: str, value: Any, redactor: _Redactor, figures: _Figures
) -> dict[str, Any]:
    """One rich output in its best mimetype: a chart (redacted, numbered), sanitized HTML,
    redacted text, or an image."""
    if mimetype == PLOTLY:
        spec, types = _figure_json(dict(value), redactor)
        figures.traces += types
        figures.count += 1
        return _display(PLOTLY, spec, poa_chart_id=f"poa-chart-{figures.count}")
    if mimetype == "text/html":
        html = sanitize_html(_text(value), redactor)
        return _display(mimetype, html, poa_sanitized=True)
    if mimetype in ("text/markdown", "text/plain"):
        return _display(mimetype, redactor(_ANSI.sub("", _text(value))))
    # images: base64 (PNG, JPEG) or SVG text, shown through <img src="data:...">
    return _display(mimetype, _text(value))


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def _json_for_script(value: Any) -> str:
    """JSON inside <script type="application/json">: nothing in it can close the element."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(ch, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _base64(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9+/=]", "", value)  # base64 text only, whatever the output held


def _b64encode(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


# -- table of contents ------------------------------------------------------------------------


def _slug(text: str) -> str:
    slug = re.sub(r"[^\w]+", "-", text.lower(), flags=re.UNICODE).strip("-_")
    return slug[:60] or "section"


def _add_toc(page: str) -> str:
    """Give each h2/h3 in the report's main part an id and fill the page's contents list with
    links to them (h3 nested under their h2)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page, "html.parser")
    main, nav = soup.find("main"), soup.find("nav", id="toc")
    if main is None or nav is None:  # the template holds both
        raise InputError(
            "the report template has no <main> or <nav id=toc>",
            code="report.template",
            hint="report/templates/poa_report/index.html.j2 was changed: restore it or reinstall",
        )
    used = {str(tag["id"]) for tag in soup.find_all(id=True)}
    top = soup.new_tag("ul")
    current_sub = None
    count = 0
    for heading in main.find_all(["h2", "h3"]):
        label = " ".join(heading.get_text(" ", strip=True).split())
        if not label:
            continue
        base = _slug(label)
        anchor, n = base, 1
        while anchor in used:
            n += 1
            anchor = f"{base}-{n}"
        used.add(anchor)
        heading["id"] = anchor
        item = soup.new_tag("li")
        link = soup.new_tag("a", href=f"#{anchor}")
        link.string = label
        item.append(link)
        count += 1
        if heading.name == "h2" or current_sub is None:
            top.append(item)
            if heading.name == "h2":
                current_sub = soup.new_tag("ul")
                item.append(current_sub)
        else:
            current_sub.append(item)
    for empty in top.find_all("ul"):
        if not empty.find("li"):
            empty.decompose()
    marker = next(c for c in nav.contents)  # the <!--poa:toc--> placeholder
    if count:
        title = soup.new_tag("div", attrs={"class": "poa-toc-title"})
        title.string = "Contents"
        marker.replace_with(title)
        title.insert_after(top)
    else:
        nav.decompose()
    return str(soup)


# -- the page ---------------------------------------------------------------------------------


@cache
def _exporter() -> Any:
    from nbconvert.exporters import TemplateExporter
    from traitlets.config import Config

    config = Config()
    config.NbConvertBase.display_data_priority = list(PRIORITY)
    exporter = TemplateExporter(
        config=config,
        extra_template_basedirs=[str(TEMPLATES)],
        template_name=TEMPLATE,
        template_file="index.html.j2",
    )
    exporter.register_filter("poa_markdown", markdown_html)
    exporter.register_filter("poa_json", _json_for_script)
    exporter.register_filter("poa_base64", _base64)
    exporter.register_filter("poa_b64encode", _b64encode)
    return exporter


@dataclass(frozen=True)
class Export:
    """A rendered page and what it holds."""

    html: str
    charts: int
    trace_types: tuple[str, ...]
    plotly: PlotlyJS


def export(
    nb: Any,
    *,
    title: str,
    secrets: Iterable[str] = (),
    names: Iterable[str] = (),
    config: RedactConfig | None = None,
) -> Export:
    """``export_html`` with what it decided: the number of charts, their trace types and which
    plotly.js bundle the page embeds (and why)."""
    import nbformat

    if not isinstance(nb, nbformat.NotebookNode) or "cells" not in nb:
        raise InputError(
            f"export_html() takes an executed notebook (nbformat.NotebookNode), got "
            f"{type(nb).__name__}",
            code="report.not_notebook",
            hint="read it with nbformat.read(path, as_version=4)",
        )
    secret_values = tuple(str(s) for s in secrets if s not in (None, ""))
    redactor = _Redactor(config or load_config(), tuple(names), secret_values)
    prepared, traces = _prepare(nb, redactor)
    charts = sum(
        1 for c in prepared.cells for o in c.get("outputs", []) if PLOTLY in o.get("data", {})
    )
    safe_title = redactor(title)
    resources = {
        "poa": {
            "title": safe_title,
            "css": (TEMPLATES / TEMPLATE / "report.css").read_text(),
            "draw_js": (TEMPLATES / TEMPLATE / "draw.js").read_text(),
            "footer": f"{safe_title} · made by poanalytics · works offline",
        }
    }
    body, _ = _exporter().from_notebook_node(prepared, resources=resources)
    body = _add_toc(body)
    for value in secret_values:  # a last net: no secret survives anywhere in the page
        for form in {value, _escape(value), json.dumps(value)[1:-1]}:
            body = body.replace(form, "[secret]")
    js = plotly_js(traces) if charts else PlotlyJS("", "none", "no charts")
    if js.bundle == "full":
        warn(
            PoaWarning(
                f"the report page embeds plotly's full plotly.js (about 4.8 MB): {js.reason}",
                code="report.plotly_full",
                hint="add the trace type to TRACES in scripts/build-plotly-bundle.sh and rebuild "
                "the bundle (docs/report.md); the page is complete either way",
            )
        )
    marker = "<script>/*poa:plotly.js*/</script>"
    if marker not in body:
        raise InputError(
            "the report template lost its plotly.js slot",
            code="report.template",
            hint="report/templates/poa_report/index.html.j2 was changed: restore it or reinstall",
        )
    script = f"<script>{_script_safe(js.source)}</script>" if js.source else ""
    html = body.replace(marker, script, 1)
    return Export(html, charts, tuple(sorted(set(traces))), js)


def export_html(
    nb: Any,
    *,
    title: str,
    secrets: Iterable[str] = (),
    names: Iterable[str] = (),
    config: RedactConfig | None = None,
) -> str:
    """The executed notebook ``nb`` as one self-contained, offline HTML page (module docstring).

    ``title``: the page's title and heading; ``secrets``: literal values scrubbed everywhere
    (e.g. credentials the run used); ``names``: more names to hide (e.g. ``known_names(con)``);
    ``config``: the redaction settings (default: the project's ``[redact]``).
    """
    return export(nb, title=title, secrets=secrets, names=names, config=config).html
