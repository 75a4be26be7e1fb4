"""``load_notes``: the entry point. It settles the format (``detect``), the inputs (text decoded to
UTF-8) and how each is staged, then loads them with :func:`poanalytics.ingest.pipeline.run_load`
(checks, quarantine, upsert by ``format:note_id``), the highlights written by ``write_highlights``.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ...config import Settings
from ...errors import ConfigError, InputError, unknown_name
from .. import decode, failures, readers
from .. import formats as formats_mod
from ..mapping import Columns, Const
from ..pipeline import LoadReport, load_options, run_load
from ..sources import Input, resolve
from ..targets import NOTES, simplify
from .common import source_root, write_highlights
from .highlights import HIGHLIGHT_MARKERS, stage_highlights
from .markdown import ParsedNote, duplicate_ids, parse_all, stage_markdown
from .survey import stage_survey

FORMATS = ("markdown", "highlights_csv", "survey")
OPTIONS = {"text_columns", "survey"}


def load_notes(
    con: duckdb.DuckDBPyConnection,
    source: str | Path | pd.DataFrame,
    *,
    format: str | None = None,
    columns: Columns | None = None,
    timezone: str = "UTC",
    timestamp_format: str | None = None,
    settings: Settings,
    encoding: str | None = None,
    delimiter: str | None = None,
    **options: Any,
) -> LoadReport:
    """Load notes; see the module docstring for the formats. ``options``: ``text_columns`` (survey:
    the open-text columns, instead of detecting them) and ``survey`` (survey: the name used in note
    ids and titles, default the file name without extension). A failure before the files are read
    (an unknown option, a folder without notes) is logged in load_log like any failed load."""
    label = "DataFrame" if isinstance(source, pd.DataFrame) else str(source)
    with decode.scratch() as work:
        try:
            name, inputs, stage_fn, parsed, extra_notes = _prepare(
                source, format, columns, encoding, delimiter, work, options
            )
        except BaseException as exc:
            opts = load_options(format, columns, timezone, timestamp_format, encoding, delimiter)
            error = failures.fail(con, exc, kind="notes", source=label, format=format, options=opts)
            if error is exc:
                raise
            raise error from exc
        report = run_load(
            con,
            NOTES,
            source,
            format=None if name == "auto" else name,
            columns=columns,
            timezone=timezone,
            timestamp_format=timestamp_format,
            settings=settings,
            id_field="note_id",
            after_write=lambda c, res, written: write_highlights(
                c, res, written, source_root(source)
            ),
            inputs=inputs,
            stage_fn=stage_fn,
            encoding=encoding,
            delimiter=delimiter,
        )
    extra_notes += duplicate_ids(parsed)
    if format is None:  # load_notes chose it, run_load was told
        report.notes = [
            n.replace(f"format {name}: given from", f"format {name}: detected from")
            for n in report.notes
        ]
    report.notes.extend(extra_notes)
    return report


StageFn = Callable[[duckdb.DuckDBPyConnection, Input], readers.Stage]


def _prepare(
    source: str | Path | pd.DataFrame,
    format: str | None,
    columns: Columns | None,
    encoding: str | None,
    delimiter: str | None,
    work: decode.Scratch,
    options: MappingABC[str, Any],
) -> tuple[str, list[Input], StageFn | None, dict[str, ParsedNote], list[str]]:
    """What load_notes decides before the load: the format, the inputs (text decoded to UTF-8),
    how each is staged, the parsed Markdown notes and notes for the report."""
    codec = decode.check_encoding(encoding)
    _check_options(format, options)
    inputs = resolve(source)
    delimiter = readers.check_delimiter(delimiter)
    if delimiter:
        inputs = [replace(i, delimiter=delimiter) for i in inputs]
    extra_notes: list[str] = []
    name = format
    if name in (None, "markdown"):
        inputs, name = _markdown_inputs(source, inputs, name, extra_notes)
    inputs = [decode.as_utf8(i, i.container, codec, work) for i in inputs]
    if name is None:
        name = _detect(inputs[0], columns)
    _check_no_const(name, columns)
    names: MappingABC[str, str] = {k: v for k, v in (columns or {}).items() if isinstance(v, str)}
    stage_fn, parsed = _stager(name, inputs, names, options)
    return name, inputs, stage_fn, parsed, extra_notes


def _check_options(format: str | None, options: MappingABC[str, Any]) -> None:
    """The options are known ones, the format a notes format, and survey options come with the
    survey format."""
    for key in options:
        if key not in OPTIONS:
            raise unknown_name(
                "load_notes option",
                key,
                OPTIONS,
                code="ingest.unknown_option",
                hint="the notes options are text_columns= and survey= (for format='survey')",
            )
    if format is not None:
        formats_mod.get("notes", format)  # unknown names: error with the known ones
    if options and format != "survey":
        raise ConfigError(
            f"{', '.join(sorted(options))}= only applies to format='survey'",
            code="ingest.unknown_option",
            hint="pass format='survey', or drop the option",
        )


def _markdown_inputs(
    source: str | Path | pd.DataFrame,
    inputs: list[Input],
    name: str | None,
    extra_notes: list[str],
) -> tuple[list[Input], str | None]:
    """Markdown files among the inputs make it a Markdown load of those files (the others are
    skipped, with a note); a Markdown load without any fails."""
    md = [i for i in inputs if i.container == "markdown"]
    if md:
        if len(md) < len(inputs):
            extra_notes.append(
                f"markdown: {len(inputs) - len(md)} file(s) that are not Markdown were skipped"
            )
        return md, "markdown"
    if name == "markdown":
        where = inputs[0].label if len(inputs) == 1 else str(source)
        raise InputError(
            f"{where} holds no Markdown (.md) files",
            code="ingest.no_markdown",
            hint="point at a folder of .md files, or pass the format of the file",
        )
    return inputs, name


def _check_no_const(name: str, columns: Columns | None) -> None:
    """The notes formats read every field from the files: a fixed value (Const) has no place."""
    fixed = [k for k, v in (columns or {}).items() if isinstance(v, Const)]
    if fixed and name in ("markdown", "highlights_csv", "survey"):
        raise ConfigError(
            f"{name} notes take no fixed values (Const for {', '.join(fixed)})",
            code="ingest.const_unsupported",
            hint="map the fields to columns or front matter keys, or load a table of notes "
            "(format='csv', 'json', 'parquet' or 'dataframe')",
        )


def _stager(
    name: str, inputs: list[Input], names: MappingABC[str, str], options: MappingABC[str, Any]
) -> tuple[StageFn | None, dict[str, ParsedNote]]:
    """How each input of the format is staged (None: the registry's generic formats), and the
    Markdown notes, parsed before the load."""
    if name == "markdown":
        parsed = parse_all(inputs, names)
        return (lambda c, i: stage_markdown(c, i, parsed)), parsed
    if name == "highlights_csv":
        return (lambda c, i: stage_highlights(c, i, names)), {}
    if name == "survey":
        return (lambda c, i: stage_survey(c, i, names, options)), {}
    # name "auto": json, parquet or a DataFrame, one note per row: the registry detects the format
    return None, {}


def _detect(inp: Input, columns: Columns | None) -> str:
    """markdown was settled by the caller; a CSV with a highlight column is highlights_csv; a CSV that
    names note_id and text (or a columns= mapping) is a generic csv; anything else must be named."""
    if inp.container != "csv":
        return "auto"  # json, parquet, DataFrame: the registry's generic formats
    _, header = readers.sniff_csv(inp)
    simple = {simplify(readers.normalise_header(h)) for h in header}
    if simple & {simplify(n) for n in HIGHLIGHT_MARKERS}:
        return "highlights_csv"
    have = {f.name for f in NOTES.fields if simple & {simplify(a) for a in (f.name, *f.aliases)}}
    if columns or {"note_id", "text"} <= have:
        return "csv"
    raise ConfigError(
        f"cannot tell which kind of notes {inp.label} holds: it has no highlight/quote column and no "
        "note_id and text columns. Columns found: "
        + ", ".join(repr(readers.normalise_header(h)[:60]) for h in header[:8])
        + (" ..." if len(header) > 8 else ""),
        code="ingest.notes_format",
        file=inp.label,
        hint="pass format= one of: 'markdown' (a folder of .md interviews), 'highlights_csv' (one row per "
        "highlight), 'survey' (one row per respondent, open-text answers become highlights), 'csv' "
        "(one note per row; map note_id and text with columns=)",
    )
