"""Sparse patterns and values against sympy on small random expressions.

Each case is built twice from one random tree — as the engine's expression text and as a sympy
expression — with a distinct random coefficient on every leaf, so no two sub-expressions can
cancel exactly: sympy's structural nonzeros (derivatives that are not identically zero) are then
the exact pattern. Values are sympy's derivatives evaluated at 50 digits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sympy

import engine

N_VARS = 6
SYMBOLS = sympy.symbols(f"x0:{N_VARS}")
UNARY = {
    "sin": sympy.sin, "cos": sympy.cos, "exp": sympy.exp, "tanh": sympy.tanh,
    "atan": sympy.atan,
}


def _coefficient(rng: np.random.Generator) -> tuple[str, sympy.Float]:
    c = float(np.round(rng.uniform(0.2, 1.9), 3))
    return repr(c), sympy.Float(repr(c), 30)


def random_tree(rng: np.random.Generator, depth: int) -> tuple[str, Any]:
    """An (engine text, sympy expression) pair over x[0] … x[N_VARS-1]."""
    if depth == 0 or rng.random() < 0.2:
        i = int(rng.integers(N_VARS))
        text, c = _coefficient(rng)
        return f"{text}*x[{i}]", c * SYMBOLS[i]
    kind = rng.choice(["add", "sub", "mul", "div", "unary", "square"])
    a_text, a = random_tree(rng, depth - 1)
    if kind == "unary":
        name = str(rng.choice(sorted(UNARY)))
        return f"{name}({a_text})", UNARY[name](a)
    if kind == "square":
        return f"({a_text})**2", a**2
    b_text, b = random_tree(rng, depth - 1)
    if kind == "add":
        return f"({a_text} + {b_text})", a + b
    if kind == "sub":
        return f"({a_text} - {b_text})", a - b
    if kind == "mul":
        return f"({a_text})*({b_text})", a * b
    # A denominator that never vanishes.
    return f"({a_text})/(2 + ({b_text})**2)", a / (2 + b**2)


def _exact(x: np.ndarray) -> dict[Any, Any]:
    return {s: sympy.Float(float(v), 60) for s, v in zip(SYMBOLS, x, strict=True)}


def _entries(answer: dict[str, Any]) -> dict[tuple[int, int], float]:
    return {(int(r), int(c)): float(v)
            for r, c, v in zip(answer["rows"], answer["cols"], answer["values"], strict=True)}


def _compare(answer: dict[str, Any], reference: dict[tuple[int, int], Any],
             at: dict[Any, Any]) -> None:
    got = _entries(answer)
    assert set(got) == set(reference)
    expected = {k: float(e.evalf(50, subs=at)) for k, e in reference.items()}
    scale = max([abs(v) for v in expected.values()] + [1e-300])
    for k, v in expected.items():
        assert abs(got[k] - v) <= 1e-12 * max(abs(v), scale), (k, got[k], v)


@pytest.mark.parametrize("seed", range(12))
def test_random_hessian_pattern_and_values_equal_sympy(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    text, expr = random_tree(rng, 4)
    x = rng.uniform(-1, 1, N_VARS)
    out = engine.hessian(expression=text, point={"x": x}, sparse=True)
    reference = {}
    for i, si in enumerate(SYMBOLS):
        di = sympy.diff(expr, si)
        for j, sj in enumerate(SYMBOLS):
            dij = sympy.diff(di, sj)
            if dij != 0:
                reference[(i, j)] = dij
    _compare(out["hessian"], reference, _exact(x))
    assert out["hessian"]["colors"] <= N_VARS


@pytest.mark.parametrize("seed", range(12))
def test_random_jacobian_pattern_and_values_equal_sympy(seed: int) -> None:
    rng = np.random.default_rng(2000 + seed)
    trees = [random_tree(rng, 3) for _ in range(4)]
    text = "[" + ", ".join(t for t, _ in trees) + "]"
    x = rng.uniform(-1, 1, N_VARS)
    out = engine.jacobian(expression=text, point={"x": x}, sparse=True)
    reference = {(r, j): d for r, (_, e) in enumerate(trees)
                 for j, s in enumerate(SYMBOLS) if (d := sympy.diff(e, s)) != 0}
    _compare(out["jacobian"], reference, _exact(x))
    # Column coloring needs at most one color per column, row coloring one per row.
    assert out["jacobian"]["colors"] <= min(len(trees), N_VARS)
