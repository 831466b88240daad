"""Reductions with ``axis=``, array functions and linear algebra against sympy at 50 digits.

The ``check`` fixture (tests/engine/conftest.py) compares value, Jacobian (with labels), JVP,
VJP and, for scalar functions, gradient, Hessian and HVP with sympy's exact derivatives. The
reference of each function is NumPy's own function applied to an object array of sympy symbols
(``np.sum(m, axis=0)``, ``np.cumsum``, ``np.triu``, ``np.concatenate``, …): NumPy decides which
entries go where, sympy differentiates, nothing comes from the engine. The shapes, axes and
points are those of autograd's tests/test_numpy.py, test_scipy.py and test_linalg.py, shrunk
where a symbolic Hessian of the peer's size would take minutes (their full sizes run against
closed forms in test_axis_arrays_linalg_peers.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sympy as sp

RNG = np.random.default_rng(20261204)


def arr(m: Any) -> np.ndarray:
    """A sympy argument (Symbol, n×1 or r×c Matrix) as a numpy object array of its entries."""
    if not isinstance(m, sp.MatrixBase):
        return np.array(m, dtype=object)
    if m.cols == 1:
        return np.array(list(m), dtype=object)
    return np.array(m.tolist(), dtype=object)


def out(a: Any) -> Any:
    """An object array as the nested lists the reference helpers read (0-d: the entry)."""
    a = np.asarray(a, dtype=object)
    return a.item() if a.ndim == 0 else a.tolist()


def via(fn: Any) -> Any:
    """A builder applying ``fn`` to the object arrays of the variables, in the point's order
    (the constant ``B`` is built by :func:`b_const`)."""
    return lambda **env: out(fn(*(arr(a) for k, a in env.items() if k != "B")))


def rand(*shape: int, scale: float = 1.0, shift: float = 0.0) -> list[Any]:
    return (RNG.standard_normal(shape) * scale + shift).round(6).tolist()


def var_ref(x: np.ndarray, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    mean = np.sum(x, axis=axis, keepdims=True) / _count(x, axis)
    dev = x - mean
    return np.sum(dev * dev, axis=axis, keepdims=keepdims) / (_count(x, axis) - ddof)


def _count(x: np.ndarray, axis: Any) -> int:
    if axis is None:
        return x.size
    axes = axis if isinstance(axis, tuple) else (axis,)
    return int(np.prod([x.shape[a] for a in axes]))


def std_ref(x: np.ndarray, **kw: Any) -> Any:
    v = var_ref(x, **kw)
    return np.vectorize(sp.sqrt, otypes=[object])(v) if isinstance(v, np.ndarray) else sp.sqrt(v)


def lse_ref(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> Any:
    e = np.vectorize(sp.exp, otypes=[object])(x)
    s = np.sum(e, axis=axis, keepdims=keepdims)
    return np.vectorize(sp.log, otypes=[object])(s) if isinstance(s, np.ndarray) else sp.log(s)


def softmax_ref(x: np.ndarray, axis: Any = None) -> Any:
    e = np.vectorize(sp.exp, otypes=[object])(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def cumprod_ref(x: np.ndarray, axis: int | None = None) -> Any:
    return np.cumprod(x, axis=axis)


def extremum_ref(point: Any, pick: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """max/min as the entry NumPy's arg-extremum selects at the point (no ties there)."""
    values = np.asarray(point, dtype=float)

    def build(M: Any) -> Any:
        x = arr(M)
        if axis is None:
            flat = int(pick(values))
            return x.reshape(-1)[flat]
        idx = np.expand_dims(pick(values, axis=axis), axis)
        taken = np.take_along_axis(x, idx, axis=axis)
        return out(taken if keepdims else np.squeeze(taken, axis=axis))
    return build


M34 = rand(3, 4)
M23 = rand(2, 3)
M13 = rand(1, 3)
V4 = rand(4)
V3 = rand(3)
V7 = rand(7)
POS23 = (np.asarray(rand(2, 3)) ** 2 + 0.1).round(6).tolist()
POS7 = (np.asarray(rand(7)) ** 2 + 0.1).round(6).tolist()
SPD = (lambda a: (a @ a.T + 3 * np.eye(3)).round(6).tolist())(np.asarray(rand(3, 3)))
A33 = (np.asarray(rand(3, 3)) + 3 * np.eye(3)).round(6).tolist()

CASES: list[tuple[str, Any, dict[str, Any]]] = [
    # autograd test_sum_*, test_mean_*
    ("sum(M, axis=0)", via(lambda m: np.sum(m, axis=0)), {"M": M34}),
    ("np.sum(M, axis=0, keepdims=True)", via(lambda m: np.sum(m, axis=0, keepdims=True)),
     {"M": M34}),
    ("M.sum(axis=-1)", via(lambda m: np.sum(m, axis=-1)), {"M": M34}),
    ("sum(M, (0, 1))", via(lambda m: np.sum(m, axis=(0, 1))), {"M": M34}),
    ("mean(M, axis=0)", via(lambda m: np.sum(m, axis=0) / 3), {"M": M34}),
    ("M.mean(axis=1, keepdims=True)", via(lambda m: np.sum(m, axis=1, keepdims=True) / 4),
     {"M": M34}),
    # test_prod_1..4 (positive entries as autograd's), and a zero (exact there)
    ("prod(M)", via(lambda m: np.prod(m)), {"M": POS23}),
    ("prod(M, axis=0)", via(lambda m: np.prod(m, axis=0)), {"M": POS23}),
    ("prod(M, axis=0, keepdims=True)", via(lambda m: np.prod(m, axis=0, keepdims=True)),
     {"M": POS23}),
    ("prod(M, axis=1)", via(lambda m: np.prod(m, axis=1)), {"M": [[2.0, 0.0, -1.5],
                                                                   [0.5, 3.0, 0.7]]}),
    ("v.prod()", via(np.prod), {"v": POS7}),
    # test_max*/test_min* (no ties at these points; ties are tested by hand below)
    ("np.max(M)", extremum_ref(M34, np.argmax), {"M": M34}),
    ("max(M, axis=1)", extremum_ref(M34, np.argmax, axis=1), {"M": M34}),
    ("np.max(M, axis=1, keepdims=True)", extremum_ref(M34, np.argmax, 1, True), {"M": M34}),
    ("M.min()", extremum_ref(M34, np.argmin), {"M": M34}),
    ("min(M, axis=0)", extremum_ref(M34, np.argmin, axis=0), {"M": M34}),
    ("np.amin(M, axis=1, keepdims=True)", extremum_ref(M34, np.argmin, 1, True), {"M": M34}),
    # test_var_ddof / test_std_ddof: B (3,), C (3, 4), D (1, 3)
    ("var(v)", via(var_ref), {"v": V3}),
    ("var(v, ddof=1, keepdims=True)", via(lambda x: var_ref(x, ddof=1, keepdims=True)),
     {"v": V3}),
    ("var(M, ddof=1)", via(lambda x: var_ref(x, ddof=1)), {"M": M34}),
    ("np.var(M, axis=1, ddof=2)", via(lambda x: var_ref(x, axis=1, ddof=2)), {"M": M34}),
    ("var(M, 1, ddof=2, keepdims=True)", via(lambda x: var_ref(x, 1, 2, True)), {"M": M13}),
    ("std(v)", via(std_ref), {"v": V3}),
    ("M.std(axis=1, ddof=2)", via(lambda x: std_ref(x, axis=1, ddof=2)), {"M": M34}),
    ("std(M, keepdims=True, ddof=1)", via(lambda x: std_ref(x, ddof=1, keepdims=True)),
     {"M": M13}),
    # test_cumsum_*
    ("cumsum(M, axis=0)", via(lambda m: np.cumsum(m, axis=0)), {"M": M34}),
    ("cumsum(M, axis=1)", via(lambda m: np.cumsum(m, axis=1)), {"M": M34}),
    ("v.cumsum()", via(np.cumsum), {"v": V7}),
    ("cumsum(M)", via(np.cumsum), {"M": M23}),
    # cumprod, with a zero entry (the derivative there is not 0/0)
    ("cumprod(v)", via(cumprod_ref), {"v": V4}),
    ("cumprod(v)", via(cumprod_ref), {"v": [1.5, 0.0, -2.0, 0.5]}),
    ("M.cumprod(axis=1)", via(lambda m: cumprod_ref(m, axis=1)), {"M": M23}),
    ("cumprod(M, 0)", via(lambda m: cumprod_ref(m, axis=0)), {"M": M23}),
    # test_scipy.py test_logsumexp1/2/6, softmax
    ("logsumexp(v)", via(lse_ref), {"v": [1.1]}),
    ("logsumexp(v)", via(lse_ref), {"v": V4}),
    ("logsumexp(v, axis=0, keepdims=True)", via(lambda x: lse_ref(x, 0, True)), {"v": V4}),
    ("logsumexp(M, axis=0)", via(lambda x: lse_ref(x, 0)), {"M": M34}),
    ("logsumexp(M, axis=1, keepdims=True)", via(lambda x: lse_ref(x, 1, True)), {"M": M13}),
    ("logsumexp(M)", via(lse_ref), {"M": M34}),
    ("logsumexp(1000 + v)", via(lambda x: lse_ref(1000 + x)), {"v": V3}),
    ("softmax(v)", via(softmax_ref), {"v": V4}),
    ("sum(softmax(v) * w)", via(lambda v, w: np.sum(softmax_ref(v) * w)),
     {"v": V4, "w": [0.3, -1.2, 2.0, 0.5]}),
    ("softmax(M, axis=1)", via(lambda x: softmax_ref(x, 1)), {"M": M23}),
    ("softmax(M, axis=-1)[0, 2] * softmax(M)[1, 1]",
     via(lambda x: softmax_ref(x, -1)[0, 2] * softmax_ref(x)[1, 1]), {"M": M23}),
    # test_reshape_*, concatenate (test_concatenate_axis_*), stack
    ("reshape(M, (4, 3))", via(lambda m: np.reshape(m, (4, 3))), {"M": M34}),
    ("M.reshape(2, -1)", via(lambda m: m.reshape(2, -1)), {"M": M34}),
    ("np.reshape(M, 12)", via(lambda m: np.reshape(m, 12)), {"M": M34}),
    ("concatenate([B, M, B])", via(lambda m: np.concatenate([b_const(), m, b_const()])),
     {"M": M23}),
    ("np.concatenate([B, M, B], axis=1)",
     via(lambda m: np.concatenate([b_const(), m, b_const()], axis=1)), {"M": M23}),
    ("np.concatenate([B, M, B], 1)",
     via(lambda m: np.concatenate([b_const(), m, b_const()], 1)), {"M": M23}),
    ("concatenate([v, w, v])", via(lambda v, w: np.concatenate([v, w, v])),
     {"v": V3, "w": [0.5, -2.0]}),
    ("concatenate([M, v.reshape(1, 3)], axis=None)",
     via(lambda m, v: np.concatenate([m, v.reshape(1, 3)], axis=None)), {"M": M23, "v": V3}),
    ("stack([v, w])", via(lambda v, w: np.stack([v, w])), {"v": V3, "w": [0.5, -2.0, 1.0]}),
    ("stack([v, w], axis=1)", via(lambda v, w: np.stack([v, w], axis=1)),
     {"v": V3, "w": [0.5, -2.0, 1.0]}),
    ("stack([M, M * M], axis=-1)[1]", via(lambda m: np.stack([m, m * m], axis=-1)[1]),
     {"M": M23}),
    # test_outer / inner
    ("outer(v, w)", via(np.outer), {"v": V3, "w": V4}),
    ("np.outer(M, v)", via(np.outer), {"M": M23, "v": V3}),
    ("inner(v, w)", via(np.inner), {"v": V3, "w": [0.5, -2.0, 1.0]}),
    ("inner(M, v)", via(np.inner), {"M": M23, "v": V3}),
    ("inner(v, M)", via(np.inner), {"M": M23, "v": V3}),
    ("inner(M, N)", via(np.inner), {"M": M23, "N": rand(4, 3)}),
    # test_diag, test_diagonal, test_triu/tril (k=2), flips
    ("diag(M)", via(np.diag), {"M": rand(4, 4)}),
    ("diag(M, k=1)", via(lambda m: np.diag(m, k=1)), {"M": M34}),
    ("diag(M, -1)", via(lambda m: np.diag(m, -1)), {"M": M34}),
    ("diag(v)", via(np.diag), {"v": V3}),
    ("diag(v, k=-2)", via(lambda v: np.diag(v, k=-2)), {"v": V3}),
    ("M.diagonal()", via(np.diagonal), {"M": M34}),
    ("M.diagonal(offset=2)", via(lambda m: np.diagonal(m, offset=2)), {"M": M34}),
    ("triu(M, k=2)", via(lambda m: np.triu(m, k=2)), {"M": rand(5, 5)}),
    ("tril(M, k=2)", via(lambda m: np.tril(m, k=2)), {"M": rand(5, 5)}),
    ("np.tril(M)", via(np.tril), {"M": M34}),
    ("triu(M, -1)", via(lambda m: np.triu(m, -1)), {"M": M34}),
    ("flip(M, axis=0)", via(np.flipud), {"M": M34}),
    ("flip(M, 1)", via(np.fliplr), {"M": M34}),
    ("flip(M)", via(np.flip), {"M": M34}),
    ("flip(v) * v", via(lambda v: np.flip(v) * v), {"v": V4}),
    # test_index_lists / test_index_mixed (on matrices)
    ("v[[0, 2]]", via(lambda v: v[[0, 2]]), {"v": V4}),
    ("v[[-1, 0, 0]]", via(lambda v: v[[-1, 0, 0]]), {"v": V4}),
    ("M[[0, 2], :]", via(lambda m: m[[0, 2], :]), {"M": M34}),
    ("M[1:, [1, 3]]", via(lambda m: m[1:, [1, 3]]), {"M": M34}),
    ("M[2, [1, -1]]", via(lambda m: m[2, [1, -1]]), {"M": M34}),
    # test_linalg.py: solve (both arguments, vector and matrix right-hand sides), slogdet,
    # cholesky (of the symmetric part, as JAX and PyTorch)
    ("solve(A, b)", lambda A, b: A.LUsolve(b), {"A": A33, "b": V3}),
    ("np.linalg.solve(A, B)", lambda A, B: A.LUsolve(B), {"A": A33, "B": rand(3, 2)}),
    # 2×2: sympy's Hessian of the 3×3 rational function takes 18 s
    ("sum(solve(A, b) ** 2)", lambda A, b: sum(e**2 for e in A.LUsolve(b)),
     {"A": [row[:2] for row in A33[:2]], "b": V3[:2]}),
    ("slogdet(M)[1]", lambda M: sp.log(sp.Abs(M.det())), {"M": A33}),
    ("np.linalg.slogdet(M)[1]", lambda M: sp.log(sp.Abs(M.det())),
     {"M": (-np.asarray(A33)).tolist()}),
    ("slogdet(M)", lambda M: [sp.sign(M.det()), sp.log(sp.Abs(M.det()))],
     {"M": [[0.5, 2.0], [1.5, -0.3]]}),
    ("cholesky(M)", lambda M: ((M + M.T) / 2).cholesky(hermitian=False), {"M": SPD}),
    ("sum(np.linalg.cholesky(M) @ v)",
     lambda M, v: sum(((M + M.T) / 2).cholesky(hermitian=False) * v), {"M": SPD, "v": V3}),
]


def b_const() -> np.ndarray:
    return arr(sp.Matrix([[sp.Rational(1, 2), -1, 2], [3, sp.Rational(-1, 4), 1]]))


B23 = [[0.5, -1.0, 2.0], [3.0, -0.25, 1.0]]


@pytest.mark.parametrize(("expression", "builder", "point"), CASES,
                         ids=[f"{i}:{c[0]}" for i, c in enumerate(CASES)])
def test_against_sympy(expression: str, builder: Any, point: dict[str, Any], check: Any
                       ) -> None:
    constants = {"B": B23} if "B" in expression and "B" not in point else None
    check(expression, builder, (point,), constants=constants)
