"""What every notes format shares: the stage it hands to the pipeline (:class:`NotesStage`, already
one row per note with its highlights), the formats' registration, the ``after_write`` hook that
stores the highlights and the note's file, and the helpers of the CSV-shaped formats (a stage as text
columns, finding a column by its loose name).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ...db import quote_ident
from ...errors import ConfigError
from .. import readers
from ..formats import Format, register
from ..mapping import Expr, Mapping
from ..pipeline import StageResult
from ..sources import Input
from ..targets import simplify

HIGHLIGHT_TYPE = "STRUCT(position INTEGER, quote VARCHAR, tags VARCHAR[], line INTEGER)[]"


@dataclass
class NotesStage(readers.Stage):
    """A stage already shaped as notes: one row per note with ``_highlights`` (LIST of STRUCT)."""

    fields: dict[str, Expr] = field(default_factory=dict)
    extras: list[tuple[str, str]] = field(default_factory=list)
    mapping_notes: list[str] = field(default_factory=list)


def notes_stage(st: readers.Stage, **kw: Any) -> NotesStage:
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


# -- CSV-shaped notes formats: shared helpers ---------------------------------------------------------


def text_base(con: duckdb.DuckDBPyConnection, inp: Input) -> readers.Stage:
    """Stage any container and view it as text columns named as in the source, plus _row."""
    st = readers.stage(con, inp)
    cols = ", ".join(f"CAST({c.expr} AS VARCHAR) AS {quote_ident(c.name)}" for c in st.columns)
    st.relation = f"(SELECT s._row AS _row, {cols} FROM {st.relation} AS s)"
    st.columns = [readers.Column(c.name, quote_ident(c.name), "VARCHAR") for c in st.columns]
    st.is_json = False  # the raw text of a bad row is now the row as JSON
    return st


def find_column(names: list[str], candidates: tuple[str, ...], used: set[str]) -> str | None:
    by_simple: dict[str, str] = {}
    for n in names:
        if n not in used:
            by_simple.setdefault(simplify(n), n)
    for c in candidates:
        if simplify(c) in by_simple:
            return by_simple[simplify(c)]
    return None


def nonblank(expr: str) -> str:
    return f"nullif(trim({expr}), '')"
