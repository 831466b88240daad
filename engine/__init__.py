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
from engine.dump import dump
from engine.language.functions import CONSTANTS
from engine.language.parser import LINALG_PREFIXES, MODULE_PREFIXES
from engine.limits import DEFAULT_LIMITS, Limits
from engine.nlp import nlp
from engine.symbolic.formulas import differentiate

__all__ = [
    "CONSTANTS",
    "DEFAULT_LIMITS",
    "LINALG_PREFIXES",
    "MODULE_PREFIXES",
    "Limits",
    "derivative",
    "differentiate",
    "dump",
    "evaluate",
    "execute",
    "functions_table",
    "gradient",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "nlp",
    "plan",
    "sparsity",
    "taylor",
    "vjp",
]
