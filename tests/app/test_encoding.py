"""Engine results become strict JSON: lists, Python numbers, null for NaN and ±inf."""

import json

import numpy as np

from app.encoding import encode


def test_arrays_scalars_and_non_finite_numbers() -> None:
    result = {
        "value": np.array([[1.5, np.nan], [np.inf, -np.inf]]),
        "scalar": np.float64("nan"),
        "zero_d": np.array(np.inf),
        "finite": np.array(2.0),
        "labels": ["v[0]", "v[1]"],
        "ints": np.array([1, 2]),
        "count": np.int64(3),
        "python": float("-inf"),
        "terms": [{"powers": {"x": 1}, "coefficient": np.array([np.nan, 1.0])}],
    }
    text = encode(result).decode()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {
        "value": [[1.5, None], [None, None]], "scalar": None, "zero_d": None, "finite": 2.0,
        "labels": ["v[0]", "v[1]"], "ints": [1, 2], "count": 3, "python": None,
        "terms": [{"powers": {"x": 1}, "coefficient": [None, 1.0]}],
    }


def test_floats_round_trip_exactly() -> None:
    values = np.random.default_rng(0).standard_normal(1000) * 1e10
    assert np.array_equal(json.loads(encode({"v": values}))["v"], values)
