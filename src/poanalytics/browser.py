"""Debian's Chromium, headless, driven by Playwright: the one place that names the binary and its
flags, for the browser tests, the report benchmark and (the binary only) the e-mail chart images.

Never ``playwright install`` (it downloads a browser): ``make browser`` installs Debian's chromium.
Playwright is a development dependency, imported only when a browser is opened.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# headless, as root in a container, and quiet on a closed network: without the background-networking
# flags Chromium keeps trying to reach Google's hosts
OFFLINE_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str:
    """The Chromium binary: ``POANALYTICS_CHROMIUM`` when set, else Debian's /usr/bin/chromium."""
    return os.environ.get("POANALYTICS_CHROMIUM") or DEFAULT_CHROMIUM


@contextmanager
def chromium(profile: str | Path | None = None, **context: Any) -> Iterator[Any]:
    """A Playwright browser context on headless Chromium with an empty user data dir (``profile``,
    or a temporary one), closed after use. ``context``: Playwright's context options (viewport,
    offline, ...)."""
    from playwright.sync_api import sync_playwright

    binary = chromium_path()
    if not Path(binary).exists():
        raise FileNotFoundError(
            f"chromium is missing at {binary}: run `make browser` (Debian's chromium), or set "
            "POANALYTICS_CHROMIUM to a Chromium binary"
        )
    with tempfile.TemporaryDirectory(prefix="poa-chromium-") as tmp, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile or tmp),
            executable_path=binary,
            args=list(OFFLINE_ARGS),
            headless=True,
            **context,
        )
        try:
            yield ctx
        finally:
            ctx.close()
