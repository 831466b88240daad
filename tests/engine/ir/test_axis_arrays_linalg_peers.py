"""The peers' cases at the peers' own sizes (autograd tests/test_numpy.py and test_linalg.py:
(10, 11), (3, 4, 5) and (5, 6, 4) tensors, 8×8 solves, 6×6 slogdet and cholesky) against
closed forms.

Entry-moving and summing functions are linear, so their Jacobian is NumPy's function applied
to each unit tensor (a column per input entry) and their Hessian is zero. For the rest the
closed forms are written out: ∂max = the indicator of the arg-max, ∂prod/∂x_i = the product of
the others (no division, so it holds at zeros), ∂X/∂A_ij = −A⁻¹ e_i e_jᵀ X for X = A⁻¹B,
∂ log|det A| = A⁻ᵀ with second derivative −(A⁻¹)_{jk} (A⁻¹)_{li}, evaluated in mpmath at 40
digits. The Cholesky factor's gradient is checked by directions against mpmath's own factor of
the symmetric part (mp.diff at 40 digits).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import mpmath as mp
import numpy as np
import pytest

import engine
from engine.errors import EngineError

RTOL = 1e-12
RNG = np.random.default_rng(7)


def close(actual: Any, expected: Any, rtol: float = RTOL) -> None:
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = np.max(np.abs(expected), initial=1.0)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def linear_jacobian(fn: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...]
                    ) -> np.ndarray:
    """The Jacobian of a linear NumPy function: its value on each unit tensor, as columns."""
    size = int(np.prod(shape))
    cols = [np.ravel(fn(np.eye(size)[i].reshape(shape))) for i in range(size)]
    return np.stack(cols, axis=1)


LINEAR: list[tuple[str, Callable[[np.ndarray], np.ndarray], tuple[int, ...]]] = [
    ("sum(x)", np.sum, (10, 11)),
    ("sum(x, axis=0)", lambda x: np.sum(x, axis=0), (10, 11)),
    ("sum(x, axis=0, keepdims=True)", lambda x: np.sum(x, axis=0, keepdims=True), (10, 11)),
    ("np.sum(x, axis=(1, 2))", lambda x: np.sum(x, axis=(1, 2)), (10, 11, 7)),
    ("mean(x, axis=0)", lambda x: np.mean(x, axis=0), (10, 11)),
    ("mean(x, axis=0, keepdims=True)", lambda x: np.mean(x, axis=0, keepdims=True), (10, 11)),
    ("flip(x, axis=0)", np.flipud, (10, 11)),
    ("flip(x, axis=1)", np.fliplr, (10, 11)),
    ("np.flipud(x)", np.flipud, (10, 11)),
    ("np.fliplr(x)", np.fliplr, (10, 11)),
    ("cumsum(x, axis=0)", lambda x: np.cumsum(x, axis=0), (10, 11)),
    ("cumsum(x, axis=1)", lambda x: np.cumsum(x, axis=1), (10, 11)),
    ("cumsum(x)", np.cumsum, (10,)),
    ("cumsum(x)", np.cumsum, (10, 11)),
    ("cumsum(x, axis=1)", lambda x: np.cumsum(x, axis=1), (3, 4, 5)),
    ("x[3, 0, 1]", lambda x: x[3, 0, 1], (5, 6, 4)),
    ("x[::-1, 2:4, :]", lambda x: x[::-1, 2:4, :], (5, 6, 4)),
    ("x[[0, 1, 2], :, :]", lambda x: x[[0, 1, 2], :, :], (5, 6, 4)),
    ("x[3, 2:, [1, 3]]", lambda x: x[3, 2:, [1, 3]], (5, 6, 4)),
    ("x[[0, 1, 2], [1, 0, 3]]", lambda x: x[[0, 1, 2], [1, 0, 3]], (5, 6, 4)),
    ("x[:, [0, 2], [1, -1]]", lambda x: x[:, [0, 2], [1, -1]], (5, 6, 4)),
    ("x[[0, 4], :, [1, 3]]", lambda x: x[[0, 4], :, [1, 3]], (5, 6, 4)),
    ("x[2, [0, 5], [3]]", lambda x: x[2, [0, 5], [3]], (5, 6, 4)),
    ("x[[0, 0]]", lambda x: x[[0, 0]], (3,)),
    ("x[[0, 1, 0]]", lambda x: x[[0, 1, 0]], (3,)),
    ("x[..., 0]", lambda x: x[..., 0], (5, 6, 4)),
    ("x[1, ..., 2:]", lambda x: x[1, ..., 2:], (5, 6, 4)),
    ("x[..., [3, 1]]", lambda x: x[..., [3, 1]], (5, 6, 4)),
    ("x[:, None]", lambda x: x[:, None], (5, 6)),
    ("x[None, 2, ..., np.newaxis]", lambda x: x[None, 2, ..., None], (5, 6, 4)),
    ("x.reshape((5 * 4, 6))", lambda x: x.reshape((20, 6)), (5, 6, 4)),
    ("np.reshape(x, (20, 6))", lambda x: np.reshape(x, (20, 6)), (5, 6, 4)),
    ("x.reshape(5 * 4, 6)", lambda x: x.reshape(20, 6), (5, 6, 4)),
    ("concatenate([B, x, B])", lambda x: np.concatenate([B564, x, B564]) - _b3(0), (5, 6, 4)),
    ("concatenate([B, x, B], axis=1)",
     lambda x: np.concatenate([B564, x, B564], axis=1) - _b3(1), (5, 6, 4)),
    ("np.concatenate([B, x, B], 1)",
     lambda x: np.concatenate([B564, x, B564], 1) - _b3(1), (5, 6, 4)),
    ("np.concatenate((B, x, B), 1)",
     lambda x: np.concatenate([B564, x, B564], 1) - _b3(1), (5, 6, 4)),
    ("stack([x, 2 * x], axis=2)", lambda x: np.stack([x, 2 * x], axis=2), (5, 6, 4)),
    ("diag(x)", np.diag, (10, 10)),
    ("diag(x)", np.diag, (10,)),
    ("triu(x, k=2)", lambda x: np.triu(x, k=2), (5, 5)),
    ("tril(x, k=2)", lambda x: np.tril(x, k=2), (5, 5)),
    ("x.diagonal()", np.diagonal, (4, 4)),
    ("np.diagonal(x, axis1=-1, axis2=-2)", lambda x: np.diagonal(x, axis1=-1, axis2=-2), (4, 4)),
    ("np.diagonal(x, axis1=-1, axis2=-2)", lambda x: np.diagonal(x, axis1=-1, axis2=-2),
     (3, 4, 4)),
    ("np.diagonal(x, 1, 2, 0)", lambda x: np.diagonal(x, 1, 2, 0), (3, 4, 5)),
    ("np.transpose(x, (1, 0, 2))", lambda x: np.transpose(x, (1, 0, 2)), (5, 6, 4)),
    ("x.transpose((2, 0, 1))", lambda x: x.transpose((2, 0, 1)), (5, 6, 4)),
    ("np.swapaxes(x, 0, 2)", lambda x: np.swapaxes(x, 0, 2), (5, 6, 4)),
    ("np.moveaxis(x, (0, 1), (2, 0))", lambda x: np.moveaxis(x, (0, 1), (2, 0)), (5, 6, 4)),
    ("x.ravel()", np.ravel, (5, 6, 4)),
    ("np.ravel(x)", np.ravel, (5, 6, 4)),
    ("x.flatten()", np.ravel, (5, 6, 4)),
    ("np.squeeze(x)", np.squeeze, (5, 1, 4)),
    ("x.squeeze(axis=1)", lambda x: x.squeeze(axis=1), (5, 1, 4)),
    ("np.expand_dims(x, 2)", lambda x: np.expand_dims(x, 2), (5, 1, 4)),
    ("np.expand_dims(x, (0, -1))", lambda x: np.expand_dims(x, (0, -1)), (5, 6)),
    ("np.repeat(x, 2, axis=1)", lambda x: np.repeat(x, 2, axis=1), (5, 3, 4)),
    ("np.repeat(x, 1, axis=1)", lambda x: np.repeat(x, 1, axis=1), (5, 3, 4)),
    ("np.repeat(x, 2, axis=0)", lambda x: np.repeat(x, 2, axis=0), (5, 3)),
    ("np.repeat(x, 2, axis=0)", lambda x: np.repeat(x, 2, axis=0), (5,)),
    ("np.repeat(x, 1, axis=0)", lambda x: np.repeat(x, 1, axis=0), (5, 1)),
    ("np.repeat(x, 3)", lambda x: np.repeat(x, 3), (2, 3)),
    ("np.repeat(x, (1, 0, 3), axis=1)", lambda x: np.repeat(x, (1, 0, 3), axis=1), (5, 3, 4)),
    ("np.roll(x, 2, axis=1)", lambda x: np.roll(x, 2, axis=1), (4, 5)),
    ("np.roll(x, -7)", lambda x: np.roll(x, -7), (4, 5)),
    ("np.roll(x, (1, 2), axis=(0, 2))", lambda x: np.roll(x, (1, 2), axis=(0, 2)), (5, 6, 4)),
    ("np.rot90(x)", np.rot90, (10, 11)),
    ("np.rot90(x, 2)", lambda x: np.rot90(x, 2), (10, 11)),
    ("np.rot90(x, -1, axes=(1, 2))", lambda x: np.rot90(x, -1, axes=(1, 2)), (5, 6, 4)),
    ("np.append(x, x[0])", lambda x: np.append(x, x[0]), (3, 2)),
    ("np.append(x, x, axis=0)", lambda x: np.append(x, x, axis=0), (3, 2)),
    ("np.array([x, x * 1.0, x + 0])", lambda x: np.array([x, x * 1.0, x + 0]), ()),
    ("np.array([[x, 2 * x], [x, x]])", lambda x: np.array([[x, 2 * x], [x, x]]), (3, 2)),
    ("np.asarray(x)", np.asarray, (3, 2)),
    ("np.tensordot(x, w, axes=([1], [0]))", lambda x: np.tensordot(x, W11, axes=([1], [0])),
     (2, 11)),
    ("np.tensordot(x, T, axes=((0, 1), (1, 0)))",
     lambda x: np.tensordot(x, T342, axes=((0, 1), (1, 0))), (4, 3)),
    ("outer(x, w)", lambda x: np.outer(x, W11), (11,)),
    ("inner(x, w)", lambda x: np.inner(x, W11), (11,)),
]
B564 = RNG.standard_normal((5, 6, 4))
T342 = RNG.standard_normal((3, 4, 2))
W11 = RNG.standard_normal(11)


def _b3(axis: int) -> np.ndarray:
    """The constant part of concatenate([B, x, B]) (the function is affine in x)."""
    return np.concatenate([B564, np.zeros((5, 6, 4)), B564], axis=axis)


@pytest.mark.parametrize(("expression", "fn", "shape"), LINEAR,
                         ids=[f"{e}{s}" for e, _, s in LINEAR])
def test_linear_functions_on_the_peers_shapes(expression: str, fn: Any,
                                              shape: tuple[int, ...]) -> None:
    x = RNG.standard_normal(shape)
    constants = {"B": B564, "w": W11, "T": T342}
    used = {k: v for k, v in constants.items() if k in expression.replace("x.", "")}
    value = engine.evaluate(expression=expression, point={"x": x}, constants=used or None)
    affine = fn(x) + (_b3(1 if "axis=1" in expression or ", 1)" in expression else 0)
                      if "B" in expression else 0)
    close(value["value"], affine)
    jac = engine.jacobian(expression=expression, point={"x": x}, constants=used or None)
    close(jac["jacobian"], linear_jacobian(fn, shape))
    if np.ndim(affine) == 0:
        h = engine.hessian(expression=expression, point={"x": x}, constants=used or None)
        close(h["hessian"], np.zeros((x.size, x.size)))


def test_tensordot_of_a_tensor_with_itself() -> None:
    """autograd's test_tensordot_kwargs_by_position, at a point: tensordot(x, x, 2) = Σ x²."""
    x = RNG.standard_normal((4, 3))
    out = engine.hessian(expression="np.tensordot(x, x, 2)", point={"x": x})
    close(out["value"], np.sum(x * x))
    close(out["gradient"], 2 * x.ravel())
    close(out["hessian"], 2 * np.eye(12))
    out = engine.jacobian(expression="np.tensordot(x, x, 0)", point={"x": x[0]})
    close(out["value"], np.multiply.outer(x[0], x[0]))


@pytest.mark.parametrize(("expression", "says"), [
    ("np.transpose(x, (0, 0, 1))", "not a permutation"), ("np.squeeze(x, axis=0)",
                                                          "cannot squeeze axis 0"),
    ("np.repeat(x, (1, 2), axis=0)", "repeats has 2 entries"),
    ("np.repeat(x, -1)", "non-negative"), ("np.moveaxis(x, (0, 1), 2)", "as many distinct"),
    ("np.rot90(x, 1, (0, 0))", "two different axes"),
    ("np.tensordot(x, x, axes=([0], [1]))", "shape mismatch"),
    ("np.tensordot(x, x, 4)", "axes=4"), ("np.roll(x, (1, 2), axis=(0, 1, 2))",
                                          "as many shifts as axes")])
def test_rearranging_errors_say_what_is_wrong(expression: str, says: str) -> None:
    with pytest.raises(EngineError, match=re.escape(says)):
        engine.evaluate(expression=expression, point={"x": np.ones((3, 4, 5))})


@pytest.mark.parametrize(("expression", "pick", "axis", "keepdims"), [
    ("np.max(x)", np.argmax, None, False), ("np.max(x, axis=1)", np.argmax, 1, False),
    ("np.max(x, axis=1, keepdims=True)", np.argmax, 1, True),
    ("np.min(x)", np.argmin, None, False), ("np.min(x, axis=1)", np.argmin, 1, False),
    ("np.min(x, axis=1, keepdims=True)", np.argmin, 1, True),
])
def test_max_min_on_the_peers_shapes(expression: str, pick: Any, axis: Any,
                                     keepdims: bool) -> None:
    x = RNG.standard_normal((10, 11) if axis is None else (3, 4, 5))
    if axis is None:
        ref = np.zeros(x.size)
        ref[pick(x)] = 1.0
        out = engine.hessian(expression=expression, point={"x": x})
        close(out["value"], x.reshape(-1)[pick(x)])
        close(out["gradient"], ref)
        close(out["hessian"], np.zeros((x.size, x.size)))
        return
    arg = pick(x, axis=axis)
    value = np.take_along_axis(x, np.expand_dims(arg, axis), axis=axis)
    reduced = value if keepdims else np.squeeze(value, axis=axis)
    # row r of the Jacobian is the unit vector of the entry r with the arg-extremum at `axis`
    jac = np.zeros((arg.size, x.size))
    for row, r in enumerate(np.ndindex(*arg.shape)):
        entry = (*r[:axis], int(arg[r]), *r[axis:])
        jac[row, np.ravel_multi_index(entry, x.shape)] = 1.0
    out = engine.jacobian(expression=expression, point={"x": x})
    close(out["value"], reduced)
    close(out["jacobian"], jac)


def test_max_ties_split_evenly() -> None:
    """autograd's test_max_equal_values(_2d); PyTorch's amax splits a tie evenly."""
    out = engine.gradient(expression="np.max([x, x])", point={"x": 1.0})
    assert out["gradient"]["x"] == 1.0
    out = engine.jacobian(expression="np.max([[x, x], [x, 0.5]], axis=1)", point={"x": 1.0})
    close(out["jacobian"], [[1.0], [1.0]])
    out = engine.gradient(expression="max(v)", point={"v": [2.0, 1.0, 2.0, 2.0]})
    close(out["gradient"]["v"], [1 / 3, 0.0, 1 / 3, 1 / 3], rtol=1e-15)
    out = engine.gradient(expression="sum(min(M, axis=0))", point={"M": [[1.0, 0.0], [1.0, 3.0]]})
    close(out["gradient"]["M"], [[0.5, 1.0], [0.5, 0.0]], rtol=1e-15)


def _mp(m: np.ndarray) -> mp.matrix:
    return mp.matrix(m.tolist())


def test_prod_and_cumprod_at_zeros() -> None:
    x = np.array([1.5, 0.0, -2.0, 0.5, 0.0, 3.0, 0.7])
    out = engine.gradient(expression="prod(x)", point={"x": x})
    close(out["gradient"]["x"], [np.prod(np.delete(x, i)) for i in range(x.size)])
    x = np.array([1.5, 0.0, -2.0, 0.5])
    jac = np.array([[np.prod([x[k] for k in range(i + 1) if k != j]) if j <= i else 0.0
                     for j in range(4)] for i in range(4)])
    close(engine.jacobian(expression="cumprod(x)", point={"x": x})["jacobian"], jac)
    m = RNG.standard_normal((2, 3)) ** 2 + 0.1
    out = engine.jacobian(expression="prod(x, axis=0)", point={"x": m})
    ref = np.zeros((3, 6))
    for j in range(3):
        ref[j, j] = m[1, j]
        ref[j, 3 + j] = m[0, j]
    close(out["jacobian"], ref)


@pytest.mark.parametrize(("which", "size", "cols"), [("A", 8, 7), ("A", 8, None), ("b", 6, 5)])
def test_solve_on_the_peers_sizes(which: str, size: int, cols: int | None) -> None:
    """test_solve_arg1 (8×8 A, 8×7 B), test_solve_arg1_1d, test_solve_arg2 (6×6, 6×5)."""
    shift = 10.0 if which == "A" else 1.0
    a = RNG.standard_normal((size, size)) + shift * np.eye(size)
    b = RNG.standard_normal((size,) if cols is None else (size, cols))
    point, constants = ({"A": a}, {"b": b}) if which == "A" else ({"b": b}, {"A": a})
    out = engine.jacobian(expression="solve(A, b)", point=point, constants=constants)
    with mp.workdps(40):
        ainv = _mp(a) ** -1
        bm = _mp(b if b.ndim == 2 else b[:, None])
        x = ainv * bm
        close(out["value"], np.array(x.tolist(), dtype=float).reshape(b.shape))
        m = bm.cols
        if which == "A":  # ∂X[p, q]/∂A[i, j] = −A⁻¹[p, i] X[j, q]
            ref = [[-ainv[p, i] * x[j, q] for i in range(size) for j in range(size)]
                   for p in range(size) for q in range(m)]
        else:  # ∂X[p, q]/∂B[i, r] = A⁻¹[p, i] [q == r]
            ref = [[ainv[p, i] if q == r else 0 for i in range(size) for r in range(m)]
                   for p in range(size) for q in range(m)]
        close(out["jacobian"], np.array(ref, dtype=float))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_slogdet_on_the_peers_size(sign: float) -> None:
    """test_slogdet: 6×6 and its negative; gradient A⁻ᵀ, Hessian −A⁻¹[j, k] A⁻¹[l, i]."""
    a = sign * RNG.standard_normal((6, 6))
    out = engine.hessian(expression="np.linalg.slogdet(M)[1]", point={"M": a})
    with mp.workdps(40):
        am = _mp(a)
        inv = am ** -1
        close(out["value"], float(mp.log(abs(mp.det(am)))))
        close(out["gradient"], np.array(inv.T.tolist(), dtype=float).reshape(-1))
        hess = [[-inv[j, k] * inv[l, i] for k in range(6) for l in range(6)]  # noqa: E741
                for i in range(6) for j in range(6)]
        close(out["hessian"], np.array(hess, dtype=float), rtol=1e-11)
    sign_out = engine.gradient(expression="slogdet(M)[0]", point={"M": a})
    assert sign_out["value"] == np.sign(np.linalg.det(a))
    close(sign_out["gradient"]["M"], np.zeros((6, 6)))


def test_cholesky_on_the_peers_size() -> None:
    """test_cholesky: a 6×6 positive definite matrix; value, JVP along symmetric and
    non-symmetric directions and one Hessian quadratic form against mpmath's factor of the
    symmetric part."""
    r = RNG.standard_normal((6, 6))
    a = r @ r.T + 6 * np.eye(6)
    u = RNG.standard_normal((6, 6))
    v = RNG.standard_normal((6, 6))
    cot = RNG.standard_normal((6, 6))

    def factor(m: mp.matrix) -> mp.matrix:
        return mp.cholesky((m + m.T) / 2)

    with mp.workdps(40):
        am, um, vm = _mp(a), _mp(u), _mp(v)
        value = np.array(factor(am).tolist(), dtype=float)
        close(engine.evaluate(expression="cholesky(M)", point={"M": a})["value"], value)
        for direction, dm in ((u, um), (u + u.T, um + um.T)):
            ref = [[mp.diff(lambda t, i=i, j=j, dm=dm: factor(am + t * dm)[i, j], 0)
                    for j in range(6)] for i in range(6)]
            out = engine.jvp(expression="cholesky(M)", point={"M": a},
                             tangent={"M": direction})
            close(out["jvp"], np.array(ref, dtype=float))
        c = _mp(cot)

        def scalar(m: mp.matrix) -> mp.mpf:
            f = factor(m)
            return mp.fsum(f[i, j] * c[i, j] for i in range(6) for j in range(6))

        ref2 = mp.diff(lambda s, t: scalar(am + s * um + t * vm), (0, 0), (1, 1))
    out = engine.hessian(expression="sum(cholesky(M) * C)", point={"M": a},
                         constants={"C": cot})
    close(u.reshape(-1) @ np.asarray(out["hessian"]) @ v.reshape(-1), float(ref2), rtol=1e-11)


def test_cholesky_sparsity_pattern_and_values_against_mpmath() -> None:
    """The structural pattern of cholesky's Jacobian: L[i, j] reads A[p, q] (and A[q, p])
    with q ≤ j and p ≤ j or p = i; the upper triangle and the rows between are zeros. The
    reference pattern is where mpmath's derivative (40 digits, at a generic point) is not 0."""
    n = 4
    r = RNG.standard_normal((n, n))
    a = r @ r.T + n * np.eye(n)
    out = engine.jacobian(expression="cholesky(M)", point={"M": a}, sparse=True)
    got = dict(zip(zip(out["jacobian"]["rows"], out["jacobian"]["cols"], strict=True),
                   out["jacobian"]["values"], strict=True))
    with mp.workdps(40):
        am = _mp(a)
        ref = {}
        for p in range(n):
            for q in range(n):
                e = mp.zeros(n, n)
                e[p, q] = 1

                def factor(t: mp.mpf, e: mp.matrix = e) -> mp.matrix:
                    m = am + t * e
                    return mp.cholesky((m + m.T) / 2)

                h = mp.mpf(10) ** -20
                # a central difference at 40 digits, h = 1e-20: truncation ~h² = 1e-40, rounding
                # ~1e-20; an entry A does not reach is exactly 0
                d = (factor(h) - factor(-h)) / (2 * h)
                for i in range(n):
                    for j in range(n):
                        if abs(d[i, j]) > mp.mpf(10) ** -15:  # rounding noise ~1e-20
                            ref[i * n + j, p * n + q] = float(d[i, j])
    assert set(got) == set(ref)
    for k, v in ref.items():
        assert abs(got[k] - v) <= 1e-12 * max(1.0, abs(v)), k
    h = engine.hessian(expression="cholesky(M)[3, 1]", point={"M": a}, sparse=True)
    pairs = set(zip(h["hessian"]["rows"], h["hessian"]["cols"], strict=True))
    reads = {p * n + q for p in (0, 1, 3) for q in range(2) if q <= p} | \
        {q * n + p for p in (0, 1, 3) for q in range(2) if q <= p}
    assert {x for pair in pairs for x in pair} <= reads
