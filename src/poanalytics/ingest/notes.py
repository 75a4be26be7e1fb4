"""Interview notes, research-tool highlights and survey answers -> ``notes`` + ``note_highlights``.

Three formats on top of the generic ones (csv, json, parquet, dataframe: one note per row):

* ``markdown``: a folder (or glob, or file) of Markdown interviews with YAML front matter. Each file
  is one note; blockquotes and ``[tag, tag] text`` lines are its highlights.
* ``highlights_csv``: one row per highlight, as Dovetail, Condens or EnjoyHQ export them; the
  notes are the distinct note (source, interview) titles.
* ``survey``: one row per respondent; each respondent is one note, each non-empty open-text answer
  one highlight tagged with its question.

Every format goes through :func:`poanalytics.ingest.pipeline.run_load` (checks, quarantine, upsert
by ``format:note_id``); an ``after_write`` hook replaces the highlights of every note written.
Markdown files are parsed in Python (they are few); CSV formats are reshaped in DuckDB.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml

from ..config import Settings
from ..db import fetch_one, quote_ident
from ..errors import ConfigError, InputError, did_you_mean, unknown_name
from ..sql import Params
from . import decode, failures, readers
from . import formats as formats_mod
from .formats import Format, register
from .mapping import Columns, Const, Expr, Mapping, check_user_columns
from .pipeline import LoadReport, StageResult, load_options, run_load
from .sources import Input, resolve, unreadable_error
from .targets import NOTES, simplify

FORMATS = ("markdown", "highlights_csv", "survey")
OPTIONS = {"text_columns", "survey"}
HIGHLIGHT_TYPE = "STRUCT(position INTEGER, quote VARCHAR, tags VARCHAR[], line INTEGER)[]"
NO_ANSWERS = "(no open-text answers)"

# column names that mark a CSV as a highlights export (detection), and the wider set used to map it
HIGHLIGHT_MARKERS = ("highlight", "highlight text", "highlights", "quote", "excerpt")
HIGHLIGHT_COLUMNS = (*HIGHLIGHT_MARKERS, "text", "content", "snippet", "observation")
HL_ROLES: dict[str, tuple[str, ...]] = {
    "note_id": (
        "note id",
        "source id",
        "interview id",
        "document id",
        "session id",
        "recording id",
    ),
    "title": (
        "note",
        "note title",
        "note name",
        "source",
        "source title",
        "interview",
        "interview title",
        "document",
        "document title",
        "session",
        "session title",
        "transcript",
        "recording",
        "title",
    ),
    "participant": (
        "participant",
        "participant name",
        "interviewee",
        "respondent",
        "person",
        "customer",
        "speaker",
        "name",
    ),
    "user_id": ("user id", "customer id", "participant id", "user email", "email"),
    "date": (
        "date",
        "interview date",
        "session date",
        "note date",
        "created at",
        "created",
        "created date",
    ),
    "segment": ("segment", "persona", "cohort", "plan"),
}
TAG_COLUMNS = ("tags", "tag", "labels", "codes", "themes")
RESPONDENT_COLUMNS = (
    "respondent id",
    "response id",
    "responseid",
    "respondent",
    "submission id",
    "response number",
    "id",
    "uuid",
    "token",
)
SURVEY_DATES = (
    "date submitted",
    "submitted at",
    "submit date",
    "submit date utc",
    "submitdate",
    "end date",
    "enddate",
    "recorded date",
    "completed at",
    "date",
    "timestamp",
    "created at",
)
FRONT_MATTER: dict[str, tuple[str, ...]] = {
    "note_id": ("id", "note_id", "interview_id"),
    "participant": ("participant", "interviewee", "respondent", "person", "name"),
    "user_id": ("user_id", "customer_id", "user"),
    "date": ("date", "interview_date", "created_at", "created"),
    "segment": ("segment", "persona", "plan", "cohort"),
    "title": ("title", "subject"),
}


# -- the stage the notes formats hand to the pipeline ------------------------------------------------


@dataclass
class NotesStage(readers.Stage):
    """A stage already shaped as notes: one row per note with ``_highlights`` (LIST of STRUCT)."""

    fields: dict[str, Expr] = field(default_factory=dict)
    extras: list[tuple[str, str]] = field(default_factory=list)
    mapping_notes: list[str] = field(default_factory=list)


def _notes_stage(st: readers.Stage, **kw: Any) -> NotesStage:
    base = {f.name: getattr(st, f.name) for f in dataclasses.fields(readers.Stage)}
    base.update({k: v for k, v in kw.items() if k in base})
    return NotesStage(**base, **{k: v for k, v in kw.items() if k not in base})


def _mapping_for(name: str):
    def mapping(con, target, stage, columns, params):  # noqa: ARG001 - signature shared by all formats
        if not isinstance(stage, NotesStage):
            raise ConfigError(
                f"the {name} notes format is read by Workbench.load_notes",
                code="ingest.notes_format",
                file=stage.input.label,
                hint=f"call wb.load_notes(path, format={name!r})",
            )
        return Mapping(
            format=name,
            fields=dict(stage.fields),
            extras=list(stage.extras),
            notes=list(stage.mapping_notes),
        )

    return mapping


def _never(stage: readers.Stage) -> bool:  # noqa: ARG001 - detected by load_notes, not per stage
    return False


register(
    Format(
        "markdown",
        "notes",
        frozenset({"markdown"}),
        _never,
        _mapping_for("markdown"),
        description="a folder of Markdown interviews with YAML front matter",
    )
)
register(
    Format(
        "highlights_csv",
        "notes",
        frozenset({"csv", "json", "parquet", "dataframe"}),
        _never,
        _mapping_for("highlights_csv"),
        description="one row per tagged highlight (Dovetail, Condens, EnjoyHQ exports)",
    )
)
register(
    Format(
        "survey",
        "notes",
        frozenset({"csv", "json", "parquet", "dataframe"}),
        _never,
        _mapping_for("survey"),
        description="a survey export with one row per respondent",
    )
)


def source_root(source: str | Path | pd.DataFrame) -> Path | None:
    """The folder a load's files are named relative to in ``notes.file``: the folder loaded, a
    single file's folder, a glob's leading folder (the part before its first wildcard); None for a
    DataFrame."""
    if isinstance(source, pd.DataFrame):
        return None
    path = Path(str(source)).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        return path.parent
    fixed = []
    for part in path.parts:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def relative_file(label: str, root: Path | None) -> str | None:
    """``label`` (a file loaded) relative to ``root``, with '/' separators; None without a root."""
    if root is None:
        return None
    try:
        return Path(label).relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(label, root)).as_posix()


def write_highlights(
    con: duckdb.DuckDBPyConnection,
    res: StageResult,
    written: str,
    root: Path | None = None,
) -> None:
    """after_write hook: set the file of every note just written (relative to ``root``, the load's
    source folder) and replace the highlights of the notes that have them."""
    st = res.stage
    w = quote_ident(written)
    if st.input.path is not None and root is not None:
        con.execute(
            f"UPDATE notes SET file = $file WHERE source_key IN (SELECT source_key FROM {w})",
            {"file": relative_file(st.input.label, root)},
        )
    if not isinstance(st, NotesStage):
        return
    con.execute(f"DELETE FROM note_highlights WHERE source_key IN (SELECT source_key FROM {w})")
    sql = (
        f"INSERT INTO note_highlights (note_id, position, quote, tags, line, source_key, load_id) "
        "SELECT w.note_id, h.position, h.quote, CASE WHEN len(h.tags) = 0 THEN NULL ELSE h.tags END, "
        f"h.line, w.source_key, n.load_id FROM {w} w JOIN notes n ON n.source_key = w.source_key "
        f"JOIN {st.relation} AS s ON s._row = w._row, unnest(s._highlights) AS u(h) "
        "WHERE h.quote IS NOT NULL AND trim(h.quote) <> ''"
    )
    con.execute(sql, st.params.used_in(sql))


# -- entry point -------------------------------------------------------------------------------------


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
    extra_notes += _duplicate_ids(parsed)
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
    inputs = resolve(source)
    delimiter = readers.check_delimiter(delimiter)
    if delimiter:
        inputs = [replace(i, delimiter=delimiter) for i in inputs]
    extra_notes: list[str] = []
    name = format
    if name in (None, "markdown"):
        md = [i for i in inputs if i.container == "markdown"]
        if md:
            if len(md) < len(inputs):
                extra_notes.append(
                    f"markdown: {len(inputs) - len(md)} file(s) that are not Markdown were skipped"
                )
            inputs, name = md, "markdown"
        elif name == "markdown":
            where = inputs[0].label if len(inputs) == 1 else str(source)
            raise InputError(
                f"{where} holds no Markdown (.md) files",
                code="ingest.no_markdown",
                hint="point at a folder of .md files, or pass the format of the file",
            )
    inputs = [decode.as_utf8(i, i.container, codec, work) for i in inputs]
    if name is None:
        name = _detect(inputs[0], columns)
    fixed = [k for k, v in (columns or {}).items() if isinstance(v, Const)]
    if fixed and name in ("markdown", "highlights_csv", "survey"):
        raise ConfigError(
            f"{name} notes take no fixed values (Const for {', '.join(fixed)})",
            code="ingest.const_unsupported",
            hint="map the fields to columns or front matter keys, or load a table of notes "
            "(format='csv', 'json', 'parquet' or 'dataframe')",
        )
    names: MappingABC[str, str] = {k: v for k, v in (columns or {}).items() if isinstance(v, str)}
    stage_fn: StageFn | None = None
    parsed: dict[str, ParsedNote] = {}
    if name == "markdown":
        parsed = _parse_all(inputs, names)
        stage_fn = lambda c, i: _stage_markdown(c, i, parsed)  # noqa: E731
    elif name == "highlights_csv":
        stage_fn = lambda c, i: _stage_highlights(c, i, names)  # noqa: E731
    elif name == "survey":
        stage_fn = lambda c, i: _stage_survey(c, i, names, options)  # noqa: E731
    # name "auto": json, parquet or a DataFrame, one note per row: the registry detects the format
    return name, inputs, stage_fn, parsed, extra_notes


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


# -- markdown ----------------------------------------------------------------------------------------


@dataclass
class ParsedNote:
    values: dict[str, str | None]  # canonical field -> text
    properties: dict[str, Any]
    highlights: list[dict[str, Any]]
    keys: set[str] = field(default_factory=set)  # front matter keys, for checking columns=
    reject: tuple[int, str, str] | None = None  # line, reason, raw text


FENCE = re.compile(r"^\s*(```|~~~)")
QUOTE = re.compile(r"^\s{0,3}>\s?(.*)$")
TAGGED = re.compile(r"^\s*(?:[-*+]\s+)?\[([^\[\]]+)\]\s+(\S.*)$")
LEADING_TAGS = re.compile(r"^\[([^\[\]]+)\]\s+(\S.*)$")
HASHTAG = re.compile(r"(?<![\w&#/])#([A-Za-z][\w-]*)")
HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$")


def _text_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return _text_value(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _split_tags(text: str) -> list[str]:
    return [t.strip() for t in re.split(r"[,;]", text) if t.strip()]


def _highlight(quote: str, tags: list[str], line: int) -> dict[str, Any] | None:
    """Hashtags inside the quote become tags and leave the text; duplicate tags (any case) are dropped."""
    m = LEADING_TAGS.match(quote)
    if m and m.group(1).strip().lower() not in ("", "x"):
        tags = [*tags, *_split_tags(m.group(1))]
        quote = m.group(2)
    tags = [*tags, *HASHTAG.findall(quote)]
    quote = re.sub(r"\s*" + HASHTAG.pattern, "", quote)
    quote = " ".join(quote.split())
    if not quote:
        return None
    seen: set[str] = set()
    unique = []
    for t in tags:
        if t.lower() not in seen:
            seen.add(t.lower())
            unique.append(t)
    return {"quote": quote, "tags": unique, "line": line}


def parse_highlights(body: str, first_line: int) -> list[dict[str, Any]]:
    """Blockquote paragraphs and ``[tag, tag] text`` lines, in order; ``first_line`` is the file line
    of the body's first line. Fenced code blocks are skipped."""
    out: list[dict[str, Any]] = []
    para: list[str] = []
    para_line = 0
    in_fence = False

    def flush() -> None:
        nonlocal para
        if para:
            h = _highlight(" ".join(para), [], para_line)
            if h:
                out.append(h)
        para = []

    for offset, line in enumerate(body.splitlines()):
        number = first_line + offset
        if FENCE.match(line):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        q = QUOTE.match(line)
        if q:
            content = q.group(1)
            while content.startswith(">"):  # nested quotes read as one level
                content = content[1:].lstrip()
            if not content.strip():
                flush()  # a bare '>' separates two quoted paragraphs
            else:
                if not para:
                    para_line = number
                para.append(content.strip())
            continue
        flush()
        t = TAGGED.match(line)
        if t and t.group(1).strip().lower() not in ("", "x"):
            h = _highlight(t.group(2), _split_tags(t.group(1)), number)
            if h:
                out.append(h)
    flush()
    for i, h in enumerate(out, start=1):
        h["position"] = i
    return out


def _front_matter(text: str) -> tuple[dict[str, Any], str, int, tuple[int, str, str] | None]:
    """(front matter, body, file line of the body's first line, reject)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text, 1, None
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        raw = "\n".join(lines[:40])
        return (
            {},
            "",
            1,
            (
                1,
                "the front matter that starts on line 1 is never closed; add a line with --- "
                "after its last 'key: value' line",
                raw,
            ),
        )
    block = "\n".join(lines[1:end])
    raw = "\n".join(lines[: end + 1])
    try:
        meta = yaml.safe_load(block) if block.strip() else {}
    except RecursionError:
        return (
            {},
            "",
            2,
            (
                2,
                "the front matter is nested too deeply to read (thousands of levels of lists or "
                "mappings); write one 'key: value' per line",
                raw[:100_000],
            ),
        )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return (
            {},
            "",
            line,
            (
                line,
                f"the front matter is not valid YAML ({problem}, line {line}); write one "
                "'key: value' per line and put values that contain ': ', '#' or start with "
                "[ { & * in quotes",
                raw,
            ),
        )
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        return (
            {},
            "",
            2,
            (
                2,
                f"the front matter must be 'key: value' lines, found a {type(meta).__name__}; "
                "write it as participant: ..., date: ..., one key per line",
                raw,
            ),
        )
    body = "\n".join(lines[end + 1 :])
    return {str(k): v for k, v in meta.items()}, body, end + 2, None


def parse_markdown(
    path: Path, columns: MappingABC[str, str] | None = None, label: str | None = None
) -> ParsedNote:
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise unreadable_error(exc, label or str(path)) from exc
    meta, body, first_line, reject = _front_matter(text)
    if reject:
        return ParsedNote({}, {}, [], reject=reject)
    lowered = {k.lower(): k for k in meta}
    taken: set[str] = set()
    values: dict[str, str | None] = {}
    for canonical, keys in FRONT_MATTER.items():
        if columns and canonical in columns:
            key = columns[canonical]
            key = key if key in meta else lowered.get(key.lower(), key)
            values[canonical] = _text_value(meta.get(key))
            taken.add(key)
            continue
        for k in keys:
            if k in lowered and lowered[k] not in taken:
                values[canonical] = _text_value(meta[lowered[k]])
                taken.add(lowered[k])
                break
    if not values.get("note_id"):
        values["note_id"] = path.stem
    if not values.get("title"):
        heading = next((HEADING.match(ln) for ln in body.splitlines() if HEADING.match(ln)), None)
        values["title"] = heading.group(1) if heading else None
    values["text"] = body.strip("\n").strip() or None
    props = {k: _json_value(v) for k, v in meta.items() if k not in taken}
    return ParsedNote(values, props, parse_highlights(body, first_line), keys=set(meta))


def _parse_all(inputs: list[Input], columns: MappingABC[str, str] | None) -> dict[str, ParsedNote]:
    if columns:
        for canonical in columns:
            if canonical not in NOTES.names:
                raise unknown_name(
                    "notes field",
                    canonical,
                    NOTES.names,
                    code="ingest.unknown_field",
                    hint="map one of the notes fields: " + ", ".join(NOTES.names),
                )
            if canonical in ("text", "properties"):
                raise ConfigError(
                    f"{canonical} of a Markdown note is its body; it cannot be mapped",
                    code="ingest.unknown_field",
                    hint="map front matter keys to note_id, "
                    "participant, user_id, date, segment or title",
                )
    parsed = {}
    for inp in inputs:
        assert inp.path is not None
        parsed[inp.label] = parse_markdown(inp.path, columns, inp.label)
    seen = set().union(*(p.keys for p in parsed.values())) if parsed else set()
    for canonical, key in (columns or {}).items():
        if key not in seen and key.lower() not in {k.lower() for k in seen}:
            raise ConfigError(
                f"no Markdown file has the front matter key {key!r} (mapped to {canonical}).{did_you_mean(key, seen)}",
                code="ingest.unknown_column",
                column=key,
                hint="columns= maps a notes field to a front matter key; fix the key name",
            )
    return parsed


def _duplicate_ids(parsed: dict[str, ParsedNote]) -> list[str]:
    by_id: dict[str, list[str]] = {}
    for label, p in parsed.items():
        if p.reject is None and p.values.get("note_id"):
            by_id.setdefault(str(p.values["note_id"]), []).append(label)
    return [
        f"markdown: note id {k!r} is used by {len(v)} files ({', '.join(v)}); the last one loaded wins"
        for k, v in by_id.items()
        if len(v) > 1
    ]


MD_COLUMNS = [
    "note_id",
    "participant",
    "user_id",
    "date",
    "segment",
    "title",
    "text",
    "properties",
    "_highlights",
]


def _stage_markdown(
    con: duckdb.DuckDBPyConnection, inp: Input, parsed: dict[str, ParsedNote]
) -> NotesStage:
    """One file as a one-row stage (a temp table filled with bound parameters; none when the front
    matter is broken: the file is then one rejected row, numbered by its line)."""
    p = parsed[inp.label]
    values: dict[str, Any] = {k: p.values.get(k) for k in MD_COLUMNS[:7]}
    values["properties"] = json.dumps(p.properties, ensure_ascii=False) if p.properties else None
    values["highlights"] = json.dumps(p.highlights, ensure_ascii=False)
    values["ok"] = p.reject is None
    cols = ", ".join(f"CAST(${n} AS VARCHAR) AS {quote_ident(n)}" for n in MD_COLUMNS[:8])
    table = readers._new_name("md")
    con.execute(
        f"CREATE TEMP TABLE {quote_ident(table)} AS SELECT 1 AS _row, {cols}, "
        f"CAST(CAST($highlights AS JSON) AS {HIGHLIGHT_TYPE}) AS _highlights WHERE $ok",
        values,
    )
    rejects = readers._rejects_table(con)
    if p.reject is not None:
        line, reason, raw = p.reject
        con.execute(
            f"INSERT INTO {quote_ident(rejects)} VALUES ($row, 'front matter', $reason, $raw)",
            {"row": line, "reason": reason, "raw": raw},
        )
    fields = {n: Expr(quote_ident(n), "VARCHAR", n) for n in MD_COLUMNS[:8]}
    return NotesStage(
        inp,
        "markdown",
        quote_ident(table),
        Params(),
        [readers.Column(n, quote_ident(n), "VARCHAR") for n in MD_COLUMNS[:8]],
        rejects,
        rows_rejected=0 if p.reject is None else 1,
        temp=[f"TABLE:{table}", f"TABLE:{rejects}"],
        fields=fields,
    )


# -- CSV-shaped notes formats: shared helpers ---------------------------------------------------------


def _text_base(con: duckdb.DuckDBPyConnection, inp: Input) -> readers.Stage:
    """Stage any container and view it as text columns named as in the source, plus _row."""
    st = readers.stage(con, inp)
    cols = ", ".join(f"CAST({c.expr} AS VARCHAR) AS {quote_ident(c.name)}" for c in st.columns)
    st.relation = f"(SELECT s._row AS _row, {cols} FROM {st.relation} AS s)"
    st.columns = [readers.Column(c.name, quote_ident(c.name), "VARCHAR") for c in st.columns]
    st.is_json = False  # the raw text of a bad row is now the row as JSON
    return st


def _find(names: list[str], candidates: tuple[str, ...], used: set[str]) -> str | None:
    by_simple: dict[str, str] = {}
    for n in names:
        if n not in used:
            by_simple.setdefault(simplify(n), n)
    for c in candidates:
        if simplify(c) in by_simple:
            return by_simple[simplify(c)]
    return None


def _nonblank(expr: str) -> str:
    return f"nullif(trim({expr}), '')"


# -- highlights_csv -----------------------------------------------------------------------------------


def _stage_highlights(
    con: duckdb.DuckDBPyConnection, inp: Input, columns: MappingABC[str, str] | None
) -> NotesStage:
    st = _text_base(con, inp)
    user = check_user_columns(NOTES, st, columns)
    if "properties" in user:
        raise ConfigError(
            "properties of a highlights export are its other columns; they cannot be mapped",
            code="ingest.unknown_field",
            file=inp.label,
            hint="drop properties from columns=",
        )
    used = set(user.values())
    role: dict[str, str] = {}
    quote = user.get("text") or _find(st.names, HIGHLIGHT_COLUMNS, used)
    if quote is None:
        raise ConfigError(
            f"no highlight column among {', '.join(repr(n) for n in st.names[:20])}",
            code="ingest.missing_field",
            file=inp.label,
            hint="name it with columns={'text': '<highlight column>'}",
        )
    used.add(quote)
    for canonical, candidates in HL_ROLES.items():
        hit = user.get(canonical) or _find(st.names, candidates, used)
        if hit:
            role[canonical] = hit
            used.add(hit)
    tags = _find(st.names, TAG_COLUMNS, used)
    if tags:
        used.add(tags)
    p = st.params
    notes: list[str] = []
    q = quote_ident
    key_col = role.get("note_id") or role.get("title")
    if key_col is None:
        key = p.add(inp.path.stem if inp.path else "highlights")
        notes.append(
            f"highlights_csv: {inp.label} has no note/source/interview column; all its highlights "
            "form one note named after the file"
        )
        key_expr = key
    else:
        key_expr = _nonblank(q(key_col))
    tag_expr = (
        f"list_filter(list_transform(regexp_split_to_array(coalesce({q(tags)}, ''), '[,;|]'), "
        "lambda v: trim(v)), lambda v: v <> '')"
        if tags
        else "CAST([] AS VARCHAR[])"
    )
    others = [c for c in st.names if c not in used]

    def first(col: str) -> str:
        return f"arg_min({_nonblank(q(col))}, _row) FILTER (WHERE {_nonblank(q(col))} IS NOT NULL)"

    out = ["min(_row) AS _row", f"any_value(_note) AS {q('note_id')}"]
    fields: dict[str, Expr] = {"note_id": Expr(q("note_id"), "VARCHAR", key_col or "note")}
    for canonical, col in role.items():
        if canonical != "note_id":
            out.append(f"{first(col)} AS {q(canonical)}")
            fields[canonical] = Expr(q(canonical), "VARCHAR", col)
    if "title" not in role and key_col is None:
        out.append(f"any_value(_note) AS {q('title')}")
        fields["title"] = Expr(q("title"), "VARCHAR", "note")
    out.append(f"string_agg(_quote, chr(10) || chr(10) ORDER BY _row) AS {q('text')}")
    fields["text"] = Expr(q("text"), "VARCHAR", quote)
    out.append(
        "list(struct_pack(position := CAST(_pos AS INTEGER), quote := _quote, tags := _tags, "
        "line := CAST(_row AS INTEGER)) ORDER BY _row) FILTER (WHERE _quote IS NOT NULL) AS _highlights"
    )
    extras = []
    for i, col in enumerate(others):
        alias = f"_prop{i}"
        v = _nonblank(q(col))
        out.append(
            f"CASE WHEN count(DISTINCT {v}) > 1 THEN to_json(list({v} ORDER BY _row) FILTER (WHERE {v} "
            f"IS NOT NULL)) ELSE to_json(min({v})) END AS {q(alias)}"
        )
        extras.append((col, q(alias)))
    rows = (
        f"SELECT *, {key_expr} AS _note, {_nonblank(q(quote))} AS _quote, {tag_expr} AS _tags, "
        f"CASE WHEN {_nonblank(q(quote))} IS NOT NULL THEN row_number() OVER (PARTITION BY {key_expr}, "
        f"{_nonblank(q(quote))} IS NULL ORDER BY _row) END AS _pos FROM {st.relation}"
    )
    relation = f"(SELECT {', '.join(out)} FROM ({rows}) GROUP BY _note)"
    table = quote_ident(readers._new_name("notes"))
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {relation}", p.used_in(relation))
    st.temp.append("TABLE:" + table.strip('"'))
    return _notes_stage(st, relation=table, fields=fields, extras=extras, mapping_notes=notes)


# -- survey -------------------------------------------------------------------------------------------

MULTI = re.compile(r"^(?P<label>[^:]{1,80}?)\s*#\s*\d+\s*:+\s*(?P<q>\S.*)$")
OTHER = re.compile(r"^(?P<label>other[^:]{0,40}?)\s*:+\s*(?P<q>\S.*)$", re.IGNORECASE)


def question_of(header: str) -> str:
    """The question a column answers, in short form: 'Feature / Change #2:What new features ...?
    (Please list ...)' -> 'What new features ...?'. Parenthetical remarks are dropped."""
    m = MULTI.match(header) or OTHER.match(header)
    q = m.group("q") if m else header
    short = " ".join(re.sub(r"\s*\([^()]*\)", "", q).split())
    return short or " ".join(q.split())


def _text_columns(
    con: duckdb.DuckDBPyConnection, st: readers.Stage, candidates: list[str]
) -> list[str]:
    """Open-text columns, decided in SQL from all values: long (25+ characters and 3+ words on average),
    varied (80%+ distinct), and not times or numbers. Questions spread over #1/#2/#3 columns are taken
    or left as a whole (by majority)."""
    if not candidates:
        return []
    parts = []
    for c in candidates:
        v = _nonblank(quote_ident(c))
        parts.append(
            f"count({v}), count(DISTINCT {v}), avg(length({v})), "
            f"avg(length({v}) - length(replace({v}, ' ', '')) + 1), "
            f"count(try_cast({v} AS TIMESTAMP)) + count(try_cast({v} AS DOUBLE))"
        )
    sql = f"SELECT {', '.join(parts)} FROM {st.relation}"
    row = fetch_one(con, sql, st.params.used_in(sql))
    assert row is not None
    verdict: dict[str, bool] = {}
    for i, c in enumerate(candidates):
        n, distinct, length, words, typed = row[i * 5 : i * 5 + 5]
        verdict[c] = bool(
            n
            and distinct / n >= 0.8
            and (length or 0) >= 25
            and (words or 0) >= 3
            and typed < n / 2
        )
    groups: dict[str, list[str]] = {}
    for c in candidates:
        multi = MULTI.match(c)
        key = f"{multi.group('label')}#{question_of(c)}" if multi else c
        groups.setdefault(key, []).append(c)
    chosen = []
    for members in groups.values():
        if sum(verdict[c] for c in members) * 2 >= len(members) and any(
            verdict[c] for c in members
        ):
            chosen.extend(members)
    return [c for c in candidates if c in chosen]


def _stage_survey(
    con: duckdb.DuckDBPyConnection,
    inp: Input,
    columns: MappingABC[str, str] | None,
    options: MappingABC[str, Any],
) -> NotesStage:
    st = _text_base(con, inp)
    user = check_user_columns(NOTES, st, columns)
    for bad in ("text", "properties"):
        if bad in user:
            raise ConfigError(
                f"the {bad} of a survey note is built from the answers; it cannot be mapped",
                code="ingest.unknown_field",
                file=inp.label,
                hint="name the open-text columns with text_columns=[...]",
            )
    used = set(user.values())
    respondent = user.get("participant") or _find(st.names, RESPONDENT_COLUMNS, used)
    if respondent:
        used.add(respondent)
    date = user.get("date") or _find(st.names, SURVEY_DATES, used)
    if date:
        used.add(date)
    given = options.get("text_columns")
    if given is not None:
        if isinstance(given, str):
            given = [given]
        texts = []
        for name in given:
            name = readers.normalise_header(name)
            if st.column(name) is None:
                raise ConfigError(
                    f"text column {name!r} is not in the file.{did_you_mean(name, st.names)}",
                    code="ingest.unknown_column",
                    file=inp.label,
                    column=name,
                    hint="text_columns= takes header names exactly as in the file (blanks normalised)",
                )
            texts.append(name)
    else:
        texts = _text_columns(con, st, [c for c in st.names if c not in used])
    if not texts:
        raise ConfigError(
            f"found no open-text answers in {inp.label}",
            code="ingest.no_text_columns",
            file=inp.label,
            hint="name them with text_columns=['<question column>', ...]",
        )
    used.update(texts)
    p = st.params
    q = quote_ident
    survey = str(options.get("survey") or (inp.path.stem if inp.path else "survey"))
    questions = [question_of(c) for c in texts]
    order = list(dict.fromkeys(questions))
    cols_p, qs_p = p.add(texts), p.add(questions)
    cidx_p, qidx_p = (
        p.add(list(range(1, len(texts) + 1))),
        p.add([order.index(x) + 1 for x in questions]),
    )
    on = ", ".join(q(c) for c in texts)
    relation = f"""(WITH base AS (SELECT * FROM {st.relation}),
      qs AS (SELECT unnest({cols_p}) AS col, unnest({qs_p}) AS question, unnest({cidx_p}) AS cidx,
                    unnest({qidx_p}) AS qidx),
      ans AS (SELECT u._row, qs.question, qs.cidx, qs.qidx, trim(u.v) AS v
              FROM (UNPIVOT (SELECT _row, {on} FROM base) ON {on} INTO NAME col VALUE v) u
              JOIN qs USING (col) WHERE trim(u.v) <> ''),
      numbered AS (SELECT *, row_number() OVER (PARTITION BY _row ORDER BY cidx) AS pos FROM ans),
      blocks AS (SELECT _row, qidx, question || chr(10) || string_agg(v, chr(10) ORDER BY cidx) AS block
                 FROM numbered GROUP BY _row, qidx, question),
      texts AS (SELECT _row, string_agg(block, chr(10) || chr(10) ORDER BY qidx) AS t FROM blocks GROUP BY _row),
      hl AS (SELECT _row, list(struct_pack(position := CAST(pos AS INTEGER), quote := v, tags := [question],
                                           line := CAST(_row AS INTEGER)) ORDER BY pos) AS h
             FROM numbered GROUP BY _row)
      SELECT base.*, coalesce(texts.t, {p.add(NO_ANSWERS)}) AS _text, hl.h AS _highlights
      FROM base LEFT JOIN texts USING (_row) LEFT JOIN hl USING (_row))"""
    table = quote_ident(readers._new_name("survey"))
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {relation}", p.used_in(relation))
    st.temp.append("TABLE:" + table.strip('"'))
    who = _nonblank(q(respondent)) if respondent else "'respondent-' || CAST(_row - 1 AS VARCHAR)"
    fields = {
        "participant": Expr(who, "VARCHAR", respondent or "row"),
        "title": Expr(p.add(survey), "VARCHAR", "survey"),
        "text": Expr("_text", "VARCHAR", "answers"),
    }
    if "note_id" in user:
        fields["note_id"] = Expr(q(user["note_id"]), "VARCHAR", user["note_id"])
    else:
        fields["note_id"] = Expr(f"{p.add(survey + '/')} || {who}", "VARCHAR", respondent or "row")
    if date:
        fields["date"] = Expr(q(date), "VARCHAR", date)
    for canonical in ("user_id", "segment"):
        if canonical in user:
            fields[canonical] = Expr(q(user[canonical]), "VARCHAR", user[canonical])
    extras = [(c, q(c)) for c in st.names if c not in used]
    notes = [
        f"survey: {len(texts)} open-text column(s) ({len(order)} question(s)) from {inp.label}"
        + ("" if given is not None else "; pass text_columns=[...] to choose them")
    ]
    return _notes_stage(st, relation=table, fields=fields, extras=extras, mapping_notes=notes)
