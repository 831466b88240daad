"""Linear algebra on stacks of matrices (leading axes, NumPy's broadcasting) against
per-matrix references.

Values: NumPy's own functions applied to one matrix at a time in a Python loop (never the
engine's batched path). Derivatives: closed forms per matrix — d det A = det A · tr(A⁻¹ dA)
(gradient det(A) A⁻ᵀ), d inv A = −A⁻¹ dA A⁻¹, d log|det A| = tr(A⁻¹ dA), dX = A⁻¹(dB − dA X)
for X = A⁻¹B, d(AB) = dA B + A dB — and their second derivatives, with the stack's
matrices decoupled (a block-diagonal Hessian). Taylor coefficients to order 10 come from
``mp.taylor`` of mpmath's ``det``, ``lu_solve``, ``inverse`` and ``cholesky`` per matrix at
30 digits.
The shapes are autograd's test_linalg.py ones (D = 3: (D+1, D, D) stacks, broadcast pairs).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine
from engine.errors import ShapeError

RNG = np.random.default_rng(20261205)
D = 3


def well_conditioned(*shape: int) -> np.ndarray:
    """Random matrices with a dominant diagonal (invertible, not near singular)."""
    return RNG.standard_normal(shape) + 3.0 * np.eye(shape[-1])


def spd(*shape: int) -> np.ndarray:
    m = RNG.standard_normal(shape)
    return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


def each(fn: Callable[..., Any], *stacks: np.ndarray) -> np.ndarray:
    """``fn`` applied to one matrix (per argument) at a time, results stacked."""
    lead = stacks[0].shape[:-2]
    out = [fn(*(s[i] for s in stacks)) for i in np.ndindex(*lead)]
    return np.array(out).reshape(*lead, *np.shape(out[0]))


A = well_conditioned(D + 1, D, D)
B = RNG.standard_normal((D + 1, D, D + 2))
W = RNG.standard_normal(D + 1)
C = RNG.standard_normal((D + 1, D, D))
S = spd(D + 1, D, D)


def close(actual: Any, expected: Any, rtol: float = 1e-12) -> None:
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = np.max(np.abs(expected), initial=1e-300)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# ---------------------------------------------------------------- values


VALUES: list[tuple[str, dict[str, np.ndarray], Callable[..., np.ndarray]]] = [
    ("det(A)", {"A": A}, lambda A: each(np.linalg.det, A)),
    ("inv(A)", {"A": A}, lambda A: each(np.linalg.inv, A)),
    ("np.linalg.solve(A, B)", {"A": A, "B": B}, lambda A, B: each(np.linalg.solve, A, B)),
    ("slogdet(A)", {"A": -A}, lambda A: np.stack([each(lambda m: np.linalg.slogdet(m)[0], A),
                                                  each(lambda m: np.linalg.slogdet(m)[1], A)])),
    ("cholesky(S)", {"S": S}, lambda S: each(np.linalg.cholesky, S)),
    ("A @ B", {"A": A, "B": B}, lambda A, B: each(np.dot, A, B)),
    ("matmul(A, C)", {"A": A, "C": C}, lambda A, C: each(np.dot, A, C)),
    ("matrix_transpose(B)", {"B": B}, lambda B: each(np.transpose, B)),
    ("B.mT", {"B": B}, lambda B: each(np.transpose, B)),
    ("np.linalg.matrix_transpose(B)", {"B": B}, lambda B: each(np.transpose, B)),
    ("inv(inv(A))", {"A": A}, lambda A: A),
    ("det(A @ C)", {"A": A, "C": C},
     lambda A, C: each(np.linalg.det, A) * each(np.linalg.det, C)),
]


@pytest.mark.parametrize(("expression", "point", "reference"), VALUES,
                         ids=[v[0] for v in VALUES])
def test_values_match_numpy_per_matrix(expression: str, point: dict[str, np.ndarray],
                                       reference: Callable[..., np.ndarray]) -> None:
    out = engine.evaluate(expression=expression, point={k: v.tolist() for k, v in point.items()})
    close(out["value"], reference(*point.values()), rtol=1e-11)


BROADCASTS: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = [
    # autograd's test_numpy.py matmul pairs, and stacks against single matrices
    ("a @ b", (2, 1, D, 4), (5, 4, 2)),
    ("a @ b", (D,), (2, D, 4)),
    ("a @ b", (2, 4, D), (D,)),
    ("a @ b", (4, D), (2, D, D)),
    ("matmul(a, b)", (1, D, 4), (6, 4, 2)),
    ("solve(a, b)", (D, D), (2, D, 4)),
    ("solve(a, b)", (2, 1, D, D), (4, D, 2)),
    ("solve(a, b)", (2, D, D), (D,)),
]


@pytest.mark.parametrize(("expression", "sa", "sb"), BROADCASTS)
def test_stack_axes_broadcast_as_numpy(expression: str, sa: tuple[int, ...],
                                       sb: tuple[int, ...]) -> None:
    """Value against NumPy's matmul/solve (its broadcasting is the specification), JVP
    against d(a b) = da b + a db and dx = a⁻¹(db − da x)."""
    solving = "solve" in expression
    a = well_conditioned(*sa) if solving else RNG.standard_normal(sa)
    b = RNG.standard_normal(sb)
    da, db = RNG.standard_normal(sa), RNG.standard_normal(sb)
    out = engine.jvp(expression=expression, point={"a": a.tolist(), "b": b.tolist()},
                     tangent={"a": da.tolist(), "b": db.tolist()})
    if solving:
        x = np.linalg.solve(a, b)
        moved = (da @ x[..., None])[..., 0] if b.ndim == 1 else da @ x
        tangent = np.linalg.solve(a, db - moved if b.ndim > 1 else (db - moved)[..., None])
        close(out["value"], x)
        close(out["jvp"], tangent if b.ndim > 1 else tangent[..., 0])
    else:
        close(out["value"], np.matmul(a, b))
        close(out["jvp"], np.matmul(da, b) + np.matmul(a, db))


def test_points_batch_of_stacks() -> None:
    As = [well_conditioned(2, D, D) for _ in range(3)]
    out = engine.gradient(expression="sum(det(A) * w)", points={"A": [a.tolist() for a in As]},
                          constants={"w": [1.0, -2.0]})
    for a, grad in zip(As, out["gradient"]["A"], strict=True):
        dets = each(np.linalg.det, a)
        ref = np.array([1.0, -2.0])[:, None, None] * dets[:, None, None] * each(
            lambda m: np.linalg.inv(m).T, a)
        close(grad, ref)


# ---------------------------------------------------------------- closed-form derivatives


def _hessian_of(second: Callable[[np.ndarray, np.ndarray], float], shape: tuple[int, ...]
                ) -> np.ndarray:
    """The Hessian from a closed-form second directional derivative on unit directions."""
    size = math.prod(shape)
    h = np.zeros((size, size))
    for p, q in itertools.product(range(size), repeat=2):
        e, f = np.zeros(size), np.zeros(size)
        e[p], f[q] = 1.0, 1.0
        h[p, q] = second(e.reshape(shape), f.reshape(shape))
    return h


def test_det_gradient_is_det_times_inverse_transposed_and_its_hessian() -> None:
    out = engine.hessian(expression="sum(w * det(A))", point={"A": A.tolist()},
                         constants={"w": W.tolist()})
    inv = each(np.linalg.inv, A)
    det = each(np.linalg.det, A)
    close(out["gradient"], ((W * det)[:, None, None] * np.swapaxes(inv, -1, -2)).reshape(-1))

    def second(e: np.ndarray, f: np.ndarray) -> float:
        # d² det = det (tr(A⁻¹E) tr(A⁻¹F) − tr(A⁻¹E A⁻¹F)), matrix by matrix
        total = 0.0
        for k in range(D + 1):
            ye, yf = inv[k] @ e[k], inv[k] @ f[k]
            total += W[k] * det[k] * (np.trace(ye) * np.trace(yf) - np.trace(ye @ yf))
        return total
    close(out["hessian"], _hessian_of(second, A.shape))


@pytest.mark.parametrize("n", [1, 2, 5])
def test_det_gradient_at_other_sizes(n: int) -> None:
    """1×1 and 2×2 (cofactors as polynomials) and 5×5 (past the cofactor size: det·A⁻ᵀ)."""
    a = well_conditioned(2, n, n)
    out = engine.gradient(expression="sum(det(A))", point={"A": a.tolist()})
    close(out["gradient"]["A"], each(lambda m: np.linalg.det(m) * np.linalg.inv(m).T, a))


def test_det_gradient_at_a_singular_matrix_of_the_stack_is_its_cofactors() -> None:
    a = np.stack([np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]]), A[0]])
    out = engine.gradient(expression="sum(det(A))", point={"A": a.tolist()})
    cof = np.array([[4 - 6, -(2 - 0), 2 - 0], [-(2 - 3), 1 - 0, -(1 - 0)],
                    [12 - 12, -(6 - 6), 4 - 4]], dtype=float)
    close(np.asarray(out["gradient"]["A"])[0], cof)
    close(np.asarray(out["gradient"]["A"])[1], np.linalg.det(A[0]) * np.linalg.inv(A[0]).T)


def test_inverse_derivative_is_minus_inv_da_inv() -> None:
    out = engine.hessian(expression="sum(C * inv(A))", point={"A": A.tolist()},
                         constants={"C": C.tolist()})
    inv = each(np.linalg.inv, A)
    it = np.swapaxes(inv, -1, -2)
    close(out["gradient"], -(it @ C @ it).reshape(-1))

    def second(e: np.ndarray, f: np.ndarray) -> float:
        # d² inv = Y E Y F Y + Y F Y E Y
        return float(np.sum(C * (inv @ e @ inv @ f @ inv + inv @ f @ inv @ e @ inv)))
    close(out["hessian"], _hessian_of(second, A.shape))
    direction = RNG.standard_normal(A.shape)
    jvp = engine.jvp(expression="inv(A)", point={"A": A.tolist()},
                     tangent={"A": direction.tolist()})
    close(jvp["jvp"], -(inv @ direction @ inv))


def test_slogdet_gradient_is_the_inverse_transposed_and_the_sign_is_flat() -> None:
    signs = np.array([1.0, -1.0, 1.0, -1.0])[:, None, None]
    a = A * signs
    out = engine.hessian(expression="sum(w * slogdet(A)[1]) + sum(slogdet(A)[0])",
                         point={"A": a.tolist()}, constants={"w": W.tolist()})
    inv = each(np.linalg.inv, a)
    close(out["value"], np.sum(W * each(lambda m: np.linalg.slogdet(m)[1], a))
          + np.sum(each(lambda m: np.linalg.slogdet(m)[0], a)))
    close(out["gradient"], (W[:, None, None] * np.swapaxes(inv, -1, -2)).reshape(-1))

    def second(e: np.ndarray, f: np.ndarray) -> float:
        return float(-sum(W[k] * np.trace(inv[k] @ e[k] @ inv[k] @ f[k]) for k in range(D + 1)))
    close(out["hessian"], _hessian_of(second, a.shape))


def test_solve_derivatives_in_both_arguments() -> None:
    x = each(np.linalg.solve, A, B)
    cot = RNG.standard_normal(B.shape)
    out = engine.vjp(expression="solve(A, B)", point={"A": A.tolist(), "B": B.tolist()},
                     cotangent=cot.tolist())
    ct_b = each(lambda m, c: np.linalg.solve(m.T, c), A, cot)
    close(out["vjp"]["B"], ct_b)
    close(out["vjp"]["A"], -(ct_b @ np.swapaxes(x, -1, -2)))
    da, db = RNG.standard_normal(A.shape), RNG.standard_normal(B.shape)
    jvp = engine.jvp(expression="solve(A, B)", point={"A": A.tolist(), "B": B.tolist()},
                     tangent={"A": da.tolist(), "B": db.tolist()})
    close(jvp["jvp"], each(np.linalg.solve, A, db - da @ x))


def test_solve_hessian_in_the_matrix() -> None:
    out = engine.hessian(expression="sum(C[:, :, :1] * solve(A, B[:, :, :1]))",
                         point={"A": A.tolist()}, constants={"B": B.tolist(), "C": C.tolist()})
    inv = each(np.linalg.inv, A)
    x = inv @ B[:, :, :1]
    c = C[:, :, :1]

    def second(e: np.ndarray, f: np.ndarray) -> float:
        # X = A⁻¹b: d²X = A⁻¹E A⁻¹F X + A⁻¹F A⁻¹E X
        return float(np.sum(c * (inv @ e @ inv @ f @ x + inv @ f @ inv @ e @ x)))
    close(out["hessian"], _hessian_of(second, A.shape))


def test_matmul_and_matrix_transpose_derivatives() -> None:
    out = engine.gradient(expression="sum(C @ matrix_transpose(A) * (A @ C))",
                          point={"A": A.tolist()}, constants={"C": C.tolist()})
    # f = Σ (C Aᵀ) ∘ (A C): df = Σ (C dAᵀ) ∘ (A C) + (C Aᵀ) ∘ (dA C)
    p, q = C @ np.swapaxes(A, -1, -2), A @ C
    grad = np.swapaxes(np.swapaxes(C, -1, -2) @ q, -1, -2) + p @ np.swapaxes(C, -1, -2)
    close(out["gradient"]["A"], grad)
    h = engine.hessian(expression="sum((A @ B) ** 2)", point={"A": A.tolist()},
                       constants={"B": B.tolist()})

    def second(e: np.ndarray, f: np.ndarray) -> float:
        return float(2 * np.sum((e @ B) * (f @ B)))
    close(h["hessian"], _hessian_of(second, A.shape))


def test_cholesky_gradient_against_mpmath() -> None:
    """The factor's derivative per matrix: mpmath differentiates mp.cholesky of the symmetric
    part at 30 digits along each entry."""
    c = C[:2]
    s = S[:2]
    out = engine.gradient(expression="sum(c * cholesky(S))", point={"S": s.tolist()},
                          constants={"c": c.tolist()})
    got = np.asarray(out["gradient"]["S"])
    with mp.workdps(30):
        for k, i, j in itertools.product(range(2), range(D), range(D)):
            def f(t: mp.mpf, k: int = k, i: int = i, j: int = j) -> mp.mpf:
                m = mp.matrix(s[k].tolist())
                m[i, j] += t
                low = mp.cholesky((m + m.T) / 2)
                return mp.fsum(c[k][p][q] * low[p, q] for p in range(D) for q in range(D))
            ref = float(mp.diff(f, 0))
            assert abs(got[k, i, j] - ref) <= 1e-12 * max(1.0, abs(ref)), (k, i, j)


def test_matrices_of_a_stack_are_decoupled_in_the_hessian() -> None:
    out = engine.hessian(expression="sum(det(A)) + sum(inv(A)) + sum(slogdet(A)[1])",
                         point={"A": A.tolist()})
    h = np.asarray(out["hessian"]).reshape(D + 1, D * D, D + 1, D * D)
    for k, m in itertools.product(range(D + 1), repeat=2):
        if k != m:
            assert not h[k, :, m, :].any()


def test_sparse_hessian_of_a_stack_is_block_diagonal_and_matches_dense() -> None:
    expression = "sum(det(A) ** 2) + sum((A @ B) ** 2) + sum(solve(A, B))"
    point = {"A": A.tolist()}
    dense = np.asarray(engine.hessian(expression=expression, point=point,
                                      constants={"B": B.tolist()})["hessian"])
    sparse = engine.hessian(expression=expression, point=point, constants={"B": B.tolist()},
                            sparse=True)["hessian"]
    rows, cols = np.asarray(sparse["rows"]), np.asarray(sparse["cols"])
    rebuilt = np.zeros_like(dense)
    rebuilt[rows, cols] = sparse["values"]
    close(rebuilt, dense)
    assert np.all(rows // (D * D) == cols // (D * D))


def test_symbolic_formulas_of_a_stack_evaluate_to_the_numbers() -> None:
    a = A[:2].round(3)
    out = engine.gradient(expression="sum(det(A)) + sum(inv(A) @ b)", point={"A": a.tolist()},
                          constants={"b": [1.0, -1.0, 0.5]}, symbolic=True)
    formulas = np.asarray(out["formulas"]["A"], dtype=object)
    assert formulas.shape == a.shape
    values = [engine.evaluate(expression=f, point={"A": a.tolist()},
                              constants={"b": [1.0, -1.0, 0.5]})["value"]
              for f in formulas.reshape(-1)]
    close(np.reshape(values, a.shape), out["gradient"]["A"])


# ---------------------------------------------------------------- Taylor coefficients

TAYLOR_ORDER = 10
DPS = 30
A0 = well_conditioned(2, D, D).round(3)
A1 = RNG.standard_normal((2, D, D)).round(3)
S0 = spd(2, D, D).round(3)
B0 = RNG.standard_normal((2, D, 2)).round(3)


def _along(m: np.ndarray, d: np.ndarray, k: int, t: mp.mpf) -> mp.matrix:
    return mp.matrix(m[k].tolist()) + t * mp.matrix(d[k].tolist())


def _entry_sum(m: mp.matrix) -> mp.mpf:
    return mp.fsum(m[i, j] for i in range(m.rows) for j in range(m.cols))


TAYLOR: dict[str, Callable[[mp.mpf], mp.mpf]] = {
    "det(A + t*E)[1]": lambda t: mp.det(_along(A0, A1, 1, t)),
    "sum(det(A + t*E) * [1., -2])": lambda t: mp.det(_along(A0, A1, 0, t))
    - 2 * mp.det(_along(A0, A1, 1, t)),
    "inv(A + t*E)[1, 2, 0]": lambda t: mp.inverse(_along(A0, A1, 1, t))[2, 0],
    "solve(A + t*E, B)[0, 1, 1]": lambda t: mp.lu_solve(_along(A0, A1, 0, t),
                                                        mp.matrix(B0[0, :, 1].tolist()))[1],
    "slogdet(A + t*E)[1][1]": lambda t: mp.log(abs(mp.det(_along(A0, A1, 1, t)))),
    "cholesky(S + t*E @ E.mT)[1, 2, 1]": lambda t: mp.cholesky(
        mp.matrix(S0[1].tolist()) + t * mp.matrix((A1[1] @ A1[1].T).tolist()))[2, 1],
    "sum((A + t*E) @ matrix_transpose(A + t*E) @ B)": lambda t: mp.fsum(
        _entry_sum(_along(A0, A1, k, t) * _along(A0, A1, k, t).T * mp.matrix(B0[k].tolist()))
        for k in range(2)),
}


@pytest.mark.parametrize("expression", list(TAYLOR))
def test_taylor_coefficients_per_matrix_against_mpmath(expression: str) -> None:
    t0 = 0.25
    with mp.workdps(DPS):
        coeffs = mp.taylor(TAYLOR[expression], mp.mpf(t0), TAYLOR_ORDER)
    r = engine.derivative(expression=expression, point={"t": t0}, variable="t",
                          order=TAYLOR_ORDER, all_orders=True,
                          constants={"A": A0.tolist(), "E": A1.tolist(), "S": S0.tolist(),
                                     "B": B0.tolist()})
    got = np.asarray(r["derivatives"], dtype=float)
    scale = max(abs(c) * mp.factorial(n) for n, c in enumerate(coeffs))
    for n in range(TAYLOR_ORDER + 1):
        ref = coeffs[n] * mp.factorial(n)
        bound = 1e-12 * max(abs(ref), mp.mpf(1e-4) * scale)
        assert abs(mp.mpf(got[n]) - ref) <= bound, (n, got[n], mp.nstr(ref, 20))


def test_taylor_of_a_stacked_entry_variable() -> None:
    """A derivative in one entry of one matrix moves only that matrix's determinant."""
    r = engine.derivative(expression="sum(det(A) * [1., 10])", point={"A": A0.tolist()},
                          variable="A[1, 0, 0]", order=1)
    ref = 10 * np.linalg.det(A0[1]) * np.linalg.inv(A0[1])[0, 0]
    close(r["derivative"], ref)


# ---------------------------------------------------------------- shape errors


@pytest.mark.parametrize(("expression", "shapes", "named"), [
    ("det(A)", {"A": (2, 3, 4)}, "(2, 3, 4)"),
    ("inv(A)", {"A": (3,)}, "(3,)"),
    ("slogdet(A)", {"A": (2, 2, 3)}, "(2, 2, 3)"),
    ("cholesky(A)", {"A": (4,)}, "(4,)"),
    ("solve(A, b)", {"A": (2, 3, 3), "b": (2, 4)}, "(2, 4)"),
    ("solve(A, b)", {"A": (2, 3, 3), "b": (4, 3, 1)}, "(2, 3, 3) and (4, 3, 1)"),
    ("a @ b", {"a": (2, 3, 4), "b": (3, 5, 2)}, "(2, 3, 4) and (3, 5, 2)"),
    ("a @ b", {"a": (2, 3, 4), "b": (3, 4, 2)}, "(2, 3, 4) and (3, 4, 2)"),
    ("matmul(a, b)", {"a": (2, 3), "b": ()}, "(2, 3) and ()"),
    ("matrix_transpose(a)", {"a": (3,)}, "(3,)"),
    ("a.T", {"a": (2, 3, 4)}, "matrix_transpose"),
    # np.dot of stacks pairs every matrix with every other one: refused, matmul suggested
    ("dot(a, b)", {"a": (2, 3, 3), "b": (2, 3, 3)}, "matmul"),
])
def test_shape_errors_name_the_shapes(expression: str, shapes: dict[str, tuple[int, ...]],
                                      named: str) -> None:
    point = {k: np.zeros(s).tolist() for k, s in shapes.items()}
    with pytest.raises(ShapeError) as info:
        engine.evaluate(expression=expression, point=point)
    assert named in str(info.value)


# ---------------------------------------------------------------- matmul's signature, fuzzed


@settings(max_examples=60, deadline=None)
@given(hnp.mutually_broadcastable_shapes(signature="(n?,k),(k,m?)->(n?,m?)", min_side=1,
                                         max_side=3, max_dims=4), st.integers(0, 2**32 - 1))
def test_matmul_over_numpys_signature(shapes: Any, seed: int) -> None:
    """Every operand shape pair NumPy's matmul accepts: the value is np.matmul's, the JVP is
    da @ b + a @ db, and the VJP is its adjoint (<ct, jvp> = <vjp_a, da> + <vjp_b, db>)."""
    sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    a, b, da, db = (rng.standard_normal(s) for s in (sa, sb, sa, sb))
    point = {"a": a.tolist(), "b": b.tolist()}
    value = np.matmul(a, b)
    ct = rng.standard_normal(value.shape)
    jvp = engine.jvp(expression="matmul(a, b)", point=point,
                     tangent={"a": da.tolist(), "b": db.tolist()})
    close(jvp["value"], value)
    close(jvp["jvp"], np.matmul(da, b) + np.matmul(a, db))
    vjp = engine.vjp(expression="a @ b", point=point, cotangent=ct.tolist())
    pairing = np.sum(vjp["vjp"]["a"] * da) + np.sum(vjp["vjp"]["b"] * db)
    close(pairing, np.sum(ct * (np.matmul(da, b) + np.matmul(a, db))))
