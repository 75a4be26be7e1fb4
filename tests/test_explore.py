"""poanalytics.explore.funnel_explorer: the widget objects driven from Python, as a click would."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import poanalytics as poa
from poanalytics import demo
from poanalytics.explore import FunnelExplorer, funnel_explorer

STEPS = ["signed_up", "onboarding_started", "activated"]


@pytest.fixture(scope="module")
def demo_wb(tmp_path_factory) -> poa.Workbench:
    folder = tmp_path_factory.mktemp("explore")
    files = demo.generate(folder / "demo", users=300, weeks=8)
    wb = poa.Workbench(folder / "warehouse.duckdb")
    demo.load_demo(wb, files)
    yield wb
    wb.close()


def _traces(ex: FunnelExplorer, chart: str) -> str:
    return json.dumps(ex.figures[chart].to_plotly_json()["data"], sort_keys=True, default=str)


def _drawn(ex: FunnelExplorer, chart: str) -> dict:
    """What the Output widget holds (what JupyterLab draws): the plotly figure's JSON."""
    (output,) = ex.outputs[chart].outputs
    return output["data"]["application/vnd.plotly.v1+json"]


def test_the_controls_offer_the_warehouses_events_and_properties(demo_wb):
    ex = funnel_explorer(demo_wb, steps=STEPS, breakdown="platform")
    events = set(demo_wb.sql("SELECT DISTINCT event FROM events").event)
    offered = {v for _, v in ex.controls["step1"].options} - {""}
    assert offered == events
    assert [ex.controls[f"step{i}"].value for i in (1, 2, 3, 4)] == [*STEPS, ""]
    assert ex.steps == STEPS
    assert {"platform", "plan", "country"} <= {v for _, v in ex.controls["breakdown"].options}
    assert set(ex.figures) == {"funnel", "trend", "retention"} and ex.error is None
    for chart in ex.figures:
        assert _drawn(ex, chart)["data"]  # each chart is in its Output, ready to draw
    assert "users entered" in ex.status.value


@pytest.mark.parametrize(
    ("control", "value", "changes"),
    [
        ("step3", "project_created", {"funnel", "trend"}),
        ("step3", "", {"funnel", "trend"}),  # a step taken away
        ("window", "1h", {"funnel", "trend"}),
        ("breakdown", "country", {"funnel"}),
        ("period", "month", {"trend", "retention"}),
        ("date_from", dt.date(2026, 10, 19), {"funnel", "trend", "retention"}),
        ("date_to", dt.date(2026, 10, 25), {"funnel", "trend", "retention"}),
    ],
)
def test_changing_a_control_redraws_the_charts_in_place(demo_wb, control, value, changes):
    ex = funnel_explorer(demo_wb, steps=STEPS, breakdown="platform")
    before = {chart: _traces(ex, chart) for chart in ex.figures}
    drawn = {chart: json.dumps(_drawn(ex, chart)["data"], sort_keys=True) for chart in ex.figures}
    outputs = dict(ex.outputs)
    ex.controls[control].value = value  # what a click does
    assert ex.error is None, ex.error
    after = {chart: _traces(ex, chart) for chart in ex.figures}
    changed = {chart for chart in before if before[chart] != after[chart]}
    assert changes <= changed, (changes, changed)
    assert ex.outputs == outputs  # the same Output areas: redrawn in place, not appended
    for chart in changes:  # the Output holds the new figure, and only it
        assert len(ex.outputs[chart].outputs) == 1
        assert json.dumps(_drawn(ex, chart)["data"], sort_keys=True) != drawn[chart]


def test_a_segment_keeps_the_users_whose_first_step_has_the_value(demo_wb):
    ex = funnel_explorer(demo_wb, steps=STEPS)
    everyone = int(ex.result.table.users[0])
    ex.controls["segment"].value = "plan"
    values = [v for _, v in ex.controls["segment_value"].options if v]
    assert values and ex.controls["segment_value"].value == ""  # (any) until a value is picked
    assert int(ex.result.table.users[0]) == everyone
    ex.controls["segment_value"].value = values[0]
    segment = poa.Step("signed_up", where={"plan": values[0]})
    expected = demo_wb.funnel([segment, *STEPS[1:]], window="7d").table.users.tolist()
    assert ex.result.table.users.tolist() == expected and expected[0] < everyone


def test_a_coded_error_is_shown_in_place_and_the_next_change_recovers(demo_wb):
    ex = funnel_explorer(demo_wb, steps=STEPS)
    ex.controls["step2"].value = ""
    ex.controls["step3"].value = ""
    assert ex.error is not None and ex.error.code == "explore.steps"
    assert "at least two steps" in ex.status.value
    assert all(out.outputs == () for out in ex.outputs.values())
    ex.controls["date_from"].value = dt.date(2026, 11, 1)
    ex.controls["date_to"].value = dt.date(2026, 10, 1)
    ex.controls["step2"].value = "activated"
    assert ex.error is not None and ex.error.code == "funnel.date_range"
    ex.controls["date_from"].value = None
    assert ex.error is None and ex.figures["funnel"] is not None


def test_steps_the_warehouse_does_not_hold_are_refused(demo_wb):
    with pytest.raises(poa.ConfigError) as info:
        funnel_explorer(demo_wb, steps=["signed_up", "no_such_event"])
    assert info.value.code == "explore.steps" and "no_such_event" in str(info.value)
