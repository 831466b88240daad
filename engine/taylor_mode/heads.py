"""Constant terms of the Taylor rules at float64 or at extended precision.

After the 0th coefficient every recurrence is arithmetic, so the same rules run on numpy
object arrays of mpmath numbers; only the 0th coefficients of transcendental functions need
functions of their own. A rule asks for them through :func:`head`, which calls the numpy
function on float64 arrays and its mpmath twin, elementwise, on object arrays (in the context
:data:`CONTEXT` holds for the computation). Outside the real domain the twin answers nan, as
numpy does, instead of mpmath's complex number.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

CONTEXT: contextvars.ContextVar[Any] = contextvars.ContextVar("mp_context", default=None)
"""The mpmath context of the extended-precision computation running in this thread."""


def _twin(name: str) -> Callable[..., Any]:
    return lambda ctx, *args: getattr(ctx, name)(*args)


_TWINS: dict[Any, Callable[..., Any]] = {
    np.sin: _twin("sin"), np.cos: _twin("cos"), np.tan: _twin("tan"),
    np.arcsin: _twin("asin"), np.arccos: _twin("acos"), np.arctan: _twin("atan"),
    np.sinh: _twin("sinh"), np.cosh: _twin("cosh"), np.tanh: _twin("tanh"),
    np.arcsinh: _twin("asinh"), np.arccosh: _twin("acosh"), np.arctanh: _twin("atanh"),
    np.exp: _twin("exp"), np.expm1: _twin("expm1"), np.log: _twin("ln"),
    np.log1p: _twin("log1p"), np.sqrt: _twin("sqrt"), np.cbrt: _twin("cbrt"),
    np.arctan2: _twin("atan2"), np.power: _twin("power"),
    special.erf: _twin("erf"), special.erfc: _twin("erfc"),
    special.expit: lambda ctx, x: 1 / (1 + ctx.exp(-x)),
}


def register(f: Any, twin: Callable[..., Any]) -> None:
    """Give ``f`` (a numpy function of the rules' constant terms) its mpmath twin
    ``twin(ctx, *args)``."""
    _TWINS[f] = twin


def is_extended(*arrays: Any) -> bool:
    """Whether any argument is an object array (an extended-precision computation)."""
    return any(isinstance(a, np.ndarray) and a.dtype == object for a in arrays)


def _real(ctx: Any, f: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    try:
        out = f(ctx, *args)
    except (ValueError, ZeroDivisionError):
        return ctx.nan
    return ctx.nan if isinstance(out, ctx.mpc) else out


def head(f: Any, *args: Any) -> Any:
    """``f(*args)`` on float64 arrays, its mpmath twin elementwise on object arrays."""
    if not is_extended(*args):
        return f(*args)
    ctx = CONTEXT.get()
    twin = _TWINS[f]
    broadcast = np.broadcast_arrays(*[np.asarray(a, dtype=object) for a in args])
    out = np.empty(broadcast[0].shape, dtype=object)
    for idx in np.ndindex(out.shape):
        out[idx] = _real(ctx, twin, tuple(ctx.mpf(a[idx]) for a in broadcast))
    return out


def fraction(numerator: int, denominator: int, like: Any) -> Any:
    """numerator/denominator at the precision of ``like`` (1/3 is not a float64)."""
    if not is_extended(like):
        return numerator / denominator
    return CONTEXT.get().mpf(numerator) / denominator


def dtype_of(*arrays: Any) -> Any:
    """object if any argument is an object array, else float64."""
    return object if is_extended(*arrays) else np.float64


def isfinite(x: Any) -> Any:
    """np.isfinite, elementwise on object arrays too (mpmath numbers)."""
    if not is_extended(x):
        return np.isfinite(x)
    ctx = CONTEXT.get()
    return np.vectorize(lambda v: bool(ctx.isfinite(v)), otypes=[bool])(x)

