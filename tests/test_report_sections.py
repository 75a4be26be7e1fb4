"""The weekly report's sections, context and summary.json, on real DuckDB files with known answers."""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

import poanalytics as poa
from poanalytics.errors import PoaError
from poanalytics.report import sections as registry
from poanalytics.report.sections import Section, register
from poanalytics.report.stats import binomial_half_p

W10 = pd.Timestamp("2024-03-04", tz="UTC")  # Monday of 2024-W10
W11 = W10 + pd.Timedelta(days=7)  # the report week: 2024-W11
DAY = pd.Timedelta(days=1)
STEPS = ["signed_up", "activated"]


def exact_two_sided_half(k: int, n: int) -> float:
    """Two-sided binomial(n, 1/2) p-value with exact integers: the reference for the tests."""
    m = min(k, n - k)
    if 2 * m == n:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(m + 1)) / 2**n)


def journeys(seed: int = 3) -> pd.DataFrame:
    """Users active at random over 2024-W07..W11; each signs up once (on their first day) and
    activates 2 hours later (within the 1-day window), 3 days later (outside it) or never."""
    rng = np.random.default_rng(seed)
    start = W10 - pd.Timedelta(weeks=3)
    rows = []
    for i in range(400):
        user = f"u{i:03d}"
        first_day = int(rng.integers(0, 35))
        days = sorted({first_day, *(first_day + rng.integers(0, 35 - first_day, size=3))})
        for j, d in enumerate(days):
            ts = start + pd.Timedelta(days=int(d), hours=int(rng.integers(0, 20)))
            if j == 0:
                plan = ["free", "pro", "bob@example.com"][i % 3]
                rows.append(
                    (user, "signed_up", ts, {"plan": plan, "platform": ["ios", "web"][i % 2]})
                )
                outcome = rng.random()
                if outcome < 0.5:
                    rows.append((user, "activated", ts + pd.Timedelta(hours=2), None))
                elif outcome < 0.7:
                    rows.append((user, "activated", ts + pd.Timedelta(days=3), None))
            else:
                rows.append((user, "page_viewed", ts, None))
    rows.append(("u_last", "page_viewed", W11 + pd.Timedelta(days=6, hours=23), None))
    frame = pd.DataFrame(rows, columns=["user_id", "event", "ts", "properties"])
    return frame[frame.ts <= W11 + 7 * DAY - pd.Timedelta(microseconds=1)]


def tickets(cur: int, prev: int) -> pd.DataFrame:
    created = [W11 + pd.Timedelta(hours=3 * i) for i in range(cur)]
    created += [W10 + pd.Timedelta(hours=3 * i) for i in range(prev)]
    return pd.DataFrame(
        {
            "ticket_id": [f"t{i}" for i in range(len(created))],
            "created_at": created,
            "subject": ["Login fails for zed@example.org, call Zebulon Quirk"] * len(created),
            "requester": ["Someone"] * len(created),
        }
    )


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return journeys()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, events) -> Path:
    path = tmp_path_factory.mktemp("report") / "warehouse.duckdb"
    with poa.Workbench(path) as wb:
        assert wb.load_events(events).rows_quarantined == 0
        wb.load_tickets(tickets(cur=40, prev=25))
    return path


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project root whose config lists a name to redact and whose report config fits the data."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "poanalytics.toml").write_text('[redact]\nnames = ["Zebulon Quirk"]\n')
    (tmp_path / "conf" / "report.toml").write_text(
        '[report]\ntitle = "Weekly for ops@example.com"\nhistory_weeks = 4\n'
        '[funnel]\nsteps = ["signed_up", "activated"]\nwindow = "1d"\nbreakdown = "plan"\n'
        "drop_step = 2\n"
        '[retention]\nsegment = "plan"\nintervals = 3\n'
        '[segments]\nproperties = ["plan", "platform"]\n'
    )
    monkeypatch.setenv("POANALYTICS_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture
def report(warehouse, project):
    wb = poa.Workbench(warehouse)
    yield poa.report.weekly(wb)
    wb.close()


# -- week resolution ---------------------------------------------------------------------------


def test_an_empty_week_is_the_last_complete_iso_week(report):
    assert report.week.label == "2024-W11"
    assert (report.date_from, report.date_to.date()) == (W11, (W11 + 6 * DAY).date())


def test_data_ending_on_a_saturday_does_not_complete_its_week():
    from poanalytics.report.weeks import last_complete_week

    assert last_complete_week(W11 + pd.Timedelta(days=5, hours=23)).label == "2024-W10"
    assert last_complete_week(W11 + pd.Timedelta(days=6, minutes=1)).label == "2024-W11"


@pytest.mark.parametrize("week", ["2024-11", "2024-W7", "2024W10", "2025-W53", "W10", "2024-W00"])
def test_a_malformed_week_is_refused_with_a_hint(warehouse, project, week):
    with poa.Workbench(warehouse) as wb, pytest.raises(PoaError) as info:
        poa.report.weekly(wb, week=week)
    assert info.value.code == "report.week_format" and "YYYY-Www" in info.value.hint


@pytest.mark.parametrize("week", ["2024-W01", "2024-W30"])
def test_a_week_outside_the_data_is_refused(warehouse, project, week):
    with poa.Workbench(warehouse) as wb, pytest.raises(PoaError) as info:
        poa.report.weekly(wb, week=week)
    assert info.value.code == "report.week_range"
    assert "2024-W07" in info.value.hint and "2024-W11" in info.value.hint


def test_a_warehouse_without_events_has_no_week(tmp_path, project):
    with poa.Workbench(tmp_path / "empty.duckdb", create=True) as wb, pytest.raises(PoaError) as e:
        poa.report.weekly(wb)
    assert e.value.code == "report.no_data"


def test_a_funnel_whose_events_are_absent_in_the_week_is_named(warehouse, project):
    with poa.Workbench(warehouse) as wb, pytest.raises(PoaError) as info:
        poa.report.weekly(wb, steps=["signed_up", "activatd", "paid"])
    assert info.value.code == "report.funnel_events"
    assert "'activatd'" in info.value.message and "'paid'" in info.value.message
    assert "Did you mean 'activated'" in info.value.message


def test_the_funnel_events_check_takes_the_warehouse_connection(warehouse, project):
    """``poa.report.check_funnel_events`` reads a DuckDB connection as before (or a runner)."""
    with poa.Workbench(warehouse) as wb:
        week = poa.report.weekly(wb).week
    with poa.Workbench(warehouse) as wb, wb.connection() as con:
        poa.report.check_funnel_events(con, ["signed_up", "activated"], week)
        with pytest.raises(PoaError) as info:
            poa.report.check_funnel_events(con, ["signed_up", "paid"], week)
    assert info.value.code == "report.funnel_events" and "'paid'" in info.value.message


def test_a_segment_no_event_carries_is_refused_before_anything_runs(warehouse, project):
    with poa.Workbench(warehouse) as wb, pytest.raises(PoaError) as info:
        poa.report.weekly(wb, segment="plann")
    assert info.value.code == "report.unknown_property"
    assert "retention segment" in info.value.message and "'plan'" in info.value.message


# -- headline numbers --------------------------------------------------------------------------


def _week(frame: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    return frame[(frame.ts >= start) & (frame.ts < start + 7 * DAY)]


def test_headline_numbers_and_their_changes_match_an_independent_count(report, events):
    report.show("headline")
    got = {h["name"]: h for h in report.headline}

    cur, prev = set(_week(events, W11).user_id), set(_week(events, W10).user_id)
    wau = got["Weekly active users"]
    assert wau["value"] == len(cur) and wau["text"] == f"{len(cur):,}"
    assert wau["change"] == pytest.approx((len(cur) - len(prev)) / len(prev))
    only_cur, only_prev = len(cur - prev), len(prev - cur)
    assert wau["p_value"] == pytest.approx(exact_two_sided_half(only_cur, only_cur + only_prev))
    assert wau["clear"] == (wau["p_value"] < 0.05)
    assert "McNemar" in wau["test"]

    first = events.groupby("user_id").ts.min()
    new_cur = int(((first >= W11) & (first < W11 + 7 * DAY)).sum())
    new_prev = int(((first >= W10) & (first < W11)).sum())
    new = got["New users"]
    assert (new["value"], new["change"]) == (new_cur, pytest.approx(new_cur / new_prev - 1))
    assert new["p_value"] == pytest.approx(exact_two_sided_half(new_cur, new_cur + new_prev))
    assert "Poisson" in new["test"]

    t = got["Tickets opened"]
    assert (t["value"], t["change"]) == (40, pytest.approx(40 / 25 - 1))
    assert t["p_value"] == pytest.approx(exact_two_sided_half(40, 65))

    # the funnel: users who signed up in W10 (the latest week whose 1-day windows closed by the
    # end of W11), converted when activated within a day, against W09's
    def conversion(start: pd.Timestamp) -> tuple[int, int]:
        signed = _week(events[events.event == "signed_up"], start).set_index("user_id").ts
        act = events[events.event == "activated"].set_index("user_id").ts
        within = [(u, ts) for u, ts in signed.items() if u in act and act[u] - ts <= DAY]
        return len(within), len(signed)

    (x1, n1), (x0, n0) = conversion(W10), conversion(W10 - 7 * DAY)
    funnel = got["Conversion signed_up → activated (entered 2024-W10)"]
    assert funnel["value"] == pytest.approx(x1 / n1)
    assert funnel["change"] == pytest.approx(x1 / n1 - x0 / n0)
    assert funnel["change_text"].endswith("vs entrants of 2024-W09")


def test_a_changed_count_is_clear_and_a_small_one_never_is():
    from poanalytics.report.stats import count_change

    assert count_change(200, 100)["clear"] is True
    small = count_change(9, 1)
    assert small["p_value"] < 0.05 and small["small_sample"] and small["clear"] is False
    assert binomial_half_p(3, 10) == pytest.approx(exact_two_sided_half(3, 10))
    assert binomial_half_p(4000, 10000) == pytest.approx(exact_two_sided_half(4000, 10000))


def test_an_older_week_reports_that_week(warehouse, project, events):
    with poa.Workbench(warehouse) as wb:
        report = poa.report.weekly(wb, week="2024-W10")
        report.show("headline")
    wau = report.headline[0]
    assert wau["value"] == _week(events, W10).user_id.nunique()
    assert wau["change_text"].endswith("vs 2024-W09")


def test_the_funnel_section_of_an_older_week_counts_that_weeks_entrants(warehouse, project, events):
    with poa.Workbench(warehouse) as wb:
        report = poa.report.weekly(wb, week="2024-W10", steps=["signed_up", "activated"])
        report.show("funnels")
    signed = _week(events[events.event == "signed_up"], W10).user_id.nunique()
    texts = [o for kind, o in report.outputs if kind == "markdown"]
    assert any(f"{signed} users did signed_up in 2024-W10;" in t for t in texts)
    assert any("entered 2024-W09" in t for t in texts)  # drop-offs: the latest closed week


def test_retention_as_of_a_past_week_ignores_what_came_after(warehouse, events, tmp_path):
    """A report on W09 shows the retention that could be seen at W09's end: the same as on a
    warehouse holding only the events up to then (without as_of, later returns filled the cells)."""
    end = W10 - pd.Timedelta(microseconds=1)
    args = {"period": "week", "intervals": 3, "date_from": W10 - pd.Timedelta(weeks=3)}
    with poa.Workbench(tmp_path / "cut.duckdb") as cut:
        cut.load_events(events[events.ts <= end])
        expected = cut.retention("signed_up", None, date_to=end, **args).table
    with poa.Workbench(warehouse) as wb:
        got = wb.retention("signed_up", None, date_to=end, as_of=end, **args).table
        later = wb.retention("signed_up", None, date_to=end, **args).table
    pd.testing.assert_frame_equal(got, expected)
    assert not later.equals(expected)


# -- the registry --------------------------------------------------------------------------------


def test_a_section_registered_elsewhere_appears_through_show_rest(report):
    def build(ctx):
        ctx.markdown(f"Tickets this week: {len(ctx.wb.sql('SELECT 1 AS x'))}")

    register(Section(name="test_extra", title="From a test", order=55, build=build))
    shown = ["headline", "funnels", "retention", "voice", "backlog", "health", "stamp"]
    try:
        for name in shown:
            report.show(name)
        report.show_rest()
    finally:
        registry.unregister("test_extra")
    texts = [o for kind, o in report.outputs if kind == "markdown"]
    assert "## From a test" in texts and "Tickets this week: 1" in texts
    assert report.shown == [*shown, "test_extra"]
    headings = [t for t in texts if t.startswith("## ")]
    assert len(headings) == 8


def test_every_built_in_section_is_registered_and_starts_with_its_heading(report):
    names = [s.name for s in registry.sections()]
    assert names[:6] == ["headline", "funnels", "retention", "voice", "backlog", "health"]
    assert "stamp" in names
    for name in names:
        before = len(report.outputs)
        report.show(name)
        kind, text = report.outputs[before]
        assert kind == "markdown" and text == f"## {registry.get(name).title}"


def test_a_clashing_or_unknown_section_is_a_coded_error():
    def other(ctx):
        pass

    with pytest.raises(PoaError) as info:
        register(Section(name="headline", title="Mine", order=1, build=other))
    assert info.value.code == "report.section_duplicate"
    with pytest.raises(PoaError) as info:
        registry.get("headlines")
    assert info.value.code == "report.section_unknown" and "'headline'" in info.value.message
    with pytest.raises(PoaError) as info:
        register(Section(name="Bad Name", title="x", order=1, build=other))
    assert info.value.code == "report.section_name"


def test_the_headline_lists_the_weeks_newest_tickets_redacted(report):
    report.show("headline")
    tables = [obj for kind, obj in report.outputs if kind == "table"]
    newest = next(t for t in tables if "subject" in t.columns)
    # the fixture's W11 tickets open every 3 hours from Monday: the five newest, newest first
    opened = [W11 + pd.Timedelta(hours=3 * i) for i in range(39, 34, -1)]
    assert list(newest["opened (UTC)"]) == [ts.strftime("%Y-%m-%d %H:%M") for ts in opened]
    assert set(newest.subject) == {"Login fails for [email], call [name]"}


def _facet_sum(fig, state: str) -> pd.Series:
    bars = [t for t in fig.data if t.name == state]
    return (
        pd.concat([pd.Series(list(t.y), index=pd.to_datetime(list(t.x))) for t in bars])
        .groupby(level=0)
        .sum()
    )


def test_retention_section_shows_lifecycle_by_the_churn_segment(report):
    import dataclasses

    report.show("retention")
    chart = next(c for c in report.key_charts if c["key"] == "lifecycle")
    fig = chart["figure"]
    assert fig.layout.title.text.startswith("Lifecycle by week and plan")  # [churn] segment
    assert {"free", "pro", "[email]"} <= {a.text for a in fig.layout.annotations}
    assert any("Lifecycle by plan" in o for k, o in report.outputs if k == "markdown")
    # the facets add up to the unsegmented lifecycle of the same weeks, state by state
    whole = report.wb.lifecycle(date_from=report.history.start, date_to=report.week.end).table
    whole = whole.set_index("period_start")
    for state in ("new", "returning", "resurrecting", "dormant"):
        summed = _facet_sum(fig, state)
        assert [int(v) for v in summed] == [int(v) for v in whole[state]], state
    cfg = report.config
    plain = poa.report.weekly(
        report.wb, config=dataclasses.replace(cfg, churn=dataclasses.replace(cfg.churn, segment=""))
    )
    plain.show("retention")
    fig = next(c for c in plain.key_charts if c["key"] == "lifecycle")["figure"]
    assert fig.layout.title.text.startswith("Lifecycle by week:") and len(fig.data) == 4


# -- redaction -------------------------------------------------------------------------------------


def _all_text(report) -> str:
    parts = []
    for kind, obj in report.outputs:
        if kind == "markdown":
            parts.append(obj)
        elif kind == "table":
            parts.append(obj.to_string())
        else:
            parts.append(obj.to_json())
    return "\n".join(parts)


def test_emails_and_configured_names_never_show(report):
    def build(ctx):
        ctx.table(ctx.wb.sql("SELECT subject FROM tickets LIMIT 3"))
        ctx.markdown(ctx.wb.sql("SELECT any_value(subject) AS s FROM tickets").s[0])

    register(Section(name="test_subjects", title="Subjects", order=56, build=build))
    try:
        report.show("funnels")  # broken down by plan, one of whose values is an e-mail
        report.show("retention")  # retention by plan
        report.show("test_subjects")
    finally:
        registry.unregister("test_subjects")
    text = _all_text(report)
    assert "bob@example.com" not in text and "zed@example.org" not in text
    assert "Zebulon" not in text and "Quirk" not in text
    assert "[email]" in text and "[name]" in text
    assert "Login fails for" in text  # the rest of the subject is kept


def test_markup_in_the_data_shows_as_text(report, monkeypatch):
    import IPython.display

    from poanalytics.report.context import esc

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))
    subject = "<script>alert(1)</script> from <b>bob</b>"

    def build(ctx):
        ctx.table(pd.DataFrame({"subject": [subject]}))
        ctx.markdown(f"Top subject: {esc(subject)}")

    register(Section(name="test_markup", title="Markup", order=57, build=build))
    try:
        report.show("test_markup")
    finally:
        registry.unregister("test_markup")
    html = shown[1]["text/html"]
    markdown = shown[2].data
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown


# -- data health -----------------------------------------------------------------------------------


def _steady(weeks: int, per_week: list[int]) -> pd.DataFrame:
    rows = []
    start = W11 - pd.Timedelta(weeks=weeks - 1)
    for w, n in enumerate(per_week):
        for i in range(n):
            ts = start + pd.Timedelta(weeks=w) + pd.Timedelta(minutes=97 * i % (7 * 1440 - 1))
            rows.append((f"u{i % 50}", "page_viewed", ts))
    rows.append(("u_last", "page_viewed", W11 + pd.Timedelta(days=6, hours=22)))
    return pd.DataFrame(rows, columns=["user_id", "event", "ts"])


@pytest.mark.parametrize(
    ("per_week", "dropped"), [([100, 110, 90, 105, 20], True), ([100, 110, 90, 105, 95], False)]
)
def test_a_sudden_drop_in_volume_is_flagged(tmp_path, project, per_week, dropped):
    with poa.Workbench(tmp_path / "w.duckdb") as wb:
        wb.load_events(_steady(5, per_week))
        health = poa.report.data_health(wb)
    events = health.volume.set_index("kind").loc["events"]
    assert health.week.label == "2024-W11"
    assert events["week"] == per_week[-1] + 1  # the last event is in the report week too
    assert events["usual"] == pytest.approx(np.median(per_week[:-1]))
    assert bool(events["sudden_drop"]) is dropped
    assert any("sudden drop in events" in f for f in health.flags) is dropped


def test_failed_loads_and_quarantined_rows_since_last_week_are_counted(tmp_path, project):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "user_id,event,timestamp\nu1,a,2024-03-12T00:00:00Z\n,b,2024-03-12T00:00:00Z\n"
        ",c,2024-03-13T00:00:00Z\n"
    )
    with poa.Workbench(tmp_path / "w.duckdb") as wb:
        wb.load_events(_steady(2, [30, 30]))
        wb.load_events(bad)  # 2 rows quarantined
        for _ in range(2):
            with pytest.raises(PoaError):
                wb.load_events(tmp_path / "missing.csv")  # a failed load
        # the first failed load and one quarantined row happened before the report week began
        with wb.connection(write=True) as con:
            con.execute(
                "UPDATE load_log SET started_at = TIMESTAMPTZ '2024-03-01' WHERE load_id = 3"
            )
            con.execute(
                "UPDATE quarantine SET quarantined_at = TIMESTAMPTZ '2024-03-01' WHERE row = 3"
            )
        health = poa.report.data_health(wb, "2024-W11")
    assert health.since == W11
    assert list(health.failed_loads.load_id) == [4]
    assert health.quarantined_rows == 1
    assert any("1 failed load(s)" in f for f in health.flags)
    assert any("1 row(s) quarantined" in f for f in health.flags)


def test_a_source_without_recent_rows_is_stale(tmp_path, project):
    with poa.Workbench(tmp_path / "w.duckdb") as wb:
        wb.load_events(_steady(2, [30, 30]))
        wb.load_tickets(tickets(cur=0, prev=3))  # newest ticket at the start of W10
        health = poa.report.data_health(wb)
    stale = health.table.set_index("kind").stale
    assert not stale["events"] and stale["tickets"]
    assert any(f.startswith("stale tickets source") for f in health.flags)


# -- the stamp and summary.json --------------------------------------------------------------------


def test_the_stamp_masks_secrets_and_names_the_warehouse_state(warehouse, project):
    with poa.Workbench(warehouse) as wb:
        report = poa.report.weekly(wb, parameters={"smtp_password": "hunter2", "week": ""})
        report.show("stamp")
    text = _all_text(report)
    assert "hunter2" not in text and "[secret]" in text
    for expected in ("rows in events", "last event", "loads", "duckdb", "papermill", "run started"):
        assert expected in text
    assert report.snapshot["load_ids"] == [1, 2]


def test_summary_json_follows_the_contract(report, tmp_path):
    for name in ("headline", "funnels", "retention", "health", "stamp"):
        report.show(name)
    path = report.save(tmp_path / "out")
    summary = json.loads(path.read_text())
    assert path == tmp_path / "out" / "summary.json"
    assert list(summary) == [
        "week", "date_from", "date_to", "title", "headline", "sections", "key_charts",
        "snapshot", "parameters",
    ]  # fmt: skip
    assert (summary["week"], summary["date_from"], summary["date_to"]) == (
        "2024-W11",
        "2024-03-11",
        "2024-03-17",
    )
    assert summary["title"] == "Weekly for [email]"
    assert summary["sections"] == ["headline", "funnels", "retention", "health", "stamp"]
    for h in summary["headline"]:
        assert {"name", "value", "text", "change", "change_text", "clear"} <= set(h)
        assert isinstance(h["clear"], bool) and isinstance(h["text"], str)
    assert summary["headline"][0]["name"] == "Weekly active users"
    assert summary["snapshot"]["rows"] == {"events": summary["snapshot"]["rows"]["events"],
                                           "tickets": 65, "notes": 0}  # fmt: skip
    assert summary["snapshot"]["load_ids"] == [1, 2]
    assert summary["parameters"]["steps"] == STEPS
    files = [c["file"] for c in summary["key_charts"]]
    assert "charts/funnel.json" in files and all(f.startswith("charts/") for f in files)
    for chart in summary["key_charts"]:
        fig = pio.from_json((tmp_path / "out" / chart["file"]).read_text())
        assert fig.data and chart["title"]
        assert "bob@example.com" not in (tmp_path / "out" / chart["file"]).read_text()
    assert "bob@example.com" not in path.read_text()


def test_an_empty_out_dir_writes_nothing(report, tmp_path, monkeypatch):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    assert report.save("") is None
    assert not list((tmp_path / "cwd").iterdir())


# -- config ----------------------------------------------------------------------------------------


def test_the_committed_config_is_the_built_in_default():
    from poanalytics.report.config import ReportConfig, load_report_config
    from tests.conftest import ROOT

    loaded = load_report_config(ROOT / "conf" / "report.toml")
    assert {**vars(loaded), "path": None} == vars(ReportConfig())


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('[funnel]\nstep = ["a", "b"]\n', "report.config_key"),
        ("[funnel]\nwindow = 7\n", "report.config_type"),
        ("[report]\nhistory_weeks = true\n", "report.config_type"),
        ("[health]\nvolume_drop = 2\n", "report.config_type"),
        ('[churn]\ninactive_days = "28"\n', "report.config_type"),
        ('[voice]\nsource = "emails"\n', "report.config_type"),
        ("[voice]\nquotes = 0\n", "report.config_type"),
        ("[voice]\nthemes = 5\n", "report.config_key"),
        ('[backlog]\nframework = "kano"\n', "report.config_type"),
        ("[backlog]\ntop = 0\n", "report.config_type"),
        ("[backlog]\ncapacity = -1\n", "report.config_type"),
        ('[backlog]\ncapacity = "12"\n', "report.config_type"),
        ("[backlog]\nitems = 5\n", "report.config_key"),
        ("[funnel\n", "report.config_syntax"),
    ],
)
def test_a_bad_report_config_is_a_coded_error(tmp_path, text, code):
    from poanalytics.report.config import load_report_config

    path = tmp_path / "report.toml"
    path.write_text(text)
    with pytest.raises(PoaError) as info:
        load_report_config(path)
    assert info.value.code == code and info.value.hint


def test_a_relative_config_path_is_found_from_the_project_root(project, tmp_path, monkeypatch):
    from poanalytics.report.config import load_report_config

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert load_report_config("conf/report.toml").report.title == "Weekly for ops@example.com"
    with pytest.raises(PoaError) as info:
        load_report_config("conf/missing.toml")
    assert info.value.code == "report.config_missing"


def test_other_parts_tables_are_left_to_their_owners(tmp_path):
    from poanalytics.report.config import load_report_config

    path = tmp_path / "report.toml"
    path.write_text('[email]\nto = ["a@b.c"]\n[funnel]\nwindow = "2d"\n')
    assert load_report_config(path).funnel.window == "2d"


def test_parameters_override_the_config_for_one_run(warehouse, project):
    with poa.Workbench(warehouse) as wb:
        report = poa.report.weekly(wb, window="2d", breakdown="platform", segment="platform")
        assert report.config.funnel.window == "2d" and report.config.funnel.breakdown == "platform"
        assert report.config.churn.segment == report.config.retention.segment == "platform"
        with pytest.raises(PoaError) as info:
            poa.report.weekly(wb, steps="signed_up")
        assert info.value.code == "report.parameter"


def test_poa_report_is_reachable_from_the_package():
    assert poa.report.weekly is poa.report.weekly
    assert callable(poa.report.data_health) and poa.report.sections.register is register


def test_importing_every_report_module_leaves_the_packages_functions_callable():
    """Importing a submodule sets it as its package's attribute: a module named like a lazily loaded
    function (report/weekly.py beside poa.report.weekly) replaced the function by the module once
    anything imported it, and every later poa.report.weekly(wb) was 'module is not callable'."""
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(poa.report.__path__, "poanalytics.report."):
        importlib.import_module(info.name)
    for name in ("weekly", "data_health", "check_funnel_events", "parse_week", "register"):
        assert callable(getattr(poa.report, name)), name
        assert not inspect.ismodule(getattr(poa.report, name)), name


# -- the notebook ----------------------------------------------------------------------------------


def test_the_weekly_notebook_runs_with_papermill_and_writes_its_summary(
    warehouse, project, tmp_path
):
    """Real papermill on the poanalytics kernel: parameters reach the report, every section shows
    its heading, summary.json lands in out_dir, and no output carries an HTML copy of a chart."""
    import papermill as pm

    from tests.conftest import ROOT

    out = tmp_path / "run"
    executed = tmp_path / "report.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "90_weekly_report.ipynb"),
        str(executed),
        parameters={
            "warehouse": str(warehouse),
            "week": "2024-W10",
            "config": str(project / "conf" / "report.toml"),
            "steps": STEPS,
            "window": "1d",
            "breakdown": "platform",
            "out_dir": str(out),
        },
        kernel_name="poanalytics",
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["week"] == "2024-W10" and summary["parameters"]["window"] == "1d"
    assert summary["title"] == "Weekly for [email]"  # from the config file given
    assert summary["sections"][:7] == [
        "headline", "funnels", "retention", "voice", "backlog", "health", "stamp",
    ]  # fmt: skip
    cells = json.loads(executed.read_text())["cells"]
    outputs = [o for c in cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    markdown = "".join("".join(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    for title in (
        "Headline numbers",
        "Funnel and drop-off",
        "Voice of the customer",
        "Data health",
        "Reproducibility stamp",
    ):
        assert f"## {title}" in markdown
    charts = [o["data"] for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert charts and not any("text/html" in d for d in charts)


# -- the report on Spark (engine="spark") ---------------------------------------------------------


def _shown(report) -> list[tuple[str, str]]:
    """What a report showed, as comparable text: Markdown, tables and the traces of each chart."""
    out = []
    for kind, obj in report.outputs:
        if kind == "table":
            out.append((kind, obj.to_csv(index=False)))
        elif kind == "figure":
            out.append((kind, pio.to_json(obj)))
        else:
            out.append((kind, str(obj)))
    return out


@pytest.fixture(scope="module")
def lake(warehouse, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lake") / "events"
    with poa.Workbench(warehouse) as wb:
        wb.export_events(folder)
    return folder


@pytest.mark.parametrize("section", ["headline", "funnels", "retention"])
def test_a_section_on_spark_shows_what_it_shows_on_duckdb(warehouse, project, lake, spark, section):
    """``engine="spark"``: the event metrics of the section computed by Spark over the exported
    events; every line, table and chart the same as DuckDB's (tickets stay the warehouse's)."""
    with poa.Workbench(warehouse) as wb:
        duck = poa.report.weekly(wb)
        on = poa.report.weekly(wb, engine="spark", spark_events=str(lake), spark=spark)
        log = on.metrics.runner.log  # the week and the funnel's events were read from Spark
        assert on.metrics is not wb and "max(ts)" in log[0]
        assert (on.week, on.parameters["engine"]) == (duck.week, "spark")
        before = len(log)
        duck.show(section)
        on.show(section)
        assert len(log) > before  # the section's numbers came from Spark
        on.metrics.close()
    assert len(duck.outputs) > 2
    assert _shown(on) == _shown(duck)
    assert on.headline == duck.headline and on.key_charts == duck.key_charts


def test_the_stamp_names_the_engine_and_the_events_it_read(warehouse, project, lake, spark):
    with poa.Workbench(warehouse) as wb:
        on = poa.report.weekly(wb, engine="spark", spark_events=str(lake), spark=spark)
        on.show("stamp")
        last = wb.sql("SELECT max(ts) AS t FROM events").t[0]
        on.metrics.close()
    stamp = next(obj for kind, obj in on.outputs if kind == "table").set_index("what").value
    assert stamp["event metrics on"] == f"spark: {lake}"
    assert stamp["last event on spark"] == pd.Timestamp(last).isoformat()
    assert stamp["parameter engine"] == "spark"
