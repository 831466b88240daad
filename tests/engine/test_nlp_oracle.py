"""The optimization oracle against hand-derived closed forms (HS071) and sympy (a chained
problem), its structural patterns, batches, and every error naming its field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sympy as sp

import engine
from engine.errors import EngineError, LimitError
from engine.limits import Limits

HS071_F = "x[0]*x[3]*(x[0] + x[1] + x[2]) + x[2]"
HS071_G = ["x[0]*x[1]*x[2]*x[3]", "x[0]**2 + x[1]**2 + x[2]**2 + x[3]**2"]
LOWER_4 = np.tril_indices(4)
"""HS071's Lagrangian Hessian is dense: its lower triangle in (row, col) order."""


def hs071_gradient(x: np.ndarray) -> np.ndarray:
    s = x[0] + x[1] + x[2]
    return np.array([x[3] * (s + x[0]), x[0] * x[3], x[0] * x[3] + 1, x[0] * s])


def hs071_jacobian(x: np.ndarray) -> np.ndarray:
    return np.array([[x[1] * x[2] * x[3], x[0] * x[2] * x[3], x[0] * x[1] * x[3],
                      x[0] * x[1] * x[2]], 2 * x])


def hs071_lagrangian_hessian(x: np.ndarray, sigma: float, lam: np.ndarray) -> np.ndarray:
    """σ∇²f + λ₀∇²(x₀x₁x₂x₃) + λ₁∇²(Σxᵢ²), full and symmetric."""
    f = np.array([[2 * x[3], x[3], x[3], 2 * x[0] + x[1] + x[2]],
                  [x[3], 0, 0, x[0]], [x[3], 0, 0, x[0]],
                  [2 * x[0] + x[1] + x[2], x[0], x[0], 0]])
    prod = np.array([[0, x[2] * x[3], x[1] * x[3], x[1] * x[2]],
                     [x[2] * x[3], 0, x[0] * x[3], x[0] * x[2]],
                     [x[1] * x[3], x[0] * x[3], 0, x[0] * x[1]],
                     [x[1] * x[2], x[0] * x[2], x[0] * x[1], 0]])
    return sigma * f + lam[0] * prod + lam[1] * 2 * np.eye(4)


def _dense(coo: dict[str, Any], values: np.ndarray | None = None) -> np.ndarray:
    out = np.zeros(coo["shape"])
    out[coo["rows"], coo["cols"]] = coo["values"] if values is None else values
    return out


@pytest.mark.parametrize("x, sigma, lam", [
    ([1.0, 5.0, 5.0, 1.0], 1.0, [0.0, 0.0]),
    ([1.0, 4.743, 3.8211, 1.3794], 0.7, [-0.552, 0.161]),
    ([2.5, 1.5, 3.25, 4.0], 3.0, [0.5, -2.0]),
])
def test_hs071_matches_its_hand_derived_derivatives(x: list[float], sigma: float,
                                                    lam: list[float]) -> None:
    xa = np.array(x)
    out = engine.nlp(objective=HS071_F, constraints=HS071_G, point={"x": x},
                     multipliers=lam, objective_factor=sigma)
    assert out["objective"] == pytest.approx(xa[0] * xa[3] * xa[:3].sum() + xa[2], rel=1e-15)
    np.testing.assert_allclose(out["gradient"], hs071_gradient(xa), rtol=1e-15)
    np.testing.assert_allclose(out["constraints"], [np.prod(xa), xa @ xa], rtol=1e-15)
    np.testing.assert_allclose(_dense(out["jacobian"]), hs071_jacobian(xa), rtol=1e-15)
    hessian = out["hessian"]
    assert np.all(hessian["rows"] >= hessian["cols"])
    np.testing.assert_allclose(_dense(hessian),
                               np.tril(hs071_lagrangian_hessian(xa, sigma, np.array(lam))),
                               rtol=1e-14, atol=1e-14)
    assert out["columns"] == ["x[0]", "x[1]", "x[2]", "x[3]"] and out["warnings"] == []


def test_patterns_are_structural_whatever_the_point_and_multipliers() -> None:
    structure = engine.nlp(objective=HS071_F, constraints=HS071_G, shapes={"x": [4]},
                           want=["structure"])
    assert "values" not in structure["jacobian"] and "values" not in structure["hessian"]
    np.testing.assert_array_equal(structure["hessian"]["rows"], LOWER_4[0])
    np.testing.assert_array_equal(structure["hessian"]["cols"], LOWER_4[1])
    assert structure["jacobian"]["nnz"] == 8 and structure["jacobian"]["shape"] == [2, 4]
    for x, sigma, lam in [([0.0, 0.0, 0.0, 0.0], 0.0, [0.0, 0.0]), ([1, 2, 3, 4], 1, [1, 0])]:
        out = engine.nlp(objective=HS071_F, constraints=HS071_G, point={"x": x},
                         multipliers=lam, objective_factor=sigma)
        for field in ("jacobian", "hessian"):
            np.testing.assert_array_equal(out[field]["rows"], structure[field]["rows"])
            np.testing.assert_array_equal(out[field]["cols"], structure[field]["cols"])
            assert len(out[field]["values"]) == structure[field]["nnz"]
    at_zero = engine.nlp(objective=HS071_F, constraints=HS071_G, point={"x": [0.0] * 4},
                         multipliers=[0.0, 0.0], objective_factor=0.0, want=["hessian"])
    assert not at_zero["hessian"]["values"].any()  # every entry vanishes, none is dropped


def test_a_vector_constraint_is_the_list_of_its_entries() -> None:
    x, lam = [1.5, 2.0, 0.5, 3.0], [0.25, -1.0]
    listed = engine.nlp(objective=HS071_F, constraints=HS071_G, point={"x": x},
                        multipliers=lam)
    vector = engine.nlp(objective=HS071_F, constraints="[prod(x), sum(x**2)]", point={"x": x},
                        multipliers=lam)
    for field in ("jacobian", "hessian"):
        np.testing.assert_allclose(_dense(vector[field]), _dense(listed[field]), rtol=1e-15)
    np.testing.assert_allclose(vector["constraints"], listed["constraints"], rtol=1e-15)


def _chained(n: int) -> tuple[str, str, Any, Any, list[sp.Symbol]]:
    """Chained Rosenbrock with the trigonometric-exponential constraints (Lukšan–Vlček), as
    our expressions and as sympy expressions."""
    f = "sum(100*(x[:-1]**2 - x[1:])**2 + (x[:-1] - 1)**2)"
    a, b, c = "x[:-2]", "x[1:-1]", "x[2:]"
    g = (f"3*{b}**3 + 2*{c} - 5 + sin({b} - {c})*sin({b} + {c}) + 4*{b} "
         f"- {a}*exp({a} - {b}) - 3")
    xs = list(sp.symbols(f"x0:{n}"))
    fs = sum(100 * (xs[i] ** 2 - xs[i + 1]) ** 2 + (xs[i] - 1) ** 2 for i in range(n - 1))
    gs = [3 * xs[k + 1] ** 3 + 2 * xs[k + 2] - 5
          + sp.sin(xs[k + 1] - xs[k + 2]) * sp.sin(xs[k + 1] + xs[k + 2]) + 4 * xs[k + 1]
          - xs[k] * sp.exp(xs[k] - xs[k + 1]) - 3 for k in range(n - 2)]
    return f, g, fs, gs, xs


def test_chained_problem_matches_sympy() -> None:
    n = 7
    f, g, fs, gs, xs = _chained(n)
    rng = np.random.default_rng(3)
    x, lam, sigma = rng.uniform(-1, 1, n), rng.uniform(-2, 2, n - 2), 0.625
    out = engine.nlp(objective=f, constraints=g, point={"x": x}, multipliers=lam,
                     objective_factor=sigma)
    at = dict(zip(xs, (sp.Float(v, 30) for v in x), strict=True))
    lagrangian = sigma * fs + sum(float(li) * gi for li, gi in zip(lam, gs, strict=True))

    def num(e: Any) -> np.ndarray:
        return np.array(sp.Matrix(e).subs(at).evalf(30), dtype=float)

    np.testing.assert_allclose(out["gradient"], num([sp.diff(fs, v) for v in xs]).ravel(),
                               rtol=1e-13)
    np.testing.assert_allclose(out["constraints"], num(gs).ravel(), rtol=1e-13)
    np.testing.assert_allclose(_dense(out["jacobian"]), num(sp.Matrix(gs).jacobian(xs)),
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(_dense(out["hessian"]),
                               np.tril(num(sp.hessian(lagrangian, xs))), rtol=1e-12,
                               atol=1e-12)
    # The structure: a band of width 3 in the Jacobian, tridiagonal lower Hessian.
    assert out["jacobian"]["nnz"] == 3 * (n - 2) and out["hessian"]["nnz"] == 2 * n - 1


def test_a_batch_with_one_row_of_multipliers_per_point() -> None:
    xs = np.array([[1.0, 5.0, 5.0, 1.0], [2.0, 1.0, 0.5, 3.0]])
    lam = np.array([[1.0, 2.0], [-0.5, 0.25]])
    out = engine.nlp(objective=HS071_F, constraints=HS071_G, points={"x": xs},
                     multipliers=lam, objective_factor=2.0)
    assert out["hessian"]["values"].shape == (2, 10)
    for i in range(2):
        np.testing.assert_allclose(out["gradient"][i], hs071_gradient(xs[i]), rtol=1e-15)
        np.testing.assert_allclose(_dense(out["jacobian"], out["jacobian"]["values"][i]),
                                   hs071_jacobian(xs[i]), rtol=1e-15)
        np.testing.assert_allclose(_dense(out["hessian"], out["hessian"]["values"][i]),
                                   np.tril(hs071_lagrangian_hessian(xs[i], 2.0, lam[i])),
                                   rtol=1e-14)


def test_want_chooses_the_fields_and_parameters_stay_parameters() -> None:
    out = engine.nlp(objective="a*x[0]**2 + x[1]", point={"x": [3.0, 1.0], "a": 2.0},
                     variables=["x"], want=["gradient", "hessian"])
    assert set(out) == {"gradient", "hessian", "columns", "variables", "warnings"}
    np.testing.assert_array_equal(out["gradient"], [12.0, 1.0])
    np.testing.assert_array_equal(_dense(out["hessian"]), [[4.0, 0], [0, 0]])
    unconstrained = engine.nlp(objective="sum(x**2)", point={"x": [1.0, 2.0]})
    assert "jacobian" not in unconstrained and "constraints" not in unconstrained


def test_non_finite_values_are_named_in_warnings() -> None:
    out = engine.nlp(objective="log(x[0])", constraints=["1/x[1]"], point={"x": [-1.0, 0.0]})
    assert any(w.startswith("objective:") for w in out["warnings"])
    assert any(w.startswith("constraints:") for w in out["warnings"])


@pytest.mark.parametrize("request_, loc, words", [
    ({"objective": "x", "constraints": ["[x, x]"]}, ["body", "constraints", 0], "scalar"),
    ({"objective": "[x, x]"}, ["body", "objective"], "scalar"),
    ({"objective": "x", "constraints": ["x"], "multipliers": [1.0, 2.0]},
     ["body", "multipliers"], "needs shape [1]"),
    ({"objective": "x", "multipliers": [1.0]}, ["body", "multipliers"], "no constraints"),
    ({"objective": "x", "constraints": []}, ["body", "constraints"], "non-empty"),
    ({"objective": "x", "constraints": ["x", 3]}, ["body", "constraints", 1], "string"),
    ({"objective": "x", "constraints": ["x", "x +"]}, ["body", "constraints", 1], "column 4"),
    ({"objective": "y"}, ["body", "objective"], "unknown name 'y'"),
    ({"objective": "x", "want": ["gradient", "structure"]}, ["body", "want", 1], "alone"),
    ({"objective": "x", "want": ["values"]}, ["body", "want", 0], "one of"),
    ({"objective": "x", "want": ["jacobian"]}, ["body", "want", 0], "no constraints"),
    ({"objective": "x", "objective_factor": float("nan")}, ["body", "objective_factor"],
     "finite"),
    ({"objective": "x", "shapes": {"x": []}}, ["body", "shapes"], "structure"),
    ({"objective": "x", "variables": []}, ["body", "variables"], "at least one variable"),
])
def test_errors_name_the_field(request_: dict[str, Any], loc: list[Any], words: str) -> None:
    with pytest.raises(EngineError) as caught:
        engine.nlp(point={"x": 1.0}, **request_)
    problem = caught.value.problem()
    assert problem["status"] == 422 and problem["errors"][0]["loc"] == loc
    assert words in problem["detail"]


def test_structure_takes_one_point_or_shapes_not_a_batch() -> None:
    with pytest.raises(EngineError, match="not 'points'"):
        engine.nlp(objective="x", points={"x": [1.0, 2.0]}, want=["structure"])
    with pytest.raises(EngineError, match="not both"):
        engine.nlp(objective="x", point={"x": 1.0}, shapes={"x": []}, want=["structure"])


def test_the_sparse_limit_counts_the_stored_entries() -> None:
    limits = Limits(max_sparse_entries=50)
    with pytest.raises(LimitError) as caught:
        engine.nlp(objective="sum(x**2)", constraints="x[1:]*x[:-1]",
                   point={"x": np.ones(60)}, limits=limits)
    assert caught.value.limit == "max_sparse_entries"
