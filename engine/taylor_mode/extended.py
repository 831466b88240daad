"""Extended precision for Taylor mode, and the accuracy verdict on every answer.

The same rules run on numpy object arrays of mpmath numbers (:mod:`engine.taylor_mode.heads`)
in a private mpmath context per precision (never the global ``mp``, which other threads use).
The working precision is the wanted one plus the digits the float64 majorant says the
recurrences lose (log10 of M_k/|c_k|), plus a margin, so one run suffices.

:func:`settle` applies the request's ``precision`` to one answer field: ``"float64"`` keeps
the float64 numbers, ``"auto"`` recomputes the points whose estimated relative error misses
``accuracy_target``, an integer recomputes everything at that many digits; every number whose
estimate stays above the target is named in ``warnings``.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

from engine.compiled import Compiled
from engine.errors import InputError, LimitError
from engine.ir.evaluate import Plan
from engine.ir.ops import Op
from engine.limits import Limits
from engine.taylor_mode.accuracy import EPS
from engine.taylor_mode.heads import CONTEXT
from engine.taylor_mode.propagation import propagate

SUPPORTED = frozenset({
    Op.SIN, Op.COS, Op.TAN, Op.ASIN, Op.ACOS, Op.ATAN, Op.SINH, Op.COSH, Op.TANH, Op.ASINH,
    Op.ACOSH, Op.ATANH, Op.EXP, Op.EXPM1, Op.LOG, Op.LOG1P, Op.SQRT, Op.CBRT, Op.ERF, Op.ERFC,
    Op.SIGMOID, Op.SOFTPLUS, Op.ABS, Op.SIGN, Op.RELU, Op.POWC, Op.NEG, Op.ADD, Op.SUB, Op.MUL,
    Op.DIV, Op.POW, Op.ATAN2, Op.MAX, Op.MIN, Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE,
    Op.WHERE, Op.BROADCAST, Op.RESHAPE, Op.SUM, Op.INDEX, Op.STACK, Op.TRANSPOSE, Op.MATMUL,
    Op.NORM, Op.FLOOR, Op.CEIL, Op.ROUND, Op.FLOOR_DIVIDE, Op.MOD, Op.CLIP, Op.AMAX, Op.AMIN,
    Op.MAXSHIFT, Op.SCATTER, Op.LOGIT, Op.LOGADDEXP, Op.GAMMA, Op.LGAMMA, Op.DIGAMMA,
    Op.POLYGAMMA, Op.BETA, Op.ERFINV, Op.ERFCINV, Op.BESSEL_J, Op.BESSEL_Y, Op.BESSEL_I,
    Op.INV, Op.DET, Op.SOLVE, Op.CHOLESKY, Op.LOGABSDET, Op.DETSIGN, Op.SINC,
    Op.TANH_SLOPE, Op.SIGMOID_SLOPE})
"""Ops whose rules are known to run on object arrays without a float64 buffer in between,
listed one by one so that a new op is refused until its rule is checked."""

COST = 400.0
"""Extended-precision work per float64 element operation (an mpmath operation takes
microseconds, a numpy element nanoseconds), for the work estimate."""

_MARGIN = 8
"""Decimal digits beyond the estimated loss, so the estimate's own slack is covered."""

MAX_WORKING_DIGITS = 2000
"""Most decimal digits a recomputation works at (past it the loss is not worth chasing)."""


@dataclass(frozen=True)
class Precision:
    """The request's ``precision``: ``digits`` None for float64, and whether auto."""

    auto: bool
    digits: int | None


def parse_precision(value: Any, limits: Limits) -> Precision:
    """``"auto"`` (default), ``"float64"`` or an integer 16..``max_precision`` digits."""
    if value is None or value == "auto":
        return Precision(True, None)
    if value == "float64":
        return Precision(False, None)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError('precision must be "auto", "float64" or a number of decimal digits',
                         loc=("body", "precision"))
    if value < 16:
        raise InputError(f"precision must be at least 16 digits (float64 has ~16), got "
                         f"{value}", loc=("body", "precision"))
    if value > limits.max_precision:
        raise LimitError("max_precision", limits.max_precision, int(value),
                         loc=("body", "precision"), what="the requested decimal digits")
    return Precision(False, int(value))


@functools.lru_cache(maxsize=32)
def context(digits: int) -> Any:
    """A private mpmath context at ``digits`` decimal digits (read-only once made)."""
    ctx = mpmath.MPContext()
    ctx.dps = digits
    return ctx


def unsupported(c: Compiled, plan: Plan) -> list[str]:
    """The ops of ``plan`` that cannot run in extended precision."""
    return sorted({c.graph.nodes[nid].op for nid in plan.order
                   if c.graph.nodes[nid].op not in ("const", "input")
                   and c.graph.nodes[nid].op not in SUPPORTED})


def to_objects(ctx: Any, arr: np.ndarray) -> np.ndarray:
    """float64 -> object array of exact mpf."""
    out = np.empty(arr.shape, dtype=object)
    flat, src = out.reshape(-1), arr.reshape(-1)
    for i in range(src.size):
        flat[i] = ctx.mpf(float(src[i]))
    return out


def run_extended(c: Compiled, plan: Plan, feeds: dict[int, np.ndarray], order: int,
                 digits: int) -> np.ndarray:
    """The plan's output series with float64 ``feeds`` converted and every rule run at
    ``digits`` decimal digits (object array)."""
    ctx = context(digits)
    token = CONTEXT.set(ctx)
    try:
        (out,) = propagate(c.graph, plan, {k: to_objects(ctx, v) for k, v in feeds.items()},
                           order, 2)
    finally:
        CONTEXT.reset(token)
    return np.asarray(out, dtype=object)


def working_digits(wanted: float, relative: np.ndarray) -> int:
    """Digits for ``wanted`` correct ones when float64 lost log10(relative / eps) of them."""
    finite = relative[np.isfinite(relative)]
    loss = math.log10(max(float(finite.max()) if finite.size else 1.0, EPS) / EPS)
    if finite.size < relative.size:
        loss = max(loss, 300.0)  # a majorant that overflowed: lost at least float64's range
    return int(min(math.ceil(wanted + loss + _MARGIN), MAX_WORKING_DIGITS))


def bits(digits: int) -> int:
    """Binary precision of a context of ``digits`` decimal digits."""
    return int(context(digits).prec)


Recompute = Callable[[np.ndarray, int], np.ndarray]
"""``recompute(points, digits)``: the field at those points (indices into the batch axis),
computed at ``digits`` decimal digits, as an object array (len(points), *shape)."""


def _relative(value: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """bound/|value|: 0 for a zero bound and for a non-finite value (named apart), inf for a
    zero value with a positive bound (nothing is known of its digits)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(np.isfinite(value) & (bound != 0), bound / np.abs(value), 0.0)
    return np.where(np.isnan(rel), np.inf, rel)


def _decimal(ctx: Any, v: Any, digits: int) -> str | None:
    if not ctx.isfinite(v):
        return None
    return str(ctx.nstr(v, digits, strip_zeros=False))


def _recompute(recompute: Recompute, points: np.ndarray, wanted: int, rel: np.ndarray,
               bound: np.ndarray, seconds: float
               ) -> tuple[np.ndarray, int, np.ndarray] | None:
    """The field at ``points`` with ``wanted`` correct digits by the majorant's reckoning, the
    digits used and the bound: a first run sized from the float64 estimate, then more digits
    while the extended result shows that more were lost (the float64 value the first guess
    divides by may itself be garbage)."""
    digits = working_digits(wanted, rel)
    start = time.monotonic()
    for attempt in range(4):
        if digits >= MAX_WORKING_DIGITS:
            return None
        if attempt and time.monotonic() - start > seconds:
            break  # out of time: answer the best so far (the warning says it is short)
        exact, used = recompute(points, digits), digits
        exact_bound = bound * (2.0 ** -bits(digits) / EPS)
        size = np.abs(np.vectorize(float, otypes=[np.float64])(exact))
        # an exact zero in extended precision is taken as the answer (a rounded nonzero
        # number is not exactly zero)
        with np.errstate(divide="ignore", invalid="ignore"):
            achieved = np.where(np.isfinite(size) & np.isfinite(exact_bound) & (size != 0),
                                exact_bound / size, 0.0)
        achieved = np.where(np.isnan(achieved), np.inf, achieved)
        worst = float(achieved.max()) if achieved.size else 0.0
        if worst <= 10.0 ** -(wanted + 1):
            return exact, used, exact_bound
        # a result that is still garbage only shows that more than (digits − 16) were lost:
        # double the digits rather than add what this estimate says
        short = 300.0 if not math.isfinite(worst) else math.log10(worst) + wanted + 1
        digits = int(max(2 * digits, digits + math.ceil(short) + _MARGIN))
    return exact, used, exact_bound


def settle(out: dict[str, Any], field: str, value: np.ndarray, bound: np.ndarray,
           precision: Precision, limits: Limits, work: float,
           missing: Callable[[], list[str]], recompute: Recompute
           ) -> tuple[np.ndarray, np.ndarray, list[Any] | None]:
    """Apply ``precision`` to ``field`` (value and bound over (B, *shape)): the values and
    bounds to answer, the decimal strings for an explicit precision, and warnings in ``out``.
    ``missing()`` names the ops that cannot run in extended precision.
    """
    target = limits.accuracy_target
    if precision.digits is None and (bound <= target * np.abs(value)).all():
        return value, bound, None  # every number within the target: nothing to do
    value = np.array(value, dtype=np.float64)
    bound = np.array(bound, dtype=np.float64)
    rel = _relative(value, bound)
    note = ""
    decimals = None
    if precision.digits is not None or (precision.auto and (rel > target).any()):
        points = (np.arange(value.shape[0]) if precision.digits is not None
                  else np.flatnonzero((rel > target).reshape(value.shape[0], -1).any(axis=1)))
        cost = work * COST * max(len(points), 1) / max(value.shape[0], 1)
        lacking = missing()
        if lacking:
            note = f"extended precision not available for {', '.join(lacking)}"
        elif work + cost > limits.max_work:
            note = (f"extended precision not tried: it would take the work estimate to "
                    f"{work + cost:.3g}, over max_work = {limits.max_work:.3g}")
        else:
            # auto: enough digits that the float64 answer is correctly rounded
            wanted = precision.digits if precision.digits is not None else 17
            found = None
            try:
                found = _recompute(recompute, points, wanted, rel[points], bound[points],
                                   limits.max_extended_seconds)
            except ZeroDivisionError:  # mpmath raises where float64 gives inf or nan
                note = ("extended precision failed: a division by zero at this point "
                        "(another entry is not finite)")
            else:
                if found is None:
                    note = "extended precision not tried: the float64 estimate lost every digit"
            if found is not None:
                exact, digits, exact_bound = found
                got = np.vectorize(float, otypes=[np.float64])(exact)
                floor = EPS * np.abs(got)  # the final rounding to float64
                answered = np.maximum(exact_bound, floor)
                if precision.digits is not None:
                    value[points], bound[points] = got, answered
                    ctx = context(digits)
                    shown = precision.digits
                    decimals = np.vectorize(lambda v: _decimal(ctx, v, shown),
                                            otypes=[object])(exact)
                else:
                    picked = rel[points] > target
                    sub, sub_b = value[points], bound[points]
                    sub[picked], sub_b[picked] = got[picked], answered[picked]
                    value[points], bound[points] = sub, sub_b
                zero = np.zeros(value.shape, dtype=bool)
                zero[points] = got == 0
                rel = np.where(zero, 0.0, _relative(value, bound))
                note = f"extended precision tried ({digits} digits)"
    over = (rel > target) & np.isfinite(value)
    if over.any():
        worst = float(rel[over].max())
        why = note or ("extended precision not tried: precision is float64"
                       if precision.digits is None and not precision.auto else
                       "extended precision not tried")
        out["warnings"].append(
            f"{field}: {int(over.sum())} number(s) with estimated relative error above the "
            f"accuracy target {target:g} (up to {worst:.2g}); {why}")
    return value, bound, None if decimals is None else decimals.tolist()
