"""Interview notes, research-tool highlights and survey answers -> ``notes`` + ``note_highlights``.

Three formats on top of the generic ones (csv, json, parquet, dataframe: one note per row), a
module each:

* ``markdown``: a folder (or glob, or file) of Markdown interviews with YAML front matter. Each file
  is one note; blockquotes and ``[tag, tag] text`` lines are its highlights.
* ``highlights``: the ``highlights_csv`` format, one row per highlight, as Dovetail, Condens or
  EnjoyHQ export them; the notes are the distinct note (source, interview) titles.
* ``survey``: one row per respondent; each respondent is one note, each non-empty open-text answer
  one highlight tagged with its question.

``load`` holds the entry point, :func:`load_notes`: it picks the format and hands every input to
:func:`poanalytics.ingest.pipeline.run_load` (checks, quarantine, upsert by ``format:note_id``);
``common`` holds what the formats share, among it the ``after_write`` hook that replaces the
highlights of every note written. Markdown files are parsed in Python (they are few); CSV formats
are reshaped in DuckDB.
"""

from __future__ import annotations

from .common import HIGHLIGHT_TYPE, NotesStage, relative_file, source_root, write_highlights
from .highlights import HIGHLIGHT_COLUMNS, HIGHLIGHT_MARKERS, HL_ROLES, TAG_COLUMNS
from .load import FORMATS, OPTIONS, load_notes
from .markdown import FRONT_MATTER, MD_COLUMNS, ParsedNote, parse_highlights, parse_markdown
from .survey import NO_ANSWERS, RESPONDENT_COLUMNS, SURVEY_DATES, question_of

__all__ = [
    "FORMATS",
    "FRONT_MATTER",
    "HIGHLIGHT_COLUMNS",
    "HIGHLIGHT_MARKERS",
    "HIGHLIGHT_TYPE",
    "HL_ROLES",
    "MD_COLUMNS",
    "NO_ANSWERS",
    "OPTIONS",
    "RESPONDENT_COLUMNS",
    "SURVEY_DATES",
    "TAG_COLUMNS",
    "NotesStage",
    "ParsedNote",
    "load_notes",
    "parse_highlights",
    "parse_markdown",
    "question_of",
    "relative_file",
    "source_root",
    "write_highlights",
]
