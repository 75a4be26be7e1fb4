"""The load engine: stage -> typed rows with a reason for each bad one -> quarantine + target.

Every row read ends up loaded, quarantined (file, row, column, reason, raw text) or counted as a
duplicate, so ``rows_read == rows_loaded + rows_quarantined + rows_duplicate`` for every load. Each
term is counted by its own query (rows read from the stage, rows inserted, rows quarantined, rows
found already present), and a load whose counts do not add up fails (``ingest.accounting``).
A load is one transaction: if anything fails, the warehouse is as it was.

Duplicates and conflicts: a row with a source event id is a duplicate when an event with that id
*and the same content* (user, event name and time) is already loaded (or comes earlier in the load).
The same id with other content is a *conflict*: exports reuse ids (different users' events sharing one), so both events are
kept, and the later is counted in ``rows_conflict`` (a part of ``rows_loaded``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ..config import Settings
from ..db import fetch_one, fetch_value, quote_ident
from ..errors import PoaError
from ..sql import Params
from ..timezones import check_timezone
from . import catalog, decode, failures, lines, multi, readers, timestamps
from . import formats as formats_mod
from .mapping import Columns, Mapping
from .sources import Input, resolve
from .targets import Target
from .typed import typed_select

AfterWrite = Callable[[duckdb.DuckDBPyConnection, "StageResult", str], None]
StageFn = Callable[[duckdb.DuckDBPyConnection, Input], readers.Stage]


@dataclass
class LoadReport:
    """What one load did. ``rows_read == rows_loaded + rows_quarantined + rows_duplicate``."""

    kind: str
    source: str
    load_id: int
    formats: list[str] = field(default_factory=list)
    files: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_conflict: int = 0  # of rows_loaded: an event with this source id and other content exists
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    files_in_place: int = 0  # CSV files read in one pass (clean files into an empty events table)
    # local times (no offset, in the load's timezone) the clocks pass twice (the earlier instant is
    # taken) or skip (moved forward by the gap); see timestamps.py
    dst_ambiguous: int = 0
    dst_nonexistent: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "kind",
                "source",
                "load_id",
                "formats",
                "files",
                "rows_read",
                "rows_loaded",
                "rows_quarantined",
                "rows_duplicate",
                "dst_ambiguous",
                "dst_nonexistent",
                "rows_conflict",
                "seconds",
            )
        }

    def __str__(self) -> str:
        fmt = ", ".join(self.formats) or "-"
        lines = [
            f"{self.kind} from {self.source} (format: {fmt}, {self.files} file(s), load {self.load_id})",
            f"  rows read {self.rows_read:,}: loaded {self.rows_loaded:,}, quarantined {self.rows_quarantined:,}, "
            f"duplicate {self.rows_duplicate:,}  [{self.seconds:.2f}s]",
        ]
        if self.dst_ambiguous or self.dst_nonexistent:
            lines.append(
                f"  local times at a daylight-saving change: {self.dst_ambiguous:,} ambiguous "
                f"(the earlier instant taken), {self.dst_nonexistent:,} nonexistent (moved forward)"
            )
        if self.rows_conflict:
            lines.append(
                f"  conflict: {self.rows_conflict:,} loaded rows reuse a source event id that an event "
                "with another user, event or time has; both are kept. See them: SELECT * FROM events "
                "WHERE (source, source_key) IN (SELECT (source, source_key) FROM events "
                "WHERE source_key IS NOT NULL GROUP BY ALL HAVING count(*) > 1)"
            )
        lines += [f"  note: {n}" for n in self.notes]
        if self.rows_quarantined:
            lines.append(
                f"  see the quarantined rows: SELECT * FROM quarantine WHERE load_id = {self.load_id}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(str(self)) + "</pre>"


@dataclass
class StageResult:
    stage: readers.Stage
    mapping: Mapping
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    duplicate: int = 0
    dst_ambiguous: int = 0
    dst_nonexistent: int = 0
    conflict: int = 0

    def check(self) -> None:
        """Fail the load when its separately counted parts do not add up to the rows read."""
        if self.read != self.loaded + self.quarantined + self.duplicate:
            raise PoaError(
                f"the load's counts do not add up: {self.read:,} rows read, but {self.loaded:,} "
                f"loaded + {self.quarantined:,} quarantined + {self.duplicate:,} duplicate",
                code="ingest.accounting",
                file=self.stage.input.label,
                hint="nothing was loaded; this is a poanalytics bug, please report it with the file",
            )


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Params) -> duckdb.DuckDBPyConnection:
    return con.execute(sql, params.used_in(sql))


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: Params) -> int:
    """Run a statement that returns a count (INSERT, SELECT count(*)) and return it."""
    return int(fetch_value(con, sql, params.used_in(sql)))


def _has_events(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse holds any event (loads into an empty one need no de-duplication)."""
    return bool(fetch_value(con, "SELECT EXISTS (SELECT 1 FROM events)"))


def _count_dst(
    con: duckdb.DuckDBPyConnection,
    target: Target,
    res: StageResult,
    select: str,
    params: Params,
    relation: str | None = None,
) -> None:
    """Count the loaded local times that fell in a daylight-saving fold or gap (typed_select adds a
    _dst_<field> column for each time field read as local time)."""
    cols = [
        quote_ident("_dst_" + f.name)
        for f in target.fields
        if f.kind == "timestamp" and quote_ident("_dst_" + f.name) in select
    ]
    if not cols:
        return
    fold = " + ".join(f"count(*) FILTER (WHERE {c} = 'fold')" for c in cols)
    gap = " + ".join(f"count(*) FILTER (WHERE {c} = 'gap')" for c in cols)
    sql = f"SELECT {fold}, {gap} FROM {relation or select} WHERE _reason IS NULL"
    row = fetch_one(con, sql, params.used_in(sql)) or (0, 0)
    res.dst_ambiguous, res.dst_nonexistent = int(row[0] or 0), int(row[1] or 0)


def write_quarantine(
    con: duckdb.DuckDBPyConnection, load_id: int, kind: str, st: readers.Stage, bad: str | None
) -> int:
    """Store the reader's rejects and the rows that failed a check; returns how many rows that is.

    ``bad`` is a query giving _row, _column and _reason of the rows that failed (None: there are none);
    the raw text is taken from the stage for those rows only.
    """
    p = st.params
    q = quote_ident("__poa_q_" + st.rejects)
    kind_p = p.add(kind)
    file_p, row = p.add(st.input.label), "q.row"
    if isinstance(st, multi.MultiStage):  # the row holds its file: file index << FILE_SHIFT | row
        files = p.add([i.label for i in st.files])
        file_p = f"{files}[(q.row >> {multi.FILE_SHIFT}) + 1]"
        row = f"q.row & {multi.ROW_MASK}"
    raw = "s._raw" if st.is_json else "to_json(s)::VARCHAR"
    select_bad = (
        (
            f" UNION ALL SELECT t._row, t._column, t._reason, {raw} FROM {bad} t "
            f"JOIN {st.relation} AS s ON s._row = t._row"
        )
        if bad
        else ""
    )
    _run(
        con,
        f"CREATE TEMP TABLE {q} AS SELECT row, column_name, reason, raw FROM {quote_ident(st.rejects)}"
        + select_bad,
        p,
    )
    n = fetch_value(con, f"SELECT count(*) FROM {q}")
    if n:
        _run(
            con,
            f"INSERT INTO quarantine (load_id, kind, file, row, column_name, reason, raw) "
            f"SELECT {int(load_id)}, {kind_p}, {file_p}, {row}, q.column_name, q.reason, q.raw FROM {q} q "
            f"ANTI JOIN quarantine x ON x.kind = {kind_p} AND x.file = {file_p} "
            f"AND x.row IS NOT DISTINCT FROM {row} AND x.reason = q.reason "
            "AND x.raw IS NOT DISTINCT FROM q.raw",
            p,
        )
    con.execute(f"DROP TABLE {q}")
    return int(n)


CONTENT_HASH = (
    "hash({a}.user_id, {a}.event, {a}.ts, {a}.session_id, {a}.properties::VARCHAR) AS h1, "
    "hash({a}.properties::VARCHAR, {a}.session_id, {a}.ts, {a}.event, {a}.user_id, 'poanalytics') AS h2"
)
# What makes two events with the same source id the same event: the same user, event name and time.
# Properties may differ (a retry can carry more or less context, as Amplitude and Segment retries
# do); another user, event or time under the same id is a conflict. The user is the anonymous id the
# event arrived with when it has one: identity stitching (Segment) gives such events their user
# after the load, and a re-load of the same export must still find them duplicates.
_WHO = "coalesce({a}.properties->>'$.\"$anonymous_id\"', {a}.user_id)"
KEYED_HASH = (
    f"hash({_WHO}, {{a}}.event, {{a}}.ts) AS k1, hash({{a}}.ts, {{a}}.event, {_WHO}, 'poa') AS k2"
)


@dataclass
class Written:
    """What write_events did with the valid rows: each is loaded or a duplicate."""

    loaded: int = 0
    duplicate: int = 0
    conflict: int = 0  # of loaded: the source id was taken by an event with other content


def _write_keyed(
    con: duckdb.DuckDBPyConnection, st: readers.Stage, valid: str, insert: str, tail: str, src: str
) -> Written:
    """Rows with the source's event id: new unless an event with the id and the same content is
    in the warehouse or earlier in the file; new rows whose id is taken are conflicts."""
    p = st.params
    cols = "user_id, event, ts, session_id, properties"
    k = quote_ident("__poa_keyed_" + st.rejects)
    _run(
        con,
        f"""CREATE TEMP TABLE {k} AS
        WITH r AS (SELECT v.*, {KEYED_HASH.format(a="v")} FROM {valid} v WHERE source_key IS NOT NULL),
        w AS (SELECT e.source_key, {KEYED_HASH.format(a="e")} FROM events e
              WHERE e.source = {src} AND e.source_key IN (SELECT source_key FROM r)),
        c AS (SELECT r.*, row_number() OVER (PARTITION BY r.source_key, r.k1, r.k2 ORDER BY r._row) > 1
                  OR EXISTS (SELECT 1 FROM w WHERE w.source_key = r.source_key AND w.k1 = r.k1
                             AND w.k2 = r.k2) AS dup,
                  EXISTS (SELECT 1 FROM w WHERE w.source_key = r.source_key) AS taken FROM r)
        SELECT *, NOT dup AND (taken OR row_number() OVER (PARTITION BY source_key, dup ORDER BY _row) > 1)
            AS conflict
        FROM c""",
        p,
    )
    counts = fetch_one(
        con, f"SELECT count(*) FILTER (dup), count(*) FILTER (conflict) FROM {k}"
    ) or (0, 0)
    loaded = _count(con, insert + f"SELECT {cols}{tail} FROM {k} WHERE NOT dup", p)
    con.execute(f"DROP TABLE {k}")
    return Written(loaded, int(counts[0]), int(counts[1]))


def write_events(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    st: readers.Stage,
    typed: str,
    source: str,
    keyed: bool,
) -> Written:
    """Append valid rows that are not in the warehouse yet; count the loaded and duplicate rows.

    Rows with a source event id: see ``_write_keyed``. Rows without one are compared by content: a
    file may hold as many copies of an identical event as it likes, and they are new beyond the
    copies the warehouse already has (those are the duplicates). The files of a stage over several
    files (``multi``) count as loaded one after the other: a file's copies are new beyond the most
    copies the warehouse or any earlier file of the stage has.
    """
    p = st.params
    src = p.add(source)
    cols = "user_id, event, ts, session_id, properties"
    insert = f"INSERT INTO events ({cols}, source, source_key, load_id) "
    tail = f", {src}, source_key, {int(load_id)}"
    has_any = _has_events(con)
    valid = f"(SELECT * FROM {typed} WHERE _reason IS NULL)"
    out = _write_keyed(con, st, valid, insert, tail, src) if keyed else Written()
    plain = f"(SELECT * FROM {valid} WHERE source_key IS NULL)" if keyed else valid
    several = isinstance(st, multi.MultiStage)
    if not has_any and not several:  # an empty warehouse, one file, no ids: every valid row is new
        out.loaded += _count(con, insert + f"SELECT {cols}{tail} FROM {plain}", p)
        return out
    # Content already present (a re-load, or an overlapping export, possibly an earlier file of this
    # load): only the copies beyond those already in the warehouse are new. Content is compared by a
    # 128-bit hash of the canonical fields (two independent 64-bit hashes); ``typed`` carries the
    # hashes of its rows (``process``). One aggregation counts, per content, the copies in the file
    # and in the warehouse: min(file, warehouse) of them are duplicates, the rest are written, and
    # only contents the warehouse has some copies of need their copies numbered.
    fresh = quote_ident("__poa_fresh_" + st.rejects)
    span = fetch_one(con, f"SELECT min(ts), max(ts) FROM {plain}", p.used_in(plain)) or (None, None)
    have = "coalesce(w.have, 0)"
    if several:  # and the most copies of any earlier file of the stage
        have = (
            f"greatest({have}, coalesce(max(f.f) OVER (PARTITION BY f.h1, f.h2 ORDER BY f.fi "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))"
        )
    _run(
        con,
        f"""CREATE TEMP TABLE {fresh} AS
        WITH f AS (SELECT h1, h2, _row >> {multi.FILE_SHIFT} AS fi, count(*) AS f FROM {plain}
                   GROUP BY ALL),
        w AS (SELECT {CONTENT_HASH.format(a="e")}, count(*) AS have FROM events e
              WHERE ts BETWEEN {p.add(span[0])} AND {p.add(span[1])} GROUP BY ALL)
        SELECT f.h1, f.h2, f.fi, f.f, {have} AS have FROM f LEFT JOIN w USING (h1, h2)""",
        p,
    )
    out.duplicate += int(fetch_value(con, f"SELECT coalesce(sum(least(f, have)), 0) FROM {fresh}"))
    out.loaded += _count(
        con,
        insert
        + f"SELECT {cols}{tail} FROM (SELECT *, _row >> {multi.FILE_SHIFT} AS fi FROM {plain}) v "
        f"SEMI JOIN (SELECT h1, h2, fi FROM {fresh} WHERE have = 0) n USING (h1, h2, fi)",
        p,
    )
    out.loaded += _count(
        con,
        insert
        + f"""
        SELECT {cols}{tail} FROM (
          SELECT v.*, n.have, row_number() OVER (PARTITION BY v.h1, v.h2, v.fi ORDER BY v._row) AS occ
          FROM (SELECT *, _row >> {multi.FILE_SHIFT} AS fi FROM {plain}) v
          JOIN (SELECT * FROM {fresh} WHERE have > 0 AND f > have) n USING (h1, h2, fi)
        ) WHERE occ > have""",
        p,
    )
    con.execute(f"DROP TABLE {fresh}")
    return out


def write_upsert(
    con: duckdb.DuckDBPyConnection,
    target: Target,
    load_id: int,
    st: readers.Stage,
    typed: str,
    source: str,
    id_field: str,
    version_field: str | None,
) -> tuple[int, int, str]:
    """Insert new records and replace changed ones (a newer export wins); identical ones are duplicates.

    Returns the number written, the number of duplicates (rows an export holds more than once, and
    rows the warehouse has unchanged or newer) and the temp table of written keys (column source_key).
    """
    p = st.params
    names = [f.name for f in target.fields]
    cols = ", ".join(quote_ident(n) for n in names)
    src = p.add(source)
    cand = quote_ident("__poa_cand_" + st.rejects)
    written = "__poa_written_" + st.rejects
    order = (
        f"{quote_ident(version_field)} DESC NULLS LAST, _row DESC" if version_field else "_row DESC"
    )
    digest = (
        "md5(to_json(struct_pack("
        + ", ".join(f"{quote_ident(n)} := {{a}}.{quote_ident(n)}" for n in names)
        + "))::VARCHAR)"
    )
    _run(
        con,
        f"CREATE TEMP TABLE {cand} AS SELECT {cols}, {src} || ':' || {quote_ident(id_field)} AS source_key, "
        f"_row FROM {typed} WHERE _reason IS NULL "
        f"QUALIFY row_number() OVER (PARTITION BY {quote_ident(id_field)} ORDER BY {order}) = 1",
        p,
    )
    superseded = int(
        fetch_value(
            con,
            f"SELECT count(*) FROM (SELECT 1 FROM {typed} WHERE _reason IS NULL "
            f"QUALIFY row_number() OVER (PARTITION BY {quote_ident(id_field)} ORDER BY {order}) > 1)",
        )
    )
    newer = "true"
    if version_field:
        v = quote_ident(version_field)
        newer = f"(t.{v} IS NULL OR c.{v} IS NULL OR c.{v} >= t.{v})"
    con.execute(
        f"CREATE TEMP TABLE {quote_ident(written)} AS SELECT c.* FROM {cand} c "
        f"LEFT JOIN {quote_ident(target.table)} t ON t.source_key = c.source_key "
        f"WHERE t.source_key IS NULL OR ({digest.format(a='t')} <> {digest.format(a='c')} AND {newer})"
    )
    kept = int(
        fetch_value(
            con,
            f"SELECT count(*) FROM {cand} c ANTI JOIN {quote_ident(written)} w USING (source_key)",
        )
    )
    con.execute(
        f"DELETE FROM {quote_ident(target.table)} WHERE source_key IN "
        f"(SELECT source_key FROM {quote_ident(written)})"
    )
    n = _count(
        con,
        f"INSERT INTO {quote_ident(target.table)} ({cols}, source, source_key, load_id) "
        f"SELECT {cols}, {src}, source_key, {int(load_id)} FROM {quote_ident(written)}",
        p,
    )
    con.execute(f"DROP TABLE {cand}")
    return int(n), superseded + kept, written


def process(
    con: duckdb.DuckDBPyConnection,
    target: Target,
    st: readers.Stage,
    fmt: formats_mod.Format,
    *,
    load_id: int,
    columns: Columns | None,
    tz: str,
    timestamp_format: str | None,
    settings: Settings,
    id_field: str | None = None,
    version_field: str | None = None,
    after_write: AfterWrite | None = None,
    max_line: int = readers.MAX_LINE,
) -> StageResult:
    """Load one stage into ``target``; returns its counts."""
    mapping = fmt.mapping(con, target, st, columns, st.params)
    res = StageResult(st, mapping)
    if st.in_place:
        return _process_in_place(
            con, target, st, res, tz, timestamp_format, settings, load_id, max_line
        )
    good = int(
        fetch_value(con, f"SELECT count(*) FROM {st.relation} AS s", st.params.used_in(st.relation))
    )
    select = typed_select(
        con, target, st, mapping, tz=tz, timestamp_format=timestamp_format, settings=settings
    )
    res.read = good + st.rows_rejected
    keyed = "source_key" in mapping.fields
    # de-duplicate against the events already loaded, and between the files of a multi-file stage
    dedupe = target.write == "append" and (isinstance(st, multi.MultiStage) or _has_events(con))
    if target.write == "append" and not keyed and not dedupe:
        # Fast path (a first load of events without ids): stream the valid rows straight in, and
        # look at the source again only if some rows did not make it.
        res.loaded = write_events(
            con, load_id, st, f"({select})", mapping.format, keyed=False
        ).loaded
        bad = None
        if res.loaded < good:
            bad = quote_ident("__poa_bad_" + st.rejects)
            _run(
                con,
                f"CREATE TEMP TABLE {bad} AS SELECT _row, _column, _reason FROM {select} "
                "WHERE _reason IS NOT NULL",
                st.params,
            )
            st.temp.append("TABLE:" + bad.strip('"'))
        res.quarantined = write_quarantine(con, load_id, target.kind, st, bad)
        _count_dst(con, target, res, select, st.params)
        res.check()
        return res
    typed = quote_ident("__poa_typed_" + st.rejects)
    if dedupe:  # the content hashes that de-duplicate rows without ids (write_events)
        select = f"(SELECT t.*, {CONTENT_HASH.format(a='t')} FROM {select} t)"
    _run(con, f"CREATE TEMP TABLE {typed} AS {select}", st.params)
    st.temp.append("TABLE:" + typed.strip('"'))
    has_bad = fetch_value(con, f"SELECT EXISTS (SELECT 1 FROM {typed} WHERE _reason IS NOT NULL)")
    res.quarantined = write_quarantine(
        con,
        load_id,
        target.kind,
        st,
        f"(SELECT * FROM {typed} WHERE _reason IS NOT NULL)" if has_bad else None,
    )
    if target.write == "append":
        out = write_events(con, load_id, st, typed, mapping.format, keyed=keyed)
        res.loaded, res.duplicate, res.conflict = out.loaded, out.duplicate, out.conflict
    else:
        assert id_field is not None
        res.loaded, res.duplicate, written = write_upsert(
            con, target, load_id, st, typed, mapping.format, id_field, version_field
        )
        if after_write is not None:
            after_write(con, res, written)
        con.execute(f"DROP TABLE {quote_ident(written)}")
    _count_dst(con, target, res, select, st.params, typed)
    res.check()
    return res


def _lines_match(st: readers.Stage, rows: int) -> bool | None:
    """The quick line count (``lines.count``): True when the file has exactly a header line and one
    line per row; None when the file cannot be counted (a .zst file)."""
    path = st.input.path
    if not lines.countable(path):
        st.notes.append(
            f"{st.input.label}: lines not counted (a compressed format Python cannot read)"
        )
        return None
    assert path is not None
    return lines.count(path).lines == 1 + rows


def _reconcile(
    con: duckdb.DuckDBPyConnection, st: readers.Stage, max_line: int
) -> lines.Reconciled:
    """``lines.reconcile`` (the exact count) on a one-file stage."""
    assert st.input.path is not None
    return lines.reconcile(
        con,
        st.input.path,
        st.relation,
        [c.name for c in st.columns],
        quote_ident(st.raw_rejects) if st.raw_rejects else None,
        max_line,
        st.input.label,
        st.params.used_in(st.relation),
    )


def account_lines_per_file(
    con: duckdb.DuckDBPyConnection, st: multi.MultiStage, max_line: int
) -> None:
    """``account_lines`` for each file of a multi-file stage; a file whose reader skipped lines over
    its limit makes the load read the files one by one (``multi.Split``)."""
    for i, (good, rejected) in multi.per_file_counts(con, st).items():
        inp = st.files[i]
        if not lines.countable(inp.path):
            st.notes.append(
                f"{inp.label}: lines not counted (a compressed format Python cannot read)"
            )
            continue
        assert inp.path is not None and st.raw_rejects is not None and st.scans is not None
        if lines.count(inp.path).lines == 1 + good + rejected:
            continue
        found = lines.reconcile(
            con,
            inp.path,
            f"(SELECT * FROM {st.relation} WHERE _row >> {multi.FILE_SHIFT} = {int(i)})",
            [c.name for c in st.columns],
            f"(SELECT r.* FROM {quote_ident(st.raw_rejects)} r JOIN {quote_ident(st.scans)} s "
            "USING (scan_id, file_id) WHERE s.file_path = $path)",
            max_line,
            inp.label,
            None,
            {"path": str(inp.path)},
        )
        if found.dropped:
            raise multi.Split


def account_lines(con: duckdb.DuckDBPyConnection, st: readers.Stage, max_line: int) -> None:
    """Check that the CSV reader's rows in a stage of ``readers.stage_csv`` cover every line of the
    file (``lines``): lines it skipped for being over its limit become rejects (quarantined with
    their line number, and the rows after them renumbered); any other loss refuses the load. Files
    whose columns are separated by blanks are read line by line (every line a row or a reject), and
    need no count."""
    if st.raw_rejects is None:
        return
    good = int(
        fetch_value(con, f"SELECT count(*) FROM {st.relation} AS s", st.params.used_in(st.relation))
    )
    if _lines_match(st, good + st.rows_rejected) is not False:
        return
    found = _reconcile(con, st, max_line)
    if not found.dropped:
        return
    p = Params()
    values = ", ".join(
        f"({int(d.line)}, {p.add(_too_long(d.size, max_line))}, {p.add(d.raw)})"
        for d in found.dropped
    )
    rejects = quote_ident(st.rejects)
    con.execute(f"INSERT INTO {rejects} (row, reason, raw) VALUES {values}", p.used_in(values))
    st.rows_rejected += len(found.dropped)
    # rows after a skipped line move down by one: row(r) = r + #{skipped lines d_i with d_i - i < r}
    renumbered = quote_ident("__poa_lines_" + st.rejects)
    skipped = ", ".join(f"({d.line - i})" for i, d in enumerate(found.dropped, 1))
    _run(
        con,
        f"CREATE TEMP TABLE {renumbered} AS WITH d(g) AS (VALUES {skipped}), "
        "dg AS (SELECT g, max(i) AS n FROM (SELECT g, row_number() OVER (ORDER BY g) AS i FROM d) "
        "GROUP BY g) "
        f"SELECT s.* EXCLUDE (_row), s._row + coalesce(dg.n, 0) AS _row FROM {st.relation} AS s "
        "ASOF LEFT JOIN dg ON s._row > dg.g",
        st.params,
    )
    st.relation = renumbered
    st.temp.append("TABLE:" + renumbered.strip('"'))


def _too_long(size: int, max_line: int) -> str:
    return (
        f"the line is {size:,} bytes long, over the CSV reader's limit of {max_line:,} bytes for "
        "this kind of row, and the reader skipped it (row is the line number); shorten or split "
        "the value, or load it as another kind"
    )


class NeedsStage(Exception):
    """An in-place read cannot finish the load: the load starts again with staged inputs."""


_NOT_CLEAN = "__poa_not_clean__"


def _process_in_place(
    con: duckdb.DuckDBPyConnection,
    target: Target,
    st: readers.Stage,
    res: StageResult,
    tz: str,
    timestamp_format: str | None,
    settings: Settings,
    load_id: int,
    max_line: int,
) -> StageResult:
    """One pass over a CSV file into an empty events table (``run_load`` picks the files): every
    row is typed, checked and written as
    it is read. It applies only where no row needs its row number: no source ids to de-duplicate,
    and no row failing a check (which would be quarantined with its row and raw text) or holding a
    time that is not ISO 8601 (which the staged path reads after looking at all the values). The
    first such row stops the pass with NeedsStage, and the load starts again from staged inputs, so a
    file with a bad row costs one partial pass more than before, and a clean one a full pass less."""
    if "source_key" in res.mapping.fields:  # source ids de-duplicate by row order
        raise NeedsStage
    select = typed_select(
        con,
        target,
        st,
        res.mapping,
        tz=tz,
        timestamp_format=timestamp_format,
        settings=settings,
        detect=False,
    )
    # The guard is the only filter, so no row can be left out without stopping the pass.
    cols = "user_id, event, ts, session_id, properties"
    insert = (
        f"INSERT INTO events ({cols}, source, source_key, load_id) "
        f"SELECT {cols}, {st.params.add(res.mapping.format)}, NULL, {int(load_id)} FROM {select} "
        f"WHERE CASE WHEN _reason IS NULL THEN true ELSE error('{_NOT_CLEAN}') END"
    )
    try:
        res.loaded = _count(con, insert, st.params)
    except (duckdb.InterruptException, duckdb.OutOfMemoryException):
        raise  # the user stopped the load, or the machine cannot hold it: no second try
    except duckdb.Error:
        # a row that is not clean, or a file the reader cannot take as it is: the staged read
        # finds the row and says what is wrong with it (or why the file cannot be read)
        raise NeedsStage from None
    rejected = readers.collect_rejects(con, st)
    if _lines_match(st, res.loaded + rejected) is False:
        # quoted line breaks, blank lines, or lines lost: count the line breaks in the values (one
        # more read of the file, cheaper than staging it); lines over the reader's limit need row
        # numbers, so the staged read quarantines them
        found = _reconcile(con, st, max_line)
        if found.dropped:
            raise NeedsStage
    res.read = res.loaded + rejected
    res.quarantined = write_quarantine(con, load_id, target.kind, st, None)
    res.duplicate = 0  # an empty table, and no source ids: every valid row is new
    _count_dst(con, target, res, select, st.params)
    res.check()
    return res


def run_load(
    con: duckdb.DuckDBPyConnection,
    target: Target,
    source: str | Path | pd.DataFrame,
    *,
    format: str | None,
    columns: Columns | None,
    timezone: str,
    timestamp_format: str | None,
    settings: Settings,
    id_field: str | None = None,
    version_field: str | None = None,
    after_write: AfterWrite | None = None,
    inputs: list[Input] | None = None,
    stage_fn: StageFn | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> LoadReport:
    """Load every input of ``source`` in one transaction and log it in load_log.

    Any failure, before the load starts (a missing file, a bad time zone) or during it, is raised
    as a coded error and logged as a failed load; the warehouse is otherwise unchanged."""
    started = time.perf_counter()
    label = "DataFrame" if isinstance(source, pd.DataFrame) else str(source)
    options = load_options(format, columns, timezone, timestamp_format, encoding, delimiter)
    try:
        load_id = int(fetch_value(con, "SELECT nextval('load_id_seq')"))
    except Exception as exc:  # a read-only warehouse: nothing can be logged either
        raise failures.as_load_error(exc, None, con) from exc
    current: list[str | None] = [None]  # the input being read, for the error's file context
    try:
        with decode.scratch() as work:
            return _run_load(
                con,
                target,
                source,
                started=started,
                label=label,
                options=options,
                load_id=load_id,
                current=current,
                work=work,
                format=format,
                columns=columns,
                timezone=timezone,
                timestamp_format=timestamp_format,
                settings=settings,
                id_field=id_field,
                version_field=version_field,
                after_write=after_write,
                inputs=inputs,
                stage_fn=stage_fn,
                encoding=encoding,
                delimiter=delimiter,
            )
    except BaseException as exc:
        error = failures.fail(
            con,
            exc,
            kind=target.kind,
            source=label,
            format=format,
            options=options,
            file=current[0],
            load_id=load_id,
        )
        if error is exc:
            raise
        raise error from exc


def load_options(
    format: str | None,
    columns: Columns | None,
    timezone: str,
    timestamp_format: str | None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> str:
    """The options of a load as load_log keeps them (JSON)."""
    options: dict[str, Any] = {
        "format": format,
        "columns": dict(columns or {}) if isinstance(columns, MappingABC) else str(columns),
        "timezone": timezone,
        "timestamp_format": timestamp_format,
    }
    if encoding:
        options["encoding"] = encoding
    if delimiter:
        options["delimiter"] = delimiter
    return json.dumps(options, default=str)  # a Const as Const('purchase')


@dataclass
class _Load:
    """One load as ``_run_load`` checked its options: what every input is read and written with,
    and the report the stages add to."""

    con: duckdb.DuckDBPyConnection
    target: Target
    load_id: int
    report: LoadReport
    current: list[str | None]  # the input being read, for the error's file context
    work: decode.Scratch
    inputs: list[Input]
    chosen: formats_mod.Format | None  # the format given (None: detected for each input)
    container: str | None  # the container every input is read as (a generic format given)
    codec: str | None
    columns: Columns | None
    tz: str
    timestamp_format: str | None
    settings: Settings
    id_field: str | None
    version_field: str | None
    after_write: AfterWrite | None
    stage_fn: StageFn | None
    max_line: int


def _run_load(
    con: duckdb.DuckDBPyConnection,
    target: Target,
    source: str | Path | pd.DataFrame,
    *,
    started: float,
    label: str,
    options: str,
    load_id: int,
    current: list[str | None],
    work: decode.Scratch,
    format: str | None,
    columns: Columns | None,
    timezone: str,
    timestamp_format: str | None,
    settings: Settings,
    id_field: str | None,
    version_field: str | None,
    after_write: AfterWrite | None,
    inputs: list[Input] | None,
    stage_fn: StageFn | None,
    encoding: str | None,
    delimiter: str | None,
) -> LoadReport:
    """Check the options, load every input in one transaction (``_load_until_done``), log the
    load in load_log and commit."""
    tz = check_timezone(timezone)
    timestamps.check_format(timestamp_format, con)
    delimiter = readers.check_delimiter(delimiter)
    # the zone's own name
    options = load_options(format, columns, tz, timestamp_format, encoding, delimiter)
    chosen = formats_mod.get(target.kind, format) if format else None
    codec = decode.check_encoding(encoding)
    inputs = inputs if inputs is not None else resolve(source)
    if delimiter:
        inputs = [replace(i, delimiter=delimiter) for i in inputs]
    load = _Load(
        con=con,
        target=target,
        load_id=load_id,
        report=LoadReport(kind=target.kind, source=label, load_id=load_id, files=len(inputs)),
        current=current,
        work=work,
        inputs=inputs,
        chosen=chosen,
        container=_generic_container(chosen),
        codec=codec,
        columns=columns,
        tz=tz,
        timestamp_format=timestamp_format,
        settings=settings,
        id_field=id_field,
        version_field=version_field,
        after_write=after_write,
        stage_fn=stage_fn,
        max_line=readers.EVENTS_MAX_LINE if target.kind == "events" else readers.MAX_LINE,
    )
    con.execute("BEGIN TRANSACTION")
    _load_until_done(load)
    catalog.add_load(con, target.table, load_id)  # the event catalog, in the load's transaction
    load.report.seconds = round(time.perf_counter() - started, 3)
    _log_ok(con, load.report, options)
    con.execute("COMMIT")
    return load.report


def _generic_container(chosen: formats_mod.Format | None) -> str | None:
    """The container a generic format given by the user names (csv, json, ...): every input is
    read as one; None lets each input's own container decide."""
    if chosen is not None and chosen.name in formats_mod.GENERIC and chosen.name != "dataframe":
        return chosen.name
    return None


def _load_until_done(load: _Load) -> None:
    """Load every input into the open transaction, first in the fastest way; when that cannot
    finish (a CSV file that is not clean for the one-pass read, files of one scan that must be
    read one by one), undo what was written and start again the slower way."""
    in_place, grouped = True, True
    while True:
        try:
            _load_all(load, in_place, grouped)
            return
        except NeedsStage:
            if not in_place:
                raise
            in_place = False  # a file needs the staged read after all
        except multi.Split:
            if not grouped:
                raise
            grouped = False  # read the files one by one
        # start again, the rows written so far undone
        load.con.execute("ROLLBACK")
        _reset_counts(load.report)
        load.con.execute("BEGIN TRANSACTION")


def _reset_counts(report: LoadReport) -> None:
    """The report as before any input was loaded (the load starts again)."""
    report.formats, report.notes = [], []
    report.rows_read = report.rows_loaded = report.rows_quarantined = 0
    report.rows_duplicate = report.rows_conflict = report.files_in_place = 0
    report.dst_ambiguous = report.dst_nonexistent = 0


def _load_all(load: _Load, in_place: bool, grouped: bool) -> None:
    """Every input into the open transaction; ``in_place`` lets clean CSV files into an empty
    events table be read in one pass (raises NeedsStage when one is not clean); ``grouped``
    reads CSV files that share a layout in one scan (raises multi.Split when that cannot
    account for their lines)."""
    _decode_inputs(load)
    used: dict[str, formats_mod.Format] = {}
    for batch in _batches(load, grouped):
        fmt = _load_batch(load, batch, in_place)
        used[fmt.name] = fmt
    load.current[0] = None
    for fmt in used.values():
        if fmt.after_load is not None:
            fmt.after_load(load.con, load.load_id)


def _decode_inputs(load: _Load) -> None:
    """Text in another encoding: read a UTF-8 copy (the input is replaced by the copy)."""
    for i, given in enumerate(load.inputs):
        load.current[0] = given.label
        inp = load.inputs[i] = decode.as_utf8(
            given, load.container or given.container, load.codec, load.work
        )
        if inp.encoding not in (None, "utf-8"):
            load.report.notes.append(f"{inp.label}: decoded from {inp.encoding} to UTF-8")


def _batches(load: _Load, grouped: bool) -> list[list[Input]]:
    """The inputs in the order they are read: CSV files that share a layout together (one scan),
    when ``grouped``; every other input on its own."""
    if grouped and load.stage_fn is None and len(load.inputs) > 1:
        return multi.group(load.inputs, lambda i: (load.container or i.container) == "csv")
    return [[i] for i in load.inputs]


def _load_batch(load: _Load, batch: list[Input], in_place: bool) -> formats_mod.Format:
    """Stage one batch of inputs, account for its lines, load it (``process``) and add its counts
    to the report; returns the format it was read with."""
    inp = batch[0]
    load.current[0] = inp.label
    st = _stage(load, batch, in_place)
    try:
        _account_lines(load, st)
        fmt = load.chosen or formats_mod.detect(load.target.kind, st)
        res = process(
            load.con,
            load.target,
            st,
            fmt,
            load_id=load.load_id,
            columns=load.columns,
            tz=load.tz,
            timestamp_format=load.timestamp_format,
            settings=load.settings,
            id_field=load.id_field,
            version_field=load.version_field,
            after_write=load.after_write,
            max_line=load.max_line,
        )
    except PoaError:
        if isinstance(st, multi.MultiStage):
            # read the files one by one: the error, or the load, is then each file's own
            raise multi.Split from None
        raise
    finally:
        st.drop(load.con)
    _tally(load, fmt, inp, st, res)
    return fmt


def _stage(load: _Load, batch: list[Input], in_place: bool) -> readers.Stage:
    """The stage of a batch: several CSV files in one scan, one clean CSV file read in place (into
    an empty events table), or the input staged by its reader."""
    con, inp = load.con, batch[0]
    if len(batch) > 1:
        st = multi.stage_csv_files(con, batch, load.max_line)
        load.current[0] = st.input.label
        load.report.notes.append(f"{len(batch)} files read in one scan: {st.input.label}")
        return st
    if (
        in_place
        and load.stage_fn is None
        and (load.container or inp.container) == "csv"
        and load.target.write == "append"
        and not _has_events(con)
    ):
        return readers.csv_in_place(con, inp, load.max_line)
    if load.stage_fn:
        return load.stage_fn(con, inp)
    return readers.stage(con, inp, load.container, load.max_line)


def _account_lines(load: _Load, st: readers.Stage) -> None:
    """Account for every line of a staged CSV file (each file of a multi-file stage on its own)."""
    if isinstance(st, multi.MultiStage):
        account_lines_per_file(load.con, st, load.max_line)
    elif load.stage_fn is None and st.container == "csv" and not st.in_place:
        account_lines(load.con, st, load.max_line)


def _tally(
    load: _Load, fmt: formats_mod.Format, inp: Input, st: readers.Stage, res: StageResult
) -> None:
    """Add a stage's format, notes and counts to the load's report."""
    report = load.report
    if fmt.name not in report.formats:
        report.formats.append(fmt.name)
        report.notes.append(
            f"format {fmt.name}: {'given' if load.chosen else 'detected'} from {inp.label}"
        )
    report.notes.extend(res.mapping.notes)
    report.notes.extend(st.notes)
    report.rows_read += res.read
    report.rows_loaded += res.loaded
    report.rows_quarantined += res.quarantined
    report.rows_duplicate += res.duplicate
    report.dst_ambiguous += res.dst_ambiguous
    report.dst_nonexistent += res.dst_nonexistent
    report.rows_conflict += res.conflict
    report.files_in_place += int(st.in_place)


def _log_ok(con: duckdb.DuckDBPyConnection, report: LoadReport, options: str) -> None:
    """The load's line in load_log (status ok), in its transaction."""
    con.execute(
        "INSERT INTO load_log (load_id, kind, source, format, started_at, finished_at, rows_read, "
        "rows_loaded, rows_quarantined, rows_duplicate, rows_conflict, options, status, message) "
        "VALUES (?, ?, ?, ?, now() - to_microseconds(?), now(), ?, ?, ?, ?, ?, ?, 'ok', NULL)",
        [
            report.load_id,
            report.kind,
            report.source,
            ",".join(report.formats),
            int(report.seconds * 1e6),
            report.rows_read,
            report.rows_loaded,
            report.rows_quarantined,
            report.rows_duplicate,
            report.rows_conflict,
            options,
        ],
    )
