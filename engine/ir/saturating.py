"""The slopes of the saturating functions as ops of their own: tanh' and sigmoid'.

Written as 1 − tanh² and σ·(1 − σ) over the rounded tanh and σ, a slope flushes to 0 once the
function rounds to ±1 or 1 (|x| ≳ 19 for tanh, x ≳ 37 for σ), long before the true slope
underflows. These ops compute it stably (tanh' = 4e/(1+e)² with e = exp(−2|x|),
σ' = σ(x)·σ(−x)); their own derivatives are products with the slope itself, so Hessians do
not flush either. Formulas still read 1 − tanh(x)² and σ(x)·(1 − σ(x)).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from engine.ir.declare import const, elementwise
from engine.ir.emit import mul, scale, sub, unary
from engine.ir.ops import Op, Sign
from engine.taylor_mode import rules as T


def tanh_slope(x: np.ndarray) -> np.ndarray:
    """1 − tanh(x)² without cancellation or overflow."""
    e = np.exp(-2.0 * np.abs(x))
    return 4.0 * e / (1.0 + e) ** 2


def sigmoid_slope(x: np.ndarray) -> np.ndarray:
    """σ(x)·(1 − σ(x)) as σ(x)·σ(−x): no cancellation when σ(x) rounds to 1."""
    return special.expit(x) * special.expit(-x)


def _tanh_slope_scalar(a: Any, args: tuple[int, ...], params: tuple[Any, ...]) -> int:
    return int(a.sub(a.num(1.0), a.power(a.call(Op.TANH, args), 2.0)))


def _sigmoid_slope_scalar(a: Any, args: tuple[int, ...], params: tuple[Any, ...]) -> int:
    s = a.call(Op.SIGMOID, args)
    return int(a.mul([(s, 1), (a.sub(a.num(1.0), s), 1)]))


# (1 − tanh²)' = −2·tanh·(1 − tanh²) and (σ(1 − σ))' = σ(1 − σ)·(1 − 2σ): the slope times a
# factor that stays O(1), so the product underflows only where the true value does.
elementwise(Op.TANH_SLOPE, lambda params, x: tanh_slope(x),
             lambda g, x, y: mul(g, scale(g, -2.0, unary(g, Op.TANH, x)), y),
             series=T.tanh_slope_series, scalar=_tanh_slope_scalar, sign=Sign.POSITIVE)
elementwise(Op.SIGMOID_SLOPE, lambda params, x: sigmoid_slope(x),
             lambda g, x, y: mul(g, y, sub(g, const(g, 1.0),
                                           scale(g, 2.0, unary(g, Op.SIGMOID, x)))),
             series=T.sigmoid_slope_series, scalar=_sigmoid_slope_scalar, sign=Sign.POSITIVE)
