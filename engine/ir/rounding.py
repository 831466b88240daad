"""Op records of the piecewise ops: rounding, floor division, ``mod`` and ``clip``.

Conventions follow PyTorch. floor, ceil, round and floor_divide have derivative 0 everywhere,
at their jumps too; the value at a jump is the one NumPy returns (floor(2) = 2, ceil(2) = 2,
round half to even: round(0.5) = 0, round(1.5) = 2). ``mod`` is Python's and NumPy's floor-mod
(the result has the sign of the divisor): d/da = 1, d/db = −floor_divide(a, b), also at its
jumps, where it takes the value 0 and the quotient of the next piece. ``clip`` at a bound:
the derivative goes to x (1 for x, 0 for the bound), as torch.clamp's.
"""

from __future__ import annotations

import numpy as np

from engine.ir.declare import ZERO, const, elementwise, ufunc, zero
from engine.ir.emit import cmp, emit, mul, neg, where
from engine.ir.graph import Graph
from engine.ir.ops import Doc, Op
from engine.taylor_mode import piecewise as T

_JUMPS = "derivative 0 everywhere, also at the jumps, as PyTorch"

zero(Op.FLOOR, 1, ufunc(np.floor), series=T.constant_rule(np.floor),
      doc=Doc("all reals", "largest integer ≤ x", f"{_JUMPS}; floor(n) = n"))
zero(Op.CEIL, 1, ufunc(np.ceil), series=T.constant_rule(np.ceil),
      doc=Doc("all reals", "smallest integer ≥ x", f"{_JUMPS}; ceil(n) = n"))
zero(Op.ROUND, 1, ufunc(np.round), series=T.constant_rule(np.round),
      doc=Doc("all reals", "nearest integer, halves to even (NumPy's round)",
              f"{_JUMPS}; round(0.5) = 0, round(1.5) = 2, round(-2.5) = -2"))
zero(Op.FLOOR_DIVIDE, 2, lambda params, a, b: np.floor_divide(a, b), ZERO,
      series=T.floor_divide_series,
      doc=Doc("b != 0", "floor(a / b) as NumPy and Python compute it (a // b)",
              f"{_JUMPS}; at a jump the quotient of the piece above"))


def _mod_divisor_partial(g: Graph, a: int, b: int, y: int) -> int:
    return neg(g, emit(g, Op.FLOOR_DIVIDE, a, b))


elementwise(Op.MOD, lambda params, a, b: np.mod(a, b), lambda g, a, b, y: const(g, 1.0),
             _mod_divisor_partial, series=T.mod_series, symbol="%",
             doc=Doc("b != 0", "a - floor_divide(a, b)*b: floor-mod with the sign of b, "
                               "as Python's a % b and NumPy's mod",
                     "d/da = 1, d/db = -floor_divide(a, b), also at the jumps (where the "
                     "value is 0), as PyTorch's remainder"))


def _clip_x(g: Graph, x: int, lo: int, hi: int, y: int) -> int:
    return mul(g, cmp(g, Op.GE, x, lo), cmp(g, Op.LE, x, hi))


def _clip_lo(g: Graph, x: int, lo: int, hi: int, y: int) -> int:
    return mul(g, cmp(g, Op.LT, x, lo), cmp(g, Op.LE, lo, hi))


def _clip_hi(g: Graph, x: int, lo: int, hi: int, y: int) -> int:
    return where(g, cmp(g, Op.GT, lo, hi), const(g, 1.0), cmp(g, Op.GT, x, hi))


elementwise(Op.CLIP, lambda params, x, lo, hi: np.minimum(np.maximum(x, lo), hi),
             _clip_x, _clip_lo, _clip_hi, series=T.clip_series,
             doc=Doc("all reals; hi wins when lo > hi (NumPy)", "x limited to [lo, hi]",
                     "at x == lo or x == hi the derivative goes to x (1), not to the bound, "
                     "as torch.clamp"))

