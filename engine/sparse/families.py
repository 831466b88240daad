"""Which propagation rule each op follows, derived from the op records' groups.

A family says how an op's output entries depend on its operands' entries (first order) and
which operand pairs have a nonzero second partial (second order). A handful of families covers
every op; ``SECOND_ORDER`` refines the elementwise ones by the operand pairs that interact.
"""

from __future__ import annotations

from enum import StrEnum

from engine.ir.ops import PRIMITIVES, Group


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
    """Every output entry depends on every operand entry (norm, inverse, determinant, solve,
    log |det|); the Cholesky factor and a solve with a constant matrix refine it (see
    :mod:`engine.sparse.pattern`)."""
    ZERO = "zero"
    """Piecewise constant (sign, comparisons): every derivative is identically zero."""


_SPECIAL = {"matmul": Family.BILINEAR, "where": Family.SELECT,
            **dict.fromkeys(("norm", "inv", "det", "solve", "cholesky", "logabsdet"),
                            Family.DENSE)}
"""The ops whose family their groups do not tell."""


def _family(op: str) -> Family:
    groups = PRIMITIVES[op].groups
    if op in _SPECIAL:
        return _SPECIAL[op]
    if Group.COMPARISON in groups or Group.PIECEWISE_CONSTANT in groups:
        return Family.ZERO
    if Group.REDUCTION in groups:
        return Family.REDUCTION
    if Group.ELEMENTWISE in groups:
        return Family.ELEMENTWISE
    if Group.STRUCTURAL in groups:
        return Family.MOVER
    raise AssertionError(f"no sparsity family for {op}")  # a test runs this over every op


FAMILY: dict[str, Family] = {op: _family(op) for op in PRIMITIVES}
"""Every op's family, derived from its record's groups (a new elementwise op needs nothing
here)."""

_ALL_PAIRS = ((0, 0), (0, 1), (1, 1))

SECOND_ORDER: dict[str, tuple[tuple[int, int], ...]] = {
    # Linear ops, and piecewise linear ones whose second derivative the engine makes identically
    # zero (abs' = sign, relu' and max'/min' are comparisons, all with zero derivative).
    **{op: () for op in PRIMITIVES if Group.LINEAR in PRIMITIVES[op].groups},
    **dict.fromkeys(("abs", "relu", "max", "min"), ()),
    "mul": ((0, 1),),
    "smul": ((0, 1),),
    # d²(a/b)/da² = 0; the other two second partials are nonzero.
    "div": ((0, 1), (1, 1)),
    "pow": _ALL_PAIRS,
    "atan2": _ALL_PAIRS,
    "logaddexp": _ALL_PAIRS,
    # a − floor_divide(a, b)·b and the clip of x: linear between jumps and bounds.
    "mod": (),
    "clip": (),
}
"""Operand pairs (i, j) with a nonzero second partial; unary nonlinear ops default to
((0, 0),)."""


def second_order_pairs(op: str) -> tuple[tuple[int, int], ...]:
    """The interacting operand pairs of an elementwise op."""
    return SECOND_ORDER.get(op, ((0, 0),))
