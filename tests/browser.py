"""What the browser tests need (Chromium, npm, the web/ folder), shared by every test module that
drives a browser; not a test module itself."""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# CI sets this so a missing browser or npm fails the run instead of skipping these tests.
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"


def missing(chromium: str = CHROMIUM) -> str | None:
    """Why the browser tests cannot run here (no npm, or no Chromium at that path), or None."""
    if shutil.which("npm") is None:
        return "npm is not installed"
    if not pathlib.Path(chromium).exists():
        return f"no Chromium at {chromium} (Debian package chromium)"
    return None


def require_browser(chromium: str = CHROMIUM) -> None:
    """Skip the test when there is no browser, or fail it when CI requires one."""
    problem = missing(chromium)
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(f"browser tests are required (REQUIRE_BROWSER=1): {problem}")
        pytest.skip(problem)
