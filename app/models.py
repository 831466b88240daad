"""Request and response bodies of every operation (API.md §2), with the seed cases as examples.

Requests are strict: unknown fields are rejected, ``false`` is not a number and ``"2"`` is not
an order. Array-valued fields (points, constants, vectors) are ``app.arrays.ArrayInput``: nested
lists or base64 encoded arrays, validated to float64 arrays; the engine checks their shapes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from app.arrays import ArrayInput, EncodedArray, PointsInput

Result = Annotated[
    Union[float, list[Any], EncodedArray, None],  # noqa: UP007 (a schema, not a hint)
    Field(description="A number, a nested list of numbers (`null` where not finite: NaN, "
                      "±inf, which `warnings` then names), or with `\"array_encoding\": "
                      "\"base64\"` an encoded array (non-finite values kept).")]


Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
"""A name of the expression language (a variable or constant in a formula)."""


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(**kwargs: Any) -> Any:
    """A field that may be left out (it is then None) but, if sent, is never ``null``: the
    schema says so, without a ``default: null`` a generator would send."""
    return Field(None, json_schema_extra=_no_default, **kwargs)


def _one_of(*alternatives: list[str]) -> dict[str, Any]:
    """The JSON schema of a body that holds exactly one group of fields (all of that group,
    none of the others)."""
    def group(fields: list[str]) -> dict[str, Any]:
        others = [f for alt in alternatives if alt is not fields for f in alt if f not in fields]
        return {"required": fields, "not": {"anyOf": [{"required": [f]} for f in others]}}
    return {"oneOf": [group(list(alt)) for alt in alternatives]}


Formula = str | list[Any] | dict[str, Any]
"""A formula string, or formulas nested like the derivative's shape."""


class EncodedAnswers(BaseModel):
    """A request whose answer may carry its arrays base64-encoded."""

    model_config = ConfigDict(extra="forbid", strict=True)

    array_encoding: Literal["list", "base64"] = Field(
        "list", description="`list`: array-valued results as nested JSON lists; `base64`: as "
                            "encoded arrays `{dtype, shape, data}` (scalars stay numbers).")


class ExpressionRequest(EncodedAnswers):
    """The fields every operation takes."""

    model_config = ConfigDict(json_schema_extra={"allOf": [_one_of(["point"], ["points"])]})

    expression: str = Field(description="The function, Python/NumPy flavoured, e.g. "
                                        "`x**2 + 3*x + 1` or `(A @ x).sum()`; scalar-, vector- "
                                        "or matrix-valued.")
    point: dict[str, ArrayInput] = optional(
        description="Where to evaluate: variable name → number or nested list.")
    points: PointsInput = optional(
        description="Instead of `point`, a batch of N points computed in one vectorized "
                          "pass: a list of point objects, or one object name → list of N values "
                          "(column form, compact and fastest). Every result field then gets a "
                          "leading axis of length N.")
    constants: dict[str, ArrayInput] = optional(
        description="Named parameters that are not differentiated (e.g. the matrix `A`).")
    variables: list[str] = optional(
        description="The variables to differentiate with respect to, in this order; "
                          "default: the keys of `point`, in the order given.")


class DifferentiableRequest(ExpressionRequest):
    """An operation that can also answer its derivative as formulas."""

    symbolic: bool = Field(False, description="Also answer the derivative as `formulas` in the "
                                              "expression language and as `latex` (orders up "
                                              "to `max_symbolic_order`).")


class JacobianRequest(DifferentiableRequest):
    """A Jacobian, dense or in sparse coordinate form."""

    sparse: bool = Field(False, description="Answer the matrix in coordinate form (`format`: "
                                            "`coo`): only its structural nonzeros, found from "
                                            "the expression and evaluated in `colors` "
                                            "compressed directions (API.md §6).")


class HessianRequest(JacobianRequest):
    """A Hessian, dense or in sparse coordinate form."""

    triangle: Literal["full", "lower"] | None = Field(
        None, description='With `"sparse": true`: `lower` keeps only the entries with row ≥ '
                          'col (what Ipopt expects); default `full`.')


Precision = Literal["auto", "float64"] | Annotated[int, Field(ge=16)]
"""``precision`` of derivative and taylor (API.md §7)."""

_PRECISION = ("`auto` (default): float64, and the numbers whose estimated relative error "
              "misses the accuracy target (`accuracy_target` in `/v1/limits`) recomputed in "
              "extended precision within the request's limits; `float64`: never recomputed; "
              "an integer from 16 to `max_precision` (200): computed with that many decimal "
              "digits, also answered as decimal strings (`derivative_decimal`, "
              "`coefficient_decimal`).")


class DerivativeRequest(DifferentiableRequest):
    """``d^n f/dx^n`` (``variable`` + ``order``) or a mixed partial (``wrt``)."""

    model_config = ConfigDict(json_schema_extra={"allOf": [
        _one_of(["point"], ["points"]), _one_of(["variable", "order"], ["wrt"])]})

    variable: str = optional(description="x in d^n f/dx^n.")
    order: int = optional(ge=0, description="n ≥ 0 in d^n f/dx^n.")
    wrt: list[str] = optional(
        min_length=1,
        description='Instead of `variable` + `order`, a mixed partial: the variables to '
                          'differentiate by, in order, e.g. `["x", "y", "x"]` or '
                          '`["v[0]", "v[1]"]`.')
    all_orders: bool = Field(False, description="Also answer `derivatives`: "
                                                "[f, f′, …, f^(n)].")
    precision: Precision = Field("auto", description=_PRECISION)


class TaylorRequest(ExpressionRequest):
    """Normalized Taylor coefficients up to a total degree."""

    order: int = Field(ge=0, description="k: coefficients of total degree ≤ k are answered.")
    precision: Precision = Field("auto", description=_PRECISION)


class JvpRequest(ExpressionRequest):
    """A Jacobian-vector product."""

    tangent: dict[str, ArrayInput] = Field(
        description="The direction t: variable name → array of the variable's shape.")


class VjpRequest(ExpressionRequest):
    """A vector-Jacobian product."""

    cotangent: ArrayInput = Field(description="c: an array of the output's shape.")


class HvpRequest(ExpressionRequest):
    """A Hessian-vector product of a scalar-valued expression."""

    vector: dict[str, ArrayInput] = Field(
        description="v: variable name → array of the variable's shape.")


class EvaluateResponse(BaseModel):
    """What every operation answers."""

    value: Result = Field(description="The expression's value (with a leading batch axis "
                                      "for `points`).")
    shape: list[int] = Field(description="The shape of `value`.")
    variables: list[str] = Field(description="The variables actually used, in order.")
    warnings: list[str] = Field(description="The non-finite results, by field; empty when all "
                                            "are finite.")


class Formulas(BaseModel):
    """The derivative as formulas, when the request asked ``symbolic``."""

    formulas: Formula | None = Field(None, description="The derivative in the expression "
                                     "language (gradient: name → formula; jacobian, hessian: "
                                     "rows of formulas; derivative: one formula, or nested "
                                     "lists for a tensor-valued expression).")
    latex: Formula | None = Field(None, description="The same formulas in LaTeX.")


class SparseMatrix(BaseModel):
    """A sparse Jacobian or Hessian in coordinate form (API.md §6)."""

    format: Literal["coo"]
    shape: list[int] = Field(description="[rows, columns] of the full matrix.")
    rows: list[int] = Field(description="0-based row of each stored entry, sorted by "
                                        "(row, col).")
    cols: list[int] = Field(description="0-based column of each stored entry.")
    values: Result | None = Field(None, description="[nnz] entries, or [N, nnz] for a batch: "
                                                    "one pattern for every point (an entry zero "
                                                    "only at a point stays, as 0); absent in a "
                                                    "structure answer.")
    nnz: int = Field(description="Stored entries per point.")
    colors: int = Field(description="Compressed directions evaluated to find them.")


class GradientResponse(EvaluateResponse, Formulas):
    """The gradient of a scalar-valued expression."""

    gradient: dict[str, Result] = Field(description="Variable name → array of the variable's "
                                                    "shape.")


class JacobianResponse(EvaluateResponse, Formulas):
    """The Jacobian matrix."""

    jacobian: Result | SparseMatrix = Field(
        description="Rows: outputs flattened (C order); columns: variables flattened in "
                    "`variables` order. With `sparse`: the coordinate form.")
    rows: list[str] | None = Field(None, description="A label per row, e.g. `f[0]` (not with "
                                                     "`sparse`).")
    columns: list[str] | None = Field(None, description="A label per column, e.g. `v[1]` (not "
                                                        "with `sparse`).")


class HessianResponse(EvaluateResponse, Formulas):
    """The Hessian matrix of a scalar-valued expression."""

    gradient: Result = Field(description="The gradient, flat, aligned with `columns`.")
    hessian: Result | SparseMatrix = Field(
        description="n × n, aligned with `columns`. With `sparse`: the coordinate form.")
    columns: list[str] | None = Field(None, description="A label per variable entry, e.g. `x`, "
                                                        "`v[0]` (not with `sparse`).")


class DerivativeResponse(EvaluateResponse, Formulas):
    """An n-th derivative or mixed partial."""

    derivative: Result = Field(description="Same shape as `value`.")
    error_estimate: Result = Field(
        description="An estimate of the absolute error of each number of `derivative` (same "
                    "shape): a running bound on the rounding of the recurrences, or after an "
                    "extended-precision recomputation that bound at its digits (at least the "
                    "final rounding to float64).")
    derivative_decimal: str | list[Any] | None = Field(
        None, description="With an integer `precision`: the same numbers as decimal strings "
                          "with that many significant digits (`null` where not finite).")
    derivatives: Result = Field(
        None, description="With `all_orders`: [f, f′, …, f^(n)] (the order axis last for a "
                          "batch).")


class TaylorTerm(BaseModel):
    """One coefficient ∂^α f / α! with its multi-index α."""

    powers: dict[str, int] = Field(description="α: variable name → power.")
    coefficient: Result = Field(description="∂^α f / α! at the point.")
    error_estimate: Result = Field(description="An estimate of the absolute error of "
                                               "`coefficient`.")
    coefficient_decimal: str | list[Any] | None = Field(
        None, description="With an integer `precision`: `coefficient` as a decimal string "
                          "with that many significant digits.")


class TaylorResponse(EvaluateResponse):
    """Normalized Taylor coefficients."""

    coefficients: list[TaylorTerm] = Field(description="Every coefficient of total degree ≤ k.")


class JvpResponse(EvaluateResponse):
    """A Jacobian-vector product."""

    jvp: Result = Field(description="J·t, of the output's shape.")


class VjpResponse(EvaluateResponse):
    """A vector-Jacobian product."""

    vjp: dict[str, Result] = Field(description="Jᵀ·c: variable name → array of its shape.")


class HvpResponse(EvaluateResponse):
    """A Hessian-vector product."""

    hvp: dict[str, Result] = Field(description="H·v: variable name → array of its shape.")


class DifferentiateRequest(BaseModel):
    """Formulas only: no point needed."""

    model_config = ConfigDict(extra="forbid", strict=True)

    expression: str = Field(description="The function, in the expression language.")
    operation: Literal["gradient", "jacobian", "hessian", "derivative"] = Field(
        description="Which derivative to write out.")
    variables: list[Name] = optional(
        description="Variables to differentiate with respect to; default: the "
                          "expression's free names in order of appearance.")
    variable: str = optional(description="For `derivative`: x in d^n f/dx^n.")
    order: int = optional(ge=0, description="For `derivative`: n.")
    wrt: list[str] = optional(min_length=1, description="For `derivative`: a mixed partial.")
    shapes: dict[Name, list[Annotated[int, Field(ge=0)]]] = optional(
        description="Shapes of tensor-valued names (default: scalars), e.g. "
                          '`{"v": [3]}`; entries print as `v[0]`.')


class DifferentiateResponse(BaseModel):
    """The derivative as formulas."""

    formulas: Formula = Field(description="In the expression language; each parses back.")
    latex: Formula = Field(description="The same in LaTeX.")


class SparsityRequest(ExpressionRequest):
    """The structural pattern of a Jacobian or Hessian, without values: from a `point` (only
    its shapes matter, the pattern is the same at every point) or from `shapes`."""

    of: Literal["jacobian", "hessian"] = Field(alias="operation",
                                               description="Which matrix's pattern.")
    shapes: dict[str, list[int]] | None = Field(
        None, description='Instead of `point`, variable name → shape (`[]` for a scalar), '
                          'e.g. `{"x": [1000]}`.')


class SparsityResponse(BaseModel):
    """A structural pattern and its coloring."""

    operation: Literal["jacobian", "hessian"]
    shape: list[int] = Field(description="[rows, columns] of the full matrix.")
    rows: list[int] = Field(description="0-based row of each structural nonzero, sorted by "
                                        "(row, col).")
    cols: list[int] = Field(description="0-based column of each structural nonzero.")
    nnz: int
    colors: int = Field(description="Compressed directions a sparse answer evaluates.")
    coloring: list[int] = Field(description="The color of each column (of each row when "
                                            "`coloring_of` is `rows`).")
    coloring_of: Literal["columns", "rows"] = Field(
        description="`rows`: a Jacobian evaluated by reverse mode, one cotangent per color.")
    variables: list[str]
    warnings: list[str]


class FunctionInfo(BaseModel):
    """One built-in function of the expression language."""

    name: str
    arity: int
    domain: str
    derivative_at_kinks: str
    description: str


class FunctionsResponse(BaseModel):
    """The expression language's names: functions, built-in constants and module prefixes."""

    functions: list[FunctionInfo]
    constants: dict[str, float] = Field(description="Built-in constants: name → value "
                                                    "(`pi`, `e`).")
    modules: list[str] = Field(description="Module prefixes accepted (and dropped) before a "
                                           "function or constant name, e.g. `np` in `np.sin`.")
    linalg_modules: list[str] = Field(description="The prefixes that also accept `.linalg.`, "
                                                  "e.g. `np.linalg.det`.")


class LimitInfo(BaseModel):
    """One limit on a request."""

    name: str
    value: int | float
    env: str = Field(description="The environment variable that sets it.")
    description: str


class LimitsResponse(BaseModel):
    """The limits in force."""

    limits: list[LimitInfo]


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"]


class ProblemItem(BaseModel):
    """One error of a problem document."""

    loc: list[str | int] = Field(description='Where, e.g. `["body", "point", "x"]`.')
    msg: str
    column: int | None = Field(None, description="1-based column in `expression` (counted from "
                                                 "the start of its line), or in the JSON body.")
    line: int | None = Field(None, description="1-based line in a multi-line `expression` (one "
                                               "with a newline), or in the JSON body.")


class Problem(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`); more members may appear,
    e.g. `limit` and `limit_value`, `suggestions`, `column`, `line`, `hint` (what to write
    instead, for a definition the language does not allow)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] | None = None


_A = [[2, 1, 0], [0, 3, 1]]
_F = "x**3 * y**2 + sin(x*y)"
_ROSENBROCK = "sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)"

EXAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "evaluate": {
        "matmul": {"summary": "A @ x with a constant matrix → [1, -1]",
                   "value": {"expression": "A @ x", "point": {"x": [1, -1, 2]},
                             "constants": {"A": _A}}},
    },
    "gradient": {
        "polynomial": {"summary": "x**2 + 3*x + 1 at x = 2 → value 11, gradient 7",
                       "value": {"expression": "x**2 + 3*x + 1", "point": {"x": 2}}},
        "matmul": {"summary": "(A @ x).sum() → gradient x = [2, 4, 1]",
                   "value": {"expression": "(A @ x).sum()", "point": {"x": [1, -1, 2]},
                             "constants": {"A": _A}}},
        "batch": {"summary": "A batch in column form → gradients [2, 4, 6]",
                  "value": {"expression": "x**2", "points": {"x": [1, 2, 3]}}},
    },
    "jacobian": {
        "vector": {"summary": "[v[0]**2, v[0]*v[1], sin(v[1])] at v = [1, 2]",
                   "value": {"expression": "[v[0]**2, v[0]*v[1], sin(v[1])]",
                             "point": {"v": [1, 2]}}},
    },
    "hessian": {
        "mixed": {"summary": f"{_F} at (1, 2)",
                  "value": {"expression": _F, "point": {"x": 1, "y": 2}}},
        "sparse": {"summary": "The Rosenbrock Hessian in coordinate form: 13 entries, 3 colors",
                   "value": {"expression": _ROSENBROCK, "point": {"x": [1, 2, 3, 4, 5]},
                             "sparse": True, "triangle": "full"}},
    },
    "sparsity": {
        "hessian": {"summary": "The Rosenbrock Hessian's pattern for n = 1000: tridiagonal, "
                               "2998 entries, 3 colors",
                    "value": {"expression": _ROSENBROCK, "operation": "hessian",
                              "shapes": {"x": [1000]}}},
    },
    "derivative": {
        "fifth": {"summary": "d⁵/dt⁵ sin(t**3) at t = 1 → 24.49392050872576",
                  "value": {"expression": "sin(t**3)", "point": {"t": 1}, "variable": "t",
                            "order": 5}},
        "mixed": {"summary": f"∂³/∂x∂y∂x of {_F} at (1, 2) → 22.027397638885843",
                  "value": {"expression": _F, "point": {"x": 1, "y": 2},
                            "wrt": ["x", "y", "x"]}},
    },
    "taylor": {
        "bivariate": {"summary": "exp(x) * sin(y) to degree 3 at (0, 0)",
                      "value": {"expression": "exp(x) * sin(y)", "point": {"x": 0, "y": 0},
                                "order": 3}},
    },
    "jvp": {
        "direction": {"summary": "J·t of [x*y, x + y] at (1, 2) along (1, 0) → [2, 1]",
                      "value": {"expression": "[x*y, x + y]", "point": {"x": 1, "y": 2},
                                "tangent": {"x": 1, "y": 0}}},
    },
    "vjp": {
        "cotangent": {"summary": "Jᵀ·c of A @ x with c = [1, 1] → x: [2, 4, 1]",
                      "value": {"expression": "A @ x", "point": {"x": [1, -1, 2]},
                                "constants": {"A": _A}, "cotangent": [1, 1]}},
    },
    "hvp": {
        "vector": {"summary": f"H·v of {_F} at (1, 2) with v = (1, 0)",
                   "value": {"expression": _F, "point": {"x": 1, "y": 2},
                             "vector": {"x": 1, "y": 0}}},
    },
    "differentiate": {
        "derivative": {"summary": "d/dx sin(x**3) → 3*x**2*cos(x**3)",
                       "value": {"expression": "sin(x**3)", "operation": "derivative",
                                 "variable": "x", "order": 1}},
        "hessian": {"summary": f"The Hessian of {_F} as formulas",
                    "value": {"expression": _F, "operation": "hessian",
                              "variables": ["x", "y"]}},
    },
}
"""OpenAPI request examples per operation; the seed cases of API.md §3 among them."""


NlpWant = Literal["objective", "gradient", "constraints", "jacobian", "hessian", "structure"]


class NlpRequest(EncodedAnswers):
    """What a nonlinear-programming solver asks its derivative oracle at a point (API.md §9)."""

    objective: str = Field(description="The scalar objective f, e.g. "
                                       "`x[0]*x[3]*(x[0] + x[1] + x[2]) + x[2]`.")
    constraints: str | list[str] | None = Field(
        None, description="The constraints g: a list of scalar expressions, or one "
                          "vector-valued expression (flattened in C order). Omit for none.")
    point: dict[str, ArrayInput] | None = Field(
        None, description="Where to evaluate: variable name → number or nested list.")
    points: PointsInput | None = Field(
        None, description="Instead of `point`, a batch of N points (as in every operation); "
                          "every answered array gets a leading axis of length N.")
    shapes: dict[str, list[int]] | None = Field(
        None, description='With `want: ["structure"]` only, instead of a point: variable name '
                          '→ shape, e.g. `{"x": [4]}`.')
    constants: dict[str, ArrayInput] | None = Field(
        None, description="Named parameters that are not differentiated.")
    variables: list[str] | None = Field(
        None, description="The variables, in this order (the columns); default: the keys of "
                          "`point`.")
    multipliers: ArrayInput | None = Field(
        None, description="λ, one per constraint entry (default zeros); for a batch either "
                          "one [m] vector for every point or [N, m].")
    objective_factor: float | None = Field(None, description="σ in σ∇²f + Σλᵢ∇²gᵢ (default 1).")
    want: list[NlpWant] | None = Field(
        None, description='Any of `objective`, `gradient`, `constraints`, `jacobian`, '
                          '`hessian` (default: all that apply), or `["structure"]` alone for '
                          'the two patterns without values.')


class NlpResponse(BaseModel):
    """The fields asked for by `want`; the patterns are the same in every answer."""

    objective: Result | None = Field(None, description="f (a number, or [N] for a batch).")
    gradient: Result | None = Field(None, description="∇f, flat over `columns`.")
    constraints: Result | None = Field(None, description="g, flat ([m], or [N, m]).")
    jacobian: SparseMatrix | None = Field(None, description="∂g/∂x, m × n, sparse.")
    hessian: SparseMatrix | None = Field(None, description="σ∇²f + Σλᵢ∇²gᵢ, n × n, its lower "
                                                        "triangle (row ≥ col), sparse.")
    columns: list[str] = Field(description="A label per variable entry, e.g. `x[0]`.")
    variables: list[str] = Field(description="The variables actually used, in order.")
    warnings: list[str] = Field(description="The non-finite results, by field.")


_HS071 = {"objective": "x[0]*x[3]*(x[0] + x[1] + x[2]) + x[2]",
          "constraints": ["x[0]*x[1]*x[2]*x[3]", "x[0]**2 + x[1]**2 + x[2]**2 + x[3]**2"]}
NLP_EXAMPLES: dict[str, dict[str, Any]] = {
    "structure": {"summary": "HS071: the Jacobian and Lagrangian-Hessian patterns, asked once",
                  "value": {**_HS071, "shapes": {"x": [4]}, "want": ["structure"]}},
    "values": {"summary": "HS071 at x₀ = (1, 5, 5, 1): f 16, ∇f [12, 1, 2, 11], g [25, 52]",
               "value": {**_HS071, "point": {"x": [1, 5, 5, 1]}, "multipliers": [0.5, 2],
                         "objective_factor": 3}},
}
"""OpenAPI request examples of ``/v1/nlp`` (Ipopt's own example problem)."""
EXAMPLES["nlp"] = NLP_EXAMPLES
