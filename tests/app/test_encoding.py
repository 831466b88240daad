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


def test_read_only_index_arrays_are_written_from_their_cached_json() -> None:
    from app import encoding

    rows = np.arange(5, dtype=np.int64) * 3
    rows.flags.writeable = False
    scratch = np.array([4, 5, 6])
    for form in ("list", "base64"):
        answer = {"rows": rows, "cols": scratch, "view": rows[1:], "name": "\ud800"}
        for value in (answer, {k: v for k, v in answer.items() if k != "name"}):
            decoded = json.loads(encode(value, form))
            assert decoded["rows"] == [0, 3, 6, 9, 12]
            assert decoded["cols"] == [4, 5, 6] and decoded["view"] == [3, 6, 9, 12]
    assert id(rows) in encoding._FRAGMENTS
    assert id(scratch) not in encoding._FRAGMENTS  # writeable: it may change
    scratch[0] = 7
    assert json.loads(encode({"cols": scratch}))["cols"] == [7, 5, 6]
    key = id(rows)
    del rows, answer, value
    assert key not in encoding._FRAGMENTS  # the entry goes with its array
