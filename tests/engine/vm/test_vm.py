"""The tape VM against the numpy path and against independent references.

Both paths must give the same answers: bit for bit where the tape uses only correctly rounded
ops (arithmetic, sqrt, sin, cos, comparisons, abs, max/min, where, sigmoid, softplus, small
integer powers), and within a few ulp of accumulated rounding where it calls a libm function
that differs from NumPy's SIMD kernel by up to 1 ulp (exp, expm1, log, log1p, tan, asin, acos,
atan, cosh, acosh, pow, atan2) or, in a batch of several points, where its lanes take sin and
cos from the vectorized kernel (within 1 ulp of libm). Non-finite results and their warnings
must match exactly.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import engine
from engine.vm import fastpath
from engine.vm import kernel as K
from engine.vm.entries import make_entry


def _corpus(relative: str) -> ModuleType:
    """A test module of tests/engine whose cases this file runs on the tape, loaded by path (so
    this file runs alone too)."""
    path = Path(__file__).parents[1] / relative
    spec = importlib.util.spec_from_file_location(f"vm_corpus_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


corpus = _corpus("ir/test_first_order.py")
batch_corpus = _corpus("test_batches.py")


INEXACT = {K.EXP, K.EXPM1, K.LOG, K.LOG1P, K.TAN, K.ASIN, K.ACOS, K.ATAN, K.COSH, K.ACOSH,
           K.POW, K.ATAN2}
"""Op codes whose libm result may differ from NumPy's by 1 ulp (measured per op below)."""
LANES_INEXACT = {K.SIN, K.COS, K.SINCOS}
"""Op codes a batch of several points computes within 1 ulp of libm (measured below)."""
OPERATIONS = ("evaluate", "jacobian", "jvp", "vjp", "gradient", "hessian", "hvp")
SCALAR_OPS = ("gradient", "hessian", "hvp")


@pytest.fixture
def mode(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_mode(value: str) -> None:
        monkeypatch.setattr(fastpath, "MODE", value)
    return set_mode


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k in value for leaf in _leaves(value[k], f"{path}.{k}")]
    if isinstance(value, list) and value and not isinstance(value[0], str | int | float):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value)]


def assert_same(tape: dict[str, Any], numpy: dict[str, Any], exact: bool, what: str) -> None:
    """Same keys, shapes, non-finite entries and warnings; equal bits (±0 included) when
    ``exact``, else equal to a relative 1e-13 of each array's scale."""
    assert list(tape) == list(numpy), what
    assert tape["warnings"] == numpy["warnings"], what
    for (path, a), (_, b) in zip(_leaves(tape), _leaves(numpy), strict=True):
        if isinstance(b, list | str) or b is None:
            assert a == b, f"{what}: {path}"
            continue
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        assert a.shape == b.shape, f"{what}: {path}"
        assert (np.isnan(a) == np.isnan(b)).all(), f"{what}: {path} NaNs {a} {b}"
        finite = np.isfinite(b)
        assert (a[~finite & ~np.isnan(b)] == b[~finite & ~np.isnan(b)]).all(), f"{what}: {path}"
        if exact:
            bits = np.where(np.isnan(a), 0, a).view(np.int64)
            want = np.where(np.isnan(b), 0, b).view(np.int64)
            assert (bits == want).all(), f"{what}: {path}\ntape  {a.tolist()}\nnumpy {b.tolist()}"
        else:
            scale = np.max(np.abs(b[finite]), initial=0.0)
            assert np.allclose(a[finite], b[finite], rtol=1e-13, atol=1e-13 * scale), (
                f"{what}: {path}\ntape  {a.tolist()}\nnumpy {b.tolist()}")


def _request(operation: str, expression: str, point: dict[str, Any], rng: np.random.Generator,
             **common: Any) -> dict[str, Any] | None:
    """The request of ``operation`` (random directions); None when it needs a scalar value
    and ``expression`` has none."""
    request = {"expression": expression, "point": point, **common}
    out = engine.evaluate(**request)
    if operation in SCALAR_OPS and out["shape"] != []:
        return None
    names = out["variables"]
    shapes = {k: np.shape(point[k]) if k in point else np.shape(common["constants"][k])
              for k in names}
    if operation == "jvp":
        request["tangent"] = {v: rng.uniform(-1, 1, shapes[v]) for v in names}
    elif operation == "hvp":
        request["vector"] = {v: rng.uniform(-1, 1, shapes[v]) for v in names}
    elif operation == "vjp":
        request["cotangent"] = rng.uniform(-1, 1, out["shape"])
    return request


def compare(operation: str, request: dict[str, Any], mode: Any) -> bool:
    """Run ``request`` on both paths and compare; whether the tape ran it."""
    mode("off")
    try:
        numpy = engine.execute(operation, **request)
    except engine.errors.EngineError as err:
        mode("always")
        with pytest.raises(type(err)):
            engine.execute(operation, **request)
        return False
    mode("always")
    tape = engine.execute(operation, **request)
    again = engine.execute(operation, **request)  # the warm path, registers reused
    entry = _entry(operation, request)
    if entry is None:
        return False
    points = request.get("points")
    many = points is not None and len(points if isinstance(points, list)
                                       else next(iter(points.values()))) > 1
    exact = not (set(entry.code[:, 0].tolist()) & (INEXACT | LANES_INEXACT if many else INEXACT))
    what = f"{operation} of {request['expression']} at {request.get('point', 'points')}"
    assert_same(tape, numpy, exact, what)
    assert_same(again, numpy, exact, what + " (warm)")
    return True


def _entry(operation: str, request: dict[str, Any]) -> Any:
    from engine.jobs import prepare
    from engine.limits import DEFAULT_LIMITS

    c, inp = prepare(request["expression"], request.get("point"), request.get("points"),
                     request.get("constants"), request.get("variables"), DEFAULT_LIMITS)
    return make_entry(c, inp, operation)


@pytest.mark.parametrize("case", corpus.CASES, ids=[c.expression for c in corpus.CASES])
def test_corpus_tape_matches_numpy(case: Any, mode: Any) -> None:
    rng = np.random.default_rng(7)
    ran = 0
    for point in case.points:
        for operation in OPERATIONS:
            common = {"constants": case.constants,
                      "variables": None if case.variables is None else list(case.variables)}
            request = _request(operation, case.expression, point, rng, **common)
            if request is not None:
                ran += compare(operation, request, mode)
    unsupported = {"sinh", "tanh", "asinh", "atanh", "cbrt", "erf", "erfc", "det", "inv", "@",
                   "dot", "trace", "gamma", "psi", "beta", "j0", "j1", "jv", "y0", "y1", "yv",
                   "i0", "i1", "iv", "jn", "yn",
                   "floor", "ceil", "round", "mod", "%", "remainder", "clip", "clamp", "logit",
                   "logaddexp", "sinc",
                   "amax", "amin", "logsumexp", "softmax", "solve", "slogdet", "cholesky",
                   "cumsum", "inner", "matmul"}
    if not any(f in case.expression for f in unsupported):
        assert ran, f"the tape ran none of the operations of {case.expression}"


@pytest.mark.parametrize("case", corpus.CASES[::3], ids=[c.expression for c in corpus.CASES[::3]])
def test_corpus_on_the_tape_against_sympy(case: Any, check: Any, mode: Any) -> None:
    mode("always")
    check(case.expression, case.builder, case.points, constants=case.constants,
          variables=case.variables, shape=case.shape, rtol=case.rtol)


KINKS_AND_NONFINITE = [
    ("abs(x)", {"x": 0.0}), ("abs(x)", {"x": -0.0}), ("sign(x)", {"x": 0.0}),
    ("relu(x)", {"x": 0.0}), ("relu(x)", {"x": -0.0}), ("max(x, y)", {"x": 1.0, "y": 1.0}),
    ("min(x, y)", {"x": 0.0, "y": -0.0}), ("max(x, y)", {"x": -0.0, "y": 0.0}),
    ("where(x > 0, x**2, 3*x)", {"x": 0.0}), ("where(x == y, x*y, y**2)", {"x": 1.0, "y": 1.0}),
    ("pow(x, y)", {"x": 0.0, "y": 2.0}), ("pow(x, y)", {"x": -1.0, "y": 0.5}),
    ("sqrt(x)", {"x": 0.0}), ("sqrt(x)", {"x": -1.0}), ("x**0.5", {"x": -0.0}),
    ("log(x)", {"x": 0.0}), ("log(x) * x", {"x": 0.0}), ("1 / x", {"x": 0.0}),
    ("1 / x", {"x": -0.0}), ("x / y", {"x": 0.0, "y": 0.0}), ("exp(x)", {"x": 800.0}),
    ("exp(x) - exp(x)", {"x": 800.0}), ("x * y", {"x": 1e300, "y": 1e300}),
    ("asin(x)", {"x": 1.0}), ("acosh(x)", {"x": 1.0}), ("log1p(x)", {"x": -1.0}),
    ("norm(v)", {"v": [0.0, 0.0]}), ("norm(v) * x", {"v": [0.0, 3.0], "x": 2.0}),
    ("sum(v) - v[0]", {"v": [-0.0, -0.0, -0.0]}), ("sum(v * 0)", {"v": [-1.0] * 9}),
    ("max(v, w)", {"v": [1.0, 2.0, -3.0, 0.0], "w": [1.0, 0.5, -3.0, 2.0]}),
    ("abs(v) + relu(v) + sign(v)", {"v": [0.0, -2.0, 3.0]}),
    ("x**-1 + x**-2", {"x": 0.0}), ("atan2(y, x)", {"x": 0.0, "y": 0.0}),
    ("softplus(x) + sigmoid(x)", {"x": -800.0}), ("softplus(x) * sigmoid(x)", {"x": 0.0}),
    ("sigmoid(x)", {"x": 44.88}), ("where(x > 0, log(x), 0.0)", {"x": 0.0}),
    ("where(x <= 0, 2*x, -sqrt(x))", {"x": 0.0}), ("x**y", {"x": -2.0, "y": 3.0}),
    ("x**y", {"x": 0.0, "y": 0.5}), ("norm(v) + x", {"v": [0.0, 0.0], "x": 1.0}),
]


@pytest.mark.parametrize(("expression", "point"), KINKS_AND_NONFINITE)
def test_kinks_and_non_finite_results_match(expression: str, point: dict[str, Any],
                                            mode: Any) -> None:
    rng = np.random.default_rng(3)
    for operation in OPERATIONS:
        request = _request(operation, expression, point, rng)
        if request is None:
            continue
        assert compare(operation, request, mode), f"{operation} of {expression} not on the tape"


def test_kink_values_on_the_tape(mode: Any) -> None:
    # PyTorch's conventions, written out: abs'(0) = relu'(0) = 0, a max tie splits 0.5/0.5,
    # sqrt'(0) = +inf (with a warning), norm'(0) = 0.
    mode("always")
    out = engine.hessian(expression="abs(x) + relu(y) + max(x, y)", point={"x": 0.0, "y": 0.0})
    np.testing.assert_array_equal(out["gradient"], [0.5, 0.5])
    np.testing.assert_array_equal(out["hessian"], [[0.0, 0.0], [0.0, 0.0]])
    out = engine.gradient(expression="sqrt(x)", point={"x": 0.0})
    assert out["gradient"]["x"] == np.inf
    assert out["warnings"] and out["warnings"][0].startswith("gradient: 1 non-finite")
    out = engine.gradient(expression="norm(v)", point={"v": [0.0, 0.0]})
    np.testing.assert_array_equal(out["gradient"]["v"], [0.0, 0.0])


# ---------------------------------------------------------------- random expressions

_UNARY = ["sin", "cos", "exp", "log", "sqrt", "abs", "atan", "sigmoid", "softplus", "relu",
          "log1p", "expm1", "sign", "tan", "cosh"]
_BINARY = ["+", "-", "*", "/"]
_CALLS2 = ["max", "min", "atan2", "pow", "hypot"]


def random_expression(rng: np.random.Generator, depth: int, leaves: list[str]) -> str:
    """A random expression over ``leaves``, at most ``depth`` levels deep."""
    roll = rng.random()
    if depth == 0 or roll < 0.2:
        if rng.random() < 0.25:
            return repr(float(np.round(rng.uniform(-3, 3), 2)))
        return str(rng.choice(leaves))
    a = random_expression(rng, depth - 1, leaves)
    if roll < 0.45:
        return f"{rng.choice(_UNARY)}({a})"
    b = random_expression(rng, depth - 1, leaves)
    if roll < 0.55:
        return f"{rng.choice(_CALLS2)}({a}, {b})"
    if roll < 0.62:
        return f"({a})**{int(rng.integers(-2, 5))}"
    if roll < 0.68:
        return f"where({a} > {b}, {a}, {b})"
    return f"({a} {rng.choice(_BINARY)} {b})"


def test_random_expressions_tape_matches_numpy(mode: Any) -> None:
    rng = np.random.default_rng(20261203)
    ran = 0
    for i in range(60):
        vector = i % 3 == 0
        leaves = ["x", "y", "v[0]", "sum(v)", "v[2]*v[1]"] if vector else ["x", "y"]
        expression = random_expression(rng, 4, leaves)
        point = {"x": float(rng.uniform(-2, 2)), "y": float(rng.choice([0.0, rng.uniform(-2, 2)]))}
        if vector:
            point["v"] = rng.uniform(-2, 2, 3).tolist()
        for operation in ("gradient", "hessian", "jvp", "evaluate"):
            request = _request(operation, expression, point, rng)
            if request is None:
                continue
            ran += compare(operation, request, mode)
    assert ran >= 200


# ---------------------------------------------------------------- batches, warm path, chooser

def test_small_batches_match_numpy(mode: Any) -> None:
    rng = np.random.default_rng(5)
    columns = {"x": rng.uniform(-2, 2, 7), "y": np.array([0.0, 1, 2, -1, 0.5, 0, 3])}
    rows = [{"x": float(a), "y": float(b)} for a, b in zip(*columns.values(), strict=True)]
    for expression in ["x**3*y**2 + sin(x*y)", "abs(x) + max(x, y) / y", "[x*y, exp(x)]"]:
        for points in (columns, rows):
            for operation in ("evaluate", "gradient", "hessian", "jacobian", "jvp", "hvp",
                              "vjp"):
                request = {"expression": expression, "points": points}
                shape = engine.evaluate(**request)["shape"][1:]
                if operation in SCALAR_OPS and shape:
                    continue
                if operation in ("jvp", "hvp"):
                    request["tangent" if operation == "jvp" else "vector"] = {"x": 0.5}
                if operation == "vjp":
                    request["cotangent"] = np.ones(shape)
                assert compare(operation, request, mode), (operation, expression)


def test_warm_path_uses_the_new_numbers(mode: Any) -> None:
    mode("always")
    e = "x**2 * c + sum(v * w)"
    for x, c, v in [(1.0, 2.0, [1.0, 2.0]), (3.0, -1.0, [0.5, 0.0]), (-2, 4, [2, 2])]:
        out = engine.gradient(expression=e, point={"x": x, "v": v}, constants={"c": c, "w": [3, 4]})
        assert out["value"] == x * x * c + v[0] * 3 + v[1] * 4
        assert out["gradient"]["x"] == 2 * x * c
        np.testing.assert_array_equal(out["gradient"]["v"], [3.0, 4.0])
    out = engine.gradient(expression=e, point={"x": 1.0, "v": [1.0, 2.0]},
                          constants={"c": 2.0, "w": [3, 4]}, variables=["v"])
    assert list(out["gradient"]) == ["v"] and out["variables"] == ["v"]


def test_warm_path_is_thread_safe(mode: Any) -> None:
    mode("always")
    e = "sin(x) * y + x**3"
    errors: list[str] = []

    def worker(k: int) -> None:
        for i in range(300):
            x, y = 0.001 * i + k, float(k)
            out = engine.gradient(expression=e, point={"x": x, "y": y})
            want = np.sin(x) * y + x * x * x  # the engine cubes by multiplying
            if out["value"] != want:
                errors.append(f"{out['value']} != {want}")
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


@pytest.mark.parametrize("chosen", ["always", "auto"])
def test_warm_path_still_refuses_bad_numbers(mode: Any, chosen: str) -> None:
    mode(chosen)
    for _ in range(2):
        engine.gradient(expression="x*y + sin(x)", point={"x": 1.0, "y": 2.0})
        with pytest.raises(engine.errors.InputError):
            engine.gradient(expression="x*y + sin(x)", point={"x": float("nan"), "y": 2.0})
        with pytest.raises(engine.errors.LimitError, match="max_work"):
            engine.gradient(expression="x*y + sin(x)", point={"x": 1.0, "y": 2.0},
                            limits=engine.Limits(max_work=1))
        with pytest.raises(engine.errors.LimitError, match="max_work"):
            engine.gradient(expression="x*y + sin(x)", points={"x": [1.0] * 3, "y": [2.0] * 3},
                            limits=engine.Limits(max_work=5))


def test_chooser(mode: Any) -> None:
    from engine.jobs import prepare
    from engine.limits import DEFAULT_LIMITS

    c, inp = prepare("x**3*y**2 + sin(x*y)", {"x": 1.0, "y": 2.0}, None, None, None,
                     DEFAULT_LIMITS)
    entry = make_entry(c, inp, "gradient")
    mode("auto")
    assert fastpath.tape_wins(entry, 1)
    assert fastpath.tape_wins(entry, 100)
    big, _ = prepare("sum(x * x)", {"x": np.ones(10**5).tolist()}, None, None, None,
                     DEFAULT_LIMITS)
    assert make_entry(big, _, "hessian") is None  # 10^10 Hessian entries: no tape
    c, inp = prepare("tanh(x)", {"x": 1.0}, None, None, None, DEFAULT_LIMITS)
    assert make_entry(c, inp, "gradient") is None  # tanh stays on numpy (SVML, 3 ulp)
    mode("off")
    assert fastpath.plan("gradient", "x*y", {"x": 1.0, "y": 2.0}, None, None, None,
                         DEFAULT_LIMITS, {}) is None


def test_mode_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFAPI_VM", "always")
    assert fastpath.mode() == "always"
    monkeypatch.setenv("DIFFAPI_VM", "fast")
    with pytest.raises(ValueError, match="DIFFAPI_VM"):
        fastpath.mode()


def test_per_op_rounding_against_numpy() -> None:
    """The op table's claim: the ops the tape runs are within 1 ulp of NumPy's kernels."""
    from engine.ir.ops import PRIMITIVES
    from engine.vm.tape import _BINARY as TAPE_BINARY
    from engine.vm.tape import _UNARY as TAPE_UNARY

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 3, 4000), np.exp(rng.uniform(-700, 700, 2000)),
                        rng.uniform(-1, 1, 2000), [0.0, -0.0, np.inf, -np.inf, np.nan, 1, -1]])
    y = np.roll(x, 1000)
    cases = [(name, op, (x,)) for name, op in TAPE_UNARY.items()]
    cases += [(name, op, (x, y)) for name, op in TAPE_BINARY.items()]
    for name, op, args in cases:
        with np.errstate(all="ignore"):
            want = PRIMITIVES[name].forward((), *[a[None] for a in args])[0]
        n = x.size
        regs = np.concatenate([[0.0], *args, np.zeros(n)])
        code = np.zeros((n, 5), dtype=np.int32)
        code[:, 0], code[:, 1], code[:, 2] = op, 1 + len(args) * n + np.arange(n), 1 + np.arange(n)
        code[:, 3] = 1 + n + np.arange(n) if len(args) == 2 else 0
        K.execute(code, regs)
        got = regs[1 + len(args) * n:]
        assert (np.isnan(got) == np.isnan(want)).all(), name
        fin = np.isfinite(want)
        assert (got[~fin & ~np.isnan(want)] == want[~fin & ~np.isnan(want)]).all(), name
        ulps = np.abs(got[fin] - want[fin]) / np.spacing(np.abs(want[fin]))
        limit = 1.0 if op in INEXACT else 0.0
        assert ulps.max(initial=0.0) <= limit, (name, ulps.max())


def _lanes_trig(x: np.ndarray, op: int) -> np.ndarray:
    """sin or cos (``op``) of ``x`` by the lane kernel, 8 lanes a block as a batch runs it;
    checked equal to what the fused SINCOS instruction gives for the same lanes."""
    width = 8
    n = -(-x.size // width) * width
    padded = np.concatenate([x, np.zeros(n - x.size)])[None]
    none = np.zeros(0, np.int32)

    def run(code: list[int], outputs: list[int]) -> np.ndarray:
        out = np.empty((len(outputs), n))
        K.run_blocks(np.array([code], dtype=np.int32), np.zeros((3, width)),
                     np.zeros(1, dtype=np.int32), padded, np.array(outputs, np.int32), out, 0,
                     none, none, True)
        return out[:, :x.size]

    alone = run([op, 1, 0, 0, 0], [1])[0]
    fused = run([K.SINCOS, 1, 0, 0, 2], [1, 2])[0 if op == K.SIN else 1]
    assert np.array_equal(alone, fused, equal_nan=True)
    return alone


def test_lane_sin_and_cos_are_within_one_ulp_of_libm() -> None:
    """On random arguments, on the doubles nearest every multiple of pi/2 up to the kernel's
    limit (where the reduction cancels most), and at ±0 (sign kept): within 1 ulp of NumPy's
    sin and cos (libm's here); beyond the limit and at ±inf/NaN the block runs libm: equal."""
    rng = np.random.default_rng(7)
    multiples = np.arange(1, K.TRIG_LANES_LIMIT / (np.pi / 2)) * (np.pi / 2)
    near = np.concatenate([np.nextafter(multiples, 0), multiples, np.nextafter(multiples, 1e9)])
    x = np.concatenate([rng.uniform(-10, 10, 100_000), rng.uniform(-1e5, 1e5, 100_000),
                        near, -near, np.exp(rng.uniform(-700, 0, 10_000))])
    x = x[np.abs(x) <= K.TRIG_LANES_LIMIT]
    for op, reference in ((K.SIN, np.sin), (K.COS, np.cos)):
        got, want = _lanes_trig(x, op), reference(x)
        ulps = np.abs(got - want) / np.spacing(np.abs(want))
        assert ulps.max() <= 1.0, (op, x[np.argmax(ulps)])
        assert (got == want).mean() > 0.9  # most are the same bits
        zeros = np.array([0.0, -0.0])
        assert np.array_equal(np.signbit(_lanes_trig(zeros, op)), np.signbit(reference(zeros)))
        beyond = np.array([1.0, K.TRIG_LANES_LIMIT * 1.01, 1e300, np.inf, -np.inf, np.nan])
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(_lanes_trig(beyond, op), reference(beyond))


def test_sin_and_cos_of_one_register_are_fused() -> None:
    from engine.vm.tape import _fuse_sincos

    code = np.array([[K.SIN, 5, 2, 0, 0], [K.MUL, 6, 5, 3, 0], [K.COS, 7, 2, 0, 0],
                     [K.COS, 8, 3, 0, 0]], dtype=np.int32)
    np.testing.assert_array_equal(_fuse_sincos(code), [[K.SINCOS, 5, 2, 0, 7],
                                                       [K.MUL, 6, 5, 3, 0], [K.COS, 8, 3, 0, 0]])
    entry = _entry("gradient", {"expression": "sin(x*y)", "point": {"x": 0.3, "y": 2.0}})
    assert K.SINCOS in entry.code[:, 0] and K.SIN not in entry.code[:, 0]


def test_a_batch_answers_the_same_bits_every_time(mode: Any) -> None:
    """A batch with sin runs on the tape from its first call in auto mode (its lanes may differ
    from numpy in the last bit), so repeating it repeats the bits; one point keeps libm's."""
    mode("auto")
    x = np.linspace(-3, 3, 50)
    for k in range(2):
        e = f"sin(x*y) + cos(x) + {k}"
        answers = [engine.gradient(expression=e, points={"x": x, "y": x + 1}) for _ in range(3)]
        for a in answers[1:]:
            assert_same(a, answers[0], True, e)
        single = [engine.gradient(expression=e, point={"x": 0.7, "y": 1.9}) for _ in range(3)]
        mode("off")
        assert_same(single[1], engine.gradient(expression=e, point={"x": 0.7, "y": 1.9}),
                    True, e)
        mode("auto")


SPARSE_CASES = [
    ("sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)", {"x": np.linspace(-1.2, 1.1, 30)}),
    ("sum(sin(x) * x) + x[0] * x[9] + norm(x)", {"x": np.linspace(-1, 2, 12)}),  # guarded
    ("sum(sqrt(x))", {"x": np.linspace(0, 2, 10)}),  # sqrt'(0) = inf, times tangents of 0
    ("sum(log(x) * x)", {"x": np.linspace(0, 1, 9)}),
    ("prod(x) + sum(x / (1 + x**2))", {"x": np.linspace(-2, 2, 9)}),
    ("[sum(x**2), x[0] * x[7], exp(x[3])]", {"x": np.linspace(-1, 1, 8)}),
    ("x * x[0] + sin(x) / x", {"x": np.linspace(-1, 1, 9)}),  # 0/0 at x = 0
]


@pytest.mark.parametrize(("expression", "point"), SPARSE_CASES)
def test_sparse_tapes_match_numpy(expression: str, point: dict[str, Any], mode: Any) -> None:
    """Hessians and Jacobians with 8 or more directions skip structural zeros: the same
    numbers as numpy (a zero's sign aside), and the dense tape where a guard fails."""
    request = {"expression": expression, "point": {k: v.tolist() for k, v in point.items()}}
    shape = engine.evaluate(**request)["shape"]
    for operation in ("jacobian",) + (("hessian",) if not shape else ()):
        mode("off")
        numpy = engine.execute(operation, **request)
        mode("always")
        if operation == "hessian" or len(point["x"]) <= max(np.prod(shape), 1):
            assert _entry(operation, request).sparse, "expected a sparse tape"
        for tape in (engine.execute(operation, **request), engine.execute(operation, **request)):
            assert tape["warnings"] == numpy["warnings"]
            for field in ("value", "gradient", "hessian", "jacobian"):
                if field in numpy:
                    a, b = np.asarray(tape[field]), np.asarray(numpy[field])
                    exact = not (set(_entry(operation, request).code[:, 0].tolist()) & INEXACT)
                    if exact:
                        np.testing.assert_array_equal(a, b, err_msg=f"{operation} {field}")
                    else:
                        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("case", batch_corpus.CASES, ids=[c.name for c in batch_corpus.CASES])
def test_batch_corpus_tape_matches_numpy(case: Any, mode: Any) -> None:
    """The batch corpus, rows and columns forms, on the tape's lanes and on numpy."""
    for operation in batch_corpus._operations(case):
        extra = batch_corpus._request(case, operation, case.shape)
        for points in (case.points, batch_corpus.columns(case.points)):
            request = {"expression": case.expression, "points": points, **extra}
            ran = compare(operation, request, mode)
            assert ran or any(f in case.expression for f in ("@", "det", "inv")), operation


def test_a_request_answers_the_same_bits_every_time(mode: Any) -> None:
    """In auto mode a new expression may run on numpy first and on the tape after; where the
    two could differ in the last bit (exp, log, atan2 here) the tape runs from the start."""
    mode("auto")
    for k in range(3):
        e = f"exp(x) * log(y) + atan2(x, y) + {k}"
        answers = [engine.gradient(expression=e, point={"x": 0.3, "y": 1.7}) for _ in range(3)]
        for a in answers[1:]:
            assert_same(a, answers[0], True, e)
