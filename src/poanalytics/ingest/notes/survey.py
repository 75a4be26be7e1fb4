"""The ``survey`` notes format: one row per respondent; each respondent is one note, each non-empty
open-text answer one highlight tagged with its question. The open-text columns are found from their
values (``text_columns``) unless named. Reshaped in DuckDB.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from typing import Any

import duckdb

from ...db import fetch_one, quote_ident
from ...errors import ConfigError, did_you_mean
from ...sql import Params
from .. import readers
from ..mapping import Expr, check_user_columns
from ..sources import Input
from ..targets import NOTES
from .common import NotesStage, find_column, nonblank, notes_stage, text_base

NO_ANSWERS = "(no open-text answers)"
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
        v = nonblank(quote_ident(c))
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


def _survey_roles(
    st: readers.Stage, inp: Input, columns: MappingABC[str, str] | None
) -> tuple[dict[str, str], set[str], str | None, str | None]:
    """The columns given in ``columns=`` and the respondent and date columns (given or found by
    name); returns them with the set of columns taken."""
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
    respondent = user.get("participant") or find_column(st.names, RESPONDENT_COLUMNS, used)
    if respondent:
        used.add(respondent)
    date = user.get("date") or find_column(st.names, SURVEY_DATES, used)
    if date:
        used.add(date)
    return user, used, respondent, date


def _given_text_columns(st: readers.Stage, inp: Input, given: str | list[str]) -> list[str]:
    """The open-text columns named in ``text_columns=``, each checked to be in the file."""
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
    return texts


def _answers(st: readers.Stage, texts: list[str], questions: list[str], order: list[str]) -> str:
    """The respondents with their answers: ``_text`` (each question with its answers, one block
    per question) and ``_highlights`` (each answer, tagged with its question)."""
    p = st.params
    cols_p, qs_p = p.add(texts), p.add(questions)
    cidx_p, qidx_p = (
        p.add(list(range(1, len(texts) + 1))),
        p.add([order.index(x) + 1 for x in questions]),
    )
    on = ", ".join(quote_ident(c) for c in texts)
    return f"""(WITH base AS (SELECT * FROM {st.relation}),
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


def _survey_fields(
    p: Params, user: dict[str, str], respondent: str | None, date: str | None, survey: str
) -> dict[str, Expr]:
    """The note's fields: the respondent (or the row) names it, the survey is its title, the
    answers its text; the note id, date, user and segment when the file has them."""
    q = quote_ident
    who = nonblank(q(respondent)) if respondent else "'respondent-' || CAST(_row - 1 AS VARCHAR)"
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
    return fields


def stage_survey(
    con: duckdb.DuckDBPyConnection,
    inp: Input,
    columns: MappingABC[str, str] | None,
    options: MappingABC[str, Any],
) -> NotesStage:
    """A survey export as notes: one per respondent (``_survey_roles``), its open-text answers
    (given, or found by ``_text_columns``) as its text and highlights (``_answers``), in a temp
    table; the other columns are properties."""
    st = text_base(con, inp)
    user, used, respondent, date = _survey_roles(st, inp, columns)
    given = options.get("text_columns")
    if given is not None:
        texts = _given_text_columns(st, inp, given)
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
    survey = str(options.get("survey") or (inp.path.stem if inp.path else "survey"))
    questions = [question_of(c) for c in texts]
    order = list(dict.fromkeys(questions))
    relation = _answers(st, texts, questions, order)
    table = quote_ident(readers._new_name("survey"))
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {relation}", p.used_in(relation))
    st.temp.append("TABLE:" + table.strip('"'))
    fields = _survey_fields(p, user, respondent, date, survey)
    extras = [(c, quote_ident(c)) for c in st.names if c not in used]
    notes = [
        f"survey: {len(texts)} open-text column(s) ({len(order)} question(s)) from {inp.label}"
        + ("" if given is not None else "; pass text_columns=[...] to choose them")
    ]
    return notes_stage(st, relation=table, fields=fields, extras=extras, mapping_notes=notes)
