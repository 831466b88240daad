"""Limits of sparse answers: stored entries (nnz × points) and the compressed work (colors ×
graph × points) are refused before any evaluation, naming the limit; the dense path keeps its
own limit and points at ``"sparse": true``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import engine
import engine.sparse.coloring as coloring
import engine.sparse.compressed as compressed
from engine.errors import InputError, LimitError
from engine.limits import Limits

ROSENBROCK = "sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)"


@pytest.fixture
def no_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the compressed pass runs."""
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("evaluated before the limits were checked")
    monkeypatch.setattr(compressed, "run", refuse)


def test_stored_entries_count_the_batch(no_evaluation: None) -> None:
    # 2998 entries per point fit; 10 points store 29980 > 20000.
    limits = Limits(max_sparse_entries=20_000)
    xs = np.ones((10, 1000))
    with pytest.raises(LimitError) as err:
        engine.hessian(expression=ROSENBROCK, points={"x": xs}, sparse=True, limits=limits)
    assert err.value.limit == "max_sparse_entries" and err.value.actual == 29_980
    assert "nnz × points" in err.value.detail


def test_pattern_over_the_limit_is_refused_before_coloring(
        no_evaluation: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("colored a pattern over the limit")
    monkeypatch.setattr(coloring, "color_columns", refuse)
    with pytest.raises(LimitError) as err:
        engine.hessian(expression=ROSENBROCK, point={"x": np.ones(1000)}, sparse=True,
                       limits=Limits(max_sparse_entries=1000))
    assert err.value.limit == "max_sparse_entries"


def test_a_dense_row_is_colored_by_rows_not_through_an_n_squared_conflict_graph() -> None:
    # Columns: every pair conflicts (10^10 conflicts); rows: two colors, one reverse pass.
    n = 100_000
    x = np.linspace(-1, 1, n)
    jac = engine.jacobian(expression="[sum(x**2), x[0]]", point={"x": x},
                          sparse=True)["jacobian"]
    assert jac["colors"] == 2 and jac["nnz"] == n + 1
    np.testing.assert_array_equal(jac["values"][:n], 2 * x)
    assert jac["values"][n] == 1.0
    out = engine.sparsity(expression="[sum(x**2), x[0]]", of="jacobian", shapes={"x": [n]})
    assert out["coloring_of"] == "rows"


def test_a_conflict_graph_over_the_limit_is_refused_before_it_is_built(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("built a conflict graph over the limit")
    monkeypatch.setattr(coloring, "color_columns", refuse)
    # A dense 1000 × 1000 Hessian fits max_sparse_entries; its PᵀP would cost 10^9.
    with pytest.raises(LimitError) as err:
        engine.hessian(expression="sum(x)**2", point={"x": np.ones(1000)}, sparse=True)
    assert err.value.limit == "max_sparse_entries" and "conflict graph" in err.value.detail


def test_the_first_plan_detects_nothing_and_bounds_the_detection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Planning (on a server's event loop for small bodies) must not run a detection whose cost
    # grows with the pattern: it plans the detection's bound, and the job detects.
    calls = []
    real = compressed.detect
    monkeypatch.setattr(compressed, "detect", lambda *a, **k: calls.append(1) or real(*a, **k))
    text = "sum(x)**2 + sum(x**3)"
    job = engine.plan("hessian", expression=text, point={"x": np.ones(300)}, sparse=True)
    assert not calls and job.work >= compressed.DETECTION_COST * 300**2
    out = job.run()
    assert calls == [1] and out["hessian"]["nnz"] == 300**2
    warm = engine.plan("hessian", expression=text, point={"x": np.ones(300)}, sparse=True)
    assert calls == [1] and warm.work != job.work  # the compressed evaluation, admitted exactly
    sparsity = engine.plan("sparsity", expression="sum(x)**2 + x[0]", shapes={"x": [300]},
                           of="hessian")
    assert len(calls) == 1 and sparsity.work >= compressed.DETECTION_COST * 300**2


def test_compressed_work_counts_colors_and_points(no_evaluation: None) -> None:
    engine.sparsity(expression=ROSENBROCK, point={"x": np.ones(1000)}, of="hessian")
    one = engine.plan("hessian", expression=ROSENBROCK, point={"x": np.ones(1000)}, sparse=True)
    four = engine.plan("hessian", expression=ROSENBROCK, points={"x": np.ones((4, 1000))},
                       sparse=True)
    assert four.work == pytest.approx(4 * one.work)
    # Three colors: the work is three passes' worth, not one and not n.
    jvp = engine.plan("hvp", expression=ROSENBROCK, point={"x": np.ones(1000)},
                      vector={"x": np.ones(1000)})
    assert 2 * jvp.work < one.work < 10 * jvp.work
    with pytest.raises(LimitError) as err:
        engine.hessian(expression=ROSENBROCK, points={"x": np.ones((4, 1000))}, sparse=True,
                       limits=Limits(max_work=four.work / 2))
    assert err.value.limit == "max_work"


def test_dense_over_the_limit_suggests_sparse() -> None:
    with pytest.raises(LimitError) as err:
        engine.hessian(expression=ROSENBROCK, point={"x": np.ones(1001)})
    assert err.value.limit == "max_tensor_elements"
    assert '"sparse": true' in err.value.detail
    out = engine.hessian(expression=ROSENBROCK, point={"x": np.ones(1001)}, sparse=True)
    assert out["hessian"]["nnz"] == 2998 + 3


def test_triangle_needs_sparse_hessian() -> None:
    with pytest.raises(InputError, match="sparse"):
        engine.hessian(expression="x[0]*x[1]", point={"x": [1.0, 2.0]}, triangle="lower")
    with pytest.raises(InputError, match="hessian"):
        engine.jacobian(expression="x*2", point={"x": [1.0, 2.0]}, sparse=True,
                        triangle="lower")
    with pytest.raises(InputError, match="triangle must be one of"):
        engine.hessian(expression="x[0]*x[1]", point={"x": [1.0, 2.0]}, sparse=True,
                       triangle="upper")
