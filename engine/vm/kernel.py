"""The tape interpreter: one numba-compiled loop over scalar instructions, compiled once.

The op codes live here, beside the loop that reads them, because numba's on-disk cache is keyed
on this file alone: a code changed elsewhere would leave a stale compiled loop behind.
An instruction is five int32s ``(op, dst, a, b, c)`` naming registers of one float64 array;
unary ops ignore ``b`` and ``c``. Each function mirrors what the numpy path computes for that
op (NumPy's and SciPy's own formulas where they are not a single libm call), so both paths give
the same numbers, non-finite ones included.
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np

if ("NUMBA_CACHE_DIR" not in os.environ and not os.access(os.path.dirname(__file__), os.W_OK)
        and not os.access(os.path.expanduser("~"), os.W_OK)):
    # Installed read-only for a user without a writable home: numba would find no place for
    # its cache and refuse to define the functions at all.
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), "diffapi-numba")

from numba import njit  # after the cache directory is settled

ADD, SUB, MUL, DIV, NEG = 0, 1, 2, 3, 4
SQUARE, CUBE, FOURTH, RECIP, POW = 5, 6, 7, 8, 9
SMUL = 10
"""The forward-mode product d·t: 0 where t is 0 and d·t is NaN (the numpy path's rule)."""
SIN, COS, TAN, ASIN, ACOS, ATAN = 11, 12, 13, 14, 15, 16
SINH, COSH, TANH, ASINH, ACOSH, ATANH = 17, 18, 19, 20, 21, 22
EXP, EXPM1, LOG, LOG1P, SQRT, CBRT = 23, 24, 25, 26, 27, 28
ABS, ERF, ERFC, SIGMOID, SOFTPLUS, RELU, SIGN = 29, 30, 31, 32, 33, 34, 35
ATAN2, MAX, MIN = 36, 37, 38
LT, LE, GT, GE, EQ, NE, WHERE = 39, 40, 41, 42, 43, 44, 45
SIGMOID_SLOPE = 46
SINCOS = 47
"""sin of ``a`` into ``dst`` and its cos into ``c`` (a tape's pair of sin and cos, fused)."""

_LOGE2 = math.log(2.0)

# sin and cos in lanes: fdlibm's kernel polynomials (k_sin.c, k_cos.c) on a Cody-Waite reduction
# by pi/2 split in 33 + 33 + 53 bits (e_rem_pio2.c's two steps), with no branch and no call, so
# LLVM vectorizes the lane loop; within 1 ulp of libm for |x| <= TRIG_LANES_LIMIT.
TRIG_LANES_LIMIT = 2.0 ** 19
_S1, _S2, _S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
_S4, _S5, _S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
_C1, _C2, _C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
_C4, _C5, _C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11
_INVPIO2 = 6.36619772367581382433e-01
_PIO2_1 = 1.57079632673412561417e+00
_PIO2_2, _PIO2_2T = 6.07710050630396597660e-11, 2.02226624879595063154e-21


@njit(cache=True, nogil=True, error_model="numpy")
def _maximum(a: float, b: float) -> float:
    # NumPy's SIMD loop: a NaN wins, else the second operand unless the first is greater
    # (so a tie of -0.0 and 0.0 gives the second).
    if a != a:
        return a
    if b != b:
        return b
    return a if a > b else b


@njit(cache=True, nogil=True, error_model="numpy")
def _minimum(a: float, b: float) -> float:
    if a != a:
        return a
    if b != b:
        return b
    return a if a < b else b


@njit(cache=True, nogil=True, error_model="numpy")
def _softplus(x: float) -> float:
    # NumPy's logaddexp(0, x).
    if x == 0.0:
        return _LOGE2
    tmp = 0.0 - x
    if tmp > 0:
        return math.log1p(math.exp(-tmp))
    if tmp <= 0:
        return x + math.log1p(math.exp(tmp))
    return tmp


@njit(cache=True, nogil=True, error_model="numpy")
def _sign(x: float) -> float:
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    if x == 0:
        return 0.0
    return x


@njit(cache=True, nogil=True, error_model="numpy")
def execute(code: np.ndarray, regs: np.ndarray) -> None:
    """Run every instruction of ``code`` (T×5 int32) on ``regs`` in order."""
    for t in range(code.shape[0]):
        op = code[t, 0]
        a = regs[code[t, 2]]
        if op < SIN:
            b = regs[code[t, 3]]
            if op == ADD:
                r = a + b
            elif op == MUL:
                r = a * b
            elif op == SMUL:
                r = a * b
                if r != r and b == 0.0:
                    r = 0.0
            elif op == SUB:
                r = a - b
            elif op == DIV:
                r = a / b
            elif op == NEG:
                r = -a
            elif op == SQUARE:
                r = a * a
            elif op == CUBE:
                r = a * a * a
            elif op == FOURTH:
                r = a * a
                r = r * r
            elif op == RECIP:
                r = 1.0 / a
            else:
                r = a ** b
        elif op == SIN:
            r = math.sin(a)
        elif op == COS:
            r = math.cos(a)
        elif op == EXP:
            r = math.exp(a)
        elif op == SQRT:
            r = math.sqrt(a) if a >= 0 else math.nan
        elif op == ABS:
            r = abs(a)
        elif op == WHERE:
            r = regs[code[t, 3]] if a != 0.0 else regs[code[t, 4]]
        elif op == SINCOS:
            r = math.sin(a)
            regs[code[t, 4]] = math.cos(a)
        elif ATAN2 <= op < SIGMOID_SLOPE:
            r = _binary_op(op, a, regs[code[t, 3]])
        else:
            r = _scalar_op(op, a, 0.0)
        regs[code[t, 1]] = r


@njit(cache=True, nogil=True, error_model="numpy")
def run_points(code: np.ndarray, regs: np.ndarray, in_regs: np.ndarray, inputs: np.ndarray,
               out_regs: np.ndarray, out: np.ndarray, finite: np.ndarray,
               nonzero: np.ndarray) -> int:
    """Run the tape once per point (column ``p`` of ``inputs``, n_in × N) into column ``p`` of
    ``out`` (n_out × N); the count of non-finite outputs, or -1 as soon as a guard fails (a
    ``finite`` register is not finite, a ``nonzero`` one is zero or NaN)."""
    bad = 0
    for p in range(inputs.shape[1]):
        for i in range(in_regs.shape[0]):
            regs[in_regs[i]] = inputs[i, p]
        execute(code, regs)
        for i in range(finite.shape[0]):
            if not math.isfinite(regs[finite[i]]):
                return -1
        for i in range(nonzero.shape[0]):
            v = regs[nonzero[i]]
            if v == 0.0 or v != v:
                return -1
        for j in range(out_regs.shape[0]):
            v = regs[out_regs[j]]
            out[j, p] = v
            if not math.isfinite(v):
                bad += 1
    return bad


@njit(cache=True, nogil=True, error_model="numpy")
def _trig_lanes(regs: np.ndarray, a: int, n: int, ds: int, dc: int) -> None:
    """sin of the first ``n`` lanes of register ``a`` into ``ds`` and cos into ``dc`` (either
    -1: not wanted); a block holding an argument beyond ``TRIG_LANES_LIMIT`` (or not finite)
    runs libm on every lane instead."""
    for p in range(n):
        if not abs(regs[a, p]) <= TRIG_LANES_LIMIT:
            for q in range(n):
                x = regs[a, q]
                if ds >= 0:
                    regs[ds, q] = math.sin(x)
                if dc >= 0:
                    regs[dc, q] = math.cos(x)
            return
    for p in range(n):
        x = regs[a, p]
        fn = np.rint(x * _INVPIO2)
        t = x - fn * _PIO2_1
        r = t - fn * _PIO2_2
        w = fn * _PIO2_2T - ((t - r) - fn * _PIO2_2)
        y0 = r - w
        y1 = (r - y0) - w
        z = y0 * y0
        v = z * y0
        sn = y0 - ((z * (0.5 * y1 - v * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))))
                    - y1) - v * _S1)
        hz = 0.5 * z
        c = 1.0 - hz
        cs = c + (((1.0 - c) - hz)
                  + (z * (z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6))))))
                     - y0 * y1))
        # Quadrant k of x: sin x is ±sin or ±cos of the reduced argument; cos x = sin(x + pi/2)
        # is the same one quadrant on.
        k = fn - 4.0 * math.floor(fn * 0.25)
        odd = k == 1.0 or k == 3.0
        if ds >= 0:
            out = cs if odd else sn
            out = -out if k >= 2.0 else out
            # The reduction turns -0.0 into +0.0; sin keeps the sign of zero, as libm does.
            regs[ds, p] = out if x != 0.0 else x
        if dc >= 0:
            out = sn if odd else cs
            regs[dc, p] = -out if (k == 1.0 or k == 2.0) else out


@njit(cache=True, nogil=True, error_model="numpy")
def execute_block(code: np.ndarray, regs: np.ndarray, n: int, fast_trig: bool) -> None:
    """Run every instruction of ``code`` on the first ``n`` lanes of ``regs`` (registers ×
    lanes): the same ops as :func:`execute`, one point per lane (sin and cos by
    :func:`_trig_lanes` when ``fast_trig``, else by libm as there)."""
    for t in range(code.shape[0]):
        op = code[t, 0]
        d = code[t, 1]
        a = code[t, 2]
        b = code[t, 3]
        if op == ADD:
            for p in range(n):
                regs[d, p] = regs[a, p] + regs[b, p]
        elif op == MUL:
            for p in range(n):
                regs[d, p] = regs[a, p] * regs[b, p]
        elif op == SMUL:
            for p in range(n):
                s = regs[a, p] * regs[b, p]
                regs[d, p] = 0.0 if s != s and regs[b, p] == 0.0 else s
        elif op == SUB:
            for p in range(n):
                regs[d, p] = regs[a, p] - regs[b, p]
        elif op == DIV:
            for p in range(n):
                regs[d, p] = regs[a, p] / regs[b, p]
        elif op == NEG:
            for p in range(n):
                regs[d, p] = -regs[a, p]
        elif op == SQUARE:
            for p in range(n):
                regs[d, p] = regs[a, p] * regs[a, p]
        elif op == CUBE:
            for p in range(n):
                regs[d, p] = regs[a, p] * regs[a, p] * regs[a, p]
        elif op == FOURTH:
            for p in range(n):
                s = regs[a, p] * regs[a, p]
                regs[d, p] = s * s
        elif op == RECIP:
            for p in range(n):
                regs[d, p] = 1.0 / regs[a, p]
        elif fast_trig and op in (SIN, COS, SINCOS):
            if op == SINCOS:
                _trig_lanes(regs, a, n, d, code[t, 4])
            else:
                _trig_lanes(regs, a, n, d if op == SIN else -1, d if op == COS else -1)
        elif op == SINCOS:
            c = code[t, 4]
            for p in range(n):
                regs[d, p] = math.sin(regs[a, p])
                regs[c, p] = math.cos(regs[a, p])
        elif op == SIN:
            for p in range(n):
                regs[d, p] = math.sin(regs[a, p])
        elif op == COS:
            for p in range(n):
                regs[d, p] = math.cos(regs[a, p])
        elif op == EXP:
            for p in range(n):
                regs[d, p] = math.exp(regs[a, p])
        elif op == SQRT:
            for p in range(n):
                x = regs[a, p]
                regs[d, p] = math.sqrt(x) if x >= 0 else math.nan
        elif op == ABS:
            for p in range(n):
                regs[d, p] = abs(regs[a, p])
        elif op == WHERE:
            c = code[t, 4]
            for p in range(n):
                regs[d, p] = regs[b, p] if regs[a, p] != 0.0 else regs[c, p]
        elif ATAN2 <= op < SIGMOID_SLOPE:
            for p in range(n):
                regs[d, p] = _binary_op(op, regs[a, p], regs[b, p])
        else:
            for p in range(n):
                regs[d, p] = _scalar_op(op, regs[a, p], regs[b, p])


@njit(cache=True, nogil=True, error_model="numpy")
def _binary_op(op: int, a: float, b: float) -> float:
    """atan2, max, min and the comparisons (1.0 or 0.0), one pair of values at a time."""
    if op == ATAN2:
        return math.atan2(a, b)
    if op == MAX:
        return _maximum(a, b)
    if op == MIN:
        return _minimum(a, b)
    if op == LT:
        return 1.0 if a < b else 0.0
    if op == LE:
        return 1.0 if a <= b else 0.0
    if op == GT:
        return 1.0 if a > b else 0.0
    if op == GE:
        return 1.0 if a >= b else 0.0
    if op == EQ:
        return 1.0 if a == b else 0.0
    return 1.0 if a != b else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _scalar_op(op: int, a: float, b: float) -> float:
    """The rarer unary ops and ``pow``, one value at a time."""
    if op == POW:
        return a ** b
    if op == LOG:
        return math.log(a) if a > 0 else (-math.inf if a == 0 else math.nan)
    if op == TAN:
        return math.tan(a)
    if op == ASIN:
        return math.asin(a) if -1.0 <= a <= 1.0 else math.nan
    if op == ACOS:
        return math.acos(a) if -1.0 <= a <= 1.0 else math.nan
    if op == ATAN:
        return math.atan(a)
    if op == SINH:
        return math.sinh(a)
    if op == COSH:
        return math.cosh(a)
    if op == TANH:
        return math.tanh(a)
    if op == ASINH:
        return math.asinh(a)
    if op == ACOSH:
        return math.acosh(a) if a >= 1.0 else math.nan
    if op == ATANH:
        if -1.0 < a < 1.0:
            return math.atanh(a)
        if a == 1.0:
            return math.inf
        if a == -1.0:
            return -math.inf
        return math.nan
    if op == EXPM1:
        return math.expm1(a)
    if op == LOG1P:
        return math.log1p(a) if a > -1.0 else (-math.inf if a == -1.0 else math.nan)
    if op == CBRT:
        return np.cbrt(a)
    if op == ERF:
        return math.erf(a)
    if op == ERFC:
        return math.erfc(a)
    if op == SIGMOID:
        return 1.0 / (1.0 + math.exp(-a))
    if op == SIGMOID_SLOPE:
        return (1.0 / (1.0 + math.exp(-a))) * (1.0 / (1.0 + math.exp(a)))
    if op == SOFTPLUS:
        return _softplus(a)
    if op == RELU:
        return _maximum(a, 0.0)
    return _sign(a)


@njit(cache=True, nogil=True, error_model="numpy")
def run_blocks(code: np.ndarray, regs: np.ndarray, in_regs: np.ndarray, inputs: np.ndarray,
               out_regs: np.ndarray, out: np.ndarray, offset: int, finite: np.ndarray,
               nonzero: np.ndarray, fast_trig: bool) -> int:
    """Run the tape over the points of ``inputs`` (n_in × N), ``regs.shape[1]`` points at a
    time in lanes, writing columns ``offset:offset + N`` of ``out``; as :func:`run_points`
    the count of non-finite outputs, or -1 when a guard fails. ``fast_trig``: sin and cos by
    :func:`_trig_lanes` (within 1 ulp of libm) instead of libm."""
    width = regs.shape[1]
    total = inputs.shape[1]
    bad = 0
    for start in range(0, total, width):
        n = min(width, total - start)
        for i in range(in_regs.shape[0]):
            r = in_regs[i]
            for p in range(n):
                regs[r, p] = inputs[i, start + p]
        execute_block(code, regs, n, fast_trig)
        for i in range(finite.shape[0]):
            for p in range(n):
                if not math.isfinite(regs[finite[i], p]):
                    return -1
        for i in range(nonzero.shape[0]):
            for p in range(n):
                v = regs[nonzero[i], p]
                if v == 0.0 or v != v:
                    return -1
        for j in range(out_regs.shape[0]):
            r = out_regs[j]
            for p in range(n):
                v = regs[r, p]
                out[j, offset + start + p] = v
                if not math.isfinite(v):
                    bad += 1
    return bad
