"""Timestamp parsing: ISO 8601 with offsets, epoch s/ms/us/ns, naive times in a stated zone.

The format of a text column is decided once per file, in SQL, from all its values: never guessed
per row. Day/month orders that no value settles (every value has both numbers <= 12) are refused
with a message that says which ``timestamp_format`` to pass. Numbers are read as calendar dates
when every one of them is one (``20101201``: YYYYMMDD, also YYYYMMDDHHMM and YYYYMMDDHHMMSS), else
as epoch numbers whose unit comes from their magnitude; a guessed epoch time before 1980 is not
believed (every value: the load is refused; some values: those rows are quarantined).

Local times in a stated zone follow the rule of Python's zoneinfo/dateutil (fold=0), java.time and
RFC 5545: a time that occurs twice (the clocks go back) is the earlier instant; a time that does not
exist (the clocks go forward) is moved forward by the length of the gap (02:30 -> 03:30). The
loader counts both (``LoadReport.dst_ambiguous`` / ``dst_nonexistent``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from ..db import fetch_one
from ..errors import ConfigError, InputError
from ..sql import Params

ISO_OFFSET = r"\d[T ]\d{1,2}:\d{2}.*([zZ]|[+-]\d{2}(:?\d{2})?)$"
NUMERIC = r"-?\d+(\.\d+)?"
SPACED_OFFSET = r"\s+([+-]\d{2}):?(\d{2})$"
DMY = r"^\s*(\d{1,2})([/.-])(\d{1,2})[/.-](\d{2}|\d{4})\b"
# Month names settle the order by themselves (Jira: 12/Jan/24 3:45 PM).
NAMED_MONTH_FORMATS = [
    "%d/%b/%y %I:%M %p",
    "%d/%b/%Y %I:%M %p",
    "%d/%b/%y %H:%M",
    "%d/%b/%Y %H:%M",
    "%d/%b/%y",
    "%d/%b/%Y",
    "%d %b %Y %H:%M:%S",
    "%d %b %Y %H:%M",
    "%d %b %Y",
    "%b %d, %Y %I:%M %p",
    "%b %d, %Y %H:%M:%S",
    "%b %d, %Y",
    "%d-%b-%Y %H:%M:%S",
    "%d-%b-%Y",
    "%a %b %d %H:%M:%S %Y",
]
TIME_SUFFIXES = [
    "",
    " %H:%M",
    " %H:%M:%S",
    " %H:%M:%S.%f",
    " %I:%M %p",
    " %I:%M:%S %p",
    "T%H:%M:%S",
]
MIN_TS = "1900-01-01"
MAX_TS = "2200-01-01"
# An epoch number read by its magnitude is believed from this year on: earlier ones are almost
# always something else (a date written as a number, a counter, a placeholder 0).
PLAUSIBLE_FROM = "1980-01-01"
# Calendar dates written as numbers: YYYYMMDD, YYYYMMDDHHMM, YYYYMMDDHHMMSS.
_YMD = r"(19|20|21)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])"
NUMERIC_DATES = [
    (_YMD, "%Y%m%d"),
    (_YMD + r"([01]\d|2[0-3])[0-5]\d", "%Y%m%d%H%M"),
    (_YMD + r"([01]\d|2[0-3])[0-5]\d[0-5]\d", "%Y%m%d%H%M%S"),
]
# Explicit epoch units (timestamp_format='epoch_ms'): the divisor to seconds.
EPOCH_UNITS = {"epoch_s": 1, "epoch_ms": 1e3, "epoch_us": 1e6, "epoch_ns": 1e9}
# An offset no place uses: hours above 14 or minutes above 59 (+25:00, -1500, +05:75).
BAD_OFFSET = r"\d[T ]\d{1,2}:\d{2}.*[+-](1[5-9]|[2-9]\d|\d{2}:?[6-9]\d)(:?\d{2})?$"
NUMERIC_TYPES = {
    "BIGINT",
    "INTEGER",
    "HUGEINT",
    "UBIGINT",
    "DOUBLE",
    "FLOAT",
    "DECIMAL",
    "UINTEGER",
    "SMALLINT",
    "TINYINT",
    "USMALLINT",
    "UTINYINT",
    "REAL",
}


def check_format(fmt: str | None, con: duckdb.DuckDBPyConnection) -> str | None:
    """Validate ``timestamp_format``: a strptime format DuckDB understands, or an epoch unit."""
    if fmt is None or fmt in EPOCH_UNITS:
        return fmt
    problem = None
    if not isinstance(fmt, str) or "%" not in fmt:
        problem = "has no %-directive"
    else:
        try:
            fetch_one(con, "SELECT try_strptime('2024-03-04', ?)", [fmt])
        except duckdb.Error as exc:
            problem = str(exc).splitlines()[0].split("Error: ", 1)[-1]
    if problem is None:
        return fmt
    raise ConfigError(
        f"timestamp_format {fmt!r} is not a time format: {problem}",
        code="ingest.timestamp_format",
        hint="write it with strptime directives, e.g. '%Y-%m-%d %H:%M:%S', '%d/%m/%Y %H:%M', "
        "'%Y%m%d' (20101201) or '%d/%b/%y %I:%M %p'; or name an epoch unit: "
        + ", ".join(repr(u) for u in EPOCH_UNITS),
    )


def epoch_expr(num: str, *, plausible: bool = False) -> str:
    """Epoch number to TIMESTAMPTZ, the unit read from its magnitude (s, ms, us, ns). Values that
    are not finite or too large for any unit (NaN, inf, 1e300) give NULL; with ``plausible``,
    so do times before 1980 (the magnitude was a guess, and such a time is not believed)."""
    expr = (
        f"(CASE WHEN NOT isfinite({num}) OR abs({num}) >= 1e19 THEN NULL "
        f"WHEN abs({num}) < 1e11 THEN to_timestamp({num}) "
        f"WHEN abs({num}) < 1e14 THEN to_timestamp({num} / 1e3) "
        f"WHEN abs({num}) < 1e17 THEN to_timestamp({num} / 1e6) "
        f"ELSE to_timestamp({num} / 1e9) END)"
    )
    if plausible:
        expr = f"(CASE WHEN {num} >= {_epoch_seconds(PLAUSIBLE_FROM)} THEN {expr} END)"
    return expr


def _epoch_seconds(day: str) -> int:
    import datetime as dt

    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp())


def _epoch_unit_expr(num: str, unit: str) -> str:
    """An epoch number in a stated unit; NaN, inf and numbers out of range give NULL."""
    secs = f"({num}) / {EPOCH_UNITS[unit]:g}"
    return f"(CASE WHEN isfinite({num}) AND abs({secs}) < 1e10 THEN to_timestamp({secs}) END)"


def _naive_to_utc(expr: str, tz: str, params: Params) -> str:
    """Local times in ``tz`` to instants: a time the clocks pass twice is the earlier instant, a
    time they skip is moved forward by the gap (see the module docstring)."""
    if tz == "UTC":
        return f"timezone('UTC', {expr})"
    z = params.add(tz)
    # ICU (DuckDB's timezone()) already moves skipped times forward; in a fold it takes the later
    # instant, so the earlier one (the local time minus the offset of the day before) is taken
    # when it maps back to the same local time.
    later = f"timezone({z}, {expr})"
    before = f"({later} - INTERVAL 1 DAY)"
    earlier = f"timezone('UTC', {expr} - (timezone({z}, {before}) - timezone('UTC', {before})))"
    return (
        f"(CASE WHEN {earlier} < {later} AND timezone({z}, {earlier}) = {expr} "
        f"THEN {earlier} ELSE {later} END)"
    )


def dst_kind(naive: str, tz: str, params: Params) -> str:
    """SQL: 'fold' for a local time the clocks pass twice, 'gap' for one they skip, else NULL."""
    z = params.add(tz)
    later = f"timezone({z}, {naive})"
    before = f"({later} - INTERVAL 1 DAY)"
    earlier = f"timezone('UTC', {naive} - (timezone({z}, {before}) - timezone('UTC', {before})))"
    return (
        f"(CASE WHEN timezone({z}, {later}) <> {naive} THEN 'gap' "
        f"WHEN {earlier} < {later} AND timezone({z}, {earlier}) = {naive} THEN 'fold' END)"
    )


def _implausible(
    file: str, column: str, example: object, what: str, hint: str | None = None
) -> InputError:
    return InputError(
        f"read as {what}, every value of the column is before {PLAUSIBLE_FROM[:4]} "
        f"(such as {example!r}), which is not believable for these data",
        code="ingest.time_implausible",
        file=file,
        column=column,
        hint=hint
        or "say how to read it: timestamp_format='%Y%m%d' for dates written as numbers "
        "(20101201; '%Y%m%d%H%M%S' with a time), or timestamp_format='epoch_s' / 'epoch_ms' / "
        "'epoch_us' / 'epoch_ns' for epoch numbers in that unit",
    )


def _numeric_as_text(expr: str, type_: str) -> str:
    """A typed number as the text it was written as: integral floats without '.0'."""
    if type_ in {"DOUBLE", "FLOAT", "REAL"} or type_.startswith("DECIMAL"):
        return (
            f"(CASE WHEN isfinite(({expr})::DOUBLE) AND ({expr}) = trunc({expr}) "
            f"AND abs({expr}) < 1e18 THEN CAST(CAST({expr} AS BIGINT) AS VARCHAR) "
            f"ELSE CAST({expr} AS VARCHAR) END)"
        )
    return f"CAST({expr} AS VARCHAR)"


def plan(
    con: duckdb.DuckDBPyConnection,
    *,
    relation: str,
    expr: str,
    type_: str,
    tz: str,
    fmt: str | None,
    params: Params,
    file: str,
    column: str,
    detect: bool = True,
    naive: list[str] | None = None,
) -> str:
    """A SQL expression giving a TIMESTAMPTZ (NULL where a value cannot be read) for ``expr``.

    Text is read as ISO 8601, and as the other forms (epoch numbers, day/month orders, named
    months) that one pass over the values finds; ``detect=False`` skips that pass and reads ISO
    8601 only."""
    t = type_.upper()
    local = _local(tz, params, naive)
    if t.startswith("TIMESTAMP WITH TIME ZONE") or t == "TIMESTAMPTZ":
        return f"({expr})"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return local(f"({expr})::TIMESTAMP")
    if t in NUMERIC_TYPES or t.startswith("DECIMAL"):
        num = f"({expr})::DOUBLE"
        if fmt in EPOCH_UNITS:
            return _epoch_unit_expr(num, fmt)
        text = _numeric_as_text(expr, t)
        if not fmt:
            if not detect:
                return epoch_expr(num)
            where = _Where(con, relation, params, file, column)
            return _numbers_detected(where, expr, num, text, local)
    else:
        text = _trimmed(expr)
    if fmt:
        return _with_format(text, fmt, params, local)
    iso = _iso(text, tz, params, naive)
    if not detect:
        return iso  # ISO 8601 only: the caller treats any other value as a reason to look closer
    return _text_detected(_Where(con, relation, params, file, column), text, iso, local)


@dataclass
class _Where:
    """The column being planned: the connection and relation to look at its values, the parameters
    of the load's SQL, and the file and column an error names."""

    con: duckdb.DuckDBPyConnection
    relation: str
    params: Params
    file: str
    column: str


def _local(tz: str, params: Params, naive: list[str] | None) -> Callable[[str], str]:
    """Local times (no offset) to instants in ``tz``, noting each local-time expression in
    ``naive`` (the load counts the ones at a daylight-saving change)."""

    def local(naive_expr: str) -> str:
        if naive is not None and tz != "UTC":
            naive.append(naive_expr)
        return _naive_to_utc(naive_expr, tz, params)

    return local


def _trimmed(expr: str) -> str:
    """The value as text, blanks trimmed. trim() copies every value; most have no blanks to trim,
    so only those whose first or last character sorts below '!' are trimmed (see typed._text)."""
    raw = f"({expr})::VARCHAR"
    return (
        f"(CASE WHEN {raw} < '!' OR ({raw})[-1] < '!' THEN trim({raw}, ' \r\n\t') ELSE {raw} END)"
    )


def _numbers_detected(
    w: _Where, expr: str, num: str, text: str, local: Callable[[str], str]
) -> str:
    """Typed numbers read as dates (20101201) or epoch numbers, decided by one pass over them."""
    ranges = [(19000101, 21991231), (190001010000, 219912312359)]
    ranges.append((19000101000000, 21991231235959))
    counts = ", ".join(
        f"count(*) FILTER (WHERE {num} BETWEEN {lo} AND {hi} AND {num} = trunc({num}))"
        for lo, hi in ranges
    )
    query = (
        f"SELECT count(*) FILTER (WHERE isfinite({num})), {counts}, "
        f"max({epoch_expr(num)}), any_value({text}) "
        f"FROM {w.relation} WHERE ({expr}) IS NOT NULL"
    )
    row = fetch_one(w.con, query, w.params.used_in(query))
    assert row is not None
    n, *dates, latest, example = row
    return _numeric(text, num, n, dates, latest, example, w.file, w.column, w.params, local)


def _with_format(text: str, fmt: str, params: Params, local: Callable[[str], str]) -> str:
    """Text read with the load's ``timestamp_format`` (an epoch unit, or a strptime format)."""
    if fmt in EPOCH_UNITS:
        return _epoch_unit_expr(f"try_cast({text} AS DOUBLE)", fmt)
    formats = params.add([fmt])
    parsed = f"try_strptime({text}, {formats})"
    if "%z" in fmt or "%Z" in fmt:
        return f"{parsed}::TIMESTAMPTZ"
    return local(f"{parsed}::TIMESTAMP")


def _iso(text: str, tz: str, params: Params, naive: list[str] | None) -> str:
    """Text read as ISO 8601: with an offset as that instant, without one as a local time in
    ``tz``. An offset no place uses (+25:00) is not read. Only values whose offset hours (+HH,
    +HHMM, +HH:MM) are above 14 or minutes above 59, by character comparisons, go on to the
    pattern."""
    x = text
    bad_offset = (
        f"CASE WHEN ({x})[-3] IN ('+', '-') THEN ({x})[-2:] > '14' "
        f"WHEN ({x})[-5] IN ('+', '-') THEN ({x})[-4:-3] > '14' OR ({x})[-2:] > '59' "
        f"WHEN ({x})[-6] IN ('+', '-') THEN ({x})[-5:-4] > '14' OR ({x})[-2:] > '59' "
        f"ELSE false END AND regexp_matches({x}, '{BAD_OFFSET}')"
    )
    if tz == "UTC":
        return f"CASE WHEN {bad_offset} THEN NULL ELSE try_cast({text} AS TIMESTAMPTZ) END"
    iso = (
        f"CASE WHEN {bad_offset} THEN NULL "
        f"WHEN regexp_matches({text}, '{ISO_OFFSET}') THEN try_cast({text} AS TIMESTAMPTZ) "
        f"ELSE {_naive_to_utc(f'try_cast({text} AS TIMESTAMP)', tz, params)} END"
    )
    if naive is not None:  # only the values without an offset are local times
        naive.append(
            f"CASE WHEN NOT regexp_matches({text}, '{ISO_OFFSET}') "
            f"THEN try_cast({text} AS TIMESTAMP) END"
        )
    return iso


def _text_detected(w: _Where, text: str, iso: str, local: Callable[[str], str]) -> str:
    """Text read as ISO 8601 and as the other forms one pass over the values that are not ISO
    8601 finds: a blank before the offset, numbers (dates or epochs), day/month orders, named
    months."""
    info = _text_profile(w, text)
    numeric, dmy, max_first, max_second, year_len, year_len_min, seps, example, spaced = info[:9]
    max_year, min_year, *dates, latest, num_example = info[9:]
    branches = [iso]
    if spaced:  # '2024-03-04 10:00:00 +0100': a blank before the offset
        branches.append(
            f"try_cast(regexp_replace({text}, '{SPACED_OFFSET}', '\\1:\\2') AS TIMESTAMPTZ)"
        )
    if numeric:
        branches.append(
            f"CASE WHEN regexp_full_match({text}, '{NUMERIC}') THEN "
            + _numeric(
                text,
                f"try_cast({text} AS DOUBLE)",
                numeric,
                dates,
                latest,
                num_example,
                w.file,
                w.column,
                w.params,
                local,
            )
            + " END"
        )
    if dmy:
        first_is_day = _day_first(w, max_first, max_second, example)
        _check_dmy_years(w, example, max_year, min_year, year_len, year_len_min)
        formats = _dmy_formats(first_is_day, seps, year_len, year_len_min)
        branches.append(local(f"try_strptime({text}, {w.params.add(formats)})::TIMESTAMP"))
    branches.append(local(f"try_strptime({text}, {w.params.add(NAMED_MONTH_FORMATS)})::TIMESTAMP"))
    return "coalesce(" + ", ".join(branches) + ")"


def _text_profile(w: _Where, text: str) -> tuple[Any, ...]:
    """One pass over the values that are not ISO 8601: how many are numbers, day/month dates
    (with the largest first and second numbers, year lengths, separators, an example), times with
    a blank before the offset, and numeric dates of each form."""
    num = "try_cast(x AS DOUBLE)"
    date_counts = ", ".join(
        f"count(*) FILTER (WHERE regexp_full_match(x, '{pattern}'))" for pattern, _ in NUMERIC_DATES
    )
    # 31/31/2024 is no date in either order: it settles nothing (and is quarantined as unreadable)
    impossible = (
        f"coalesce(TRY_CAST(regexp_extract(x, '{DMY}', 1) AS INTEGER) > 12 "
        f"AND TRY_CAST(regexp_extract(x, '{DMY}', 3) AS INTEGER) > 12, false)"
    )
    query = f"""
        WITH v AS (SELECT {text} AS x FROM {w.relation} WHERE {text} <> ''
                   AND try_cast({text} AS TIMESTAMPTZ) IS NULL)
        SELECT
          count(*) FILTER (WHERE regexp_full_match(x, '{NUMERIC}')) AS numeric,
          count(*) FILTER (WHERE regexp_matches(x, '{DMY}') AND NOT ({impossible})) AS dmy,
          max(TRY_CAST(regexp_extract(x, '{DMY}', 1) AS INTEGER)) FILTER (WHERE NOT ({impossible})) AS max_first,
          max(TRY_CAST(regexp_extract(x, '{DMY}', 3) AS INTEGER)) FILTER (WHERE NOT ({impossible})) AS max_second,
          max(length(regexp_extract(x, '{DMY}', 4))) AS year_len,
          min(length(regexp_extract(x, '{DMY}', 4))) FILTER (WHERE regexp_matches(x, '{DMY}')) AS year_len_min,
          string_agg(DISTINCT regexp_extract(x, '{DMY}', 2), '') AS seps,
          any_value(x) FILTER (WHERE regexp_matches(x, '{DMY}')) AS example,
          count(*) FILTER (WHERE regexp_matches(x, '{SPACED_OFFSET}')) AS spaced,
          max(TRY_CAST(regexp_extract(x, '{DMY}', 4) AS INTEGER)) FILTER (WHERE regexp_matches(x, '{DMY}')) AS max_year,
          min(TRY_CAST(regexp_extract(x, '{DMY}', 4) AS INTEGER)) FILTER (WHERE regexp_matches(x, '{DMY}')) AS min_year,
          {date_counts},
          max({epoch_expr(num)}) FILTER (WHERE regexp_full_match(x, '{NUMERIC}')) AS latest,
          any_value(x) FILTER (WHERE regexp_full_match(x, '{NUMERIC}')) AS num_example
        FROM v
        """
    info = fetch_one(w.con, query, w.params.used_in(query))
    assert info is not None
    return tuple(info)


def _day_first(w: _Where, max_first: int | None, max_second: int | None, example: object) -> bool:
    """Whether day/month dates put the day first: the position with a number above 12 is the day;
    refused when both positions have one, or neither."""
    first_is_day = (max_first or 0) > 12
    second_is_day = (max_second or 0) > 12
    if first_is_day and second_is_day:
        raise InputError(
            f"dates such as {example!r} mix day/month and month/day orders in one column",
            code="ingest.date_order_mixed",
            file=w.file,
            column=w.column,
            hint="export the dates in ISO 8601 (2024-03-04 10:00) or fix the column, then load again",
        )
    if not first_is_day and not second_is_day:
        raise InputError(
            f"dates such as {example!r} could be day/month or month/day, and no value in the file "
            "settles it (every day number is 12 or less)",
            code="ingest.date_order_ambiguous",
            file=w.file,
            column=w.column,
            hint="say which it is: timestamp_format='%d/%m/%Y %H:%M' (day first) or "
            "timestamp_format='%m/%d/%Y %H:%M' (month first), adjusted to your separator and time part",
        )
    return first_is_day


def _check_dmy_years(
    w: _Where,
    example: object,
    max_year: Any,
    min_year: Any,
    year_len: Any,
    year_len_min: Any,
) -> None:
    """Day/month dates whose every year is before 1980 are refused as implausible."""
    if max_year is not None and (
        (year_len_min == year_len == 4 and max_year < 1980)
        or (year_len_min == year_len == 2 and min_year >= 69 and max_year < 80)
    ):  # two-digit years 69-99 are read as 19xx
        raise _implausible(
            w.file,
            w.column,
            example,
            "day/month/year dates",
            "if the years are right, say how to read them: timestamp_format='%d/%m/%Y' "
            "(or '%m/%d/%y', ... as written); otherwise fix the export's years",
        )


def _dmy_formats(
    first_is_day: bool, seps: str | None, year_len: int | None, year_len_min: int | None
) -> list[str]:
    """The strptime formats of the day/month dates found: their order, each separator seen,
    four- or two-digit years, with or without a time."""
    order = ["%d", "%m"] if first_is_day else ["%m", "%d"]
    years = (
        ["%Y"] if (year_len_min or 4) == 4 else (["%y"] if (year_len or 2) == 2 else ["%Y", "%y"])
    )
    return [
        f"{order[0]}{sep}{order[1]}{sep}{year}{suffix}"
        for sep in (seps or "/")
        for year in years
        for suffix in TIME_SUFFIXES
    ]


def _numeric(
    text: str,
    num: str,
    count: int,
    dates: list[int],
    latest: object,
    example: object,
    file: str,
    column: str,
    params: Params,
    local: Callable[[str], str],
) -> str:
    """How to read a column's numbers, from all of them: calendar dates when every number is one
    (20101201), else epoch numbers, refused when every one of them would fall before 1980."""
    for (_, fmt), n in zip(NUMERIC_DATES, dates, strict=True):
        if count and n == count:
            return local(f"try_strptime({text}, {params.add(fmt)})::TIMESTAMP")
    if latest is not None and getattr(latest, "year", 9999) < int(PLAUSIBLE_FROM[:4]):
        raise _implausible(file, column, example, "epoch numbers (unit from their size)")
    return epoch_expr(num, plausible=True)


def in_range(expr: str) -> str:
    return f"({expr} >= TIMESTAMPTZ '{MIN_TS}' AND {expr} < TIMESTAMPTZ '{MAX_TS}')"
