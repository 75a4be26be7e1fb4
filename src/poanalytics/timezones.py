"""Time-zone names: the one check of an IANA zone name, shared by loading (naive times in a stated
zone) and the metrics (calendar periods in a zone). A base module: it imports only ``errors``."""

from __future__ import annotations

from functools import lru_cache

from .errors import ConfigError, did_you_mean


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
