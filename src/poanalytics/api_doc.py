"""The public API reference (docs/api.md), generated from the code.

Lists every public name of ``poanalytics`` (``poanalytics.__all__``), the ``Backlog`` object that
``Workbench.backlog()`` returns, and the results the Workbench's calls return: for each, its
signature and docstring as the code has them, and for a class its public methods and properties.
Run ``python -m poanalytics.api_doc`` (or ``make docs``) to rewrite the file; a test fails when it
is out of date, so the reference cannot drift from the code.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import typing
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent
DOC = PACKAGE.parents[1] / "docs" / "api.md"
SKIP = {"report", "__version__"}  # a subpackage (docs/report.md) and a string
# objects reached through a call rather than by name: (module, name)
REACHED = [
    ("poanalytics.backlog.session", "Backlog"),
]


class _Written:
    """An annotation as the source writes it (``from __future__ import annotations`` keeps them as
    text; ``inspect`` would quote them)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _plain(annotation: Any) -> Any:
    return _Written(annotation) if isinstance(annotation, str) else annotation


def _signature(obj: Any, name: str) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    params = [p.replace(annotation=_plain(p.annotation)) for p in sig.parameters.values()]
    sig = sig.replace(parameters=params, return_annotation=_plain(sig.return_annotation))
    return f"{name}{sig}"


def _doc(obj: Any) -> str:
    return inspect.getdoc(obj) or "(no docstring)"


def _members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties the class defines, itself or through a poanalytics base
    (``MetricMethods``; not those of object or of an unrelated base), in the order of the
    source, the class's own first."""
    out: dict[str, Any] = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("poanalytics"):
            continue
        for name, value in klass.__dict__.items():
            if name.startswith("_") or name in out:
                continue
            if isinstance(value, property | staticmethod | classmethod) or inspect.isfunction(
                value
            ):
                out[name] = value
    return list(out.items())


def _returned(cls: type) -> list[type]:
    """Classes the public methods of ``cls`` are annotated to return (defined in poanalytics)."""
    found: list[type] = []
    for _, value in _members(cls):
        func = value.fget if isinstance(value, property) else value
        if not callable(func):
            continue
        try:
            hints = typing.get_type_hints(func, vars(sys.modules[func.__module__]))
        except Exception:  # an annotation only a type checker can resolve
            continue
        ret = hints.get("return")
        if (
            isinstance(ret, type)
            and ret.__module__.startswith("poanalytics.")
            and ret is not cls
            and ret not in found
        ):
            found.append(ret)
    return found


def _section(title: str, obj: Any, level: str = "##") -> list[str]:
    lines = [f"{level} `{title}`", ""]
    if inspect.isclass(obj):
        lines += ["```python", _signature(obj, f"class {title}"), "```", "", _doc(obj), ""]
        for name, value in _members(obj):
            if isinstance(value, property):
                first = _doc(value).split("\n\n")[0].replace("\n", " ")
                lines += [f"- **`.{name}`** (property): {first}", ""]
                continue
            func = value.__func__ if isinstance(value, staticmethod | classmethod) else value
            lines += [
                f"### `{title}.{name}`",
                "",
                "```python",
                _signature(func, name),
                "```",
                "",
                _doc(func),
                "",
            ]
        lines.append("")
    else:
        lines += ["```python", _signature(obj, title), "```", "", _doc(obj), ""]
    return lines


def collect() -> list[tuple[str, Any]]:
    """(title, object) for every documented object, in the order of the reference."""
    poa = importlib.import_module("poanalytics")
    named = [(n, getattr(poa, n)) for n in poa.__all__ if n not in SKIP]
    named += [(n, getattr(importlib.import_module(m), n)) for m, n in REACHED]
    seen = {id(obj) for _, obj in named}
    results = []
    for _, obj in named:
        if inspect.isclass(obj):
            for ret in _returned(obj):
                if id(ret) not in seen:
                    seen.add(id(ret))
                    results.append((ret.__name__, ret))
    return named + sorted(results, key=lambda t: t[0])


def render(objects: list[tuple[str, Any]]) -> str:
    lines = [
        "# Public API reference",
        "",
        "Generated from the code by `python -m poanalytics.api_doc` (`make docs`); a test fails when "
        "it is out of date. Every public name of `poanalytics`, the `Backlog` object "
        "`Workbench.backlog()` returns, and the results the Workbench's and the Backlog's calls "
        "return. Guides: docs/metrics.md, docs/voice.md, docs/backlog.md, docs/report.md; error "
        "codes: docs/errors.md.",
        "",
        "Contents: " + ", ".join(f"`{t}`" for t, _ in objects),
        "",
    ]
    for title, obj in objects:
        lines += _section(title, obj)
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    target = Path(argv[0]) if argv else DOC
    objects = collect()
    target.write_text(render(objects), encoding="utf-8")
    print(f"wrote {target} ({len(objects)} entries)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
