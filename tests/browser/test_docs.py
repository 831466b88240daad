"""A real browser renders /docs and /redoc from the service alone and lists every operation.

The browser and server fixtures are the playground tests' (tests/browser/conftest.py): one
Playwright instance per session (a second sync one would clash with the first).
"""

from __future__ import annotations

from typing import Any

from playground_page import only_the_service

OPERATIONS = ["evaluate", "gradient", "jacobian", "hessian", "derivative", "taylor", "jvp",
              "vjp", "hvp"]
COSMETIC = {"https://cdn.redoc.ly/redoc/logo-mini.svg"}
"""ReDoc's footer logo: always requested, hidden when it fails to load."""


def _open_offline(browser: Any, url: str) -> tuple[Any, set[str]]:
    """A page at ``url`` that can reach nothing but the service, and what else it asked for."""
    page = browser.new_page()
    elsewhere = only_the_service(page, url)
    page.goto(url)
    return page, elsewhere


def test_swagger_ui_lists_every_operation(browser: Any, server: str) -> None:
    page, elsewhere = _open_offline(browser, f"{server}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = {text.replace("\u200b", "") for text in
             page.locator(".opblock-summary-path").all_inner_texts()}
    assert {f"/v1/{name}" for name in OPERATIONS} | {"/v1/functions", "/healthz"} <= paths
    assert not elsewhere
    page.close()


def test_redoc_lists_every_operation(browser: Any, server: str) -> None:
    page, elsewhere = _open_offline(browser, f"{server}/redoc")
    selector = '[data-section-id^="tag/operations/operation/"]'
    page.wait_for_selector(selector, timeout=15_000)
    sections = {element.get_attribute("data-section-id")
                for element in page.locator(selector).all()}
    assert {f"tag/operations/operation/{name}" for name in OPERATIONS} <= sections
    assert elsewhere <= COSMETIC
    page.close()
