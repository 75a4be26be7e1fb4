"""The Spark engine itself (issue 13): reading events from a lake, the canonical schema, what it
refuses, and that it leaves the session as it found it. The metric journeys run on both engines
in their own modules (conftest's ``engine_wb``)."""

from __future__ import annotations

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.spark import SparkWorkbench
from poanalytics.spark.runner import spark_sql
from tests.engines import spark_frame
from tests.journeys import load

D = 86400
JOURNEYS = {
    "a": [(0, "signup", {"plan": "pro"}), (D, "use"), (9 * D, "use"), (30 * D, "use")],
    "b": [(2 * D, "signup", {"plan": "free"}), (3 * D, "use"), (16 * D, "use")],
    "c": [(8 * D, "signup"), (8 * D, "use"), (40 * D, "use", {"plan": "pro"})],
    "d": [(-3 * D, "signup", {"plan": "free"}), (20 * D + 3600, "use")],
}
CALLS = [
    ("retention", {"start_event": "signup", "return_event": "use", "intervals": 4}),
    ("retention", {"period": "day", "intervals": 10, "cohort": "first_time"}),
    ("lifecycle", {"event": "use", "segment": "plan", "timezone": "Asia/Kolkata"}),
    ("stickiness", {"period": "month"}),
    ("churn", {"inactive_days": 7, "segment": "plan"}),
    ("survival", {"signup_event": "signup", "inactive_days": 7, "by": "plan"}),
    ("funnel", {"steps": ["signup", "use", "use"], "window": "10d", "breakdown": "plan"}),
    ("funnel", {"steps": ["use", "signup"], "window": "30d", "order": "unordered"}),
    ("paths", {"start_event": "signup", "steps": 4}),
]


@pytest.fixture
def lake(wb_file, tmp_path):
    """A warehouse file holding JOURNEYS, and its events exported as day-partitioned Parquet."""
    load(wb_file, JOURNEYS)
    folder = tmp_path / "lake" / "events"
    report = wb_file.export_events(folder)
    assert report.rows == sum(len(v) for v in JOURNEYS.values())
    return wb_file, folder


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


@pytest.mark.parametrize(("call", "kwargs"), CALLS)
def test_the_exported_parquet_answers_as_the_warehouse(spark, lake, call, kwargs):
    """The README's round trip: export events -> Spark reads the folder as it is -> same tables."""
    wb, folder = lake
    on = wb.on_spark(spark, events=str(folder))
    try:
        expected = getattr(wb, call)(**kwargs)
        got = getattr(on, call)(**kwargs)
        same(expected.table, got.table)
        assert on.view in got.sql and on.view not in expected.sql  # the text that ran on Spark
    finally:
        on.close()


def test_a_table_name_and_a_dataframe_answer_alike(spark, lake):
    wb, folder = lake
    frame = spark.read.parquet(str(folder))
    frame.createOrReplaceTempView("lake_events")
    expected = wb.churn(inactive_days=7).table
    for events in ("lake_events", frame, spark_frame(spark, wb)):
        with SparkWorkbench(spark, events) as on:
            same(expected, on.churn(inactive_days=7).table)


def test_the_session_time_zone_is_used_as_utc_and_restored(spark, lake):
    """Instants are read in UTC whatever the session's zone, and the zone is put back."""
    wb, folder = lake
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        with wb.on_spark(spark, events=folder) as on:
            same(wb.lifecycle(period="day").table, on.lifecycle(period="day").table)
            same(
                wb.survival("signup", 7, by="cohort").table,
                on.survival("signup", 7, by="cohort").table,
            )
        assert spark.conf.get("spark.sql.session.timeZone") == "America/New_York"
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


def test_validation_reads_the_events_names_and_keys_from_spark(spark, lake):
    wb, folder = lake
    with wb.on_spark(spark, events=folder) as on:
        assert on.event_names() == ["signup", "use"]
        assert on.property_keys() == ["plan"]
        with pytest.warns(poa.PoaWarning, match="no event is called 'sigup'"):
            r = on.retention("sigup", "use")
        assert r.table.empty or int(r.table.cohort_size.fillna(0).sum()) == 0
        with pytest.raises(poa.MetricError) as err:
            on.lifecycle(segment="plann")
        assert err.value.code == "lifecycle.unknown_property" and "'plan'" in str(err.value)
        assert "on.property_keys()" in err.value.hint
        with pytest.raises(poa.MetricError) as err:
            on.retention("signup", poa.Step("use", where={"plan": poa.Prop.regex("(?<=x)")}))
        assert err.value.code == "step.filter_regex"  # RE2's rules on both engines


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start_event": "signup"},
        {"end_event": "use", "steps": 3, "collapse_repeats": False},
        {"start_event": poa.Step("signup", where={"plan": "pro"}), "occurrence": "every"},
        {"window": "10d", "date_from": "2024-03-05", "exclude_events": ["signup"]},
    ],
)
def test_paths_answer_on_spark_as_on_the_warehouse(spark, lake, kwargs):
    """Paths (no longer spark.unsupported): the same edges, sequences and users as DuckDB's, from
    statements that ran on Spark over the lake."""
    wb, folder = lake
    expected = wb.paths(**kwargs)
    with wb.on_spark(spark, events=folder) as on:
        got = on.paths(**kwargs)
        same(expected.edges, got.edges)
        same(expected.sequences, got.sequences)
        assert got.users == expected.users > 0 and got.title == expected.title
        assert on.view in got.sql and "CREATE TEMP TABLE" not in got.sql
        # one statement: the edges and the sequences over the node rows, computed inside it
        assert [q for q in on.runner.log if "pa_nodes" in q] == [spark_sql(got.sql)]


def test_a_funnel_result_answers_its_users_on_spark(spark, lake):
    """users() and dropped() re-run the per-unit query on Spark: the same ids as DuckDB's."""
    wb, folder = lake
    kwargs = {"steps": ["signup", "use", "use"], "window": "10d", "breakdown": "plan"}
    expected = wb.funnel(**kwargs)
    with wb.on_spark(spark, events=folder) as on:
        got = on.funnel(**kwargs)
        assert got.con is on.runner and "unix_micros" in got.per_user_table
        queries = len(on.runner.log)
        for step in (1, 2, 3):
            assert got.users(step) == expected.users(step), step
        assert got.users(2, breakdown_value="free") == expected.users(2, breakdown_value="free")
        assert got.dropped(3) == expected.dropped(3) and got.dropped(2) == expected.dropped(2)
        assert len(on.runner.log) == queries + 6  # each ran on Spark
        assert got.figure() is not None and not got.summary_table().empty


def test_funnel_views_answer_on_spark_as_on_duckdb(spark, lake):
    """trend, compare, conversion times, call-outs and correlation re-run the per-unit query on
    Spark and give DuckDB's tables, column types included."""
    wb, folder = lake
    kwargs = {"steps": ["signup", "use", "use"], "window": "10d", "breakdown": "plan"}
    expected = wb.funnel(**kwargs, date_from="2024-03-04", date_to="2024-03-17")
    with wb.on_spark(spark, events=folder) as on:
        got = on.funnel(**kwargs, date_from="2024-03-04", date_to="2024-03-17")
        queries = len(on.runner.log)
        views = {
            "trend": lambda f: f.trend("week"),
            "trend by attempt": lambda f: f.trend("day", step=2, by="attempt"),
            "conversion times": lambda f: f.conversion_times(3, from_step=1),
            "call-outs": lambda f: f.callouts(),
            "compare": lambda f: f.compare().table,
            "property correlation": lambda f: f.correlation(kind="properties", min_users=1).table,
        }
        for name, view in views.items():
            want, have = view(expected), view(got)
            assert not want.empty, name  # the journeys give each view rows to compare
            pd.testing.assert_frame_equal(have, want, obj=name)
        # each ran on Spark: 4 views; compare runs the other range's funnel and both counts;
        # correlation its totals, the step-1 events' keys and the counts (the event journeys of
        # tests/test_funnel_correlation.py run on both engines)
        assert len(on.runner.log) == queries + 10
        assert got.trend_figure("week") is not None and got.times_figure(2) is not None


def test_a_funnel_result_answers_its_dropoff_paths_on_spark(spark, lake):
    """dropoff_paths re-runs the per-unit query inside its paths statements on Spark: the same
    next events, edges and sequences as DuckDB's."""
    wb, folder = lake
    kwargs = {"steps": ["signup", "use", "use"], "window": "10d"}
    expected = wb.funnel(**kwargs)
    with wb.on_spark(spark, events=folder) as on:
        got = on.funnel(**kwargs)
        for step, horizon in ((2, None), (3, "30d")):
            queries = len(on.runner.log)
            d, e = (
                got.dropoff_paths(step, horizon=horizon),
                expected.dropoff_paths(step, horizon=horizon),
            )
            assert len(on.runner.log) == queries + 2  # the edges and sequences, the next events
            assert d.droppers == e.droppers > 0, step
            for a, b in ((e.table, d.table), (e.edges, d.edges), (e.sequences, d.sequences)):
                same(a, b)
            assert on.view in d.sql and d.title == e.title


def test_events_without_the_load_order_still_answer(spark, lake):
    """Without ``seq`` ties at one instant have no load order; these journeys have no ties, so
    every table is the same."""
    wb, folder = lake
    frame = spark.read.parquet(str(folder)).drop("seq")
    with pytest.warns(poa.PoaWarning, match="no seq column"), SparkWorkbench(spark, frame) as on:
        assert not on.load_order
        r = on.retention("signup", "use")
        same(wb.retention("signup", "use").table, r.table)
        assert [w.code for w in r.warnings] == ["spark.no_load_order"]  # flagged, not guessed


def test_properties_as_a_map_are_read_as_json(spark, lake):
    wb, folder = lake
    frame = spark.read.parquet(str(folder)).selectExpr(
        "user_id", "event", "ts", "seq", "from_json(properties, 'map<string,string>') AS properties"
    )
    with SparkWorkbench(spark, frame) as on:
        same(wb.churn(7, segment="plan").table, on.churn(7, segment="plan").table)


@pytest.mark.parametrize(
    ("select", "code", "words"),
    [
        ("user_id, event", "spark.events_schema", "no ts"),
        ("user_id, event, CAST(ts AS TIMESTAMP_NTZ) AS ts", "spark.events_schema", "TIMESTAMP_NTZ"),
        ("user_id, event, ts, 1.5 AS seq", "spark.events_schema", "'seq' is decimal"),
    ],
)
def test_events_outside_the_canonical_schema_are_refused(spark, lake, select, code, words):
    wb, folder = lake
    frame = spark.read.parquet(str(folder)).selectExpr(*select.split(", "))
    with pytest.raises(poa.MetricError) as err:
        SparkWorkbench(spark, frame)
    assert err.value.code == code and words in str(err.value)


def test_unreadable_events_are_coded(spark, tmp_path):
    for events, code in [
        (tmp_path / "nothing-here", "spark.events_unreadable"),
        ("no_such_catalog.no_such_table", "spark.events_unreadable"),
        (42, "spark.events_type"),
    ]:
        with pytest.raises(poa.MetricError) as err:
            SparkWorkbench(spark, events)
        assert err.value.code == code, events


def test_a_property_spark_cannot_address_is_refused(spark, wb):
    load(wb, {"a": [(0, "signup", {"it's": "x"})]})
    with wb.on_spark(spark, events=spark_frame(spark, wb)) as on:
        with pytest.raises(poa.MetricError) as err:
            on.lifecycle(segment="it's")
        assert err.value.code == "spark.property_name"


def test_java_missing_is_a_coded_error(monkeypatch, tmp_path):
    from poanalytics.spark.session import require_java

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(poa.ConfigError) as err:
        require_java()
    assert err.value.code == "spark.java_missing" and "openjdk" in err.value.hint


def test_the_engine_parameter_picks_what_answers(spark, lake):
    """Notebooks' and reports' ``engine``: "duckdb" is the warehouse itself, "spark" a Spark
    workbench over the events given; anything else, or Spark without events, is a coded error."""
    wb, folder = lake
    assert wb.metrics_engine("duckdb") is wb
    with wb.metrics_engine("spark", str(folder), spark=spark) as on:
        same(wb.stickiness().table, on.stickiness().table)
    for engine, events, code in [
        ("sparc", None, "engine.unknown"),
        ("spark", "", "engine.spark_events"),
    ]:
        with pytest.raises(poa.ConfigError) as err:
            wb.metrics_engine(engine, events, spark=spark)
        assert err.value.code == code
    assert "'spark'" in str(pytest.raises(poa.ConfigError, wb.metrics_engine, "sparc").value)


def test_a_heavily_skewed_user_gives_the_same_answers(spark, wb, tmp_path):
    """One user with far more events than the rest (a bot; 30,000 events here, a million in
    benchmarks/spark.py --skew): every per-user step is a window or aggregate partitioned by user,
    so the user is one (long) task, and the numbers are DuckDB's."""
    import duckdb

    load(wb, JOURNEYS)
    with duckdb.connect() as con:
        bot = con.sql(
            "SELECT 'bot' AS user_id, CASE WHEN i % 3 = 0 THEN 'signup' ELSE 'use' END AS event, "
            "TIMESTAMPTZ '2024-03-04 00:00:00+00' + to_seconds(i * 97) AS ts "
            "FROM range(30000) t(i)"
        ).df()
    wb.load_events(bot)
    folder = tmp_path / "skewed"
    wb.export_events(folder)
    with wb.on_spark(spark, events=folder) as on:
        for call, kwargs in CALLS:
            same(getattr(wb, call)(**kwargs).table, getattr(on, call)(**kwargs).table)


def test_rows_that_are_not_events_are_counted_and_named(spark, lake):
    """A lake table may hold rows without a user, event or time: they are left out of every
    metric, and every result says how many (spark.rows_left_out), once per workbench."""
    wb, folder = lake
    good = spark.read.parquet(str(folder))
    bad = good.limit(3).selectExpr(
        "CAST(NULL AS STRING) AS user_id", "event", "ts", "session_id", "properties", "seq", "day"
    )
    warned = pytest.warns(poa.PoaWarning, match="3 rows of the events have no user_id")
    with warned, SparkWorkbench(spark, good.unionByName(bad, allowMissingColumns=True)) as on:
        r = on.retention("signup", "use")
        again = on.churn(7)
    same(wb.retention("signup", "use").table, r.table)
    assert [w.code for w in r.warnings] == ["spark.rows_left_out"]
    assert [w.code for w in again.warnings] == ["spark.rows_left_out"]
    with SparkWorkbench(spark, good) as on:
        assert on.churn(7).warnings == []


def test_a_question_of_ones_own_answers_alike_on_both_engines(spark, lake):
    """``events_query``: one build function, the engine's spelling, values bound on both."""
    wb, folder = lake

    def build(q):
        since = pd.Timestamp("2024-03-05", tz="UTC")
        return (
            f"SELECT coalesce({q.property('plan')}, '(none)') AS plan, "
            f"count(DISTINCT user_id) AS users, count(*) AS events FROM {q.events} "
            f"WHERE ts >= {q.instant(since)} AND event <> {q.value('signup')} "
            "GROUP BY 1 ORDER BY 1"
        )

    expected = wb.events_query(build)
    assert list(expected.plan) == ["(none)", "pro"] and list(expected.events) == [7, 1]
    with wb.on_spark(spark, events=folder) as on:
        same(on.events_query(build), expected)
        assert "'signup'" not in on.runner.log[-1]  # bound, not pasted
        with pytest.raises(poa.MetricError) as err:
            on.events_query(lambda q: None)
        assert err.value.code == "metric.events_query"
