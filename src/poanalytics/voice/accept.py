"""Accept discovered themes into the taxonomy: ``wb.accept_themes(result, themes=None, names=None,
path=None)``.

Each accepted theme becomes a ``[themes.<name>]`` entry appended to conf/themes.toml (``[voice]
taxonomy``; created with a comment header when missing): ``keywords`` and ``min_matches`` are the
keyword rule the discovery proposed for it (voice.discover: the theme's terms whose items are
mostly the theme's, and how many must be found), ``description`` says it was discovered, with
the seed and the date, and a comment above the entry gives its numbers (items, what the rule
takes). The file's existing text is kept byte for byte: entries are only appended. The new text
is parsed before anything is written (an invalid result writes nothing), written in one
``os.replace``, then read again with ``read_taxonomy``; should that fail, the previous file is
put back. The next voice call sees a new taxonomy version and refreshes: the accepted themes
then assign items by their keywords, like every theme of the file.

The name of a theme is its label made a TOML key (``"bug / port / need"`` -> ``bug_port_need``)
unless ``names`` gives one; a name the taxonomy has already (any case) is refused
(``voice.theme_exists``), nothing is written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import did_you_mean
from .errors import VoiceError

HEADER = """\
# Themes for support tickets and interview highlights (docs/voice.md).
#
# Each [themes.<name>] is one theme. An item (a ticket: subject + body; or one interview highlight)
# is in the theme when at least `min_matches` (default 1) DISTINCT terms below are found in its text
# and none of `exclude` is. Matching ignores case.
#   phrases, keywords: literal text matched as whole words ("crash" does not match "crashed")
#   patterns: RE2 regular expressions (DuckDB's regexp_matches), found anywhere; \\b for word edges
#   exclude: literal whole words; an item holding one is left out of this theme (not of others)
#   sources: "tickets", "notes" (default both)
# Themes below marked "discovered" were proposed by `poanalytics voice discover` and accepted;
# edit them freely: the next voice call refreshes the assignments.
"""
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class Accepted:
    """What ``accept_themes`` wrote: ``path``, ``created`` (the file was new), ``table`` (name,
    label, keywords, min_matches, items) and ``text`` (the lines appended)."""

    path: Path
    created: bool
    table: pd.DataFrame
    text: str

    def __str__(self) -> str:
        verb = "created" if self.created else "appended to"
        lines = [f"{len(self.table)} theme(s) {verb} {self.path}:"]
        for r in self.table.itertuples(index=False):
            lines.append(
                f"  {r.name}  ({r.items} items; keywords: {', '.join(r.keywords)}; "
                f"min_matches {r.min_matches})"
            )
        return "\n".join(lines)


def theme_name(label: str) -> str:
    """A taxonomy name for a discovered label: lower case, words joined by "_"."""
    name = re.sub(r"[\W_]+", "_", label.lower()).strip("_")
    return name or "theme"


def _key(name: str) -> str:
    return name if _BARE.match(name) else _string(name)


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _pick(table: pd.DataFrame, themes: Any) -> list[int]:
    """Row positions of ``themes`` (None: all; labels or row numbers of ``result.table``)."""
    if themes is None:
        return list(range(len(table)))
    if isinstance(themes, str | int):
        themes = [themes]
    labels = list(table["label"])
    rows: list[int] = []
    for t in themes:
        if isinstance(t, bool) or not isinstance(t, str | int):
            raise VoiceError(
                f"themes holds {t!r}: give proposed labels or row numbers of result.table",
                code="voice.accept_theme",
                hint="e.g. themes=['bug / port / need'] or themes=[0, 2]",
            )
        if isinstance(t, int):
            if not 0 <= t < len(table):
                raise VoiceError(
                    f"there is no proposed theme number {t} (the result has {len(table)}: "
                    f"0..{len(table) - 1})",
                    code="voice.accept_theme",
                    hint="use the row numbers of result.table, or the labels",
                )
            row = t
        elif t in labels:
            row = labels.index(t)
        else:
            raise VoiceError(
                f"{t!r} is not a proposed theme.{did_you_mean(t, labels)}",
                code="voice.accept_theme",
                hint="use a label of result.table.label (or its row number)",
            )
        if row not in rows:
            rows.append(row)
    return rows


def entry(
    name: str,
    row: Mapping[str, Any],
    *,
    seed: int,
    source: str,
    items: int,
    uncovered: bool,
    today: dt.date,
) -> str:
    """The TOML text of one accepted theme (with a comment giving its numbers)."""
    keywords = [str(k) for k in row["keywords"]]
    terms = [str(t) for t in row["terms"]]
    lines = [
        "",
        f"# discovered {today.isoformat()} by poanalytics voice discover (seed {seed}; "
        f"{items:,} items read"
        + ("" if source == "all" else f" from {source}")
        + (", those no theme took" if uncovered else "")
        + f"): {row['items']:,} items in the theme; these keywords "
        f"take {row['rule_items']:,} of those items, {row['rule_precision']:.0%} of them the "
        f"theme's, {row['rule_recall']:.0%} of the theme's items",
        f"# its terms: {', '.join(terms)}",
        f"[themes.{_key(name)}]",
        "description = "
        + _string(f"Discovered theme '{row['label']}' (seed {seed}, {today.isoformat()})"),
        "keywords = [" + ", ".join(_string(k) for k in keywords) + "]",
        f"min_matches = {int(row['min_matches'])}",
    ]
    if source != "all":
        lines.append(f"sources = [{_string(source)}]")
    return "\n".join(lines) + "\n"


def accept_themes(
    result: Any,
    themes: Any = None,
    names: Mapping[Any, str] | None = None,
    path: str | Path | None = None,
    *,
    today: dt.date | None = None,
) -> Accepted:
    """Append the proposed ``themes`` of ``result`` (a DiscoveryResult; default: all of them) to
    the taxonomy file ``path`` (default ``[voice] taxonomy``), named by ``names`` ({label or row
    number: name}) or by their labels. See the module docstring."""
    from .taxonomy import default_path, parse_taxonomy, read_taxonomy

    table = getattr(result, "table", None)
    query = getattr(result, "query", None)
    if not isinstance(table, pd.DataFrame) or "keywords" not in table or query is None:
        raise VoiceError(
            f"accept_themes takes the result of wb.discover_themes(), not {type(result).__name__}",
            code="voice.accept_input",
            hint="r = wb.discover_themes(); wb.accept_themes(r)",
        )
    rows = _pick(table, themes)
    if not rows:
        raise VoiceError(
            "there is no proposed theme to accept",
            code="voice.accept_theme",
            hint="discovery found no theme in these items (see result.unassigned for why)",
        )
    labels = list(table["label"])
    names = {
        (labels[_pick(table, [k])[0]] if isinstance(k, int) and not isinstance(k, bool) else k): v
        for k, v in dict(names or {}).items()
    }
    for label in names:
        if label not in labels:
            raise VoiceError(
                f"names gives a name for {label!r}, which is not a proposed theme."
                + did_you_mean(label, labels),
                code="voice.accept_theme",
                hint="key names by the labels of result.table.label",
            )
    file = Path(path).expanduser() if path is not None else default_path()
    taxonomy = read_taxonomy(file)  # the file as it is must be valid before anything is added
    existing = {n.lower(): n for n in (taxonomy.names if taxonomy is not None else [])}
    chosen: list[tuple[int, str]] = []
    for row in rows:
        label = labels[row]
        name = names.get(label, theme_name(label))
        if not isinstance(name, str) or not name.strip():
            raise VoiceError(
                f"the name for {label!r} is empty",
                code="voice.accept_name",
                hint="give a short name, e.g. names={'" + label + "': 'porting'}",
            )
        name = name.strip()
        if name.lower() in existing:
            raise VoiceError(
                f"the taxonomy {file} has a theme {existing[name.lower()]!r} already; "
                f"accepting {label!r} as {name!r} would make two",
                code="voice.theme_exists",
                hint=f"name it otherwise (names={{{label!r}: '{name}_2'}}, or --name on the command line), or leave it out "
                "(themes=[...]); nothing was written",
            )
        existing[name.lower()] = name
        chosen.append((row, name))

    q = query
    when = today or dt.datetime.now(dt.UTC).date()
    text = "".join(
        entry(
            name,
            table.iloc[row],
            seed=int(q.seed),
            source=str(q.source),
            items=int(getattr(result, "items", 0)),
            uncovered=bool(getattr(q, "uncovered", False)),
            today=when,
        )
        for row, name in chosen
    )
    created = not file.exists()
    before = b"" if created else file.read_bytes()
    prefix = HEADER if created else ("" if before.endswith(b"\n") or not before else "\n")
    after = before + (prefix + text).encode("utf-8")
    parse_taxonomy(after.decode("utf-8"), file)  # invalid: raises, nothing written
    _write(file, after)
    try:
        read_taxonomy(file)
    except Exception:
        if created:
            file.unlink(missing_ok=True)
        else:
            _write(file, before)
        raise
    out = pd.DataFrame(
        {
            "name": [n for _, n in chosen],
            "label": [labels[r] for r, _ in chosen],
            "keywords": [list(table.iloc[r]["keywords"]) for r, _ in chosen],
            "min_matches": [int(table.iloc[r]["min_matches"]) for r, _ in chosen],
            "items": [int(table.iloc[r]["items"]) for r, _ in chosen],
        }
    )
    return Accepted(path=file, created=created, table=out, text=text)


def _write(file: Path, data: bytes) -> None:
    """Replace ``file`` by ``data`` in one step (a reader sees the old or the new file)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", dir=file.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        if file.exists():
            os.chmod(tmp, file.stat().st_mode & 0o777)
        else:  # a new file gets the usual mode (mkstemp's is 0600)
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
