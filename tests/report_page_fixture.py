"""A small report notebook with the kinds of outputs the weekly report holds (the exporter's tests
run it through real papermill): several plotly charts, tables, Markdown with h2/h3 headings, a
PoaWarning, stdout and stderr noise, personal data, and a ticket subject that is HTML."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import pytest

XSS = "<script>alert(1)</script>"
SUBJECT = f"Login broken {XSS} since update"
EMAIL = "ada.bakker@example.com"
SECRET = "hunter2-smtp-Pa55word"

PARAMETERS = """week: str = ""  # ISO week
warehouse: str = ""  # warehouse file
smtp_password: str = ""  # a value the run knows and the page must not show
"""

CELLS = [
    ("markdown", "# Weekly report fixture\n\nAn introduction paragraph."),
    ("parameters", PARAMETERS),
    (
        "code",
        """import warnings
import sys
import pandas as pd
import plotly.graph_objects as go
from IPython.display import Markdown, HTML, display
import poanalytics as poa
from poanalytics.errors import PoaWarning

poa.setup_notebook()
print("progress 10%", file=sys.stderr)""",
    ),
    (
        "code",
        'display(Markdown("## Headline numbers\\n\\nWeekly active users: **1,234** (+5.0%)."))',
    ),
    (
        "code",
        f"""fig = go.Figure(go.Bar(x=["signed_up", "activated"], y=[100, 40], name="users of {EMAIL}"))
fig.update_layout(title="Funnel", width=1600, height=380)
fig.show()""",
    ),
    ("markdown", "## Funnels\n\n### Conversion by week\n\nUsers per week."),
    (
        "code",
        """fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[0.2, 0.3, 0.25], mode="lines+markers"))
fig.update_layout(title="Conversion", xaxis_title="week", yaxis_title="conversion")
fig.show()""",
    ),
    (
        "code",
        """fig = go.Figure(go.Heatmap(z=[[1, 0.5], [1, 0.4]], x=["w0", "w1"], y=["c1", "c2"]))
fig.update_layout(title="Retention")
fig""",
    ),
    ("markdown", "## Paths\n\nWhere users go after signing up."),
    (
        "code",
        """go.Figure(go.Sankey(node=dict(label=["signed_up", "activated", "left"]),
    link=dict(source=[0, 0], target=[1, 2], value=[40, 60]))).update_layout(title="Paths")""",
    ),
    ("markdown", "## Support tickets\n\n### Top subjects"),
    (
        "code",
        f"""tickets = pd.DataFrame({{"subject": [{SUBJECT!r}, "Cannot pay"], "requester": [{EMAIL!r}, "bob"], "tickets": [12, 3]}})
tickets""",
    ),
    (
        "code",
        """from poanalytics.metrics.summary import to_html
wide = pd.DataFrame({f"column {i} with a long name": [i * 1000.5] for i in range(16)})
display(HTML(to_html(wide.iloc[:, :3], wide, title="A wide table")))""",
    ),
    ("code", f"display(Markdown('Most asked: ' + {SUBJECT!r}))"),
    (  # markup in an HTML output that looks like the page's own chart box
        "code",
        f"display(HTML('<p>Raw HTML with ' + {SUBJECT!r} + '</p><div class=\"poa-chart\">x</div>'))",
    ),
    (
        "code",
        """warnings.warn(PoaWarning("the week has few users", code="report.small", hint="read it with care"))
print("checked", len(tickets), "tickets; contact", tickets.requester[0], "key", smtp_password)""",
    ),
    ("markdown", "## Data health\n\nAll sources are fresh."),
]


def build(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "poanalytics",
        "display_name": "poanalytics",
        "language": "python",
    }
    for kind, source in CELLS:
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            cell = nbformat.v4.new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def executed(folder: Path) -> nbformat.NotebookNode:
    """The fixture notebook run by papermill (with an injected parameter holding SECRET)."""
    src = build(folder / "fixture.ipynb")
    out = folder / "fixture.out.ipynb"
    pm.execute_notebook(
        str(src),
        str(out),
        parameters={"week": "2026-W47", "smtp_password": SECRET},
        kernel_name="poanalytics",
        progress_bar=False,
        cwd=str(folder),
    )
    return nbformat.read(out, as_version=4)


@pytest.fixture(scope="session")
def report_notebook(tmp_path_factory) -> nbformat.NotebookNode:
    """The fixture notebook, executed once per test session."""
    return executed(tmp_path_factory.mktemp("report_nb"))
