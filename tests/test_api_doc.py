"""docs/api.md is generated from the code and matches it (issue 12: docs from code)."""

from __future__ import annotations

import inspect
import re

import poanalytics as poa
from poanalytics import api_doc
from poanalytics.backlog.session import Backlog
from tests.conftest import ROOT

REGENERATE = "regenerate it: `make docs` (or .venv/bin/python -m poanalytics.api_doc)"


def test_docs_api_md_is_up_to_date():
    written = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert written == api_doc.render(api_doc.collect()), f"docs/api.md is out of date; {REGENERATE}"


def test_every_public_method_of_the_workbench_and_the_backlog_is_in_it():
    """Checked against dir() of the classes, not the generator's own walk."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for cls in (poa.Workbench, Backlog):
        for name in dir(cls):
            if name.startswith("_") or name not in vars(cls):
                continue
            member = vars(cls)[name]
            if isinstance(member, property):
                assert f"**`.{name}`** (property)" in text, f"{cls.__name__}.{name}"
            else:
                head = f"### `{cls.__name__}.{name}`\n\n```python\n{name}("
                assert head in text, f"{cls.__name__}.{name}"
                line = text[text.index(head) + len(head) - 1 :].split("\n", 1)[0]
                params = list(inspect.signature(getattr(cls, name)).parameters)
                found = [re.search(rf"(?<!\w){p}(?=[:=,)])", line) for p in params]
                at = [m.start() if m else -1 for m in found]
                assert -1 not in at and at == sorted(at), f"{cls.__name__}.{name}: {line}"


def test_every_public_name_of_the_package_is_in_it():
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in poa.__all__:
        if name in api_doc.SKIP:
            continue
        assert f"## `{name}`" in text, name
