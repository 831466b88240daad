"""The optimization oracle of API.md §9: what a nonlinear-programming solver asks at a point.

An objective f and constraints g are lowered into one graph, together with two inputs that are
never folded into it, the objective factor σ and the multipliers λ, and the Lagrangian
L = σ f + λ·g built from them. Because σ and λ are inputs and not constants, L's structural
Hessian pattern is the union of the patterns of f and of every gᵢ whatever their values: it is
detected once, cached with the compiled model, and every answer's ``values`` follow it.

One call computes f, g and ∇f in one reverse pass, ∂g/∂x by one compressed pass (as
``sparse: true`` jacobians do) and ∇²L's lower triangle by one compressed forward-over-reverse
pass with σ and λ fed as inputs.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.compiled import Compiled
from engine.errors import EngineError, InputError, NonScalarError
from engine.ir import emit as P
from engine.ir.evaluate import run
from engine.ir.graph import Graph, Shape, size_of
from engine.jobs import Job, Result, primal_feeds
from engine.language.lowering import lower
from engine.language.parser import parse
from engine.limits import DEFAULT_LIMITS, Limits
from engine.requests import Inputs, labels, normalize, to_array
from engine.sparse.compressed import (
    Sparsity,
    _zero_point,
    plan_sparse_hessian,
    plan_sparse_jacobian,
    sparsity,
)

WANTS = ("objective", "gradient", "constraints", "jacobian", "hessian")
STRUCTURE = "structure"
SIGMA = "objective factor"
LAMBDA = "multipliers"
"""Input names of σ and λ: with a space, so no expression can name them."""
CACHE_SIZE = 64


class _View(Compiled):
    """One output (f, g or L) of a model's shared graph, with its own derivative cache."""

    def __init__(self, graph: Graph, inputs: dict[str, int], output: int,
                 lock: threading.RLock) -> None:
        # The graph is built by NlpModel; a view only names its output.
        self.graph = graph
        self.inputs = inputs
        self.output = output
        self.shape = graph.nodes[output].shape
        self.lock = lock
        self._derived = {}


def _lower(graph: Graph, text: Any, inputs: dict[str, int], loc: tuple[Any, ...],
           limits: Limits) -> int:
    """The node of one expression; its errors point at the field it came from."""
    if not isinstance(text, str):
        raise InputError("must be an expression (a string)", loc=loc)
    try:
        return lower(graph, text, parse(text, limits), inputs)
    except EngineError as err:
        # The engine's errors name "expression"; here it is this field.
        if err.loc == ("body",) or err.loc[:2] == ("body", "expression"):
            err.loc = (*loc, *err.loc[2:])
        raise


class NlpModel:
    """An objective and constraints compiled for fixed input shapes, with their Lagrangian."""

    def __init__(self, objective: str, constraints: str | tuple[str, ...] | None,
                 shapes: dict[str, Shape], const_shapes: dict[str, Shape],
                 limits: Limits) -> None:
        graph = Graph(limits)
        inputs = {name: graph.input(name, s) for name, s in {**shapes, **const_shapes}.items()}
        f = _lower(graph, objective, inputs, ("body", "objective"), limits)
        if graph.nodes[f].shape != ():
            raise NonScalarError(
                f"the objective must be scalar-valued; this one has shape "
                f"{graph.nodes[f].shape}", loc=("body", "objective"),
                extra={"shape": list(graph.nodes[f].shape)})
        g = self._constraints(graph, constraints, inputs, limits)
        self.m = 0 if g is None else size_of(graph.nodes[g].shape)
        sigma = graph.input(SIGMA, ())
        lagrangian = P.mul(graph, sigma, f)
        weights = {SIGMA: sigma}
        if g is not None:
            lam = graph.input(LAMBDA, (self.m,))
            weights[LAMBDA] = lam
            lagrangian = P.add(graph, lagrangian, P.sum_all(graph, P.mul(graph, lam, g)))
        lock = threading.RLock()
        self.objective = _View(graph, inputs, f, lock)
        self.constraints = None if g is None else _View(graph, inputs, g, lock)
        self.lagrangian = _View(graph, {**inputs, **weights}, lagrangian, lock)

    @staticmethod
    def _constraints(graph: Graph, constraints: str | tuple[str, ...] | None,
                     inputs: dict[str, int], limits: Limits) -> int | None:
        """g as one vector node: a vector expression flattened, or the list stacked."""
        if constraints is None:
            return None
        if isinstance(constraints, str):
            g = _lower(graph, constraints, inputs, ("body", "constraints"), limits)
            shape = graph.nodes[g].shape
            return P.reshape(graph, g, (size_of(shape),))
        items = []
        for i, text in enumerate(constraints):
            node = _lower(graph, text, inputs, ("body", "constraints", i), limits)
            shape = graph.nodes[node].shape
            if shape != ():
                raise NonScalarError(
                    f"constraints[{i}] must be scalar-valued (a list holds one expression per "
                    f"constraint); this one has shape {shape}. Give a vector-valued g as one "
                    f"string instead of a list", loc=("body", "constraints", i),
                    extra={"shape": list(shape)})
            items.append(node)
        return P.stack(graph, items)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compiled(objective: str, constraints: str | tuple[str, ...] | None,
              shapes: tuple[tuple[str, Shape], ...], const_shapes: tuple[tuple[str, Shape], ...],
              limits: Limits) -> NlpModel:
    """The model for these expressions and input shapes, compiled once (errors are not
    cached: a failing request compiles again)."""
    return NlpModel(objective, constraints, dict(shapes), dict(const_shapes), limits)


def compiled_model(objective: str, constraints: str | tuple[str, ...] | None, inp: Inputs,
                   limits: Limits) -> NlpModel:
    """The compiled model of a request's expressions and input shapes."""
    const_shapes = tuple((k, v.shape) for k, v in inp.constants.items())
    return _compiled(objective, constraints, tuple(inp.shapes.items()), const_shapes, limits)


def _check_constraints(constraints: Any) -> str | tuple[str, ...] | None:
    if constraints is None or isinstance(constraints, str):
        return constraints
    if not isinstance(constraints, Sequence) or not constraints:
        raise InputError("constraints must be one vector-valued expression or a non-empty list "
                         "of scalar expressions (omit it for an unconstrained problem)",
                         loc=("body", "constraints"))
    for i, text in enumerate(constraints):
        if not isinstance(text, str):
            raise InputError("must be an expression (a string)", loc=("body", "constraints", i))
    return tuple(constraints)


def _check_want(want: Any, constrained: bool) -> tuple[str, ...]:
    """The fields asked for; the default is all of them (those that apply)."""
    if want is None:
        return tuple(w for w in WANTS if constrained or w not in ("constraints", "jacobian"))
    if isinstance(want, str) or not isinstance(want, Sequence) or not want:
        raise InputError(f"want must be a non-empty list of {', '.join(WANTS)}, or "
                         f"[\"{STRUCTURE}\"]", loc=("body", "want"))
    for i, w in enumerate(want):
        if w == STRUCTURE and len(want) > 1:
            raise InputError(f"\"{STRUCTURE}\" answers the patterns alone: ask it on its own",
                             loc=("body", "want", i))
        if w != STRUCTURE and w not in WANTS:
            raise InputError(f"want[{i}] must be one of {', '.join((*WANTS, STRUCTURE))}, got "
                             f"{w!r}", loc=("body", "want", i))
        if w in ("constraints", "jacobian") and not constrained:
            raise InputError(f"want[{i}] is {w!r}, but the problem has no constraints",
                             loc=("body", "want", i))
    return tuple(dict.fromkeys(want))


def _sigma(objective_factor: Any) -> float:
    if objective_factor is None:
        return 1.0
    if type(objective_factor) not in (int, float) or not np.isfinite(objective_factor):
        raise InputError("objective_factor must be a finite number",
                         loc=("body", "objective_factor"))
    return float(objective_factor)


def _multipliers(multipliers: Any, model: NlpModel, inp: Inputs, limits: Limits
                 ) -> np.ndarray:
    """λ as (N|1, m): one per constraint entry, or one row per point of a batch."""
    loc, m = ("body", "multipliers"), model.m
    if multipliers is None:
        return np.zeros((1, m))
    if model.constraints is None:
        raise InputError("multipliers were given, but the problem has no constraints", loc=loc)
    lam = to_array(multipliers, loc, limits)
    if lam.shape == (m,):
        return lam[None]
    if inp.batch is not None and lam.shape == (inp.n, m):
        return lam
    per_point = f" (or [{inp.n}, {m}]: one row per point)" if inp.batch is not None else ""
    entries = "1 entry" if m == 1 else f"{m} entries"
    raise InputError(f"multipliers has shape {list(lam.shape)}; the constraints have {entries}, "
                     f"so it needs shape [{m}]{per_point}", loc=loc,
                     extra={"shape": list(lam.shape), "constraints": m})


def _pattern(s: Sparsity) -> dict[str, Any]:
    """A §6 coordinate form without values."""
    return {"format": "coo", "shape": list(s.shape), "rows": s.rows, "cols": s.cols,
            "nnz": s.nnz, "colors": s.colors}


def _columns(model: NlpModel, inp: Inputs) -> list[str]:
    """The column labels, built once per model and variables (10^4 strings cost more than a
    small problem's whole answer)."""
    names = tuple(inp.variables)
    cached = model.objective.derived(
        ("columns", names), lambda: [lab for v in names for lab in labels(v, inp.shapes[v])])
    return list(cached)  # a copy: a caller may change its answer


def _warn(out: Result, field: str) -> None:
    """Name the non-finite entries of ``field`` (the shared check covers the others)."""
    count = int(np.size(out[field]) - np.count_nonzero(np.isfinite(out[field])))
    if count:
        out["warnings"].append(f"{field}: {count} non-finite number(s) (NaN or ±Infinity: the "
                               f"function is undefined or overflows float64 here), sent as null")


def _plan_structure(model: NlpModel, inp: Inputs, lagrangian_inputs: Inputs,
                    limits: Limits) -> Job:
    def compute() -> Result:
        out: Result = {}
        if model.constraints is not None:
            out["jacobian"] = _pattern(sparsity(model.constraints, inp, limits, "jacobian"))
        out["hessian"] = _pattern(
            sparsity(model.lagrangian, lagrangian_inputs, limits, "hessian").lower())
        out |= {"columns": _columns(model, inp), "variables": list(inp.variables), "warnings": []}
        return out
    plan = model.lagrangian.plan("value", lambda: [model.lagrangian.output])
    # Detection walks the graph once per entry: the value plan's size is its scale.
    return Job(plan.elements * 10, compute, limits)


def _flat(blocks: list[np.ndarray], inp: Inputs) -> np.ndarray:
    """Per-variable (N|1, *shape_v) arrays as one (N, n) array, or (n,) for one point."""
    parts = [np.broadcast_to(b, (inp.n, *b.shape[1:])).reshape(inp.n, -1) for b in blocks]
    flat = np.concatenate(parts, axis=-1) if parts else np.zeros((inp.n, 0))
    return flat[0] if inp.batch is None else flat


def _per_point(value: np.ndarray, inp: Inputs, shape: Shape) -> np.ndarray:
    value = np.broadcast_to(value, (inp.n, *shape))
    return value[0] if inp.batch is None else value


def plan_nlp(*, objective: Any, constraints: Any = None, point: Any = None, points: Any = None,
             shapes: Any = None, constants: Any = None, variables: Any = None,
             multipliers: Any = None, objective_factor: Any = None, want: Any = None,
             limits: Limits = DEFAULT_LIMITS) -> Job:
    """Compile (or find) the model, check every field, and plan the answer of ``want``."""
    if not isinstance(objective, str):
        raise InputError("objective must be an expression (a string)",
                         loc=("body", "objective"))
    constraints = _check_constraints(constraints)
    wanted = _check_want(want, constraints is not None)
    structure = wanted == (STRUCTURE,)
    if shapes is not None:
        if not structure:
            raise InputError(f"'shapes' stands in for the point only with want: "
                             f"[\"{STRUCTURE}\"]; values need a 'point'", loc=("body", "shapes"))
        if point is not None or points is not None:
            raise InputError("give one of 'point' and 'shapes', not both", loc=("body",))
        point = _zero_point(shapes, limits)
    if structure and points is not None:
        raise InputError("the patterns are the same at every point: give one 'point' or "
                         "'shapes', not 'points'", loc=("body", "points"))
    inp = normalize(point, points, constants, variables, limits)
    if not inp.variables:
        raise InputError("a problem needs at least one variable to optimize over",
                         loc=("body", "variables" if variables is not None else "point"))
    model = compiled_model(objective, constraints, inp, limits)
    lam = _multipliers(multipliers, model, inp, limits)
    sigma = np.full((lam.shape[0],), _sigma(objective_factor))
    weights = {SIGMA: sigma} if model.constraints is None else {SIGMA: sigma, LAMBDA: lam}
    lagrangian_inputs = Inputs({**inp.values, **weights},
                               {**inp.shapes, **{k: v.shape[1:] for k, v in weights.items()}},
                               inp.constants, inp.variables, inp.batch)
    if structure:
        return _plan_structure(model, inp, lagrangian_inputs, limits)

    f, names = model.objective, tuple(inp.variables)
    first = [f.output]
    if "constraints" in wanted and model.constraints is not None:
        first.append(model.constraints.output)
    if "gradient" in wanted:
        first += f.gradient_nodes(names)
    first_plan = f.plan(("nlp", tuple(first)), lambda: first)
    jacobian = (plan_sparse_jacobian(model.constraints, inp, limits)
                if "jacobian" in wanted and model.constraints is not None else None)
    hessian = (plan_sparse_hessian(model.lagrangian, lagrangian_inputs, limits, "lower")
               if "hessian" in wanted else None)

    def compute() -> Result:
        value, *rest = run(f.graph, first_plan, primal_feeds(f, inp, 1), 1)
        out: Result = {}
        if "objective" in wanted:
            out["objective"] = _per_point(value, inp, ())
        if "gradient" in wanted:
            out["gradient"] = _flat(rest[-len(names):] if names else [], inp)
        if "constraints" in wanted:
            out["constraints"] = _per_point(rest[0], inp, (model.m,))
        if jacobian is not None:
            out["jacobian"] = jacobian.compute()["jacobian"]
        if hessian is not None:
            out["hessian"] = hessian.compute()["hessian"]
        out |= {"columns": _columns(model, inp), "variables": list(names), "warnings": []}
        for field in ("objective", "constraints"):
            if field in out:
                _warn(out, field)
        return out
    work = first_plan.elements * inp.n + sum(j.work for j in (jacobian, hessian) if j)
    return Job(work, compute, limits)


def nlp(**request: Any) -> Result:
    """f, ∇f, g, the sparse ∂g/∂x and the sparse lower-triangle ∇²(σf + λ·g) at a point, or
    with ``want=["structure"]`` the two patterns alone (API.md §9)."""
    return plan_nlp(**request).run()
