"""Higher-order operations by Taylor-mode propagation: ``derivative`` and ``taylor``.

A d-th derivative along one variable is the d-th normalized coefficient of the series
t -> f(x0 + t·e) times d!; a mixed partial interpolates the d-th coefficients along the integer
rays of :mod:`engine.taylor_mode.interpolation`, all rays propagated together as one batch
axis. Factorials are applied only at the end, exactly (n! as a big integer, scaled into
float64 range).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.compiled import Compiled
from engine.errors import InputError, LimitError
from engine.ir.evaluate import Plan
from engine.ir.graph import Shape
from engine.jobs import Job, Result, base, batch
from engine.limits import Limits
from engine.requests import Inputs, check_derivative_fields, labels, parse_label
from engine.taylor_mode.accuracy import (
    EPS,
    bound_feed,
    propagate_bounded,
    rounding_at,
    rounding_factor,
)
from engine.taylor_mode.extended import (
    COST,
    Precision,
    Recompute,
    context,
    parse_precision,
    run_extended,
    settle,
    unsupported,
)
from engine.taylor_mode.interpolation import compositions, exact_weights, table_size, weights
from engine.taylor_mode.propagation import constant_series, propagate
from engine.undefined import all_finite

Entry = tuple[str, tuple[int, ...]]


@np.errstate(over="ignore", invalid="ignore")  # the decorator form: cheaper than a ``with``
def times_factorial(c: np.ndarray, n: int, less: np.ndarray | int = 0) -> np.ndarray:
    """``c · n! / 2**less`` without forming n! in float64 (it overflows past 170!)."""
    f = math.factorial(n)
    shift = max(f.bit_length() - 62, 0)
    return np.ldexp(c * float(f >> shift), shift - less)


def _order(value: Any, field: str, limit: int, limit_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{field} must be a non-negative integer", loc=("body", field))
    if value < 0:
        raise InputError(f"{field} must be a non-negative integer, got {value}",
                         loc=("body", field))
    if value > limit:
        raise LimitError(limit_name, limit, int(value), loc=("body", field),
                         what=f"the requested {field}")
    return int(value)


def _series_feeds(c: Compiled, inp: Inputs, order: int, directions: dict[str, np.ndarray],
                  bounded: bool = False) -> dict[int, np.ndarray]:
    """Input series x0 + t·direction, with prefix (N or 1, rays); constants are constant.

    ``bounded``: each stacked with its majorant (:mod:`engine.taylor_mode.accuracy`).
    """
    feeds = {}
    for name, arr in inp.values.items():
        x0 = arr.reshape((*arr.shape[:1], 1, *arr.shape[1:]))
        direction = directions.get(name)
        shape = x0.shape if direction is None else np.broadcast_shapes(x0.shape,
                                                                        direction.shape)
        series = np.zeros((order + 1, *shape))
        series[0] = x0
        if direction is not None and order >= 1:
            series[1] = direction
        feeds[c.inputs[name]] = bound_feed(series) if bounded else series
    for name, arr in inp.constants.items():
        series = constant_series(arr.reshape((1, 1, *arr.shape)), order)
        feeds[c.inputs[name]] = bound_feed(series) if bounded else series
    return feeds


def _ray_directions(inp: Inputs, entries: list[Entry], rays: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """Per variable, the (1, R, *shape) array whose ray r moves entry e by rays[r, e]."""
    out: dict[str, np.ndarray] = {}
    for e, (name, idx) in enumerate(entries):
        d = out.setdefault(name, np.zeros((1, len(rays), *inp.shapes[name])))
        key: tuple[Any, ...] = (0, slice(None), *idx)
        d[key] = rays[:, e]
    return out


class Along:
    """The series of f along one entry, (K+1, N|1, L, *shape), and its majorant.

    ``run(exponents)`` propagates along the directions 2**e for each of the L exponents
    (exact: coefficient k comes out multiplied by 2**(e·k)); without exponents L = 1, e = 0.
    """

    def __init__(self, c: Compiled, inp: Inputs, entry: Entry, order: int,
                 bounded: bool = True) -> None:
        self.c, self.inp, self.entry, self.order = c, inp, entry, order
        self.bounded = bounded
        self.plan = c.plan("value", lambda: [c.output])
        name, idx = entry
        self.direction = np.zeros((1, 1, *inp.shapes[name]))
        self.direction[(0, 0, *idx)] = 1.0
        self.work = self.plan.elements * inp.n * (order + 1) ** 2

    def directions(self, exponents: np.ndarray | None) -> dict[str, np.ndarray]:
        """The input direction: the entry's unit vector, or 2**e of it per exponent lane."""
        d = self.direction
        if exponents is not None:
            rank = len(self.inp.shapes[self.entry[0]])
            d = d * np.ldexp(1.0, exponents).reshape((1, -1) + (1,) * rank)
        return {self.entry[0]: d}

    def run(self, exponents: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The float64 series and its majorant (zeros when not ``bounded``)."""
        feeds = _series_feeds(self.c, self.inp, self.order, self.directions(exponents),
                              self.bounded)
        if not self.bounded:
            (s,) = propagate(self.c.graph, self.plan, feeds, self.order, 2)
            s = _along_rays(s, 1 if exponents is None else len(exponents))
            return s, np.broadcast_to(0.0, s.shape)
        (out,) = propagate_bounded(self.c.graph, self.plan, feeds, self.order, 3)
        out = _along_rays(out, 1 if exponents is None else len(exponents), axis=3)
        return out[:, 0], out[:, 1]

    def steps(self) -> int:
        """Nodes a rounding error can pass through on its way to the output."""
        return len(self.plan.order)


_TINY = 2.0 ** -900
"""Below this a coefficient is near float64's underflow and loses its digits."""


def _underflowing(s: np.ndarray, n: int) -> np.ndarray:
    """Per entry of ``s`` (K+1, B, M): whether coefficient n underflowed.

    A series that ends in exact zeros after a normal-sized coefficient is a polynomial and its
    zeros are true; one whose last nonzero coefficient is already tiny has underflowed.
    """
    mag = np.abs(s)
    cn = mag[n]
    if (cn >= _TINY).all():  # the common case, in two numpy calls
        return np.zeros(cn.shape, dtype=bool)
    nonzero = mag != 0
    last = s.shape[0] - 1 - np.argmax(nonzero[::-1], axis=0)
    has = nonzero.any(axis=0)
    last_mag = np.take_along_axis(mag, last[None], axis=0)[0]
    return ((cn == 0) & has & (last_mag < _TINY)) | ((cn != 0) & (cn < _TINY))


_LANES = 32
"""Most directions propagated together while rescuing underflowing entries."""


@np.errstate(all="ignore")
def _derivative_series(along: Along, n: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The series, majorant and exponent per entry for which coefficient n is not lost to
    underflow: (K+1, B, *shape) twice and (B, *shape).

    High derivatives of entire functions (order 1000 of sin(t**3)) have normalized
    coefficients below 1e-308 though the derivative itself is representable or overflows:
    those entries are redone along a direction 2**e, e found by bisection between underflow of
    coefficient n and overflow of that entry's largest coefficient. Each entry has its own
    exponent (``[exp(x - 650), 1/x, x**3]`` needs one for the first entry only), and an entry
    that is not finite to begin with never counts as overflowing.
    """
    s, m = along.run()
    shape = s.shape[3:]
    flat = s[:, :, 0].reshape(s.shape[0], s.shape[1], -1)
    flat_m = m[:, :, 0].reshape(flat.shape)
    bad = _underflowing(flat, n)
    if not bad.any():
        return s[:, :, 0], m[:, :, 0], np.zeros(s.shape[1:2] + shape, dtype=np.int64)
    finite = np.isfinite(flat).all(axis=0)
    lo = np.zeros(bad.shape, dtype=np.int64)
    hi = np.full(bad.shape, 1100, dtype=np.int64)
    exponent = np.where(bad, _first_guess(flat, n), 0)
    best, best_m, best_e = flat.copy(), flat_m.copy(), np.zeros_like(exponent)
    for _ in range(12):
        cand, cand_m = flat.copy(), flat_m.copy()
        wanted = np.unique(exponent[bad])
        for start in range(0, len(wanted), _LANES):
            lanes = wanted[start:start + _LANES]
            ls, lm = along.run(lanes)
            ls = ls.reshape(ls.shape[0], ls.shape[1], len(lanes), -1)
            lm = lm.reshape(ls.shape)
            pos = np.clip(np.searchsorted(lanes, exponent), 0, len(lanes) - 1)
            here = bad & (lanes[pos] == exponent)
            pick = pos[None, :, None, :]
            got = np.take_along_axis(ls, pick, axis=2)[:, :, 0]
            got_m = np.take_along_axis(lm, pick, axis=2)[:, :, 0]
            cand = np.where(here, got, cand)
            cand_m = np.where(here, got_m, cand_m)
        under = _underflowing(cand, n) & bad
        over = ~np.isfinite(cand).all(axis=0) & finite & bad
        good = bad & ~under & ~over
        best = np.where(good, cand, best)
        best_m = np.where(good, cand_m, best_m)
        best_e = np.where(good, exponent, best_e)
        bad = under | over
        if not bad.any() or (hi - lo <= 1)[bad].all():
            break
        lo = np.where(under, exponent, lo)
        hi = np.where(over, exponent, hi)
        exponent = np.where(bad, (lo + hi) // 2, exponent)
    full = (s.shape[0], best.shape[1], *shape)
    return best.reshape(full), best_m.reshape(full), best_e.reshape(full[1:])


def _first_guess(flat: np.ndarray, n: int) -> np.ndarray:
    """An exponent per entry that lifts coefficient n to about 1, extrapolating the decay of
    the last normal-sized coefficients (a guess: the bisection corrects it)."""
    mag = np.abs(flat)
    with np.errstate(divide="ignore"):
        logs = np.where(mag >= _TINY, np.log2(np.where(mag > 0, mag, 1.0)), -np.inf)
    k = np.arange(flat.shape[0]).reshape(-1, 1, 1)
    m = np.max(np.where(np.isfinite(logs), k, 0), axis=0)
    half = m // 2
    lm = np.take_along_axis(logs, m[None], axis=0)[0]
    lh = np.take_along_axis(logs, half[None], axis=0)[0]
    slope = np.where(m > half, (lm - lh) / np.maximum(m - half, 1), -1.0)
    predicted = lm + np.minimum(slope, -1.0) * (n - m)
    need = np.ceil(-predicted / max(n, 1))
    return np.clip(np.nan_to_num(need, nan=1.0, posinf=1000, neginf=1), 1, 1000).astype(np.int64)


def _unscaled_derivative(s: np.ndarray, k: int, exponent: np.ndarray) -> np.ndarray:
    """d^k f from coefficient k of a series along 2**exponent: c_k · k! / 2**(exponent·k)."""
    return times_factorial(s[k], k, exponent * k)


@functools.lru_cache(maxsize=1024)
def _parsed_labels(labels_: tuple[Any, ...], shapes: tuple[tuple[str, Shape], ...], field: str
                   ) -> tuple[Entry, ...]:
    """Entries of valid labels, remembered: a warm request should not re-run the regexes."""
    table = dict(shapes)
    return tuple(parse_label(lab, table, ("body", field, i)) for i, lab in enumerate(labels_))


def _entries(labels_: list[Any], inp: Inputs, field: str) -> list[Entry]:
    try:
        return list(_parsed_labels(tuple(labels_), tuple(inp.shapes.items()), field))
    except TypeError:  # an unhashable label: parse_label reports it
        return [parse_label(lab, inp.shapes, ("body", field, i))
                for i, lab in enumerate(labels_)]


def _subset(inp: Inputs, points: np.ndarray) -> Inputs:
    """``inp`` restricted to some points of its batch (all of a single point)."""
    values = {k: v if v.shape[0] == 1 else v[points] for k, v in inp.values.items()}
    return dataclasses.replace(inp, values=values,
                               batch=None if inp.batch is None else len(points))


def _batched(arr: np.ndarray, inp: Inputs) -> np.ndarray:
    """(N|1, *shape) -> (N, *shape)."""
    if arr.shape[0] == inp.n:
        return arr
    return np.broadcast_to(arr, (inp.n, *arr.shape[1:]))


def _answer(out: Result, field: str, value: np.ndarray, bound: np.ndarray, inp: Inputs,
            c: Compiled, precision: Precision, limits: Limits, work: float,
            missing: Callable[[], list[str]], recompute: Recompute) -> None:
    """Settle ``field`` (value and bound over (N|1, *shape)) and put it in ``out``."""
    value, bound, decimals = settle(out, field, _batched(value, inp), _batched(bound, inp),
                                    precision, limits, work, missing, recompute)
    out[field] = batch(value, inp, c.shape)
    out["error_estimate"] = batch(bound, inp, c.shape)
    if decimals is not None:
        out[f"{field}_decimal"] = decimals[0] if inp.batch is None else decimals


def _exact_factorial(ctx: Any, n: int) -> Any:
    return ctx.mpf(math.factorial(n))


def plan_derivative(c: Compiled, inp: Inputs, limits: Limits, *, variable: Any = None,
                    order: Any = None, wrt: Any = None, all_orders: bool = False,
                    precision: Any = None, estimate: bool = True) -> Job:
    """d^n f/dx^n (``variable`` + ``order``) or a mixed partial (``wrt``), with an error
    estimate and the requested ``precision``.

    ``estimate=False`` (engine callers only, not the API: the benchmarks' baseline) answers
    the float64 numbers of a single-variable derivative without estimate or recomputation.
    """
    check_derivative_fields(variable, order, wrt)
    mode = parse_precision(precision, limits)
    if wrt is not None:
        entries = _entries(list(wrt), inp, "wrt")
        distinct = list(dict.fromkeys(entries))
        if len(distinct) > 1:
            if all_orders:
                raise InputError("all_orders applies to 'variable' + 'order', not to a mixed "
                                 "partial", loc=("body", "all_orders"))
            _order(len(entries), "wrt", limits.max_mixed_order, "max_mixed_order")
            return _plan_mixed(c, inp, limits, entries, distinct, mode)
        entry, n = distinct[0], _order(len(entries), "wrt", limits.max_order, "max_order")
    else:
        if variable is None or order is None:
            raise InputError("'variable' and 'order' go together", loc=("body",))
        (entry,) = _entries([variable], inp, "variable")
        n = _order(order, "order", limits.max_order, "max_order")
    along = Along(c, inp, entry, n, estimate)
    missing = _missing(c, along.plan, mode)

    orders = range(n + 1) if all_orders else range(n, n + 1)

    def recompute(points: np.ndarray, digits: int) -> np.ndarray:
        """The derivatives of ``orders`` at ``points``, (P, len(orders), *shape)."""
        sub = _subset(inp, points)
        feeds = _series_feeds(c, sub, n, along.directions(None))
        s = run_extended(c, along.plan, feeds, n, digits)[:, :, 0]
        s = np.broadcast_to(s, (s.shape[0], len(points), *s.shape[2:]))
        ctx = context(digits)
        return np.stack([s[k] * _exact_factorial(ctx, k) for k in orders], axis=1)

    def compute() -> Result:
        s, m, exponent = _derivative_series(along, n)
        out = base(c, inp, s[0])
        if not estimate:
            out["derivative"] = batch(_unscaled_derivative(s, n, exponent), inp, c.shape)
            return out
        steps = along.steps()
        # value and bound of each order, (2, N|1, orders, *shape): one scaling for both
        if all_orders:
            per = np.stack([times_factorial(np.stack([s[k], m[k] * rounding_at(k, steps)]), k,
                                            exponent * k) for k in orders], axis=2)
        else:
            pair = np.stack([s[n], m[n] * rounding_at(n, steps)])
            per = times_factorial(pair, n, exponent * n)[:, :, None]
        values, bounds = per[0], per[1]
        field = "derivatives" if all_orders else "derivative"
        value, bound, decimals = settle(out, field, _batched(values, inp),
                                        _batched(bounds, inp), mode, limits, along.work,
                                        missing, recompute)
        out["derivative"] = batch(value[:, -1], inp, c.shape)
        out["error_estimate"] = batch(bound[:, -1], inp, c.shape)
        if all_orders:
            out["derivatives"] = value[0] if inp.batch is None else value
        if decimals is not None:
            last = [row[-1] for row in decimals]
            out["derivative_decimal"] = last[0] if inp.batch is None else last
        return out
    return Job(_work(along.work, mode), compute)


def _work(work: float, mode: Precision) -> float:
    """The work estimate, with the extended-precision run an explicit precision asks for."""
    return work * (1.0 + COST) if mode.digits is not None else work


def _missing(c: Compiled, plan: Plan, mode: Precision) -> Callable[[], list[str]]:
    """The ops of ``plan`` extended precision cannot run, looked up when needed; an explicit
    precision refuses them now."""
    if mode.digits is not None:
        found = unsupported(c, plan)
        if found:
            raise InputError(f"precision {mode.digits} is not available for expressions "
                             f"using {', '.join(found)} (their rules work in float64 only)",
                             loc=("body", "precision"))
    return lambda: unsupported(c, plan)


def _along_rays(s: np.ndarray, rays: int, axis: int = 2) -> np.ndarray:
    """``s`` with its ray axis at full length: f that does not depend on the moved entries
    (``z`` with wrt x, y) comes back with one ray."""
    if s.shape[axis] == rays:
        return s
    shape = list(s.shape)
    shape[axis] = rays
    return np.broadcast_to(s, tuple(shape))


class _MixedSetup:
    """What a mixed partial needs besides the point, built once per (expression, target).

    The rays and the interpolation weights, the value plan, and per input node a template
    series (K+1, 1, R|1, *shape) that is zero except for the ray directions in row 1: a warm
    request copies each template and writes the point into row 0.
    """

    def __init__(self, c: Compiled, inp: Inputs, distinct: list[Entry], target: tuple[int, ...],
                 order: int) -> None:
        self.rays, gamma = weights(len(distinct), order, (target,))
        self.gamma = np.ascontiguousarray(gamma[:, 0])
        self.exact = exact_weights(len(distinct), order, (target,))[:, 0]
        self.order = order
        self.plan = c.plan("value", lambda: [c.output])
        directions = _ray_directions(inp, distinct, self.rays)
        self.templates: list[tuple[str, int, np.ndarray]] = []
        self.bounded: list[tuple[str, int, np.ndarray]] = []
        for name in inp.values:
            shape = inp.shapes[name]
            direction = directions.get(name)
            tmpl = np.zeros((order + 1, 1, 1 if direction is None else len(self.rays), *shape))
            if direction is not None and order >= 1:
                tmpl[1] = direction
            tmpl.flags.writeable = False
            self.templates.append((name, c.inputs[name], tmpl))
            stacked = bound_feed(tmpl)
            stacked.flags.writeable = False
            self.bounded.append((name, c.inputs[name], stacked))

    def feeds(self, c: Compiled, inp: Inputs) -> dict[int, np.ndarray]:
        """Input series x0 + t·direction for every ray (as :func:`_series_feeds`)."""
        feeds = {}
        values = inp.values
        for name, nid, tmpl in self.templates:
            arr = values[name]
            if arr.shape[0] == 1:
                series = tmpl.copy()
                series[0] = arr  # (1, *shape) broadcasts over the rays
            else:
                series = np.empty((len(tmpl), arr.shape[0], *tmpl.shape[2:]))
                series[1:] = tmpl[1:]
                series[0] = arr.reshape((arr.shape[0], 1, *arr.shape[1:]))
            feeds[nid] = series
        for name, arr in inp.constants.items():
            feeds[c.inputs[name]] = constant_series(arr.reshape((1, 1, *arr.shape)), self.order)
        return feeds

    def bounded_feeds(self, c: Compiled, inp: Inputs) -> dict[int, np.ndarray]:
        """:meth:`feeds` stacked with their majorants (as :func:`bound_feed`), written straight
        into the stacked templates: inputs are exact, so a majorant is the series' size."""
        if inp.batch is not None:
            return {nid: bound_feed(series) for nid, series in self.feeds(c, inp).items()}
        feeds = {}
        for name, nid, tmpl in self.bounded:
            arr = inp.values[name]
            series = tmpl.copy()
            series[0, 0] = arr
            np.abs(arr, out=series[0, 1])
            feeds[nid] = series
        for name, arr in inp.constants.items():
            feeds[c.inputs[name]] = bound_feed(
                constant_series(arr.reshape((1, 1, *arr.shape)), self.order))
        return feeds


def _check_table(n: int, d: int, targets: tuple[tuple[int, ...], ...], limits: Limits,
                 field: str) -> None:
    """Refuse interpolations over the limits before any ray is listed."""
    rays, entries = table_size(n, d, targets)
    if rays > limits.max_coefficients:
        raise LimitError("max_coefficients", limits.max_coefficients, rays, loc=("body", field),
                         what=f"the interpolation rays of order-{d} partials in {n} variables")
    if entries > limits.max_tensor_elements:
        raise LimitError("max_tensor_elements", limits.max_tensor_elements, entries,
                         loc=("body", field),
                         what=f"the interpolation table of order-{d} partials in {n} variables")


def _contract(gamma: np.ndarray, top: np.ndarray, masked: bool = False) -> np.ndarray:
    """Σ_r γ_r · c(ray r): (R, T) or (R,) weights against (B, R, *shape). ``masked`` (for
    coefficients that are not all finite, and exact ones): a ray whose weight is 0 takes no
    part, so 0·inf does not reach the targets that do not use it."""
    if not masked and top.dtype != object:
        if top.ndim == 2 and gamma.ndim == 1:
            return top @ gamma
        return np.tensordot(gamma, top, axes=([0], [1]))
    with np.errstate(all="ignore"):  # the non-finite coefficients of the rays used stay so
        if gamma.ndim == 1:
            used = gamma != 0
            return np.tensordot(gamma[used], top[:, used], axes=([0], [1]))
        parts = []
        for t in range(gamma.shape[1]):
            used = gamma[:, t] != 0
            parts.append(np.tensordot(gamma[used, t], top[:, used], axes=([0], [1])))
        return np.stack(parts)


def _propagate_rays(c: Compiled, plan: Plan, feeds: dict[int, np.ndarray], order: int
                    ) -> tuple[np.ndarray, bool]:
    """Series and majorants of the output along every ray, (K+1, 2, N|1, R|1, *shape), and
    whether they hold a non-finite number. Then they are run again keeping the inputs that
    stand still in a ray constant there (the common case pays one sum for it)."""
    (sm,) = propagate_bounded(c.graph, plan, feeds, order, 3)
    if all_finite(sm):
        return sm, False
    (sm,) = propagate_bounded(c.graph, plan, feeds, order, 3, lanes=True)
    return sm, True


def _interpolated_bound(gamma: np.ndarray, s: np.ndarray, m: np.ndarray, factor: float,
                        masked: bool) -> np.ndarray:
    """The error bound of Σ_r γ_r c_r: each ray's bound weighted by |γ_r|, plus the rounding
    of the weighted sum itself."""
    g = np.abs(gamma)
    rays = gamma.shape[0]
    return _contract(g, m * factor + EPS * (rays + 1) * np.abs(s), masked)


def _plan_mixed(c: Compiled, inp: Inputs, limits: Limits, entries: list[Entry],
                distinct: list[Entry], mode: Precision) -> Job:
    d = len(entries)
    target = tuple(entries.count(e) for e in distinct)
    _check_table(len(distinct), d, (target,), limits, "wrt")
    setup: _MixedSetup = c.derived(("mixed", tuple(distinct), target),
                                   lambda: _MixedSetup(c, inp, distinct, target, d))
    plan, gamma = setup.plan, setup.gamma
    missing = _missing(c, plan, mode)
    factor = rounding_at(d, len(plan.order))
    work = plan.elements * inp.n * len(setup.rays) * (d + 1) ** 2

    def recompute(points: np.ndarray, digits: int) -> np.ndarray:
        sub = _subset(inp, points)
        s = run_extended(c, plan, setup.feeds(c, sub), d, digits)
        s = _along_rays(s, len(gamma))
        s = np.broadcast_to(s, (s.shape[0], len(points), *s.shape[2:]))
        ctx = context(digits)
        exact = np.array([ctx.mpf(g.numerator) / g.denominator for g in setup.exact],
                         dtype=object)
        return _contract(exact, s[d])

    def compute() -> Result:
        sm, masked = _propagate_rays(c, plan, setup.bounded_feeds(c, inp), d)
        sm = _along_rays(sm, len(gamma), axis=3)
        s, m = sm[:, 0], sm[:, 1]
        out = base(c, inp, s[0, :, 0])
        value = _contract(gamma, s[d], masked)
        bound = _interpolated_bound(gamma, s[d], m[d], factor, masked)
        _answer(out, "derivative", value, bound, inp, c, mode, limits, work, missing,
                recompute)
        return out
    return Job(_work(work, mode), compute)


def plan_taylor(c: Compiled, inp: Inputs, limits: Limits, *, order: Any = None,
                precision: Any = None) -> Job:
    """Normalized Taylor coefficients ∂^α f / α! for every |α| ≤ order, each with an error
    estimate (``error_estimate`` in each term)."""
    mode = parse_precision(precision, limits)
    entries: list[Entry] = [(v, idx) for v in inp.variables for idx in np.ndindex(*inp.shapes[v])]
    names = [lab for v in inp.variables for lab in labels(v, inp.shapes[v])]
    if not entries:
        raise InputError("taylor needs at least one variable", loc=("body", "variables"))
    n = len(entries)
    if n == 1:
        k = _order(order, "order", limits.max_order, "max_order")
        along = Along(c, inp, entries[0], k)
        missing = _missing(c, along.plan, mode)
        factor = rounding_factor(k, along.steps())

        def recompute_one(points: np.ndarray, digits: int) -> np.ndarray:
            sub = _subset(inp, points)
            feeds = _series_feeds(c, sub, k, along.directions(None))
            s = run_extended(c, along.plan, feeds, k, digits)[:, :, 0]
            s = np.broadcast_to(s, (s.shape[0], len(points), *s.shape[2:]))
            return np.moveaxis(s, 0, 1)

        def compute_one() -> Result:
            s, m = along.run()
            s, m = s[:, :, 0], m[:, :, 0]
            out = base(c, inp, s[0])
            bounds = m * factor.reshape((-1,) + (1,) * (m.ndim - 1))
            coefficients = _settle_terms(out, np.moveaxis(s, 0, 1), np.moveaxis(bounds, 0, 1),
                                         inp, c, mode, limits, along.work, missing,
                                         recompute_one)
            out["coefficients"] = [{"powers": {names[0]: d}, **term}
                                   for d, term in enumerate(coefficients)]
            return out
        return Job(_work(along.work, mode), compute_one)
    k = _order(order, "order", limits.max_mixed_order, "max_mixed_order")
    count = math.comb(n + k, k)
    if count > limits.max_coefficients:
        raise LimitError("max_coefficients", limits.max_coefficients, count,
                         loc=("body", "order"),
                         what=f"the number of coefficients of degree ≤ {k} in {n} variables")
    blocks = []
    for d in range(1, k + 1):
        targets = tuple(map(tuple, compositions(d, n).tolist()))
        _check_table(n, d, targets, limits, "order")
        rays, gamma = weights(n, d, targets)
        blocks.append((d, targets, rays, gamma))
    # Order 0 still propagates one (zero) ray: it carries the value.
    all_rays = (np.concatenate([b[2] for b in blocks]) if blocks
                else np.zeros((1, n), dtype=np.int64))
    plan = c.plan("value", lambda: [c.output])
    missing = _missing(c, plan, mode)
    factors = rounding_factor(k, len(plan.order))
    work = plan.elements * inp.n * max(len(all_rays), 1) * (k + 1) ** 2
    scales = [np.array([math.prod(math.factorial(x) for x in t) for t in targets], dtype=float)
              for _, targets, _, _ in blocks]

    def terms(s: np.ndarray, m: np.ndarray | None, exact: bool, digits: int = 0,
              masked: bool = True) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Coefficients (B, *shape) in output order, and their bounds (float64 only);
        ``masked`` as in :func:`_contract`."""
        values, bounds = [s[0, :, 0]], [] if m is None else [m[0, :, 0] * factors[0]]
        start = 0
        ctx = context(digits) if exact else None
        for (d, targets, rays, gamma), scale in zip(blocks, scales, strict=True):
            cd = s[d][:, start:start + len(rays)]
            if exact:
                assert ctx is not None
                g = np.array([[ctx.mpf(v.numerator) / v.denominator for v in row]
                              for row in exact_weights(n, d, targets)], dtype=object)
                derivs = _contract(g, cd)
            else:
                derivs = _contract(gamma, cd, masked)
            if m is not None:
                md = m[d][:, start:start + len(rays)]
                err = _interpolated_bound(gamma, cd, md, float(factors[d]), masked)
            start += len(rays)
            for t in range(len(targets)):
                values.append(derivs[t] / (int(scale[t]) if exact else scale[t]))
                if m is not None:
                    bounds.append(err[t] / scale[t])
        return values, bounds

    def recompute(points: np.ndarray, digits: int) -> np.ndarray:
        sub = _subset(inp, points)
        feeds = _series_feeds(c, sub, k, _ray_directions(sub, entries, all_rays))
        s = _along_rays(run_extended(c, plan, feeds, k, digits), len(all_rays))
        s = np.broadcast_to(s, (s.shape[0], len(points), *s.shape[2:]))
        values, _ = terms(s, None, True, digits)
        return np.stack(values, axis=1)

    def compute() -> Result:
        feeds = _series_feeds(c, inp, k, _ray_directions(inp, entries, all_rays), True)
        sm, masked = _propagate_rays(c, plan, feeds, k)
        sm = _along_rays(sm, len(all_rays), axis=3)
        s, m = sm[:, 0], sm[:, 1]
        out = base(c, inp, s[0, :, 0])
        values, bounds = terms(s, m, False, masked=masked)
        settled = _settle_terms(out, np.stack(values, axis=1), np.stack(bounds, axis=1), inp,
                                c, mode, limits, work, missing, recompute)
        powers = [dict.fromkeys(names, 0)] + [dict(zip(names, t, strict=True))
                                              for _, targets, _, _ in blocks for t in targets]
        out["coefficients"] = [{"powers": p, **term}
                               for p, term in zip(powers, settled, strict=True)]
        return out
    return Job(_work(work, mode), compute)


def _settle_terms(out: Result, values: np.ndarray, bounds: np.ndarray, inp: Inputs,
                  c: Compiled, mode: Precision, limits: Limits, work: float,
                  missing: Callable[[], list[str]], recompute: Recompute
                  ) -> list[dict[str, Any]]:
    """Settle Taylor coefficients (N|1, T, *shape): one term dict per coefficient."""
    full = (inp.n, *values.shape[1:])
    value, bound, decimals = settle(out, "coefficients", np.broadcast_to(values, full),
                                    np.broadcast_to(bounds, full), mode, limits, work,
                                    missing, recompute)
    found = []
    for t in range(value.shape[1]):
        term: dict[str, Any] = {"coefficient": batch(value[:, t], inp, c.shape),
                                "error_estimate": batch(bound[:, t], inp, c.shape)}
        if decimals is not None:
            per = [row[t] for row in decimals]
            term["coefficient_decimal"] = per[0] if inp.batch is None else per
        found.append(term)
    return found
