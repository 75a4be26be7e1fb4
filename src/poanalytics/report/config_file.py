"""Reading conf/report.toml for the delivery tables (``[email]``, ``[notify]``, ``[schedule]``).

Each part of the report reads its own tables with its own small loader; this one only finds and
parses the file. ``config`` is what the runner passes on: ``None`` or ``""`` (the project's
conf/report.toml), a path to another TOML file, or an already parsed mapping (tests, callers that
hold the config). A missing default file means "nothing configured"; a missing file that was named
explicitly is an error.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import find_root
from ..errors import ConfigError

REPORT_CONFIG = Path("conf") / "report.toml"

ConfigArg = str | Path | Mapping[str, Any] | None


def read_config(config: ConfigArg) -> tuple[dict[str, Any], str]:
    """The parsed report config and a name for it in messages (its path, or ``<mapping>``)."""
    if isinstance(config, Mapping):
        return dict(config), "<config mapping>"
    explicit = config not in (None, "")
    path = Path(str(config)).expanduser() if explicit else find_root() / REPORT_CONFIG
    if not path.is_file():
        if explicit:
            raise ConfigError(
                f"the report config {path} does not exist",
                code="report.config_missing",
                hint="pass the path of an existing TOML file, or leave it empty for "
                "conf/report.toml of the project",
            )
        return {}, str(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh), str(path)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}",
            code="report.config_syntax",
            hint="fix the line named above (strings need quotes, tables are written [name])",
        ) from None


def table(data: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    """The ``[name]`` table of the parsed config ({} when absent); an error when it is no table."""
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"[{name}] in {source} must be a table, got {value!r}",
            code="report.config_type",
            hint=f"write the settings under a [{name}] header, one key = value per line",
        )
    return dict(value)


def check_keys(section: Mapping[str, Any], known: set[str], name: str, source: str) -> None:
    """Refuse a key the loader does not know: a typo would otherwise be silently ignored."""
    from ..errors import unknown_name

    for key in section:
        if key not in known:
            raise unknown_name(
                f"setting in [{name}]",
                key,
                known,
                code="report.config_key",
                hint=f"correct the key in {source} (see the comments in conf/report.toml)",
                file=source if source != "<config mapping>" else None,
            )
