"""diffapi's autodiff engine: parse, compile to a graph, transform, evaluate with numpy."""

from engine.api import (
    derivative,
    evaluate,
    execute,
    functions_table,
    gradient,
    hessian,
    hvp,
    jacobian,
    jvp,
    plan,
    sparsity,
    taylor,
    vjp,
)
from engine.limits import DEFAULT_LIMITS, Limits
from engine.symbolic import differentiate

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "derivative",
    "differentiate",
    "evaluate",
    "execute",
    "functions_table",
    "gradient",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "plan",
    "sparsity",
    "taylor",
    "vjp",
]
