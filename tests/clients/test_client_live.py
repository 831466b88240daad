"""Every client method against a live ``diffapi serve`` on 127.0.0.1, in both encodings,
checked against closed forms (the seed cases of the contract among them); errors as one
exception type; retries on 503 against a server with a short deadline."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from diffapi_client import AsyncClient, Client, DiffapiError, SparseAnswer
from server_support import uvicorn_server

F = "x**3 * y**2 + sin(x*y)"
ROSENBROCK = "sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)"


@pytest.fixture(scope="module")
def client(live_server: str) -> Iterator[Client]:
    with Client(live_server) as c:
        yield c


@pytest.fixture(params=[None, "base64"], ids=["lists", "base64"])
def encoding(request: pytest.FixtureRequest) -> str | None:
    return request.param  # type: ignore[no-any-return]


def test_seed_gradient(client: Client, encoding: str | None) -> None:
    answer = client.gradient("x**2 + 3*x + 1", {"x": 2}, array_encoding=encoding)
    assert answer.value == 11.0 and float(answer.gradient["x"]) == 7.0


def test_seed_matmul_gradient_with_constants(client: Client, encoding: str | None) -> None:
    answer = client.gradient("(A @ x).sum()", {"x": np.ones(3)},
                             constants={"A": np.array([[2.0, 1, 0], [0, 3, 1]])},
                             array_encoding=encoding)
    assert np.array_equal(answer.gradient["x"], [2.0, 4.0, 1.0])


def test_seed_jacobian(client: Client, encoding: str | None) -> None:
    answer = client.jacobian("[v[0]**2, v[0]*v[1], sin(v[1])]", {"v": np.array([1.0, 2.0])},
                             array_encoding=encoding)
    np.testing.assert_allclose(answer.jacobian, [[2, 0], [2, 1], [0, math.cos(2)]],
                               rtol=1e-15)
    assert answer.columns == ["v[0]", "v[1]"]


def test_seed_hessian_and_mixed_partial(client: Client, encoding: str | None) -> None:
    answer = client.hessian(F, {"x": 1, "y": 2}, array_encoding=encoding)
    s, c = math.sin(2), math.cos(2)
    expected = [[24 - 4 * s, 12 + c - 2 * s], [12 + c - 2 * s, 2 - s]]
    np.testing.assert_allclose(answer.hessian, expected, rtol=1e-14)
    mixed = client.derivative(F, {"x": 1, "y": 2}, wrt=["x", "y", "x"],
                              array_encoding=encoding)
    # ∂³/∂x∂y∂x of x³y² + sin(xy) = 12xy − 2y sin(xy) − xy² cos(xy)
    assert float(mixed.derivative) == pytest.approx(24 - 4 * s - 4 * c, rel=1e-12)


def test_seed_fifth_derivative(client: Client, encoding: str | None) -> None:
    answer = client.derivative("sin(t**3)", {"t": 1}, variable="t", order=5,
                               array_encoding=encoding)
    assert float(answer.derivative) == pytest.approx(24.49392050872576, rel=1e-12)


def test_batch_in_column_form_big_enough_to_travel_encoded(client: Client) -> None:
    x = np.linspace(-2, 2, 5000)
    answer = client.gradient("x**3 + sin(x)", points={"x": x})
    np.testing.assert_allclose(answer.gradient["x"], 3 * x**2 + np.cos(x), rtol=1e-14)
    np.testing.assert_allclose(answer.value, x**3 + np.sin(x), rtol=1e-14)


def test_rosenbrock_gradient_of_a_big_vector(client: Client) -> None:
    from scipy.optimize import rosen_der

    x = np.cos(np.arange(20000.0))
    answer = client.gradient(ROSENBROCK, {"x": x})
    np.testing.assert_allclose(answer.gradient["x"], rosen_der(x), rtol=1e-12, atol=1e-10)


def test_taylor_jvp_vjp_hvp_evaluate(client: Client, encoding: str | None) -> None:
    taylor = client.taylor("exp(x) * sin(y)", {"x": 0, "y": 0}, order=3,
                           array_encoding=encoding)
    coefficients = {tuple(t["powers"].values()): t["coefficient"]
                    for t in taylor.coefficients}
    assert coefficients[(0, 1)] == 1.0
    assert coefficients[(2, 1)] == pytest.approx(0.5, rel=1e-15)
    assert coefficients[(0, 3)] == pytest.approx(-1 / 6, rel=1e-15)
    jvp = client.jvp("[x*y, x + y]", {"x": 1, "y": 2}, tangent={"x": 1, "y": 0},
                     array_encoding=encoding)
    assert np.array_equal(jvp.jvp, [2.0, 1.0])
    vjp = client.vjp("A @ x", {"x": np.array([1.0, -1, 2])}, cotangent=np.ones(2),
                     constants={"A": [[2, 1, 0], [0, 3, 1]]}, array_encoding=encoding)
    assert np.array_equal(vjp.vjp["x"], [2.0, 4.0, 1.0])
    hvp = client.hvp(F, {"x": 1, "y": 2}, vector={"x": 1, "y": 0}, array_encoding=encoding)
    assert float(hvp.hvp["x"]) == pytest.approx(24 - 4 * math.sin(2), rel=1e-14)
    value = client.evaluate("A @ x", {"x": [1, -1, 2]}, constants={"A": [[2, 1, 0], [0, 3, 1]]},
                            array_encoding=encoding)
    assert np.array_equal(value.value, [1.0, -1.0])


def test_non_finite_results_are_nan_with_a_warning(client: Client, encoding: str | None) -> None:
    answer = client.gradient("log(x)", points={"x": [1.0, 0.0, -1.0]},
                             array_encoding=encoding)
    assert answer.value[0] == 0.0 and not np.isfinite(answer.value[1])
    assert np.isnan(answer.value[2]) and answer.warnings


def test_differentiate_functions_limits_health(client: Client) -> None:
    formulas = client.differentiate("sin(x**3)", "derivative", variable="x", order=1)
    assert formulas.formulas == "3*x**2*cos(x**3)"
    assert any(f["name"] == "sin" for f in client.functions().functions)
    assert any(entry["name"] == "max_batch" for entry in client.limits().limits)
    assert client.health().status == "ok"


def test_sparse_hessian_and_sparsity(client: Client) -> None:
    from scipy.optimize import rosen_hess

    x = np.cos(np.arange(1000.0))
    answer = client.hessian(ROSENBROCK, {"x": x}, sparse=True)
    assert isinstance(answer.hessian, SparseAnswer) and answer.hessian.colors == 3
    np.testing.assert_allclose(answer.hessian.matrix().toarray(), rosen_hess(x), rtol=1e-13,
                               atol=1e-10)
    pattern = client.sparsity(ROSENBROCK, "hessian", shapes={"x": [1000]})
    assert pattern.nnz == 2998


def test_nlp_structure_then_values(client: Client, encoding: str | None) -> None:
    structure = client.nlp("x[0]*x[1] + x[1]**2", want=["structure"], shapes={"x": [2]},
                           constraints=["x[0] + x[1]", "x[0]*x[1]"])
    assert structure.jacobian.values is None
    answer = client.nlp("x[0]*x[1] + x[1]**2", {"x": [2.0, 3.0]},
                        constraints=["x[0] + x[1]", "x[0]*x[1]"], multipliers=[1.0, 2.0],
                        objective_factor=0.5, array_encoding=encoding)
    assert answer.objective == 15.0 and np.array_equal(answer.gradient, [3.0, 8.0])
    assert np.array_equal(answer.constraints, [5.0, 6.0])
    np.testing.assert_array_equal(answer.jacobian.matrix().toarray(), [[1, 1], [3, 2]])
    # σ∇²f + λ₂∇²(x0 x1): [[0, 0.5 + 2], [., 0.5*2]] as a lower triangle.
    np.testing.assert_array_equal(answer.hessian.matrix().toarray(), [[0, 0], [2.5, 1.0]])
    assert np.array_equal(answer.hessian.rows, structure.hessian.rows)


def test_nlp_vector_constraints_of_a_big_model(client: Client) -> None:
    # Chained Rosenbrock with x[k]*x[k+1] = 1 constraints; by hand: g' has x[k+1] at (k, k)
    # and x[k] at (k, k+1); ∇²(λ·g) puts λ[k] at (k+1, k).
    n = 400
    x = np.cos(np.arange(float(n)))
    lam = np.sin(np.arange(n - 1.0))
    from scipy.optimize import rosen_der, rosen_hess

    answer = client.nlp(ROSENBROCK, {"x": x}, constraints="x[:-1]*x[1:] - 1", multipliers=lam)
    np.testing.assert_allclose(answer.gradient, rosen_der(x), rtol=1e-13, atol=1e-11)
    np.testing.assert_allclose(answer.constraints, x[:-1] * x[1:] - 1, rtol=1e-15)
    jac = answer.jacobian.matrix().toarray()
    k = np.arange(n - 1)
    expected = np.zeros((n - 1, n))
    expected[k, k], expected[k, k + 1] = x[1:], x[:-1]
    np.testing.assert_allclose(jac, expected, rtol=1e-15)
    hessian = np.tril(rosen_hess(x))
    hessian[k + 1, k] += lam
    np.testing.assert_allclose(answer.hessian.matrix().toarray(), hessian, rtol=1e-13,
                               atol=1e-11)


def test_errors_carry_type_detail_and_column(client: Client) -> None:
    with pytest.raises(DiffapiError) as caught:
        client.gradient("log(x) + 2x", {"x": 1})
    assert caught.value.status == 422 and caught.value.column == 11
    assert caught.value.type.endswith("parse-error") and "2*x" in caught.value.detail
    with pytest.raises(DiffapiError) as caught:
        client.nlp("x[0]", {"x": [1.0, 2.0]}, constraints=["x[0]", "x[1] +"])
    assert caught.value.column == 7 and caught.value.type.endswith("parse-error")
    assert caught.value.problem["errors"][0]["loc"] == ["body", "constraints", 1]
    with pytest.raises(DiffapiError) as caught:
        client.nlp("x[0]", {"x": [1.0, 2.0]}, constraints=["x[0]"], multipliers=[1.0, 2.0])
    assert caught.value.type.endswith("invalid-input") and caught.value.column is None
    assert "multipliers has shape [2]" in caught.value.detail
    with pytest.raises(DiffapiError) as caught:
        client.hessian("[x, x]", {"x": 1.0})
    assert caught.value.type.endswith("non-scalar") and "jacobian" in caught.value.detail


def test_async_client_against_the_service(live_server: str) -> None:
    async def main() -> tuple[list[float], float, str]:
        async with AsyncClient(live_server) as client:
            answers = await asyncio.gather(*(client.gradient("x**2", {"x": float(k)})
                                             for k in range(8)))
            nlp = await client.nlp("x[0]**2 + x[1]", {"x": [3.0, 1.0]})
            try:
                await client.evaluate("sin(", {"x": 1})
            except DiffapiError as err:
                kind = err.type
        return [float(a.gradient["x"]) for a in answers], float(nlp.objective), kind

    gradients, objective, kind = asyncio.run(main())
    assert gradients == [2.0 * k for k in range(8)]
    assert objective == 10.0 and kind.endswith("parse-error")


SLOW_HESSIAN = ("sum(" + " + ".join(f"sin({k}*x)*cos(x)**2*exp(sin(x)) + tanh({k}*x)*log({k + 1} "
                                    "+ cos(x))" for k in range(1, 13)) + ")",
                {"x": np.ones(1000)})
"""A dense 1000 × 1000 Hessian of 24 terms: about 0.3 s of work even with the expression
cached (one term alone now takes 0.05 s warm, under the 0.1 s deadline below)."""
AS_LISTS = 10**7
"""An ``encode_threshold`` that keeps the slow request in JSON lists: these tests are about
retries, whichever the array transport."""


@pytest.fixture(scope="module")
def short_deadline_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose only engine process has 0.1 s per request, and that sends every
    request to it (so a replaced engine process answers 503 until it is back)."""
    env = {"DIFFAPI_REQUEST_TIMEOUT_SECONDS": "0.1", "DIFFAPI_MAX_CONCURRENT_JOBS": "1",
           "DIFFAPI_INLINE_WORK_THRESHOLD": "0"}
    with uvicorn_server(tmp_path_factory.mktemp("deadline"), env) as url:
        yield url


def _count_503(url: str, route: str) -> int:
    text = httpx.get(f"{url}/metrics").text
    pattern = (r'^diffapi_requests_total\{[^}]*route="' + re.escape(route)
               + r'"[^}]*status="503"[^}]*\} ([0-9.]+)$')
    return sum(int(float(m)) for m in re.findall(pattern, text, flags=re.MULTILINE))


def test_503_is_retried_with_backoff_then_raised(short_deadline_server: str) -> None:
    with Client(short_deadline_server, retries=2, backoff=0.05) as client, \
            pytest.raises(DiffapiError) as caught:
        client.encode_threshold = AS_LISTS
        client.hessian(SLOW_HESSIAN[0], SLOW_HESSIAN[1])
    assert caught.value.status == 503 and "request_timeout_seconds" in caught.value.detail
    assert _count_503(short_deadline_server, "/v1/hessian") == 3


def test_503_while_the_engine_restarts_is_retried_until_answered(
        short_deadline_server: str) -> None:
    # First wait until the engine process is up (an earlier test may have left it
    # restarting), so that the slow request below is the one that replaces it: the restart
    # (a fresh process importing numpy, well over the 0.1 s deadline) then begins just
    # before the next request, which must meet at least one 503.
    with Client(short_deadline_server, retries=8, backoff=0.1) as client:
        assert client.evaluate("x + 1", {"x": 1.0}).value == 2.0
    with Client(short_deadline_server, retries=0) as client:
        client.encode_threshold = AS_LISTS
        with pytest.raises(DiffapiError):
            client.hessian(SLOW_HESSIAN[0], SLOW_HESSIAN[1])  # its engine process is replaced
    before = _count_503(short_deadline_server, "/v1/nlp")
    with Client(short_deadline_server, retries=8, backoff=0.1) as client:
        answer = client.nlp("x[0]**2 * x[1]", {"x": [3.0, 2.0]}, want=["gradient"])
    np.testing.assert_array_equal(answer.gradient, [12.0, 9.0])
    assert _count_503(short_deadline_server, "/v1/nlp") > before


def test_one_client_reuses_its_connection(live_server: str) -> None:
    opened: list[object] = []

    class Counting(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            stream = response.extensions.get("network_stream")
            if stream is not None and all(stream is not s for s in opened):
                opened.append(stream)
            return response

    with Client(live_server, transport=Counting()) as client:
        for k in range(5):
            assert client.evaluate("x + 1", {"x": float(k)}).value == k + 1.0
    assert len(opened) == 1

