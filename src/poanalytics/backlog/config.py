"""The product file: conf/product.toml (or a .yaml/.yml file with the same keys), read into
``model.ProductConfig`` and validated (docs/backlog-config.md lists every key).

Which file: ``read_product(path)`` reads ``path``; without one, ``[backlog] product`` of
conf/poanalytics.toml (default conf/product.toml) under the project root. A missing default file
means "no product configured" (None); a missing file that was named is ``backlog.config_missing``.

Errors name the file and where in it:

- ``backlog.config_syntax``: not TOML / YAML (or not UTF-8): file, line and column;
- ``backlog.config_invalid``: a key this reader does not know (with a "did you mean"), a value of
  the wrong type, an objective without the keys its metric needs (conversion: ``step``, a step of
  [funnel] steps; retention: ``week``; theme_volume: ``theme``), a key that does not apply to its
  metric, a baseline equal to its target (no direction), an impact naming an unknown objective or
  actor, an item of [[items]] that cannot be read (the same rules as a CSV row, ``backlog.items``).
  The table and key are named, with the line when it can be found.

``ProductConfig.sha256`` is the sha256 of the file's bytes (stored with each published snapshot,
so an ordering says which product file it was made with).
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from ..config import CONFIG_NAME, find_root
from ..errors import PoaError, did_you_mean
from .errors import BacklogError
from .model import (
    METRICS,
    Actor,
    BacklogSource,
    Funnel,
    Impact,
    Objective,
    Planning,
    ProductConfig,
    Segment,
)

PRODUCT_NAME = Path("conf") / "product.toml"

TOP_KEYS = ("vision", "planning", "funnel", "objectives", "actors", "impacts", "backlog", "items")
PLANNING_KEYS = tuple(f.name for f in fields(Planning) if f.name != "_")
FUNNEL_KEYS = ("steps", "window")
OBJECTIVE_KEYS = (
    "description",
    "metric",
    "step",
    "from_step",
    "week",
    "theme",
    "inactive_days",
    "segment",
    "baseline",
    "target",
    "direction",
)
# The keys each metric needs and the metric-specific keys it accepts (the others are refused: a
# ``week`` on a conversion objective would be silently ignored otherwise)
METRIC_REQUIRED = {
    "conversion": ("step",),
    "time_to_convert": ("step",),
    "retention": ("week",),
    "churn_rate": (),
    "theme_volume": ("theme",),
}
METRIC_OPTIONAL = {
    "conversion": ("from_step",),
    "time_to_convert": ("from_step",),
    "retention": (),
    "churn_rate": ("inactive_days",),
    "theme_volume": (),
}
SPECIFIC_KEYS = ("step", "from_step", "week", "theme", "inactive_days")
ACTOR_KEYS = ("description", "segment")
IMPACT_KEYS = ("objective", "actor", "impact", "items")
BACKLOG_KEYS = ("path", "format", "columns", "list_separator", "encoding", "timezone")
FORMATS = ("", "jira", "linear")
EFFORT_UNITS = ("weeks", "points", "tshirt")
ICE_VARIANTS = ("ease",)  # what backlog.scores computes (impact x confidence x ease)
DIRECTIONS = ("up", "down")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def default_path(root: Path | None = None) -> Path:
    """``[backlog] product`` of conf/poanalytics.toml (relative to the project root), else
    conf/product.toml under the root."""
    base = root if root is not None else find_root()
    settings = base / CONFIG_NAME
    if settings.is_file():
        try:
            with settings.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError:
            data = {}  # the settings loader reports a broken conf/poanalytics.toml itself
        named = data.get("backlog", {}).get("product", "") if isinstance(data, dict) else ""
        if isinstance(named, str) and named.strip():
            return base / Path(named.strip()).expanduser()
    return base / PRODUCT_NAME


def read_product(
    path: str | Path | None = None, *, root: str | Path | None = None
) -> ProductConfig | None:
    """The product file ``path`` (default: ``default_path(root)``), read and validated; None when
    no path was given and the default file does not exist. ``root`` is the project root (default:
    the one found from the working directory); relative paths are read from it."""
    base = Path(root).expanduser() if root is not None else None
    if path is None:
        file = default_path(base)
        if not file.is_file():
            return None
    else:
        file = Path(path).expanduser()
        if not file.is_absolute() and base is not None:
            file = base / file
        if not file.is_file():
            raise BacklogError(
                f"the product file {file} does not exist",
                code="backlog.config_missing",
                file=str(file),
                hint="pass the path of an existing conf/product.toml (or .yaml), or none for the "
                "project's conf/product.toml; docs/backlog-config.md shows the format",
            )
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BacklogError(
            f"line {line}: the file is not UTF-8 text",
            code="backlog.config_syntax",
            file=str(file),
            hint="save the product file as UTF-8",
        ) from exc
    return parse_product(
        text,
        file,
        sha256=hashlib.sha256(raw).hexdigest(),
        root=base if base is not None else find_root(),
    )


def parse_product(
    text: str,
    path: str | Path = "product.toml",
    *,
    sha256: str | None = None,
    root: Path | None = None,
) -> ProductConfig:
    """The product config in ``text``; ``path`` names it in errors and decides TOML or YAML (by
        its suffix). [[items]] are named (``Item.source``) by the file's path relative to ``root``
    when it is under it, else as given."""
    file = Path(path)
    is_yaml = file.suffix.lower() in (".yaml", ".yml")
    data = _parse_yaml(text, file) if is_yaml else _parse_toml(text, file)
    where = _Locator(text, is_yaml)
    v = _Validator(file, where)
    if not isinstance(data, dict):
        raise v.invalid("(top)", "the file must hold keys like vision, [planning], [objectives.x]")
    for key in data:
        if key not in TOP_KEYS:
            raise v.invalid(
                str(key), f"unknown top-level key.{did_you_mean(str(key), TOP_KEYS)}", path=(key,)
            )
    vision = data.get("vision", "")
    if not isinstance(vision, str):
        raise v.invalid("vision", "must be text: one sentence", path=("vision",))
    planning = v.planning(v.table(data, "planning"))
    funnel = v.funnel(data)
    objectives = v.objectives(data, funnel, planning)
    actors = v.actors(data)
    impacts = v.impacts(data, objectives, actors)
    source = v.backlog(v.table(data, "backlog"))
    digest = sha256 if sha256 is not None else hashlib.sha256(text.encode("utf-8")).hexdigest()
    config = ProductConfig(
        path=str(file),
        vision=vision.strip(),
        planning=planning,
        funnel=funnel,
        objectives=objectives,
        actors=actors,
        impacts=impacts,
        source=source,
        sha256=digest,
    )
    shown = str(file)
    if root is not None and file.resolve().is_relative_to(Path(root).resolve()):
        shown = str(file.resolve().relative_to(Path(root).resolve()))
    items = v.items(data, config, shown)
    if items:
        from dataclasses import replace

        config = replace(config, items=items)
    return config


# -- parsing --------------------------------------------------------------------------------------


def _parse_toml(text: str, file: Path) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, column, detail = _toml_position(str(exc))
        raise _syntax(file, text, line, column, f"not valid TOML ({detail})", toml=True) from exc


def _parse_yaml(text: str, file: Path) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        detail = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise _syntax(file, text, line, column, f"not valid YAML ({detail})", toml=False) from exc
    except yaml.YAMLError as exc:
        raise _syntax(file, text, None, None, f"not valid YAML ({exc})", toml=False) from exc


def _toml_position(message: str) -> tuple[int | None, int | None, str]:
    """(line, column, message without them) of a TOMLDecodeError's text (Python 3.11 keeps them
    only there; voice/taxonomy.py reads them the same way)."""
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    detail = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
    if found is None:
        return None, None, detail
    return int(found.group(1)), int(found.group(2)), detail


def _syntax(
    file: Path, text: str, line: int | None, column: int | None, detail: str, *, toml: bool
) -> BacklogError:
    at = f"line {line}, column {column}" if line else "at its end"
    lines = text.splitlines()
    raw = lines[line - 1].strip() if line and line <= len(lines) else ""
    fix = (
        "strings need quotes, lists need commas, one [table] header per table"
        if toml
        else "indent nested keys with spaces (no tabs), put a space after each colon"
    )
    return BacklogError(
        f"{at}: {detail}" + (f": {raw!r}" if raw else ""),
        code="backlog.config_syntax",
        file=str(file),
        row=None,
        hint=f"fix that line ({fix}); docs/backlog-config.md shows the format",
    )


class _Locator:
    """Finds the line a key is written on, so validation errors can name it. YAML: from the
    composed node tree (exact). TOML: from [table] / [[array]] headers and ``key =`` lines (tomllib
    keeps no positions); None when it cannot be found (the table and key are still named)."""

    def __init__(self, text: str, is_yaml: bool) -> None:
        self.text = text
        self.is_yaml = is_yaml
        self.lines = text.splitlines()
        self._node: Any = None
        if is_yaml:
            try:
                self._node = yaml.compose(text, Loader=yaml.SafeLoader)
            except yaml.YAMLError:
                self._node = None

    def line(self, path: tuple[Any, ...]) -> int | None:
        if not path:
            return None
        return self._yaml_line(path) if self.is_yaml else self._toml_line(path)

    def _yaml_line(self, path: tuple[Any, ...]) -> int | None:
        node, found = self._node, None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                nxt = None
                for k, val in node.value:
                    if str(k.value) == str(part):
                        found, nxt = k.start_mark.line + 1, val
                        break
                if nxt is None:
                    return found
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return found
                node = node.value[part]
                found = node.start_mark.line + 1
            else:
                return found
        return found

    def _toml_line(self, path: tuple[Any, ...]) -> int | None:
        sections = self._toml_sections()
        parts = [str(p) for p in path if not isinstance(p, int)]
        index = next((p for p in path if isinstance(p, int)), None)
        # the longest header that is a prefix of the path (array tables: the index-th one)
        for cut in range(len(parts), 0, -1):
            name = ".".join(parts[:cut])
            matches = [s for s in sections if s[1] == name]
            if matches:
                return self._toml_line_under(sections, matches, index, parts[cut:])
        # top-level keys (before the first header) or inline tables: the first `key =` line
        key = re.compile(rf"^\s*[\"']?{re.escape(parts[-1] if parts else '')}[\"']?\s*=")
        stop = sections[0][0] if sections and len(parts) == 1 else len(self.lines)
        for j in range(stop):
            if key.match(self.lines[j]):
                return j + 1
        return None

    def _toml_sections(self) -> list[tuple[int, str, bool]]:
        """The table headers: (line index, dotted name, is_array)."""
        header = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
        sections: list[tuple[int, str, bool]] = []
        for i, text in enumerate(self.lines):
            m = header.match(text)
            if m:
                name = ".".join(p.strip().strip("\"'") for p in m.group(2).split("."))
                sections.append((i, name, m.group(1) == "[["))
        return sections

    def _toml_line_under(
        self,
        sections: list[tuple[int, str, bool]],
        matches: list[tuple[int, str, bool]],
        index: int | None,
        rest: list[str],
    ) -> int | None:
        """The line of key ``rest[0]`` in the table ``matches`` name (an array table: its
        ``index``-th one); the header's line when the key is not written there."""
        if matches[0][2] and index is not None:
            if index >= len(matches):
                return None
            start = matches[index][0]
        else:
            start = matches[0][0]
        if not rest:
            return start + 1
        stop = next((s[0] for s in sections if s[0] > start), len(self.lines))
        key = re.compile(rf"^\s*[\"']?{re.escape(rest[0])}[\"']?\s*[=.]")
        for j in range(start + 1, stop):
            if key.match(self.lines[j]):
                return j + 1
        return start + 1


class _Validator:
    def __init__(self, file: Path, where: _Locator) -> None:
        self.file = file
        self.where = where

    # -- errors -----------------------------------------------------------------------------------

    def invalid(
        self, key: str, message: str, *, path: tuple[Any, ...] = (), table: str | None = None
    ) -> BacklogError:
        line = self.where.line(path) if path else None
        at = f"line {line}: " if line else ""
        named = f"[{table}] key {key!r}" if table else f"key {key!r}"
        return BacklogError(
            f"{at}{named}: {message}",
            code="backlog.config_invalid",
            file=str(self.file),
            hint="fix that key in the product file (docs/backlog-config.md lists the keys, their "
            "types and what each metric needs)",
        )

    def unknown_keys(
        self, raw: dict[str, Any], known: tuple[str, ...], table: str, path: tuple[Any, ...]
    ) -> None:
        for key in raw:
            if key not in known:
                raise self.invalid(
                    str(key),
                    f"unknown key.{did_you_mean(str(key), known)} Known: {', '.join(known)}.",
                    path=(*path, key),
                    table=table,
                )

    def table(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.invalid(
                name, f"must be a table: [{name}] with key = value lines", path=(name,)
            )
        return value

    # -- values -----------------------------------------------------------------------------------

    def number(
        self,
        raw: dict[str, Any],
        key: str,
        table: str,
        path: tuple[Any, ...],
        *,
        positive: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        whole: bool = False,
    ) -> Any:
        value = raw[key]
        kind = "a whole number" if whole else "a number"
        ok = not isinstance(value, bool) and isinstance(value, (int, float))
        if ok and whole and not isinstance(value, int):
            ok = False
        if ok and not math.isfinite(float(value)):
            ok = False
        if ok and positive and value <= 0:
            ok = False
        if ok and minimum is not None and value < minimum:
            ok = False
        if ok and maximum is not None and value > maximum:
            ok = False
        if not ok:
            bounds = []
            if positive:
                bounds.append("above 0")
            if minimum is not None:
                bounds.append(f"at least {minimum:g}")
            if maximum is not None:
                bounds.append(f"at most {maximum:g}")
            need = kind + (" " + " and ".join(bounds) if bounds else "")
            raise self.invalid(
                key, f"must be {need}, got {value!r}", path=(*path, key), table=table
            )
        return value

    def text(
        self,
        raw: dict[str, Any],
        key: str,
        table: str,
        path: tuple[Any, ...],
        *,
        choices: tuple[str, ...] | None = None,
        nonempty: bool = False,
    ) -> str:
        value = raw[key]
        if not isinstance(value, str):
            raise self.invalid(key, f"must be text, got {value!r}", path=(*path, key), table=table)
        if nonempty and not value.strip():
            raise self.invalid(key, "must not be empty", path=(*path, key), table=table)
        if choices is not None and value not in choices:
            shown = " | ".join(repr(c) for c in choices)
            raise self.invalid(
                key,
                f"unknown value {value!r}.{did_you_mean(value, [c for c in choices if c])} "
                f"Expected {shown}.",
                path=(*path, key),
                table=table,
            )
        return value

    def names(
        self, raw: dict[str, Any], key: str, table: str, path: tuple[Any, ...]
    ) -> tuple[str, ...]:
        value = raw[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
            raise self.invalid(
                key,
                f'must be a list of names, e.g. {key} = ["a", "b"], got {value!r}',
                path=(*path, key),
                table=table,
            )
        return tuple(x.strip() for x in value)

    def segment(self, raw: dict[str, Any], key: str, table: str, path: tuple[Any, ...]) -> Segment:
        value = raw[key]
        msg = 'must map event properties to values, e.g. segment = { plan = "starter" } or { platform = ["ios", "android"] }'
        if not isinstance(value, dict):
            raise self.invalid(key, f"{msg}, got {value!r}", path=(*path, key), table=table)
        out: Segment = {}
        for prop, vals in value.items():
            if not isinstance(prop, str) or not _NAME.match(prop):
                raise self.invalid(
                    key, f"{msg}; {prop!r} is no property name", path=(*path, key), table=table
                )
            if isinstance(vals, (str, int)) and not isinstance(vals, bool):
                vals = [vals]
            if (
                not isinstance(vals, list)
                or not vals
                or not all(
                    isinstance(x, (str, int)) and not isinstance(x, bool) and str(x).strip()
                    for x in vals
                )
            ):
                raise self.invalid(key, f"{msg}; {prop} = {vals!r}", path=(*path, key), table=table)
            out[prop] = [str(x).strip() for x in vals]
        return out

    # -- tables -----------------------------------------------------------------------------------

    def planning(self, raw: dict[str, Any]) -> Planning:
        self.unknown_keys(raw, PLANNING_KEYS, "planning", ("planning",))
        p = ("planning",)
        args: dict[str, Any] = {}
        for key, kw in (
            ("period_weeks", {"whole": True, "minimum": 1}),
            ("reach_weeks", {"whole": True, "minimum": 1}),
            ("inactive_days", {"whole": True, "minimum": 1}),
            ("top_n", {"whole": True, "minimum": 1}),
            ("simulations", {"whole": True, "minimum": 1, "maximum": 1_000_000}),
            ("seed", {"whole": True, "minimum": 0}),
            ("capacity", {"positive": True}),
            ("points_per_week", {"positive": True}),
            ("effort_spread", {"minimum": 0, "maximum": 0.95}),
        ):
            if key in raw:
                args[key] = self.number(raw, key, "planning", p, **kw)
        for key in ("capacity", "points_per_week", "effort_spread"):
            if key in args:
                args[key] = float(args[key])
        if "effort_unit" in raw:
            args["effort_unit"] = self.text(raw, "effort_unit", "planning", p, choices=EFFORT_UNITS)
        if "ice_variant" in raw:
            args["ice_variant"] = self.text(raw, "ice_variant", "planning", p, choices=ICE_VARIANTS)
        if "tshirt" in raw:
            sizes = raw["tshirt"]
            if (
                not isinstance(sizes, dict)
                or not sizes
                or not all(
                    isinstance(k, str)
                    and k.strip()
                    and not isinstance(x, bool)
                    and isinstance(x, (int, float))
                    and x > 0
                    for k, x in sizes.items()
                )
            ):
                raise self.invalid(
                    "tshirt",
                    "must map sizes to person-weeks above 0, e.g. tshirt = { S = 1, M = 2, L = 4 }, "
                    f"got {sizes!r}",
                    path=(*p, "tshirt"),
                    table="planning",
                )
            upper = [k.strip().upper() for k in sizes]
            if len(set(upper)) != len(upper):
                raise self.invalid(
                    "tshirt",
                    "names a size twice (sizes ignore case)",
                    path=(*p, "tshirt"),
                    table="planning",
                )
            args["tshirt"] = {k.strip().upper(): float(x) for k, x in sizes.items()}
        return Planning(**args)

    def funnel(self, data: dict[str, Any]) -> Funnel | None:
        if "funnel" not in data:
            return None
        raw = self.table(data, "funnel")
        self.unknown_keys(raw, FUNNEL_KEYS, "funnel", ("funnel",))
        if "steps" not in raw:
            raise self.invalid(
                "steps",
                "is missing: the funnel's steps, in order (event names)",
                path=("funnel",),
                table="funnel",
            )
        steps = self.names(raw, "steps", "funnel", ("funnel",))
        if len(steps) < 2:
            raise self.invalid(
                "steps", "needs at least two steps", path=("funnel", "steps"), table="funnel"
            )
        if len(set(steps)) != len(steps):
            twice = sorted({s for s in steps if steps.count(s) > 1})
            raise self.invalid(
                "steps", f"names {', '.join(twice)} twice", path=("funnel", "steps"), table="funnel"
            )
        window = "7d"
        if "window" in raw:
            window = self.text(raw, "window", "funnel", ("funnel",), nonempty=True)
            from ..metrics.spec import MetricError
            from ..metrics.validate import parse_window

            try:
                parse_window(window)
            except MetricError as exc:
                raise self.invalid(
                    "window",
                    f'{exc.message}; write it like "7d" or "48h"',
                    path=("funnel", "window"),
                    table="funnel",
                ) from exc
        return Funnel(steps=steps, window=window)

    def objectives(
        self, data: dict[str, Any], funnel: Funnel | None, planning: Planning
    ) -> tuple[Objective, ...]:
        raw_all = self.table(data, "objectives")
        return tuple(self.objective(name, raw, funnel, planning) for name, raw in raw_all.items())

    def objective(
        self, name: Any, raw: Any, funnel: Funnel | None, planning: Planning
    ) -> Objective:
        """One [objectives.NAME] table: its keys for its metric, the funnel steps it converts
        between, its options, baseline -> target and the direction they give."""
        table = f"objectives.{name}"
        p: tuple[Any, ...] = ("objectives", name)
        self._objective_keys(name, raw, p)
        metric = self.text(raw, "metric", table, p, choices=METRICS)
        self._metric_keys(raw, metric, table, p)
        args: dict[str, Any] = {"metric": metric}
        if "description" in raw:
            args["description"] = self.text(raw, "description", table, p)
        if "step" in raw or "from_step" in raw:
            args.update(self._objective_steps(raw, funnel, table, p))
        args.update(self._objective_options(raw, metric, planning, table, p))
        args.update(self._baseline_target(raw, metric, table, p))
        args["direction"] = self._direction(raw, args["baseline"], args["target"], table, p)
        return Objective(str(name), line=self.where.line(p), **args)

    def _objective_keys(self, name: Any, raw: Any, p: tuple[Any, ...]) -> None:
        """A table with a valid name, known keys, and metric, baseline and target."""
        table = f"objectives.{name}"
        if not isinstance(raw, dict):
            raise self.invalid(
                name,
                f"an objective must be a table: [objectives.{name}]",
                path=p,
                table="objectives",
            )
        if not _NAME.match(str(name)):
            raise self.invalid(
                name,
                "an objective's name is letters, digits, _ . - (no spaces)",
                path=p,
                table="objectives",
            )
        self.unknown_keys(raw, OBJECTIVE_KEYS, table, p)
        for key in ("metric", "baseline", "target"):
            if key not in raw:
                raise self.invalid(
                    key,
                    "is missing: every objective needs metric, baseline and target",
                    path=p,
                    table=table,
                )

    def _metric_keys(
        self, raw: dict[str, Any], metric: str, table: str, p: tuple[Any, ...]
    ) -> None:
        """The keys the metric needs are there, and no key that does not apply to it."""
        for key in METRIC_REQUIRED[metric]:
            if key not in raw:
                need = {
                    "step": "the funnel step converted into (a step of [funnel] steps)",
                    "week": "the week after the cohort's week that counts as retained (e.g. week = 4)",
                    "theme": "the voice theme whose items per week are counted (conf/themes.toml)",
                }[key]
                raise self.invalid(
                    key,
                    f"is missing: a {metric} objective needs {key}: {need}",
                    path=p,
                    table=table,
                )
        allowed = (*METRIC_REQUIRED[metric], *METRIC_OPTIONAL[metric])
        for key in SPECIFIC_KEYS:
            if key in raw and key not in allowed:
                raise self.invalid(
                    key,
                    f"does not apply to a {metric} objective (it takes "
                    f"{', '.join(allowed) or 'none of step, week, theme'}); remove it",
                    path=(*p, key),
                    table=table,
                )

    def _objective_steps(
        self, raw: dict[str, Any], funnel: Funnel | None, table: str, p: tuple[Any, ...]
    ) -> dict[str, Any]:
        """``step`` (a step of [funnel]) and ``from_step`` (an earlier one; default the step
        before)."""
        if funnel is None:
            raise self.invalid(
                "step",
                "needs a [funnel] with steps to refer to",
                path=(*p, "step"),
                table=table,
            )
        steps = list(funnel.steps)
        step = self.text(raw, "step", table, p, nonempty=True)
        if step not in steps:
            raise self.invalid(
                "step",
                f"{step!r} is not a step of [funnel] steps.{did_you_mean(step, steps)} Steps: {', '.join(steps)}.",
                path=(*p, "step"),
                table=table,
            )
        if "from_step" in raw:
            frm = self.text(raw, "from_step", table, p, nonempty=True)
            if frm not in steps or steps.index(frm) >= steps.index(step):
                raise self.invalid(
                    "from_step",
                    f"{frm!r} must be a step of [funnel] steps before {step!r}.{did_you_mean(frm, steps)}",
                    path=(*p, "from_step"),
                    table=table,
                )
            return {"step": step, "from_step": frm}
        if steps.index(step) == 0:
            raise self.invalid(
                "step",
                f"{step!r} is the funnel's first step: there is no step before it to convert from; name from_step or a later step",
                path=(*p, "step"),
                table=table,
            )
        return {"step": step, "from_step": steps[steps.index(step) - 1]}

    def _objective_options(
        self,
        raw: dict[str, Any],
        metric: str,
        planning: Planning,
        table: str,
        p: tuple[Any, ...],
    ) -> dict[str, Any]:
        """week, theme, inactive_days (churn_rate: default [planning]'s) and segment."""
        args: dict[str, Any] = {}
        if "week" in raw:
            args["week"] = self.number(raw, "week", table, p, whole=True, minimum=1)
        if "theme" in raw:
            args["theme"] = self.text(raw, "theme", table, p, nonempty=True).strip()
        if "inactive_days" in raw:
            args["inactive_days"] = self.number(
                raw, "inactive_days", table, p, whole=True, minimum=1
            )
        elif metric == "churn_rate":
            args["inactive_days"] = planning.inactive_days
        if "segment" in raw:
            args["segment"] = self.segment(raw, "segment", table, p)
        return args

    def _baseline_target(
        self, raw: dict[str, Any], metric: str, table: str, p: tuple[Any, ...]
    ) -> dict[str, float]:
        """baseline and target: numbers of 0 or more (rates: at most 1), not equal."""
        bounded = metric in ("conversion", "retention", "churn_rate")
        args: dict[str, float] = {}
        for key in ("baseline", "target"):
            kw: dict[str, Any] = {"minimum": 0}
            if bounded:
                kw["maximum"] = 1
            try:
                args[key] = float(self.number(raw, key, table, p, **kw))
            except BacklogError as exc:
                if bounded:
                    exc.message += " (a rate: a share between 0 and 1, e.g. 0.8 for 80%)"
                    exc.args = (str(exc),)
                raise
        if args["baseline"] == args["target"]:
            raise self.invalid(
                "target",
                f"equals the baseline ({args['target']:g}): an objective needs a target to move to (its direction comes from baseline -> target)",
                path=(*p, "target"),
                table=table,
            )
        return args

    def _direction(
        self,
        raw: dict[str, Any],
        baseline: float,
        target: float,
        table: str,
        p: tuple[Any, ...],
    ) -> str:
        """up or down, from baseline -> target; a direction written must agree."""
        derived = "up" if target > baseline else "down"
        if "direction" in raw:
            given = self.text(raw, "direction", table, p, choices=DIRECTIONS)
            if given != derived:
                raise self.invalid(
                    "direction",
                    f"is {given!r} but baseline {baseline:g} -> target {target:g} goes {derived}",
                    path=(*p, "direction"),
                    table=table,
                )
        return derived

    def actors(self, data: dict[str, Any]) -> tuple[Actor, ...]:
        out = []
        for name, raw in self.table(data, "actors").items():
            table = f"actors.{name}"
            p: tuple[Any, ...] = ("actors", name)
            if not isinstance(raw, dict):
                raise self.invalid(
                    name, f"an actor must be a table: [actors.{name}]", path=p, table="actors"
                )
            self.unknown_keys(raw, ACTOR_KEYS, table, p)
            description = self.text(raw, "description", table, p) if "description" in raw else ""
            segment = self.segment(raw, "segment", table, p) if "segment" in raw else {}
            out.append(Actor(str(name), description=description, segment=segment))
        return tuple(out)

    def impacts(
        self, data: dict[str, Any], objectives: tuple[Objective, ...], actors: tuple[Actor, ...]
    ) -> tuple[Impact, ...]:
        raw_all = data.get("impacts", [])
        raw_all = [] if raw_all is None else raw_all
        if not isinstance(raw_all, list):
            raise self.invalid(
                "impacts", "must be a list of tables: one [[impacts]] per impact", path=("impacts",)
            )
        known_o = [o.name for o in objectives]
        known_a = [a.name for a in actors]
        out = []
        for i, raw in enumerate(raw_all):
            table = f"impacts #{i + 1}"
            p: tuple[Any, ...] = ("impacts", i)
            if not isinstance(raw, dict):
                raise self.invalid(
                    "impacts", f"entry {i + 1} must be a table ([[impacts]])", path=p
                )
            self.unknown_keys(raw, IMPACT_KEYS, table, p)
            if "objective" not in raw:
                raise self.invalid(
                    "objective", "is missing: the objective this impact serves", path=p, table=table
                )
            objective = self.text(raw, "objective", table, p, nonempty=True)
            if objective not in known_o:
                raise self.invalid(
                    "objective",
                    f"unknown objective {objective!r}.{did_you_mean(objective, known_o)} Objectives: {', '.join(known_o) or '(none)'}.",
                    path=(*p, "objective"),
                    table=table,
                )
            actor = None
            if "actor" in raw:
                actor = self.text(raw, "actor", table, p, nonempty=True)
                if actor not in known_a:
                    raise self.invalid(
                        "actor",
                        f"unknown actor {actor!r}.{did_you_mean(actor, known_a)} Actors: {', '.join(known_a) or '(none)'}.",
                        path=(*p, "actor"),
                        table=table,
                    )
            impact = self.text(raw, "impact", table, p) if "impact" in raw else ""
            items = self.names(raw, "items", table, p) if "items" in raw else ()
            out.append(Impact(objective, actor=actor, impact=impact.strip(), items=items))
        return tuple(out)

    def backlog(self, raw: dict[str, Any]) -> BacklogSource:
        from .items import CANONICAL

        self.unknown_keys(raw, BACKLOG_KEYS, "backlog", ("backlog",))
        p = ("backlog",)
        args: dict[str, Any] = {}
        if "path" in raw:
            path = self.text(raw, "path", "backlog", p).strip()
            args["path"] = path or None
        if "format" in raw:
            args["format"] = self.text(raw, "format", "backlog", p, choices=FORMATS)
        if "columns" in raw:
            cols = raw["columns"]
            if not isinstance(cols, dict) or not all(
                isinstance(v, str) and v.strip() for v in cols.values()
            ):
                raise self.invalid(
                    "columns",
                    'must map item fields to CSV columns, e.g. columns = { effort = "Story Points" }',
                    path=(*p, "columns"),
                    table="backlog",
                )
            for key in cols:
                if key not in CANONICAL:
                    raise self.invalid(
                        "columns",
                        f"unknown item field {key!r}.{did_you_mean(str(key), CANONICAL)} Fields: {', '.join(CANONICAL)}.",
                        path=(*p, "columns"),
                        table="backlog",
                    )
            args["columns"] = {str(k): v.strip() for k, v in cols.items()}
        if "list_separator" in raw:
            args["list_separator"] = self.text(raw, "list_separator", "backlog", p, nonempty=True)
        if "encoding" in raw:
            args["encoding"] = self.encoding(raw, p)
        if "timezone" in raw:
            args["timezone"] = self.zone(raw, p)
        return BacklogSource(**args)

    def encoding(self, raw: dict[str, Any], p: tuple[str, ...]) -> str:
        """[backlog] encoding: a name Python's codecs know."""
        import codecs

        enc = self.text(raw, "encoding", "backlog", p, nonempty=True)
        self.checked("encoding", p, lambda: codecs.lookup(enc), "e.g. utf-8, cp1252, latin-1")
        return enc

    def zone(self, raw: dict[str, Any], p: tuple[str, ...]) -> str:
        """[backlog] timezone: empty, or an IANA zone name (a misspelt one with a suggestion)."""
        from ..timezones import check_timezone

        zone = self.text(raw, "timezone", "backlog", p).strip()
        if not zone:
            return ""
        return self.checked(
            "timezone", p, lambda: check_timezone(zone), "an IANA name such as 'Europe/Berlin'"
        )

    def checked(self, key: str, p: tuple[str, ...], check: Callable[[], Any], example: str) -> Any:
        """``check()``'s value, or ``backlog.config_invalid`` naming [backlog] ``key`` with why."""
        try:
            return check()
        except LookupError as exc:  # codecs: unknown encoding
            raise self.invalid(
                key,
                f"unknown {key} {str(exc).split(': ')[-1]!r} ({example})",
                path=(*p, key),
                table="backlog",
            ) from exc
        except PoaError as exc:  # check_timezone: with a "did you mean"
            raise self.invalid(
                key, f"{exc.message} ({example})", path=(*p, key), table="backlog"
            ) from exc

    def items(self, data: dict[str, Any], config: ProductConfig, shown: str) -> tuple[Any, ...]:
        from .items import items_from_records

        raw_all = data.get("items", [])
        raw_all = [] if raw_all is None else raw_all  # YAML: "items:" with nothing under it
        if not isinstance(raw_all, list) or not all(isinstance(r, dict) for r in raw_all):
            raise self.invalid(
                "items", "must be a list of tables: one [[items]] per item", path=("items",)
            )
        records = [(r, self.where.line(("items", i))) for i, r in enumerate(raw_all)]
        return items_from_records(records, config, name=shown)
