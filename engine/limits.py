"""Engine limits: one frozen object, passed explicitly (never module-level mutable state)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask of the engine; every one is checked before work."""

    max_expression_length: int = 10_000
    """Characters in ``expression``."""
    max_depth: int = 200
    """Nesting depth of the expression: parentheses, brackets, calls, signs and right operands
    (a long chain such as x + x + … + x is not nesting)."""
    max_inlined_nodes: int = 100_000
    """Syntax nodes that function definitions add where they are called (a body counts once per
    call with new arguments): bounds chains such as ``f(x) = x*x; g(x) = f(f(x)); …``."""
    max_nodes: int = 20_000
    """Primitive nodes in the compiled graph, derivatives included."""
    max_tensor_elements: int = 1_000_000
    """Elements of any one input, constant, intermediate tensor or result (per point)."""
    max_rank: int = 8
    """Dimensions of any one tensor (the engine adds a few batch axes; NumPy stops at 64)."""
    max_batch: int = 1_000_000
    """Points in one ``points`` batch."""
    max_order: int = 1000
    """Order of a single-variable derivative or Taylor expansion."""
    max_mixed_order: int = 20
    """Total order of a mixed partial or multivariate Taylor expansion."""
    max_coefficients: int = 10_000
    """Taylor coefficients (multi-indices) or interpolation rays in one request."""
    max_sparse_entries: int = 10_000_000
    """Stored entries of a sparse Jacobian or Hessian answer (batch included) and of any
    structural pattern built to find it."""
    max_work: float = 2e9
    """Work estimate (element operations) of one request."""
    max_precision: int = 200
    """Decimal digits a request may ask for with ``precision``."""
    accuracy_target: float = 1e-10
    """Estimated relative error above which a Taylor-mode number is recomputed in extended
    precision (``precision: "auto"``) or, if it stays above, named in ``warnings``."""
    max_extended_seconds: float = 2.0
    """Seconds ``precision: "auto"`` or digits may spend on further extended-precision
    attempts after the first (each attempt doubles the digits); past it the best result so far
    is answered with a warning."""
    max_symbolic_order: int = 4
    """Order of a symbolic derivative (``symbolic: true`` or ``/v1/differentiate``)."""
    max_formula_nodes: int = 200_000
    """Printed formula nodes across all formulas of one symbolic answer."""
    max_symbolic_elements: int = 100_000
    """Scalar entries of the expanded derivative behind one symbolic answer."""

    def as_dict(self) -> dict[str, float]:
        """Every limit by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


DEFAULT_LIMITS = Limits()

STATUS: dict[str, int] = {
    "max_batch": 413,
    "max_body_bytes": 413,
    "worker_memory_mb": 413,
    "request_timeout_seconds": 503,
}
"""The HTTP status of a refusal by each limit (engine and service) that is not 422: 413 for the
size of what was sent, 503 for running out of time. Every other limit is 422: the request is
well-formed but asks for more than is allowed."""


def status_of(limit: str) -> int:
    """The HTTP status of a refusal by ``limit``."""
    return STATUS.get(limit, 422)
