"""One error family for poanalytics.

Every error carries a stable ``code`` (tests and notebooks can match on it), says what was
expected and what was found, and what to do about it. Expected errors are shown without a
traceback by the CLI.
"""

from __future__ import annotations

import difflib
import os
import sys
import warnings
from collections.abc import Iterable


class PoaError(Exception):
    """Base class: ``code`` is stable, ``hint`` says what to do."""

    code = "poa"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str | None = None,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code
        self.file = file
        self.row = row
        self.column = column
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column!r}")
        text = f"[{self.code}] " + (", ".join(where) + ": " if where else "") + self.message
        if self.hint:
            text += f"\n  What to do: {self.hint}"
        return text


class PoaWarning(UserWarning):
    """Something the caller should know that did not stop the work (e.g. a funnel step whose event
    the warehouse does not hold yet: its counts are zero). ``code`` is stable, ``hint`` says what to
    do. Metrics also keep their warnings on the result (``result.warnings``)."""

    def __init__(self, message: str, *, code: str = "poa.warning", hint: str | None = None) -> None:
        self.message = message
        self.code = code
        self.hint = hint
        text = f"[{code}] {message}" + (f"\n  What to do: {hint}" if hint else "")
        super().__init__(text)


def warn(warning: PoaWarning) -> None:
    """Issue ``warning`` at the first line outside poanalytics (the notebook cell or script that
    called the Workbench), however many library frames lie between: a fixed ``stacklevel`` breaks
    whenever a layer is added."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame = sys._getframe(1)  # the caller of warn(): stacklevel 2 of warnings.warn below
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(warning, stacklevel=level)


class ConfigError(PoaError):
    """Wrong settings or arguments: an unknown name, a bad time zone, a bad option."""

    code = "config"


class InputError(PoaError):
    """A source file or DataFrame that cannot be loaded as a whole."""

    code = "input"


class WarehouseError(PoaError):
    """The DuckDB file cannot be opened or migrated."""

    code = "warehouse"


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or '' when none is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return f" Did you mean {lowered[name.lower()]!r}?"
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if not close:
        close = [
            lowered[c]
            for c in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
        ]
    if not close:
        return ""
    if len(close) == 1:
        return f" Did you mean {close[0]!r}?"
    return " Did you mean one of " + ", ".join(repr(c) for c in close) + "?"


def unknown_name(
    kind: str,
    name: str,
    choices: Iterable[str],
    *,
    code: str,
    hint: str | None = None,
    file: str | None = None,
) -> ConfigError:
    """Build the error for an unknown column, format, event, ... with a 'did you mean'."""
    choices = sorted(set(choices))
    shown = ", ".join(repr(c) for c in choices[:12]) + (" ..." if len(choices) > 12 else "")
    message = f"unknown {kind} {name!r}.{did_you_mean(name, choices)} Known: {shown or '(none)'}."
    return ConfigError(message, hint=hint, code=code, file=file)
