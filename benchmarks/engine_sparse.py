"""Sparse Jacobians and Hessians (API.md §6) against CasADi, measured in the same run: the
Rosenbrock Hessian (warm and with a new expression text every call), the Bratu Jacobian, a 2-D
5-point stencil, colors against their bounds, CasADi's patterns and values, and the end-to-end
HTTP cost of a sparse Hessian."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import rosen_hess_prod

import engine
from benchmarks.harness import Row, Session, benchmark, compare, info, measure
from benchmarks.transport_floor import floor_server
from engine import Limits

GROUP = "sparse"
ROSENBROCK = "sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)"
BRATU = "x[:-2] - 2*x[1:-1] + x[2:] + h**2*lam*exp(x[1:-1])"
STENCIL = ("4*u[1:-1, 1:-1] - u[:-2, 1:-1] - u[2:, 1:-1] - u[1:-1, :-2] - u[1:-1, 2:]"
           " + exp(u[1:-1, 1:-1])")
BIG = Limits(max_tensor_elements=10**7, max_work=1e13, max_nodes=10**6,
             max_sparse_entries=10**8)
"""Limits large enough for every case (the service's defaults are not what is measured)."""
RTOL = 1e-12
GRID = 300


def load_casadi() -> Any:
    """The casadi module, or None (``make bench`` installs it; it is never a runtime dep)."""
    try:
        import casadi
    except ImportError:
        return None
    return casadi


def _csr(answer: dict[str, Any], values: Any = None) -> sp.csr_matrix:
    data = answer["values"] if values is None else values
    m = sp.csr_matrix((np.asarray(data, dtype=np.float64), (answer["rows"], answer["cols"])),
                      shape=tuple(answer["shape"]))
    m.sort_indices()
    return m


def _casadi_csr(dm: Any) -> sp.csr_matrix:
    """A CasADi DM as CSR, structural zeros kept."""
    m = sp.csr_matrix(dm.sparse())
    m.sort_indices()
    return m


def _entries(m: sp.csr_matrix) -> set[tuple[int, int]]:
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    return set(zip(rows.tolist(), m.indices.tolist(), strict=True))


def _agree(ours: sp.csr_matrix, theirs: sp.csr_matrix) -> tuple[bool, str]:
    """Same pattern and values to RTOL (relative to the largest entry), with a note."""
    same = ours.shape == theirs.shape and _entries(ours) == _entries(theirs)
    err = abs(ours - theirs).max() / max(abs(theirs).max(), 1e-300)
    ok = same and err <= RTOL
    return ok, (f"pattern {'=' if same else '≠'} CasADi's ({ours.nnz} entries), "
                f"max rel. diff {err:.1e}")


def _missing(key: str, title: str) -> list[Row]:
    return [info(key, title, None, "casadi not installed (make bench installs it)")]


def _check(key: str, title: str, ok: bool, got: str, target: str, note: str = "") -> Row:
    """A row that is a check, not a timing (colors, agreement)."""
    return Row(key, title, None, "—", None, limit=0.0, target=target, ok=ok, note=note,
               engine_text=got)


# ---------------------------------------------------------------- CasADi models

def casadi_rosenbrock(ca: Any, n: int) -> Any:
    """f, g, H of the Rosenbrock sum as one CasADi Function (symbolic Hessian, SX)."""
    x = ca.SX.sym("x", n)
    f = ca.sum1(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    h, g = ca.hessian(f, x)
    return ca.Function("rosenbrock", [x], [f, g, h])


def casadi_bratu(ca: Any, n: int, h: float, lam: float) -> Any:
    """r, J of the Bratu residual."""
    x = ca.SX.sym("x", n)
    r = x[:-2] - 2 * x[1:-1] + x[2:] + h**2 * lam * ca.exp(x[1:-1])
    return ca.Function("bratu", [x], [r, ca.jacobian(r, x)])


def casadi_stencil(ca: Any, p: int, q: int) -> tuple[Any, Any]:
    """(r, J) and (f, g, H) of the stencil residual on the C-ordered flattened grid."""
    u = ca.SX.sym("u", p * q)
    idx = np.arange(p * q).reshape(p, q)

    def at(block: np.ndarray) -> Any:
        return u[block.reshape(-1).tolist()]
    centre = at(idx[1:-1, 1:-1])
    r = (4 * centre - at(idx[:-2, 1:-1]) - at(idx[2:, 1:-1]) - at(idx[1:-1, :-2])
         - at(idx[1:-1, 2:]) + ca.exp(centre))
    jac = ca.Function("stencil_jacobian", [u], [r, ca.jacobian(r, u)])
    f = ca.sumsqr(r)
    hess, g = ca.hessian(f, u)
    return jac, ca.Function("stencil_hessian", [u], [f, g, hess])


# ---------------------------------------------------------------- Rosenbrock

def _points(n: int, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, n) for _ in range(count)]


@benchmark("6.1", "sparse_rosenbrock_hessian_warm", GROUP)
def rosenbrock_warm(s: Session) -> list[Row]:
    """n = 10^5, expression cached, a new point every call, against CasADi's evaluation of f,
    g and H; checked against CasADi and scipy's rosen_hess_prod."""
    title = "Rosenbrock sparse Hessian n=10^5, cached, new point"
    ca = load_casadi()
    if ca is None:
        return _missing("6.1", title)
    n = 100_000
    points = _points(n, 4, 1)
    func = casadi_rosenbrock(ca, n)
    cycle_e, cycle_c = itertools.cycle(points), itertools.cycle(points)

    def run_engine() -> dict[str, Any]:
        return engine.hessian(expression=ROSENBROCK, point={"x": next(cycle_e)}, sparse=True,
                              limits=BIG)

    def run_casadi() -> Any:
        return func(next(cycle_c))

    x = points[0]
    ours = _csr(engine.hessian(expression=ROSENBROCK, point={"x": x}, sparse=True,
                               limits=BIG)["hessian"])
    ok, note = _agree(ours, _casadi_csr(func(x)[2]))
    p = np.random.default_rng(2).normal(size=n)
    expected = rosen_hess_prod(x, p)
    prod_err = float(np.max(abs(ours @ p - expected)) / np.max(abs(expected)))
    ok = ok and prod_err <= RTOL
    timings = measure({"engine": run_engine, "CasADi evaluate f, g, H": run_casadi}, s.cfg)
    return [compare("6.1", title, timings, "engine", "CasADi evaluate f, g, H", limit=1.0,
                    target="≤ 1.0× CasADi", correct=ok,
                    note=f"{note}; H·p vs scipy rosen_hess_prod {prod_err:.1e}",
                    profile=run_engine)]


@benchmark("6.2", "sparse_rosenbrock_hessian_new_text", GROUP)
def rosenbrock_cold(s: Session) -> list[Row]:
    """n = 10^5 with a new expression text every call (parse, detect, color, evaluate) against
    CasADi's symbolic Hessian, Function build and one evaluation."""
    title = "Rosenbrock sparse Hessian n=10^5, new expression text every call"
    ca = load_casadi()
    if ca is None:
        return _missing("6.2", title)
    n = 100_000
    x = _points(n, 1, 3)[0]
    counter = itertools.count()
    colors: list[int] = []

    def run_engine() -> dict[str, Any]:
        # A different text each call: nothing is cached (compiled graph, pattern, coloring).
        out = engine.hessian(expression=f"{ROSENBROCK} + {next(counter)}", point={"x": x},
                             sparse=True, limits=BIG)
        colors.append(out["hessian"]["colors"])
        return out

    def run_casadi() -> Any:
        return casadi_rosenbrock(ca, n)(x)

    repeats = 2 if s.cfg.quick else 3
    timings = measure({"engine": run_engine, "CasADi build + evaluate": run_casadi}, s.cfg,
                      warmup=0, max_number=1, repeats=repeats)
    return [compare("6.2", title, timings, "engine", "CasADi build + evaluate", limit=0.2,
                    target="≤ 0.2× CasADi", correct=set(colors) == {3},
                    note=f"best of {repeats}; colors {sorted(set(colors))}",
                    profile=run_engine)]


@benchmark("6.3", "sparse_rosenbrock_hessian_n1000", GROUP)
def rosenbrock_small(s: Session) -> list[Row]:
    """n = 10^3 warm: against our own dense Hessian and against CasADi's evaluation; colors."""
    n = 1000
    points = _points(n, 4, 4)
    cycles = [itertools.cycle(points) for _ in range(3)]
    ca = load_casadi()

    def run_sparse() -> dict[str, Any]:
        return engine.hessian(expression=ROSENBROCK, point={"x": next(cycles[0])}, sparse=True)

    def run_dense() -> dict[str, Any]:
        return engine.hessian(expression=ROSENBROCK, point={"x": next(cycles[1])})

    candidates: dict[str, Callable[[], Any]] = {"engine sparse": run_sparse,
                                                "engine dense": run_dense}
    x = points[0]
    sparse_h = engine.hessian(expression=ROSENBROCK, point={"x": x}, sparse=True)["hessian"]
    dense_h = np.asarray(engine.hessian(expression=ROSENBROCK, point={"x": x})["hessian"])
    ours = _csr(sparse_h)
    ok = bool(np.allclose(ours.toarray(), dense_h, rtol=RTOL, atol=RTOL))
    note = ""
    if ca is not None:
        func = casadi_rosenbrock(ca, n)
        candidates["CasADi evaluate f, g, H"] = lambda: func(next(cycles[2]))
        agree, note = _agree(ours, _casadi_csr(func(x)[2]))
        ok = ok and agree
    timings = measure(candidates, s.cfg)
    rows = [compare("6.3", "Rosenbrock sparse Hessian n=10^3 vs our dense Hessian", timings,
                    "engine sparse", "engine dense", limit=0.1, target="≤ 0.1× dense",
                    correct=ok, profile=run_sparse)]
    if ca is None:
        rows += _missing("6.4", "Rosenbrock sparse Hessian n=10^3 vs CasADi")
    else:
        rows.append(compare("6.4", "Rosenbrock sparse Hessian n=10^3 vs CasADi", timings,
                            "engine sparse", "CasADi evaluate f, g, H", limit=3.0,
                            target="≤ 3× CasADi", correct=ok, note=note, profile=run_sparse))
    colors = {k: engine.sparsity(expression=ROSENBROCK, of="hessian", shapes={"x": [k]},
                                 limits=BIG)["colors"] for k in (1000, 100_000)}
    rows.append(_check("6.5", "Rosenbrock Hessian colors (n=10^3, 10^5)",
                       set(colors.values()) == {3}, " / ".join(map(str, colors.values())),
                       "colors = 3"))
    return rows


# ---------------------------------------------------------------- Bratu

@benchmark("6.6", "sparse_bratu_jacobian", GROUP)
def bratu(s: Session) -> list[Row]:
    """n = 10^5 warm sparse Jacobian (with the residual) against CasADi's r, J evaluation."""
    title = "Bratu sparse Jacobian n=10^5, warm"
    ca = load_casadi()
    if ca is None:
        return _missing("6.6", title)
    n, lam = 100_000, 3.0
    h = 1.0 / (n + 1)
    rng = np.random.default_rng(5)
    points = [rng.uniform(0, 1, n) for _ in range(4)]
    func = casadi_bratu(ca, n, h, lam)
    consts = {"h": h, "lam": lam}
    cycle_e, cycle_c = itertools.cycle(points), itertools.cycle(points)

    def run_engine() -> dict[str, Any]:
        return engine.jacobian(expression=BRATU, point={"x": next(cycle_e)}, constants=consts,
                               sparse=True, limits=BIG)

    def run_casadi() -> Any:
        return func(next(cycle_c))

    jac = engine.jacobian(expression=BRATU, point={"x": points[0]}, constants=consts,
                          sparse=True, limits=BIG)["jacobian"]
    ok, note = _agree(_csr(jac), _casadi_csr(func(points[0])[1]))
    timings = measure({"engine": run_engine, "CasADi evaluate r, J": run_casadi}, s.cfg)
    return [compare("6.6", title, timings, "engine", "CasADi evaluate r, J", limit=1.5,
                    target="≤ 1.5× CasADi, 3 colors", correct=ok and jac["colors"] == 3,
                    note=f"{jac['colors']} colors; {note}", profile=run_engine)]


# ---------------------------------------------------------------- 2-D stencil

@benchmark("6.7", "sparse_stencil_2d", GROUP)
def stencil(s: Session) -> list[Row]:
    """The 5-point stencil on a 300 × 300 grid: Jacobian colors (5), the Hessian of the sum of
    squares' colors against the lower bound of direct column recovery (largest row nnz), both
    against CasADi's pattern and values, timings for information."""
    u = np.random.default_rng(6).uniform(0, 1, (GRID, GRID))
    hess_text = f"sum(({STENCIL})**2)"
    jac = engine.jacobian(expression=STENCIL, point={"u": u}, sparse=True, limits=BIG)
    hess = engine.hessian(expression=hess_text, point={"u": u}, sparse=True, limits=BIG)
    ours_j, ours_h = _csr(jac["jacobian"]), _csr(hess["hessian"])
    bound = int(np.diff(ours_h.indptr).max())
    ca = load_casadi()
    notes_j, notes_h, ok_j, ok_h = "", "", True, True
    rows: list[Row] = []
    if ca is not None:
        func_j, func_h = casadi_stencil(ca, GRID, GRID)
        flat = u.reshape(-1)
        ok_j, notes_j = _agree(ours_j, _casadi_csr(func_j(flat)[1]))
        ok_h, notes_h = _agree(ours_h, _casadi_csr(func_h(flat)[2]))
        timings = measure({
            "engine J": lambda: engine.jacobian(expression=STENCIL, point={"u": u},
                                                sparse=True, limits=BIG),
            "CasADi r, J": lambda: func_j(flat),
            "engine H": lambda: engine.hessian(expression=hess_text, point={"u": u},
                                               sparse=True, limits=BIG),
            "CasADi f, g, H": lambda: func_h(flat)}, s.cfg, repeats=min(s.cfg.repeats, 11))
        rows += [compare("6.7t", "stencil 300×300 sparse Jacobian, warm (info)", timings,
                         "engine J", "CasADi r, J", limit=None, target="report"),
                 compare("6.8t", "stencil 300×300 sparse Hessian, warm (info)", timings,
                         "engine H", "CasADi f, g, H", limit=None, target="report")]
    colors_j, colors_h = jac["jacobian"]["colors"], hess["hessian"]["colors"]
    rows.insert(0, _check("6.7", "stencil 300×300 Jacobian colors", colors_j == 5 and ok_j,
                          f"{colors_j} colors", "colors = 5", notes_j))
    rows.insert(1, _check("6.8", "stencil 300×300 Hessian of Σr²: colors vs largest row nnz",
                          ok_h, f"{colors_h} colors (bound {bound})",
                          "report; pattern/values = CasADi", notes_h))
    return rows


# ---------------------------------------------------------------- over HTTP

def _encoded(a: np.ndarray) -> dict[str, Any]:
    data = base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode()
    return {"dtype": "float64", "shape": list(a.shape), "data": data}


def _decoded(value: Any) -> np.ndarray:
    if isinstance(value, dict):
        raw = base64.b64decode(value["data"])
        return np.frombuffer(raw, dtype=f"<{'f8' if value['dtype'] == 'float64' else 'f4'}")
    return np.asarray(value, dtype=np.float64)


@benchmark("6.9", "sparse_rosenbrock_hessian_http", GROUP)
def http(s: Session) -> list[Row]:
    """n = 10^5 sparse Hessian over HTTP (a real server on 127.0.0.1, base64 arrays both ways)
    against the same call in the engine. As in the data-plane benchmarks, the HTTP time runs
    from sending the pre-encoded body to holding the whole answer; the client's own decoding of
    that answer (its 6·10^5 indices are JSON lists, API.md §6) is timed beside it and
    reported."""
    import httpx

    from benchmarks.service_common import Server

    n = 100_000
    points = _points(n, 4, 7)
    env = {"DIFFAPI_MAX_TENSOR_ELEMENTS": str(10**7), "DIFFAPI_MAX_WORK": "1e13",
           "DIFFAPI_MAX_CONCURRENT_JOBS": "1"}
    headers = {"Content-Type": "application/json"}
    with Server(1, env=env) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        bodies = [json.dumps({"expression": ROSENBROCK, "point": {"x": _encoded(x)},
                              "sparse": True, "array_encoding": "base64"}).encode()
                  for x in points]
        first = client.post("/v1/hessian", content=bodies[0], headers=headers)
        first.raise_for_status()
        answer = first.json()["hessian"]
        expected = engine.hessian(expression=ROSENBROCK, point={"x": points[0]}, sparse=True,
                                  limits=BIG)["hessian"]
        ok = bool(np.allclose(_decoded(answer["values"]), expected["values"], rtol=RTOL,
                              atol=0) and answer["nnz"] == expected["nnz"]
                  and np.array_equal(answer["rows"], expected["rows"])
                  and np.array_equal(answer["cols"], expected["cols"]))
        cycle_h, cycle_e = itertools.cycle(bodies), itertools.cycle(points)
        received = first.content

        def run_http() -> bytes:
            return client.post("/v1/hessian", content=next(cycle_h), headers=headers).content

        def run_http_decoded() -> dict[str, Any]:
            out = client.post("/v1/hessian", content=next(cycle_h), headers=headers).json()
            _decoded(out["hessian"]["values"])
            return out

        def decode() -> np.ndarray:
            return _decoded(json.loads(received)["hessian"]["values"])

        def run_engine() -> dict[str, Any]:
            return engine.hessian(expression=ROSENBROCK, point={"x": next(cycle_e)},
                                  sparse=True, limits=BIG)

        with floor_server() as url, httpx.Client(base_url=url, timeout=60) as bare:
            def run_floor() -> bytes:
                return bare.post(f"/{len(received)}", content=next(cycle_h),
                                 headers=headers).content

            timings = measure({"HTTP": run_http, "HTTP + decode": run_http_decoded,
                               "decode": decode, "engine": run_engine,
                               "transport floor": run_floor}, s.cfg,
                              repeats=min(s.cfg.repeats, 11))
    size = f"{len(bodies[0]) / 1e6:.2f} MB sent, {len(received) / 1e6:.2f} MB received"
    floor, cost = timings["transport floor"].best, timings["engine"].best
    return [compare("6.9", "Rosenbrock sparse Hessian n=10^5 over HTTP (base64)", timings,
                    "HTTP", "engine", limit=3.0, target="≤ 3× engine", correct=ok,
                    note=f"pre-encoded body, answer bytes in hand; {size}"),
            compare("6.9f", "… the transport floor: the same bytes both ways through the same "
                    "uvicorn and client, nothing computed", timings, "transport floor",
                    "engine", limit=None, target="report",
                    note=f"(engine + floor) / engine = {(cost + floor) / cost:.2f}×: the least "
                         "the 6.9 ratio can be here without overlapping the engine with the "
                         "transfer"),
            compare("6.9d", "… same, with the client's decoding (httpx .json(), base64 values)",
                    timings, "HTTP + decode", "engine", limit=None, target="report",
                    correct=ok, note=f"the decoding alone (json.loads + b64decode): "
                                     f"{timings['decode'].best * 1e3:.1f} ms")]
