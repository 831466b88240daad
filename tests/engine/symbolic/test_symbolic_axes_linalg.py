"""Symbolic formulas of the reductions, array functions and small linear algebra: each formula
parses with our parser, and its value at a point equals sympy's derivative there (50 digits).
Matrices over 3×3 are refused with a 422 naming the limit of the expansion."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sympy as sp

import engine
from engine.errors import InputError
from engine.language.parser import parse
from engine.symbolic.formulas import differentiate

RTOL = 1e-12


def _symbols(name: str, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = sp.Symbol(f"{name}{'_'.join(map(str, idx))}", real=True)
    return out


def _value(formula: str, point: dict[str, Any]) -> float:
    parse(formula)
    return float(engine.evaluate(expression=formula, point=point)["value"])


CASES: list[tuple[str, dict[str, Any], Any]] = [
    ("logsumexp(v)", {"v": [0.3, -1.2, 2.0]},
     lambda v: sp.log(sum(sp.exp(e) for e in v))),
    ("softmax(v)[0] * v[2]", {"v": [0.3, -1.2, 2.0]},
     lambda v: sp.exp(v[0]) / sum(sp.exp(e) for e in v) * v[2]),
    ("max(v) + min(v)", {"v": [0.3, -1.2, 2.0]}, lambda v: v[2] + v[1]),
    ("var(v, ddof=1)", {"v": [0.3, -1.2, 2.0]},
     lambda v: sum((e - sum(v) / 3) ** 2 for e in v) / 2),
    ("sum(cumprod(v))", {"v": [0.3, -1.2, 2.0]},
     lambda v: v[0] + v[0] * v[1] + v[0] * v[1] * v[2]),
    ("sum(prod(M, axis=1) * flip(diag(M)))", {"M": [[1.5, 0.5], [-0.5, 2.0]]},
     lambda M: M[0, 0] * M[0, 1] * M[1, 1] + M[1, 0] * M[1, 1] * M[0, 0]),
    ("slogdet(M)[1]", {"M": [[1.5, 0.5], [-0.5, 2.0]]},
     lambda M: sp.log(sp.Matrix(M).det())),
    ("sum(solve(M, [1, 2]))", {"M": [[1.5, 0.5], [-0.5, 2.0]]},
     lambda M: sum(sp.Matrix(M).inv() * sp.Matrix([1, 2]))),
    ("sum(cholesky(M))", {"M": [[2.0, 0.5, 0.25], [0.5, 1.5, 0.0], [0.25, 0.0, 1.0]]},
     lambda M: sum(sp.Matrix((M + M.T) / 2).cholesky(hermitian=False))),
]


@pytest.mark.parametrize(("expression", "point", "builder"), CASES,
                         ids=[c[0] for c in CASES])
def test_gradient_formulas_against_sympy(expression: str, point: dict[str, Any],
                                         builder: Any) -> None:
    ((name, value),) = point.items()
    x = np.asarray(value, dtype=float)
    syms = _symbols(name, x.shape)
    f = builder(syms)
    subs = {syms[idx]: sp.Rational(float(x[idx])) for idx in np.ndindex(*x.shape)}
    out = differentiate(expression=expression, operation="gradient",
                        shapes={name: list(x.shape)})
    formulas = np.asarray(out["formulas"][name], dtype=object)
    for idx in np.ndindex(*x.shape):
        ref = float(sp.diff(f, syms[idx]).evalf(50, subs=subs))
        got = _value(formulas[idx], point)
        assert abs(got - ref) <= RTOL * max(1.0, abs(ref)), (idx, formulas[idx], got, ref)
    assert out["latex"][name]


def test_big_matrices_are_refused_with_the_expansion_limit() -> None:
    for expression in ("sum(cholesky(M))", "slogdet(M)[1]", "sum(solve(M, M))"):
        with pytest.raises(InputError) as info:
            differentiate(expression=expression, operation="gradient", shapes={"M": [4, 4]})
        assert "only up to 3×3" in info.value.detail
        assert info.value.status == 422
