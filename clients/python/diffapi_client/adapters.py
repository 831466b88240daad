"""Solver adapters: ``scipy.optimize.minimize`` and cyipopt, backed by an :class:`NlpOracle`.

scipy and cyipopt are imported only when an adapter is built, so the client itself needs
neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from diffapi_client.client import Client
from diffapi_client.oracle import NlpOracle

DENSE_HESSIAN_MAX = 2000
"""scipy's ``trust-exact`` wants a dense Hessian; up to this n the adapter gives one (an
ndarray), beyond it a ``scipy.sparse`` matrix (``trust-constr``, ``Newton-CG`` take those)."""


def _symmetric(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, n: int) -> Any:
    """The full symmetric matrix of its lower triangle, dense up to DENSE_HESSIAN_MAX."""
    from scipy import sparse

    lower = sparse.csr_array((values, (rows, cols)), shape=(n, n))
    full = lower + lower.T - sparse.diags_array(lower.diagonal())
    return full.toarray() if n <= DENSE_HESSIAN_MAX else full.tocsr()


class MinimizeProblem(dict[str, Any]):
    """``scipy.optimize.minimize``'s keyword arguments; ``oracle`` counts the service calls."""

    def __init__(self, oracle: NlpOracle, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oracle = oracle


def minimize_problem(client: Client, objective: str, x0: Sequence[float] | np.ndarray, *,
                     constraints: str | Sequence[str] | None = None,
                     lower: float | Sequence[float] = -np.inf,
                     upper: float | Sequence[float] = np.inf, variable: str = "x",
                     constants: Mapping[str, Any] | None = None) -> MinimizeProblem:
    """Keyword arguments for ``scipy.optimize.minimize`` computed by the service.

    ``fun`` returns (f, ∇f) in one call (``jac=True``), ``hess`` the exact Hessian, and each
    constraint set becomes a ``NonlinearConstraint(g, lower, upper, jac, hess)`` whose ``hess``
    is Σ vᵢ∇²gᵢ. Use as ``scipy.optimize.minimize(method="trust-constr",
    **minimize_problem(client, "sum(x**2)", x0, constraints=["x[0]*x[1]"], lower=1))``.
    """
    from scipy.optimize import NonlinearConstraint

    start = np.asarray(x0, dtype=np.float64).reshape(-1)
    oracle = NlpOracle(client, objective, start.size, constraints=constraints,
                       variable=variable, constants=constants)
    n = start.size

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        return oracle.objective_value(x), oracle.gradient(x)

    def hess(x: np.ndarray) -> Any:
        s = oracle.structure
        return _symmetric(oracle.hessian_values(x, 1.0, None), s.hessian_rows,
                          s.hessian_cols, n)

    problem = MinimizeProblem(oracle, fun=fun, x0=start, jac=True, hess=hess)
    if constraints is not None:
        from scipy import sparse

        def g(x: np.ndarray) -> np.ndarray:
            return oracle.constraint_values(x)

        def jac(x: np.ndarray) -> Any:
            s = oracle.structure
            return sparse.csr_array((oracle.jacobian_values(x),
                                     (s.jacobian_rows, s.jacobian_cols)), shape=(s.m, n))

        def constraint_hess(x: np.ndarray, v: np.ndarray) -> Any:
            s = oracle.structure
            return _symmetric(oracle.hessian_values(x, 0.0, v), s.hessian_rows,
                              s.hessian_cols, n)

        problem["constraints"] = [NonlinearConstraint(g, lower, upper, jac=jac,
                                                      hess=constraint_hess)]
    return problem


class IpoptProblem:
    """A model written as text, as the callbacks cyipopt's ``Problem(problem_obj=...)`` calls.

    ``IpoptProblem(client, "x[0]*x[1]", 2, constraints=["x[0] + x[1]"]).problem(lb=..., ub=...,
    cl=..., cu=...).solve(x0)``; ``iterations`` is Ipopt's last iteration count and
    ``oracle.calls`` the number of service calls.
    """

    def __init__(self, client: Client, objective: str, n: int, *,
                 constraints: str | Sequence[str] | None = None, variable: str = "x",
                 constants: Mapping[str, Any] | None = None) -> None:
        self.oracle = NlpOracle(client, objective, n, constraints=constraints,
                                variable=variable, constants=constants)
        self.iterations = 0

    def problem(self, lb: Sequence[float] | None = None, ub: Sequence[float] | None = None,
                cl: Sequence[float] | None = None, cu: Sequence[float] | None = None) -> Any:
        """The ``cyipopt.Problem`` with these variable (lb, ub) and constraint (cl, cu) bounds."""
        import cyipopt

        m = self.oracle.structure.m
        return cyipopt.Problem(n=self.oracle.n, m=m, problem_obj=self, lb=lb, ub=ub,
                               cl=cl if m else None, cu=cu if m else None)

    def objective(self, x: np.ndarray) -> float:
        """f(x)."""
        return self.oracle.objective_value(x)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """∇f(x)."""
        return self.oracle.gradient(x)

    def constraints(self, x: np.ndarray) -> np.ndarray:
        """g(x)."""
        return self.oracle.constraint_values(x)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """∂g/∂x at :meth:`jacobianstructure`'s entries."""
        return self.oracle.jacobian_values(x)

    def jacobianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        """The constraint Jacobian's (rows, cols)."""
        s = self.oracle.structure
        return s.jacobian_rows, s.jacobian_cols

    def hessian(self, x: np.ndarray, lagrange: np.ndarray, obj_factor: float) -> np.ndarray:
        """σ∇²f + Σλᵢ∇²gᵢ at :meth:`hessianstructure`'s entries (lower triangle)."""
        return self.oracle.hessian_values(x, obj_factor, lagrange)

    def hessianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        """The Lagrangian Hessian's lower-triangle (rows, cols)."""
        s = self.oracle.structure
        return s.hessian_rows, s.hessian_cols

    def intermediate(self, alg_mod: int, iter_count: int, *args: Any) -> bool:
        """Ipopt's per-iteration callback: records the iteration count, never stops."""
        self.iterations = iter_count
        return True
