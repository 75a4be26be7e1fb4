"""The reduced plotly.js vendored for the report (report/vendor/): its manifest says what it holds."""

from __future__ import annotations

import hashlib
import re

from plotly.offline import get_plotlyjs_version

from poanalytics.browser import chromium
from poanalytics.report import export as ex
from tests.conftest import ROOT


def test_the_manifest_lists_exactly_the_trace_types_the_bundle_registers_in_chromium():
    info = ex.manifest()
    source = (ex.VENDOR / info["file"]).read_text()
    with chromium() as ctx:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_content("<html><body><div id='p'></div></body></html>")
        page.add_script_tag(content=source)
        version, traces = page.evaluate(
            "() => [Plotly.version, Object.keys(Plotly.PlotSchema.get().traces).sort()]"
        )
    assert not errors
    assert traces == info["traces"]
    assert version == info["plotly_js_version"]


def test_the_bundle_matches_plotly_py_and_its_manifest():
    info = ex.manifest()
    path = ex.VENDOR / info["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info["sha256"]
    # the figures' JSON follows plotly.py's plotly.js: after upgrading plotly, rebuild the bundle
    assert info["plotly_js_version"] == get_plotlyjs_version(), "scripts/build-plotly-bundle.sh"
    assert "MIT" in (ex.VENDOR / info["licence"]).read_text()
    # the chart modules' trace types are all in it (a new one needs a rebuild, or pages get big)
    used = set()
    for module in (ROOT / "src" / "poanalytics" / "charts").glob("*.py"):
        used |= {name.lower() for name in re.findall(r"go\.([A-Z][a-z]+)\(", module.read_text())}
    used.discard("figure")
    assert used and used <= set(info["traces"])
    script = (ROOT / "scripts" / "build-plotly-bundle.sh").read_text()
    listed = re.search(r'^TRACES="([^"]+)"', script, re.MULTILINE)
    assert listed and sorted(listed.group(1).split()) == info["traces"]
    assert path.stat().st_size < 2_000_000  # the full plotly.min.js is about 4.8 MB
