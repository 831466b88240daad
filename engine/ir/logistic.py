"""Op records of ``logit`` (SciPy's) and ``logaddexp`` (NumPy's), both computed stably."""

from __future__ import annotations

import numpy as np
from scipy import special

from engine.ir.declare import const, elementwise, ufunc
from engine.ir.emit import div, mul, sub, unary
from engine.ir.ops import Doc, Op
from engine.taylor_mode import logistic as T

elementwise(Op.LOGIT, ufunc(special.logit),
             lambda g, x, y: div(g, const(g, 1.0), mul(g, x, sub(g, const(g, 1.0), x))),
             series=T.logit_series, latex=r"\operatorname{logit}",
             doc=Doc("(0, 1); logit(0) = -inf, logit(1) = inf",
                     "log(x / (1 - x)), inverse of sigmoid (SciPy's logit)"))
elementwise(Op.LOGADDEXP, lambda params, a, b: np.logaddexp(a, b),
             lambda g, a, b, y: unary(g, Op.SIGMOID, sub(g, a, b)),
             lambda g, a, b, y: unary(g, Op.SIGMOID, sub(g, b, a)),
             series=T.logaddexp_series,
             doc=Doc("all reals", "log(exp(a) + exp(b)), computed without overflow"))
