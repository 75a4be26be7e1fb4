"""The seam between building a metric's SQL and running it (issue 12, "building a query apart from
running it"): builders turn a validated plan into SQL text with no connection; the events table is a
parameter of every builder; a runner executes the text and returns a table."""

from __future__ import annotations

import ast
import inspect
import re

import pandas as pd
import pytest

import poanalytics as poa
from poanalytics.metrics import churn, lifecycle, retention
from poanalytics.metrics.engine import DUCKDB, EVENTS, DuckDBRunner, runner_for
from poanalytics.metrics.spec import Step
from poanalytics.metrics.units import Unit
from poanalytics.sql import Params
from tests.conftest import ROOT
from tests.journeys import T0, load

D = 86400
W = 7 * D
METRICS = ROOT / "src" / "poanalytics" / "metrics"
OTHER = "events_other"  # a second events table the builders are pointed at

JOURNEYS = {
    "a": [(0, "signup", {"plan": "pro"}), (0, "e"), (W, "e"), (3 * W, "e"), (9 * W, "e")],
    "b": [(D, "signup", {"plan": "free"}), (W, "e"), (2 * W, "e")],
    "c": [(2 * W, "signup"), (2 * W + D, "e"), (5 * W, "e", {"plan": "pro"})],
    "d": [(3 * W, "signup", {"plan": "free"}), (4 * W, "e")],
}


# -- plans built by hand: plain values, no warehouse ---------------------------------------------


def _retention():
    q = poa.metrics.RetentionQuery(start_event="signup", return_event="e", intervals=4)
    plan = retention.RetentionPlan("UTC", Step("signup"), Step("e"), None, None, ())
    return q, plan


def _lifecycle(segment=None):
    q = poa.metrics.LifecycleQuery(event="e", segment=segment)
    return q, lifecycle.LifecyclePlan("UTC", Step("e"), None, None, segment)


def _churn():
    q = poa.metrics.ChurnQuery(inactive_days=14, event="e", segment="plan")
    return q, churn.ChurnPlan("UTC", 14, Step("e"), "plan", None, None)


def _survival():
    q = poa.metrics.SurvivalQuery(signup_event="signup", event="e", inactive_days=14, by="plan")
    return q, churn.SurvivalPlan(14, None, Step("signup"), Step("e"), "plan", None, None)


BUILDS = {
    "retention": lambda t: retention.retention_sql(*_retention(), Params(), table=t),
    "lifecycle": lambda t: lifecycle.lifecycle_sql(*_lifecycle("plan"), Params(), table=t),
    "stickiness": lambda t: lifecycle.stickiness_sql(*_lifecycle(), Params(), table=t),
    "churn": lambda t: churn.churn_sql(*_churn(), Params(), table=t),
    "survival": lambda t: churn.survival_sql(_survival()[1], Params(), table=t),
}


@pytest.mark.parametrize("metric", sorted(BUILDS))
def test_sql_builds_from_a_plan_without_a_warehouse(metric):
    """No connection exists in this test: the plan is plain values, the builder returns text that
    reads the table it was given and no other."""
    sql = BUILDS[metric](OTHER)
    assert isinstance(sql, str) and "SELECT" in sql
    assert f'"{OTHER}"' in sql
    assert not re.search(r"\b(FROM|JOIN)\s+\"?events\"?(\s|\)|$)", sql), sql


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False
    )


RUNS = {
    "retention": (poa.metrics.run_retention, _retention),
    "lifecycle": (poa.metrics.run_lifecycle, lambda: _lifecycle("plan")),
    "stickiness": (poa.metrics.run_stickiness, _lifecycle),
    "churn": (poa.metrics.run_churn, _churn),
}


@pytest.mark.parametrize("metric", sorted(BUILDS))
def test_built_sql_run_on_a_file_answers_as_the_metric(wb_file, metric):
    """The hand-built plan's SQL, run by a DuckDBRunner on a second events table in a real file,
    gives the metric's own answer on the events table; pointed at a table with fewer events the
    metric answers differently (the table parameter is used, not the default)."""
    load(wb_file, JOURNEYS)
    with wb_file.connection(write=True) as con:
        con.execute(f'CREATE TABLE "{OTHER}" AS SELECT * FROM events')
        con.execute("CREATE TABLE fewer AS SELECT * FROM events WHERE user_id <> 'a'")
    with wb_file.connection() as con:
        run = DuckDBRunner(con, OTHER)
        params = Params()
        if metric == "survival":
            q, plan = _survival()
            sql = churn.survival_sql(plan, params, table=run.table_name, dialect=run.dialect)
            built = churn.kaplan_meier(run.table(sql, params.used_in(sql)))
            mine = poa.metrics.run_survival(con, q).table.drop(columns=["inactive_days"])
            fewer = poa.metrics.run_survival(con, q, table="fewer").table.drop(
                columns=["inactive_days"]
            )
        else:
            fn, make = RUNS[metric]
            q, plan = make()
            builder = {
                "retention": retention.retention_sql,
                "lifecycle": lifecycle.lifecycle_sql,
                "stickiness": lifecycle.stickiness_sql,
                "churn": churn.churn_sql,
            }[metric]
            sql = builder(q, plan, params, table=run.table_name, dialect=run.dialect)
            built = run.table(sql, params.used_in(sql))
            mine = fn(con, q).table
            fewer = fn(con, q, table="fewer").table
    assert len(mine) > 0
    _same(built, mine)
    with pytest.raises(AssertionError):
        _same(fewer, mine)


def test_runner_for_a_connection_and_a_runner(wb):
    with wb.connection() as con:
        run = runner_for(con)
        assert isinstance(run, DuckDBRunner) and run.table_name == EVENTS
        assert run.dialect is DUCKDB
        assert runner_for(run) is run
        assert runner_for(con, "x").table_name == "x"
        assert run.value("SELECT $a + 1", {"a": 1}) == 2


# -- the structure: every builder takes the table, none a connection -----------------------------

# metric modules that are no builders and may name the events table: the catalog checks a query's
# names against the warehouse itself, and its fallback scans read the warehouse's own events table
# when event_catalog / property_catalog are missing or out of step (helper D's module). Every
# builder module is held to the rules below: none is pending any more.
NOT_BUILDERS: set[str] = {"catalog.py"}
HARD_CODED = re.compile(
    r"""(\b(FROM|JOIN)\s+"?events"?(\s|\)|$))|quote_ident\(\s*['"]events['"]\s*\)|table:\s*str\s*=\s*['"]events['"]""",
    re.M,
)


def _builders(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.endswith("_sql"):
            yield node


def test_no_builder_names_the_events_table():
    """Outside the catalog (no builder), no metric module writes the events table into SQL text
    or defaults a builder's table to it: the table comes from the runner."""
    bad = []
    for path in sorted(METRICS.glob("*.py")):
        if path.name in NOT_BUILDERS:
            continue
        for m in HARD_CODED.finditer(path.read_text()):
            bad.append(f"{path.name}: {m.group(0)!r}")
    assert not bad, bad


def test_builders_take_table_by_keyword_and_no_connection():
    """Every *_sql builder in metrics/ that reads events takes ``table`` by keyword with no default;
    no builder takes a connection (a parameter named con or typed as a DuckDB connection)."""
    seen, bad = 0, []
    for path in sorted(METRICS.glob("*.py")):
        for fn in _builders(path):
            args = fn.args
            names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
            annotations = [
                ast.unparse(a.annotation) for a in args.args + args.kwonlyargs if a.annotation
            ]
            if "con" in names or any("DuckDBPyConnection" in a for a in annotations):
                bad.append(f"{path.name}:{fn.name} takes a connection")
            reads = "table" in names
            if reads:
                seen += 1
                kw = [a.arg for a in args.kwonlyargs]
                defaults = dict(zip(kw, args.kw_defaults, strict=True))
                if "table" not in kw or defaults["table"] is not None:
                    bad.append(f"{path.name}:{fn.name} takes table by position or with a default")
    assert seen >= 13, seen  # retention, lifecycle, churn, units, paths and the funnel's builders
    assert not bad, bad


def _funnel_signatures():
    """The funnel's builders, and the two helpers every one of them starts from (bind, rows_ctes)."""
    from poanalytics.metrics import funnel, funnel_kernel, funnel_lists, funnel_sql
    from poanalytics.metrics import funnel_unordered as unordered

    return (
        funnel_sql.bind,
        funnel_sql.rows_ctes,
        funnel_sql.per_user_sql,
        funnel_lists.lists_sql,
        funnel_lists.ranks_sql,
        unordered.unordered_sql,
        funnel_kernel.kernel_sql,
        funnel.left_out_funnel_sql,
    )


def test_builder_signatures_at_runtime():
    for fn in (
        retention.retention_sql,
        retention.left_out_retention_sql,
        lifecycle.lifecycle_sql,
        lifecycle.stickiness_sql,
        churn.churn_sql,
        churn.survival_sql,
        churn.churns_sql,
        *_funnel_signatures(),
    ):
        p = inspect.signature(fn).parameters["table"]
        assert p.kind is p.KEYWORD_ONLY and p.default is p.empty, fn.__name__


def test_unit_source_reads_the_table_given():
    params = Params()
    assert Unit().id_sql(params) is None
    from poanalytics.metrics.units import left_out_sql, unit_source

    assert unit_source(Unit(), params, table=OTHER) == f'"{OTHER}"'
    src = unit_source(Unit("session"), params, table=OTHER)
    assert f'FROM "{OTHER}"' in src
    assert left_out_sql(Unit(), params, "true", table=OTHER) is None
    assert f'FROM "{OTHER}"' in (left_out_sql(Unit("session"), params, "true", table=OTHER) or "")


def test_params_number_after_the_values_they_embed():
    """A statement that re-runs a result's query takes its values and numbers new ones after the
    highest, so no placeholder is reused (a result's values need not be p0..pN without gaps)."""
    p = Params({"p0": "a", "p5": "b"})
    assert p.add("c") == "$p6" and p.add("d") == "$p7"
    assert p.used_in("$p0 $p7") == {"p0": "a", "p7": "d"}
    assert Params().add(1) == "$p0"


def test_paths_build_without_a_warehouse_and_read_the_table_given(wb_file):
    """The paths stream is built from plain values for the table given; run on a real file,
    run_paths on a copy of the events answers as on the events, and on fewer events differently."""
    from poanalytics.metrics import paths, paths_sql

    q = poa.metrics.PathsQuery(start_event="signup", steps=3)
    plan = paths_sql.PathPlan("from", 3, None, True, True)
    params = Params()
    stream = paths.events_stream(q, plan, Step("signup"), params, table=OTHER)
    sql = paths_sql.path_sql(plan, stream, params)
    assert f'"{OTHER}" e' in stream.source and f'"{OTHER}"' in sql
    assert not re.search(r"\b(FROM|JOIN)\s+\"?events\"?(\s|\)|$)", sql)

    load(wb_file, JOURNEYS)
    with wb_file.connection(write=True) as con:
        con.execute(f'CREATE TABLE "{OTHER}" AS SELECT * FROM events')
        con.execute("CREATE TABLE fewer AS SELECT * FROM events WHERE user_id <> 'a'")
    with wb_file.connection() as con:
        mine = poa.metrics.run_paths(con, q)
        other = poa.metrics.run_paths(con, q, table=OTHER)
        fewer = poa.metrics.run_paths(con, q, table="fewer")
    assert mine.users == other.users == 4 and fewer.users == 3
    _same(other.table, mine.table)
    assert f'"{OTHER}"' in other.sql


def _funnel_plan(order="ordered"):
    from poanalytics.metrics.funnel_sql import FunnelPlan

    steps = (Step("signup"), Step("e"))
    return FunnelPlan(steps, 14 * D, order, (), None, "first_touch", None, None, None)


def _funnel_builders():
    from poanalytics.metrics.funnel_lists import lists_sql
    from poanalytics.metrics.funnel_sql import per_user_sql
    from poanalytics.metrics.funnel_unordered import unordered_sql

    return {
        "lists": lambda t, p: lists_sql(_funnel_plan(), p, table=t),
        "asof": lambda t, p: per_user_sql(_funnel_plan(), p, table=t, strategy="asof"),
        "window": lambda t, p: per_user_sql(_funnel_plan(), p, table=t, strategy="window"),
        "unordered": lambda t, p: unordered_sql(_funnel_plan("unordered"), p, table=t),
    }


@pytest.mark.parametrize("strategy", ["lists", "asof", "window", "unordered"])
def test_funnel_per_unit_sql_builds_from_a_plan_and_answers_as_the_funnel(wb_file, strategy):
    """A funnel's per-unit SQL builds from a hand-made plan with no connection, for the table
    given; run on a copy of the events in a real file, its units and depths are the funnel's."""
    params = Params()
    sql = _funnel_builders()[strategy](OTHER, params)
    assert f'"{OTHER}"' in sql
    assert not re.search(r"\b(FROM|JOIN)\s+\"?events\"?(\s|\)|$)", sql), sql

    load(wb_file, JOURNEYS)
    with wb_file.connection(write=True) as con:
        con.execute(f'CREATE TABLE "{OTHER}" AS SELECT * FROM events')
    order = "unordered" if strategy == "unordered" else "ordered"
    q = poa.metrics.FunnelQuery(steps=["signup", "e"], window="14d", order=order)
    with wb_file.connection() as con:
        run = DuckDBRunner(con, OTHER)
        pick = "SELECT user_id, depth FROM ({}) ORDER BY user_id"
        built = run.table(pick.format(sql), params.used_in(sql))
        f = poa.metrics.run_funnel(con, q, strategy="lists" if order == "unordered" else strategy)
        mine = run.table(pick.format(f.per_user_table[1:-1]), f.params)
    assert list(mine.user_id) == ["a", "b", "c", "d"] and list(mine.depth) == [2, 2, 2, 2]
    _same(built, mine)


# -- the funnel reads the table it is given, end to end -------------------------------------------

_FUNNEL_EVENTS = {
    "a": [(0, "signup"), (D, "view"), (2 * D, "buy")],
    "b": [(0, "signup"), (D, "view"), (D + 3600, "other"), (2 * D, "buy")],
    "c": [(0, "signup"), (D, "buy"), (2 * D, "view")],
    "d": [(0, "signup"), (20 * D, "view"), (21 * D, "quit")],
    "e": [(W, "signup"), (W + D, "view"), (W + 2 * D, "quit")],
    "f": [(3 * W, "signup"), (3 * W + D, "view")],
    # converted, its window open at the data's end until that end moves (trend, compare: F12)
    "g": [(10 * D, "signup"), (10 * D + 3600, "view"), (10 * D + 7200, "buy")],
}
# a company on every event of a, b, f, g (x) and c, e (y); none on d's (left out when counted by it)
COMPANY = {"a": "x", "b": "x", "f": "x", "g": "x", "c": "y", "e": "y"}
FUNNEL_JOURNEYS = {
    u: [(t, name, {"co": COMPANY[u]}) if u in COMPANY else (t, name) for t, name in events]
    for u, events in _FUNNEL_EVENTS.items()
}
STEPS3 = ["signup", "view", "buy"]
FUNNEL_CASES = {
    **{
        s: (dict(steps=STEPS3), s)  # every strategy of an ordered funnel
        for s in ("kernel", "ranks", "lists", "asof", "window")
    },
    "strict": (dict(steps=STEPS3, order="strict"), "kernel"),
    "unordered": (dict(steps=STEPS3, order="unordered"), "kernel"),
    "exclusion": (
        dict(steps=STEPS3, exclusions=[poa.Exclusion("other", from_step=1, to_step=2)]),
        "kernel",
    ),
    "terminal": (dict(steps=STEPS3, terminal_events=["quit"]), "kernel"),  # F18
    "unit": (dict(steps=STEPS3, unit={"property": "co"}), "lists"),  # F17: units, left out
    # entry from e's sign-up on, compared with a's to d's (compare runs the funnel again)
    "range": (
        dict(steps=STEPS3, date_from=T0 + pd.Timedelta(days=6), date_to="2024-04-30"),
        "ranks",
    ),
}


def _funnel_views(f) -> dict:
    """What a funnel result says: its table, warnings and the views that re-run its SQL."""
    views = {
        "table": f.table,
        "warnings": sorted(str(w) for w in f.warnings),
        "users": [f.users(k) for k in (1, 2, 3)],
        "trend": f.trend("week"),
        "times": f.conversion_times(2),
    }
    if f.plan.date_from is not None:
        views["compare"] = f.compare((T0, T0 + pd.Timedelta(days=5))).table
    if f.plan.unit.kind == "user" and f.plan.order != "unordered":
        views["dropped"] = [f.dropped(k) for k in (2, 3)]
        views["paths"] = f.dropoff_paths(2).table
        views["correlation"] = f.correlation(min_users=1, top=None).table
        views["by_property"] = f.correlation(
            kind="properties", properties="co", min_users=1, top=None
        ).table
    return views


def _same_views(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], pd.DataFrame):
            _same(a[key], b[key])
        else:
            assert a[key] == b[key], key


@pytest.mark.filterwarnings("ignore:.*funnel.unit_missing")  # d's events in the "unit" case
@pytest.mark.parametrize("case", sorted(FUNNEL_CASES))
def test_funnel_reads_the_table_given_end_to_end(wb, case):
    """run_funnel(..., table=) on a copy of the events answers as the funnel did on the events
    before they were changed, on every strategy and mode, views included; the changed events
    answer differently, so a builder (or a view) that read "events" would fail here."""
    load(wb, FUNNEL_JOURNEYS)
    kwargs, strategy = FUNNEL_CASES[case]
    q = poa.metrics.FunnelQuery(window="14d", **kwargs)
    with wb.connection(write=True) as con:
        before = _funnel_views(poa.metrics.run_funnel(con, q, strategy=strategy))
        con.execute(f'CREATE TABLE "{OTHER}" AS SELECT * FROM events')
        # every event name stays (the names are checked against the warehouse), the answers
        # change: two users gone (one of them left out by the unit, F17), every purchase a month
        # late (a later last event: g's window closes, F12), c's view a quit (F18, correlation)
        con.execute("DELETE FROM events WHERE user_id IN ('a', 'd')")
        con.execute("UPDATE events SET ts = ts + INTERVAL 30 DAY WHERE event = 'buy'")
        con.execute("UPDATE events SET event = 'quit' WHERE user_id = 'c' AND event = 'view'")
        other = poa.metrics.run_funnel(con, q, strategy=strategy, table=OTHER)
        assert other.events == OTHER and f'"{OTHER}"' in other.sql
        assert not re.search(r"\b(FROM|JOIN)\s+\"?events\"?(\s|\)|$)", other.sql), other.sql
        copied = _funnel_views(other)
        changed = _funnel_views(poa.metrics.run_funnel(con, q, strategy=strategy))
    assert before["table"].users.iloc[0] > 0  # someone enters
    _same_views(copied, before)
    with pytest.raises(AssertionError):
        _same_views(changed, before)


def test_funnel_kernel_takes_no_catalog_span_for_another_table(wb):
    """The catalog's span of the steps' events describes the warehouse's events: the kernel keys
    a funnel on them by it (BIGINT keys), and one on another table by the full HUGEINT key."""
    load(wb, FUNNEL_JOURNEYS)
    q = poa.metrics.FunnelQuery(steps=STEPS3)
    with wb.connection(write=True) as con:
        con.execute(f'CREATE TABLE "{OTHER}" AS SELECT * FROM events')
        mine = poa.metrics.run_funnel(con, q)
        other = poa.metrics.run_funnel(con, q, table=OTHER)
    assert "poa_funnel_chain64(" in mine.sql
    assert "poa_funnel_chain64(" not in other.sql and "poa_funnel_chain(" in other.sql
    _same(other.table, mine.table)
