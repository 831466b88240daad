"""Running error bounds for Taylor mode: every series carries a majorant series beside it.

Rounding in a truncated-series recurrence is bounded by the same recurrence run on absolute
values (Wilkinson's running error analysis; Griewank & Walther, *Evaluating Derivatives*,
ch. 13): if M_k majorizes every term summed into coefficient k, the computed coefficient is
off by at most ~ c·k·eps·M_k. So a propagation here carries, for every node, the pair
(series, majorant) stacked on a *lane* axis right after the k axis: ``(K+1, 2, *rest)`` with
lane 0 the float64 series and lane 1 its majorant (≥ 0). Where the majorant is the same rule
on the stacked lanes (sums, products, moves: positive polynomials of the coefficients) it costs
no extra numpy call; the recurrences (exp, sin/cos, division, the chain rules) run both lanes
in one loop with per-lane heads and signs. Division majorizes through the comparison series
⟨b⟩ = [|b_0|, −|b_1|, …], which grows exactly as its rounding errors do (1/t₀ per order for
sin(t)/t).

An op without a majorant of its own here (a rule added in another module) gets a generic one:
the response of its own rule to a perturbation of its inputs by a small multiple of their
majorants (random signs, two probes), which measures how the rule amplifies errors in what it
is given, plus the magnitude of what it returns. That is the rounding-error meaning of the
majorant (errors in, errors out), not a derivative: it is used for the estimate only.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.ir.evaluate import Plan
from engine.ir.graph import Graph
from engine.ir.ops import PRIMITIVES, Op
from engine.taylor_mode import rules as T
from engine.taylor_mode import series as S
from engine.taylor_mode.gathers import COS, COSH, EXP, SIN, SINH, Entire, Series, compose_bounded
from engine.taylor_mode.propagation import (
    _program,
    constant_series,
    not_moving,
    per_plan,
    run_steps,
)

EPS = float(np.finfo(np.float64).eps) / 2
"""Unit roundoff of float64."""

Majorant = Callable[..., Series]
"""``rule(*stacked)``: stacked (series, majorant) arguments -> the stacked result."""


def stack(value: np.ndarray, majorant: np.ndarray) -> np.ndarray:
    """(K+1, *rest) twice -> (K+1, 2, *rest)."""
    if value.shape != majorant.shape:
        value, majorant = np.broadcast_arrays(value, majorant)
    out = np.empty((len(value), 2, *value.shape[1:]), dtype=value.dtype)
    out[:, 0] = value
    out[:, 1] = majorant
    return out


def _lane(values: tuple[float, float], like: np.ndarray) -> np.ndarray:
    """Per-lane constants shaped to broadcast against a coefficient (2, *rest)."""
    return np.array(values).reshape((2,) + (1,) * (like.ndim - 1))


def _heads(value: np.ndarray, bound: np.ndarray | None = None) -> np.ndarray:
    """Stacked constant terms: the value, and |value| (or ``bound``) as the majorant's."""
    return np.stack(np.broadcast_arrays(value, np.abs(value) if bound is None else bound))


# --- majorants of the hand-written rules -----------------------------------------------------

def _sub(a: Series, b: Series) -> Series:
    a, b = S.pad(a, b)
    return a + _lane((-1.0, 1.0), b[0]) * b


def _neg(x: Series) -> Series:
    return x * _lane((-1.0, 1.0), x[0])


def _div(a: Series, b: Series) -> Series:
    a, b = S.broadcast(a, b)
    comparison = b.copy()
    comparison[1:, 1] = -b[1:, 1]
    comparison[0, 1] = np.abs(b[0, 0])
    return S.div_series(a, comparison)


def _reciprocal(u: Series) -> Series:
    return _div(S.one_like(u), u)


def _exp(x: Series) -> Series:
    """exp: y' = y·x' on both lanes (the majorant's head is exp(x0) too)."""
    short = compose_bounded(x, EXP)  # short: Faà di Bruno gathers, as the rule does
    if short is not None:
        return short
    return S.exp_ode(S.deriv(x), _heads(np.exp(x[0, 0])))


def _expm1(x: Series) -> Series:
    x0 = x[0, 0]
    y = _exp(x)
    y[0, 0] = np.expm1(x0)
    y[0, 1] = np.maximum(y[0, 1], np.abs(y[0, 0]))
    return y


def _pair(f: Entire, which: int, sign: float, s0: Callable[[np.ndarray], np.ndarray],
          c0: Callable[[np.ndarray], np.ndarray]) -> Majorant:
    """sin/cos (sign −1), sinh/cosh (+1): s' = c·x', c' = sign·s·x' on both lanes, the
    majorant's with sign +1 and heads |s0|, |c0|."""

    def rule(x: Series) -> Series:
        short = compose_bounded(x, f)
        if short is not None:
            return short
        x0 = x[0, 0]
        s, c = s0(x0), c0(x0)
        pair = S.pair_ode(x, _heads(s), _heads(c), _lane((sign, 1.0), x[0]))
        return pair[which]

    return rule


def _integrate(head: np.ndarray, slope: Series) -> Series:
    """y from y(0) = head and the stacked series of y'."""
    return S.integrate(_heads(head), slope)


def _chain(value: Callable[[np.ndarray], np.ndarray], slope: Callable[[Series], Series]
           ) -> Majorant:
    """The majorant form of :func:`engine.taylor_mode.rules._chain_rule`: y' = f'(x)·x'."""

    def rule(x: Series) -> Series:
        order = len(x) - 1
        head = value(x[0, 0])
        if not order:
            return _heads(head)[None]
        return _integrate(head, S.mul_series(slope(x[:order]), S.deriv(x)))

    return rule


def _shift(x: Series, c: float) -> Series:
    u = x.copy()
    u[0] += c
    return u


def _one_plus_square(x: Series) -> Series:
    return _shift(S.mul_series(x, x), 1.0)


def _erf_slope(x: Series) -> Series:
    x0 = x[0, 0]
    e = T._TWO_OVER_SQRT_PI * np.exp(-x0 * x0)
    return S.exp_ode(S.deriv(_neg(S.mul_series(x, x))), _heads(e))


def _abs(x: Series) -> Series:
    y = x.copy()
    y[:, 0] *= np.sign(x[0, 0])
    y[0, 0] = np.abs(x[0, 0])
    return y


def _relu(x: Series) -> Series:
    return np.where(x[0, 0] > 0, x, 0.0)


def _picks(a: Series, b: Series, first: np.ndarray, second: np.ndarray) -> Series:
    return np.where(first, a, np.where(second, b, 0.5 * (a + b)))


def _max(a: Series, b: Series) -> Series:
    a, b = S.broadcast(a, b)
    return _picks(a, b, a[0, 0] > b[0, 0], a[0, 0] < b[0, 0])


def _min(a: Series, b: Series) -> Series:
    a, b = S.broadcast(a, b)
    return _picks(a, b, a[0, 0] < b[0, 0], a[0, 0] > b[0, 0])


def _where(cond: Series, a: Series, b: Series) -> Series:
    cond, a, b = S.broadcast(cond, a, b)
    return np.where(cond[0, 0] != 0, a, b)


def _constant_result(rule: Callable[..., Series]) -> Majorant:
    """Piecewise-constant ops (sign, comparisons): exact values, no rounding to carry."""

    def majorant(*xs: Series) -> Series:
        y = rule(*[x[:, 0] for x in xs])
        return stack(y, np.abs(y))

    return majorant


_POSITIVE = frozenset({Op.ADD, Op.MUL, Op.MATMUL, Op.BROADCAST, Op.RESHAPE, Op.SUM, Op.INDEX,
                       Op.SCATTER, Op.STACK, Op.TRANSPOSE})
"""Ops whose rule is a positive polynomial of the coefficients (sums, products, moves): the
rule itself applied to the majorant lane majorizes."""

_MAJORANTS: dict[str, Majorant] = {
    Op.SUB: _sub, Op.NEG: _neg, Op.DIV: _div,
    Op.EXP: _exp, Op.EXPM1: _expm1,
    Op.SIN: _pair(SIN, 0, -1.0, np.sin, np.cos), Op.COS: _pair(COS, 1, -1.0, np.sin, np.cos),
    Op.SINH: _pair(SINH, 0, 1.0, np.sinh, np.cosh),
    Op.COSH: _pair(COSH, 1, 1.0, np.sinh, np.cosh),
    Op.LOG: _chain(np.log, _reciprocal),
    Op.LOG1P: _chain(np.log1p, lambda x: _reciprocal(_shift(x, 1.0))),
    Op.ATAN: _chain(np.arctan, lambda x: _reciprocal(_one_plus_square(x))),
    Op.ERF: _chain(T.special.erf, _erf_slope),
    Op.ERFC: _chain(T.special.erfc, lambda x: _neg(_erf_slope(x))),
    Op.ABS: _abs, Op.RELU: _relu, Op.MAX: _max, Op.MIN: _min, Op.WHERE: _where,
    Op.SIGN: _constant_result(T.sign_series),
    **{op: _constant_result(PRIMITIVES[op].taylor(())) for op in
       (Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE)},
}
"""Majorant rules written for an op (the others are positive or take the generic probe)."""


# --- the generic majorant ----------------------------------------------------------------------

_PROBE = 2.0 ** -26
"""Relative size of the probing perturbation: far above rounding (2^-53), far below the
nonlinearity of a smooth rule."""


@functools.lru_cache(maxsize=64)
def _signs(shape: tuple[int, ...], seed: int) -> np.ndarray:
    signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=shape)
    signs.flags.writeable = False
    return signs


def _probe(rule: Callable[..., Series]) -> Majorant:
    """The generic majorant: |y| plus twice the largest response of the rule to perturbing
    every input coefficient by ±2^-26 of its majorant, rescaled by 2^26."""

    def majorant(*xs: Series) -> Series:
        values = [x[:, 0] for x in xs]
        y = np.asarray(rule(*values), dtype=np.float64)
        response = np.zeros(y.shape)
        for seed in (1, 2):
            moved = [v + _PROBE * x[:, 1] * _signs(v.shape, seed + i)
                     for i, (v, x) in enumerate(zip(values, xs, strict=True))]
            change = np.abs(np.asarray(rule(*moved), dtype=np.float64) - y)
            response = np.maximum(response, np.where(np.isnan(change), np.inf, change))
        return stack(y, np.abs(y) + 2.0 / _PROBE * response)

    return majorant


def _powc(p: float) -> Majorant:
    rule = S.powc_rule(p)
    exact = float(p).is_integer() and p >= 0

    def majorant(x: Series) -> Series:
        if exact and p < len(x):  # products only: positive
            return rule(x)
        return _probe(rule)(x)

    return majorant


_POW_PROBE = _probe(PRIMITIVES[Op.POW].taylor(()))


def _pow(x: Series, y: Series) -> Series:
    """x**y: the generic majorant, except that an integer exponent that does not move, on a
    negative base, is not probed: x**y is only defined at that exponent, and exactly the
    integer power there (probing it would leave the domain and call the power unbounded)."""
    x, y = S.broadcast(x, y)
    y0 = y[0, 0]
    frozen = (x[0, 0] < 0) & (y0 == np.round(y0)) & ~np.any(y[1:, 0] != 0, axis=0)
    if frozen.any():
        y = y.copy()
        y[:, 1] = np.where(frozen, 0.0, y[:, 1])
    return _POW_PROBE(x, y)


def majorant_rule(op: str, params: tuple[Any, ...]) -> Majorant:
    """The stacked rule of one node (see the module docstring)."""
    if op == Op.POWC:
        return _powc(params[0])
    if op == Op.POW:
        return _pow
    found = _MAJORANTS.get(op)
    if found is not None:
        return found
    rule = PRIMITIVES[op].taylor(params)
    if op in _POSITIVE:
        return rule
    return _probe(rule)


# --- propagation ---------------------------------------------------------------------------

class _Steps:
    """A plan's program with each node's stacked rule (monomial blocks are positive)."""

    def __init__(self, g: Graph, plan: Plan) -> None:
        program = _program(g, plan)
        self.consts = program.consts
        self.const_ids = program.const_ids
        self.steps = [(nid, rule if nid < 0 else majorant_rule(g.nodes[nid].op,
                                                               g.nodes[nid].params), args, done)
                      for nid, rule, args, done in program.steps]
        self._const_series: dict[tuple[int, int], dict[int, np.ndarray]] = {}

    def constants(self, order: int, prefix_rank: int) -> dict[int, np.ndarray]:
        """Read-only stacked series of the plan's constants, cached per (order, prefix)."""
        key = (order, prefix_rank)
        found = self._const_series.get(key)
        if found is None:
            lead = (1,) * (prefix_rank - 1)  # the lane axis is the first prefix axis
            found = {}
            for nid, value, shape in self.consts:
                c = constant_series(value.reshape(lead + shape), order)
                found[nid] = stack(c, np.abs(c))
                found[nid].flags.writeable = False
            if len(self._const_series) >= 8:
                self._const_series.clear()
            self._const_series[key] = found
        return found


_STEPS: dict[int, tuple[weakref.ref[Plan], _Steps]] = {}


def _steps(g: Graph, plan: Plan) -> _Steps:
    return per_plan(_STEPS, g, plan, _Steps)


def propagate_bounded(g: Graph, plan: Plan, feeds: dict[int, np.ndarray], order: int,
                      prefix_rank: int, lanes: bool = False) -> list[np.ndarray]:
    """Like :func:`engine.taylor_mode.propagation.propagate`, on stacked feeds
    ``(K+1, 2, *prefix, *shape)``: the outputs' series and majorants, stacked. ``lanes``: keep
    each node constant in the lanes where its inputs are (see ``run_steps``)."""
    program = _steps(g, plan)
    values: dict[int, Any] = dict(feeds)
    if program.consts:
        values.update(program.constants(order, prefix_rank))
    run_steps(program.steps, values, g, not_moving(feeds) | program.const_ids, _lift_bounded,
              (0, 1) if lanes else ())
    return [values[o].copy() if o in program.const_ids else values[o] for o in plan.outputs]


def _lift_bounded(node: Any, args: list[np.ndarray]) -> np.ndarray:
    """A node that does not move: its forward value, its majorant that value's size."""
    value = np.asarray(PRIMITIVES[node.op].forward(node.params, *[a[0, 0] for a in args]),
                       dtype=np.float64)
    out = np.zeros((len(args[0]), 2, *value.shape))
    out[0, 0] = value
    np.abs(value, out=out[0, 1])
    return out


def bound_feed(series: np.ndarray) -> np.ndarray:
    """An input series stacked with its majorant (its absolute value: inputs are exact)."""
    out = np.empty((len(series), 2, *series.shape[1:]))
    out[:, 0] = series
    np.abs(series, out=out[:, 1])
    return out


def rounding_factor(order: int, steps: int) -> np.ndarray:
    """c_k (k = 0..order) with error_k ≈ c_k · M_k: eps times the roundings that can reach
    coefficient k (about k per recurrence, one per node on the way)."""
    return EPS * (np.arange(order + 1, dtype=np.float64) + 2.0 + steps)


def rounding_at(k: int, steps: int) -> float:
    """c_k of :func:`rounding_factor` for one k."""
    return EPS * (k + 2.0 + steps)
