"""Charts a product owner reads without help (issue 9): titles, axis titles, percent formats,
readable fonts and the category limit, checked on the figure objects of every metric's chart."""

from __future__ import annotations

import pytest

import poanalytics as poa
from tests.journeys import load

H = 3600
D = 86400
W = 7 * D
COUNTRIES = [f"C{i:02d}" for i in range(13)]  # 13 values: more than plotly's 10 colours
PLANS = ["free", "starter", "pro"]
STEPS = ["signup", "onboard", "activate"]
TOP = 8  # breakdown values a funnel chart draws by default, "other" included
OTHER = "other"


def _journeys() -> dict[str, list[tuple]]:
    """390 users over 12 weekly cohorts; countries of unequal size, errors among the drop-offs."""
    out = {}
    for i in range(390):
        start = (i % 12) * W + (i % 7) * H
        country = COUNTRIES[min(i % 26, 12)]  # C12 gets the most users, the rest differ
        props = {"country": country, "plan": PLANS[i % 3]}
        events = [(start, "signup", props)]
        if i % 5 != 0:
            events.append((start + 60 + i, "onboard"))
            if i % 3 != 0:
                events.append((start + H * (1 + i % 20), "activate"))
        else:  # drop-offs hit errors and look for help
            events += [(start + 30, "app_error"), (start + 40, "help")]
        if i % 10 == 1:  # a few who convert hit an error too
            events.append((start + 50, "app_error"))
        events += [(start + k * W + H, "use") for k in range(1, 1 + i % 6)]
        out[f"u{i:03d}"] = events
    return out


@pytest.fixture(scope="module")
def wb():
    w = poa.Workbench(":memory:")
    load(w, _journeys())
    yield w
    w.close()


def _readable(fig) -> None:
    """Every chart: a title, a base font of at least 12 px, and no LaTeX (offline export)."""
    assert fig.layout.title.text
    assert "$" not in fig.layout.title.text
    assert fig.layout.font.size is not None and fig.layout.font.size >= 12


def test_funnel_breakdown_is_a_percent_view_of_the_top_values_and_other(wb):
    fig = wb.funnel(STEPS, window="7d", breakdown="country").figure()
    _readable(fig)
    assert fig.layout.yaxis.tickformat == ".0%"  # conversion compared across values, in percent
    assert fig.layout.yaxis.title.text and fig.layout.xaxis.title.text
    names = [t.name for t in fig.data]
    assert len(names) <= TOP and names[-1] == OTHER  # 13 values: the rest grouped
    assert "C12" in names  # the biggest value is kept
    colours = [t.marker.color for t in fig.data]
    assert None not in colours and len(set(colours)) == len(colours)  # no two share a colour
    assert all(y <= 1 for t in fig.data for y in t.y)
    assert all(t.text[0] == "100%" for t in fig.data)


def test_funnel_other_adds_up_the_grouped_values(wb):
    f = wb.funnel(STEPS, window="7d", breakdown="country")
    fig = f.figure(top=3)
    other = fig.data[-1]
    kept = {t.name for t in fig.data[:-1]}
    assert len(fig.data) == 3 and other.name == OTHER
    rest = f.table[~f.table.breakdown.isin(kept)]
    first = rest[rest.step == 1].users.sum()
    last = rest[rest.step == 3].users.sum()
    assert other.y[-1] == pytest.approx(last / first)
    with pytest.raises(poa.PoaError) as err:
        f.figure(top=20)
    assert err.value.code == "funnel.figure_top"
    with pytest.raises(poa.PoaError) as err:
        f.figure(view="bars")
    assert err.value.code == "funnel.view"


def test_funnel_bar_labels_are_readable_and_clear_of_the_interval_caps(wb):
    fig = wb.funnel(STEPS, window="7d").figure()
    _readable(fig)
    bar = fig.data[0]
    assert fig.layout.yaxis.title.text == "users" and fig.layout.xaxis.title.text
    assert bar.textfont.size >= 12
    # the caps sit at the bar's top: a label outside the bar lands under them
    assert bar.textposition == "inside" and bar.insidetextanchor == "start"
    assert bar.text[0] == "390 · 100%" and bar.text[1] == "312 · 80.0%"
    assert fig.layout.uniformtext.minsize >= 12  # never shrunk to 7 px
    assert fig.layout.yaxis.tickformat == ",d"
    percent = wb.funnel(STEPS, window="7d").figure(view="percent")
    assert percent.layout.yaxis.tickformat == ".0%"


def test_retention_heatmap_grows_with_cohorts_and_reads_in_percent(wb):
    r = wb.retention("signup", None, period="week", intervals=8, cohort="first_time")
    fig = r.figure()
    _readable(fig)
    cohorts = r.table.cohort_start.nunique()
    assert cohorts == 12
    heat = fig.data[0]
    assert fig.layout.height >= 24 * cohorts  # every row label has room
    assert fig.layout.yaxis.dtick == 1  # and every row is labelled
    assert heat.textfont.size >= 11
    assert heat.colorbar.tickformat == ".0%"
    assert fig.layout.xaxis.title.text == "Weeks after the cohort week"
    assert not fig.layout.xaxis.title.text.endswith("'s")


def test_correlation_is_said_in_words_on_an_odds_ratio_axis(wb):
    c = wb.funnel(STEPS, window="7d").correlation()
    fig = c.figure()
    _readable(fig)
    assert fig.layout.xaxis.type == "log"
    assert "likely to convert" in fig.layout.xaxis.title.text
    assert "as likely" in fig.layout.xaxis.ticktext
    assert all(
        "x less" in t or "x more" in t or t == "as likely" for t in fig.layout.xaxis.ticktext
    )
    error = next(t for t in fig.data if "users who did app_error" in t.y)
    k = list(error.y).index("users who did app_error")
    assert error.text[k].endswith("x less likely")
    assert error.textfont.size >= 11
    helped = next(t for t in fig.data if "users who did help" in t.y)
    # nobody who looked for help converted: said so, not as a huge ratio from the correction
    assert helped.text[list(helped.y).index("users who did help")] == "none of them converted"
    assert "odds ratio" in error.hovertemplate  # kept for the reader who wants it
    assert "odds_ratio" in c.table and "log_odds_ratio" in c.table


def test_sankey_has_room_for_every_node(wb):
    fig = wb.paths(start_event="signup", steps=4).figure()
    _readable(fig)
    sankey = fig.data[0]
    assert fig.layout.height >= 480
    assert fig.layout.margin.b >= 30 and fig.layout.margin.t >= 60
    assert all(0 < y < 1 for y in sankey.node.y)
    # nodes are stacked by size: the centres of one column are in order and apart
    assert len(set(sankey.node.y)) > 1


def test_lifecycle_and_churn_have_x_axis_titles(wb):
    for fig in (wb.lifecycle(period="week").figure(), wb.churn(14, segment="plan").figure()):
        _readable(fig)
        assert fig.layout.xaxis.title.text == "week starting"
        assert fig.layout.yaxis.title.text


def test_lifecycle_by_segment_facets_the_top_values_and_groups_the_rest(wb):
    result = wb.lifecycle(period="week", segment="country")  # 13 countries
    fig = result.figure()
    _readable(fig)
    assert fig.layout.title.text.startswith("Lifecycle by week and country")
    facets = [a.text for a in fig.layout.annotations if a.text in COUNTRIES + [OTHER]]
    assert len(facets) == TOP and facets[-1] == OTHER and "C12" in facets  # 7 largest + other
    assert len(fig.data) == 4 * TOP
    xs = [k for k in fig.layout if k.startswith("xaxis")]
    ys = [k for k in fig.layout if k.startswith("yaxis")]
    assert len(xs) == len(ys) == TOP
    assert {fig.layout[k].title.text for k in xs} - {None} == {"week starting"}
    assert {fig.layout[k].title.text for k in ys} - {None} == {"users"}
    # the other facet holds the sum of the grouped countries, period by period
    t = result.table
    kept = set(facets[:-1])
    rest = t[~t.segment.isin(kept)].groupby("period_start").new.sum()
    other_new = [tr for tr in fig.data if tr.name == "new"][-1]
    assert [int(v) for v in other_new.y] == [int(v) for v in rest.sort_index()]
    said = " ".join(a.text for a in fig.layout.annotations)
    assert "other = 6 smaller values" in said


def test_survival_has_a_y_axis_title_and_markers_on_every_line(wb):
    fig = wb.survival(signup_event="signup", inactive_days=14, by="plan").figure()
    _readable(fig)
    assert fig.layout.yaxis.title.text == "still active"
    assert fig.layout.yaxis.tickformat == ".0%"
    assert len(fig.data) == 3 and all("markers" in (t.mode or "") for t in fig.data)
    assert len({t.line.color for t in fig.data}) == 3


def test_setup_notebook_gives_every_chart_the_export_config():
    import plotly.io as pio

    before = (pio.renderers.default, pio.renderers["plotly_mimetype"].config)
    try:
        poa.setup_notebook()
        assert pio.renderers.default == "plotly_mimetype"  # the chart once, as JSON (no HTML copy)
        assert pio.renderers["plotly_mimetype"].config["displaylogo"] is False
    finally:
        pio.renderers.default, pio.renderers["plotly_mimetype"].config = before
