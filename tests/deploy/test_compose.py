"""deploy/compose.yaml: three replicas of the Dockerfile's image and HAProxy with
deploy/haproxy.cfg, checked against that file and against the drain settings."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml
from deploy_tools import require

from app.settings import Settings
from benchmarks.serving_cluster import free_port, get_status, wait_for

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SEED = {"expression": "x**2 + 3*x + 1", "point": {"x": 2}}


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


STANDIN_HAPROXY = """\
FROM docker.io/library/python:3.11-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy \\
    && rm -rf /var/lib/apt/lists/*
"""
"""The HAProxy image where no registry is reachable: Debian's haproxy on the same local base
image container-smoke makes (tagged under the official image's name, as container-smoke does
for the Python image)."""


def _podman_env(work: Path) -> dict[str, str]:
    """podman's settings as container-smoke uses them: runc, and ulimits this machine allows
    (podman's defaults are refused here)."""
    conf = work / "containers.conf"
    conf.write_text('[containers]\n'
                    'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
                    '[engine]\nruntime = "runc"\n')
    return dict(os.environ, CONTAINERS_CONF=str(conf), BUILDAH_ISOLATION="chroot")


def _image_exists(env: dict[str, str], name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name], env=env,
                          check=False).returncode == 0


def _run(cmd: list[str], env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(cmd)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_compose_stack_starts_and_serves_through_haproxy(tmp_path: Path) -> None:
    podman = require("podman (apt-get install podman)", shutil.which("podman"))
    compose = shutil.which("podman-compose") or str(Path(sys.executable).with_name(
        "podman-compose"))
    require("podman-compose (pip, a dev dependency)", compose if os.access(compose, os.X_OK)
            else None)
    smoke = ROOT.parent / "shared" / "tools" / "container-smoke"
    env = _podman_env(tmp_path)
    if not _image_exists(env, "docker.io/library/python:3.11-slim"):
        # container-smoke makes the local base image, and checks one container of ours on it
        require("../shared/tools/container-smoke", str(smoke) if smoke.exists() else None)
        _run([str(smoke), str(free_port())], env, 1500)
    if not _image_exists(env, "docker.io/library/haproxy:2.6"):
        (tmp_path / "Containerfile").write_text(STANDIN_HAPROXY)
        _run([podman, "build", "--pull=never", "--network=host", "-t",
              "docker.io/library/haproxy:2.6", "-f", str(tmp_path / "Containerfile"),
              str(tmp_path)], env, 600)
    port = free_port()
    project = f"diffapi-test-{os.getpid()}"
    env |= {"DIFFAPI_LB_PORT": str(port)}
    base = [compose, "-p", project, "-f", str(DEPLOY / "compose.yaml")]
    try:
        # the replicas share one image: build it once (podman-compose would build it three
        # times side by side), under the name compose.yaml gives it
        image = _compose()["services"]["replica1"]["image"]
        _run([podman, "build", "--pull=never", "--format", "docker", "-t", image, str(ROOT)],
             env, 1200)
        _run([*base, "up", "-d"], env, 300)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: get_status(url + "/healthz") == 200, 120, "the stack behind HAProxy")
        for x in range(12):  # round robin: every replica answers some of these
            answer = httpx.post(url + "/v1/gradient", timeout=30,
                                json={"expression": "x**2 + 3*x + 1", "point": {"x": x}})
            assert answer.status_code == 200 and answer.json()["gradient"] == {"x": 2 * x + 3}
        running = _run([podman, "ps", "--filter", f"label=io.podman.compose.project={project}",
                        "--format", "{{.Names}}"], env, 60).split()
        assert len(running) == 4, running
        # a replica stopped the way compose stops it (SIGTERM) drains and exits 0
        replica = next(name for name in running if "replica1" in name)
        _run([podman, "stop", "-t", "30", replica], env, 60)
        code = _run([podman, "inspect", "--format", "{{.State.ExitCode}}", replica], env, 60)
        assert code.strip() == "0"
        assert httpx.post(url + "/v1/gradient", json=SEED, timeout=30).json()["value"] == 11.0
    finally:
        subprocess.run([*base, "down", "-t", "30"], env=env, cwd=ROOT, capture_output=True,
                       timeout=300, check=False)
