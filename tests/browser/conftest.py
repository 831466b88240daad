"""Fixtures for the playground's browser tests: Debian's chromium driven by Playwright, and the
service (``app.main:app``) in a uvicorn subprocess on a free 127.0.0.1 port.

Without ``/usr/bin/chromium`` (or the ``playwright`` package) the tests skip with the reason; with
``CI=true`` they fail instead, so a CI run cannot pass by skipping them.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EXPECTED_CONSOLE = "Failed to load resource: the server responded with a status of 422"
"""Chromium logs every 4xx answer; a 422 problem document is what the error tests ask for."""
SCREENSHOTS = ROOT / "artifacts" / "screenshots"

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
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of the service under uvicorn (a subprocess) on a free 127.0.0.1 port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("playground-server") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIFFAPI_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--host",
                                    "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                   cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(process: subprocess.Popen[Any], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer GET / within 30 s:\n{log.read_text()}")


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
