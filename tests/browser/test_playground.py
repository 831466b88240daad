"""The playground page in a real browser: the seed cases of API.md §3 typed in and answered on the
page, parse errors with a caret at the API's column, a plot that really draws (gaps included),
a link that restores the page, and a narrow screen without horizontal scrolling.

Screenshots go to artifacts/screenshots/ (not committed).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
from playground_page import (
    F_COLOR,
    approx,
    curve_pixels,
    enter,
    numbers,
    open_page,
    runs,
    set_field,
    shot,
    submit_with_enter,
)

# ------------------------------------------------------------------ the seed cases


def test_seed_gradient_of_a_polynomial(page: Any, server: str, screenshots: Path) -> None:
    open_page(page, server)
    enter(page, "x**2 + 3*x + 1", operation="gradient", point={"x": "2"})
    assert page.input_value("#variables") == "x"
    assert numbers(page, "value") == [11]
    assert numbers(page, "gradient.x") == [7]
    shot(page, screenshots, "seed1-gradient")


def test_seed_gradient_with_a_constant_matrix(page: Any, server: str, screenshots: Path) -> None:
    open_page(page, server)
    enter(page, "(A @ x).sum()", operation="gradient", constants="A = [[2, 1, 0], [0, 3, 1]]",
          point={"x": "[1, 1, 1]"})
    assert page.input_value("#variables") == "x"  # A is a constant, not a variable
    assert numbers(page, "gradient.x") == approx([2, 4, 1])
    assert numbers(page, "value") == [7]
    shot(page, screenshots, "seed2-gradient-constants")


def test_seed_jacobian(page: Any, server: str, screenshots: Path) -> None:
    open_page(page, server)
    set_field(page, "#expression", "[v[0]**2, v[0]*v[1], sin(v[1])]")
    assert page.input_value("#at-v") == "[1,1]"  # v is used as a vector of length 2
    enter(page, "[v[0]**2, v[0]*v[1], sin(v[1])]", operation="jacobian", point={"v": "[1, 2]"})
    assert numbers(page, "jacobian") == approx([2, 0, 2, 1, 0, -0.4161468365471424])
    headers = page.locator('[data-result="jacobian"] th').all_inner_texts()
    assert {"v[0]", "v[1]", "f[0]", "f[1]", "f[2]"} <= set(headers)
    assert "No plot" in page.inner_text("#plot-status") or "Nothing to plot" in page.inner_text(
        "#plot-status")
    shot(page, screenshots, "seed3-jacobian")


def test_seed_fifth_derivative(page: Any, server: str, screenshots: Path) -> None:
    open_page(page, server)
    set_field(page, "#expression", "sin(t**3)")
    page.locator("#at-t").fill("1")
    page.select_option("#operation", "derivative")
    page.locator("#derivative-order").fill("5")
    page.locator("#plot-from").fill("-1.5")
    page.locator("#plot-to").fill("1.5")
    submit_with_enter(page, "#derivative-order")
    assert page.input_value("#derivative-variable") == "t"
    assert numbers(page, "derivative") == approx([24.4939205087257601])
    assert "d⁵f/dt⁵" in page.inner_text("#result")
    # over the symbolic limit (4 by default): the numbers, and a note instead of formulas
    assert "max_symbolic_order = 4" in page.inner_text("#result .formulas-note")
    shot(page, screenshots, "seed4-derivative-order5")


HESSIAN = [[20.362810292697273, 9.765258309801494], [9.765258309801494, 1.0907025731743183]]


def test_seed_hessian(page: Any, server: str, screenshots: Path) -> None:
    open_page(page, server)
    enter(page, "x**3 * y**2 + sin(x*y)", operation="hessian", point={"x": "1", "y": "2"})
    assert page.input_value("#variables") == "x, y"
    assert numbers(page, "hessian") == approx([v for row in HESSIAN for v in row])
    shot(page, screenshots, "seed5-hessian")


def test_seed_mixed_partial_and_the_link(page: Any, server: str, screenshots: Path,
                                         browser: Any) -> None:
    open_page(page, server)
    enter(page, "x**3 * y**2 + sin(x*y)", operation="mixed", point={"x": "1", "y": "2"},
          wrt="x, y, x", plot_variable="y", plot_k="1")
    assert numbers(page, "derivative") == approx([22.027397638885843])
    assert "∂³f/∂x∂y∂x" in page.inner_text("#result")
    shot(page, screenshots, "seed6-mixed-partial")

    # The request, as shown, is the one the page sent, and it answers the same.
    shown = page.inner_text("#httpx-snippet")
    assert '"wrt": ["x", "y", "x"]' in shown and "/v1/derivative" in shown
    curl = page.inner_text("#curl-snippet")
    body = json.loads(curl.split("-d '", 1)[1].rsplit("'", 1)[0])
    assert body == {"expression": "x**3 * y**2 + sin(x*y)", "point": {"x": 1, "y": 2},
                    "wrt": ["x", "y", "x"], "symbolic": True}
    answer = httpx.post(f"{server}/v1/derivative", json=body).json()
    assert answer["derivative"] == pytest.approx(22.027397638885843, rel=1e-12)

    # A second tab opened at the page's URL shows the same state and the same answer.
    link = page.url
    assert "wrt=" in link and "f=" in link
    other = browser.new_page()
    try:
        other.goto(link)
        other.wait_for_function("Number(document.body.dataset.runs ?? 0) >= 1")
        assert other.input_value("#expression") == "x**3 * y**2 + sin(x*y)"
        assert other.input_value("#operation") == "mixed"
        assert other.input_value("#wrt") == "x, y, x"
        assert other.input_value("#at-x") == "1" and other.input_value("#at-y") == "2"
        assert other.input_value("#plot-variable") == "y"
        assert other.input_value("#plot-k") == "1"
        assert numbers(other, "derivative") == approx([22.027397638885843])
        assert other.evaluate("window.playground.plot.variable") == "y"
        assert other.evaluate("window.playground.plot.series.length") == 2
    finally:
        other.close()


def test_taylor_coefficients(page: Any, server: str, screenshots: Path) -> None:
    open_page(page, server)
    enter(page, "x**3 * y**2 + sin(x*y)", operation="taylor", point={"x": "1", "y": "2"},
          taylor_order="2")
    terms = page.locator('[data-result="taylor"] tbody th').all_inner_texts()
    assert terms == ["1", "(x − 1)", "(y − 2)", "(x − 1)²", "(x − 1) (y − 2)", "(y − 2)²"]
    coefficients = [float(t) for t in
                    page.locator('[data-result="taylor"] tbody .num').all_inner_texts()]
    assert coefficients[4] == pytest.approx(HESSIAN[0][1], rel=1e-12)  # ∂²f/∂x∂y / 1!1!
    assert coefficients[3] == pytest.approx(HESSIAN[0][0] / 2, rel=1e-12)  # ∂²f/∂x² / 2!
    shot(page, screenshots, "taylor")


# ------------------------------------------------------------------ definitions

DEFINED = ["r = sqrt(x**2 + y**2)", "g(u) = exp(-u)/u", "g(r) + r**2"]


def type_lines(page: Any, lines: list[str]) -> None:
    """Type ``lines`` into the function's box, Shift+Enter between them (Enter computes)."""
    field = page.locator("#expression")
    field.fill("")
    for i, line in enumerate(lines):
        if i:
            field.press("Shift+Enter")
        field.press_sequentially(line)


def defined_f(x: float, y: float) -> float:
    r = math.hypot(x, y)
    return math.exp(-r) / r + r * r


def test_definitions_on_several_lines_are_computed_and_plotted(page: Any, server: str,
                                                              screenshots: Path) -> None:
    open_page(page, server)
    type_lines(page, DEFINED)
    assert page.input_value("#expression") == "\n".join(DEFINED)  # Shift+Enter: a new line
    assert page.input_value("#variables") == "x, y"  # r, g and u are not variables
    page.locator("#at-x").fill("1")
    page.locator("#at-y").fill("2")
    page.select_option("#operation", "gradient")
    for field, value in (("#plot-from", "0.5"), ("#plot-to", "2"), ("#map-from", "0.5"),
                         ("#map-to", "2")):
        page.locator(field).fill(value)
    submit_with_enter(page)
    r = math.sqrt(5)
    dfdr = -math.exp(-r) / r - math.exp(-r) / r**2 + 2 * r
    assert numbers(page, "value") == approx([defined_f(1, 2)])
    assert numbers(page, "gradient.x") == approx([dfdr / r])
    assert numbers(page, "gradient.y") == approx([2 * dfdr / r])
    xs, f = page.evaluate("window.playground.chart.data")[:2]
    assert f == pytest.approx([defined_f(x, 2) for x in xs], rel=1e-13)
    m = page.evaluate("(() => { const m = window.playground.map;"
                      " return { xs: m.xs, ys: m.ys, z: m.z }; })()")
    for j, y in enumerate(m["ys"]):
        assert m["z"][j] == pytest.approx([defined_f(x, y) for x in m["xs"]], rel=1e-13)
    shot(page, screenshots, "definitions")


def test_an_error_on_a_later_line_is_shown_on_its_line(page: Any, server: str) -> None:
    lines = ["r = sqrt(x**2 + y**2)", "g(u) = g(u)/u", "g(r) + r**2"]
    problem = httpx.post(f"{server}/v1/evaluate", json={"expression": "\n".join(lines),
                                                        "point": {"x": 1, "y": 2}}).json()
    assert (problem["errors"][0]["line"], problem["errors"][0]["column"]) == (2, 8)
    open_page(page, server)
    type_lines(page, lines)
    submit_with_enter(page)
    caret = page.inner_text("#expression-error .caret-view").split("\n")
    assert caret == [lines[1], " " * 7 + "^"]
    assert "used in its own definition" in page.inner_text("#expression-error .error-msg")
    # the text cursor is put on the faulty character, counted through the lines before it
    start = page.evaluate("document.getElementById('expression').selectionStart")
    assert start == len(lines[0]) + 1 + 7


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("expression", ["sin(x +* 2)", "2x + 1", "x**2 + foo(x)"])
def test_error_shows_a_caret_at_the_api_column(page: Any, server: str, screenshots: Path,
                                               expression: str) -> None:
    problem = httpx.post(f"{server}/v1/evaluate",
                         json={"expression": expression, "point": {"x": 1}}).json()
    column = problem["errors"][0]["column"]
    open_page(page, server)
    enter(page, expression)
    box = page.locator("#expression-error")
    assert box.is_visible()
    lines = page.inner_text("#expression-error .caret-view").split("\n")
    assert lines[0] == expression
    assert lines[1] == " " * (column - 1) + "^"
    message = problem["errors"][0]["msg"].split("\n")[0].rstrip(":")
    assert message in page.inner_text("#expression-error .error-msg")
    assert page.get_attribute("#expression", "aria-invalid") == "true"
    # the text cursor is put on the faulty character
    assert page.evaluate("document.activeElement.id") == "expression"
    assert page.evaluate("document.getElementById('expression').selectionStart") == column - 1
    if expression == "2x + 1":
        assert "2*x" in page.inner_text("#expression-error")
        shot(page, screenshots, "parse-error")


def test_undefined_values_and_warnings(page: Any, server: str) -> None:
    open_page(page, server)
    enter(page, "log(x)", operation="gradient", point={"x": "-1"})
    assert numbers(page, "value") == [None]
    assert numbers(page, "gradient.x") == [-1]
    assert "undefined" in page.inner_text('[data-result="value"]')
    assert "non-finite" in page.inner_text("#result .warnings")


# ------------------------------------------------------------------ the plot


def test_plot_draws_f_and_its_derivatives(page: Any, server: str, screenshots: Path) -> None:
    open_page(page, server)
    enter(page, "sin(x)", point={"x": "0.5"}, plot_k="2", plot_from="-3", plot_to="3")
    xs, f, df, d2f = page.evaluate("window.playground.chart.data")
    assert len(xs) == 401 and xs[0] == -3 and xs[-1] == 3
    assert f == pytest.approx([math.sin(x) for x in xs], rel=1e-12, abs=1e-15)
    assert df == pytest.approx([math.cos(x) for x in xs], rel=1e-12, abs=1e-15)
    assert d2f == pytest.approx([-math.sin(x) for x in xs], rel=1e-12, abs=1e-15)
    assert curve_pixels(page, F_COLOR, -3, 3) > 300  # the curve is on the canvas
    shot(page, screenshots, "plot-sin")


def test_plot_leaves_gaps_where_f_is_undefined(page: Any, server: str, screenshots: Path) -> None:
    open_page(page, server)
    enter(page, "log(x)", point={"x": "1"}, plot_k="1", plot_from="-2", plot_to="2")
    xs, f, _ = page.evaluate("window.playground.chart.data")
    assert all(y is None for x, y in zip(xs, f, strict=True) if x <= 0)
    assert all(y == pytest.approx(math.log(x), rel=1e-12) for x, y in zip(xs, f, strict=True)
               if x > 0)
    # f is drawn right of 0 and nothing of its colour left of 0: a gap, not a line to zero
    assert curve_pixels(page, F_COLOR, 0.05, 2) > 100
    assert curve_pixels(page, F_COLOR, -2, -0.05) == 0
    assert "gaps" in page.inner_text("#plot-status")
    shot(page, screenshots, "plot-log-gap")


# ------------------------------------------------------------------ keyboard and small screens


def test_keyboard_only(page: Any, server: str) -> None:
    open_page(page, server)
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "expression"
    page.keyboard.type("x*y")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "constants"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "variables"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "at-x"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "at-y"
    page.keyboard.type("3")  # Tab selects the field's text: y = 3
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "operation"
    page.keyboard.press("ArrowDown")  # value -> gradient
    before = runs(page)
    page.keyboard.press("Enter")
    page.wait_for_function(f"Number(document.body.dataset.runs ?? 0) > {before}")
    assert page.input_value("#operation") == "gradient"
    assert numbers(page, "gradient.x") == [3]
    assert numbers(page, "gradient.y") == [1]


def test_narrow_screen(browser: Any, server: str, screenshots: Path) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 800}, device_scale_factor=2)
    page = context.new_page()
    try:
        open_page(page, server)
        enter(page, "x**3 * y**2 + sin(x*y)", operation="hessian", point={"x": "1", "y": "2"})
        assert numbers(page, "hessian") == approx([v for row in HESSIAN for v in row])
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways on a phone: {width}px"
        chart_width = page.evaluate("window.playground.chart.width")
        assert 200 < chart_width <= 375
        shot(page, screenshots, "narrow-hessian")
    finally:
        context.close()
