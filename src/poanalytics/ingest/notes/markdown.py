"""The ``markdown`` notes format: a folder (or glob, or file) of Markdown interviews with YAML front
matter, parsed in Python (they are few). Each file is one note (``parse_markdown``: front matter
-> fields, the body -> text); its blockquotes and ``[tag, tag] text`` lines are its highlights
(``parse_highlights``). ``stage_markdown`` hands one parsed file to the pipeline as a one-row stage.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from ...db import quote_ident
from ...errors import ConfigError, did_you_mean, unknown_name
from ...sql import Params
from .. import readers
from ..mapping import Expr
from ..sources import Input, unreadable_error
from ..targets import NOTES
from .common import HIGHLIGHT_TYPE, NotesStage

FRONT_MATTER: dict[str, tuple[str, ...]] = {
    "note_id": ("id", "note_id", "interview_id"),
    "participant": ("participant", "interviewee", "respondent", "person", "name"),
    "user_id": ("user_id", "customer_id", "user"),
    "date": ("date", "interview_date", "created_at", "created"),
    "segment": ("segment", "persona", "plan", "cohort"),
    "title": ("title", "subject"),
}


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


class _HighlightReader:
    """The highlights of a note's body as its lines are read one by one: a quoted paragraph is
    collected until a line that ends it (``flush``), a tagged line is a highlight on its own, and
    fenced code blocks are skipped."""

    def __init__(self) -> None:
        self.out: list[dict[str, Any]] = []
        self.para: list[str] = []  # the lines of the quoted paragraph being read
        self.para_line = 0  # the file line it starts on
        self.in_fence = False

    def flush(self) -> None:
        """The quoted paragraph read so far is one highlight."""
        if self.para:
            h = _highlight(" ".join(self.para), [], self.para_line)
            if h:
                self.out.append(h)
        self.para = []

    def read(self, number: int, line: str) -> None:
        """One line of the body; ``number`` is its line in the file."""
        if FENCE.match(line):
            self.flush()
            self.in_fence = not self.in_fence
            return
        if self.in_fence:
            return
        q = QUOTE.match(line)
        if q:
            self._quoted(number, q.group(1))
            return
        self.flush()
        self._tagged(number, line)

    def _quoted(self, number: int, content: str) -> None:
        while content.startswith(">"):  # nested quotes read as one level
            content = content[1:].lstrip()
        if not content.strip():
            self.flush()  # a bare '>' separates two quoted paragraphs
            return
        if not self.para:
            self.para_line = number
        self.para.append(content.strip())

    def _tagged(self, number: int, line: str) -> None:
        t = TAGGED.match(line)
        if t and t.group(1).strip().lower() not in ("", "x"):
            h = _highlight(t.group(2), _split_tags(t.group(1)), number)
            if h:
                self.out.append(h)


def parse_highlights(body: str, first_line: int) -> list[dict[str, Any]]:
    """Blockquote paragraphs and ``[tag, tag] text`` lines, in order; ``first_line`` is the file line
    of the body's first line. Fenced code blocks are skipped."""
    reader = _HighlightReader()
    for offset, line in enumerate(body.splitlines()):
        reader.read(first_line + offset, line)
    reader.flush()
    for i, h in enumerate(reader.out, start=1):
        h["position"] = i
    return reader.out


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


def parse_all(inputs: list[Input], columns: MappingABC[str, str] | None) -> dict[str, ParsedNote]:
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


def duplicate_ids(parsed: dict[str, ParsedNote]) -> list[str]:
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


def stage_markdown(
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
