"""Every public metric reads its parameters through one validation module (metrics/validate.py):
hostile values are answered or refused with a coded error, never a raw exception, never SQL damage."""

from __future__ import annotations

import inspect
import math
import warnings
from datetime import timedelta

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics import Exclusion, Step
from tests.journeys import counts, load

D = 86400
INJECTION = "x'; DROP TABLE events; --"
HOSTILE = [
    "",
    INJECTION,
    'plan"); DROP TABLE events; --',
    "ünïcødé ☃ 名前",
    True,
    False,
    math.nan,
    math.inf,
    -math.inf,
    -1,
    0,
    7,
    2.5,
    10**30,
    -(10**30),
    [],
    {},
    ["signed_up"],
    [INJECTION, None],
    (1, 2),
    object(),
    "2024-02-30",
    "not a date",
    20240101,
    1700000000,
    "-3d",
    "0s",
    timedelta(days=-1),
    [Exclusion(INJECTION, 0, 1)],
    [Exclusion("tour", True, 1)],
    [Step("signed_up", where={"plan": INJECTION}), Step(None, where=[("plan", "regex", ".*")])],
    Step("activated", where=[("amount", ">", 10), ("plan", "not_in", ["free", INJECTION])]),
]


def journeys() -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for i in range(12):
        plan = "pro" if i % 2 else "free"
        events = [(i * 3600, "signed_up", {"plan": plan, "invoice": f"C{i}" if i % 3 else f"A{i}"})]
        if i % 3:
            events.append((i * 3600 + 600, "tour", {"plan": plan}))
        if i % 4:
            events.append((i * 3600 + 1200, "activated", {"plan": plan, "amount": i * 10}))
        events.append((i * 3600 + 8 * D, "activated", {"plan": plan}))
        out[f"u{i:02d}"] = events
    return out


@pytest.fixture(scope="module")
def shared_wb():
    wb = poa.Workbench(":memory:")
    load(wb, journeys())
    yield wb
    wb.close()


def fingerprint(wb: poa.Workbench) -> tuple:
    row = wb.sql(
        "SELECT count(*) AS n, sum(hash(user_id, event, ts, properties::VARCHAR)) AS h FROM events"
    )
    return (int(row.n[0]), int(row.h[0]))


def _call(fn, kwargs: dict) -> str | None:
    """None when ``fn`` answered or refused with a coded PoaError; else what went wrong."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", poa.PoaWarning)
            out = fn(**kwargs)
            if hasattr(out, "figure") and callable(out.figure):
                out.figure()
    except poa.PoaError as exc:
        if not (isinstance(exc.code, str) and "." in exc.code and exc.hint):
            return f"{kwargs!r}: uncoded {exc!r}"
        return None
    except Exception as exc:  # what this test exists to catch
        return f"{kwargs!r}: {type(exc).__name__}: {exc}"
    return None


def battery(fn, base: dict, skip: tuple[str, ...] = ()) -> list[str]:
    failures = []
    for name in inspect.signature(fn).parameters:
        if name in skip:
            continue
        for value in HOSTILE:
            problem = _call(fn, {**base, name: value})
            if problem:
                failures.append(problem)
    return failures


METRICS = {
    "funnel": ({"steps": ["signed_up", "activated"], "window": "7d"}, ()),
    "retention": ({"start_event": "signed_up", "return_event": "activated"}, ()),
    "lifecycle": ({}, ()),
    "stickiness": ({}, ()),
    "churn": ({"inactive_days": 3}, ()),
    "survival": ({"inactive_days": 3}, ()),
    "paths": ({"start_event": "signed_up"}, ()),
}


@pytest.mark.parametrize("metric", list(METRICS))
def test_every_metric_answers_or_refuses_hostile_parameters_with_a_code(shared_wb, metric):
    before = fingerprint(shared_wb)
    base, skip = METRICS[metric]
    failures = battery(getattr(shared_wb, metric), base, skip)
    assert not failures, "\n".join(failures[:40])
    assert fingerprint(shared_wb) == before


FUNNEL_METHODS = [
    "users",
    "dropped",
    "trend",
    "trend_figure",
    "conversion_times",
    "times_figure",
    "callouts",
    "correlation",
    "dropoff_paths",
    "compare",
]


@pytest.mark.parametrize("method", FUNNEL_METHODS)
def test_funnel_result_methods_answer_or_refuse_hostile_parameters(shared_wb, method):
    before = fingerprint(shared_wb)
    f = shared_wb.funnel(
        ["signed_up", "tour", "activated"],
        window="1d",
        breakdown="plan",
        date_from="2024-03-04",
        date_to="2024-03-05",  # a range, so compare() has something to compare
    )
    fn = getattr(f, method)
    required = {
        n: 2
        for n, p in inspect.signature(fn).parameters.items()
        if p.default is inspect.Parameter.empty
    }
    failures = battery(fn, required)
    assert not failures, "\n".join(failures[:40])
    assert fingerprint(shared_wb) == before


@pytest.mark.parametrize("value", [7, 7.0, "7", 3600, True, math.nan, math.inf, -1, 0, "-7d"])
def test_a_window_needs_a_unit(shared_wb, value):
    """A bare number was read as seconds: window=7 (or papermill's -p window 7) gave empty charts."""
    with pytest.raises(poa.MetricError) as info:
        shared_wb.funnel(["signed_up", "activated"], window=value)
    assert info.value.code.startswith("funnel.window")
    with pytest.raises(poa.MetricError) as info:
        shared_wb.paths("signed_up", window=value)
    assert info.value.code.startswith("paths.window")


def test_bare_numbers_ask_for_a_unit_and_units_and_timedeltas_are_read(shared_wb):
    with pytest.raises(poa.MetricError) as info:
        shared_wb.funnel(["signed_up", "activated"], window=7)
    assert info.value.code == "funnel.window_unit" and "'7d'" in str(info.value)
    f = shared_wb.funnel(["signed_up", "activated"], window="7d")
    for same in (timedelta(days=7), pd.Timedelta(days=7), "7 days", "1w", "168h", " 7D "):
        assert counts(shared_wb.funnel(["signed_up", "activated"], window=same)) == counts(f)
    with pytest.raises(poa.MetricError) as info:
        f.dropoff_paths(2, horizon=6)
    assert info.value.code == "funnel.horizon_unit"


def test_steps_given_as_one_string_are_refused_clearly(shared_wb):
    with pytest.raises(poa.MetricError) as info:
        shared_wb.funnel("signed_up,activated")
    assert info.value.code == "funnel.steps_type"
    assert "['signed_up', 'activated']" in str(info.value)  # not "no event is called 's'"


@pytest.mark.parametrize("metric", ["retention", "lifecycle", "stickiness", "churn"])
def test_calendar_metrics_refuse_unreadable_and_swapped_dates(shared_wb, metric):
    fn = getattr(shared_wb, metric)
    with pytest.raises(poa.MetricError) as info:  # was DuckDB's ConversionException
        fn(date_from="2024-02-30")
    assert info.value.code == "metric.date"
    with pytest.raises(poa.MetricError) as info:  # was an empty table
        fn(date_from="2024-04-01", date_to="2024-03-01")
    assert info.value.code == f"{metric}.date_range"


def test_numeric_dates_are_yyyymmdd_never_epoch_seconds(shared_wb):
    as_text = shared_wb.funnel(["signed_up", "activated"], window="7d", date_from="2024-03-04")
    as_int = shared_wb.funnel(["signed_up", "activated"], window="7d", date_from=20240304)
    assert counts(as_int) == counts(as_text)
    assert as_int.plan.date_from == pd.Timestamp("2024-03-04", tz="UTC")
    late = shared_wb.funnel(["signed_up", "activated"], window="7d", date_from=20240305)
    assert counts(late)[0] < counts(as_text)[0]
    r_int = shared_wb.retention("signed_up", date_from=20240304, date_to=20240311)
    r_text = shared_wb.retention("signed_up", date_from="2024-03-04", date_to="2024-03-11")
    pd.testing.assert_frame_equal(r_int.table, r_text.table)
    for value in (1700000000, 2024, 20241332, 1.5e9, "1700000000"):
        with pytest.raises(poa.MetricError) as info:
            shared_wb.funnel(["signed_up", "activated"], date_from=value)
        assert info.value.code == "metric.date" and "YYYYMMDD" in str(info.value)


def test_retention_and_friends_refuse_what_used_to_reach_sql(shared_wb):
    cases = [
        (lambda: shared_wb.retention(intervals=True), "retention.intervals"),
        (lambda: shared_wb.retention(intervals=8.0), "retention.intervals"),
        (lambda: shared_wb.retention(cumulative="yes"), "retention.cumulative"),
        (lambda: shared_wb.retention(period=["week"]), "retention.period"),
        (lambda: shared_wb.churn(segment="plann"), "churn.unknown_property"),  # was one '' segment
        (lambda: shared_wb.churn(inactive_days=True), "churn.inactive_days"),
        (lambda: shared_wb.survival(by="plann"), "survival.unknown_property"),
        (lambda: shared_wb.survival(max_days=-1), "survival.max_days"),
        (lambda: shared_wb.lifecycle(timezone=3), "lifecycle.timezone"),
        (lambda: shared_wb.funnel(["signed_up", "activated"], window=math.nan), None),
        (lambda: shared_wb.funnel(["signed_up", "activated"]).conversion_times("x"), "funnel.step"),
        (lambda: shared_wb.funnel(["signed_up", "activated"]).trend(step=True), "funnel.step"),
        (lambda: shared_wb.funnel(["signed_up", "activated"]).callouts(step="2"), "funnel.step"),
    ]
    for call, code in cases:
        with pytest.raises(poa.MetricError) as info:
            call()
        assert code is None or info.value.code == code, (code, info.value)


def test_duckdb_errors_that_escape_are_wrapped_with_the_query(wb):
    load(wb, {"u": [(0, "signed_up"), (60, "activated")]})
    # an unusual warehouse: events is a view whose times are text
    wb.con.execute("ALTER TABLE events RENAME TO events_raw")
    wb.con.execute(
        "CREATE VIEW events AS SELECT user_id, event, 'soon' AS ts, properties FROM events_raw"
    )
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(["signed_up", "activated"])
    err = info.value
    assert err.code == "metric.engine" and "funnel" in str(err) and "What to do" in str(err)
    assert "per_unit" in err.sql and isinstance(err.params, dict)  # the failing statement
    for call in (lambda: wb.retention(), lambda: wb.lifecycle(), lambda: wb.churn()):
        with pytest.raises(poa.MetricError) as info:
            call()
        assert info.value.code == "metric.engine" and info.value.sql


def poa_tables(wb: poa.Workbench) -> list[str]:
    return list(
        wb.sql(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_\\_poa\\_%' ESCAPE '\\'"
        ).table_name
    )


def temp_tables(wb: poa.Workbench) -> list[str]:
    return list(wb.sql("SELECT table_name FROM duckdb_tables() WHERE temporary").table_name)


def test_funnel_results_hold_no_temp_table(wb, monkeypatch):
    """Results are stateless (issue 12): a funnel keeps its query, SQL and values, never a table on
    the connection; its views re-run the per-unit query; close() still refuses them."""
    shared_wb = load(wb, journeys())
    f = shared_wb.funnel(["signed_up", "activated"], window="1d")
    assert temp_tables(shared_wb) == [] and poa_tables(shared_wb) == []
    assert f.users(2) and f.trend() is not None  # served by re-running the per-unit query
    assert f.per_user_table.startswith("(") and f.params
    assert temp_tables(shared_wb) == []
    g = shared_wb.funnel(["signed_up", "activated"], window="1d")
    assert g.users(2) == f.users(2)
    g.close()
    with pytest.raises(poa.MetricError) as info:
        g.users(2)
    assert info.value.code == "funnel.closed"
    assert f.users(2)  # another result is not affected

    import poanalytics.metrics.funnel as funnel_module

    def broken(raw, plan):
        raise RuntimeError("failed after the per-unit rows were counted")

    monkeypatch.setattr(funnel_module, "_finish", broken)
    with pytest.raises(RuntimeError):
        shared_wb.funnel(["signed_up", "activated"], window="1d")
    assert temp_tables(shared_wb) == []


def test_a_funnel_result_reads_the_file_again_after_the_call(wb_file, tmp_path):
    """The Workbench holds the file only during a call (db.Session): a result's later view attaches
    it again; in between another connection can write the file (nothing holds it open)."""
    import duckdb

    load(wb_file, journeys())
    f = wb_file.funnel(["signed_up", "activated"], window="1d")
    users = f.users(2)
    other = duckdb.connect(wb_file.path)  # a writer: only possible while nobody holds the file
    other.execute("CREATE TABLE scratch AS SELECT 1 AS x")
    other.close()
    assert f.users(2) == users and f.dropped(2) == f.dropped(2)
    assert not f.trend().empty and not f.conversion_times(2).empty


# -- F13: an event with no data yet gives zeros and a warning, not an error -------------------


def test_a_funnel_step_without_data_gives_zeros_and_a_warning(shared_wb):
    with pytest.warns(poa.PoaWarning, match="Did you mean 'activated'") as caught:
        f = shared_wb.funnel(["signed_up", "activatd", "activated"], window="7d")
    assert caught[0].filename == __file__  # points at the caller's line, not poanalytics' insides
    assert counts(f) == [12, 0, 0]
    assert [w.code for w in f.warnings] == ["funnel.missing_event"]
    assert caught[0].message.code == "funnel.missing_event"
    with pytest.warns(poa.PoaWarning):
        x = shared_wb.funnel(
            ["signed_up", "activated"], window="7d", exclusions=[Exclusion("refund", 0, 1)]
        )
    plain = shared_wb.funnel(["signed_up", "activated"], window="7d")
    assert counts(x) == counts(plain) == [12, 9] and x.warnings[0].code == "funnel.missing_event"
    with pytest.raises(poa.MetricError) as info:
        shared_wb.funnel(["signed_up", "activatd"], strict=True)
    assert info.value.code == "funnel.unknown_event"


@pytest.mark.parametrize(
    ("metric", "kwargs"),
    [
        ("retention", {"start_event": "signed_up", "return_event": "new_feature"}),
        ("retention", {"start_event": "new_feature"}),
        ("lifecycle", {"event": "new_feature"}),
        ("stickiness", {"event": "new_feature"}),
        ("churn", {"event": "new_feature"}),
        ("survival", {"signup_event": "new_feature"}),
        ("paths", {"start_event": "new_feature"}),
    ],
)
def test_other_metrics_warn_about_events_without_data(shared_wb, metric, kwargs):
    fn = getattr(shared_wb, metric)
    with pytest.warns(poa.PoaWarning, match="new_feature") as caught:
        result = fn(**kwargs)
    assert caught[0].filename == __file__
    assert [w.code for w in result.warnings] == [f"{metric}.missing_event"]
    if metric == "retention" and "return_event" in kwargs:
        assert (result.table[result.table.interval > 0].users.fillna(0) == 0).all()
    elif metric == "lifecycle":
        assert (result.table[["new", "returning", "resurrecting", "dormant"]] == 0).all().all()
    else:
        assert result.table.empty or metric == "survival" and len(result.table) == 0
    with pytest.raises(poa.MetricError) as info:
        fn(**kwargs, strict=True)
    assert info.value.code == f"{metric}.unknown_event"


# -- step filters beyond equality -----------------------------------------------------------


def purchases(wb: poa.Workbench) -> poa.Workbench:
    load(
        wb,
        {
            "buyer": [(0, "visit"), (10, "purchase", {"invoice": "5001", "amount": 30})],
            "canceller": [(0, "visit"), (10, "purchase", {"invoice": "C5002", "amount": -30})],
            "big": [(0, "visit"), (10, "purchase", {"invoice": "5003", "amount": 900})],
            "nameless": [(0, "visit"), (10, "purchase", {"amount": 5})],
            "odd": [(0, "visit"), (10, "purchase", {"invoice": "c5004", "amount": "n/a"})],
        },
    )
    return wb


@pytest.mark.parametrize(
    ("where", "reached"),
    [
        ({"invoice": poa.Prop.starts_with("C")}, ["canceller"]),
        ([("invoice", "starts_with", "C")], ["canceller"]),
        ({"invoice": poa.Prop.ne("5001")}, ["big", "canceller", "nameless", "odd"]),
        ([("invoice", "!=", "5001")], ["big", "canceller", "nameless", "odd"]),
        ({"invoice": poa.Prop.is_in(["5001", "5003"])}, ["big", "buyer"]),
        ({"invoice": poa.Prop.not_in(["5001", "5003"])}, ["canceller", "nameless", "odd"]),
        ({"invoice": poa.Prop.contains("500")}, ["big", "buyer", "canceller", "odd"]),
        ({"invoice": poa.Prop.not_contains("C")}, ["big", "buyer", "nameless", "odd"]),
        ({"invoice": poa.Prop.ends_with("3")}, ["big"]),
        ({"invoice": poa.Prop.regex("(?i)^c")}, ["canceller", "odd"]),
        ({"invoice": poa.Prop.not_regex("^[0-9]+$")}, ["canceller", "nameless", "odd"]),
        ({"amount": poa.Prop.gt(30)}, ["big"]),
        ({"amount": poa.Prop.gte(30)}, ["big", "buyer"]),
        ([("amount", ">", 0), ("amount", "<", 100)], ["buyer", "nameless"]),
        ({"amount": poa.Prop.lte(-1)}, ["canceller"]),
        ({"invoice": poa.Prop.is_set()}, ["big", "buyer", "canceller", "odd"]),
        ([("invoice", "is_not_set")], ["nameless"]),
        ({"invoice": INJECTION}, []),
    ],
)
@pytest.mark.parametrize("strategy", ["ranks", "lists", "asof", "window", "unordered"])
def test_step_filters_in_every_funnel_strategy(wb, where, reached, strategy):
    purchases(wb)
    order = "unordered" if strategy == "unordered" else "ordered"
    q = poa.metrics.FunnelQuery(
        steps=["visit", Step("purchase", where=where)], window="1h", order=order
    )
    f = poa.metrics.run_funnel(wb.con, q, strategy=strategy)
    assert f.users(2) == reached
    assert wb.sql("SELECT count(*) AS n FROM events").n[0] == 10


def test_step_filters_on_retention_return_events(shared_wb):
    plain = shared_wb.retention("signed_up", "activated", intervals=1)
    assert plain.table.users.tolist() == [12, 12]  # everyone activates again 8 days later
    # ... but those later activations carry no amount
    filtered = shared_wb.retention(
        "signed_up", Step("activated", where=[("amount", "is_set")]), intervals=1
    )
    assert filtered.table.users.tolist() == [12, 0]


def test_step_filters_in_exclusions_retention_lifecycle_and_paths(wb):
    purchases(wb)
    cancel = poa.Prop.starts_with("C")
    f = wb.funnel(
        ["visit", Step("purchase", where={"amount": poa.Prop.gte(0)})],
        window="1h",
        exclusions=[Exclusion("purchase", 0, 1, where={"invoice": cancel})],
    )
    assert f.users(2) == ["big", "buyer", "nameless"]
    r = wb.retention(Step("purchase", where={"invoice": cancel}), period="day", intervals=1)
    assert r.table.cohort_size.tolist() == [1, 1]

    life = wb.lifecycle(Step("purchase", where=[("amount", "gt", 100)]), period="day")
    assert life.table.new.sum() == 1
    p = wb.paths(end_event=Step("purchase", where={"invoice": cancel}), steps=2)
    assert p.users == 1 and "invoice starts_with 'C'" in p.title


@pytest.mark.parametrize(
    ("where", "code", "says"),
    [
        ([("invoice", "startswith", "C")], "step.filter_operator", "Did you mean 'starts_with'"),
        ([("invoice", "betwen", 1)], "step.filter_operator", "use one of"),
        ({"invoice": poa.Prop.gt("10")}, "step.filter_value", "finite number"),
        ({"invoice": poa.Prop.gt(True)}, "step.filter_value", "finite number"),
        ({"invoice": poa.Prop.lt(math.nan)}, "step.filter_value", "finite number"),
        ({"invoice": poa.Prop.is_in("5001")}, "step.filter_value", "list"),
        ({"invoice": poa.Prop.is_in([])}, "step.filter_value", "non-empty"),
        ({"invoice": poa.Prop.starts_with("")}, "step.filter_value", "non-empty text"),
        ({"invoice": None}, "step.filter_value", "is_not_set"),
        ({"invoice": ["5001"]}, "step.filter_value", "is_in"),
        ({"": "x"}, "step.filter_property", "property"),
        ("invoice=C", "step.where_type", "dict"),
        ([("invoice",)], "step.where_type", "(property, operator, value)"),
    ],
)
def test_step_filter_mistakes_are_refused_with_codes(where, code, says):
    with pytest.raises(poa.MetricError) as info:
        Step("purchase", where=where)
    assert info.value.code == code and says in str(info.value)


def test_regexes_duckdb_cannot_read_and_unknown_filter_properties_are_refused(wb):
    purchases(wb)
    with pytest.raises(poa.MetricError) as info:
        wb.funnel(["visit", Step("purchase", where={"invoice": poa.Prop.regex("(?<=C)5")})])
    assert info.value.code == "step.filter_regex"
    with pytest.raises(poa.MetricError) as info:
        wb.retention(Step("purchase", where={"invoce": poa.Prop.is_set()}))
    assert info.value.code == "retention.unknown_property" and "Did you mean 'invoice'" in str(
        info.value
    )


def test_a_metric_out_of_memory_names_the_setting_and_leaves_no_temp_table(wb):
    wb.con.execute(
        """CREATE TEMP TABLE src AS SELECT 'u' || (i % 20000) AS user_id,
           ['a', 'b', 'c'][1 + (hash(i) % 3)::INT] AS event,
           TIMESTAMPTZ '2026-01-01' + to_seconds(i) AS ts FROM range(200000) t(i)"""
    )
    wb.load_events(wb.sql("SELECT * FROM src"))
    wb.con.execute("DROP TABLE src")
    wb.con.execute("SET memory_limit = '2MB'")
    with pytest.raises(poa.PoaError) as info:  # was a raw duckdb.OutOfMemoryException
        wb.funnel(["a", "b", "c"], window="7d")
    assert info.value.code == "db.out_of_memory" and "memory_limit" in info.value.hint
    wb.con.execute("RESET memory_limit")
    assert poa_tables(wb) == []


@pytest.mark.parametrize(
    "query",
    [
        poa.metrics.FunnelQuery,
        poa.metrics.PathsQuery,
        poa.metrics.RetentionQuery,
        poa.metrics.LifecycleQuery,
        poa.metrics.ChurnQuery,
        poa.metrics.SurvivalQuery,
        poa.metrics.CorrelationQuery,
    ],
)
def test_query_objects_take_every_parameter_by_keyword(query):
    # a parameter given by position would be swapped silently by a reordered field (issue 12:
    # even the first is named now; tests/test_query_keywords.py checks every query class)
    with pytest.raises(TypeError):
        query("a", "b")
    with pytest.raises(TypeError, match="positional"):
        query("a")
    first = next(iter(inspect.signature(query).parameters))
    assert query(**{first: "a"}) is not None
