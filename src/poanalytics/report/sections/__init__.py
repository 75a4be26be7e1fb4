"""The weekly report's sections: a registry that each section module adds itself to.

A section is a name, a title (shown as the section's ``## Title`` heading), an order and a
``build(ctx)`` function that displays its output through the report context (``ctx.markdown``,
``ctx.table``, ``ctx.figure``: redacted on the way out) and may record headline numbers
(``ctx.add_headline``) and key charts (``ctx.figure(fig, key=...)``).

A new section is one module in this package that calls ``register(...)`` and nothing else::

    from poanalytics.report.sections import Section, register

    def build(ctx):
        ctx.markdown("What customers said about the price this week ...")

    register(Section(name="pricing", title="What customers say about the price", order=50, build=build))

Every module here is imported when the registry is first read, so the weekly notebook's
``report.show_rest()`` shows it without any other change. A section registered from anywhere else
(a test, a notebook) appears the same way once its ``register`` has run.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError, did_you_mean

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_REGISTRY: dict[str, Section] = {}
_discovered = False


@dataclass(frozen=True)
class Section:
    """``name``: a short id ("headline"); ``title``: its heading; ``order``: where it goes among
    the others (smaller first); ``build(ctx)``: displays it. ``prepare(ctx)``, optional, runs
    first, outside the section's read-only attach of the warehouse: for work that writes (the
    voice section refreshes the voice tables there)."""

    name: str
    title: str
    order: int
    build: Callable[[Any], None]
    prepare: Callable[[Any], None] | None = None


def register(section: Section) -> Section:
    """Add ``section`` to the report (again from the same module: replaced, e.g. on reload).

    Error codes: ``report.section_name`` (a name that is not lower_snake_case, or an empty
    title), ``report.section_duplicate`` (another module registered that name already: pick
    another name)."""
    if not isinstance(section, Section):
        raise ConfigError(
            f"register() takes a Section, got {type(section).__name__}",
            code="report.section_name",
            hint="register(Section(name='pricing', title='Pricing', order=50, build=f))",
        )
    if not _NAME.fullmatch(section.name) or not str(section.title).strip():
        raise ConfigError(
            f"section name {section.name!r} / title {section.title!r} cannot be used",
            code="report.section_name",
            hint="name: lower_snake_case letters and digits ('voice'); title: the heading text",
        )
    old = _REGISTRY.get(section.name)
    if old is not None and _origin(old) != _origin(section):
        raise ConfigError(
            f"a section named {section.name!r} is registered already (by {_origin(old)})",
            code="report.section_duplicate",
            hint="give the new section another name",
        )
    _REGISTRY[section.name] = section
    return section


def unregister(name: str) -> None:
    """Remove a section (tests use it to clean up after themselves)."""
    _REGISTRY.pop(name, None)


def _origin(section: Section) -> str:
    return getattr(section.build, "__module__", "?") or "?"


def discover() -> None:
    """Import every module of this package once (each registers its section)."""
    global _discovered
    if _discovered:
        return
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _discovered = True


def sections() -> list[Section]:
    """Every registered section, in order (then by name)."""
    discover()
    return sorted(_REGISTRY.values(), key=lambda s: (s.order, s.name))


def get(name: str) -> Section:
    """The section called ``name``; ``report.section_unknown`` names the registered ones."""
    discover()
    if name not in _REGISTRY:
        known = [s.name for s in sections()]
        raise ConfigError(
            f"no report section {name!r}.{did_you_mean(name, known)} "
            f"Registered: {', '.join(known)}.",
            code="report.section_unknown",
            hint="use one of the registered names, or register the section first",
        )
    return _REGISTRY[name]
