"""Variables the expression does not use: empty columns in the sparse answer, never an error."""

from __future__ import annotations

import numpy as np
import pytest

import engine


def _dense(answer: dict, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape)
    out[answer["rows"], answer["cols"]] = answer["values"]
    return out


@pytest.mark.parametrize("extra", [{"y": [1.0, 2.0]}, {"y": 2.0, "M": [[1.0, 2.0], [3.0, 4.0]]}])
def test_unused_variables_leave_empty_columns(extra: dict) -> None:
    x = [1.0, 2.0, 3.0]
    point = {"x": x, **extra}
    n = 3 + sum(np.size(v) for v in extra.values())
    hessian = engine.hessian(expression="x[0]*x[1]*x[2]", point=point, sparse=True)
    expected = np.zeros((n, n))
    expected[:3, :3] = [[0, x[2], x[1]], [x[2], 0, x[0]], [x[1], x[0], 0]]
    assert np.array_equal(_dense(hessian["hessian"], (n, n)), expected)
    assert np.array_equal(hessian["gradient"], [x[1] * x[2], x[0] * x[2], x[0] * x[1],
                                                *[0.0] * (n - 3)])
    jacobian = engine.jacobian(expression="x[0]*x[1]*x[2]", point=point, sparse=True)
    assert np.array_equal(_dense(jacobian["jacobian"], (1, n)), [[6.0, 3.0, 2.0, *[0.0] * (n - 3)]])


def test_unused_variable_in_a_batch_and_in_the_oracle() -> None:
    answer = engine.hessian(expression="x[0]*x[1]", sparse=True,
                            points={"x": [[1.0, 2.0], [3.0, 5.0]], "y": [[1.0], [2.0]]})
    assert answer["hessian"]["rows"].tolist() == [0, 1]
    assert np.array_equal(answer["hessian"]["values"], [[1.0, 1.0], [1.0, 1.0]])
    oracle = engine.nlp(objective="x[0]*x[3]*(x[0] + x[1] + x[2]) + x[2]",
                        point={"x": [1.0, 5.0, 5.0, 1.0], "unused": [1.0, 2.0]})
    assert np.array_equal(oracle["gradient"], [12.0, 1.0, 2.0, 11.0, 0.0, 0.0])
