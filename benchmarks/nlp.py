"""Benchmarks of the optimization oracle, ``POST /v1/nlp``, against ``diffapi serve`` on
127.0.0.1 (one uvicorn worker).

9.1  The chained Rosenbrock function with the trigonometric-exponential constraints of Lukšan
     and Vlček (n = 10^4 variables, n − 2 equality constraints, a banded Jacobian and a
     tridiagonal Lagrangian Hessian) solved by Ipopt twice: through cyipopt with the service
     as its derivative oracle (the client's ``IpoptProblem``), and by CasADi's own
     ``nlpsol("ipopt")`` on its own symbolic derivatives. Targets: the same optimum (x and f to
     1e-6) and iteration counts within ±2. Wall times of both (CasADi's split into building
     the solver, which derives the Hessian, and solving), the service calls, and the time per
     oracle call as the solver sees it are reported.
9.2  One ``/v1/nlp`` call against five separate calls for what Ipopt asks in one iteration
     (f, ∇f, g, ∂g/∂x, ∇²L) at the same n = 10^4 point: five ``/v1/nlp`` calls asking one
     field each (target: one call takes less time than the five), and, where the server has
     sparse answers, the five operations a user would otherwise call — ``evaluate`` f,
     ``gradient``, ``evaluate`` g, sparse ``jacobian``, sparse lower ``hessian`` of the
     Lagrangian written out by hand with λ as a constant (reported).

Arrays travel base64-encoded where the server takes them (the client's default for big
arrays), else as JSON lists; the report says which.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.harness import Row, Session, benchmark, compare, fmt_time, info, measure
from benchmarks.service_common import Server, machine

GROUP = "nlp"
N = 10_000
OBJECTIVE = "sum(100*(x[:-1]**2 - x[1:])**2 + (x[:-1] - 1)**2)"
_A, _B, _C = "x[:-2]", "x[1:-1]", "x[2:]"
CONSTRAINTS = (f"3*{_B}**3 + 2*{_C} - 5 + sin({_B} - {_C})*sin({_B} + {_C}) + 4*{_B} "
               f"- {_A}*exp({_A} - {_B}) - 3")
OPTIMUM_TOLERANCE = 1e-6
ITERATION_SLACK = 2
CLIENT_TIMEOUT = 300.0
AS_LISTS = 10**9
"""An encode threshold no array reaches: every array as JSON lists."""


def start_point(n: int) -> np.ndarray:
    """The classic Rosenbrock start, (-1.2, 1, -1.2, 1, …)."""
    return np.where(np.arange(n) % 2 == 0, -1.2, 1.0)


def _client(url: str) -> tuple[Any, str]:
    """A client of the server, with base64 arrays if the server takes them."""
    from diffapi_client import Client, DiffapiError

    client = Client(url, timeout=CLIENT_TIMEOUT)
    try:
        client.nlp("sum(x**2)", {"x": np.ones(client.encode_threshold)}, want=["objective"])
    except DiffapiError as err:
        if err.status != 422:
            raise
        client.encode_threshold = AS_LISTS
        return client, "JSON lists (this server refuses encoded arrays)"
    return client, "base64"


def _timed_problem(client: Any, n: int) -> Any:
    """The client's IpoptProblem with the seconds spent in its callbacks counted."""
    from diffapi_client import IpoptProblem

    class Timed(IpoptProblem):
        seconds = 0.0
        callbacks = 0

        def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self.seconds += time.perf_counter() - t0
                self.callbacks += 1

        def objective(self, x: np.ndarray) -> float:
            return self._timed(super().objective, x)  # type: ignore[no-any-return]

        def gradient(self, x: np.ndarray) -> np.ndarray:
            return self._timed(super().gradient, x)  # type: ignore[no-any-return]

        def constraints(self, x: np.ndarray) -> np.ndarray:
            return self._timed(super().constraints, x)  # type: ignore[no-any-return]

        def jacobian(self, x: np.ndarray) -> np.ndarray:
            return self._timed(super().jacobian, x)  # type: ignore[no-any-return]

        def hessian(self, x: np.ndarray, lagrange: np.ndarray, obj_factor: float
                    ) -> np.ndarray:
            return self._timed(super().hessian, x, lagrange, obj_factor)  # type: ignore[no-any-return]

    return Timed(client, OBJECTIVE, n, constraints=CONSTRAINTS)


def _quiet(problem: Any) -> None:
    problem.add_option("print_level", 0)
    problem.add_option("sb", "yes")


def _casadi(n: int) -> dict[str, Any]:
    import casadi as ca

    t0 = time.perf_counter()
    x = ca.SX.sym("x", n)
    a, b, c = x[:-2], x[1:-1], x[2:]
    f = ca.sum1(100 * (x[:-1] ** 2 - x[1:]) ** 2 + (x[:-1] - 1) ** 2)
    g = 3 * b**3 + 2 * c - 5 + ca.sin(b - c) * ca.sin(b + c) + 4 * b - a * ca.exp(a - b) - 3
    solver = ca.nlpsol("chained", "ipopt", {"x": x, "f": f, "g": g},
                       {"ipopt.print_level": 0, "ipopt.sb": "yes", "print_time": False})
    built = time.perf_counter()
    answer = solver(x0=start_point(n), lbg=0, ubg=0)
    solved = time.perf_counter()
    stats = solver.stats()
    return {"x": np.asarray(answer["x"]).reshape(-1), "f": float(answer["f"]),
            "iterations": int(stats["iter_count"]), "status": stats["return_status"],
            "build": built - t0, "solve": solved - built}


def _missing(key: str, title: str, what: str) -> list[Row]:
    return [Row(key, title, None, "—", None, target="runs", ok=False,
                note=f"{what} is not installed (`make bench` installs CasADi; cyipopt needs "
                     f"Debian's coinor-libipopt-dev, then `make .venv/.installed-dev`)")]


@benchmark("9.1", "nlp_ipopt_vs_casadi", GROUP, explicit=True)
def ipopt_vs_casadi(s: Session) -> list[Row]:
    """cyipopt through the service against CasADi's nlpsol("ipopt"), n = 10^4."""
    title = f"Ipopt on chained Rosenbrock + trig-exp constraints, n = {N}"
    for module in ("cyipopt", "casadi"):
        try:
            __import__(module)
        except ImportError:
            return _missing("9.1", title, module)
    m = N - 2
    with Server(workers=1) as server:
        client, transport = _client(server.url)
        with client:
            problem = _timed_problem(client, N)
            t0 = time.perf_counter()
            nlp = problem.problem(cl=np.zeros(m), cu=np.zeros(m))
            _quiet(nlp)
            x, answer = nlp.solve(start_point(N))
            wall = time.perf_counter() - t0
    ours = {"x": x, "f": float(answer["obj_val"]), "iterations": problem.iterations,
            "status": answer["status_msg"]}
    theirs = _casadi(N)
    x_gap = float(np.max(np.abs(ours["x"] - theirs["x"])))
    f_gap = abs(ours["f"] - theirs["f"])
    iteration_gap = abs(ours["iterations"] - theirs["iterations"])
    same = (answer["status"] == 0 and x_gap <= OPTIMUM_TOLERANCE
            and f_gap <= OPTIMUM_TOLERANCE * max(1.0, abs(theirs["f"]))
            and iteration_gap <= ITERATION_SLACK)
    calls = problem.oracle.calls
    casadi_wall = theirs["build"] + theirs["solve"]
    rows = [
        Row("9.1", "same optimum (x, f to 1e-6) and iterations (±2) as CasADi", None, "CasADi",
            None, target="x, f to 1e-6; iterations ±2", ok=same, engine_text="cyipopt",
            note=f"max |Δx| {x_gap:.1e}, |Δf| {f_gap:.1e}, iterations {ours['iterations']} vs "
                 f"{theirs['iterations']}"),
        info("9.1", "wall time: cyipopt + service vs CasADi (build + solve)", wall,
             f"CasADi build {fmt_time(theirs['build'])} + solve {fmt_time(theirs['solve'])}",
             baseline="CasADi", baseline_time=casadi_wall),
        info("9.1", "time per service call, as Ipopt's callbacks see it",
             problem.seconds / calls,
             f"{calls} /v1/nlp calls, {problem.callbacks} callbacks, {fmt_time(problem.seconds)}"
             f" in them; Ipopt's own work {fmt_time(wall - problem.seconds)}; {transport}"),
    ]
    s.section("9.1 Ipopt through the service vs CasADi", "\n".join([
        f"- machine: {machine()}",
        f"- problem: n = {N}, m = {m} equality constraints; start (-1.2, 1, …)",
        f"- cyipopt + service: status {ours['status']!r}, f* = {ours['f']:.12g}, "
        f"{ours['iterations']} iterations, wall {fmt_time(wall)}, {calls} calls "
        f"({fmt_time(problem.seconds / calls)} each in the callbacks), arrays as {transport}",
        f"- CasADi nlpsol('ipopt'): status {theirs['status']!r}, f* = {theirs['f']:.12g}, "
        f"{theirs['iterations']} iterations, build {fmt_time(theirs['build'])}, "
        f"solve {fmt_time(theirs['solve'])}",
        f"- max |x − x_CasADi| = {x_gap:.2e}, |f − f_CasADi| = {f_gap:.2e}"]))
    return rows


def _five_operations(client: Any, x: np.ndarray, lam: np.ndarray) -> Callable[[], None]:
    lagrangian = f"sigma*({OBJECTIVE}) + sum(lam*({CONSTRAINTS}))"
    constants = {"lam": lam, "sigma": 1.0}

    def five() -> None:
        client.evaluate(OBJECTIVE, {"x": x})
        client.gradient(OBJECTIVE, {"x": x})
        client.evaluate(CONSTRAINTS, {"x": x})
        client.jacobian(CONSTRAINTS, {"x": x}, sparse=True)
        client.hessian(lagrangian, {"x": x}, constants=constants, sparse=True,
                       triangle="lower")
    return five


@benchmark("9.2", "nlp_one_call_vs_five", GROUP, explicit=True)
def one_call_vs_five(s: Session) -> list[Row]:
    """One /v1/nlp call against five calls per Ipopt iteration, n = 10^4."""
    from diffapi_client import DiffapiError

    rng = np.random.default_rng(0)
    x, lam = start_point(N) + 0.1 * rng.standard_normal(N), rng.standard_normal(N - 2)
    fields = ("objective", "gradient", "constraints", "jacobian", "hessian")
    with Server(workers=1) as server:
        client, transport = _client(server.url)
        with client:
            def one() -> None:
                client.nlp(OBJECTIVE, {"x": x}, constraints=CONSTRAINTS, multipliers=lam)

            def five() -> None:
                for field in fields:
                    client.nlp(OBJECTIVE, {"x": x}, constraints=CONSTRAINTS, multipliers=lam,
                               want=[field])

            candidates = {"one /v1/nlp call": one, "five /v1/nlp calls": five}
            operations = _five_operations(client, x, lam)
            try:
                operations()
            except DiffapiError as err:
                missing = f"the five operations: not run ({err.status}: {err.detail[:80]})"
            else:
                candidates["five operations"] = operations
                missing = ""
            timings = measure(candidates, s.cfg, warmup=1, repeats=7 if s.cfg.quick else 15)
    rows = [compare("9.2", f"one /v1/nlp call vs five asking one field each, n = {N}",
                    timings, "one /v1/nlp call", "five /v1/nlp calls", limit=1.0,
                    target="< 1× five calls", note=transport)]
    if "five operations" in timings:
        rows.append(compare("9.2", "one /v1/nlp call vs evaluate, gradient, evaluate, sparse "
                                   "jacobian, sparse hessian", timings, "one /v1/nlp call",
                            "five operations", limit=None, target="report", note=transport))
    else:
        rows.append(info("9.2", "one /v1/nlp call vs the five operations",
                         timings["one /v1/nlp call"].best, missing))
    return rows
