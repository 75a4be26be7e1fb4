"""Charts in notebooks: live in JupyterLab, and still there in an exported, offline HTML file."""

from __future__ import annotations

RENDERER = "plotly_mimetype+notebook"


def setup_notebook(renderer: str = RENDERER) -> None:
    """Pick plotly's renderer for this kernel.

    ``plotly_mimetype`` draws the interactive chart in JupyterLab; ``notebook`` writes the same chart
    as HTML with plotly.js embedded once, so a notebook run by papermill and exported by nbconvert
    keeps its charts without reaching a CDN (``notebook_connected`` would need one).
    """
    import plotly.io as pio

    from .style import CONFIG

    pio.renderers.default = renderer
    for name in renderer.split("+"):  # the house config (no logo, PNG download) on every chart
        pio.renderers[name].config = dict(CONFIG)
