"""Timestamp parsing: ISO 8601 with offsets, epoch s/ms/us/ns, naive times in a stated zone.

The format of a text column is decided once per file, in SQL, from all its values: never guessed
per row. Day/month orders that no value settles (every value has both numbers <= 12) are refused
with a message that says which ``timestamp_format`` to pass.
"""

from __future__ import annotations

from functools import lru_cache

import duckdb

from ..db import fetch_one
from ..errors import ConfigError, InputError, did_you_mean
from .sql import Params

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


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def check_timezone(tz: str) -> str:
    """Return the zone name, or raise with a 'did you mean' for a misspelt one."""
    if tz in ("UTC", "utc", "Z"):
        return "UTC"
    if tz in _zone_names():
        return tz
    raise ConfigError(
        f"unknown time zone {tz!r}.{did_you_mean(tz, _zone_names())}",
        code="ingest.timezone",
        hint="use an IANA name such as 'Europe/Amsterdam', 'America/New_York' or 'UTC'",
    )


def epoch_expr(num: str) -> str:
    """Epoch number to TIMESTAMPTZ, the unit read from its magnitude (s, ms, us, ns)."""
    return (
        f"(CASE WHEN abs({num}) < 1e11 THEN to_timestamp({num}) "
        f"WHEN abs({num}) < 1e14 THEN to_timestamp({num} / 1e3) "
        f"WHEN abs({num}) < 1e17 THEN to_timestamp({num} / 1e6) "
        f"ELSE to_timestamp({num} / 1e9) END)"
    )


def _naive_to_utc(expr: str, tz: str, params: Params) -> str:
    if tz == "UTC":
        return f"timezone('UTC', {expr})"
    return f"timezone({params.add(tz)}, {expr})"


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
) -> str:
    """A SQL expression giving a TIMESTAMPTZ (NULL where a value cannot be read) for ``expr``.

    Text is read as ISO 8601, and as the other forms (epoch numbers, day/month orders, named
    months) that one pass over the values finds; ``detect=False`` skips that pass and reads ISO
    8601 only."""
    t = type_.upper()
    if t.startswith("TIMESTAMP WITH TIME ZONE") or t == "TIMESTAMPTZ":
        return f"({expr})"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return _naive_to_utc(f"({expr})::TIMESTAMP", tz, params)
    if t in {
        "BIGINT",
        "INTEGER",
        "HUGEINT",
        "UBIGINT",
        "DOUBLE",
        "FLOAT",
        "DECIMAL",
        "UINTEGER",
    } or t.startswith("DECIMAL"):
        return epoch_expr(f"({expr})::DOUBLE")
    raw = f"({expr})::VARCHAR"
    # trim() copies every value; most have no blanks to trim, so only trim those whose first or
    # last character sorts below '!' (see pipeline._text)
    text = (
        f"(CASE WHEN {raw} < '!' OR ({raw})[-1] < '!' THEN trim({raw}, ' \r\n\t') ELSE {raw} END)"
    )
    if fmt:
        formats = params.add([fmt])
        parsed = f"try_strptime({text}, {formats})"
        if "%z" in fmt or "%Z" in fmt:
            return f"{parsed}::TIMESTAMPTZ"
        return _naive_to_utc(f"{parsed}::TIMESTAMP", tz, params)

    if tz == "UTC":
        iso = f"try_cast({text} AS TIMESTAMPTZ)"
    else:
        iso = (
            f"CASE WHEN regexp_matches({text}, '{ISO_OFFSET}') THEN try_cast({text} AS TIMESTAMPTZ) "
            f"ELSE {_naive_to_utc(f'try_cast({text} AS TIMESTAMP)', tz, params)} END"
        )
    if not detect:
        return iso  # ISO 8601 only: the caller treats any other value as a reason to look closer

    # One pass over the values that are not ISO 8601, to decide how to read them.
    query = f"""
        WITH v AS (SELECT {text} AS x FROM {relation} WHERE {text} <> ''
                   AND try_cast({text} AS TIMESTAMPTZ) IS NULL)
        SELECT
          count(*) FILTER (WHERE regexp_full_match(x, '{NUMERIC}')) AS numeric,
          count(*) FILTER (WHERE regexp_matches(x, '{DMY}')) AS dmy,
          max(TRY_CAST(regexp_extract(x, '{DMY}', 1) AS INTEGER)) AS max_first,
          max(TRY_CAST(regexp_extract(x, '{DMY}', 3) AS INTEGER)) AS max_second,
          max(length(regexp_extract(x, '{DMY}', 4))) AS year_len,
          min(length(regexp_extract(x, '{DMY}', 4))) FILTER (WHERE regexp_matches(x, '{DMY}')) AS year_len_min,
          string_agg(DISTINCT regexp_extract(x, '{DMY}', 2), '') AS seps,
          any_value(x) FILTER (WHERE regexp_matches(x, '{DMY}')) AS example,
          count(*) FILTER (WHERE regexp_matches(x, '{SPACED_OFFSET}')) AS spaced
        FROM v
        """
    info = fetch_one(con, query, params.used_in(query))
    assert info is not None
    numeric, dmy, max_first, max_second, year_len, year_len_min, seps, example, spaced = info
    branches = [iso]
    if spaced:  # '2024-03-04 10:00:00 +0100': a blank before the offset
        branches.append(
            f"try_cast(regexp_replace({text}, '{SPACED_OFFSET}', '\\1:\\2') AS TIMESTAMPTZ)"
        )
    if numeric:
        branches.append(
            f"CASE WHEN regexp_full_match({text}, '{NUMERIC}') THEN {epoch_expr(f'try_cast({text} AS DOUBLE)')} END"
        )
    if dmy:
        first_is_day = (max_first or 0) > 12
        second_is_day = (max_second or 0) > 12
        if first_is_day and second_is_day:
            raise InputError(
                f"dates such as {example!r} mix day/month and month/day orders in one column",
                code="ingest.date_order_mixed",
                file=file,
                column=column,
                hint="export the dates in ISO 8601 (2024-03-04 10:00) or fix the column, then load again",
            )
        if not first_is_day and not second_is_day:
            raise InputError(
                f"dates such as {example!r} could be day/month or month/day, and no value in the file "
                "settles it (every day number is 12 or less)",
                code="ingest.date_order_ambiguous",
                file=file,
                column=column,
                hint="say which it is: timestamp_format='%d/%m/%Y %H:%M' (day first) or "
                "timestamp_format='%m/%d/%Y %H:%M' (month first), adjusted to your separator and time part",
            )
        order = ["%d", "%m"] if first_is_day else ["%m", "%d"]
        years = (
            ["%Y"]
            if (year_len_min or 4) == 4
            else (["%y"] if (year_len or 2) == 2 else ["%Y", "%y"])
        )
        dmy_formats = [
            f"{order[0]}{sep}{order[1]}{sep}{year}{suffix}"
            for sep in (seps or "/")
            for year in years
            for suffix in TIME_SUFFIXES
        ]
        branches.append(
            _naive_to_utc(f"try_strptime({text}, {params.add(dmy_formats)})::TIMESTAMP", tz, params)
        )
    branches.append(
        _naive_to_utc(
            f"try_strptime({text}, {params.add(NAMED_MONTH_FORMATS)})::TIMESTAMP", tz, params
        )
    )
    return "coalesce(" + ", ".join(branches) + ")"


def in_range(expr: str) -> str:
    return f"({expr} >= TIMESTAMPTZ '{MIN_TS}' AND {expr} < TIMESTAMPTZ '{MAX_TS}')"
