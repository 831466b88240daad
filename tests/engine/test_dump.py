"""The IR printer: one ``vN = op args  # shape`` line per node an operation evaluates."""

from __future__ import annotations

import re

import pytest

import engine
from app.cli import main
from engine.errors import InputError

LINE = re.compile(r"^v(\d+) = ([a-z0-9_]+)(.*)  # shape \(([\d, ]*)\)$")


def _nodes(text: str) -> dict[int, tuple[str, str, str]]:
    """Node id -> (op, params and operands, shape) of each node line."""
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            out[int(m.group(1))] = (m.group(2), m.group(3).strip(), m.group(4))
    return out


def test_evaluate_prints_each_node_with_its_operands_and_shape() -> None:
    text = engine.dump("sin(x) * v", shapes={"v": [3]})
    assert text.splitlines()[-1].startswith("value: v")
    nodes = _nodes(text)
    ops = [op for op, _, _ in nodes.values()]
    assert ops.count("input") == 2 and "sin" in ops and "mul" in ops and "broadcast" in ops
    (mul,) = [(nid, args, shape) for nid, (op, args, shape) in nodes.items() if op == "mul"]
    nid, args, shape = mul
    assert shape == "3,"
    assert all(int(a[1:]) < nid for a in args.split())  # operands come first
    assert any(op == "broadcast" and rest.startswith("[(), (3,)]")
               for op, rest, _ in nodes.values())
    assert text.splitlines()[-1] == f"value: v{nid}"


def test_gradient_names_one_node_per_variable() -> None:
    text = engine.dump("x**3*y", operation="gradient")
    tail = text.splitlines()[-3:]
    assert [line.split(":")[0] for line in tail] == ["value", "gradient x", "gradient y"]
    nodes = _nodes(text)
    assert ("powc", "[3.0] v0", "") in nodes.values()
    assert ("const", "3.0", "") in nodes.values()


@pytest.mark.parametrize("operation", ["jacobian", "hessian", "jvp", "vjp", "hvp"])
def test_every_derivative_operation_dumps(operation: str) -> None:
    text = engine.dump("sum(v*v)", operation=operation, shapes={"v": [2]})
    assert text.splitlines()[-1].split(":")[0].startswith(operation)
    assert all(LINE.match(line) or ": v" in line for line in text.splitlines())


def test_bad_requests_are_input_errors() -> None:
    with pytest.raises(InputError):
        engine.dump("x", operation="taylor")
    with pytest.raises(InputError):
        engine.dump("v", operation="gradient", shapes={"v": [2]})


def test_cli_subcommand_prints_the_graph(capsys: pytest.CaptureFixture[str]) -> None:
    main(["dump", "A @ v", "--operation", "jacobian", "--shape", "A=2,2", "--shape", "v=2",
          "--variables", "v"])
    out = capsys.readouterr().out
    assert "matmul[2, 1] v1 v0  # shape (2,)" in out
    assert out.rstrip().splitlines()[-1].startswith("jacobian")
