"""The graph IR as text: ``v3 = mul v1 v2  # shape (3,)``, one line per node an operation runs.

For debugging a wrong derivative: the nodes are those the operation's plan evaluates (the
expression, then its derivative nodes, in id order), constants and inputs included, and the
last lines name which nodes are the answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.compiled import Compiled
from engine.errors import InputError, keywords_checked
from engine.ir.graph import Node
from engine.ir.transforms import ancestors
from engine.limits import DEFAULT_LIMITS, Limits
from engine.symbolic.formulas import symbolic_request

OPERATIONS = ("evaluate", "gradient", "jacobian", "hessian", "jvp", "vjp", "hvp")


def _outputs(c: Compiled, operation: str, names: tuple[str, ...]) -> list[tuple[str, int]]:
    """The answer's nodes, each with what it is."""
    value = [("value", c.output)]
    if operation == "evaluate":
        return value
    if operation in ("gradient", "hessian", "hvp") and c.shape != ():
        raise InputError(f"{operation} needs a scalar-valued expression; this one has shape "
                         f"{c.shape}", loc=("body", "expression"))
    if operation == "gradient":
        return [*value, *((f"gradient {v}", n)
                          for v, n in zip(names, c.gradient_nodes(names), strict=True))]
    if operation in ("jacobian", "jvp"):
        (tangent,) = c.jvp_nodes((c.output,), names)
        return [*value, (f"{operation} (along the tangent inputs)", tangent)]
    if operation == "vjp":
        return [*value, *((f"vjp {v}", n)
                          for v, n in zip(names, c.vjp_nodes(names), strict=True))]
    grads = c.gradient_nodes(names)
    rows = c.jvp_nodes(tuple(grads), names)
    return [*value, *((f"{operation} row {v}", n) for v, n in zip(names, rows, strict=True))]


def _operand(node: Node, nid: int, consts: dict[int, np.ndarray]) -> str:
    if node.op == "input":
        return f"input {node.params[0]!r}"
    if node.op == "const":
        value = consts[nid]
        if value.ndim == 0:
            return f"const {float(value)!r}"
        text = np.array2string(value, threshold=6, separator=", ")
        return f"const {' '.join(text.split())}"
    params = f"[{', '.join(map(repr, node.params))}]" if node.params else ""
    return f"{node.op}{params} " + " ".join(f"v{a}" for a in node.args)


@keywords_checked
def dump(expression: Any, *, operation: str = "evaluate", shapes: Any = None,
         variables: Any = None, limits: Limits = DEFAULT_LIMITS) -> str:
    """The nodes ``operation`` evaluates for ``expression``, one ``vN = op args  # shape``
    line each, then the answer's nodes.

    Names are scalars unless ``shapes`` gives their shape; ``variables`` (default: the names in
    order of appearance) are the differentiated ones, the other names are constants.
    """
    if operation not in OPERATIONS:
        raise InputError(f"dump shows the graphs of {', '.join(OPERATIONS)}, not "
                         f"'{operation}'", loc=("body", "operation"))
    tree, free, declared, names = symbolic_request(expression, shapes, variables, limits)
    every = dict.fromkeys([*names, *free, *declared])
    shapes_ = {name: declared.get(name, ()) for name in every if name in names}
    consts = {name: declared.get(name, ()) for name in every if name not in names}
    c = Compiled(expression, shapes_, consts, limits, tree=tree)
    outputs = _outputs(c, operation, tuple(names))
    g = c.graph
    lines = [f"v{nid} = {_operand(g.nodes[nid], nid, g.consts)}  # shape {g.nodes[nid].shape}"
             for nid in ancestors(g, [n for _, n in outputs])]
    lines += [f"{what}: v{nid}" for what, nid in outputs]
    return "\n".join(lines)
