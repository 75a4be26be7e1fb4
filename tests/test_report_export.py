"""The report exporter (report/export.py): one offline page, no code, charts from the plotly JSON with
plotly.js once, a table of contents, redaction and secrets, data shown as text."""

from __future__ import annotations

import json
import re

import nbformat
import pandas as pd
import plotly.graph_objects as go
import pytest
from bs4 import BeautifulSoup

from poanalytics.errors import InputError, PoaWarning
from poanalytics.redaction import RedactConfig
from poanalytics.report import export as ex
from tests.report_page_fixture import EMAIL, SECRET, SUBJECT, XSS, report_notebook  # noqa: F401

CFG = RedactConfig()


@pytest.fixture(scope="module")
def page(report_notebook):  # noqa: F811
    return ex.export(report_notebook, title="Week 2026-W47", secrets=[SECRET], config=CFG)


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _without_plotly_js(html: str) -> str:
    """The page with the embedded plotly.js left out (its source names MathJax, URLs...)."""
    soup = _soup(html)
    for script in soup.find_all("script"):
        if "plotly.js v" in (script.string or "")[:200] or len(script.string or "") > 1_000_000:
            script.string = ""
    return str(soup)


def test_no_code_and_no_injected_parameters(page, report_notebook):  # noqa: F811
    injected = [c for c in report_notebook.cells if "injected-parameters" in c.metadata.get("tags")]
    assert injected and "2026-W47" in injected[0].source  # papermill injected the cell
    html = _without_plotly_js(page.html)
    for code in ("import pandas", "poa.setup_notebook()", "fig.show()", "pd.DataFrame", "week = "):
        assert code not in html
    assert "smtp_password" not in html  # the injected cell's source and its values are gone
    assert "2026-W47" in page.html  # (only in the title given to the exporter)
    assert "2026-W47" not in html.split("<main", 1)[1].split("</main>")[0]


def test_plotly_js_is_embedded_once_and_every_chart_is_drawn_from_its_json(page):
    soup = _soup(page.html)
    scripts = soup.find_all("script")
    plotly = [s for s in scripts if "plotly.js v" in (s.string or "")[:200]]
    assert len(plotly) == 1 and plotly[0].parent.name == "head"
    assert page.plotly.bundle == "reduced"
    assert page.charts == 4 and page.trace_types == ("bar", "heatmap", "sankey", "scatter")
    boxes = soup.select("div.poa-chart[data-spec]")
    assert len(boxes) == 4
    for box in boxes:
        spec = json.loads(soup.find(id=box["data-spec"]).string)
        assert spec["data"] and spec["config"]["displaylogo"] is False
        assert "width" not in spec["layout"]  # the page sizes charts (the fixture asked 1600 px)
    # one plotly.js, four JSON specs, the drawing code: nothing else runs
    assert len(scripts) == 1 + 4 + 1


def test_nothing_is_loaded_from_the_network(page):
    html = _without_plotly_js(page.html)
    soup = _soup(html)
    assert not soup.find_all("script", src=True)
    assert not soup.find_all(["link", "iframe", "object", "embed", "base"])
    assert all(img["src"].startswith("data:") for img in soup.find_all("img", src=True))
    lowered = html.lower()
    for word in ("require.js", "requirejs", "mathjax", "cdn.", "url(", "@import", "unpkg"):
        assert word not in lowered, word
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", lowered)


def test_table_of_contents_links_to_every_h2_and_h3(page):
    soup = _soup(page.html)
    headings = soup.find("main").find_all(["h2", "h3"])
    assert [h.get_text() for h in headings] == [
        "Headline numbers",
        "Funnels",
        "Conversion by week",
        "Paths",
        "Support tickets",
        "Top subjects",
        "Data health",
    ]
    links = soup.select("nav#toc a")
    assert [a["href"] for a in links] == [f"#{h['id']}" for h in headings]
    assert len({h["id"] for h in headings}) == len(headings)
    # h3 nested under their h2
    funnels = soup.select_one('nav#toc a[href="#funnels"]').parent
    assert [a.get_text() for a in funnels.select(":scope > ul a")] == ["Conversion by week"]


def test_text_is_redacted_and_secrets_are_scrubbed_everywhere(page):
    assert EMAIL not in page.html and SECRET not in page.html
    html = _without_plotly_js(page.html)
    assert "[email]" in html and "[secret]" in html  # the print() that showed them
    soup = _soup(html)
    bar = json.loads(soup.find(id="poa-chart-1").string)
    assert bar["data"][0]["name"] == "users of [email]"  # plotly JSON through redact_figure


def test_a_ticket_subject_with_html_is_text_never_markup(page):
    assert "<script>alert" not in page.html
    soup = _soup(page.html)
    text = soup.find("main").get_text()
    assert text.count(XSS) == 3  # the table, the Markdown and the HTML output show it as written
    assert "Login broken" in text


def test_stderr_noise_is_left_out_and_poa_warnings_are_notes(page):
    soup = _soup(_without_plotly_js(page.html))
    assert "progress 10%" not in soup.get_text()
    notes = [n.get_text() for n in soup.select(".poa-note")]
    assert notes == ["[report.small] the week has few users\nWhat to do: read it with care"]


def _notebook_with(*outputs, markdown: str = "## Section") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells.append(cell)
    return nb


def _chart(fig: go.Figure) -> dict:
    return {
        "output_type": "display_data",
        "metadata": {},
        "data": {ex.PLOTLY: json.loads(fig.to_json()), "text/html": "<div>copy</div>"},
    }


def test_a_trace_type_missing_from_the_reduced_bundle_falls_back_to_the_full_plotly_js():
    funnel = go.Figure(go.Funnel(y=["a", "b"], x=[10, 4]))
    assert "funnel" not in ex.manifest()["traces"]
    with pytest.warns(PoaWarning, match=r"report\.plotly_full.*funnel"):  # the page got bigger
        page = ex.export(_notebook_with(_chart(funnel)), title="t", config=CFG)
    assert page.plotly.bundle == "full" and "funnel" in page.plotly.reason
    from plotly.offline import get_plotlyjs

    assert len(page.html) > len(get_plotlyjs())
    assert page.html.count("Plotly.newPlot(box") == 1
    bar = ex.export(_notebook_with(_chart(go.Figure(go.Bar(y=[1])))), title="t", config=CFG)
    assert bar.plotly.bundle == "reduced" and len(bar.html) < len(page.html) / 2


def test_a_reduced_bundle_of_another_plotly_js_version_is_not_used(monkeypatch):
    stale = {**ex.manifest(), "plotly_js_version": "0.0.1"}
    monkeypatch.setattr(ex, "manifest", lambda: stale)
    chosen = ex.plotly_js(["bar"])
    assert chosen.bundle == "full" and "rebuild" in chosen.reason


def test_a_page_without_charts_embeds_no_plotly_js():
    text = {"output_type": "stream", "name": "stdout", "text": "hello"}
    page = ex.export(_notebook_with(text), title="t", config=CFG)
    assert page.plotly.bundle == "none" and len(page.html) < 20_000
    assert "hello" in page.html


def test_html_outputs_keep_tables_and_lose_everything_that_loads_or_runs():
    dirty = (
        "<style>td {background: url(https://x.example/a.png)}</style>"
        '<table class="dataframe"><tr><td style="color: red; background: url(https://x.example/b)">'
        "1</td></tr></table>"
        '<img src="https://x.example/track.gif" onerror="alert(1)">'
        '<img src="data:image/png;base64,AAAA">'
        '<a href="javascript:alert(1)">x</a><a href="#s">in page</a>'
        "<iframe src='https://x.example'></iframe><!-- note -->"
    )
    clean = ex.sanitize_html(dirty, lambda s: s)
    soup = _soup(clean)
    assert soup.find("table", class_="dataframe") and not soup.find("style")
    assert not soup.find_all(["iframe", "script"]) and "<!--" not in clean
    assert [img.get("src") for img in soup.find_all("img")] == [None, "data:image/png;base64,AAAA"]
    assert not soup.find(attrs={"onerror": True})
    assert [a.get("href") for a in soup.find_all("a")] == [None, "#s"]
    assert "url(" not in clean
    assert "&lt;iframe" in clean  # a tag that is not allowed shows as text


def test_markdown_raw_html_is_escaped_and_web_images_are_dropped():
    html = ex.markdown_html(
        "## Title\n\n<script>alert(1)</script>\n\n"
        "A <b>tag</b>, ![x](https://x.example/a.png) and [ok](#title)"
    )
    soup = _soup(html)
    assert soup.find("h2").get_text() == "Title"
    assert not soup.find_all(["script", "b"]) and "&lt;script&gt;" in html and "&lt;b&gt;" in html
    assert soup.find("img") is None or not soup.find("img").get("src")
    assert soup.find("a", href="#title")


def test_markdown_cells_and_titles_are_redacted():
    nb = _notebook_with(markdown=f"## For {EMAIL}\n\nCall +44 20 7946 0958")
    page = ex.export(nb, title=f"Report for {EMAIL}", config=CFG)
    assert EMAIL not in page.html and "7946" not in page.html
    assert "<title>Report for [email]</title>" in page.html


def test_cells_tagged_remove_cell_are_not_published():
    """A notebook's own notes (how to run it) stay in the notebook, not on the page."""
    nb = _notebook_with({"output_type": "stream", "name": "stdout", "text": "shown output\n"})
    nb.cells[0].metadata["tags"] = ["remove-cell"]
    nb.cells[0].source = "## How to run\n\nRun it with papermill"
    html = ex.export(nb, title="t", config=CFG).html
    assert "How to run" not in html and "Run it with" not in html
    assert "shown output" in html


def test_number_columns_are_right_aligned_and_text_columns_are_not():
    frame = pd.DataFrame(
        {
            "subject": ["Do you support SAML SSO?", "Export fails"],
            "users": ["1,234", "17"],
            "rate": ["57.0%", "—"],
            "median time": ["44 min 50 s", "13 h 13 min"],
            "p_value": ["< 0.001", "0.54"],
            "mixed": ["12", "about 40"],
        }
    )
    html = ex.sanitize_html(frame.to_html(index=False), lambda s: s)
    soup = _soup(html)
    header = [th.get_text() for th in soup.find("thead").find_all("th")]
    for row in soup.find_all("tr"):
        numbers = {
            header[i]
            for i, c in enumerate(row.find_all(["td", "th"]))
            if "num" in (c.get("class") or [])
        }
        assert numbers == {"users", "rate", "median time", "p_value"}, numbers
    css = (ex.TEMPLATES / "poa_report" / "report.css").read_text()
    assert "td.num, th.num { text-align: right" in css


def test_errors_in_outputs_show_their_name_and_value_redacted_without_traceback():
    err = {
        "output_type": "error",
        "ename": "MetricError",
        "evalue": f"[funnel.empty] no events for {EMAIL}",
        "traceback": ["\x1b[31mTraceback (most recent call last)\x1b[0m", 'File "/secret/path.py"'],
    }
    page = ex.export(_notebook_with(err), title="t", config=CFG)
    soup = _soup(page.html)
    assert (
        soup.select_one(".poa-error").get_text()
        == "MetricError: [funnel.empty] no events for [email]"
    )
    assert "/secret/path.py" not in page.html and "Traceback" not in page.html


def test_export_html_refuses_what_is_not_a_notebook():
    with pytest.raises(InputError) as info:
        ex.export_html({"cells": []}, title="t")
    assert info.value.code == "report.not_notebook"


def test_export_html_returns_the_page(report_notebook):  # noqa: F811
    html = ex.export_html(report_notebook, title="Week", secrets=[SECRET], config=CFG)
    assert html.startswith("<!DOCTYPE html>") and SUBJECT.split()[0] in html


def test_markdown_that_escaped_its_data_shows_it_once_not_twice():
    """Sections put data through context.esc (``&lt;script&gt;``): the page shows ``<script>``,
    not ``&lt;script&gt;``."""
    from poanalytics.report.context import esc

    html = ex.markdown_html(f"Most asked: {esc(XSS)} & more")
    assert _soup(html).get_text().strip() == f"Most asked: {XSS} & more"
    assert "&amp;lt;" not in html and not _soup(html).find("script")


def test_images_are_data_images_and_live_only_outputs_are_left_out():
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\n"
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><rect/></svg>'
    outputs = [
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": png}},
        {"output_type": "display_data", "metadata": {}, "data": {"image/svg+xml": svg}},
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {
                "application/vnd.jupyter.widget-view+json": {"model_id": "abc"},
                "text/plain": "HBox(children=(Dropdown(...),))",
            },
        },
    ]
    page = ex.export(_notebook_with(*outputs), title="t", config=CFG)
    soup = _soup(page.html)
    srcs = [img["src"] for img in soup.select("main img")]
    assert srcs[0] == "data:image/png;base64," + png.strip()
    assert srcs[1].startswith("data:image/svg+xml;base64,") and len(srcs) == 2
    assert "<svg" not in page.html.split("<main", 1)[1]  # never inline: its script cannot run
    assert "HBox" not in page.html and "model_id" not in page.html
