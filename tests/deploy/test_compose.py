"""deploy/compose.yaml: three replicas of the Dockerfile's image and HAProxy with
deploy/haproxy.cfg, checked against that file and against the drain settings."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _seconds(text: str) -> float:
    return float(text.removesuffix("s"))


def test_compose_replicas_are_the_image_with_the_drain_covered() -> None:
    services = _compose()["services"]
    replicas = {name: s for name, s in services.items() if name.startswith("replica")}
    assert len(replicas) == 3
    for service in replicas.values():
        assert service["build"] == {"context": "..", "dockerfile": "Dockerfile"}
        assert (DEPLOY / service["build"]["context"] / "Dockerfile").is_file()
        env = service["environment"]
        graceful = math.ceil(float(env["DIFFAPI_REQUEST_TIMEOUT_SECONDS"])) + 1
        assert _seconds(service["stop_grace_period"]) > float(env["DIFFAPI_DRAIN_SECONDS"]) \
            + graceful
        assert env["WORKERS"] == "1"
    assert float(replicas["replica1"]["environment"]["DIFFAPI_DRAIN_SECONDS"]) == \
        Settings().drain_seconds


def test_compose_haproxy_gets_every_variable_of_its_config(haproxy: str) -> None:
    services = _compose()["services"]
    balancer = services["haproxy"]
    config = (DEPLOY / "haproxy.cfg").read_text()
    wanted = set(re.findall(r"\$\{(\w+)\}", config))
    env = balancer["environment"]
    assert wanted == set(env)
    for name, value in env.items():
        if name.startswith("DIFFAPI_REPLICA_"):
            host, port = value.split(":")
            assert host in services and port == "8000"  # the image's PORT
    mount = next(v for v in balancer["volumes"] if v.startswith("./haproxy.cfg:"))
    assert mount.split(":")[1] == balancer["command"][-1]
    assert set(balancer["depends_on"]) == {n for n in services if n.startswith("replica")}
    # the config as compose gives it (replica names unknown here: servers start disabled and
    # are looked up again, not a fatal error)
    check = subprocess.run([haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")],
                           env=env, capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
