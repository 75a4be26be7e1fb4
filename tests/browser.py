"""Real headless Chromium (Debian's, never `playwright install`) driven by Playwright, for the tests
that open the report page. One browser at a time, in a new empty profile, closed after use."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = os.environ.get("POANALYTICS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium(**context: Any) -> Iterator[Any]:
    """A Playwright browser context on Chromium with a fresh, empty user data dir."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="poa-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=ARGS, headless=True, **context
        )
        try:
            yield ctx
        finally:
            ctx.close()
