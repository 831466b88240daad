"""The primitive table is complete, and the first-order tests reach all of it.

Every primitive has a forward rule, a JVP rule, a VJP rule and a Taylor rule, and the Taylor
propagation runs each one's rule (the path requests take); every function of the language is
called by some case of test_first_order.py; and compiling those cases with their derivatives
uses every primitive, so each derivative rule is checked against sympy somewhere.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import engine
from engine.compiled import Compiled
from engine.errors import ArityError
from engine.ir.ops import PRIMITIVES, Op
from engine.language.functions import FUNCTIONS
from engine.limits import DEFAULT_LIMITS
from engine.taylor_mode import propagation


def first_order_module() -> ModuleType:
    """test_first_order.py as imported by pytest, or loaded from its path."""
    path = Path(__file__).with_name("test_first_order.py").resolve()
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) and Path(module.__file__).resolve() == path:
            return module
    spec = importlib.util.spec_from_file_location("_engine_test_first_order", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_every_primitive_has_all_rules(name: str) -> None:
    prim = PRIMITIVES[name]
    assert prim.name == name
    assert callable(prim.forward), "forward"
    assert callable(prim.jvp), "jvp"
    assert callable(prim.vjp), "vjp"
    assert callable(prim.taylor), "taylor"


def test_every_function_is_exercised_by_test_first_order() -> None:
    module = first_order_module()
    exercised = set(module.FUNCTIONS_EXERCISED)
    assert set(FUNCTIONS) <= exercised, sorted(set(FUNCTIONS) - exercised)
    assert exercised <= set(FUNCTIONS), sorted(exercised - set(FUNCTIONS))


def test_the_function_table_documents_each_function() -> None:
    table = engine.functions_table()
    assert [row["name"] for row in table] == list(FUNCTIONS)
    for row in table:
        assert row["arity"] == FUNCTIONS[row["name"]].arity >= 1
        assert row["domain"] and row["description"] and row["derivative_at_kinks"]
    kinks = {row["name"]: row["derivative_at_kinks"] for row in table}
    assert "0.5" in kinks["max"] and "0.5" in kinks["min"]
    assert "0" in kinks["abs"] and "0" in kinks["relu"] and "0" in kinks["sign"]
    assert "branch" in kinks["where"]


ORDER_FIRST = frozenset({"polygamma", "jv", "yv", "iv", "jn", "yn"})
"""Functions whose first argument is a constant integer order."""


def test_arity_matches_the_table() -> None:
    for name, fn in FUNCTIONS.items():
        if fn.signature is not None:
            continue  # keyword and static arguments: tests/engine/language/test_keywords.py
        lead = ["1"] if name in ORDER_FIRST else []
        args = ", ".join(lead + ["x"] * (fn.arity - len(lead)))
        engine.evaluate(expression=f"{name}({args})", point={"x": np.eye(2) + 1.0})
        wrong = ", ".join(lead + ["x"] * (fn.arity + 1 - len(lead)))
        with pytest.raises(ArityError):
            engine.evaluate(expression=f"{name}({wrong})", point={"x": np.eye(2) + 1.0})


def _first_order_graphs() -> list[tuple[Compiled, list[int], dict[str, np.ndarray]]]:
    """Each case of test_first_order.CASES compiled with its gradient, JVP, VJP and Hessian
    nodes, those nodes, and its point (constants included)."""
    out = []
    for case in first_order_module().CASES:
        point = case.points[0]
        shapes = {k: np.shape(v) for k, v in point.items()}
        consts = {k: np.shape(v) for k, v in (case.constants or {}).items()}
        c = Compiled(case.expression, shapes, consts, DEFAULT_LIMITS)
        names = tuple(case.variables or point)
        nodes = [c.output, *c.vjp_nodes(names), *c.jvp_nodes((c.output,), names)]
        if c.shape == ():
            grads = c.gradient_nodes(names)
            nodes += c.jvp_nodes(tuple(grads), names)
        out.append((c, nodes, {**point, **(case.constants or {})}))
    return out


def test_the_first_order_cases_use_every_primitive() -> None:
    """Ops in the graphs (function, gradient, JVP, VJP and Hessian) of test_first_order.CASES."""
    used: set[str] = set()
    for c, _, _ in _first_order_graphs():
        used |= {node.op for node in c.graph.nodes}
    missing = set(PRIMITIVES) - used
    assert not missing, sorted(missing)


def test_taylor_propagation_runs_every_op_rule() -> None:
    """The rule each node gets is its record's, and it runs: series of every node of those
    graphs (so of every op) come out with (K+1, prefix, shape)."""
    ran: set[str] = set()
    for c, nodes, point in _first_order_graphs():
        g = c.graph
        computed = [n for n in range(len(g.nodes)) if g.nodes[n].op not in ("const", "input")]
        plan = c.plan(("table", tuple(nodes)), lambda computed=computed: computed)
        feeds = {}
        for nid, node in enumerate(g.nodes):
            if node.op == "input":
                name = node.params[0]
                value = np.asarray(point.get(name, np.ones(node.shape)), dtype=float)
                series = np.zeros((3, 1, *node.shape))
                series[0, 0] = value
                series[1, 0] = 1.0
                feeds[nid] = series
        out = propagation.propagate(g, plan, feeds, 2, 1)
        for nid, series in zip(plan.outputs, out, strict=True):
            assert series.shape[0] == 3 and series.shape[2:] == g.nodes[nid].shape
            ran.add(g.nodes[nid].op)
    assert ran == set(Op), sorted(set(Op) - ran)


def test_the_derived_tables_follow_the_records() -> None:
    """The compiler's operators, the printer's comparisons and the directly applied functions
    come from the records: each record with a symbol or documentation shows up there."""
    from engine.language import lowering, parser
    from engine.symbolic import printer, terms

    binary = {"+", "-", "*", "/", "%", "**", "@", "<", "<=", ">", ">=", "==", "!="}
    assert set(lowering._INFIX) == binary
    assert set(terms.COMPARISONS.values()) == {"<", "<=", ">", ">=", "==", "!="}
    assert set(terms.COMPARISONS.values()) == set(parser._COMPARISONS)
    assert printer.LatexPrinter.COMPARE["le"] == r"\leq"
    documented = {str(p.name) for p in PRIMITIVES.values() if p.doc is not None}
    assert documented <= set(FUNCTIONS)
    assert {"sin", "atan2", "max", "relu", "sign"} <= documented
