"""Account for every line of a CSV file, whatever the CSV reader does with it.

The reader can lose lines without a word: a line longer than its line size limit may vanish (not a
row, not a reject), and a quote that is never closed makes the rest of the file one value that the
reader rejects as a single row (with its first 10,000 characters), or drops. So the loader counts
the file's lines itself, with a byte count that knows nothing of CSV, and checks that the reader's
rows cover them.

The rule. A *line* is a run of bytes ending in a line break (``\\n``; ``\\r`` in a file without any
``\\n``), or the last bytes of the file; a *blank* line holds nothing (or only ``\\r``). Every line
with content belongs to exactly one of: the header, a row the reader read, or a row the reader
rejected. A row covers one line plus one for each line break inside its quoted values, less the
blank lines among those (a quoted value may hold a blank line; blank lines outside quotes are skipped
by the reader). So:

    lines with content == header lines + sum over rows read and rejected of (lines with content in it)

Checking it costs one pass of ``bytes.count`` over the file (``count``): when the file has exactly
``1 + rows`` lines and no blank ones, each row is one line and nothing is missing (every term above is
at least 1 per row, so equality leaves no room for a lost line). Only when that quick count differs
(quoted line breaks, blank lines, or a real loss) does ``reconcile`` count line breaks in the rows'
values (a query over the stage) and find the lines that are missing: lines over the reader's limit
are quarantined with their line number; anything else (an unclosed quote) refuses the load.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import duckdb
import numpy as np

from ..db import fetch_all, fetch_value, quote_ident
from ..errors import InputError

CHUNK = 16 * 1024 * 1024
QUICK_CHUNK = 1024 * 1024  # small enough for the comparison to stay in the CPU's cache
# characters of a line kept as the quarantined row's raw text (as the reader keeps of a reject)
RAW_LIMIT = 10_000
REJECT_TEXT = "rtrim(coalesce(csv_line, ''), chr(13) || chr(10))"  # a rejected row's text, in SQL
_NOT_COUNTED = (".zst",)  # compressed files the standard library cannot read


@dataclass
class LineCount:
    lines: int  # lines, blank or not
    blank: int | None = None  # blank lines; None when not counted (quick count)
    ends: np.ndarray | None = field(default=None, repr=False)  # byte offset of each line's end


def _open(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")  # noqa: SIM115


def countable(path: Path | None) -> bool:
    return path is not None and not path.name.lower().endswith(_NOT_COUNTED)


def count(path: Path) -> LineCount:
    """Lines of the file (a line break count); trailing blank lines are not counted.

    numpy compares 1 MiB at a time, read into one buffer: about as fast as reading the file
    (0.6-0.8 s for 1.5 GB and 10M lines on the 2-core benchmark machine, where bytes.count takes 2.5 s).
    """
    total = 0
    tail = b""
    buf = bytearray(QUICK_CHUNK)
    view = memoryview(buf)
    with _open(path) as fh:
        while n := fh.readinto(buf):  # type: ignore[attr-defined]
            total += int(np.count_nonzero(np.frombuffer(view[:n], dtype=np.uint8) == 10))
            tail = bytes(view[max(0, n - 64) : n]) if n >= 64 else (tail + bytes(view[:n]))[-64:]
    if total == 0 and b"\r" in tail:
        return _count_cr(path)
    stripped = tail.rstrip(b"\r\n")
    if not tail:
        return LineCount(0)
    # the last line without a line break is a line; trailing blank lines are none
    trailing_breaks = tail[len(stripped) :].count(b"\n")
    return LineCount(total + 1 - trailing_breaks if stripped else total)


def _count_cr(path: Path) -> LineCount:
    total, last = 0, b""
    with _open(path) as fh:
        while chunk := fh.read(CHUNK):
            total += chunk.count(b"\r")
            last = chunk[-1:]
    return LineCount(total + (last != b"\r"))


def scan(path: Path) -> LineCount:
    """Every line's end offset, and how many lines are blank (the slow path: numpy, in chunks)."""
    sep = 10
    with _open(path) as fh:
        head = fh.read(CHUNK)
    if b"\n" not in head and b"\r" in head:
        sep = 13
    ends: list[np.ndarray] = []
    offset = 0
    with _open(path) as fh:
        while chunk := fh.read(CHUNK):
            arr = np.frombuffer(chunk, dtype=np.uint8)
            ends.append(np.flatnonzero(arr == sep).astype(np.int64) + offset)
            offset += len(chunk)
    pos = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
    if len(pos) == 0 or pos[-1] != offset - 1:
        pos = np.append(pos, offset)  # the last line has no line break
    starts = np.concatenate([[0], pos[:-1] + 1])
    length = pos - starts
    blank = int(np.count_nonzero(length == 0))
    if sep == 10 and np.count_nonzero(length == 1):
        # a line of only "\r" (CRLF files) is blank too: look at the byte before each such break
        ones = pos[length == 1]
        blank += _count_cr_before(path, ones)
    return LineCount(len(pos), blank, pos)


def _count_cr_before(path: Path, breaks: np.ndarray) -> int:
    found = 0
    with _open(path) as fh:
        for at in breaks.tolist():  # only lines of one byte: few
            fh.seek(at - 1)
            found += fh.read(1) == b"\r"
    return found


def header_lines(path: Path) -> int:
    """Lines the header row takes (more than one only when a quoted name holds a line break)."""
    with _open(path) as fh:
        sample = fh.read(1 << 20).decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(sample, newline=""))
    try:
        next(reader)
    except (StopIteration, csv.Error):
        return 1
    return max(reader.line_num, 1)


def _lines_with_content(text: str) -> str:
    """SQL: lines with content a row's text covers (1 + line breaks - blank lines inside it); the
    line breaks are only looked for in texts that have one."""
    breaks = f"(strlen({text}) - strlen(replace({text}, chr(10), '')))"
    collapsed = f"regexp_replace({text}, '\\n(\\r?\\n)+', chr(10), 'g')"
    blank = f"({breaks} - (strlen({collapsed}) - strlen(replace({collapsed}, chr(10), ''))))"
    return f"(CASE WHEN strpos({text}, chr(10)) = 0 THEN 1 ELSE 1 + {breaks} - {blank} END)"


@dataclass
class Dropped:
    line: int
    size: int
    raw: str


@dataclass
class Reconciled:
    expected: int  # lines with content in the file
    accounted: int  # lines with content the reader's rows and rejects cover
    dropped: list[Dropped]  # lines over the reader's limit that it skipped without a reject


def reconcile(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    relation: str,
    columns: list[str],
    raw_rejects: str | None,
    max_line: int,
    label: str,
    params: dict | None = None,
    rejects_params: dict | None = None,
) -> Reconciled:
    """The exact count (see the module): raises ``ingest.csv_lines_lost`` when lines are missing
    that are not lines over the reader's limit. ``raw_rejects`` is a relation (a quoted table name
    or a subquery) with the reader's reject rows of this file."""
    scanned = scan(path)
    assert scanned.ends is not None and scanned.blank is not None
    expected = scanned.lines - scanned.blank
    text = "concat_ws(chr(31), " + ", ".join(f"s.{quote_ident(c)}" for c in columns) + ")"
    good = int(
        fetch_value(
            con,
            f"SELECT coalesce(sum({_lines_with_content(text)}), 0) FROM {relation} AS s",
            params,
        )
    )
    rejects: list[
        tuple[int, int, int, int]
    ] = []  # (line start byte, length of csv_line, lines, row)
    if raw_rejects:
        rejects = [
            (int(r[0]), int(r[1]), int(r[2]), int(r[3]))
            for r in fetch_all(
                con,
                f"SELECT first(line_byte_position), coalesce(max(length(csv_line)), 0), "
                f"max({_lines_with_content(REJECT_TEXT)}), line "
                f"FROM {raw_rejects} GROUP BY line ORDER BY line",
                rejects_params,
            )
        ]
    accounted = header_lines(path) + good + sum(r[2] for r in rejects)
    starts = np.concatenate([[0], scanned.ends[:-1] + 1])
    length = scanned.ends - starts
    rejected_at = {r[0] for r in rejects}
    long_lines = [
        Dropped(i + 1, int(length[i]), "")
        for i in np.flatnonzero(length > max_line).tolist()
        if int(starts[i]) not in rejected_at
    ]
    missing = expected - accounted
    if missing > 0 and missing == len(long_lines):
        # exactly the lines over the reader's limit are missing: quarantine them
        for d in long_lines:
            d.raw = _raw_at(path, int(starts[d.line - 1]))
        return Reconciled(expected, accounted, long_lines)
    if missing > 0:
        # the reader kept only the start of a row it rejected: that row took the missing lines
        long_starts = set(starts[length > max_line].tolist())  # once, not once per reject
        cut = [r for r in rejects if r[1] >= RAW_LIMIT and r[0] not in long_starts]
        raise _lost(label, expected, accounted, missing, cut, long_lines, scanned.ends)
    if missing < 0:
        raise InputError(
            f"the file has {expected:,} lines with content, but the CSV reader's rows cover "
            f"{accounted:,}: it read the file in a way the line count cannot follow",
            code="ingest.csv_lines",
            file=label,
            hint="check the file's line breaks (a mix of \\r and \\n?) and export it again as "
            "UTF-8 CSV with \\n or \\r\\n line breaks",
        )
    return Reconciled(expected, accounted, [])


def _raw_at(path: Path, start: int) -> str:
    with _open(path) as fh:
        fh.seek(start)
        return fh.read(RAW_LIMIT * 4).decode("utf-8", errors="replace")[:RAW_LIMIT]


def _lost(
    label: str,
    expected: int,
    accounted: int,
    missing: int,
    truncated: list[tuple[int, int, int, int]],
    long_lines: list[Dropped],
    ends: np.ndarray,
) -> InputError:
    """ingest.csv_lines_lost: lines the reader neither read nor rejected; the message says where."""
    where = "; look for an unclosed quote or a very long line"
    if long_lines:
        first = long_lines[0]
        where = (
            f"; line {first.line:,} is {first.size:,} bytes long, over the CSV reader's limit, "
            "and the reader lost it and rows near it: shorten or remove that line"
        )
    elif truncated:
        # the reader kept only the start of this row: it took the missing lines into it
        start = int(np.searchsorted(ends, truncated[-1][0])) + 1
        last = min(start + missing, len(ends))
        where = (
            f"; the row starting on line {start:,} runs to line {last:,}: a quote opened on line "
            f"{start:,} is probably never closed, so the reader took {last - start + 1:,} lines "
            "as one value"
        )
    return InputError(
        f"{missing:,} of the file's {expected:,} lines with content were neither read nor "
        f"rejected by the CSV reader ({accounted:,} accounted for){where}",
        code="ingest.csv_lines_lost",
        file=label,
        hint="nothing from this file was loaded; close or double the quote the message points at "
        "(a quote inside a value is written as two quotes), or shorten the long line, then load "
        "the file again",
    )
