"""The theme taxonomy: conf/themes.toml (``[voice] taxonomy`` in conf/poanalytics.toml).

Each ``[themes.<name>]`` table is one theme::

    [themes.onboarding_crash]
    description = "The app crashes during onboarding"
    phrases  = ["can't finish onboarding"]   # literal text, whole words, any case
    keywords = ["crash", "crashes"]           # literal words, whole words, any case
    patterns = ['profile (step|screen)']      # RE2 regular expressions (DuckDB), any case
    exclude  = ["crash course"]               # literal, whole words: an item with one is not in it
    min_matches = 1                           # distinct terms that must match (default 1)
    sources = ["tickets", "notes"]            # default: both
    [themes.onboarding_crash.links]           # optional: what the theme is about in the product
    funnel_steps = ["profile_completed"]
    events = ["app_error"]
    features = ["profile form"]
    segments = { platform = "android" }

A file that is not TOML is ``voice.taxonomy_syntax`` (file and line named); a theme with an
unknown key (with a "did you mean"), a value of the wrong type, a pattern RE2 cannot compile, no
terms at all, or a ``min_matches`` it can never reach is ``voice.taxonomy_invalid`` (theme and key
named). ``Taxonomy.version`` is the sha256 of the normalised themes (every key with its default,
JSON with sorted keys): comments, blank lines and the order of the themes do not change it.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..db import connect
from ..errors import did_you_mean
from .errors import VoiceError
from .items import SOURCES

TERM_KEYS = ("phrases", "keywords", "patterns")
THEME_KEYS = ("description", *TERM_KEYS, "exclude", "min_matches", "sources", "links")
LINK_KEYS = ("funnel_steps", "events", "features", "segments")
TOP_KEYS = ("themes",)


@dataclass(frozen=True)
class Theme:
    """One theme of the taxonomy; terms are kept as written (matching ignores case)."""

    name: str
    description: str = ""
    phrases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_matches: int = 1
    sources: tuple[str, ...] = SOURCES
    links: dict[str, Any] = field(default_factory=dict)

    @property
    def terms(self) -> tuple[str, ...]:
        """Every term that can match, in the file's order: phrases, keywords, patterns."""
        return (*self.phrases, *self.keywords, *self.patterns)

    def normalised(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "phrases": list(self.phrases),
            "keywords": list(self.keywords),
            "patterns": list(self.patterns),
            "exclude": list(self.exclude),
            "min_matches": self.min_matches,
            "sources": sorted(self.sources),
            "links": self.links,
        }

    def definition(self) -> dict[str, Any]:
        """What voice_themes.definition stores: the terms and rules."""
        d = self.normalised()
        del d["name"], d["description"], d["links"]
        return d


@dataclass(frozen=True)
class Taxonomy:
    path: Path
    themes: tuple[Theme, ...]

    @property
    def version(self) -> str:
        """sha256 of the normalised themes (sorted by name)."""
        data = [t.normalised() for t in sorted(self.themes, key=lambda t: t.name)]
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.themes]

    def __getitem__(self, name: str) -> Theme:
        for t in self.themes:
            if t.name == name:
                return t
        raise KeyError(name)


def default_path() -> Path:
    from ..config import settings

    return settings().taxonomy_path


def read_taxonomy(path: str | Path | None = None) -> Taxonomy | None:
    """The taxonomy in ``path`` (default: ``[voice] taxonomy``, conf/themes.toml); None when the
    file does not exist (themes are then discovered)."""
    file = Path(path).expanduser() if path is not None else default_path()
    if not file.is_file():
        return None
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = file.read_bytes()[: exc.start].count(b"\n") + 1
        raise VoiceError(
            f"line {line}: the file is not UTF-8 text",
            code="voice.taxonomy_syntax",
            file=str(file),
            hint="save the taxonomy as UTF-8",
        ) from exc
    return parse_taxonomy(text, file)


def parse_taxonomy(text: str, path: str | Path = "themes.toml") -> Taxonomy:
    """The taxonomy in ``text`` (``path`` names it in errors)."""
    file = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, column, detail = _position(str(exc))
        at = f"line {line}, column {column}" if line else "at its end"
        lines = text.splitlines()
        raw = lines[line - 1].strip() if line and line <= len(lines) else ""
        raise VoiceError(
            f"{at}: not valid TOML ({detail})" + (f": {raw!r}" if raw else ""),
            code="voice.taxonomy_syntax",
            file=str(file),
            hint="fix that line (strings need quotes, lists need commas, one [themes.name] per "
            "theme); docs/voice.md shows the format",
        ) from exc
    for key in data:
        if key not in TOP_KEYS:
            raise _invalid(
                file, None, key, f"unknown top-level key {key!r}.{did_you_mean(key, TOP_KEYS)}"
            )
    themes_raw = data.get("themes", {})
    if not isinstance(themes_raw, dict):
        raise _invalid(file, None, "themes", "themes must be tables: [themes.<name>]")
    themes = tuple(_theme(file, name, raw) for name, raw in themes_raw.items())
    _check_patterns(file, themes)
    return Taxonomy(path=file, themes=themes)


def _position(message: str) -> tuple[int | None, int | None, str]:
    """(line, column, message without them) of a TOMLDecodeError's text (Python 3.11 keeps
    them only there)."""
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    detail = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
    if found is None:
        return None, None, detail
    return int(found.group(1)), int(found.group(2)), detail


def _invalid(file: Path, theme: str | None, key: str, message: str) -> VoiceError:
    where = f"theme {theme!r}, key {key!r}" if theme is not None else f"key {key!r}"
    return VoiceError(
        f"{where}: {message}",
        code="voice.taxonomy_invalid",
        file=str(file),
        hint="fix that theme in the taxonomy (docs/voice.md lists the keys and their types)",
    )


def _strings(file: Path, theme: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(file, theme, key, f'must be a list of text, e.g. {key} = ["..."]')
    out: list[str] = []
    for v in value:
        v = " ".join(v.split())
        if not v:
            raise _invalid(file, theme, key, "holds an empty term")
        if v.lower() not in (o.lower() for o in out):
            out.append(v)
    return tuple(out)


def _theme(file: Path, name: str, raw: Any) -> Theme:
    """One [themes.NAME] table: its keys, description, terms, min_matches, sources and links."""
    if not isinstance(raw, dict):
        raise _invalid(file, name, name, "a theme must be a table: [themes.<name>]")
    if not name.strip():
        raise _invalid(file, name, name, "a theme needs a name")
    for key in raw:
        if key not in THEME_KEYS:
            raise _invalid(file, name, key, f"unknown key.{did_you_mean(key, THEME_KEYS)}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _invalid(file, name, "description", "must be text")
    terms = _terms(file, name, raw)
    count = sum(len(terms[k]) for k in TERM_KEYS)
    min_matches = _min_matches(file, name, raw, count)
    sources = _theme_sources(file, name, raw)
    links = _links(file, name, raw.get("links", {}))
    return Theme(
        name=name,
        description=description,
        phrases=terms["phrases"],
        keywords=terms["keywords"],
        patterns=terms["patterns"],
        exclude=terms["exclude"],
        min_matches=min_matches,
        sources=tuple(s for s in SOURCES if s in sources),
        links=links,
    )


def _terms(file: Path, name: str, raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """The phrases, keywords, patterns and exclusions; literal terms need a letter or digit, and
    the theme needs at least one term."""
    terms = {k: _strings(file, name, k, raw.get(k, [])) for k in (*TERM_KEYS, "exclude")}
    for key in ("phrases", "keywords", "exclude"):
        for term in terms[key]:
            if not re.search(r"[^\W_]", term):
                raise _invalid(
                    file,
                    name,
                    key,
                    f"{term!r} has no letter or digit: literal terms are matched as words, "
                    "punctuation alone matches nothing (write a pattern for it)",
                )
    if sum(len(terms[k]) for k in TERM_KEYS) == 0:
        raise _invalid(
            file,
            name,
            "phrases/keywords/patterns",
            "the theme has no phrases, keywords or patterns: nothing can match",
        )
    return terms


def _min_matches(file: Path, name: str, raw: dict[str, Any], count: int) -> int:
    """How many of the theme's ``count`` terms an item must match: 1 to ``count``."""
    min_matches = raw.get("min_matches", 1)
    if isinstance(min_matches, bool) or not isinstance(min_matches, int) or min_matches < 1:
        raise _invalid(
            file, name, "min_matches", f"must be a whole number >= 1, got {min_matches!r}"
        )
    if min_matches > count:
        raise _invalid(
            file,
            name,
            "min_matches",
            f"is {min_matches} but the theme has only {count} terms: it can never match",
        )
    return min_matches


def _theme_sources(file: Path, name: str, raw: dict[str, Any]) -> tuple[str, ...]:
    """The sources the theme matches in (tickets, notes; default both), none unknown, not empty."""
    sources = _strings(file, name, "sources", raw.get("sources", list(SOURCES)))
    for s in sources:
        if s not in SOURCES:
            raise _invalid(
                file,
                name,
                "sources",
                f"unknown source {s!r}.{did_you_mean(s, SOURCES)} Use "
                + " and ".join(repr(x) for x in SOURCES),
            )
    if not sources:
        raise _invalid(file, name, "sources", "is empty: the theme would match nothing")
    return sources


def _links(file: Path, name: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _invalid(file, name, "links", "must be a table: [themes.<name>.links]")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in LINK_KEYS:
            raise _invalid(
                file, name, f"links.{key}", f"unknown key.{did_you_mean(key, LINK_KEYS)}"
            )
        if key == "segments":
            if not isinstance(value, dict) or not all(
                isinstance(k, str)
                and (
                    isinstance(v, str)
                    or (isinstance(v, list) and all(isinstance(x, str) for x in v))
                )
                for k, v in value.items()
            ):
                raise _invalid(
                    file,
                    name,
                    "links.segments",
                    'must map properties to values, e.g. segments = { platform = "android" }',
                )
            out[key] = dict(value)
        else:
            out[key] = list(_strings(file, name, f"links.{key}", value))
    return out


def _check_patterns(file: Path, themes: tuple[Theme, ...]) -> None:
    """Compile every pattern with DuckDB's RE2, as assignment will."""
    con = connect(":memory:")
    try:
        for t in themes:
            for pattern in t.patterns:
                try:
                    con.execute("SELECT regexp_matches('', ?)", ["(?i)" + pattern]).fetchall()
                except duckdb.Error as exc:
                    reason = str(exc).split("Error: ", 1)[-1].replace("(?i)", "")
                    raise _invalid(
                        file,
                        t.name,
                        "patterns",
                        f"{pattern!r} is not a regular expression RE2 reads ({reason}); "
                        "write literal text under phrases or keywords instead",
                    ) from exc
    finally:
        con.close()
