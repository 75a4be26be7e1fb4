"""The report page in real headless Chromium (Debian's, via Playwright), with the network off: every
chart draws, no script error, no request leaves the page, no code, working contents links, data shown
as text, nothing clipped."""

from __future__ import annotations

import pytest

from poanalytics.browser import chromium
from poanalytics.redaction import RedactConfig
from poanalytics.report.export import export
from tests.report_page_fixture import SECRET, XSS, report_notebook  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report_page(report_notebook, tmp_path_factory):  # noqa: F811
    """The page exported from the papermill-executed fixture notebook, as a file."""
    page = export(report_notebook, title="Week 2026-W47", secrets=[SECRET], config=RedactConfig())
    path = tmp_path_factory.mktemp("report_page") / "index.html"
    path.write_text(page.html, encoding="utf-8")
    return path, page


CHECK_CHARTS = """() => [...document.querySelectorAll('div.poa-chart[data-spec]')].map(div => {
    const svg = div.querySelector('svg.main-svg');
    const box = div.getBoundingClientRect();
    const s = svg ? svg.getBoundingClientRect() : null;
    const inside = el => { const r = el.getBoundingClientRect();
        return r.width > 0 && r.left >= s.left - 1 && r.right <= s.right + 1
            && r.top >= s.top - 1 && r.bottom <= s.bottom + 1; };
    const texts = svg ? [...div.querySelectorAll('.gtitle, .xtitle, .ytitle, .annotation-text')] : [];
    return {
        drawn: !!svg && div.querySelectorAll('.plot-container, .js-plotly-plot').length > 0,
        marks: div.querySelectorAll('.trace, .point, .bars path, .sankey-node, .hm image').length,
        svgWidth: s ? s.width : 0, boxWidth: box.width, svgHeight: s ? s.height : 0,
        overflow: div.scrollWidth - div.clientWidth,
        clipped: texts.filter(t => !inside(t)).map(t => t.textContent),
    };
})"""


def _check_page(path, page, *, xss: int = 0, code: tuple[str, ...] = ()) -> None:
    """Open the page offline and check it as a reader would (module docstring)."""
    url = path.as_uri()
    requests: list[str] = []
    errors: list[str] = []
    dialogs: list[str] = []
    with chromium(offline=True, viewport={"width": 1280, "height": 900}) as ctx:
        tab = ctx.new_page()
        tab.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        tab.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
        tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        def record(route):
            requests.append(route.request.url)
            if route.request.url == url:
                route.continue_()
            else:
                route.abort()

        ctx.route("**/*", record)
        tab.goto(url, wait_until="load")
        tab.wait_for_function(
            "n => document.querySelectorAll('div.poa-chart svg.main-svg').length >= n",
            arg=page.charts,
            timeout=20_000,
        )

        # every chart drew its SVG with marks in it, at the width of the page, nothing cut off
        charts = tab.evaluate(CHECK_CHARTS)
        assert len(charts) == page.charts
        for chart in charts:
            assert chart["drawn"] and chart["marks"] > 0, chart
            assert chart["svgWidth"] <= chart["boxWidth"] + 1, chart
            assert chart["overflow"] <= 0 and not chart["clipped"], chart
            assert chart["svgHeight"] >= 300, chart  # not squashed to the box's minimum height

        # no code anywhere a reader can see; the injected parameters are gone
        text = tab.inner_text("body")
        for line in ("import poanalytics", "poa.", "report.show", *code):
            assert line not in text, line
        assert tab.locator("textarea, .jp-InputArea, .input_area, .highlight").count() == 0

        # data shows as text and runs nothing; the only scripts are plotly.js and the drawing
        assert text.count(XSS) == xss and not dialogs
        assert tab.evaluate("() => document.querySelectorAll('script:not([type])').length") == 2

        # the contents links jump to their headings
        links = tab.locator("nav#toc a")
        assert links.count() == len(tab.locator("main h2, main h3").all()) > 0
        for i in range(links.count()):
            link = links.nth(i)
            target = link.get_attribute("href")
            assert tab.locator(target).count() == 1
            link.click()
            tab.wait_for_function("h => location.hash === h", arg=target)
            tab.wait_for_function(
                """h => { const r = document.querySelector(h).getBoundingClientRect();
                          return r.top >= -1 && r.bottom <= window.innerHeight; }""",
                arg=target,
                timeout=5_000,
            )

        # tables wider than the column scroll inside it; the page itself never runs off the
        # right edge, and the contents list does not cover the report
        for details in tab.locator("details").all():
            details.evaluate("d => { d.open = true; }")
        layout = tab.evaluate(
            """() => ({toc: document.querySelector('nav#toc').getBoundingClientRect().right,
                       main: document.querySelector('main').getBoundingClientRect().left,
                       page: document.documentElement.scrollWidth, view: window.innerWidth,
                       cut: [...document.querySelectorAll('main table')].filter(t => {
                           let p = t.parentElement;
                           while (p && p.tagName !== 'MAIN') {
                               const o = getComputedStyle(p).overflowX;
                               if (o === 'auto' || o === 'scroll') return false;
                               if (o === 'hidden' || o === 'clip') return true;
                               p = p.parentElement; }
                           return t.getBoundingClientRect().right > p.getBoundingClientRect().right + 1;
                       }).length})"""
        )
        assert layout["toc"] <= layout["main"] and layout["page"] <= layout["view"], layout
        assert layout["cut"] == 0, layout

    assert not errors, errors
    assert requests == [url], requests  # only the page itself: nothing leaves it


def test_the_fixture_report_page_in_headless_chromium(report_page):
    """Several charts (one asking a fixed 1600 px width), tables, Markdown headings, PoaWarning,
    and a ticket subject holding <script> in a table, a Markdown and an HTML output."""
    path, page = report_page
    assert page.charts == 4
    _check_page(path, page, xss=3, code=("import pandas", "fig.show()", "smtp_password", SECRET))


@pytest.fixture(scope="module")
def weekly_page(tmp_path_factory):
    """notebooks/90_weekly_report.ipynb run by papermill on the demo data, exported."""
    import nbformat
    import pandas as pd
    import papermill as pm

    import poanalytics as poa
    from poanalytics import demo
    from poanalytics.report.weeks import last_complete_week
    from tests.conftest import ROOT

    folder = tmp_path_factory.mktemp("weekly_page")
    files = demo.generate(folder / "demo", users=400, weeks=8)
    warehouse = folder / "warehouse.duckdb"
    with poa.Workbench(warehouse, create=True) as wb:
        demo.load_demo(wb, files)
        # a ticket opened in the report week whose subject holds markup: the page shows it as text
        week = last_complete_week(wb.sql("SELECT max(ts) AS t FROM events").t[0])
        ticket = {"ticket_id": "xss-1", "created_at": week.start + pd.Timedelta(days=2),
                  "subject": f"{XSS} checkout broken", "requester": "someone"}  # fmt: skip
        assert wb.load_tickets(pd.DataFrame([ticket])).rows_loaded == 1
    out = folder / "report.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "90_weekly_report.ipynb"),
        str(out),
        parameters={"warehouse": str(warehouse), "out_dir": str(folder / "out")},
        kernel_name="poanalytics",
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    page = export(nbformat.read(out, as_version=4), title="Weekly report", config=RedactConfig())
    path = folder / "index.html"
    path.write_text(page.html, encoding="utf-8")
    return path, page


def test_the_weekly_report_page_in_headless_chromium(weekly_page):
    path, page = weekly_page
    assert page.charts >= 5 and page.plotly.bundle == "reduced"
    # the ticket subject shows once, as text; the notebook's own how-to-run cell (tagged
    # remove-cell) is not published
    _check_page(path, page, xss=1, code=("Run it with",))
