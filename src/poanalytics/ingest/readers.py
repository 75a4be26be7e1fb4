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
from ..errors import ConfigError, InputError
from ..sql import Params
from .sources import Input

# The longest CSV line read; a longer one is quarantined as too long. Ticket and note bodies may be
# long (they are checked against max_text_chars after reading); an event row never is (names of
# at most 512 characters and 64 KB of properties), and DuckDB sizes its read buffers from this
# limit: at 200 MB, writing the events read from a 1.5 GB file took four times as long.
MAX_LINE = 200_000_000
EVENTS_MAX_LINE = 2_097_152  # DuckDB's default


def csv_buffer(max_line: int) -> int:
    """read_csv's ``buffer_size`` for lines up to ``max_line`` bytes. DuckDB's default is 16
    lines' worth, and it takes the whole buffer at once for a compressed file: 3.2 GB at
    MAX_LINE, more than a load under ``load_memory_limit`` may have. One line's worth, and never
    under DuckDB's default for its default line size (32 MiB), reads the same rows."""
    return min(16 * int(max_line), max(int(max_line), 16 * EVENTS_MAX_LINE))


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


WHITESPACE = "whitespace"  # columns separated by runs of blanks (aligned text), no quoting
CANDIDATES = [",", ";", "\t", "|"]


def check_delimiter(delimiter: str | None) -> str | None:
    """Validate ``delimiter=``: one character, '\\t'/'tab', or 'whitespace'."""
    if delimiter is None:
        return None
    named = {"\\t": "\t", "tab": "\t", WHITESPACE: WHITESPACE, "\\s+": WHITESPACE}
    if isinstance(delimiter, str) and (delimiter in named or len(delimiter) == 1):
        value = named.get(delimiter, delimiter)
        if value not in ('"', "\n", "\r"):
            return value
    raise ConfigError(
        f"delimiter {delimiter!r} is not one character",
        code="ingest.delimiter",
        hint="pass one character such as ',', ';', '|' or '\\t' (tab), or 'whitespace' for "
        "columns aligned with blanks",
    )


def _whitespace_fields(sample: str) -> int:
    """The number of blank-separated fields when the sample's first lines (up to 20) all have the
    same number, at least 2; else 0."""
    lines = [line for line in sample.splitlines()[:21] if line.strip()]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end inside a line
    counts = {len(line.split()) for line in lines}
    return counts.pop() if len(counts) == 1 else 0


def _sniff_delimiter(inp: Input, sample: str, first_line: str) -> str:
    """The delimiter of a file whose header line has none of the usual ones: the csv module's
    sniffer, else blanks when every line splits into the same number of fields (2 or more)."""
    try:
        found = csv.Sniffer().sniff(sample[:16384], delimiters=",;\t|:^~").delimiter
        if len(next(csv.reader([first_line], delimiter=found))) > 1:
            return found
    except (csv.Error, StopIteration):
        pass
    if _whitespace_fields(sample) >= 2:
        return WHITESPACE
    raise InputError(
        f"no delimiter was found: the header line {first_line[:120]!r} has no ',', ';', tab or '|', "
        "and the lines do not split into the same number of fields",
        code="ingest.no_delimiter",
        file=inp.label,
        row=1,
        hint="pass the delimiter: delimiter=';' (or '\\t', '|', ...), or delimiter='whitespace' for "
        "columns aligned with blanks (CLI: --delimiter)",
    )


def sniff_csv(inp: Input) -> tuple[str, list[str]]:
    """The delimiter and header names of a CSV file (read with Python's csv module: a few KB).
    The delimiter is the user's (``Input.delimiter``), else the usual one the header line has most
    of, else sniffed (see _sniff_delimiter); ``WHITESPACE`` means runs of blanks."""
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
    counts = {d: first_line.count(d) for d in CANDIDATES}
    delim = inp.delimiter or max(counts, key=lambda d: counts[d])
    if not inp.delimiter and counts[delim] == 0:
        delim = (
            _sniff_delimiter(inp, sample, first_line)
            if first_line.strip().count(" ") or (":" in first_line)
            else ","
        )
    if delim == WHITESPACE:
        return delim, first_line.split()
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
        f"max_line_size = {int(max_line)}, buffer_size = {csv_buffer(max_line)}, parallel = true)"
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
    if delim == WHITESPACE:
        return stage_whitespace(con, inp, header, max_line)
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


def stage_whitespace(
    con: duckdb.DuckDBPyConnection, inp: Input, header: list[str], max_line: int = MAX_LINE
) -> Stage:
    """Text whose columns are separated by runs of blanks (no quoting): each line is split in SQL.
    Rows are line numbers (the header is row 1); blank lines are skipped; a line with another
    number of fields than the header is rejected."""
    names = _unique(header)
    params = Params()
    rejects = _rejects_table(con)
    data = _new_name("ws")
    path = params.add(str(inp.path))
    con.execute(
        f"CREATE TEMP TABLE {quote_ident(data)} AS SELECT _row, line, "
        "regexp_split_to_array(trim(line, ' \t\r'), '\\s+') AS _parts FROM ("
        f"SELECT row_number() OVER () AS _row, line FROM read_csv({path}, "
        "columns = {'line': 'VARCHAR'}, header = false, auto_detect = false, delim = '\x01', "
        f"quote = '', escape = '', max_line_size = {int(max_line)}, "
        f"buffer_size = {csv_buffer(max_line)})) "
        "WHERE _row > 1 AND line IS NOT NULL AND trim(line, ' \t\r') <> ''",
        params.values,
    )
    n = len(names)
    con.execute(
        f"INSERT INTO {quote_ident(rejects)} SELECT _row, NULL, 'the row has ' || len(_parts) || "
        f"' fields separated by blanks, the header {n}; values with blanks need another delimiter', "
        f"line FROM {quote_ident(data)} WHERE len(_parts) <> {n}"
    )
    n_rej = fetch_value(con, f"SELECT count(*) FROM {quote_ident(rejects)}")
    cols = ", ".join(f"_parts[{i + 1}] AS {quote_ident(name)}" for i, name in enumerate(names))
    relation = f"(SELECT _row, {cols} FROM {quote_ident(data)} WHERE len(_parts) = {n})"
    return Stage(
        inp,
        "csv",
        relation,
        params,
        [Column(name, quote_ident(name), "VARCHAR") for name in names],
        rejects,
        int(n_rej),
        temp=[f"TABLE:{data}", f"TABLE:{rejects}"],
    )


def stage_csv(con: duckdb.DuckDBPyConnection, inp: Input, max_line: int = MAX_LINE) -> Stage:
    delim, header = sniff_csv(inp)
    if delim == WHITESPACE:
        return stage_whitespace(con, inp, header, max_line)
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
    ) or (None, None, 0)
    if not count:  # a header-only file, or one whose every row the reader rejected
        first, last = 0, -1
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


def repeats_a_key(j: str, n: int = 0) -> str:
    """SQL: whether the JSON object ``j`` names a key twice (``n`` keeps nested lambdas apart)."""
    # list_position finds a key's first place: a key found earlier than its own place is repeated
    # (0.3 s per million objects; list_distinct takes six times that). The keys are bound once by
    # the outer lambda: a captured json_keys() would run once per key.
    return (
        f"coalesce(list_transform([json_keys({j})], lambda ks{n}: list_bool_or("
        f"list_transform(ks{n}, lambda k{n}, i{n}: list_position(ks{n}, k{n}) <> i{n})))[1], false)"
    )


def last_value_wins(j: str, inner: str | None = None, n: int = 0) -> str:
    """SQL: the JSON object ``j`` with each key once, holding its last value (as JavaScript's
    JSON.parse, Python's json and Snowflake's PARSE_JSON(..., 'd') read it), and the same for the
    object under the key ``inner`` (a record's properties); other values as they are."""
    e, k, i = f"e{n}", f"k{n}", f"i{n}"
    keep = (
        f"list_filter(list_transform(json_keys({j}), lambda {k}, {i}: {{'key': {k}, 'value': "
        f"json_extract({j}, '$.*')[{i}], 'i': {i}}}), "
        f"lambda {e}: NOT list_contains(json_keys({j})[{e}.i + 1:], {e}.key))"
    )
    value = f"{e}.value"
    repeats = repeats_a_key(j, n)
    if inner is not None:
        value = (
            f"CASE WHEN {e}.key = '{inner}' AND json_type({e}.value) = 'OBJECT' "
            f"THEN {last_value_wins(f'{e}.value', n=n + 1)} ELSE {e}.value END"
        )
        repeats = f"({repeats} OR {repeats_a_key(f'({j}->{_key_path(inner)})', n + 1)})"
    pairs = f"list_transform({keep}, lambda {e}: {{'key': {e}.key, 'value': {value}}})"
    return f"(CASE WHEN {repeats} THEN to_json(map_from_entries({pairs})) ELSE {j} END)"


def _key_path(key: str) -> str:
    """A JSON path literal for one plain top-level key."""
    assert key.isidentifier()
    return f"'$.{key}'"


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


def _is_json_lines(inp: Input, first: str, first_line: str) -> bool:
    """Whether the file is JSON Lines (one object per line) rather than one JSON document."""
    import json

    if first != "{":
        return False
    try:
        first_object = json.loads(first_line)
        # a compact one-line document wrapping the records ({"tickets": [{...}, ...]}) is not JSON Lines
        return not _one_line_wrapper(inp, first_object)
    except ValueError:
        return False
    except RecursionError:
        # nested deeper than Python's parser goes: a record, not a wrapper; DuckDB reads
        # each line (and the checks quarantine a line over the limits)
        return True


def _stage_json_lines(
    con: duckdb.DuckDBPyConnection, data: str, rejects: str, path: str, params: Params
) -> None:
    """JSON Lines into ``data``, one row per non-blank line; lines that are not an object go to
    ``rejects``."""
    con.execute(
        f"CREATE TEMP TABLE {quote_ident(data)} AS "
        f"SELECT _row, line AS _raw, CASE WHEN json_valid(line) THEN line::JSON END AS _json FROM ("
        f"SELECT row_number() OVER () AS _row, line FROM read_csv({path}, columns = {{'line': 'VARCHAR'}}, "
        "header = false, auto_detect = false, delim = '\x01', quote = '', escape = '', "
        f"max_line_size = {MAX_LINE}, buffer_size = {csv_buffer(MAX_LINE)})) "
        "WHERE line IS NOT NULL AND trim(line) <> ''",
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


def _json_records_path(
    con: duckdb.DuckDBPyConnection, inp: Input, path: str, params: Params
) -> str:
    """The JSON path of the records in a JSON document: its array, or the array an object wraps
    (the first key holding one); a document that is neither fails."""
    import json

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
    if doc[1] != "OBJECT":
        return "$[*]"
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
            hint='expected a list of objects, or an object with one (such as {"tickets": [...]})',
        )
    return "$." + json.dumps(keys[0][0]) + "[*]"


def _stage_json_document(
    con: duckdb.DuckDBPyConnection,
    inp: Input,
    data: str,
    rejects: str,
    path: str,
    params: Params,
) -> None:
    """One JSON document's records into ``data``, one row each; records that are not an object go
    to ``rejects``."""
    jp = params.add(_json_records_path(con, inp, path, params))
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


def stage_json(con: duckdb.DuckDBPyConnection, inp: Input) -> Stage:
    """JSON Lines, a JSON array of objects, or one object wrapping such an array ({"tickets": [...]})."""
    import json

    first, first_line = _first_char(inp)
    params = Params()
    rejects = _rejects_table(con)
    data = _new_name("json")
    path = params.add(str(inp.path))
    if _is_json_lines(inp, first, first_line):
        _stage_json_lines(con, data, rejects, path, params)
    else:
        _stage_json_document(con, inp, data, rejects, path, params)
    n_rej = fetch_value(con, f"SELECT count(*) FROM {quote_ident(rejects)}")
    notes = []
    repeats = f"({repeats_a_key('_json')} OR {repeats_a_key(chr(40) + '_json->' + _key_path('properties') + chr(41))})"
    repeated = fetch_value(con, f"SELECT count(*) FROM {quote_ident(data)} WHERE {repeats}")
    if repeated:  # {"user_id": "a", "user_id": "b"}: the last value wins, as JSON.parse reads it
        con.execute(
            f"UPDATE {quote_ident(data)} SET _json = {last_value_wins('_json', 'properties')} "
            f"WHERE {repeats}"
        )
        notes.append(
            f"{inp.label}: {repeated:,} record(s) name a key twice; the last value of the key is kept"
        )
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
        notes=notes,
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
