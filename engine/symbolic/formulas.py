"""Symbolic derivatives: the formula, not only the number.

:func:`differentiate` builds the derivative with the engine's own graph transforms — reverse
mode seeded with the constant 1 for gradients, forward mode with constant one-hot tangents for
Jacobian columns, Hessian rows and each order of an n-th or mixed derivative (nested) — so the
derivative graph is exactly what the numeric operations evaluate, with the tangents folded in.
:mod:`engine.symbolic.algebra` turns it into canonical scalar terms,
:mod:`engine.symbolic.printer` prints them in our language and in LaTeX, and
:mod:`engine.symbolic.cse` names the pieces a formula repeats. No point is needed
and nothing is evaluated numerically.

Names in the expression that are not differentiated stay symbols (``a*x**2`` gives ``2*a*x``
with respect to ``x``); ``pi`` and ``e`` are numbers unless declared as variables. A variable
is a scalar unless ``shapes`` gives its shape; a formula then names entries as ``v[0]``,
``M[1,2]``, as the numeric operations label them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from engine.compiled import Compiled
from engine.errors import InputError, LimitError, NonScalarError, keywords_checked
from engine.ir.graph import Shape, size_of
from engine.language.functions import CONSTANTS, FUNCTIONS
from engine.language.parser import parse
from engine.language.syntax import Expr
from engine.language.syntax import free_names as used_names
from engine.limits import DEFAULT_LIMITS, Limits
from engine.requests import check_derivative_fields, parse_label
from engine.symbolic.algebra import Algebra, tree_sizes
from engine.symbolic.cse import print_shared
from engine.symbolic.masks import without_idle_masks
from engine.symbolic.scalarize import Scalarizer

OPERATIONS = ("gradient", "jacobian", "hessian", "derivative")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)")

Entry = tuple[str, tuple[int, ...]]


# ---------------------------------------------------------------- request normalization

def free_names(tree: Expr) -> list[str]:
    """Names the expression uses, in order of first appearance (built-in constants, function
    names and the expression's own definitions excluded: the compiler reports a bare function
    name)."""
    return [name for name in used_names(tree) if name not in CONSTANTS and name not in FUNCTIONS]


def _name(value: Any, loc: tuple[Any, ...]) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise InputError(f"{value!r} is not a variable name", loc=loc)
    return value


def declared_shapes(shapes: Any, limits: Limits) -> dict[str, Shape]:
    """The ``shapes`` field checked: name -> shape (a name not in it is a scalar)."""
    if shapes is None:
        return {}
    if not isinstance(shapes, Mapping):
        raise InputError("shapes must be an object mapping names to shapes such as [3]",
                         loc=("body", "shapes"))
    out = {}
    for key, value in shapes.items():
        name = _name(key, ("body", "shapes", key))
        if (isinstance(value, str) or not isinstance(value, Sequence)
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                           for n in value)):
            raise InputError(f"shapes['{name}'] must be a list of non-negative integers",
                             loc=("body", "shapes", name))
        shape = tuple(value)
        if size_of(shape) > limits.max_tensor_elements:
            raise LimitError("max_tensor_elements", limits.max_tensor_elements, size_of(shape),
                             loc=("body", "shapes", name), what=f"variable '{name}'")
        out[name] = shape
    return out


def symbolic_request(expression: Any, shapes: Any, variables: Any, limits: Limits
                     ) -> tuple[Expr, list[str], dict[str, Shape], list[str]]:
    """A request without a point checked: its syntax tree, free names, declared shapes and
    differentiated variables."""
    if not isinstance(expression, str):
        raise InputError("expression must be a string", loc=("body", "expression"))
    tree = parse(expression, limits)
    free = free_names(tree)
    return tree, free, declared_shapes(shapes, limits), chosen_variables(variables, free)


def chosen_variables(variables: Any, free: list[str]) -> list[str]:
    """The ``variables`` field checked, or the free names in order of appearance."""
    if variables is None:
        return list(free)
    if isinstance(variables, str) or not isinstance(variables, Sequence):
        raise InputError("variables must be a list of names", loc=("body", "variables"))
    chosen: list[str] = []
    for i, v in enumerate(variables):
        name = _name(v, ("body", "variables", i))
        if name in chosen:
            raise InputError(f"variable '{name}' is listed twice", loc=("body", "variables", i))
        chosen.append(name)
    return chosen


def _order(value: Any, field: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise InputError(f"{field} must be a non-negative integer", loc=("body", field))
    if value > limit:
        raise LimitError("max_symbolic_order", limit, int(value), loc=("body", field),
                         what=f"the requested {field} of a symbolic derivative")
    return int(value)


def _derivative_request(variable: Any, order: Any, wrt: Any, limit: int) -> list[Any]:
    """The labels to differentiate by, in order (one per derivative taken)."""
    check_derivative_fields(variable, order, wrt)
    if wrt is not None:
        _order(len(wrt), "wrt", limit)
        return list(wrt)
    if variable is None or order is None:
        raise InputError("'variable' and 'order' go together", loc=("body",))
    return [variable] * _order(order, "order", limit)


# ---------------------------------------------------------------- derivative graphs

class _Builder:
    """The expression compiled (as the numeric operations compile it) and the derivative
    nodes each symbolic operation asks for, with constant tangents and seeds."""

    def __init__(self, expression: str, tree: Expr, shapes: dict[str, Shape], limits: Limits
                 ) -> None:
        self.c = Compiled(expression, shapes, {}, limits, tree=tree)
        self.g = self.c.graph
        self.shapes = shapes
        self.output = self.c.output
        self.shape = self.c.shape

    def entries(self, names: list[str]) -> list[Entry]:
        """Every scalar entry of the variables, flattened in C order (the columns)."""
        return [(v, idx) for v in names for idx in np.ndindex(*self.shapes[v])]

    def tangent(self, entry: Entry) -> int:
        """A constant one-hot tangent: the derivative graph needs no tangent input."""
        name, idx = entry
        shape = self.shapes[name]
        if not shape:
            return self.g.const(1.0)
        onehot = np.zeros(shape)
        onehot[idx] = 1.0
        return self.g.const(onehot)

    def along(self, nodes: list[int], entry: Entry) -> list[int]:
        """d nodes / d entry (forward mode)."""
        return self.c.along(nodes, entry[0], self.tangent(entry))

    def gradient(self, names: list[str], operation: str) -> list[int]:
        """Reverse mode seeded with 1: one node per variable, in its shape."""
        if self.shape != ():
            raise NonScalarError(
                f"{operation} needs a scalar-valued expression; this one has shape "
                f"{self.shape}. Use jacobian for vector- and matrix-valued expressions.",
                loc=("body", "expression"), extra={"shape": list(self.shape)})
        return self.c.gradient_nodes(tuple(names))


def _flat(arrays: list[np.ndarray]) -> list[Any]:
    return [x for arr in arrays for x in arr.reshape(-1).tolist()]


def _plan(b: _Builder, operation: str, names: list[str], steps: list[Entry]
          ) -> tuple[list[int], Callable[[list[np.ndarray]], Any]]:
    """Graph nodes to print and how to arrange their printed entries into the answer."""
    if operation == "gradient":
        nodes = b.gradient(names, operation)
        return nodes, lambda arrs: {v: a.tolist() for v, a in zip(names, arrs, strict=True)}
    if operation == "jacobian":
        columns = [b.along([b.output], entry)[0] for entry in b.entries(names)]

        def jacobian(arrs: list[np.ndarray]) -> list[list[Any]]:
            cols = [a.reshape(-1).tolist() for a in arrs]
            return [[col[r] for col in cols] for r in range(size_of(b.shape))]
        return columns, jacobian
    if operation == "hessian":
        grads = b.gradient(names, operation)
        rows = [b.along(grads, entry) for entry in b.entries(names)]
        width = len(grads)

        def hessian(arrs: list[np.ndarray]) -> list[list[Any]]:
            return [_flat(arrs[i:i + width]) for i in range(0, len(arrs), width)]
        return [n for row in rows for n in row], hessian
    node = b.output
    for entry in steps:
        (node,) = b.along([node], entry)
    return [node], lambda arrs: arrs[0].tolist()


@keywords_checked
def differentiate(*, expression: Any, variables: Any = None, operation: str,
                  order: Any = None, wrt: Any = None, variable: Any = None, shapes: Any = None,
                  limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The derivative as formulas in our language (``formulas``) and in LaTeX (``latex``).

    ``operation`` is ``gradient`` (name -> formula, nested lists for tensor variables),
    ``jacobian`` (rows = outputs flattened, columns = variables flattened), ``hessian`` (n × n)
    or ``derivative`` (``variable`` + ``order``, or ``wrt`` for a mixed partial; the formula has
    the expression's shape). ``variables`` defaults to the expression's names in order of
    appearance. A formula that repeats a piece of itself names it with definitions (API.md
    §8, :mod:`engine.symbolic.cse`) where that makes it smaller: ``u1 = log(x); …; value``.
    Every formula parses back with :func:`engine.language.parser.parse`.
    """
    if operation not in OPERATIONS:
        raise InputError(f"symbolic formulas are available for {', '.join(OPERATIONS)}, "
                         f"not '{operation}'", loc=("path",))
    tree, free, declared, names = symbolic_request(expression, shapes, variables, limits)
    steps: list[Any] = []
    if operation == "derivative":
        steps = _derivative_request(variable, order, wrt,
                                    limits.max_symbolic_order)
    step_names = [m.group(1) for s in steps if isinstance(s, str)
                  for m in [_LABEL_NAME.match(s)] if m]
    every = dict.fromkeys([*names, *step_names, *free, *declared])
    shapes_ = {name: declared.get(name, ()) for name in every}
    entries = [parse_label(s, shapes_, ("body", "wrt" if wrt is not None else "variable", i))
               for i, s in enumerate(steps)]
    b = _Builder(expression, tree, shapes_, limits)
    if operation != "derivative" and not names:
        raise InputError("no variables to differentiate by: the expression has no names and "
                         "'variables' is empty", loc=("body", "variables"))
    nodes, arrange = _plan(b, operation, names, entries)
    algebra = Algebra()
    scalar = Scalarizer(b.g, algebra, limits.max_symbolic_elements)
    plain: dict[int, int] = {}
    arrays = [_terms(arr, plain, algebra) for arr in scalar.run(nodes)]
    roots = [t for arr in arrays for t in arr.reshape(-1).tolist()]
    sizes = tree_sizes(algebra, roots)
    total = sum(sizes[t] for t in roots)
    cap = limits.max_formula_nodes
    if total > cap:
        raise LimitError("max_formula_nodes", cap, total,
                         what="the size of the printed formulas (tree nodes)")
    text, latex = print_shared(algebra, roots, frozenset(shapes_))
    by_term_text = dict(zip(roots, text, strict=True))
    by_term_latex = dict(zip(roots, latex, strict=True))
    as_text = [_map(arr, by_term_text) for arr in arrays]
    as_latex = [_map(arr, by_term_latex) for arr in arrays]
    return {"formulas": arrange(as_text), "latex": arrange(as_latex)}


def _terms(arr: np.ndarray, memo: dict[int, int], algebra: Algebra) -> np.ndarray:
    """The entries' terms without the masks that do not change their value."""
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(*arr.shape):
        t = int(arr[idx])
        if t not in memo:
            memo[t] = without_idle_masks(algebra, t)
        out[idx] = memo[t]
    return out


def _map(arr: np.ndarray, table: dict[int, str]) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(*arr.shape):
        out[idx] = table[int(arr[idx])]
    return out


__all__ = ["OPERATIONS", "differentiate", "free_names"]
