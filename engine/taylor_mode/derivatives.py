"""Higher-order operations by Taylor-mode propagation: ``derivative`` and ``taylor``.

A d-th derivative along one variable is the d-th normalized coefficient of the series
t -> f(x0 + t·e) times d!; a mixed partial interpolates the d-th coefficients along the integer
rays of :mod:`engine.taylor_mode.interpolation`, all rays propagated together as one batch
axis. Factorials are applied only at the end, exactly (n! as a big integer, scaled into
float64 range).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from engine.compiled import Compiled
from engine.errors import InputError, LimitError
from engine.ir.graph import Shape
from engine.jobs import Job, Result, base, batch
from engine.limits import Limits
from engine.requests import Inputs, check_derivative_fields, labels, parse_label
from engine.taylor_mode.interpolation import compositions, table_size, weights
from engine.taylor_mode.propagation import constant_series, propagate

Entry = tuple[str, tuple[int, ...]]


def times_factorial(c: np.ndarray, n: int, less: np.ndarray | int = 0) -> np.ndarray:
    """``c · n! / 2**less`` without forming n! in float64 (it overflows past 170!)."""
    f = math.factorial(n)
    shift = max(f.bit_length() - 62, 0)
    with np.errstate(over="ignore", invalid="ignore"):
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


def _series_feeds(c: Compiled, inp: Inputs, order: int, directions: dict[str, np.ndarray]
                  ) -> dict[int, np.ndarray]:
    """Input series x0 + t·direction, with prefix (N or 1, rays); constants are constant."""
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
        feeds[c.inputs[name]] = series
    for name, arr in inp.constants.items():
        feeds[c.inputs[name]] = constant_series(arr.reshape((1, 1, *arr.shape)), order)
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


def _univariate(c: Compiled, inp: Inputs, entry: Entry, order: int) -> tuple[float, Any]:
    """Work estimate and a function giving the series of f along ``entry`` (K+1, N|1, *shape).

    The function takes an optional exponent per point: the direction is then 2**e (exact), so
    coefficient k comes out multiplied by 2**(e·k).
    """
    name, idx = entry
    plan = c.plan("value", lambda: [c.output])
    rank = len(inp.shapes[name])
    direction = np.zeros((1, 1, *inp.shapes[name]))
    direction[(0, 0, *idx)] = 1.0

    def series(exponent: np.ndarray | None = None) -> np.ndarray:
        d = direction
        if exponent is not None:
            d = d * np.ldexp(1.0, exponent).reshape((-1, 1) + (1,) * rank)
        feeds = _series_feeds(c, inp, order, {name: d})
        (out,) = propagate(c.graph, plan, feeds, order, 2)
        return out[:, :, 0]
    return plan.elements * inp.n * (order + 1) ** 2, series


_TINY = 2.0 ** -900
"""Below this a coefficient is near float64's underflow and loses its digits."""


def _underflowing(s: np.ndarray, n: int) -> np.ndarray:
    """Per point (rows of ``s`` flattened to (K+1, B, M)): whether coefficient n underflowed.

    A series that ends in exact zeros after a normal-sized coefficient is a polynomial and its
    zeros are true; one whose last nonzero coefficient is already tiny has underflowed.
    """
    mag = np.abs(s)
    nonzero = mag != 0
    last = s.shape[0] - 1 - np.argmax(nonzero[::-1], axis=0)
    has = nonzero.any(axis=0)
    last_mag = np.take_along_axis(mag, last[None], axis=0)[0]
    cn = mag[n]
    bad = ((cn == 0) & has & (last_mag < _TINY)) | ((cn != 0) & (cn < _TINY))
    return bad.any(axis=1)


@np.errstate(all="ignore")
def _derivative_series(series: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The series and per-point exponent for which coefficient n is not lost to underflow.

    High derivatives of entire functions (order 1000 of sin(t**3)) have normalized
    coefficients below 1e-308 though the derivative itself is representable or overflows:
    those points are redone along a direction 2**e, e found by bisection between underflow of
    coefficient n and overflow of the series' largest coefficient.
    """
    s = series()
    flat = s.reshape(s.shape[0], s.shape[1], -1)
    bad = _underflowing(flat, n)
    if not bad.any():
        return s, np.zeros(s.shape[1], dtype=np.int64)
    base_finite = np.isfinite(flat).all(axis=(0, 2))
    lo = np.zeros(s.shape[1], dtype=np.int64)
    hi = np.full(s.shape[1], 1100, dtype=np.int64)
    exponent = np.where(bad, _first_guess(flat, n), 0)
    best_s, best_e = s, np.zeros_like(exponent)
    for _ in range(12):
        s = series(exponent)
        flat = s.reshape(s.shape[0], s.shape[1], -1)
        under = _underflowing(flat, n) & bad
        over = ~np.isfinite(flat).all(axis=(0, 2)) & base_finite & bad
        good = bad & ~under & ~over
        best_s = np.where(good.reshape((1, -1) + (1,) * (s.ndim - 2)), s, best_s)
        best_e = np.where(good, exponent, best_e)
        bad = under | over
        if not bad.any() or (hi - lo <= 1)[bad].all():
            break
        lo = np.where(under, exponent, lo)
        hi = np.where(over, exponent, hi)
        exponent = np.where(bad, (lo + hi) // 2, exponent)
    return best_s, best_e


def _first_guess(flat: np.ndarray, n: int) -> np.ndarray:
    """An exponent per point that lifts coefficient n to about 1, extrapolating the decay of
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
    need = np.ceil(-predicted / max(n, 1)).max(axis=1)
    return np.clip(np.nan_to_num(need, nan=1.0, posinf=1000, neginf=1), 1, 1000).astype(np.int64)


def _unscaled_derivative(s: np.ndarray, k: int, exponent: np.ndarray) -> np.ndarray:
    """d^k f from coefficient k of a series along 2**exponent: c_k · k! / 2**(exponent·k)."""
    return times_factorial(s[k], k, (exponent * k).reshape((-1,) + (1,) * (s.ndim - 2)))


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


def plan_derivative(c: Compiled, inp: Inputs, limits: Limits, *, variable: Any = None,
                    order: Any = None, wrt: Any = None, all_orders: bool = False) -> Job:
    """d^n f/dx^n (``variable`` + ``order``) or a mixed partial (``wrt``)."""
    check_derivative_fields(variable, order, wrt)
    if wrt is not None:
        entries = _entries(list(wrt), inp, "wrt")
        distinct = list(dict.fromkeys(entries))
        if len(distinct) > 1:
            if all_orders:
                raise InputError("all_orders applies to 'variable' + 'order', not to a mixed "
                                 "partial", loc=("body", "all_orders"))
            _order(len(entries), "wrt", limits.max_mixed_order, "max_mixed_order")
            return _plan_mixed(c, inp, limits, entries, distinct)
        entry, n = distinct[0], _order(len(entries), "wrt", limits.max_order, "max_order")
    else:
        if variable is None or order is None:
            raise InputError("'variable' and 'order' go together", loc=("body",))
        (entry,) = _entries([variable], inp, "variable")
        n = _order(order, "order", limits.max_order, "max_order")
    work, series = _univariate(c, inp, entry, n)

    def compute() -> Result:
        s, exponent = _derivative_series(series, n)
        out = base(c, inp, s[0])
        out["derivative"] = batch(_unscaled_derivative(s, n, exponent), inp, c.shape)
        if all_orders:
            ders = np.stack([_unscaled_derivative(s, k, exponent) for k in range(n + 1)])
            ders = np.broadcast_to(ders, (n + 1, inp.n, *c.shape))
            out["derivatives"] = ders[:, 0] if inp.batch is None else np.moveaxis(ders, 0, 1)
        return out
    return Job(work, compute)


def _propagate_rays(c: Compiled, inp: Inputs, entries: list[Entry], rays: np.ndarray,
                    order: int) -> np.ndarray:
    """Series of f along every ray, shape (K+1, N|1, R, *shape)."""
    plan = c.plan("value", lambda: [c.output])
    feeds = _series_feeds(c, inp, order, _ray_directions(inp, entries, rays))
    (out,) = propagate(c.graph, plan, feeds, order, 2)
    return _along_rays(out, len(rays))


def _along_rays(s: np.ndarray, rays: int) -> np.ndarray:
    """``s`` with its ray axis at full length: f that does not depend on the moved entries
    (``z`` with wrt x, y) comes back with one ray."""
    if s.shape[2] == rays:
        return s
    return np.broadcast_to(s, (*s.shape[:2], rays, *s.shape[3:]))


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
        self.order = order
        self.plan = c.plan("value", lambda: [c.output])
        directions = _ray_directions(inp, distinct, self.rays)
        self.templates: list[tuple[str, int, np.ndarray]] = []
        for name in inp.values:
            shape = inp.shapes[name]
            direction = directions.get(name)
            tmpl = np.zeros((order + 1, 1, 1 if direction is None else len(self.rays), *shape))
            if direction is not None and order >= 1:
                tmpl[1] = direction
            tmpl.flags.writeable = False
            self.templates.append((name, c.inputs[name], tmpl))

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


def _plan_mixed(c: Compiled, inp: Inputs, limits: Limits, entries: list[Entry],
                distinct: list[Entry]) -> Job:
    d = len(entries)
    target = tuple(entries.count(e) for e in distinct)
    _check_table(len(distinct), d, (target,), limits, "wrt")
    setup: _MixedSetup = c.derived(("mixed", tuple(distinct), target),
                                   lambda: _MixedSetup(c, inp, distinct, target, d))
    plan, gamma = setup.plan, setup.gamma

    def compute() -> Result:
        (s,) = propagate(c.graph, plan, setup.feeds(c, inp), d, 2)
        s = _along_rays(s, len(gamma))
        out = base(c, inp, s[0, :, 0])
        # Σ_r γ_r · c_d(ray r): (N|1, R, *shape) contracted over R
        top = s[d]
        value = top @ gamma if top.ndim == 2 else np.tensordot(gamma, top, axes=([0], [1]))
        out["derivative"] = batch(value, inp, c.shape)
        return out
    return Job(plan.elements * inp.n * len(setup.rays) * (d + 1) ** 2, compute)


def plan_taylor(c: Compiled, inp: Inputs, limits: Limits, *, order: Any = None) -> Job:
    """Normalized Taylor coefficients ∂^α f / α! for every |α| ≤ order."""
    entries: list[Entry] = [(v, idx) for v in inp.variables for idx in np.ndindex(*inp.shapes[v])]
    names = [lab for v in inp.variables for lab in labels(v, inp.shapes[v])]
    if not entries:
        raise InputError("taylor needs at least one variable", loc=("body", "variables"))
    n = len(entries)
    if n == 1:
        k = _order(order, "order", limits.max_order, "max_order")
        work, series = _univariate(c, inp, entries[0], k)

        def compute_one() -> Result:
            s = series()
            out = base(c, inp, s[0])
            out["coefficients"] = [{"powers": {names[0]: d},
                                    "coefficient": batch(s[d], inp, c.shape)}
                                   for d in range(k + 1)]
            return out
        return Job(work, compute_one)
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

    def compute() -> Result:
        s = _propagate_rays(c, inp, entries, all_rays, k)
        out = base(c, inp, s[0, :, 0])
        coefficients = [{"powers": dict.fromkeys(names, 0), "coefficient": out["value"]}]
        start = 0
        for d, targets, rays, gamma in blocks:
            cd = s[d][:, start:start + len(rays)]
            start += len(rays)
            derivs = np.tensordot(gamma, cd, axes=([0], [1]))
            for t, target in enumerate(targets):
                scale = math.prod(math.factorial(x) for x in target)
                coefficients.append({
                    "powers": dict(zip(names, target, strict=True)),
                    "coefficient": batch(derivs[t] / scale, inp, c.shape)})
        out["coefficients"] = coefficients
        return out
    work = plan.elements * inp.n * max(len(all_rays), 1) * (k + 1) ** 2
    return Job(work, compute)

