"""Read many CSV files that share a layout (delimiter and header) in one scan.

A folder of daily exports used to be read file by file: each file a read, a type pass and a
de-duplication against the whole warehouse, so 305 small files took far longer than the same rows in
one file. Here the files are one ``read_csv([...], filename = true)`` and one stage; a row keeps its
file and its row in that file in ``_row``: ``file index * 2^40 + row`` (``FILE_SHIFT``), so ordering by
``_row`` is file order, then row order, and joins on ``_row`` need no second key. Quarantined rows are
written with their file and row decoded (``pipeline.write_quarantine``); rows without a source id are
de-duplicated file by file, as if the files had been loaded one after the other
(``pipeline.write_events``); every file's lines are accounted for on their own (``lines``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from ..db import fetch_all, fetch_one, quote_ident
from ..sql import Params
from . import readers
from .sources import Input

FILE_SHIFT = 40  # a file holds fewer than 2^40 rows
ROW_MASK = (1 << FILE_SHIFT) - 1


@dataclass
class MultiStage(readers.Stage):
    """A stage over several CSV files read in one scan; ``_row`` encodes (file index, row)."""

    files: list[Input] = field(default_factory=list)
    scans: str | None = None  # the reader's rejects_scan table (file of each reject)


class Split(Exception):  # noqa: N818 - a signal, like pipeline.NeedsStage
    """The files cannot be accounted for in one scan: the load starts again, file by file."""


def layout(inp: Input) -> tuple[str, tuple[str, ...]] | None:
    """What files must share to be read in one scan: delimiter and header (None: a file read line
    by line, with columns separated by blanks, is read on its own)."""
    delim, header = readers.sniff_csv(inp)
    return None if delim == readers.WHITESPACE else (delim, tuple(header))


def group(inputs: list[Input], is_csv: Callable[[Input], bool]) -> list[list[Input]]:
    """Consecutive CSV files with the same layout, in order; every other input on its own."""
    groups: list[list[Input]] = []
    last = None
    for inp in inputs:
        key = layout(inp) if is_csv(inp) and inp.path is not None else None
        if key is not None and key == last and groups:
            groups[-1].append(inp)
        else:
            groups.append([inp])
        last = key
    return groups


def stage_csv_files(
    con: duckdb.DuckDBPyConnection, inputs: list[Input], max_line: int
) -> MultiStage:
    """One stage over ``inputs`` (same layout), read in one scan."""
    delim, header = readers.sniff_csv(inputs[0])
    names = readers._unique(header)
    params = Params()
    rejects = readers._rejects_table(con)
    data = readers._new_name("csvs")
    raw_table, scan_table = readers._new_name("csvrej"), readers._new_name("csvscan")
    paths = [str(i.path) for i in inputs]
    files_p = params.add(paths)
    call = (
        f"read_csv({files_p}, auto_detect = false, header = true, filename = '__poa_file', "
        f"delim = {params.add(delim)}, quote = '\"', escape = '\"', "
        f"columns = {params.add({n: 'VARCHAR' for n in names})}, store_rejects = true, "
        f"rejects_table = {params.add(raw_table)}, rejects_scan = {params.add(scan_table)}, "
        f"max_line_size = {int(max_line)}, buffer_size = {readers.csv_buffer(max_line)}, "
        "parallel = true)"
    )
    label = f"{inputs[0].label} .. {inputs[-1].label} ({len(inputs)} files)"
    try:
        con.execute(
            f"CREATE TEMP TABLE {quote_ident(data)} AS SELECT * FROM {call}",
            params.used_in(call),
        )
    except duckdb.Error as exc:
        raise readers._read_error(Input(label=label, path=inputs[0].path), exc) from exc
    fi = f"CAST(list_position({files_p}, __poa_file) - 1 AS BIGINT)"
    # the reader's rejects, one per bad line, with the file in the row number
    con.execute(
        f"INSERT INTO {quote_ident(rejects)} SELECT "
        f"(CAST(list_position({files_p}, s.file_path) - 1 AS BIGINT) << {FILE_SHIFT}) + r.line, "
        "first(r.column_name ORDER BY r.column_idx), "
        f"string_agg(DISTINCT {readers.CSV_REASON.replace('error_type', 'r.error_type').replace('error_message', 'r.error_message')}, '; '), "
        "first(r.csv_line) "
        f"FROM {quote_ident(raw_table)} r JOIN {quote_ident(scan_table)} s "
        "ON s.scan_id = r.scan_id AND s.file_id = r.file_id GROUP BY ALL",
        params.used_in(files_p),
    )
    n_rej = int((fetch_one(con, f"SELECT count(*) FROM {quote_ident(rejects)}") or (0,))[0])
    # data row k of file f (1-based, file order; rowids run in file order) is f << 40 | k
    numbered = (
        f"(SELECT ({fi} << {FILE_SHIFT}) + rowid - min(rowid) OVER (PARTITION BY __poa_file) + 1 "
        f"AS _k, * EXCLUDE (__poa_file) FROM {quote_ident(data)})"
    )
    fixed = readers._new_name("csvsfix")
    # rows after a rejected line of the same file move down (as in readers.stage_csv, per file)
    con.execute(
        f"CREATE TEMP TABLE {quote_ident(fixed)} AS "
        f"WITH r AS (SELECT row >> {FILE_SHIFT} AS f, row - row_number() OVER (PARTITION BY row >> "
        f"{FILE_SHIFT} ORDER BY row) - 1 AS g, row_number() OVER (PARTITION BY row >> {FILE_SHIFT} "
        f"ORDER BY row) AS i FROM {quote_ident(rejects)}), "
        "rg AS (SELECT f, g, max(i) AS i FROM r GROUP BY f, g) "
        f"SELECT d._k + 1 + coalesce(rg.i, 0) AS _row, d.* EXCLUDE (_k) FROM {numbered} d "
        f"ASOF LEFT JOIN rg ON d._k >> {FILE_SHIFT} = rg.f AND d._k > rg.g",
        params.used_in(numbered),
    )
    return MultiStage(
        Input(label=label, path=inputs[0].path),
        "csv",
        quote_ident(fixed),
        Params(),
        [readers.Column(n, quote_ident(n), "VARCHAR") for n in names],
        rejects,
        rows_rejected=n_rej,
        raw_rejects=raw_table,
        temp=[
            f"TABLE:{data}",
            f"TABLE:{fixed}",
            f"TABLE:{raw_table}",
            f"TABLE:{scan_table}",
            f"TABLE:{rejects}",
        ],
        files=inputs,
        scans=scan_table,
    )


def per_file_counts(con: duckdb.DuckDBPyConnection, st: MultiStage) -> dict[int, tuple[int, int]]:
    """(rows read, rows the reader rejected) of each file, by file index."""
    counts = {i: [0, 0] for i in range(len(st.files))}
    for f, n in fetch_all(
        con, f"SELECT _row >> {FILE_SHIFT}, count(*) FROM {st.relation} GROUP BY 1"
    ):
        counts[int(f)][0] = int(n)
    for f, n in fetch_all(
        con, f"SELECT row >> {FILE_SHIFT}, count(*) FROM {quote_ident(st.rejects)} GROUP BY 1"
    ):
        counts[int(f)][1] = int(n)
    return {k: (v[0], v[1]) for k, v in counts.items()}
