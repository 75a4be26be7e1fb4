"""A report notebook's parameters: what it declares, and ``--param key=value`` checked against it.

papermill injects any name it is given and only warns about unknown ones, so a typo
(``--param stpes=...``) would run the report with the defaults and publish it. Here every name and
value is checked against the notebook's ``parameters`` cell (read by papermill's
``inspect_notebook``) before anything runs: an unknown name, a malformed pair or a value of the
wrong type is a coded error listing the valid parameters with their types and help.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, did_you_mean

TYPES = ("str", "int", "float", "bool", "list")
TRUE = {"true", "yes", "1", "on"}
FALSE = {"false", "no", "0", "off"}
# set by the runner itself, never by --param: where the notebook writes (out_dir) and which
# warehouse it reads (--db); `week` has its own option but is accepted as a parameter too
RESERVED = {
    "out_dir": "the runner sets it to the run's temporary folder",
    "warehouse": "pass the warehouse with --db PATH",
}


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # one of TYPES
    default: str  # as written in the notebook
    help: str

    def __str__(self) -> str:
        text = f"{self.name}: {self.type} = {self.default}"
        return text + (f"  ({self.help})" if self.help else "")


def declared(notebook: str | Path) -> dict[str, Parameter]:
    """The parameters the notebook's ``parameters`` cell declares, in order."""
    import papermill as pm

    path = Path(notebook)
    if not path.is_file():
        raise ConfigError(
            f"the report notebook {path} does not exist",
            code="report.notebook_missing",
            hint="check report_notebook under [run] in conf/report.toml (relative to the project "
            "root), or restore notebooks/ from git",
        )
    found = pm.inspect_notebook(str(path))
    out: dict[str, Parameter] = {}
    for name, info in found.items():
        kind = str(info.get("inferred_type_name") or "")
        if kind not in TYPES:
            raise ConfigError(
                f"parameter {name!r} of {path.name} has no type poanalytics can check "
                f"(found {kind or 'none'!r})",
                code="report.param_untyped",
                hint="declare it with a type and a default in the notebook's parameters cell, e.g. "
                f'{name}: str = ""  # what it does',
            )
        out[name] = Parameter(name, kind, str(info.get("default", "")), str(info.get("help") or ""))
    return out


def listing(params: Mapping[str, Parameter]) -> str:
    """The valid parameters, one a line, for error messages and ``--help``."""
    shown = [p for p in params.values() if p.name not in RESERVED]
    return "\n".join(f"    {p}" for p in shown) or "    (none)"


def split_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``["key=value", ...]`` from the command line into a dict; a pair without ``=`` or given twice
    is ``report.param_malformed``."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair or not pair.split("=", 1)[0].strip():
            raise ConfigError(
                f"--param {pair!r} is not of the form key=value",
                code="report.param_malformed",
                hint="write it like --param window=14d or --param steps=signed_up,activated "
                "(a list is comma-separated)",
            )
        key, value = pair.split("=", 1)
        key = key.strip()
        if key in out:
            raise ConfigError(
                f"--param {key} is given twice",
                code="report.param_malformed",
                hint="give each parameter once",
            )
        out[key] = value
    return out


def check(
    values: Mapping[str, Any], params: Mapping[str, Parameter], notebook: str = "the notebook"
) -> dict[str, Any]:
    """``values`` (strings from the command line, or Python values) converted to the declared types.

    Unknown or reserved names are ``report.param_unknown``, values that do not fit the type
    ``report.param_type``; both list the valid parameters. Lists are comma-separated strings.
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in RESERVED:
            raise ConfigError(
                f"parameter {name!r} cannot be set with --param: {RESERVED[name]}",
                code="report.param_unknown",
                hint=f"the parameters of {notebook} are:\n{listing(params)}",
            )
        if name not in params:
            raise ConfigError(
                f"{notebook} has no parameter {name!r}.{did_you_mean(name, params)}",
                code="report.param_unknown",
                hint=f"the parameters of {notebook} are:\n{listing(params)}",
            )
        out[name] = convert(value, params[name], notebook, params)
    return out


def convert(
    value: Any, param: Parameter, notebook: str, params: Mapping[str, Parameter]
) -> str | int | float | bool | list[str]:
    kind = param.type

    def wrong(why: str = "") -> ConfigError:
        return ConfigError(
            f"parameter {param.name!r} takes a {kind}, got {value!r}{why}",
            code="report.param_type",
            hint=f"the parameters of {notebook} are:\n{listing(params)}",
        )

    return _CONVERT.get(kind, _as_text)(value, wrong)


_Wrong = Callable[..., ConfigError]


def _as_list(value: Any, wrong: _Wrong) -> list[str]:
    """A list, or text of comma-separated values."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if not isinstance(value, str):
        raise wrong()
    return [part.strip() for part in value.split(",") if part.strip()]


def _as_bool(value: Any, wrong: _Wrong) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise wrong(" (write true or false)")


def _as_int(value: Any, wrong: _Wrong) -> int:
    if isinstance(value, bool):
        raise wrong()
    try:
        return int(str(value).strip())
    except ValueError:
        raise wrong() from None


def _as_float(value: Any, wrong: _Wrong) -> float:
    if isinstance(value, bool):
        raise wrong()
    try:
        return float(str(value).strip())
    except ValueError:
        raise wrong() from None


def _as_text(value: Any, wrong: _Wrong) -> str:
    if not isinstance(value, str):
        raise wrong()
    return value


_CONVERT: dict[str, Callable[[Any, _Wrong], str | int | float | bool | list[str]]] = {
    "list": _as_list,
    "bool": _as_bool,
    "int": _as_int,
    "float": _as_float,
}
