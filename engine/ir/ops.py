"""The ops of the graph IR: one ``Op`` enum and one :class:`Primitive` record per op.

A record owns everything the engine knows about its op: arity, groups, numpy forward rule,
graph-to-graph derivative rules (JVP and VJP), Taylor rule, scalar rule for formulas, printed
symbol and LaTeX, and the documentation of the language function that calls it directly. The
records are declared once, in :mod:`engine.ir.primitives`; every other table (Taylor dispatch,
the simplifier's dispatch, the printer's symbols and precedence, the compiler's operators, the
function table) is derived from them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from engine.ir.graph import Graph


class Op(StrEnum):
    """Every primitive op of the graph IR (``const`` and ``input`` are leaves, not ops)."""

    SIN = "sin"
    COS = "cos"
    TAN = "tan"
    ASIN = "asin"
    ACOS = "acos"
    ATAN = "atan"
    SINH = "sinh"
    COSH = "cosh"
    TANH = "tanh"
    ASINH = "asinh"
    ACOSH = "acosh"
    ATANH = "atanh"
    EXP = "exp"
    EXPM1 = "expm1"
    LOG = "log"
    LOG1P = "log1p"
    SQRT = "sqrt"
    CBRT = "cbrt"
    ERF = "erf"
    ERFC = "erfc"
    SIGMOID = "sigmoid"
    SOFTPLUS = "softplus"
    ABS = "abs"
    SIGN = "sign"
    RELU = "relu"
    POWC = "powc"
    NEG = "neg"
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    SMUL = "smul"
    """The product d·t of a partial and a tangent in forward mode: 0 where t is 0, even when
    d is not finite (a variable that does not move contributes nothing)."""
    DIV = "div"
    POW = "pow"
    ATAN2 = "atan2"
    MAX = "max"
    MIN = "min"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    EQ = "eq"
    NE = "ne"
    WHERE = "where"
    FLOOR = "floor"
    CEIL = "ceil"
    ROUND = "round"
    FLOOR_DIVIDE = "floor_divide"
    MOD = "mod"
    CLIP = "clip"
    LOGIT = "logit"
    LOGADDEXP = "logaddexp"
    SINC = "sinc"
    BROADCAST = "broadcast"
    RESHAPE = "reshape"
    SUM = "sum"
    INDEX = "index"
    SCATTER = "scatter"
    STACK = "stack"
    TRANSPOSE = "transpose"
    MATMUL = "matmul"
    NORM = "norm"
    INV = "inv"
    DET = "det"
    TANH_SLOPE = "tanh_slope"
    SIGMOID_SLOPE = "sigmoid_slope"
    # special functions (scipy.special's names; the Bessel ops carry their order as a param)
    GAMMA = "gamma"
    LGAMMA = "lgamma"
    DIGAMMA = "digamma"
    POLYGAMMA = "polygamma"
    BETA = "beta"
    ERFINV = "erfinv"
    ERFCINV = "erfcinv"
    BESSEL_J = "jv"
    BESSEL_Y = "yv"
    BESSEL_I = "iv"
    # reductions over axes with a tie convention (engine/ir/reductions.py)
    AMAX = "amax"
    AMIN = "amin"
    MAXSHIFT = "maxshift"
    # linear algebra: solves and factorizations (engine/ir/linalg.py)
    SOLVE = "solve"
    CHOLESKY = "cholesky"
    LOGABSDET = "logabsdet"
    DETSIGN = "detsign"


class Group(StrEnum):
    """Families of ops that passes treat alike (tinygrad's ``GroupOp``)."""

    ELEMENTWISE = "elementwise"
    """Same-shape operands (broadcast first), one output entry per entry."""
    STRUCTURAL = "structural"
    """Moves, sums or combines entries; the shape rule is the op's own."""
    LINALG = "linalg"
    """Matrix algebra: matmul, inverse, determinant."""
    LINEAR = "linear"
    """Linear in its operands: the JVP applies the op to the tangents, the Taylor rule is the
    forward rule."""
    COMPARISON = "comparison"
    """0/1 result, derivative zero."""
    REDUCTION = "reduction"
    """Sums entries over axes."""
    PIECEWISE_CONSTANT = "piecewise-constant"
    """Every derivative is identically zero."""


class Sign(Enum):
    """What is known of an op's result's sign, wherever it is defined (justifies rewrites)."""

    UNKNOWN = 0
    NONNEG = 1
    POSITIVE = 2


Forward = Callable[..., np.ndarray]
JvpRule = Callable[["Graph", int, list["int | None"]], "int | None"]
VjpRule = Callable[["Graph", int, int], list["int | None"]]
SeriesRule = Callable[..., np.ndarray]
"""A Taylor rule on normalized series ``(K+1, *rest)``: ``rule(*series, **params)``."""
TaylorStep = Callable[[tuple[Any, ...]], SeriesRule]
"""A node's Taylor rule with its params bound, for callers under ``np.errstate``."""
ScalarRule = Callable[..., int]
"""``rule(algebra, args, params) -> term``: the op on canonical scalar terms."""


@dataclass(frozen=True)
class Doc:
    """The documentation of the language function that applies an op directly."""

    domain: str
    description: str
    kinks: str = "smooth on its domain"


@dataclass(frozen=True)
class Primitive:
    """Everything the engine knows about one op."""

    name: Op
    arity: int | None
    """Operand count; None for any number (``stack``)."""
    groups: frozenset[Group]
    forward: Forward
    """``forward(params, *arrays)`` on the trailing (static) axes; any batch prefix broadcasts."""
    jvp: JvpRule
    vjp: VjpRule
    taylor: TaylorStep
    """The Taylor rule of a node with these params (what :mod:`engine.taylor_mode` runs)."""
    series: SeriesRule | None = None
    """The standalone Taylor rule (params as keywords), when the op has one of its own."""
    scalar: ScalarRule | None = None
    """Elementwise ops: the op on terms of :class:`engine.symbolic.algebra.Algebra`; None
    keeps it an opaque function term."""
    symbol: str | None = None
    """Its operator in the expression language (``+``, ``<``, ``**``)."""
    latex: str | None = None
    """Its LaTeX operator or function name."""
    sign: Sign = Sign.UNKNOWN
    doc: Doc | None = None
    """Set when a language function of the same name applies exactly this op."""
    elementwise: bool = field(init=False)
    """In :attr:`Group.ELEMENTWISE` (a field: emission asks for every node)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "elementwise", Group.ELEMENTWISE in self.groups)


PRIMITIVES: dict[str, Primitive] = {}
"""Op -> record, in declaration order; filled once, by :mod:`engine.ir.primitives`."""


def in_group(group: Group) -> tuple[Op, ...]:
    """The ops of ``group`` in declaration order."""
    return tuple(p.name for p in PRIMITIVES.values() if group in p.groups)
