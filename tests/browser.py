"""Debian's Chromium for the browser tests (the orders web wizard, the offline /docs page).

Playwright drives it through ``executable_path``: its own browser download needs the internet
and is never used. A missing Chromium fails the test (``.ci/run`` installs it), never skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("LIFECYCLES_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium's calls home are refused by this closed
# network, many at a time.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    """The browser's path, or the test fails saying how to get it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser tests need Debian's `chromium` "
            "package (`apt-get install chromium`; .ci/run installs it when it is missing). "
            "Playwright's own browser download is not used."
        )
    return str(CHROMIUM)
