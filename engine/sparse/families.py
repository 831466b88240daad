"""Which propagation rule each op follows: the one place mapping ops to sparsity families.

A family says how an op's output entries depend on its operands' entries (first order) and
which operand pairs have a nonzero second partial (second order). A handful of families covers
every op; ``SECOND_ORDER`` refines the elementwise ones by the operand pairs that interact.
"""

from __future__ import annotations

from enum import StrEnum


class Family(StrEnum):
    """How an op propagates structural dependence."""

    MOVER = "mover"
    """Moves, copies or drops entries (indexing, reshape, transpose, broadcast, stack, scatter):
    derived generically by running the op's forward rule on an array of entry numbers."""
    REDUCTION = "reduction"
    """Sums entries over axes: each output entry is the union of the entries it sums."""
    ELEMENTWISE = "elementwise"
    """Entry k of the output depends on entry k of every differentiable operand; the second
    order pairs come from ``SECOND_ORDER``."""
    BILINEAR = "bilinear"
    """Matrix product: output (i, k) depends on a[i, j] where b[j, k] may be nonzero and on
    b[j, k] where a[i, j] may be nonzero; the pairs are a[i, j] × b[j, k]."""
    SELECT = "select"
    """``where(c, a, b)``: a where c may be nonzero, b where c may be zero; c has zero
    derivative. Linear in a and b."""
    DENSE = "dense"
    """Every output entry depends on every operand entry (norm, inverse, determinant)."""
    ZERO = "zero"
    """Piecewise constant (sign, comparisons): every derivative is identically zero."""


FAMILY: dict[str, Family] = {
    **dict.fromkeys(("index", "reshape", "transpose", "broadcast", "stack", "scatter"),
                    Family.MOVER),
    "sum": Family.REDUCTION,
    **dict.fromkeys(
        ("neg", "add", "sub", "abs", "relu", "max", "min", "mul", "div", "pow", "atan2",
         "powc", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh",
         "acosh", "atanh", "exp", "expm1", "log", "log1p", "sqrt", "cbrt", "erf", "erfc",
         "sigmoid", "softplus"),
        Family.ELEMENTWISE),
    "matmul": Family.BILINEAR,
    "where": Family.SELECT,
    **dict.fromkeys(("norm", "inv", "det"), Family.DENSE),
    **dict.fromkeys(("sign", "lt", "le", "gt", "ge", "eq", "ne"), Family.ZERO),
}
"""Every op of ``engine.primitives.PRIMITIVES`` (a test checks completeness)."""

_ALL_PAIRS = ((0, 0), (0, 1), (1, 1))

SECOND_ORDER: dict[str, tuple[tuple[int, int], ...]] = {
    # Linear and piecewise linear ops: the engine's second derivative is identically zero
    # (abs' = sign, relu' and max'/min' are comparisons, all with zero derivative).
    **dict.fromkeys(("neg", "add", "sub", "abs", "relu", "max", "min"), ()),
    "mul": ((0, 1),),
    # d²(a/b)/da² = 0; the other two second partials are nonzero.
    "div": ((0, 1), (1, 1)),
    "pow": _ALL_PAIRS,
    "atan2": _ALL_PAIRS,
}
"""Operand pairs (i, j) with a nonzero second partial; unary nonlinear ops default to
((0, 0),)."""


def second_order_pairs(op: str) -> tuple[tuple[int, int], ...]:
    """The interacting operand pairs of an elementwise op."""
    return SECOND_ORDER.get(op, ((0, 0),))
