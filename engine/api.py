"""The engine's public functions, one per operation of API.md §2.

Each takes keyword arguments named like the JSON fields and returns a dict keyed by the JSON
field names (numpy arrays allowed as values). A request is compiled (or found in the cache),
planned, checked against the work limit, and only then evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from engine import undefined, vm
from engine.compiled import Compiled
from engine.errors import InputError, LimitError, check_keywords
from engine.ir.evaluate import run
from engine.ir.graph import size_of
from engine.jobs import (
    Job,
    Result,
    base,
    batch,
    prepare,
    primal_feeds,
    require_scalar,
)
from engine.language.functions import FUNCTIONS
from engine.limits import DEFAULT_LIMITS, Limits
from engine.nlp import plan_nlp
from engine.requests import Inputs, labels, to_array
from engine.sparse import plan_sparsity, sparse_planner
from engine.symbolic.formulas import OPERATIONS as SYMBOLIC_OPERATIONS
from engine.symbolic.formulas import differentiate
from engine.taylor_mode.derivatives import plan_derivative, plan_taylor


def _identity_tangents(c: Compiled, variables: tuple[str, ...], inp: Inputs
                       ) -> dict[int, np.ndarray]:
    """Tangent feeds that move each flattened variable entry along its own direction."""
    n = sum(size_of(inp.shapes[v]) for v in variables)
    feeds, offset = {}, 0
    for v in variables:
        size = size_of(inp.shapes[v])
        block = np.zeros((n, size))
        block[offset:offset + size] = np.eye(size)
        feeds[c.tangent_input(v)] = block.reshape((1, n, *inp.shapes[v]))
        offset += size
    return feeds


def _check_result(elements: int, field: str, limits: Limits) -> None:
    """Refuse a Jacobian or Hessian too big to answer before building it."""
    if elements > limits.max_tensor_elements:
        raise LimitError("max_tensor_elements", limits.max_tensor_elements, elements,
                         what=f"the dense {field} (entries per point; \"sparse\": true "
                              f"answers only its structural nonzeros)")


def _per_variable(values: list[np.ndarray], variables: list[str], inp: Inputs
                  ) -> dict[str, np.ndarray]:
    return {v: batch(a, inp, inp.shapes[v]) for v, a in zip(variables, values, strict=True)}


def _flat_blocks(blocks: list[np.ndarray], inp: Inputs, rows: int) -> np.ndarray:
    """Concatenate per-variable blocks of shape (N|1, rows, *shape_v) into (N, rows, n)."""
    parts = [np.broadcast_to(b, (inp.n, rows, *b.shape[2:]))
             .reshape(inp.n, rows, size_of(b.shape[2:])) for b in blocks]
    return np.concatenate(parts, axis=-1) if parts else np.zeros((inp.n, rows, 0))


def _tangent_feeds(c: Compiled, inp: Inputs, given: Any, field: str, limits: Limits
                   ) -> dict[int, np.ndarray]:
    if not isinstance(given, Mapping):
        raise InputError(f"{field} must be an object mapping variable names to arrays",
                         loc=("body", field))
    feeds = {}
    for name in given:
        if name not in inp.variables:
            raise InputError(f"{field} names '{name}', which is not a differentiated variable "
                             f"({', '.join(inp.variables)})", loc=("body", field, name))
    for v in inp.variables:
        shape = inp.shapes[v]
        arr = (to_array(given[v], ("body", field, v), limits) if v in given
               else np.zeros(shape))
        if arr.shape != shape:
            raise InputError(f"{field}['{v}'] has shape {arr.shape}; variable '{v}' has "
                             f"shape {shape}", loc=("body", field, v))
        feeds[c.tangent_input(v)] = arr.reshape((1, *shape))
    return feeds


# ---------------------------------------------------------------- planners

def _plan_evaluate(c: Compiled, inp: Inputs, limits: Limits) -> Job:
    plan = c.plan("value", lambda: [c.output])

    def compute() -> Result:
        (value,) = run(c.graph, plan, primal_feeds(c, inp, 1), 1)
        return base(c, inp, value)
    return Job(plan.elements * inp.n, compute)


def _plan_gradient(c: Compiled, inp: Inputs, limits: Limits) -> Job:
    require_scalar(c, "gradient")
    names = tuple(inp.variables)
    plan = c.plan(("grad", names), lambda: [c.output, *c.gradient_nodes(names)])

    def compute() -> Result:
        value, *grads = run(c.graph, plan, primal_feeds(c, inp, 1), 1)
        out = base(c, inp, value)
        out["gradient"] = _per_variable(grads, inp.variables, inp)
        return out
    return Job(plan.elements * inp.n, compute)


def _plan_jacobian(c: Compiled, inp: Inputs, limits: Limits) -> Job:
    names = tuple(inp.variables)
    n = sum(size_of(inp.shapes[v]) for v in names)
    m = size_of(c.shape)
    _check_result(n * m, "jacobian", limits)
    if n <= m:
        # Forward mode: one tangent direction per input entry, all in one pass.
        plan = c.plan(("jacfwd", names), lambda: [c.output, *c.jvp_nodes((c.output,), names)])

        def compute() -> Result:
            feeds = primal_feeds(c, inp, 2)
            tangent_feeds = _identity_tangents(c, names, inp)
            feeds.update(tangent_feeds)
            value, tan = run(c.graph, plan, feeds, 2)
            jac = np.broadcast_to(tan, (inp.n, n, *c.shape)).reshape(inp.n, n, m)
            return _jacobian_result(c, inp, value[:, 0], np.swapaxes(jac, 1, 2), names)
        return Job(plan.elements * inp.n * max(n, 1), compute)

    plan = c.plan(("jacrev", names), lambda: [c.output, *c.vjp_nodes(names)])

    def compute_rev() -> Result:
        feeds = primal_feeds(c, inp, 2)
        feeds[c.cotangent_input()] = np.eye(m).reshape((1, m, *c.shape))
        value, *blocks = run(c.graph, plan, feeds, 2)
        return _jacobian_result(c, inp, value[:, 0], _flat_blocks(blocks, inp, m), names)
    return Job(plan.elements * inp.n * m, compute_rev)


def _jacobian_result(c: Compiled, inp: Inputs, value: np.ndarray, jac: np.ndarray,
                     names: tuple[str, ...]) -> Result:
    out = base(c, inp, value)
    out["jacobian"] = jac[0] if inp.batch is None else jac
    # Labels are built with the answer, not at planning time (on the event loop).
    out["rows"] = labels("f", c.shape)
    out["columns"] = [lab for v in names for lab in labels(v, inp.shapes[v])]
    return out


def _plan_hessian(c: Compiled, inp: Inputs, limits: Limits) -> Job:
    require_scalar(c, "hessian")
    names = tuple(inp.variables)
    n = sum(size_of(inp.shapes[v]) for v in names)
    _check_result(n * n, "hessian", limits)

    plan = c.hessian_plan(names)

    def compute() -> Result:
        feeds = primal_feeds(c, inp, 2)
        tangent_feeds = _identity_tangents(c, names, inp)
        feeds.update(tangent_feeds)
        value, *rest = run(c.graph, plan, feeds, 2)
        grads, blocks = rest[:len(names)], rest[len(names):]
        out = base(c, inp, value[:, 0])
        flat = _flat_blocks(grads, inp, 1)[:, 0]
        hess = undefined.dense_hessian(flat, _flat_blocks(blocks, inp, n))
        out["gradient"] = flat[0] if inp.batch is None else flat
        out["hessian"] = hess[0] if inp.batch is None else hess
        out["columns"] = [lab for v in names for lab in labels(v, inp.shapes[v])]
        return out
    return Job(plan.elements * inp.n * max(n, 1), compute)


def _plan_jvp(c: Compiled, inp: Inputs, limits: Limits, tangent: Any) -> Job:
    names = tuple(inp.variables)
    plan = c.plan(("jvp", names), lambda: [c.output, *c.jvp_nodes((c.output,), names)])
    tangent_feeds = _tangent_feeds(c, inp, tangent, "tangent", limits)

    def compute() -> Result:
        feeds = primal_feeds(c, inp, 1)
        feeds.update(tangent_feeds)
        value, tan = run(c.graph, plan, feeds, 1)
        out = base(c, inp, value)
        out["jvp"] = batch(tan, inp, c.shape)
        return out
    return Job(plan.elements * inp.n, compute)


def _plan_vjp(c: Compiled, inp: Inputs, limits: Limits, cotangent: Any) -> Job:
    names = tuple(inp.variables)
    if cotangent is None:
        raise InputError("vjp needs 'cotangent', an array of the output's shape",
                         loc=("body", "cotangent"))
    ct = to_array(cotangent, ("body", "cotangent"), limits)
    if ct.shape != c.shape:
        raise InputError(f"cotangent has shape {ct.shape}; the expression's value has shape "
                         f"{c.shape}", loc=("body", "cotangent"))
    plan = c.plan(("vjp", names), lambda: [c.output, *c.vjp_nodes(names)])

    def compute() -> Result:
        feeds = primal_feeds(c, inp, 1)
        feeds[c.cotangent_input()] = ct.reshape((1, *c.shape))
        value, *cts = run(c.graph, plan, feeds, 1)
        out = base(c, inp, value)
        out["vjp"] = _per_variable(cts, inp.variables, inp)
        return out
    return Job(plan.elements * inp.n, compute)


def _plan_hvp(c: Compiled, inp: Inputs, limits: Limits, vector: Any) -> Job:
    require_scalar(c, "hvp")
    names = tuple(inp.variables)

    def outputs() -> list[int]:
        grads = c.gradient_nodes(names)
        return [c.output, *c.jvp_nodes(tuple(grads), names)]
    plan = c.plan(("hvp", names), outputs)
    tangent_feeds = _tangent_feeds(c, inp, vector, "vector", limits)

    def compute() -> Result:
        feeds = primal_feeds(c, inp, 1)
        feeds.update(tangent_feeds)
        value, *hv = run(c.graph, plan, feeds, 1)
        out = base(c, inp, value)
        out["hvp"] = _per_variable(hv, inp.variables, inp)
        return out
    return Job(plan.elements * inp.n, compute)


# ---------------------------------------------------------------- warnings and entry points

PLANNERS: dict[str, Callable[..., Job]] = {
    "evaluate": _plan_evaluate, "gradient": _plan_gradient,
    "jacobian": sparse_planner("jacobian", _plan_jacobian),
    "hessian": sparse_planner("hessian", _plan_hessian),
    "jvp": _plan_jvp, "vjp": _plan_vjp, "hvp": _plan_hvp,
    "derivative": plan_derivative, "taylor": plan_taylor,
}


def plan(operation: str, *, expression: Any = None, point: Any = None, points: Any = None,
         constants: Any = None, variables: Any = None, limits: Limits = DEFAULT_LIMITS,
         symbolic: bool = False, **extra: Any) -> Job:
    """Compile and plan ``operation`` without computing it (errors surface here).

    With ``symbolic`` (gradient, jacobian, hessian, derivative) the answer also carries the
    derivative as ``formulas`` and ``latex``.
    """
    if operation == "nlp":
        return plan_nlp(point=point, points=points, constants=constants, variables=variables,
                        limits=limits, **extra)
    if operation == "sparsity":
        check_keywords(plan_sparsity, extra, operation)
        return plan_sparsity(expression=expression, point=point, points=points,
                             constants=constants,
                             variables=variables, limits=limits, **extra)
    planner = PLANNERS.get(operation)
    if planner is None:
        raise InputError(f"unknown operation '{operation}'", loc=("path",))
    if extra:
        check_keywords(planner, extra, operation, skip=3)  # after (compiled, inputs, limits)
    if not symbolic:  # small work runs on the tape VM (engine/vm) when it wins
        taped = vm.plan(operation, expression, point, points, constants, variables, limits, extra)
        if taped is not None:
            return taped
    c, inp = prepare(expression, point, points, constants, variables, limits)
    job = planner(c, inp, limits, **extra)
    if not symbolic:
        return Job(job.work, job.compute, limits)
    if operation not in SYMBOLIC_OPERATIONS:
        raise InputError(f"symbolic formulas are available for "
                         f"{', '.join(SYMBOLIC_OPERATIONS)}, not {operation}",
                         loc=("body", "symbolic"))
    shapes = {**inp.shapes, **{k: v.shape for k, v in inp.constants.items()}}
    keys = ("variable", "order", "wrt") if operation == "derivative" else ()

    def compute() -> Result:
        out = job.compute()
        out.update(differentiate(expression=expression, operation=operation,
                                 variables=inp.variables, shapes=shapes, limits=limits,
                                 **{k: extra.get(k) for k in keys}))
        return out
    return Job(job.work, compute, limits)


def execute(operation: str, **request: Any) -> Result:
    """Plan, admit against ``max_work``, compute, and flag non-finite results."""
    return plan(operation, **request).run()


def evaluate(**request: Any) -> Result:
    """The expression's value."""
    return execute("evaluate", **request)


def gradient(**request: Any) -> Result:
    """Value and gradient (per variable, in its shape) of a scalar-valued expression."""
    return execute("gradient", **request)


def jacobian(**request: Any) -> Result:
    """Value and Jacobian (outputs flattened × variables flattened), with row/column labels."""
    return execute("jacobian", **request)


def hessian(**request: Any) -> Result:
    """Value, flat gradient and Hessian (forward over reverse) of a scalar-valued expression."""
    return execute("hessian", **request)


def jvp(*, tangent: Any = None, **request: Any) -> Result:
    """Value and the directional derivative J·t."""
    return execute("jvp", tangent=tangent, **request)


def vjp(*, cotangent: Any = None, **request: Any) -> Result:
    """Value and Jᵀ·c per variable."""
    return execute("vjp", cotangent=cotangent, **request)


def hvp(*, vector: Any = None, **request: Any) -> Result:
    """Value and the Hessian-vector product H·v per variable (scalar-valued only)."""
    return execute("hvp", vector=vector, **request)


def derivative(**request: Any) -> Result:
    """d^n f/dx^n (``variable`` + ``order``, optionally ``all_orders``) or a mixed partial
    (``wrt``), by Taylor-mode propagation."""
    return execute("derivative", **request)


def taylor(**request: Any) -> Result:
    """Normalized Taylor coefficients ∂^α f / α! of total degree ≤ ``order``."""
    return execute("taylor", **request)


def sparsity(**request: Any) -> Result:
    """The structural pattern of a ``jacobian`` or ``hessian`` (``of``), with its coloring."""
    return execute("sparsity", **request)


def functions_table() -> list[dict[str, Any]]:
    """The language's functions: name, arity, domain, derivative convention at kinks."""
    return [{"name": f.name, "arity": f.arity, "domain": f.domain,
             "derivative_at_kinks": f.kinks, "description": f.description}
            for f in FUNCTIONS.values()]
