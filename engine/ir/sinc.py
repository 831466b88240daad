"""Op record of NumPy's normalized sinc(x) = sin(πx)/(πx) and of its derivatives.

One op, ``sinc``, whose param n (absent: 0) is the order of the derivative it computes, so the
derivative of node n is node n + 1: gradients and Hessians get sinc's accurate values at and
near 0 (:mod:`engine.taylor_mode.sinc`) instead of the quotient rule's 0/0 there. In formulas
order n ≥ 1 prints in closed form, from x·sinc⁽ⁿ⁾ + n·sinc⁽ⁿ⁻¹⁾ = π^(n−1)·sin⁽ⁿ⁾(πx), e.g.
sinc'(x) = (cos(pi*x) - sinc(x))/x.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.ir.declare import elementwise
from engine.ir.emit import emit
from engine.ir.graph import Graph
from engine.ir.ops import Doc, Op
from engine.taylor_mode import sinc as T


def _order(params: tuple[Any, ...]) -> int:
    return int(params[0]) if params else 0


def _forward(params: tuple[Any, ...], x: np.ndarray) -> np.ndarray:
    return T.sinc_derivative(_order(params), x)


def _partial(g: Graph, x: int, y: int) -> int:
    return emit(g, Op.SINC, x, params=(_order(g.nodes[y].params) + 1,))


def _scalar(a: Any, args: tuple[int, ...], params: tuple[Any, ...]) -> int:
    """sinc⁽ⁿ⁾(x) on terms: sinc(x) itself for n = 0, else the closed form."""
    (x,) = args
    term = int(a.function(str(Op.SINC), (x,)))
    pi_x = a.mul([(a.num(math.pi), 1), (x, 1)])
    trig = (a.call("sin", (pi_x,)), a.call("cos", (pi_x,)))
    for n in range(1, _order(params) + 1):
        sign = -1.0 if n % 4 in (2, 3) else 1.0
        top = a.add([(trig[n % 2], sign * math.pi ** (n - 1)), (term, -float(n))])
        term = int(a.mul([(top, 1), (x, -1)]))
    return term


elementwise(Op.SINC, _forward, _partial, series=T.sinc_series,
             taylor=lambda params: T.sinc_rule(_order(params)), scalar=_scalar,
             latex=r"\operatorname{sinc}",
             doc=Doc("all reals", "normalized sinc sin(pi*x)/(pi*x), 1 at 0 (NumPy's sinc)",
                     "smooth everywhere; value and derivatives at and near 0 computed "
                     "without the 0/0 of the quotient"))
