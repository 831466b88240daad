"""Driving the playground page as a user would: typing, pressing Enter, reading the numbers shown,
and what the chart drew. Shared by the playground's browser tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

F_COLOR = (0x1F, 0x5F, 0xBF)
"""The colour of f's curve (the first of the page's palette)."""


def only_the_service(page: Any, url: str) -> set[str]:
    """Let ``page`` reach only the origin of ``url`` (and blob:/data:); the set fills with every
    other address it asked for."""
    origin = url.split("/", 3)[:3]
    elsewhere: set[str] = set()

    def route(request_route: Any) -> None:
        target = request_route.request.url
        if target.split("/", 3)[:3] == origin or target.startswith(("blob:", "data:")):
            request_route.continue_()
        else:
            elsewhere.add(target)
            request_route.abort()

    page.route("**/*", route)
    return elsewhere


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-state]")


def runs(page: Any) -> int:
    return int(page.evaluate("document.body.dataset.runs ?? '0'"))


def submit_with_enter(page: Any, selector: str = "#expression") -> None:
    """Press Enter in a field and wait until the result and the plot are done."""
    before = runs(page)
    page.locator(selector).press("Enter")
    page.wait_for_function(f"Number(document.body.dataset.runs ?? 0) > {before}")


def set_field(page: Any, selector: str, text: str) -> None:
    field = page.locator(selector)
    field.fill("")
    field.press_sequentially(text)


def enter(page: Any, expression: str, *, operation: str = "evaluate",
          point: dict[str, str] | None = None, constants: str | None = None,
          **extra: str) -> None:
    """Type the expression (and the rest) as a user would, then press Enter."""
    if constants is not None:
        set_field(page, "#constants", constants)
    set_field(page, "#expression", expression)
    for name, value in (point or {}).items():
        page.locator(f"#at-{name}").fill(value)
    page.select_option("#operation", operation)
    for field_id, value in extra.items():
        selector = f"#{field_id.replace('_', '-')}"
        kind = page.locator(selector).evaluate("e => e.type")
        if kind.startswith("select"):
            page.select_option(selector, value)
        elif kind == "checkbox":
            page.locator(selector).set_checked(value == "1")
        elif kind == "range":
            set_range(page, selector, value)
        else:
            page.locator(selector).fill(value)
    submit_with_enter(page)


def set_range(page: Any, selector: str, value: str) -> None:
    """Move a slider as a user would: the value changes and an input event follows."""
    page.locator(selector).evaluate(
        "(e, v) => { e.value = v; e.dispatchEvent(new Event('input', { bubbles: true })); }", value)


def numbers(page: Any, key: str) -> list[float | None]:
    """The numbers shown for one result entry, in reading order ("undefined" -> None)."""
    texts = page.locator(f'[data-result="{key}"] .num').all_inner_texts()
    assert texts, f"no result {key!r} on the page"
    return [None if t == "undefined" else float(t) for t in texts]


def shot(page: Any, directory: Path, name: str) -> None:
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)


def approx(values: list[float]) -> Any:
    return pytest.approx(values, rel=1e-12, abs=1e-15)


def curve_pixels(page: Any, color: tuple[int, int, int], x_from: float, x_to: float) -> int:
    """Pixels of ``color`` on the chart's canvas between two x values (data units)."""
    return page.evaluate(
        """([color, from, to]) => {
            const u = window.playground.chart;
            const ctx = u.ctx;
            const left = Math.ceil(u.valToPos(from, "x", true));
            const right = Math.floor(u.valToPos(to, "x", true));
            const { top, height } = u.bbox;
            if (right <= left) return 0;
            const data = ctx.getImageData(left, top, right - left, height).data;
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
                if (Math.abs(data[i] - color[0]) < 40 && Math.abs(data[i + 1] - color[1]) < 40
                    && Math.abs(data[i + 2] - color[2]) < 40 && data[i + 3] > 200) n++;
            }
            return n;
        }""",
        [list(color), x_from, x_to],
    )
