"""Fixtures for the playground's browser tests: Debian's chromium driven by Playwright, and the
service (``app.main:app``) in a uvicorn subprocess on a free 127.0.0.1 port.

Without ``/usr/bin/chromium`` (or the ``playwright`` package) the tests skip with the reason; with
``CI=true`` they fail instead, so a CI run cannot pass by skipping them.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EXPECTED_CONSOLE = "Failed to load resource: the server responded with a status of 422"
"""Chromium logs every 4xx answer; a 422 problem document is what the error tests ask for."""
SCREENSHOTS = Path(os.environ.get("DIFFAPI_SCREENSHOTS", ROOT / "artifacts" / "screenshots"))
"""Where the tests save their screenshots (PNG; not committed)."""

def _unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "needs the PyPI package playwright (pip install -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session", autouse=True)
def browser_available() -> None:
    """Skip with the reason when the browser cannot run here; under CI=true, fail instead."""
    reason = _unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser test skipped: {reason}")


@pytest.fixture(scope="session")
def server(live_server: str) -> str:
    """The service the pages are loaded from: the shared uvicorn subprocess."""
    return live_server


# Module scope: Playwright's sync API keeps an event loop running while it is open, which would
# break async tests run after it; each module opens and closes its own.
@pytest.fixture(scope="module")
def browser(browser_available: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A fresh page (desktop size) that fails the test on any script error or foreign request."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" and not msg.text.startswith(EXPECTED_CONSOLE) else None)
    page.on("request", lambda request: None if request.url.startswith(server)
            else problems.append(f"request to another origin: {request.url}"))
    page.on("response", lambda response: problems.append(
        f"{response.status} for {response.url}") if response.status >= 400
        and response.status != 422 else None)
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert not problems, problems


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
