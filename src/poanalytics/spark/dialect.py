"""Spark SQL's spelling of the engine-specific SQL pieces (``metrics.engine.Dialect``).

Every metric builds its SQL once, from one validated plan; this class is the whole of what differs
on Spark. Instants are Spark ``TIMESTAMP`` (with local time zone) read with the session time zone
UTC (``SparkRunner`` sets it for each query), local wall-clock times ``TIMESTAMP_NTZ``.
"""

from __future__ import annotations

from ..metrics.engine import Dialect
from ..metrics.spec import MetricError
from ..sql import quote_ident

# characters a key cannot hold in Spark's bracket JSON path ($['key']): it has no escape for them
_PATH_UNSAFE = frozenset("'[]\\")


class SparkDialect(Dialect):
    """Spark SQL (Spark 4): the same metrics, spelled for Spark."""

    name = "spark"

    def table(self, name: str) -> str:
        return quote_ident(name, quote="`")

    def ident(self, name: str) -> str:
        return quote_ident(name, quote="`")

    def epoch_us(self, ts: str) -> str:
        return f"unix_micros({ts})"

    def utc_wall(self, ts: str) -> str:
        return f"CAST({ts} AS TIMESTAMP_NTZ)"  # the session time zone is UTC

    def json_text(self, column: str, path: str) -> str:
        return f"get_json_object({column}, {path})"

    def json_keys(self, column: str) -> str:
        return f"explode(json_object_keys({column}))"

    def json_path(self, key: str) -> str:
        if _PATH_UNSAFE & set(key):
            raise MetricError(
                f"Spark cannot read the property {key!r}: its JSON paths have no escape for "
                "quotes, brackets or backslashes",
                code="spark.property_name",
                hint="rename the property at load time, or run this query on DuckDB",
            )
        return f"$['{key}']"

    def series(self, start: str, stop: str, alias: str = "t", column: str = "k") -> str:
        # a lateral generator, so the bounds may name columns of the FROM items before it; an
        # empty range gives no rows (Spark's sequence(1, 0) would count down)
        return (
            f"LATERAL explode(CASE WHEN ({stop}) > ({start}) THEN sequence({start}, ({stop}) - 1) "
            f"END) AS {alias}({column})"
        )

    def arg_min(self, value: str, key: str) -> str:
        # DuckDB's arg_min skips rows whose value is NULL; Spark's min_by does not
        return f"min_by({value}, CASE WHEN ({value}) IS NOT NULL THEN {key} END)"

    def list_agg(self, expr: str, order: str) -> str:
        # collect_list's order is not defined: sort (order, value) pairs, keep the values
        return (
            f"transform(array_sort(collect_list(named_struct('k', {order}, 'v', {expr}))), "
            "x -> x.v)"
        )

    def struct(self, **fields: str) -> str:
        return "named_struct(" + ", ".join(f"'{k}', {v}" for k, v in fields.items()) + ")"

    def instant(self, value: str) -> str:
        return f"CAST({value} AS TIMESTAMP)"

    def local_wall(self, ts: str, tz: str) -> str:
        return f"convert_timezone('UTC', {tz}, CAST({ts} AS TIMESTAMP_NTZ))"

    def from_local(self, local: str, tz: str) -> str:
        return f"CAST(convert_timezone({tz}, 'UTC', {local}) AS TIMESTAMP)"

    def trunc(self, unit: str, local: str) -> str:
        # Spark's date_trunc answers a TIMESTAMP; with the session in UTC its wall time is the
        # truncated local time, kept a wall-clock TIMESTAMP_NTZ as DuckDB's is
        return f"CAST(date_trunc('{unit}', {local}) AS TIMESTAMP_NTZ)"

    def days_between(self, a: str, b: str) -> str:
        return f"datediff({b}, {a})"

    def months_between(self, a: str, b: str) -> str:
        return f"timestampdiff(MONTH, {a}, {b})"

    def int_div(self, a: str, b: str) -> str:
        return f"({a} div {b})"

    def add_days(self, ts: str, k: str) -> str:
        return f"({ts} + make_dt_interval(CAST({k} AS INT)))"

    def add_months(self, ts: str, k: str) -> str:
        return f"({ts} + make_ym_interval(0, CAST({k} AS INT)))"

    def add_us(self, ts: str, us: str) -> str:
        return f"timestamp_micros(unix_micros({ts}) + {us})"

    def text_test(self, op: str, text: str, value: str) -> str:
        name = {"contains": "contains", "starts_with": "startswith", "ends_with": "endswith"}[op]
        return f"{name}({text}, {value})"

    def regex_test(self, text: str, pattern: str) -> str:
        return f"regexp({text}, {pattern})"

    def day_label(self, ts: str) -> str:
        return f"date_format({ts}, 'yyyy-MM-dd')"

    def with_user_id(self, source: str, expr: str) -> str:
        # the events view has exactly these columns (SparkRunner), rowid among them
        return f"SELECT {expr} AS user_id, event, ts, session_id, properties, rowid FROM {source}"

    materializes_ctes = False  # Spark inlines a CTE into every reference
    correlated_alias = False  # inside (SELECT .. FROM seq s ..), b.unit is seq's column b
    sliding_frames = False  # a sliding frame's aggregate is computed again for every row

    def row_position(self, packed: str, partition: str, order: list[str]) -> str:
        # no 128-bit integers: the rows' running count in that order (a BIGINT; row_number is an
        # INT). ``order`` ends in every column of the row, so any rows it ties are identical and
        # each evaluation of the CTE numbers them alike
        return (
            f"count(*) OVER (PARTITION BY {partition} ORDER BY {', '.join(order)} "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        )

    def ranked_key(self, rank: str, position: str, shift: int) -> str:
        return f"named_struct('r', {rank}, 'p', {position})"

    def list_value(self, *items: str) -> str:
        return "array(" + ", ".join(items) + ")"

    def replacing(self, alias: str, columns: list[str], column: str, expr: str) -> str:
        return ", ".join(f"{expr} AS {c}" if c == column else f"{alias}.{c}" for c in columns)

    def list_item(self, lst: str, index: str) -> str:
        # element_at raises when out of range (ANSI); its index is an INT, as an array's length
        return f"try_element_at({lst}, CAST({index} AS INT))"

    def list_transform(self, lst: str, var: str, expr: str) -> str:
        return f"transform({lst}, {var} -> {expr})"

    def list_filter(self, lst: str, var: str, cond: str) -> str:
        return f"filter({lst}, {var} -> {cond})"

    def list_any(self, lst: str, var: str, cond: str) -> str:
        # exists() is NULL when no element is true and some is NULL
        return f"coalesce(exists({lst}, {var} -> {cond}), false)"

    def list_fold(self, lst: str, init: str, acc: str, var: str, expr: str) -> str:
        return f"aggregate({lst}, {init}, ({acc}, {var}) -> {expr})"

    def list_max(self, lst: str) -> str:
        return f"array_max({lst})"

    def list_min(self, lst: str) -> str:
        return f"array_min({lst})"

    def list_len(self, lst: str) -> str:
        return f"size({lst})"

    def list_slice(self, lst: str, start: str, length: str) -> str:
        return f"slice({lst}, CAST({start} AS INT), CAST({length} AS INT))"

    def list_concat(self, a: str, b: str) -> str:
        return f"concat({a}, {b})"


SPARK = SparkDialect()
