"""The playground's mathematics in a real browser: typeset formulas (KaTeX) with their copy
buttons, the Taylor polynomial over f, the map of two variables with the gradient arrow, vectors
plotted along an entry or a direction, the language's names from /v1/functions, the layout, and
every asset served by the service itself.

Reference values are closed forms computed here, never the service's own answers.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import httpx
import mpmath
import pytest
import sympy
from playground_page import (
    enter,
    numbers,
    only_the_service,
    open_page,
    set_field,
    set_range,
    shot,
)

HESSIAN = [[20.362810292697273, 9.765258309801494], [9.765258309801494, 1.0907025731743183]]
"""The seed Hessian of x**3 * y**2 + sin(x*y) at (1, 2)."""

ZERO_WIDTH = re.compile(r"[\u200b\u2061\s]")


def symbolic(server: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{server}/v1/{endpoint}", json=body | {"symbolic": True})
    assert answer.status_code == 200, answer.text
    return answer.json()


def clipboard_after_click(page: Any, selector: str) -> str:
    page.locator(selector).click()
    return page.evaluate("navigator.clipboard.readText()")


def evaluate(server: str, expression: str, point: dict[str, Any]) -> Any:
    answer = httpx.post(f"{server}/v1/evaluate", json={"expression": expression, "point": point})
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]


# ------------------------------------------------------------------ formulas


def test_derivative_formula_is_typeset(page: Any, server: str, screenshots: Path) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_page(page, server)
    enter(page, "sin(x**3)", operation="derivative", point={"x": "1"}, derivative_order="1")
    api = symbolic(server, "derivative", {"expression": "sin(x**3)", "point": {"x": 1},
                                          "variable": "x", "order": 1})
    formula = page.locator('[data-formula="derivative"]')
    assert formula.get_attribute("data-latex") == api["latex"]
    # KaTeX's rendering: its MathML keeps the source, its HTML reads 3x²cos(x³)
    assert formula.locator(".katex-mathml annotation").text_content() == api["latex"]
    html = formula.locator(".katex-html")
    assert ZERO_WIDTH.sub("", html.text_content()) == "3x2cos(x3)"
    exponents = [ZERO_WIDTH.sub("", t) for t in html.locator(".msupsub").all_text_contents()]
    assert exponents == ["2", "3"]
    assert html.locator(".mop").first.text_content() == "cos"
    # the copy buttons: the LaTeX as the API wrote it, and our formula, which parses back to
    # the closed form d/dx sin(x³) = 3x²cos(x³)
    copied = clipboard_after_click(page, '[data-formula="derivative"] button >> nth=0')
    assert copied == api["latex"]
    ours = clipboard_after_click(page, '[data-formula="derivative"] button >> nth=1')
    assert ours == api["formulas"]
    for x in (0.3, 1.0, -1.7):
        assert evaluate(server, ours, {"x": x}) == pytest.approx(
            3 * x**2 * math.cos(x**3), rel=1e-14)
    assert numbers(page, "derivative") == pytest.approx([3 * math.cos(1)], rel=1e-14)
    shot(page, screenshots, "formula-derivative")


def test_hessian_formulas_are_a_matrix(page: Any, server: str, screenshots: Path) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_page(page, server)
    enter(page, "x**3 * y**2 + sin(x*y)", operation="hessian", point={"x": "1", "y": "2"})
    api = symbolic(server, "hessian", {"expression": "x**3 * y**2 + sin(x*y)",
                                       "point": {"x": 1, "y": 2}})
    formula = page.locator('[data-formula="hessian"]')
    rows = formula.locator(".katex-mathml mtable > mtr")
    assert rows.count() == 2
    assert [rows.nth(i).locator("> mtd").count() for i in range(2)] == [2, 2]
    latex = formula.get_attribute("data-latex")
    assert latex == ("\\begin{pmatrix} " + " \\\\ ".join(" & ".join(row) for row in api["latex"])
                     + " \\end{pmatrix}")
    assert formula.locator(".katex-mathml annotation").text_content() == latex
    # the formula in our language is a matrix literal whose value is the seed Hessian
    ours = clipboard_after_click(page, '[data-formula="hessian"] button >> nth=1')
    value = evaluate(server, ours, {"x": 1, "y": 2})
    assert [v for row in value for v in row] == pytest.approx(
        [v for row in HESSIAN for v in row], rel=1e-12)
    shot(page, screenshots, "formula-hessian")


def test_gradient_and_jacobian_formulas(page: Any, server: str) -> None:
    open_page(page, server)
    enter(page, "(A @ x).sum()", operation="gradient", constants="A = [[2, 1, 0], [0, 3, 1]]",
          point={"x": "[1, 1, 1]"})
    gradient = page.locator('[data-formula="gradient.x"]')
    assert gradient.locator(".katex-mathml mtable > mtr").count() == 3  # a column of three
    assert gradient.get_attribute("data-source") == (
        "[A[0,0] + A[1,0], A[0,1] + A[1,1], A[0,2] + A[1,2]]")
    enter(page, "[v[0]**2, v[0]*v[1], sin(v[1])]", operation="jacobian", point={"v": "[1, 2]"})
    jacobian = page.locator('[data-formula="jacobian"]')
    assert jacobian.locator(".katex-mathml mtable > mtr").count() == 3
    source = jacobian.get_attribute("data-source")
    v = [0.4, -1.3]
    value = evaluate(server, source, {"v": v})
    assert [x for row in value for x in row] == pytest.approx(
        [2 * v[0], 0, v[1], v[0], 0, math.cos(v[1])], rel=1e-14, abs=0)


def test_matrix_formula_with_named_pieces_is_one_formula(page: Any, server: str) -> None:
    """Hessian entries that name shared pieces (u1 = …; …) copy as one formula: the
    definitions hoisted and renamed per entry, then the matrix literal."""
    open_page(page, server)
    enter(page, "sigmoid(tanh(x*y))", operation="hessian", point={"x": "0.4", "y": "-0.7"})
    source = page.locator('[data-formula="hessian"]').get_attribute("data-source")
    assert source is not None and source.startswith("e1_") and "; [[" in source, source
    x, y = sympy.symbols("x y", real=True)
    f = 1 / (1 + sympy.exp(-sympy.tanh(x * y)))
    at = {"x": 0.3, "y": -1.1}
    ref = [float(sympy.diff(f, a, b).subs({x: at["x"], y: at["y"]}).evalf(30))
           for a in (x, y) for b in (x, y)]
    value = evaluate(server, source, at)
    assert [v for row in value for v in row] == pytest.approx(ref, rel=1e-12)


# ------------------------------------------------------------------ the Taylor polynomial


def taylor_series(page: Any) -> tuple[list[float], list[float | None], list[float | None]]:
    data = page.evaluate("window.playground.chart.data")
    return data[0], data[1], data[-1]


def test_taylor_polynomial_of_sin(page: Any, server: str, screenshots: Path) -> None:
    taylor_requests: list[str] = []
    page.on("request", lambda r: taylor_requests.append(r.url) if r.url.endswith("/v1/taylor")
            else None)
    open_page(page, server)
    enter(page, "sin(x)", point={"x": "0"}, plot_k="0", plot_from="-6", plot_to="6",
          taylor_show="1")
    for order in (3, 20, 7):  # the slider redraws from the coefficients already fetched
        set_range(page, "#taylor-k", str(order))
    assert len(taylor_requests) == 1
    assert page.evaluate("window.playground.plot.taylorOrder") == 7
    assert page.inner_text("#taylor-k-value") == "7"
    xs, f, polynomial = taylor_series(page)
    expected = [sum((-1) ** j * x ** (2 * j + 1) / math.factorial(2 * j + 1) for j in range(4))
                for x in xs]
    assert polynomial == pytest.approx(expected, rel=1e-12, abs=1e-13)
    assert f == pytest.approx([math.sin(x) for x in xs], rel=1e-12, abs=1e-15)
    labels = page.evaluate("window.playground.chart.series.map(s => s.label)")
    assert labels[-1] == "T₇ (Taylor)"
    shot(page, screenshots, "taylor-sin-order7")


def test_taylor_polynomial_diverges_outside_the_radius(page: Any, server: str,
                                                      screenshots: Path) -> None:
    open_page(page, server)
    enter(page, "1/(1+x**2)", point={"x": "0"}, plot_k="0", plot_from="-2", plot_to="2",
          taylor_show="1", taylor_k="20")
    xs, f, polynomial = taylor_series(page)
    expected = [sum((-x * x) ** j for j in range(11)) for x in xs]  # Σ (−x²)^j, j ≤ 10
    assert polynomial == pytest.approx(expected, rel=1e-12, abs=1e-14)
    assert f == pytest.approx([1 / (1 + x * x) for x in xs], rel=1e-14)
    for x, fx, p in zip(xs, f, polynomial, strict=True):
        if abs(x) <= 0.5:
            assert abs(p - fx) < 1e-6  # close to f well inside |x| < 1
        if abs(x) >= 1.2:
            assert abs(p - fx) > 5  # and far off outside it
    # the scale follows f, so the diverging polynomial leaves the frame
    top = page.evaluate("window.playground.chart.scales.y.max")
    assert top < 2 and max(polynomial) > 100 * top
    shot(page, screenshots, "taylor-runge-order20")


# ------------------------------------------------------------------ the map


def test_map_of_two_variables(page: Any, server: str, screenshots: Path) -> None:
    open_page(page, server)
    enter(page, "x**2 + 3*y**2", operation="gradient", point={"x": "1", "y": "1"},
          plot_from="-2", plot_to="2", map_from="-2", map_to="2")
    assert page.input_value("#map-variable") == "y"
    state = page.evaluate("""(() => { const m = window.playground.map;
        return { xs: m.xs, ys: m.ys, z: m.z, arrow: m.arrow, gradient: m.gradient,
                 value: m.value, level: m.levelSegments }; })()""")
    xs, ys, z = state["xs"], state["ys"], state["z"]
    assert len(xs) == len(ys) == 81 and xs[0] == -2 and ys[-1] == 2
    for j, y in enumerate(ys):
        assert z[j] == pytest.approx([x * x + 3 * y * y for x in xs], rel=1e-14, abs=1e-15)
    assert state["value"] == 4 and state["gradient"] == [2, 6]
    (ax, ay), (bx, by) = state["arrow"]["from"], state["arrow"]["to"]
    assert (ax, ay) == (1, 1)
    assert (bx - ax) * 6 - (by - ay) * 2 == pytest.approx(0, abs=1e-12)  # along (2, 6)
    assert (bx - ax) > 0 and (by - ay) > 0  # and pointing that way, not back
    assert state["level"] > 50  # the ellipse x² + 3y² = 4 through the point is drawn
    # on the screen, the arrow's pixels go right and up by 1 : 3 (equal scales)
    (px, py), (qx, qy) = page.evaluate("""(() => { const m = window.playground.map;
        return [m.toPixel(...m.arrow.from), m.toPixel(...m.arrow.to)]; })()""")
    assert (qy - py) / (qx - px) == pytest.approx(-3, rel=1e-9)
    # hovering over a grid node reads off f there
    i, j = 60, 20
    nx, ny = page.evaluate(f"window.playground.map.toPixel({xs[i]}, {ys[j]})")
    page.locator("#map canvas.map-overlay").hover(position={"x": nx, "y": ny})
    readout = page.inner_text("#map-readout")
    match = re.fullmatch(r"x = (\S+), y = (\S+): f = (\S+)", readout)
    assert match, readout
    x, y, fxy = (float(g) for g in match.groups())
    assert (x, y) == (pytest.approx(xs[i], abs=1e-5), pytest.approx(ys[j], abs=1e-5))
    assert fxy == pytest.approx(xs[i] ** 2 + 3 * ys[j] ** 2, rel=1e-14)
    shot(page, screenshots, "map-ellipse")


def test_level_curve_is_optional(page: Any, server: str) -> None:
    open_page(page, server)
    enter(page, "x*y", point={"x": "1", "y": "2"}, map_level="0")
    assert page.evaluate("window.playground.map.levelSegments") == 0
    page.locator("#map-level").set_checked(True)  # redrawn without a new request
    assert page.evaluate("window.playground.map.levelSegments") > 50


# ------------------------------------------------------------------ vectors


def test_vector_plotted_along_an_entry_and_a_direction(page: Any, server: str,
                                                      screenshots: Path) -> None:
    open_page(page, server)
    set_field(page, "#expression", "sum(v**2) + v[0]*v[1]")
    choices = page.locator("#plot-variable option").all_inner_texts()
    assert choices == ["v[0]", "v[1]", "v along a direction d"]
    enter(page, "sum(v**2) + v[0]*v[1]", point={"v": "[1, 2]"}, plot_variable="v[1]",
          plot_k="1")
    xs, f, df = page.evaluate("window.playground.chart.data")
    assert f == pytest.approx([1 + s * s + s for s in xs], rel=1e-14, abs=1e-15)
    assert df == pytest.approx([2 * s + 1 for s in xs], rel=1e-14, abs=1e-15)
    # along d = (1, −1) from v₀ = (1, 2): v = (1 + t, 2 − t)
    page.select_option("#plot-variable", "v·d")
    assert page.locator("#plot-direction").is_visible()
    enter(page, "sum(v**2) + v[0]*v[1]", plot_variable="v·d", plot_direction="[1, -1]",
          plot_k="2", taylor_show="1", taylor_k="1")
    xs, f, df, d2f, tangent = page.evaluate("window.playground.chart.data")

    def along(t: float) -> float:
        a, b = 1 + t, 2 - t
        return a * a + b * b + a * b

    assert f == pytest.approx([along(t) for t in xs], rel=1e-14, abs=1e-14)
    assert df == pytest.approx([2 * (1 + t) - 2 * (2 - t) + (2 - t) - (1 + t) for t in xs],
                               rel=1e-14, abs=1e-14)
    assert d2f == pytest.approx([2] * len(xs), rel=1e-14)
    assert tangent == pytest.approx([7 + (-1) * t for t in xs], rel=1e-14)  # f(0) + f′(0)·t
    assert page.evaluate("window.playground.plot.variable") == "t  (v = v₀ + t·d)"
    shot(page, screenshots, "vector-direction")


# ------------------------------------------------------------------ names and layout


def test_module_prefixes_come_from_the_service(page: Any, server: str) -> None:
    open_page(page, server)
    set_field(page, "#expression", "jnp.sin(x) + np.cos(y)")
    assert page.input_value("#variables") == "x, y"
    set_field(page, "#expression", "torch.exp(a) * math.pi + numpy.linalg.det(M) + e")
    assert page.input_value("#variables") == "a, M"
    listed = httpx.get(f"{server}/v1/functions").json()
    assert sorted(page.evaluate("[...window.playground.language.modules]")) == sorted(
        listed["modules"])
    assert sorted(page.evaluate("[...window.playground.language.constants]")) == sorted(
        listed["constants"])
    # the page's scripts keep no list of their own
    for script in ("playground.js", "names.js"):
        source = httpx.get(f"{server}/static/playground/{script}").text
        assert '"numpy"' not in source and '"torch"' not in source and "asinh" not in source


def test_form_stays_at_the_top_of_its_column(page: Any, server: str,
                                             screenshots: Path) -> None:
    open_page(page, server)
    enter(page, "x**3 * y**2 + sin(x*y)", operation="hessian", point={"x": "1", "y": "2"})
    for width in (1600, 960, 1280):  # two columns from 960 px
        page.set_viewport_size({"width": width, "height": 900})
        for scroll in (0, 600, 10_000):
            page.evaluate(f"window.scrollTo(0, {scroll})")
            form, output = page.evaluate("""[document.getElementById('form'),
                document.getElementById('output')].map(e => e.getBoundingClientRect().top)""")
            assert form == pytest.approx(output, abs=1), (width, scroll)
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, screenshots, "desktop-1280")


def test_narrow_screen_with_formulas_and_map(browser: Any, server: str,
                                             screenshots: Path) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 800}, device_scale_factor=2)
    page = context.new_page()
    try:
        open_page(page, server)
        enter(page, "x**3 * y**2 + sin(x*y)", operation="hessian", point={"x": "1", "y": "2"},
              taylor_show="1", taylor_k="4")
        assert page.locator('[data-formula="hessian"] .katex').count() == 1
        assert page.evaluate("window.playground.map.width") <= 375
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways on a phone: {width}px"
        # the form comes first, at the top
        assert page.evaluate("document.getElementById('form').getBoundingClientRect().top") < (
            page.evaluate("document.getElementById('output').getBoundingClientRect().top"))
        shot(page, screenshots, "phone-375")
    finally:
        context.close()


# ------------------------------------------------------------------ offline


def test_no_request_leaves_the_service(browser: Any, server: str) -> None:
    """With every other origin blocked (as the docs test does), the formulas are typeset in
    KaTeX's own fonts, loaded from the service."""
    page = browser.new_page()
    elsewhere = only_the_service(page, server)
    fonts: list[tuple[str, int, str]] = []
    page.on("response", lambda r: fonts.append((r.url, r.status, r.headers["content-type"]))
            if r.url.endswith(".woff2") else None)
    try:
        open_page(page, server)
        enter(page, "x**3 * y**2 + sin(x*y)", operation="hessian", point={"x": "1", "y": "2"},
              taylor_show="1")
        page.evaluate("document.fonts.ready")
        assert page.evaluate("document.fonts.check('16px KaTeX_Main')")
        assert fonts and all(url.startswith(server) and status == 200 and kind == "font/woff2"
                             for url, status, kind in fonts)
        assert not elsewhere
    finally:
        page.close()


def test_numbers_come_when_the_formulas_would_be_too_big(page: Any, server: str) -> None:
    """Over a formula limit the page asks again without `symbolic`, and says why."""
    expression = "x"
    for _ in range(8):
        expression = f"sin({expression}*x)"
    open_page(page, server)
    enter(page, expression, operation="derivative", point={"x": "0.5"}, derivative_order="4")
    x = sympy.Symbol("x")
    # sympy differentiates; mpmath evaluates the formula at 30 digits (subs + N on a tree
    # this size takes 20 s more)
    at = sympy.lambdify(x, sympy.diff(sympy.sympify(expression), x, 4), modules="mpmath")
    with mpmath.workdps(30):
        exact = float(at(mpmath.mpf(1) / 2))
    assert numbers(page, "derivative") == pytest.approx([exact], rel=1e-10)
    assert "max_formula_nodes" in page.inner_text("#result .formulas-note")
    assert '"symbolic"' not in page.inner_text("#curl-snippet")  # the request that answered
