"""The deployment files: Dockerfile lint, and the Kubernetes manifests validated against the
Kubernetes schemas and checked against each other and against the drain."""

from __future__ import annotations

import copy
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


KUBERNETES_VERSION = "1.30.0"
"""The oldest Kubernetes release still maintained upstream when the manifest was written."""


def _manifest() -> dict[str, dict[str, Any]]:
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text()))
    return {d["kind"]: d for d in docs}


def _container() -> dict[str, Any]:
    return _manifest()["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def _env() -> dict[str, str]:
    return {e["name"]: e["value"] for e in _container()["env"]}


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 2**-10, "Mi": 1, "Gi": 2**10}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    manifest = _manifest()
    assert set(manifest) == {"Deployment", "Service", "PodDisruptionBudget",
                             "HorizontalPodAutoscaler"}
    for doc in manifest.values():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    broken = copy.deepcopy(manifest["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):  # strict: unknown fields fail
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kubernetes_selectors_ports_and_probes_fit_together() -> None:
    manifest = _manifest()
    deployment = manifest["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (deployment["spec"]["selector"]["matchLabels"],
                     manifest["Service"]["spec"]["selector"],
                     manifest["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    container = _container()
    port = container["ports"][0]
    assert (port["containerPort"], int(_env()["PORT"])) == (8000, 8000)
    assert manifest["Service"]["spec"]["ports"][0]["targetPort"] == port["name"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": 8000}
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"topology.kubernetes.io/zone",
                                                 "kubernetes.io/hostname"}
    assert all(c["labelSelector"]["matchLabels"].items() <= labels.items() for c in spread)
    hpa = manifest["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": deployment["metadata"]["name"]}
    assert hpa["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["maxReplicas"]
    # the budget leaves at least one pod serving at the autoscaler's floor, and a rolling
    # update never takes one away before its replacement is ready
    assert manifest["PodDisruptionBudget"]["spec"]["maxUnavailable"] < hpa["minReplicas"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_kubernetes_stop_sequence_matches_the_drain() -> None:
    spec = _manifest()["Deployment"]["spec"]["template"]["spec"]
    container, env = _container(), _env()
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = float(env["DIFFAPI_DRAIN_SECONDS"])
    graceful = math.ceil(float(env["DIFFAPI_REQUEST_TIMEOUT_SECONDS"])) + 1  # app.serving
    assert spec["terminationGracePeriodSeconds"] >= float(pre_stop[1]) + drain + graceful + 5
    readiness = container["readinessProbe"]
    # the readiness probe sees the draining 503 well before the drain ends
    assert readiness["periodSeconds"] * readiness["failureThreshold"] <= drain / 2
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > drain + graceful
    assert drain == Settings().drain_seconds


def test_kubernetes_resources_follow_the_workers() -> None:
    env, resources = _env(), _container()["resources"]
    workers, jobs = int(env["WORKERS"]), int(env["DIFFAPI_MAX_CONCURRENT_JOBS"])
    assert float(resources["requests"]["cpu"]) == workers
    assert float(resources["limits"]["cpu"]) >= workers
    engine = float(env["DIFFAPI_WORKER_MEMORY_MB"])
    assert _mebibytes(resources["limits"]["memory"]) >= workers * (jobs * engine + 256)
    assert _mebibytes(resources["requests"]["memory"]) <= _mebibytes(
        resources["limits"]["memory"])


def test_healthz_is_the_probed_route() -> None:
    from app.main import app

    paths = set(app.openapi()["paths"])
    assert "/healthz" in paths


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("FROM python:3.11-slim")
    assert "\nUSER 10001\n" in text
    assert 'HEALTHCHECK' in text and "/healthz" in text
    assert "EXPOSE 8000" in text
