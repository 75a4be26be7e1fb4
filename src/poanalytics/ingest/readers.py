"""Read one input into a *stage*: a SQL relation with ``_row`` and the source's columns.

Rows the reader itself cannot parse (a CSV line with too many fields, a JSON line that is not
JSON) go to a rejects table with their row, column and raw text, so nothing is lost before the
loader's own checks even start.

Row numbers: CSV rows count the header as row 1, as a spreadsheet shows them (a quoted field that
spans lines is still one row); JSON Lines rows are line numbers; JSON arrays and Parquet files and
DataFrames count records from 1.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import uuid
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from ..db import fetch_all, fetch_one, fetch_value, quote_ident
from ..errors import InputError
from .sources import Input
from .sql import Params

# The longest CSV line read; a longer one is quarantined as too long. Ticket and note bodies may be
# long (they are checked against max_text_chars after reading); an event row never is (names of
# at most 512 characters and 64 KB of properties), and DuckDB sizes its read buffers from this
# limit: at 200 MB, writing the events read from a 1.5 GB file took four times as long.
MAX_LINE = 200_000_000
EVENTS_MAX_LINE = 2_097_152  # DuckDB's default
CSV_REASON = """CASE error_type
  WHEN 'TOO MANY COLUMNS' THEN 'the row has more fields than the header; quote values that contain the delimiter'
  WHEN 'MISSING COLUMNS' THEN 'the row has fewer fields than the header; quote values that contain line breaks'
  WHEN 'UNQUOTED VALUE' THEN 'a quoted value is not closed or has a stray quote; close or double the quote'
  WHEN 'INVALID ENCODING' THEN 'the row is not valid UTF-8; export the file as UTF-8'
  WHEN 'INVALID UNICODE' THEN 'the row is not valid UTF-8; export the file as UTF-8'
  WHEN 'LINE SIZE OVER MAXIMUM' THEN 'the row is longer than the line size limit; split the value or the file'
  ELSE lower(error_type) || ': ' || error_message END"""  # bytes; longer lines are reported, not truncated


@dataclass
class Column:
    name: str  # the name users see and map (headers are normalised: NBSP -> space, trimmed)
    expr: str  # SQL expression over the stage relation
    type: str  # DuckDB type name
    json_expr: str | None = None  # JSON stages: the value as JSON (keeps nested objects as objects)


@dataclass
class Stage:
    input: Input
    container: str  # csv | parquet | json | dataframe
    relation: str  # SQL: a table name or a parenthesised SELECT aliased later
    params: Params
    columns: list[Column]
    rejects: str  # temp table: row, column_name, reason, raw
    rows_rejected: int = 0
    is_json: bool = False  # stage has _json (JSON) and _raw (text) columns
    # in place: the relation reads the file itself (one pass, no row numbers: _row is NULL); the
    # reader's rejects are known only after that pass (collect_rejects)
    in_place: bool = False
    raw_rejects: str | None = None
    notes: list[str] = field(default_factory=list)
    temp: list[str] = field(default_factory=list)  # temp objects to drop

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        for obj in self.temp:
            kind, name = obj.split(":", 1)
            try:
                con.execute(f"DROP {kind} IF EXISTS {quote_ident(name)}")
            except duckdb.TransactionException:
                return  # the load failed: the rollback removes these temp tables anyway
        for name in ("__df_" + self.rejects,):
            with contextlib.suppress(Exception):  # not registered for this stage
                con.unregister(name)


def normalise_header(name: str) -> str:
    return " ".join(str(name).replace("\u00a0", " ").split())


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for raw in names:
        name = normalise_header(raw) or "column"
        if name in seen:
            seen[name] += 1
            candidate = f"{name}_{seen[name]}"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name}_{seen[name]}"
            name = candidate
        seen.setdefault(name, 0)
        out.append(name)
    return out


def _new_name(prefix: str) -> str:
    return f"__poa_{prefix}_{uuid.uuid4().hex[:10]}"


def _open_text(path) -> io.TextIOBase:
    if str(path).lower().endswith(".gz"):
        return io.TextIOWrapper(
            gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace", newline=""
        )
    return open(path, encoding="utf-8-sig", errors="replace", newline="")  # noqa: SIM115


def sniff_csv(inp: Input) -> tuple[str, list[str]]:
    """The delimiter and header names of a CSV file (read with Python's csv module: a few KB)."""
    with _open_text(inp.path) as fh:
        sample = fh.read(65536)
    if not sample.strip():
        raise InputError(
            "the file is empty",
            code="ingest.empty_file",
            file=inp.label,
            hint="export the data again, or remove the file from the load",
        )
    first_line = sample.splitlines()[0] if sample.splitlines() else sample
    counts = {d: first_line.count(d) for d in [",", ";", "\t", "|"]}
    delim = max(counts, key=lambda d: counts[d])
    if counts[delim] == 0:
        delim = ","
    reader = csv.reader(io.StringIO(sample), delimiter=delim, quotechar='"')
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise InputError(
            f"cannot read the header row: {exc}",
            code="ingest.csv_header",
            file=inp.label,
            row=1,
            hint="the first row must name the columns",
        ) from exc
    if not any(h.strip() for h in header):
        raise InputError(
            "the header row is empty",
            code="ingest.csv_header",
            file=inp.label,
            row=1,
            hint="the first row must name the columns",
        )
    return delim, header


def _rejects_table(con: duckdb.DuckDBPyConnection) -> str:
    name = _new_name("rejects")
    con.execute(
        f"CREATE TEMP TABLE {quote_ident(name)} (row BIGINT, column_name VARCHAR, reason VARCHAR, raw VARCHAR)"
    )
    return name


def _read_csv(
    inp: Input, names: list[str], delim: str, params: Params, max_line: int
) -> tuple[str, str, str]:
    """The read_csv() call of a CSV input, every column as text, and its two rejects tables
    (the rejected lines, the scans)."""
    raw_table, scan_table = _new_name("csvrej"), _new_name("csvscan")
    call = (
        f"read_csv({params.add(str(inp.path))}, auto_detect = false, header = true, "
        f"delim = {params.add(delim)}, quote = '\"', escape = '\"', "
        f"columns = {params.add({n: 'VARCHAR' for n in names})}, store_rejects = true, "
        f"rejects_table = {params.add(raw_table)}, rejects_scan = {params.add(scan_table)}, "
        f"max_line_size = {int(max_line)}, parallel = true)"
    )
    return call, raw_table, scan_table


def _read_error(inp: Input, exc: duckdb.Error) -> InputError:
    return InputError(
        f"cannot read the file as CSV: {str(exc).splitlines()[0]}",
        code="ingest.csv_read",
        file=inp.label,
        hint="check that the file is UTF-8 CSV with a header row; "
        "export it again or pass format= to read it another way",
    )


def collect_rejects(con: duckdb.DuckDBPyConnection, st: Stage) -> int:
    """Move the CSV reader's rejects (one row per bad line) into the stage's rejects table."""
    assert st.raw_rejects is not None
    con.execute(
        f"INSERT INTO {quote_ident(st.rejects)} SELECT line, "
        "first(column_name ORDER BY column_idx), "
        f"string_agg(DISTINCT {CSV_REASON}, '; '), first(csv_line) "
        f"FROM {quote_ident(st.raw_rejects)} GROUP BY line"
    )
    st.rows_rejected = int(fetch_value(con, f"SELECT count(*) FROM {quote_ident(st.rejects)}"))
    return st.rows_rejected


def csv_in_place(con: duckdb.DuckDBPyConnection, inp: Input, max_line: int = MAX_LINE) -> Stage:
    """A CSV stage that reads the file where it is, in the query that uses it: one pass over a
    clean file. It has no row numbers, so the loader uses it only where it can fall back to
    ``stage_csv`` when some row needs one (see ``pipeline.process``)."""
    delim, header = sniff_csv(inp)
    names = _unique(header)
    params = Params()
    call, raw_table, scan_table = _read_csv(inp, names, delim, params, max_line)
    rejects = _rejects_table(con)
    relation = f"(SELECT NULL::BIGINT AS _row, * FROM {call})"
    cols = [Column(n, quote_ident(n), "VARCHAR") for n in names]
    return Stage(
        inp,
        "csv",
        relation,
        params,
        cols,
        rejects,
        temp=[f"TABLE:{rejects}", f"TABLE:{raw_table}", f"TABLE:{scan_table}"],
        in_place=True,
        raw_rejects=raw_table,
    )


def stage_csv(con: duckdb.DuckDBPyConnection, inp: Input, max_line: int = MAX_LINE) -> Stage:
    delim, header = sniff_csv(inp)
    names = _unique(header)
    params = Params()
    rejects = _rejects_table(con)
    data = _new_name("csv")
    call, raw_table, scan_table = _read_csv(inp, names, delim, params, max_line)
    try:
        # File order is kept (insertion order is preserved), so a data row's number comes from
        # its rowid (below); a row_number() window here would cost as much as reading the file.
        con.execute(
            f"CREATE TEMP TABLE {quote_ident(data)} AS SELECT * FROM {call}",
            params.used_in(call),
        )
    except duckdb.Error as exc:
        raise _read_error(inp, exc) from exc
    st = Stage(inp, "csv", "", params, [], rejects, raw_rejects=raw_table)
    n_rej = collect_rejects(con, st)
    # Data row k (1-based, file order) is _k. Rowids run in file order, from an offset inside a
    # transaction: _k = rowid - first + 1 while they have no gaps; otherwise (not seen) a window.
    first, last, count = fetch_one(
        con, f"SELECT min(rowid), max(rowid), count(*) FROM {quote_ident(data)}"
    ) or (0, -1, 0)
    k = (
        f"rowid - {int(first)} + 1"
        if not count or last - first + 1 == count
        else "row_number() OVER (ORDER BY rowid)"
    )
    numbered = f"(SELECT {k} AS _k, * FROM {quote_ident(data)})"
    temp = [f"TABLE:{data}", f"TABLE:{raw_table}", f"TABLE:{scan_table}", f"TABLE:{rejects}"]
    if n_rej:
        # Rows after a rejected one move down: row(k) = k + 1 + #{rejected lines r_i with r_i - i - 1 < k}.
        fixed = _new_name("csvfix")
        con.execute(
            f"CREATE TEMP TABLE {quote_ident(fixed)} AS "
            f"WITH r AS (SELECT row - row_number() OVER (ORDER BY row) - 1 AS g, "
            f"row_number() OVER (ORDER BY row) AS i FROM {quote_ident(rejects)}), "
            "rg AS (SELECT g, max(i) AS i FROM r GROUP BY g) "
            f"SELECT d.* EXCLUDE (_k), d._k + 1 + coalesce(rg.i, 0) AS _row FROM {numbered} d "
            "ASOF LEFT JOIN rg ON d._k > rg.g"
        )
        temp.append(f"TABLE:{fixed}")
        relation = quote_ident(fixed)
    else:
        relation = f"(SELECT * EXCLUDE (_k), _k + 1 AS _row FROM {numbered})"
    st.relation, st.temp = relation, temp
    st.columns = [Column(n, quote_ident(n), "VARCHAR") for n in names]
    return st


def stage_parquet(con: duckdb.DuckDBPyConnection, inp: Input) -> Stage:
    params = Params()
    path = params.add(str(inp.path))
    try:
        described = fetch_all(con, f"DESCRIBE SELECT * FROM read_parquet({path})", params.values)
    except duckdb.Error as exc:
        raise InputError(
            f"cannot read the file as Parquet: {str(exc).splitlines()[0]}",
            code="ingest.parquet_read",
            file=inp.label,
            hint="check that the file is a complete Parquet file; export it again",
        ) from exc
    names = _unique([r[0] for r in described])
    relation = (
        f"(SELECT file_row_number + 1 AS _row, * EXCLUDE (file_row_number) "
        f"FROM read_parquet({path}, file_row_number = true))"
    )
    cols = [
        Column(n, quote_ident(orig[0]), orig[1]) for n, orig in zip(names, described, strict=True)
    ]
    rejects = _rejects_table(con)
    return Stage(inp, "parquet", relation, params, cols, rejects, temp=[f"TABLE:{rejects}"])


def stage_dataframe(con: duckdb.DuckDBPyConnection, inp: Input) -> Stage:
    frame = inp.frame
    assert frame is not None
    frame = frame.reset_index(drop=True)
    # dict/list cells become JSON text, serialised by pandas in C rather than row by row here.
    for name in frame.columns:
        if frame[name].dtype == object:
            sample = frame[name].dropna().head(50)
            if any(isinstance(v, (dict, list)) for v in sample):
                lines = frame[[name]].to_json(orient="records", lines=True, date_format="iso")
                frame = frame.assign(**{name: pd.Series(lines.splitlines(), index=frame.index)})
                frame[name] = frame[name].str.slice(len(_json_key(name)) + 2, -1)  # {"key":VALUE}
                frame.loc[frame[name] == "null", name] = None
    rejects = _rejects_table(con)
    view = "__df_" + rejects
    con.register(view, frame)
    described = fetch_all(con, f"DESCRIBE SELECT * FROM {quote_ident(view)}")
    names = _unique([str(r[0]) for r in described])
    relation = f"(SELECT row_number() OVER () AS _row, * FROM {quote_ident(view)})"
    cols = [
        Column(n, quote_ident(str(orig[0])), orig[1])
        for n, orig in zip(names, described, strict=True)
    ]
    return Stage(inp, "dataframe", relation, Params(), cols, rejects, temp=[f"TABLE:{rejects}"])


def _json_key(name: str) -> str:
    import json

    return json.dumps(str(name))


def _first_char(inp: Input) -> tuple[str, str]:
    with _open_text(inp.path) as fh:
        head = fh.read(65536)
    stripped = head.lstrip()
    if not stripped:
        raise InputError(
            "the file is empty",
            code="ingest.empty_file",
            file=inp.label,
            hint="export the data again, or remove the file from the load",
        )
    return stripped[0], stripped.splitlines()[0]


def _one_line_wrapper(inp: Input, obj: object) -> bool:
    """The file is this one object on one line, wrapping the records: exactly one list of objects and
    nothing else but scalars ({"tickets": [...], "count": 2}). A record that merely contains a list of
    objects among nested fields (a GA4 event's event_params) is JSON Lines."""
    if not isinstance(obj, dict):
        return False
    lists = [
        k
        for k, v in obj.items()
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)
    ]
    if len(lists) != 1 or any(isinstance(v, (dict, list)) for k, v in obj.items() if k != lists[0]):
        return False
    with _open_text(inp.path) as fh:
        head = fh.read(65536)
    return len(head.strip().splitlines()) == 1


def stage_json(con: duckdb.DuckDBPyConnection, inp: Input) -> Stage:
    """JSON Lines, a JSON array of objects, or one object wrapping such an array ({"tickets": [...]})."""
    import json

    first, first_line = _first_char(inp)
    params = Params()
    rejects = _rejects_table(con)
    data = _new_name("json")
    path = params.add(str(inp.path))
    one_object_per_line = False
    if first == "{":
        try:
            first_object = json.loads(first_line)
            # a compact one-line document wrapping the records ({"tickets": [{...}, ...]}) is not JSON Lines
            one_object_per_line = not _one_line_wrapper(inp, first_object)
        except ValueError:
            one_object_per_line = False
        except RecursionError:
            # nested deeper than Python's parser goes: a record, not a wrapper; DuckDB reads
            # each line (and the checks quarantine a line over the limits)
            one_object_per_line = True
    if one_object_per_line:
        con.execute(
            f"CREATE TEMP TABLE {quote_ident(data)} AS "
            f"SELECT _row, line AS _raw, CASE WHEN json_valid(line) THEN line::JSON END AS _json FROM ("
            f"SELECT row_number() OVER () AS _row, line FROM read_csv({path}, columns = {{'line': 'VARCHAR'}}, "
            "header = false, auto_detect = false, delim = '\x01', quote = '', escape = '', "
            f"max_line_size = {MAX_LINE})) WHERE line IS NOT NULL AND trim(line) <> ''",
            params.values,
        )
        con.execute(
            f"INSERT INTO {quote_ident(rejects)} SELECT _row, NULL, "
            "CASE WHEN json_valid(_raw) THEN 'the line is JSON but not an object' "
            "ELSE 'the line is not valid JSON' END, _raw "
            f"FROM {quote_ident(data)} WHERE _json IS NULL OR json_type(_json) <> 'OBJECT'"
        )
        con.execute(
            f"DELETE FROM {quote_ident(data)} WHERE _json IS NULL OR json_type(_json) <> 'OBJECT'"
        )
    else:
        try:
            doc = fetch_one(
                con,
                f"SELECT json_valid(content), CASE WHEN json_valid(content) THEN "
                f"json_type(content::JSON) END FROM read_text({path})",
                params.values,
            )
        except duckdb.Error as exc:
            raise InputError(
                f"cannot read the file: {exc}",
                code="ingest.json_read",
                file=inp.label,
                hint="check that the file is UTF-8 JSON",
            ) from exc
        if not doc or not doc[0]:
            raise InputError(
                "the file is not valid JSON (neither JSON Lines nor one JSON document)",
                code="ingest.json_invalid",
                file=inp.label,
                hint="export it again; JSON Lines needs one complete object per line",
            )
        json_path = "$[*]"
        if doc[1] == "OBJECT":
            keys = fetch_all(
                con,
                f"SELECT k FROM (SELECT content::JSON AS j FROM read_text({path})), "
                "unnest(json_keys(j)) AS t(k) WHERE json_type(j, '$.' || to_json(k)::VARCHAR) = 'ARRAY'",
                params.values,
            )
            if not keys:
                raise InputError(
                    "the JSON document holds no list of records",
                    code="ingest.json_shape",
                    file=inp.label,
                    hint="expected a list of objects, or an object with one "
                    '(such as {"tickets": [...]})',
                )
            json_path = "$." + json.dumps(keys[0][0]) + "[*]"
        jp = params.add(json_path)
        con.execute(
            f"CREATE TEMP TABLE {quote_ident(data)} AS "
            "SELECT generate_subscripts(items, 1) AS _row, unnest(items)::VARCHAR AS _raw, unnest(items) AS _json "
            f"FROM (SELECT json_extract(content::JSON, {jp}) AS items FROM read_text({path}))",
            params.values,
        )
        con.execute(
            f"INSERT INTO {quote_ident(rejects)} SELECT _row, NULL, 'the record is not a JSON object', _raw "
            f"FROM {quote_ident(data)} WHERE json_type(_json) <> 'OBJECT'"
        )
        con.execute(f"DELETE FROM {quote_ident(data)} WHERE json_type(_json) <> 'OBJECT'")
    n_rej = fetch_value(con, f"SELECT count(*) FROM {quote_ident(rejects)}")
    keys = [
        r[0]
        for r in fetch_all(
            con,
            f"SELECT k FROM (SELECT unnest(json_keys(_json)) AS k, _row FROM {quote_ident(data)}) "
            "GROUP BY k ORDER BY min(_row), k",
        )
    ]
    kp = Params()
    cols = []
    for k in keys:
        path_p = kp.add("$." + json.dumps(k))
        cols.append(
            Column(str(k), f"(_json->>{path_p})", "VARCHAR", json_expr=f"(_json->{path_p})")
        )
    stage = Stage(
        inp,
        "json",
        quote_ident(data),
        kp,
        cols,
        rejects,
        int(n_rej),
        is_json=True,
        temp=[f"TABLE:{data}", f"TABLE:{rejects}"],
    )
    return stage


def stage(
    con: duckdb.DuckDBPyConnection,
    inp: Input,
    container: str | None = None,
    max_line: int = MAX_LINE,
) -> Stage:
    kind = container or inp.container
    if kind == "csv":
        return stage_csv(con, inp, max_line)
    if kind == "parquet":
        return stage_parquet(con, inp)
    if kind == "json":
        return stage_json(con, inp)
    if kind == "dataframe":
        return stage_dataframe(con, inp)
    raise InputError(
        f"cannot tell how to read {inp.label!r} from its name",
        code="ingest.unknown_container",
        file=inp.label,
        hint="name it .csv, .parquet, .jsonl or .json, or pass format= (for example format='csv')",
    )


__all__ = ["Column", "Stage", "stage", "normalise_header"]
