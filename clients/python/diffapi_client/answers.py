"""Answers as Python objects: array fields as numpy, sparse matrices as scipy.sparse."""

from __future__ import annotations

from typing import Any

import numpy as np

from diffapi_client.arrays import from_wire, is_encoded

ARRAY_FIELDS = frozenset({"value", "jacobian", "hessian", "derivative", "derivatives", "jvp",
                          "error_estimate", "objective", "constraints"})
"""Fields that hold one array (or a list of arrays, for ``derivatives``)."""
NAMED_ARRAY_FIELDS = frozenset({"gradient", "vjp", "hvp"})
"""Fields that map variable names to arrays (``hessian``'s and ``nlp``'s flat ``gradient`` is
one array, a list or an encoded object)."""


class Answer(dict[str, Any]):
    """One operation's answer: a dict of its JSON members, readable as attributes.

    Array members are numpy float64 arrays (``null`` entries are NaN; ``warnings`` names them),
    name → array members are dicts of arrays, and a sparse matrix (``{"format": "coo", …}``)
    is a :class:`SparseAnswer`.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class SparseAnswer:
    """A sparse Jacobian or Hessian in coordinate form (0-based, sorted by row, then column).

    ``values`` is [nnz], or [N, nnz] for a batch; :meth:`matrix` gives a scipy.sparse array
    (one point, or point ``i`` of a batch).
    """

    def __init__(self, body: dict[str, Any]) -> None:
        self.shape: tuple[int, int] = (int(body["shape"][0]), int(body["shape"][1]))
        self.rows = np.asarray(from_wire(body["rows"]), dtype=np.int64).reshape(-1)
        self.cols = np.asarray(from_wire(body["cols"]), dtype=np.int64).reshape(-1)
        self.nnz = int(body.get("nnz", self.rows.size))
        self.colors: int | None = body.get("colors")
        self.values: np.ndarray | None = (from_wire(body["values"]) if "values" in body
                                          else None)

    def matrix(self, index: int | None = None) -> Any:
        """The matrix as a ``scipy.sparse.csr_array`` (``index`` picks a batch entry)."""
        from scipy import sparse

        if self.values is None:
            raise ValueError("this answer holds the pattern only (no values)")
        values = self.values if index is None else self.values[index]
        if values.ndim != 1:
            raise ValueError("a batch answer: pass the index of the point")
        return sparse.csr_array((values, (self.rows, self.cols)), shape=self.shape)

    def __repr__(self) -> str:
        return f"SparseAnswer(shape={self.shape}, nnz={self.nnz}, colors={self.colors})"


def decode_answer(body: dict[str, Any]) -> Answer:
    """The :class:`Answer` of a decoded JSON answer body."""
    answer = Answer()
    for key, item in body.items():
        if isinstance(item, dict) and item.get("format") == "coo":
            answer[key] = SparseAnswer(item)
        elif key in NAMED_ARRAY_FIELDS and isinstance(item, dict) and not is_encoded(item):
            answer[key] = {name: from_wire(entry) for name, entry in item.items()}
        elif key == "derivatives" and isinstance(item, list):
            answer[key] = [from_wire(entry) for entry in item]
        elif key in ARRAY_FIELDS or key in NAMED_ARRAY_FIELDS:
            answer[key] = from_wire(item)
        else:
            answer[key] = item
    return answer
