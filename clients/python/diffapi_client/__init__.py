"""Python client of the diffapi service: exact derivatives of formulas over HTTP.

``Client``/``AsyncClient`` have one method per operation, take numpy arrays and give them back
(big arrays travel base64-encoded), raise :class:`DiffapiError` for problem answers, and retry
503s. ``minimize_problem`` and ``IpoptProblem`` hand a model written as text to
``scipy.optimize.minimize`` or cyipopt.
"""

from diffapi_client.adapters import IpoptProblem, MinimizeProblem, minimize_problem
from diffapi_client.answers import Answer, SparseAnswer
from diffapi_client.arrays import decode_array, encode_array
from diffapi_client.client import AsyncClient, Client
from diffapi_client.errors import DiffapiError
from diffapi_client.oracle import NlpOracle, Structure

__all__ = [
    "Answer",
    "AsyncClient",
    "Client",
    "DiffapiError",
    "IpoptProblem",
    "MinimizeProblem",
    "NlpOracle",
    "SparseAnswer",
    "Structure",
    "decode_array",
    "encode_array",
    "minimize_problem",
]
