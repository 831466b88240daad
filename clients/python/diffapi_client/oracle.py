"""An NLP derivative oracle over ``/v1/nlp``: what the solver adapters share.

Solvers ask for f, ∇f, g and ∂g/∂x at the same x one after another; the oracle asks the
service once per new x for all four and answers the rest from that answer. The Lagrangian
Hessian depends on the multipliers too, so it is one more call when the solver wants it. The
sparsity patterns are asked once (``want: ["structure"]``); every later ``values`` follows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from diffapi_client.client import Client


@dataclass(frozen=True)
class Structure:
    """The constraint Jacobian's and the lower-triangle Lagrangian Hessian's patterns."""

    n: int
    m: int
    jacobian_rows: np.ndarray
    jacobian_cols: np.ndarray
    hessian_rows: np.ndarray
    hessian_cols: np.ndarray


class NlpOracle:
    """f, ∇f, g, ∂g/∂x and ∇²L of a model written as text, for a vector variable of size n.

    ``objective`` is a scalar expression of ``variable``; ``constraints`` a list of scalar
    expressions or one vector-valued expression (or None); ``constants`` named parameters.
    """

    def __init__(self, client: Client, objective: str, n: int, *,
                 constraints: str | Sequence[str] | None = None, variable: str = "x",
                 constants: Mapping[str, Any] | None = None) -> None:
        self.client = client
        self.objective = objective
        self.constraints = constraints
        self.variable = variable
        self.constants = dict(constants) if constants is not None else None
        self.n = n
        self.calls = 0
        self._structure: Structure | None = None
        self._at: bytes | None = None
        self._first: dict[str, Any] = {}

    def _nlp(self, want: list[str], x: np.ndarray | None, **fields: Any) -> Any:
        self.calls += 1
        point = {self.variable: x} if x is not None else None
        shapes = {self.variable: [self.n]} if x is None else None
        return self.client.nlp(self.objective, point, constraints=self.constraints, want=want,
                               shapes=shapes, constants=self.constants, **fields)

    @property
    def structure(self) -> Structure:
        """The patterns, asked once."""
        if self._structure is None:
            answer = self._nlp(["structure"], None)
            jac = answer.get("jacobian")
            hess = answer["hessian"]
            m = int(jac.shape[0]) if jac is not None else 0
            empty = np.zeros(0, dtype=np.int64)
            self._structure = Structure(
                self.n, m, jac.rows if jac is not None else empty,
                jac.cols if jac is not None else empty, hess.rows, hess.cols)
        return self._structure

    def _first_order(self, x: np.ndarray) -> dict[str, Any]:
        x = np.ascontiguousarray(x, dtype=np.float64)
        key = x.tobytes()
        if key != self._at:
            want = ["objective", "gradient"]
            if self.constraints is not None:
                want += ["constraints", "jacobian"]
            answer = self._nlp(want, x)
            self._first = {"objective": float(answer["objective"]),
                           "gradient": np.asarray(answer["gradient"]).reshape(-1)}
            if self.constraints is not None:
                self._first["constraints"] = np.asarray(answer["constraints"]).reshape(-1)
                self._first["jacobian"] = answer["jacobian"].values
            self._at = key
        return self._first

    def objective_value(self, x: np.ndarray) -> float:
        """f(x)."""
        return float(self._first_order(x)["objective"])

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """∇f(x), flat."""
        return np.asarray(self._first_order(x)["gradient"])

    def constraint_values(self, x: np.ndarray) -> np.ndarray:
        """g(x), flat."""
        return np.asarray(self._first_order(x)["constraints"])

    def jacobian_values(self, x: np.ndarray) -> np.ndarray:
        """∂g/∂x(x) at the pattern's entries."""
        return np.asarray(self._first_order(x)["jacobian"])

    def hessian_values(self, x: np.ndarray, objective_factor: float,
                       multipliers: np.ndarray | None) -> np.ndarray:
        """σ∇²f + Σλᵢ∇²gᵢ at the lower-triangle pattern's entries."""
        fields: dict[str, Any] = {"objective_factor": float(objective_factor)}
        if self.constraints is not None:
            m = self.structure.m
            lam = np.zeros(m) if multipliers is None else np.asarray(multipliers, dtype=float)
            fields["multipliers"] = lam
        answer = self._nlp(["hessian"], np.asarray(x, dtype=np.float64), **fields)
        return np.asarray(answer["hessian"].values)
