"""The sources a project loads from, named once in ``conf/sources.toml``, and loading them all.

The load notebook (notebooks/00_load.ipynb) and the weekly run call ``wb.load_sources()``: every
source named in the file is loaded with its own options. Loads are idempotent (rows already in the
warehouse count as duplicates), so running it again loads only what is new: a new export file in a
folder or glob is picked up, the rest is skipped as duplicate.

The file has one array of tables per kind (``[[events]]``, ``[[tickets]]``, ``[[notes]]``); each
entry has a ``path`` (a file, a folder or a glob, relative to the project root) and the loader
options a source needs: ``format``, ``columns`` (canonical name -> source column, or
``{const = "purchase"}`` for a fixed value), ``timezone``, ``timestamp_format``, ``encoding``,
``delimiter``; notes also ``text_columns`` and ``survey``. ``optional = true`` lets a path that
matches nothing yet (an empty drop folder) be skipped, shown as skipped; by default it is an error.
"""

from __future__ import annotations

import html
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigError, InputError, PoaError
from .mapping import Const
from .pipeline import LoadReport

KINDS = ("events", "tickets", "notes")
SOURCES_NAME = Path("conf") / "sources.toml"
# option -> (type, what it is); every option is passed to the loader as it is
_TEXT_OPTIONS = {
    "format": "the format (csv, parquet, json, segment, zendesk, markdown, survey ...); "
    "empty: detected from the file",
    "timezone": "zone of times written without an offset, e.g. 'Europe/Amsterdam'",
    "timestamp_format": "a strptime format ('%Y%m%d') or an epoch unit ('epoch_ms')",
    "encoding": "text encoding when not UTF-8, e.g. 'cp1252'",
    "delimiter": "CSV delimiter, or 'whitespace'; empty: found from the file",
}
_NOTES_OPTIONS = {"survey": str, "text_columns": list}
_OWN_KEYS = {"path", "name", "optional", "columns"}


@dataclass(frozen=True)
class Source:
    """One entry of the sources file: what to load (``path``, resolved) and how."""

    kind: str
    name: str
    path: str
    optional: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def _bad(path: Path, message: str, hint: str, code: str = "sources.value") -> ConfigError:
    return ConfigError(f"{path}: {message}", code=code, file=str(path), hint=hint)


def read_sources(path: str | Path | None = None, *, root: str | Path | None = None) -> list[Source]:
    """The sources named in ``path`` (default: ``<root>/conf/sources.toml``), checked: an unknown
    kind or option, a wrong type or a missing path is a coded ``ConfigError`` naming the entry.
    Relative paths in the file start at ``root`` (default: the project root)."""
    if root is None:
        from ..config import settings

        root = settings().root
    base = Path(root)
    file = Path(path) if path else base / SOURCES_NAME
    if not file.is_file():
        raise ConfigError(
            f"the sources file {file} does not exist",
            code="sources.not_found",
            file=str(file),
            hint="create it (the project's conf/sources.toml is a commented example) or pass "
            "the path of yours: wb.load_sources('conf/sources.toml') / -p sources PATH",
        )
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise _bad(
            file, f"is not valid TOML: {exc}", "fix the line it names", "sources.syntax"
        ) from exc
    unknown = sorted(set(data) - set(KINDS))
    if unknown:
        raise _bad(
            file,
            f"unknown table(s) {unknown}",
            f"a sources file has [[events]], [[tickets]] and [[notes]] entries only: {list(KINDS)}",
            "sources.key",
        )
    out: list[Source] = []
    for kind in KINDS:
        entries = data.get(kind, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise _bad(
                file,
                f"{kind} must be an array of tables ([[{kind}]] entries)",
                f"write each source as a [[{kind}]] table with a path = ... key",
            )
        for number, entry in enumerate(entries, 1):
            out.append(_source(file, base, kind, number, entry))
    return out


def _source(file: Path, base: Path, kind: str, number: int, entry: dict[str, Any]) -> Source:
    """One ``[[kind]]`` entry, checked: its keys, path, name and optional flag, and its loader
    options (``_text_options``, ``_notes_options``, ``_columns``)."""
    where = f"[[{kind}]] entry {number}"
    allowed = _OWN_KEYS | set(_TEXT_OPTIONS) | (set(_NOTES_OPTIONS) if kind == "notes" else set())
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise _bad(
            file,
            f"{where} has unknown key(s) {unknown}",
            f"the keys a {kind} source takes: {sorted(allowed)}",
            "sources.key",
        )
    raw = entry.get("path")
    if not isinstance(raw, str) or not raw.strip():
        raise _bad(file, f"{where} has no path", "add path = 'a file, folder or glob'")
    name = entry.get("name", raw)
    if not isinstance(name, str):
        raise _bad(file, f"{where}: name must be text, got {name!r}", "write name = 'my export'")
    optional = entry.get("optional", False)
    if not isinstance(optional, bool):
        raise _bad(
            file,
            f"{where}: optional must be true or false, got {optional!r}",
            "write optional = true",
        )
    options = _text_options(file, where, entry)
    if kind == "notes":
        options.update(_notes_options(file, where, entry))
    if "columns" in entry:
        options["columns"] = _columns(file, where, entry["columns"])
    path = Path(raw).expanduser()
    resolved = str(path if path.is_absolute() else base / path)
    return Source(kind=kind, name=name, path=resolved, optional=optional, options=options)


def _text_options(file: Path, where: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The loader options written as text (format, timezone, ...); empty ones are left out."""
    options: dict[str, Any] = {}
    for key in _TEXT_OPTIONS:
        if key in entry:
            value = entry[key]
            if not isinstance(value, str):
                raise _bad(file, f"{where}: {key} must be text, got {value!r}", _TEXT_OPTIONS[key])
            if value:
                options[key] = value
    return options


def _notes_options(file: Path, where: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The survey options of a notes source: ``survey`` (text) and ``text_columns`` (a list)."""
    options: dict[str, Any] = {}
    survey = entry.get("survey")
    if survey is not None:
        if not isinstance(survey, str):
            raise _bad(file, f"{where}: survey must be text", "write survey = 'NPS 2026'")
        options["survey"] = survey
    text_columns = entry.get("text_columns")
    if text_columns is not None:
        if not isinstance(text_columns, list) or not all(isinstance(c, str) for c in text_columns):
            raise _bad(
                file,
                f"{where}: text_columns must be a list of column names",
                "write text_columns = ['comment']",
            )
        options["text_columns"] = text_columns
    return options


def _columns(file: Path, where: str, value: Any) -> dict[str, str | Const]:
    hint = "write columns = { user_id = 'CustomerID', event = { const = 'purchase' } }"
    if not isinstance(value, dict):
        raise _bad(file, f"{where}: columns must be a table", hint)
    out: dict[str, str | Const] = {}
    for canonical, source in value.items():
        if isinstance(source, str):
            out[canonical] = source
        elif isinstance(source, dict) and set(source) == {"const"}:
            out[canonical] = Const(source["const"])
        else:
            raise _bad(
                file,
                f"{where}: columns.{canonical} = {source!r} is neither a column name nor {{const = ...}}",
                hint,
            )
    return out


@dataclass
class SourceLoad:
    """What happened to one source: its load report, or the coded error that stopped it."""

    source: Source
    report: LoadReport | None = None
    error: PoaError | None = None
    skipped: str = ""  # why an optional source was not loaded
    quarantined: pd.DataFrame | None = None

    @property
    def status(self) -> str:
        return "failed" if self.error else "skipped" if self.skipped else "ok"


@dataclass
class SourcesLoad:
    """Every source's load, in the file's order. ``table`` has one row per source; ``quarantined``
    the rows these loads kept aside; ``raise_failed()`` raises the coded error of a failed load."""

    file: str
    loads: list[SourceLoad] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(x.report.rows_loaded for x in self.loads if x.report)

    @property
    def failed(self) -> list[SourceLoad]:
        return [x for x in self.loads if x.error]

    @property
    def table(self) -> pd.DataFrame:
        rows = []
        for x in self.loads:
            r = x.report
            rows.append(
                {
                    "source": x.source.name,
                    "kind": x.source.kind,
                    "status": x.status,
                    "format": ", ".join(r.formats) if r else "",
                    "files": r.files if r else 0,
                    "rows read": r.rows_read if r else 0,
                    "loaded": r.rows_loaded if r else 0,
                    "quarantined": r.rows_quarantined if r else 0,
                    "duplicate": r.rows_duplicate if r else 0,
                    "load id": r.load_id if r else None,
                    "error": str(x.error) if x.error else x.skipped,
                }
            )
        return pd.DataFrame(rows)

    @property
    def quarantined(self) -> pd.DataFrame:
        frames = [
            x.quarantined.assign(source=x.source.name)
            for x in self.loads
            if x.quarantined is not None and len(x.quarantined)
        ]
        if not frames:
            return pd.DataFrame(columns=["source", "load_id", "file", "row", "column", "reason"])
        return pd.concat(frames, ignore_index=True)

    def headline(self) -> str:
        if not self.loads:
            return f"{self.file} names no source: nothing to load"
        parts = [
            f"{len(self.loads)} source(s) from {self.file}: {self.rows_loaded:,} new row(s) loaded"
        ]
        if not self.rows_loaded and not self.failed:
            parts.append("nothing new")
        quarantined = sum(x.report.rows_quarantined for x in self.loads if x.report)
        if quarantined:
            parts.append(f"{quarantined:,} row(s) quarantined")
        if self.failed:
            parts.append(
                f"{len(self.failed)} FAILED: " + ", ".join(x.source.name for x in self.failed)
            )
        return "; ".join(parts)

    def raise_failed(self) -> None:
        """Raise ``sources.load_failed`` for the first failed source (naming the file and why, and
        the others that failed); nothing when every load went through."""
        if not self.failed:
            return
        first = self.failed[0]
        assert first.error is not None
        cause = first.error
        file = cause.file or first.source.path
        others = [x.source.name for x in self.failed[1:]]
        more = f" ({len(others)} more failed: {', '.join(others)})" if others else ""
        raise InputError(
            f"the {first.source.kind} source {first.source.name!r} failed to load: "
            f"{cause.message} [{cause.code}]{more}",
            code="sources.load_failed",
            file=file,
            hint=(f"{cause.hint}; " if cause.hint else "")
            + "fix or remove that file (or its entry in the sources file) and run the load again; "
            "sources that loaded are kept, the failed load changed nothing",
        ) from cause

    def __str__(self) -> str:
        lines = [self.headline()]
        for x in self.loads:
            if x.report:
                lines.append(str(x.report))
            else:
                lines.append(
                    f"{x.source.kind} from {x.source.path}: {x.status}: {x.error or x.skipped}"
                )
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return f"<p><b>{html.escape(self.headline())}</b></p>" + self.table.to_html(
            index=False, na_rep=""
        )


def load_sources(wb: Any, sources: list[Source], *, file: str = "") -> SourcesLoad:
    """Load each source into ``wb`` (a Workbench: its load_events/tickets/notes and quarantine;
    ingest sits below workbench, so it is not imported here) with its options; a failed load is kept in the result (its
    error coded, the warehouse unchanged by it) and the next sources still load. Call
    ``raise_failed()`` on the result to stop there (``Workbench.load_sources`` does by default)."""
    from .sources import resolve

    loaders = {"events": wb.load_events, "tickets": wb.load_tickets, "notes": wb.load_notes}
    result = SourcesLoad(file=file)
    for source in sources:
        done = SourceLoad(source=source)
        result.loads.append(done)
        try:
            if source.optional:
                try:
                    resolve(source.path)
                except InputError as exc:
                    if exc.code in {"ingest.no_match", "ingest.not_found", "ingest.empty_dir"}:
                        done.skipped = f"optional, nothing there yet: {exc.message}"
                        continue
                    raise
            done.report = loaders[source.kind](source.path, **source.options)
        except PoaError as exc:
            done.error = exc
            continue
        if done.report.rows_quarantined:
            done.quarantined = wb.quarantine(done.report.load_id)
    return result
