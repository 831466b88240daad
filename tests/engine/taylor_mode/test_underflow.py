"""High orders whose normalized Taylor coefficients underflow float64 while the derivative
does not: the engine rescales the direction instead of answering 0 (references: closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine


@pytest.mark.parametrize("order", [400, 1000])
def test_exp_derivatives_stay_exp(order: int) -> None:
    out = engine.derivative(expression="exp(t)", point={"t": 1.0}, variable="t", order=order)
    assert out["derivative"] == pytest.approx(math.e, rel=1e-12)
    assert out["warnings"] == []


def test_batched_points_rescale_independently() -> None:
    out = engine.derivative(expression="[exp(-t), sin(t)]", points={"t": [1.0, 2.0]},
                            variable="t", order=400)
    expected = [[math.exp(-1.0), math.sin(1.0)], [math.exp(-2.0), math.sin(2.0)]]
    np.testing.assert_allclose(out["derivative"], expected, rtol=1e-11)


def test_overflowing_derivative_is_infinite_with_its_sign_and_a_warning() -> None:
    # d^1000/dt^1000 sin(t^3) at 1 is about -9.7e1924 (exact integer arithmetic, see benchmarks).
    out = engine.derivative(expression="sin(t**3)", point={"t": 1.0}, variable="t", order=1000)
    assert out["derivative"] == -math.inf
    assert any("derivative" in w for w in out["warnings"])


def test_polynomial_zeros_are_not_rescued() -> None:
    out = engine.derivative(expression="t**3 + t", point={"t": 1.5}, variable="t", order=50)
    assert out["derivative"] == 0.0
