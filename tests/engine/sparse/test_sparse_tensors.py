"""Sparse patterns of tensor expressions (slices, reductions, products with constant matrices
that hold zeros, bilinear forms, det, inv, norm) against sympy: the pattern equals sympy's
structural nonzeros at a generic point, the values equal sympy's at 50 digits to 1e-12."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import sympy

import engine

RNG = np.random.default_rng(21)
A = np.array([[1.5, 0.0, -2.0, 0.0], [0.0, 0.0, 0.7, 0.0], [0.3, 1.1, 0.0, -0.9]])
"""A constant matrix with zeros: ``A @ x`` depends only on the columns its rows touch."""
D = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.5]])
"""A constant diagonal matrix: ``solve(D, x)`` depends on x entry by entry."""


@dataclass(frozen=True)
class Case:
    name: str
    expression: str
    shapes: dict[str, tuple[int, ...]]
    build: Callable[[dict[str, Any]], Any]
    """sympy: name → sympy array of the variable's shape → the expression (list for vectors)."""
    constants: dict[str, Any] | None = None


def _matrix(m: Any) -> sympy.Matrix:
    return sympy.Matrix(m)


JACOBIANS = [
    Case("strided slices", "x[::2] * y[1::2]", {"x": (6,), "y": (6,)},
         lambda v: [v["x"][i] * v["y"][i + 1] for i in (0, 2, 4)]),
    Case("constant matrix with zeros", "A @ x + x[:3]**2", {"x": (4,)},
         lambda v: list(_matrix(A.tolist()) * _matrix(v["x"]) +
                        _matrix([v["x"][i] ** 2 for i in range(3)])),
         {"A": A}),
    Case("reductions and a list", "[x[0]*y[3], sum(x), prod(y[:2]), mean(x*y)]",
         {"x": (4,), "y": (4,)},
         lambda v: [v["x"][0] * v["y"][3], sum(v["x"]), v["y"][0] * v["y"][1],
                    sum(a * b for a, b in zip(v["x"], v["y"], strict=True)) / 4]),
    Case("matrix products", "transpose(M) @ M", {"M": (2, 3)},
         lambda v: list((_matrix(v["M"]).T * _matrix(v["M"]))[:, :].reshape(9, 1))),
    Case("inverse", "inv(M) @ x", {"M": (2, 2), "x": (2,)},
         lambda v: list(_matrix(v["M"]).inv() * _matrix(v["x"]))),
    Case("broadcast scalar", "x[1] * y + exp(y[::-1])", {"x": (3,), "y": (3,)},
         lambda v: [v["x"][1] * v["y"][i] + sympy.exp(v["y"][2 - i]) for i in range(3)]),
    # functions with keyword arguments: the structural ops they are built from move the index
    # sets, max over an axis keeps its reduction's sets, solve is dense in both operands
    Case("cumsum, flip, list index", "cumsum(x) * flip(y)[[0, 2, 1]]", {"x": (3,), "y": (3,)},
         lambda v: [sum(v["x"][:i + 1]) * v["y"][2 - j] for i, j in enumerate((0, 2, 1))]),
    Case("concatenate, stack, diag", "concatenate([x, stack([y, x], axis=1)[1], diag(y)[1]])",
         {"x": (2,), "y": (2,)},
         lambda v: [*v["x"], v["y"][1], v["x"][1], 0, v["y"][1]]),
    Case("triu and max over an axis", "max(triu(M, k=1) + M**2, axis=1)",
         {"M": (2, 2)},
         lambda v: [sympy.Max(v["M"][0][0] ** 2, v["M"][0][1] + v["M"][0][1] ** 2),
                    sympy.Max(v["M"][1][0] ** 2, v["M"][1][1] ** 2)]),
    Case("cumprod and prod over an axis", "[*cumprod(x), *prod(M, axis=0)]"
         .replace("[*cumprod(x), *prod(M, axis=0)]",
                  "concatenate([cumprod(x), prod(M, axis=0)])"),
         {"x": (3,), "M": (2, 2)},
         lambda v: [v["x"][0], v["x"][0] * v["x"][1], v["x"][0] * v["x"][1] * v["x"][2],
                    v["M"][0][0] * v["M"][1][0], v["M"][0][1] * v["M"][1][1]]),
    Case("solve with a constant matrix with zeros", "solve(D, x)", {"x": (3,)},
         lambda v: list(_matrix(D.tolist()).inv() * _matrix(v["x"])), {"D": D}),
    Case("softmax", "softmax(x)", {"x": (3,)},
         lambda v: [sympy.exp(e) / sum(sympy.exp(f) for f in v["x"]) for e in v["x"]]),
]

HESSIANS = [
    Case("dot", "dot(x, y)", {"x": (4,), "y": (4,)},
         lambda v: sum(a * b for a, b in zip(v["x"], v["y"], strict=True))),
    Case("squares of a sparse product", "sum((A @ x)**2)", {"x": (4,)},
         lambda v: sum(e ** 2 for e in _matrix(A.tolist()) * _matrix(v["x"])), {"A": A}),
    Case("det", "det(M)", {"M": (3, 3)}, lambda v: _matrix(v["M"]).det()),
    Case("norm", "norm(x) + x[0]*x[1]", {"x": (3,)},
         lambda v: sympy.sqrt(sum(e ** 2 for e in v["x"])) + v["x"][0] * v["x"][1]),
    Case("bilinear form", "x @ M @ y", {"x": (2,), "M": (2, 3), "y": (3,)},
         lambda v: (_matrix(v["x"]).T * _matrix(v["M"]) * _matrix(v["y"]))[0]),
    Case("product and chain", "prod(x[:3]) + sum(x[2:]**3) + sin(x[0] - x[4])", {"x": (5,)},
         lambda v: v["x"][0] * v["x"][1] * v["x"][2] + sum(e ** 3 for e in v["x"][2:])
         + sympy.sin(v["x"][0] - v["x"][4])),
    Case("quotient", "x[0] / (1 + x[1]**2) + x[2] / 3", {"x": (3,)},
         lambda v: v["x"][0] / (1 + v["x"][1] ** 2) + v["x"][2] / 3),
    Case("logsumexp of a slice plus a separate term", "logsumexp(x[:2]) + x[2]**3",
         {"x": (3,)},
         lambda v: sympy.log(sympy.exp(v["x"][0]) + sympy.exp(v["x"][1])) + v["x"][2] ** 3),
    Case("var over an axis", "sum(var(M, axis=1))", {"M": (2, 2)},
         lambda v: sum(((r[0] - r[1]) / 2) ** 2 for r in v["M"])),
    Case("solve with the right-hand side only", "sum(solve(D, x) ** 2)", {"x": (3,)},
         lambda v: sum(e ** 2 for e in _matrix(D.tolist()).inv() * _matrix(v["x"])),
         {"D": D}),
    Case("slogdet", "slogdet(M)[1]", {"M": (2, 2)},
         lambda v: sympy.log(_matrix(v["M"]).det())),
]


def _symbols(shapes: dict[str, tuple[int, ...]]) -> tuple[dict[str, Any], list[Any]]:
    arrays, flat = {}, []
    for name, shape in shapes.items():
        size = int(np.prod(shape)) if shape else 1
        syms = list(sympy.symbols(f"{name}_0:{size}"))
        flat += syms
        arrays[name] = (np.array(syms, dtype=object).reshape(shape).tolist()
                        if len(shape) > 1 else syms)
    return arrays, flat


def _point(shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    return {name: RNG.uniform(0.5, 1.5, shape) for name, shape in shapes.items()}


def _exact(flat: list[Any], point: dict[str, np.ndarray]) -> dict[Any, Any]:
    """sympy substitutions at the exact binary values of the point."""
    values = np.concatenate([v.reshape(-1) for v in point.values()])
    return {s: sympy.Float(float(x), 60) for s, x in zip(flat, values, strict=True)}


def _compare(answer: dict[str, Any], reference: dict[tuple[int, int], Any],
             flat: list[Any], point: dict[str, np.ndarray]) -> None:
    at = _exact(flat, point)
    expected = {k: float(e.evalf(50, subs=at)) for k, e in reference.items()}
    # Structural nonzeros: generically nonzero at the point (zero only by cancellation).
    reference_pattern = {k for k, e in reference.items() if sympy.simplify(e) != 0}
    got = {(int(r), int(c)): float(v)
           for r, c, v in zip(answer["rows"], answer["cols"], answer["values"], strict=True)}
    assert set(got) == reference_pattern
    scale = max(abs(v) for v in expected.values())
    for k in got:
        assert abs(got[k] - expected[k]) <= 1e-12 * max(abs(expected[k]), scale), k


@pytest.mark.parametrize("case", JACOBIANS, ids=lambda c: c.name)
def test_jacobian_pattern_and_values_equal_sympy(case: Case) -> None:
    arrays, flat = _symbols(case.shapes)
    outputs = case.build(arrays)
    point = _point(case.shapes)
    out = engine.jacobian(expression=case.expression, point=point, constants=case.constants,
                          sparse=True)
    reference = {(i, j): sympy.diff(f, s) for i, f in enumerate(outputs)
                 for j, s in enumerate(flat)}
    _compare(out["jacobian"], reference, flat, point)


@pytest.mark.parametrize("case", HESSIANS, ids=lambda c: c.name)
def test_hessian_pattern_and_values_equal_sympy(case: Case) -> None:
    arrays, flat = _symbols(case.shapes)
    f = case.build(arrays)
    point = _point(case.shapes)
    out = engine.hessian(expression=case.expression, point=point, constants=case.constants,
                         sparse=True)
    reference = {(i, j): sympy.diff(f, a, b) for i, a in enumerate(flat)
                 for j, b in enumerate(flat)}
    _compare(out["hessian"], reference, flat, point)
    at = _exact(flat, point)
    grad = [float(sympy.diff(f, s).evalf(50, subs=at)) for s in flat]
    assert np.allclose(out["gradient"], grad, rtol=1e-12, atol=1e-14)
