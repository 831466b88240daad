"""The op records of the special functions (scipy.special's names and conventions).

Forward values come from scipy.special (polygamma's at x < 0 from the Taylor module's reflected
coefficients, where scipy's zeta sums cancel). lgamma is log|Γ(x)| (scipy's ``gammaln``), so its
derivatives are digamma's on both sides of the poles. The Bessel ops carry their (real) order
as a param: J_n' = (J_(n−1) − J_(n+1))/2 (and Y_n alike, I_n with +) holds at every point, x = 0
included, so nested derivatives need no case for J_1'(0) = 1/2. ``polygamma`` carries its
order n the same way; ψ⁽ⁿ⁾' = ψ⁽ⁿ⁺¹⁾.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from engine.ir.declare import elementwise, ufunc
from engine.ir.emit import add, emit, mul, neg, scale, sub, unary
from engine.ir.graph import Graph
from engine.ir.ops import Doc, Op, ScalarRule
from engine.taylor_mode import special as T

_HALF_SQRT_PI = float(np.sqrt(np.pi) / 2.0)
_POLES = "non-positive integers are poles (non-finite results)"


def _order_scalar(op: Op) -> ScalarRule:
    """A scalar rule giving the term ``op(n, x)``, so the order prints with the function."""
    return lambda a, args, params: a.function(str(op), (a.num(float(params[0])), args[0]))


def polygamma(g: Graph, n: int, x: int) -> int:
    """ψ⁽ⁿ⁾(x) for a constant integer n ≥ 0 (digamma's own op at n = 0)."""
    if n == 0:
        return unary(g, Op.DIGAMMA, x)
    return emit(g, Op.POLYGAMMA, x, params=(n,))


def bessel(g: Graph, op: Op, n: float, x: int) -> int:
    """The Bessel function ``op`` (jv, yv or iv) of constant real order n at x."""
    return emit(g, op, x, params=(n,))


def _order(g: Graph, y: int) -> Any:
    return g.nodes[y].params[0]


def _bessel_partial(op: Op, upper_sign: float, zero_order: Any) -> Any:
    """f_n' = (f_(n−1) + upper_sign·f_(n+1))/2; order 0 by ``zero_order`` (one node)."""

    def partial(g: Graph, x: int, y: int) -> int:
        n = _order(g, y)
        if n == 0:
            return zero_order(g, x)
        lower, upper = bessel(g, op, n - 1, x), bessel(g, op, n + 1, x)
        return scale(g, 0.5, add(g, lower, scale(g, upper_sign, upper)))
    return partial


# ---------------------------------------------------------------- the gamma family

elementwise(Op.GAMMA, ufunc(special.gamma),
            lambda g, x, y: mul(g, y, unary(g, Op.DIGAMMA, x)), series=T.gamma_series,
            latex=r"\Gamma",
            doc=Doc(f"all reals; {_POLES}", "gamma function Γ(x)"))
elementwise(Op.LGAMMA, ufunc(special.gammaln), lambda g, x, y: unary(g, Op.DIGAMMA, x),
            series=T.lgamma_series, latex=r"\ln\Gamma",
            doc=Doc(f"all reals; {_POLES}",
                    "log|Γ(x)| (scipy's gammaln); its derivative is digamma"))
elementwise(Op.DIGAMMA, ufunc(special.psi), lambda g, x, y: polygamma(g, 1, x),
            series=T.digamma_series, latex=r"\psi",
            doc=Doc(f"all reals; {_POLES}", "digamma ψ(x) = Γ'(x)/Γ(x)"))
def _polygamma_forward(params: tuple[int], x: np.ndarray) -> np.ndarray:
    # scipy's polygamma sums Hurwitz zeta terms that cancel at x < 0; the Taylor module's
    # coefficients reflect there.
    with np.errstate(all="ignore"):
        return T.polygamma_coefficients(params[0], x, 1)[0]


elementwise(Op.POLYGAMMA, _polygamma_forward,
            lambda g, x, y: polygamma(g, _order(g, y) + 1, x),
            taylor=lambda params: T.polygamma_rule(params[0]), latex=r"\psi",
            scalar=_order_scalar(Op.POLYGAMMA))


def _beta_partial(g: Graph, own: int, other: int, y: int) -> int:
    """∂B/∂a = B·(ψ(a) − ψ(a + b))."""
    return mul(g, y, sub(g, unary(g, Op.DIGAMMA, own),
                         unary(g, Op.DIGAMMA, add(g, own, other))))


elementwise(Op.BETA, lambda params, a, b: special.beta(a, b),
            lambda g, a, b, y: _beta_partial(g, a, b, y),
            lambda g, a, b, y: _beta_partial(g, b, a, y), series=T.beta_series,
            latex=r"\mathrm{B}",
            doc=Doc(f"all reals; a, b or a + b at {_POLES}",
                    "beta function B(a, b) = Γ(a)Γ(b)/Γ(a + b)"))


# ---------------------------------------------------------------- inverse error functions

elementwise(Op.ERFINV, ufunc(special.erfinv),
            lambda g, x, y: scale(g, _HALF_SQRT_PI, unary(g, Op.EXP, mul(g, y, y))),
            series=T.erfinv_series, latex=r"\operatorname{erf}^{-1}",
            doc=Doc("[-1, 1]; ±inf at ±1, NaN outside", "inverse error function"))
elementwise(Op.ERFCINV, ufunc(special.erfcinv),
            lambda g, x, y: scale(g, -_HALF_SQRT_PI, unary(g, Op.EXP, mul(g, y, y))),
            series=T.erfcinv_series, latex=r"\operatorname{erfc}^{-1}",
            doc=Doc("[0, 2]; +inf at 0, -inf at 2, NaN outside",
                    "inverse complementary error function"))


# ---------------------------------------------------------------- Bessel functions

elementwise(Op.BESSEL_J, lambda params, x: special.jv(params[0], x),
            _bessel_partial(Op.BESSEL_J, -1.0,
                            lambda g, x: neg(g, bessel(g, Op.BESSEL_J, 1, x))),
            taylor=lambda params: T.jv_rule(params[0]), latex="J",
            scalar=_order_scalar(Op.BESSEL_J))
elementwise(Op.BESSEL_Y, lambda params, x: special.yv(params[0], x),
            _bessel_partial(Op.BESSEL_Y, -1.0,
                            lambda g, x: neg(g, bessel(g, Op.BESSEL_Y, 1, x))),
            taylor=lambda params: T.yv_rule(params[0]), latex="Y",
            scalar=_order_scalar(Op.BESSEL_Y))
elementwise(Op.BESSEL_I, lambda params, x: special.iv(params[0], x),
            _bessel_partial(Op.BESSEL_I, 1.0, lambda g, x: bessel(g, Op.BESSEL_I, 1, x)),
            taylor=lambda params: T.iv_rule(params[0]), latex="I",
            scalar=_order_scalar(Op.BESSEL_I))
